"""The analysis of `fidelis-bench analytics`, done the way people do it today: pandas for
ingestion and RFM, scikit-learn for K-Means with k chosen by silhouette, lifetimes for the
BG/NBD and Gamma-Gamma fits and CLV. Prints one JSON line: seconds per stage, peak memory.

usage: bench-analytics-reference.py FILE
"""
import json, resource, sys, time, warnings

warnings.filterwarnings("ignore")
t0 = time.perf_counter()
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data

stages = {}
mark = time.perf_counter()
import_seconds = mark - t0


def lap(name):
    global mark
    now = time.perf_counter()
    stages[name] = now - mark
    mark = now


# Ingest, as Fidelis' stage does it: lines read and checked (customer present, date and
# amount readable, amount positive), exact duplicate lines dropped, lines grouped into orders.
df = pd.read_csv(sys.argv[1], dtype={"customer_id": str, "order_id": str, "category": str}, parse_dates=["order_date"])
df = df.dropna(subset=["customer_id", "order_date", "amount"])
df = df[df.amount > 0].drop_duplicates()
orders = df.groupby(["customer_id", "order_id"], sort=False).agg(day=("order_date", "max"), amount=("amount", "sum")).reset_index()
lap("ingest")

snapshot = df.order_date.max() + pd.Timedelta(days=1)
rfm = orders.groupby("customer_id").agg(last=("day", "max"), first=("day", "min"), frequency=("order_id", "nunique"), monetary=("amount", "sum"))
rfm["recency"] = (snapshot - rfm["last"]).dt.days
rfm["r"] = pd.qcut(rfm.recency.rank(method="first"), 5, labels=[5, 4, 3, 2, 1]).astype(int)
rfm["f"] = pd.qcut(rfm.frequency.rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
rfm["m"] = pd.qcut(rfm.monetary.rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
fm = ((rfm.f + rfm.m) / 2).round().astype(int)
segment = np.select(
    [(rfm.r >= 4) & (fm >= 4), (rfm.r >= 3) & (fm >= 3), (rfm.r >= 4) & (fm <= 2), (rfm.r == 3) & (fm <= 2),
     (rfm.r <= 2) & (fm >= 4), (rfm.r <= 2) & (fm == 3), (rfm.r == 2)],
    ["Champions", "Loyal Customers", "Potential Loyalist", "Promising", "At Risk", "Need Attention", "About To Sleep"],
    "Lost")
segment_counts = pd.Series(segment).value_counts()
lap("rfm")

X = np.log1p(rfm[["recency", "frequency", "monetary"]].to_numpy(dtype=float))
X = (X - X.mean(axis=0)) / X.std(axis=0)
rng = np.random.default_rng(0)
subset = X[np.sort(rng.choice(len(X), size=min(20000, len(X)), replace=False))]
sil_idx = np.sort(rng.choice(len(subset), size=min(3000, len(subset)), replace=False))
scores = {}
for k in range(2, 9):
    labels = KMeans(n_clusters=k, n_init=3, random_state=0).fit(subset).labels_
    scores[k] = silhouette_score(subset[sil_idx], labels[sil_idx])
k = max(scores, key=scores.get)
final = KMeans(n_clusters=k, n_init=4, random_state=0).fit(X)
lap("kmeans")

s = summary_data_from_transaction_data(df, "customer_id", "order_date", monetary_value_col="amount", freq="D")
bg = BetaGeoFitter(penalizer_coef=0.0).fit(s.frequency, s.recency, s["T"])
repeat = s[s.frequency > 0]
gg = GammaGammaFitter(penalizer_coef=0.0).fit(repeat.frequency, repeat.monetary_value)
p_alive = bg.conditional_probability_alive(s.frequency, s.recency, s["T"])
clv = gg.customer_lifetime_value(bg, s.frequency, s.recency, s["T"], s.monetary_value, time=12, freq="D", discount_rate=0.01)
lap("clv")

total = sum(stages.values())
print(json.dumps({"stages": stages, "total": total, "imports": import_seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "customers": int(len(rfm)), "orders": int(len(orders)), "k": int(k)}, sort_keys=True))
