"""The engine's figures against the tools people use today: pandas, scikit-learn, lifetimes."""
import io, json, os, subprocess
import numpy as np
import pandas as pd
import pytest
from conftest import BIN, generate


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    path = generate(str(tmp / "d.csv"), customers=4000, seed=11)
    # BG/NBD named, so that lifetimes' BetaGeoFitter is the reference of every figure.
    out = subprocess.run([f"{BIN}/fidelis", "analyze", path, "--format", "json", "--clv-model", "bgnbd"], capture_output=True, text=True, check=True).stdout
    csv = subprocess.run([f"{BIN}/fidelis", "analyze", path, "--format", "csv", "--clv-model", "bgnbd"], capture_output=True, text=True, check=True).stdout
    per_customer = pd.read_csv(pd.io.common.StringIO(csv), dtype={"customer_id": str})
    df = pd.read_csv(path, dtype={"customer_id": str, "order_id": str}, parse_dates=["order_date"])
    return json.loads(out), per_customer, df


def test_totals_and_rfm_equal_pandas_to_the_cent(analysed):
    result, per_customer, df = analysed
    assert result["customers"] == df.customer_id.nunique()
    assert result["orders"] == df.order_id.nunique()
    assert abs(result["revenue"] - df.amount.sum()) < 0.005
    assert abs(result["kpis"]["average_order_value"] - df.amount.sum() / df.order_id.nunique()) < 0.005
    snapshot = df.order_date.max() + pd.Timedelta(days=1)
    rfm = df.groupby("customer_id").agg(recency=("order_date", lambda d: (snapshot - d.max()).days), frequency=("order_id", "nunique"), monetary=("amount", "sum"))
    rfm = rfm.sort_index()
    rfm["r"] = pd.qcut(rfm.recency.rank(method="first"), 5, labels=[5, 4, 3, 2, 1]).astype(int)
    rfm["f"] = pd.qcut(rfm.frequency.rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
    rfm["m"] = pd.qcut(rfm.monetary.rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
    ours = per_customer.set_index("customer_id").sort_index()
    assert (ours.recency_days == rfm.recency).all()
    assert (ours.frequency == rfm.frequency).all()
    assert np.allclose(ours.monetary, rfm.monetary, atol=0.005)
    assert (ours.r_score == rfm.r).all() and (ours.f_score == rfm.f).all() and (ours.m_score == rfm.m).all()


def test_kmeans_inertia_within_one_percent_of_scikit_learn(analysed):
    from sklearn.cluster import KMeans
    result, per_customer, _ = analysed
    X = np.log1p(per_customer[["recency_days", "frequency", "monetary"]].to_numpy(dtype=float))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    k = result["clusters"]["k"]
    best = KMeans(n_clusters=k, n_init=10, random_state=0).fit(X).inertia_
    ours = result["clusters"]["inertia"]
    assert ours <= best * 1.01, (ours, best)


def test_bgnbd_and_gamma_gamma_match_lifetimes(analysed):
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data
    result, _, df = analysed
    s = summary_data_from_transaction_data(df, "customer_id", "order_date", monetary_value_col="amount", freq="D")
    bg = BetaGeoFitter(penalizer_coef=0.0).fit(s.frequency, s.recency, s["T"])
    ours = result["clv"]["purchase_model"]
    for name in ["r", "alpha", "a", "b"]:
        assert abs(ours[name] - bg.params_[name]) / bg.params_[name] < 1e-3, (name, ours[name], bg.params_[name])
    repeat = s[s.frequency > 0]
    gg = GammaGammaFitter(penalizer_coef=0.0).fit(repeat.frequency, repeat.monetary_value)
    ours = result["clv"]["gamma_gamma"]
    for name in ["p", "q", "v"]:
        assert abs(ours[name] - gg.params_[name]) / gg.params_[name] < 1e-3, (name, ours[name], gg.params_[name])


def test_kmeans_from_the_same_centres_equals_scikit_learn(analysed, tmp_path):
    """Lloyd's iterations from given centres: same labels, centres and inertia to 1e-9."""
    from sklearn.cluster import KMeans
    _, per_customer, _ = analysed
    X = np.log1p(per_customer[["recency_days", "frequency", "monetary"]].to_numpy(dtype=float))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    points = tmp_path / "points.csv"
    np.savetxt(points, X, delimiter=",", fmt="%.17g")
    rng = np.random.default_rng(3)
    for k in (2, 4, 7):
        centres = X[rng.choice(len(X), size=k, replace=False)]
        centres_path = tmp_path / f"centres{k}.csv"
        np.savetxt(centres_path, centres, delimiter=",", fmt="%.17g")
        ours = json.loads(subprocess.run([f"{BIN}/fidelis-bench", "kmeans", str(points), str(centres_path)], capture_output=True, text=True, check=True).stdout)
        theirs = KMeans(n_clusters=k, init=centres, n_init=1, tol=0, max_iter=300, algorithm="lloyd").fit(X)
        assert (np.array(ours["labels"]) == theirs.labels_).all(), k
        assert np.allclose(np.array(ours["centers"]).reshape(k, 3), theirs.cluster_centers_, rtol=1e-9, atol=1e-12), k
        assert abs(ours["inertia"] - theirs.inertia_) <= 1e-9 * theirs.inertia_, (k, ours["inertia"], theirs.inertia_)


def test_fits_recover_the_generator_parameters(tmp_path):
    """Data drawn from BG/NBD and Gamma-Gamma with known parameters: our estimates are
    within three standard errors of the truth (standard errors from lifetimes' Hessian)."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data
    truth = {"r": 0.8, "alpha": 40.0, "a": 0.8, "b": 3.0, "p": 6.0, "q": 4.0, "v": 15.0}
    path = generate(str(tmp_path / "known.csv"), customers=20000, seed=5,
                    extra=["--bgnbd", "0.8,40,0.8,3.0", "--gg", "6,4,15", "--promo-discount", "0"])
    result = json.loads(subprocess.run([f"{BIN}/fidelis", "analyze", path, "--format", "json", "--k", "3", "--clv-model", "bgnbd"], capture_output=True, text=True, check=True).stdout)
    ours = {**result["clv"]["purchase_model"], **result["clv"]["gamma_gamma"]}
    df = pd.read_csv(path, dtype={"customer_id": str, "order_id": str}, parse_dates=["order_date"])
    s = summary_data_from_transaction_data(df, "customer_id", "order_date", monetary_value_col="amount", freq="D")
    bg = BetaGeoFitter().fit(s.frequency, s.recency, s["T"])
    repeat = s[s.frequency > 0]
    gg = GammaGammaFitter().fit(repeat.frequency, repeat.monetary_value)
    se = {**bg.summary["se(coef)"].to_dict(), **gg.summary["se(coef)"].to_dict()}
    for name, value in truth.items():
        assert abs(ours[name] - value) <= 3 * se[name], (name, ours[name], value, se[name])


def test_holdout_check_matches_lifetimes_calibration_and_holdout(analysed):
    """clv.validation: the calibration and holdout summaries of lifetimes'
    calibration_and_holdout_data (freq='D'; built here with pandas, as that helper fails
    under pandas 3), BG/NBD fitted by lifetimes on the calibration period, its predictions of
    the holdout; and the naive baseline."""
    from lifetimes import BetaGeoFitter
    result, _, df = analysed
    v = result["clv"]["validation"]
    day = df.order_date.dt.normalize()
    cal_end, obs_end = pd.Timestamp(v["calibration_end"]), pd.Timestamp(result["period"]["last"])
    days = day[day <= cal_end].groupby(df.customer_id[day <= cal_end])
    s = pd.DataFrame({"frequency_cal": days.nunique() - 1, "recency_cal": (days.max() - days.min()).dt.days, "T_cal": (cal_end - days.min()).dt.days})
    holdout = (day > cal_end) & (day <= obs_end)
    s["frequency_holdout"] = day[holdout].groupby(df.customer_id[holdout]).nunique().reindex(s.index, fill_value=0)
    assert v["holdout_days"] == (obs_end - cal_end).days
    assert v["customers"] == len(s)
    assert v["actual_purchases"] == int(s.frequency_holdout.sum())
    bg = BetaGeoFitter().fit(s.frequency_cal, s.recency_cal, s.T_cal)
    predicted = bg.conditional_expected_number_of_purchases_up_to_time(v["holdout_days"], s.frequency_cal, s.recency_cal, s.T_cal)
    assert abs(v["predicted_purchases"] - predicted.sum()) / predicted.sum() < 1e-3, (v["predicted_purchases"], predicted.sum())
    mae = (predicted - s.frequency_holdout).abs().mean()
    assert abs(v["mae_per_customer"] - mae) < 1e-3 * mae, (v["mae_per_customer"], mae)
    baseline = (s.frequency_cal / s.T_cal * v["holdout_days"]).where(s.T_cal > 0, 0)
    assert abs(v["baseline_mae"] - (baseline - s.frequency_holdout).abs().mean()) < 1e-9
    # Each frequency bin: the mean of the same customers.
    s["bin"] = s.frequency_cal.clip(upper=7).astype(int)
    s["predicted"] = predicted
    for b in v["by_frequency"]:
        rows = s[s.bin == b["frequency"]]
        assert b["customers"] == len(rows)
        assert abs(b["mean_actual"] - rows.frequency_holdout.mean()) < 1e-9


def test_expected_purchases_match_lifetimes(analysed):
    """Σ E[purchases in the CLV horizon] over the customers, as lifetimes predicts it with the
    same parameters (the closed form holds for a below 1 too)."""
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data
    result, _, df = analysed
    s = summary_data_from_transaction_data(df, "customer_id", "order_date", freq="D")
    bg = BetaGeoFitter()
    ours = result["clv"]["purchase_model"]
    bg.params_ = pd.Series({name: ours[name] for name in ["r", "alpha", "a", "b"]})
    horizon = 30 * result["clv"]["horizon_months"]
    theirs = bg.conditional_expected_number_of_purchases_up_to_time(horizon, s.frequency, s.recency, s["T"]).sum()
    assert abs(result["clv"]["expected_purchases"] - theirs) / theirs < 1e-6, (result["clv"]["expected_purchases"], theirs)


def test_mbgnbd_matches_lifetimes_and_the_model_is_chosen_by_holdout_error(tmp_path):
    """MBG/NBD fitted on the same summary as lifetimes' ModifiedBetaGeoFitter, with the same
    predictions; without --clv-model, the model with the smaller holdout error is used."""
    from lifetimes import ModifiedBetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data
    path = generate(str(tmp_path / "m.csv"), customers=3000, seed=19)
    run = lambda *extra: json.loads(subprocess.run([f"{BIN}/fidelis", "analyze", path, "--format", "json", *extra], capture_output=True, text=True, check=True).stdout)
    result = run("--clv-model", "mbgnbd")
    ours = result["clv"]["purchase_model"]
    assert ours["model"] == "mbgnbd"
    df = pd.read_csv(path, dtype={"customer_id": str, "order_id": str}, parse_dates=["order_date"])
    s = summary_data_from_transaction_data(df, "customer_id", "order_date", freq="D")
    mbg = ModifiedBetaGeoFitter().fit(s.frequency, s.recency, s["T"])
    for name in ["r", "alpha", "a", "b"]:
        assert abs(ours[name] - mbg.params_[name]) / mbg.params_[name] < 1e-3, (name, ours[name], mbg.params_[name])
    horizon = 30 * result["clv"]["horizon_months"]
    theirs = mbg.conditional_expected_number_of_purchases_up_to_time(horizon, s.frequency, s.recency, s["T"]).sum()
    assert abs(result["clv"]["expected_purchases"] - theirs) / theirs < 2e-3, (result["clv"]["expected_purchases"], theirs)
    alive = mbg.conditional_probability_alive(s.frequency, s.recency, s["T"]).mean()
    assert abs(result["clv"]["mean_probability_alive"] - alive) < 1e-3, (result["clv"]["mean_probability_alive"], alive)
    auto = run()
    candidates = auto["clv"]["validation"]["candidates"]
    assert sorted(c["model"] for c in candidates) == ["bgnbd", "mbgnbd", "paretonbd"]
    best = min(candidates, key=lambda c: c["mae_per_customer"])
    assert auto["clv"]["validation"]["model"] == best["model"] == auto["clv"]["purchase_model"]["model"]


def test_paretonbd_matches_lifetimes(tmp_path):
    """Pareto/NBD fitted on the same summary as lifetimes' ParetoNBDFitter: by lifetimes' own
    likelihood function our optimum is at least as good as theirs (theirs stops at
    Nelder-Mead's tolerance), the parameters agree, and lifetimes' predictions with our
    parameters are ours."""
    from lifetimes import ParetoNBDFitter
    from lifetimes.utils import summary_data_from_transaction_data
    path = generate(str(tmp_path / "p.csv"), customers=3000, seed=19)
    result = json.loads(subprocess.run([f"{BIN}/fidelis", "analyze", path, "--format", "json", "--clv-model", "paretonbd"], capture_output=True, text=True, check=True).stdout)
    ours = result["clv"]["purchase_model"]
    assert ours["model"] == "paretonbd" and ours["fit"]["converged"]
    df = pd.read_csv(path, dtype={"customer_id": str, "order_id": str}, parse_dates=["order_date"])
    s = summary_data_from_transaction_data(df, "customer_id", "order_date", freq="D")
    names = ["r", "alpha", "s", "beta"]
    # lifetimes' Nelder-Mead does not stop at the same point from one run to the next on the
    # same data (s from 1.695 down to 1.438 once, r from 1.28156 to 1.28350): its best of three
    # runs by its own likelihood is compared, to its precision; the likelihood check below is
    # the exact one.
    fits = [ParetoNBDFitter().fit(s.frequency, s.recency, s["T"]) for _ in range(3)]
    theirs = min(fits, key=lambda f: f._negative_log_likelihood(
        [f.params_["r"], f.params_["alpha"] * f._scale, f.params_["s"], f.params_["beta"] * f._scale],
        s.frequency.values, s.recency.values * f._scale, s["T"].values * f._scale, np.ones(len(s)), 0))
    for name in names:
        assert abs(ours[name] - theirs.params_[name]) / theirs.params_[name] < 5e-3, (name, ours[name], theirs.params_[name])
    scale = theirs._scale
    def mean_nll(params):
        r, alpha, s_, beta = params
        return ParetoNBDFitter._negative_log_likelihood(
            [r, alpha * scale, s_, beta * scale], s.frequency.values, s.recency.values * scale, s["T"].values * scale, np.ones(len(s)), 0) / len(s)
    ours_nll = mean_nll([ours[n] for n in names])
    assert ours_nll <= mean_nll([theirs.params_[n] for n in names]) + 1e-9
    # Our reported log-likelihood is lifetimes' in the same time scale: same function.
    assert abs(-ours_nll - ours["fit"]["log_likelihood"]) < 1e-9
    same = ParetoNBDFitter()
    same.params_ = pd.Series({n: ours[n] for n in names})
    horizon = 30 * result["clv"]["horizon_months"]
    expected = same.conditional_expected_number_of_purchases_up_to_time(horizon, s.frequency, s.recency, s["T"]).sum()
    assert abs(result["clv"]["expected_purchases"] - expected) / expected < 1e-6, (result["clv"]["expected_purchases"], expected)
    alive = same.conditional_probability_alive(s.frequency, s.recency, s["T"]).mean()
    assert abs(result["clv"]["mean_probability_alive"] - alive) < 1e-6, (result["clv"]["mean_probability_alive"], alive)


def test_paretonbd_on_the_cdnow_panel_where_lifetimes_fails_on_a_customer(tmp_path):
    """The CDNOW master panel (23,570 customers, shipped with lifetimes; no order id, so
    identical lines are purchases): Pareto/NBD agrees with lifetimes' fit, every customer's
    P(alive) equals lifetimes' where lifetimes gives a number, and where its ₂F₁ returns NaN
    (a customer with 170 repeat purchases, the last on the last day) ours is the integral
    taken to 40 digits by mpmath."""
    import lifetimes, mpmath
    from lifetimes import ParetoNBDFitter
    from lifetimes.utils import summary_data_from_transaction_data
    source = os.path.join(os.path.dirname(lifetimes.__file__), "datasets", "CDNOW_master.txt")
    raw = pd.read_csv(source, sep=r"\s+", header=0, names=["customer_id", "date", "quantity", "amount"], dtype={"customer_id": str, "date": str})
    raw["order_date"] = pd.to_datetime(raw["date"], format="%Y%m%d").dt.strftime("%Y-%m-%d")
    path = str(tmp_path / "cdnow.csv")
    raw[["customer_id", "order_date", "quantity", "amount"]].to_csv(path, index=False)
    run = lambda fmt: subprocess.run([f"{BIN}/fidelis", "analyze", path, "--format", fmt, "--clv-model", "paretonbd"], capture_output=True, text=True, check=True).stdout
    ours = json.loads(run("json"))["clv"]["purchase_model"]
    rows = pd.read_csv(io.StringIO(run("csv")), dtype={"customer_id": str}).set_index("customer_id")
    df = pd.read_csv(path, dtype={"customer_id": str}, parse_dates=["order_date"])
    s = summary_data_from_transaction_data(df, "customer_id", "order_date", freq="D")
    assert len(rows) == len(s) == 23570
    # lifetimes starts its Nelder-Mead at a random point and stops at a tolerance of 1e-4: on
    # this panel r came out anywhere from 0.6109 to 0.6146 from one run to the next (a CI run
    # failed on it). From a fixed start and to 1e-8, it stops at the optimum, to the digits.
    theirs = ParetoNBDFitter().fit(s.frequency, s.recency, s["T"], initial_params=np.ones(4), tol=1e-8)
    names = ["r", "alpha", "s", "beta"]
    for name in names:
        assert abs(ours[name] - theirs.params_[name]) / theirs.params_[name] < 1e-6, (name, ours[name], theirs.params_[name])
    scale = theirs._scale
    def nll(params):
        r, alpha, s_, beta = params
        return ParetoNBDFitter._negative_log_likelihood(
            [r, alpha * scale, s_, beta * scale], s.frequency.values, s.recency.values * scale, s["T"].values * scale, np.ones(len(s)), 0)
    # No better point than ours by lifetimes' own likelihood.
    assert nll([ours[n] for n in names]) <= nll([theirs.params_[n] for n in names]) + 1e-6
    same = ParetoNBDFitter()
    same.params_ = pd.Series({n: ours[n] for n in names})
    alive = same.conditional_probability_alive(s.frequency, s.recency, s["T"])
    ours_alive = rows.probability_alive.reindex(s.index)
    finite = np.isfinite(alive)
    assert (ours_alive[finite] - alive[finite]).abs().max() <= 5e-5 + 1e-9  # the CSV's 4 decimals
    failed = s[~finite]
    assert len(failed) >= 1 and ours_alive[~finite].notna().all()
    mpmath.mp.dps = 40
    r, a, sh, b = (mpmath.mpf(ours[n]) for n in names)
    for customer, row in failed.iterrows():
        x, tx, age = int(row.frequency), mpmath.mpf(row.recency), mpmath.mpf(row["T"])
        integral = mpmath.quad(lambda t: (a + t) ** (-(r + x)) * (b + t) ** (-(sh + 1)), [tx, age])
        head = (a + age) ** (-(r + x)) * (b + age) ** (-sh)
        assert abs(float(head / (head + sh * integral)) - ours_alive[customer]) <= 5e-5 + 1e-9, customer
