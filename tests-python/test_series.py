"""Named datasets that grow: uploads, appends of overlapping exports, versions, jobs by name,
and names kept apart between tenants. Real processes."""
import csv, datetime, io, json, signal, time
from conftest import ADMIN, generate
from test_processes import wait_state


def split_exports(path, cuts):
    """The file's header and its lines, and exports that overlap: export i holds the lines
    dated in [cuts[i][0], cuts[i][1]] (ISO dates compare as text)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, lines = rows[0], rows[1:]
    date = next(i for i, name in enumerate(header) if "date" in name)
    return header, lines, [[r for r in lines if lo <= r[date] <= hi] for lo, hi in cuts]


def write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def tenant(cluster, name):
    return cluster.cli("admin", "tenant", "create", name, key=ADMIN).stdout.strip()


def analysis(cluster, key, dataset):
    job = cluster.cli("job", "submit", dataset, "--wait", "--as-of", "2026-01-15", "--seed", "1", key=key).stdout.strip().splitlines()[0]
    report = json.loads(cluster.cli("report", "get", job, "--format", "json", key=key).stdout)
    status = json.loads(cluster.cli("job", "status", job, "--json", key=key).stdout)
    return job, report, status


def figures(report):
    return (report["customers"], report["orders"], round(report["revenue"], 2), report["data_quality"]["rows_used"])


def test_appends_of_overlapping_exports_with_order_ids_count_each_purchase_once(cluster, tmp_path):
    cluster.start_server()
    cluster.start_worker("w1")
    key = tenant(cluster, "growing")
    full = generate(str(tmp_path / "full.csv"), customers=400, seed=11)
    header, lines, (a, b, c) = split_exports(full, [("0000", "2024-06-30"), ("2024-05-01", "2024-10-31"), ("2024-09-15", "9999")])
    overlap_ab = [r for r in b if r in a]
    overlap_bc = [r for r in c if r in b]
    assert overlap_ab and overlap_bc

    first = json.loads(cluster.cli("dataset", "upload", write(tmp_path / "a.csv", header, a), "--name", "shop", "--json", key=key).stdout)
    assert first["version"] == 1 and first["name"] == "shop"
    second = json.loads(cluster.cli("dataset", "append", "shop", write(tmp_path / "b.csv", header, b), "--json", key=key).stdout)
    assert second["version"] == 2
    assert second["append"]["rule"] == "order id"
    # Every line of the overlap carries an order id the dataset holds: skipped, not counted twice.
    assert int(second["append"]["lines_skipped"]) == len(overlap_ab)
    assert int(second["append"]["lines_added"]) == len(b) - len(overlap_ab)
    r = cluster.cli("dataset", "append", "shop", write(tmp_path / "c.csv", header, c), key=key)
    assert "skipped (order ids already held)" in r.stderr, r.stderr
    third_id = r.stdout.strip()

    versions = cluster.cli("dataset", "versions", "shop", key=key).stdout.strip().splitlines()
    assert [v.split("\t")[0] for v in versions] == ["3", "2", "1"]
    assert versions[0].split("\t")[1] == third_id

    # The name stands for its latest version: the same figures as the whole export at once.
    whole = cluster.cli("dataset", "upload", full, "--name", "whole", key=key).stdout.strip()
    job, grown, status = analysis(cluster, key, "shop")
    assert status["dataset_id"] == third_id and status.get("dataset_name") == "shop", status
    _, reference, _ = analysis(cluster, key, whole)
    assert figures(grown) == figures(reference)
    assert grown["data_quality"]["rows_read"] == len(lines)

    # An earlier version still reads as it was.
    _, earlier, _ = analysis(cluster, key, first["id"])
    assert earlier["data_quality"]["rows_read"] == len(a)

    # The reports of a name are those of every version.
    listed = cluster.cli("report", "list", "--dataset", "shop", key=key).stdout.strip().splitlines()
    assert len(listed) == 2 and any(job in line for line in listed), listed


def test_without_order_ids_a_batchs_days_replace_the_days_held(cluster, tmp_path):
    cluster.start_server()
    cluster.start_worker("w1")
    key = tenant(cluster, "daily")
    full = generate(str(tmp_path / "full.csv"), customers=300, seed=5, layout="daily")
    header, lines, (a, b) = split_exports(full, [("0000", "2024-08-31"), ("2024-08-01", "9999")])
    date = header.index("date")
    amount = header.index("amount")
    overlap_days = {r[date] for r in a if r[date] >= "2024-08-01"}
    held_on_overlap = [r for r in a if r[date] >= "2024-08-01"]
    # The later export corrects a line of the overlap: it is the truth for its days.
    corrected = [list(r) for r in b]
    corrected[0][amount] = f"{float(corrected[0][amount]) + 100:.2f}"
    cluster.cli("dataset", "upload", write(tmp_path / "a.csv", header, a), "--name", "visits", key=key)
    second = json.loads(cluster.cli("dataset", "append", "visits", write(tmp_path / "b.csv", header, corrected), "--json", key=key).stdout)
    a_ = second["append"]
    assert a_["rule"] == "days"
    assert int(a_["lines_replaced"]) == len(held_on_overlap)
    assert int(a_["days_replaced"]) == len(overlap_days)
    assert a_["replaced_from"] == min(overlap_days) and a_["replaced_through"] == max(overlap_days)
    assert int(a_["lines_added"]) == len(b)

    truth = write(tmp_path / "truth.csv", header, [r for r in a if r[date] < "2024-08-01"] + corrected)
    whole = cluster.cli("dataset", "upload", truth, "--name", "truth", key=key).stdout.strip()
    _, grown, _ = analysis(cluster, key, "visits")
    _, reference, _ = analysis(cluster, key, whole)
    assert figures(grown) == figures(reference)


def test_a_batch_with_another_layout_is_refused_and_names_are_the_tenants_own(cluster, tmp_path):
    cluster.start_server()
    key = tenant(cluster, "first")
    other = tenant(cluster, "second")
    full = generate(str(tmp_path / "full.csv"), customers=100, seed=2)
    header, lines, (a,) = split_exports(full, [("0000", "9999")])
    cluster.cli("dataset", "upload", full, "--name", "shop", key=key)
    # Columns in another order: refused with the reason, nothing stored.
    swapped = [header[1], header[0]] + header[2:]
    rows = [[r[1], r[0]] + r[2:] for r in lines[:50]]
    r = cluster.cli("dataset", "append", "shop", write(tmp_path / "swapped.csv", swapped, rows), key=key, check=False)
    assert r.returncode != 0 and "columns" in r.stderr and "same order" in r.stderr, r.stderr
    r = cluster.cli("dataset", "append", "shop", write(tmp_path / "few.csv", header, lines[:5]), key=key)
    assert "0 lines added, 5 skipped" in r.stderr, r.stderr
    semi = tmp_path / "semi2.csv"
    semi.write_text(";".join(header) + "\n" + "\n".join(";".join(x) for x in lines[:5]) + "\n")
    r = cluster.cli("dataset", "append", "shop", str(semi), key=key, check=False)
    assert r.returncode != 0 and "separates" in r.stderr, r.stderr
    # A quote never closed on line 3, then 6 MB of lines: refused where the record starts.
    unclosed = tmp_path / "unclosed.csv"
    rows = [",".join(lines[0]), ",".join(lines[1][:-1] + ['"' + lines[1][-1]])]
    filler = "\n".join(",".join(x) for x in lines[2:]) + "\n"
    with open(unclosed, "w") as f:
        f.write(",".join(header) + "\n" + "\n".join(rows) + "\n")
        while f.tell() < 6 << 20:
            f.write(filler)
    r = cluster.cli("dataset", "append", "shop", str(unclosed), key=key, check=False)
    assert r.returncode != 0 and "starting on line 3 runs past 4 MiB" in r.stderr and "nothing was stored" in r.stderr, r.stderr
    versions = cluster.cli("dataset", "versions", "shop", key=key).stdout.strip().splitlines()
    assert len(versions) == 2  # the upload and the one valid append
    # A customers file cannot take purchases.
    cust = tmp_path / "cust.csv"
    cust.write_text("customer_id,satisfaction\nC000001,4\n")
    cluster.cli("dataset", "upload", str(cust), "--name", "crm", "--kind", "customers", key=key)
    crm = json.loads(cluster.cli("dataset", "versions", "crm", "--kind", "customers", "--json", key=key).stdout)["datasets"][0]["id"]
    r = cluster.cli("dataset", "append", crm, str(cust), key=key, check=False)
    assert r.returncode != 0 and "customers file" in r.stderr, r.stderr

    # Another tenant's `shop` does not exist for this one.
    for args in (["dataset", "versions", "shop"], ["dataset", "append", "shop", full], ["job", "submit", "shop"], ["report", "list", "--dataset", "shop"]):
        r = cluster.cli(*args, key=other, check=False)
        assert r.returncode != 0 and "notFound" in r.stderr, (args, r.stderr)
    # Its own `shop` is its own.
    mine = json.loads(cluster.cli("dataset", "upload", full, "--name", "shop", "--json", key=other).stdout)
    assert mine["version"] == 1

    # Deleting by name removes every version; a job then cannot name it.
    r = cluster.cli("dataset", "delete", "shop", key=key)
    assert "2 versions" in r.stderr, r.stderr
    r = cluster.cli("job", "submit", "shop", key=key, check=False)
    assert r.returncode != 0 and "notFound" in r.stderr, r.stderr


def customer_rows(cluster, key, job):
    return {r["customer_id"]: r for r in csv.DictReader(io.StringIO(cluster.cli("report", "get", job, "--format", "csv", key=key).stdout))}


def test_each_analysis_of_a_series_compares_itself_with_the_last(cluster, tmp_path):
    cluster.start_server()
    cluster.start_worker("w1")
    key = tenant(cluster, "series")
    full = generate(str(tmp_path / "full.csv"), customers=500, seed=21)
    header, lines, (a, b, c) = split_exports(full, [("0000", "2024-06-30"), ("2024-05-01", "2024-12-31"), ("2024-11-01", "9999")])
    cluster.cli("dataset", "upload", write(tmp_path / "a.csv", header, a), "--name", "shop", key=key)

    def analyse(*options):
        job = cluster.cli("job", "submit", "shop", "--wait", "--seed", "3", *options, key=key).stdout.strip().splitlines()[0]
        return job, json.loads(cluster.cli("report", "get", job, "--format", "json", key=key).stdout)

    first, r1 = analyse()
    assert "comparison" not in r1
    cluster.cli("dataset", "append", "shop", write(tmp_path / "b.csv", header, b), key=key)
    second, r2 = analyse()
    cluster.cli("dataset", "append", "shop", write(tmp_path / "c.csv", header, c), key=key)
    third, r3 = analyse()

    c2 = r2["comparison"]
    assert c2["previous_job"] == first and c2["previous_as_of"] == r1["as_of"]
    changes = {k["id"]: k for k in c2["kpi_changes"]}
    assert changes["customers"]["before"] == r1["customers"] and changes["customers"]["after"] == r2["customers"]
    assert abs(changes["revenue"]["change"] - (r2["revenue"] - r1["revenue"])) < 1e-6

    # The matrix against the two reports' own per-customer files.
    before, after = customer_rows(cluster, key, first), customer_rows(cluster, key, second)
    for kind, column in (("lifecycle", "lifecycle_group"), ("rfm", "segment")):
        m = c2["segment_migration"][kind]
        rows, cols = m["rows"], m["columns"]
        sizes = {g["name"]: g["customers"] for g in (r1["lifecycle"]["groups"] if kind == "lifecycle" else r1["rfm"]["segments"])}
        for i, name in enumerate(rows[:-1]):
            both = sum(1 for cid, row in before.items() if row[column] == name and cid in after)
            assert sum(m["counts"][i]) == both, (kind, name)
            assert sum(m["counts"][i]) + m["absent"][i] == sizes.get(name, 0), (kind, name)
            for j, now in enumerate(cols):
                assert m["counts"][i][j] == sum(1 for cid, row in before.items() if row[column] == name and after.get(cid, {}).get(column) == now)
        assert rows[-1] == "not_in_previous"
        assert sum(m["counts"][-1]) == sum(1 for cid in after if cid not in before)
        now_sizes = {g["name"]: g["customers"] for g in (r2["lifecycle"]["groups"] if kind == "lifecycle" else r2["rfm"]["segments"])}
        for j, now in enumerate(cols):
            assert sum(row[j] for row in m["counts"]) == now_sizes.get(now, 0)

    # The previous report's actions: who was targeted, who ordered since its date.
    day = lambda iso: (datetime.date.fromisoformat(iso) - datetime.date(1970, 1, 1)).days
    since, as_of = day(r1["as_of"]), day(r2["as_of"])
    for follow, action in zip(c2["action_follow_up"], r1["actions"]):
        assert follow["action"] == action["id"] and follow["targeted"] == action["target_customers"]
        if action["id"] == "reactivation":
            targeted = [cid for cid, row in before.items() if row["lifecycle_group"] in ("at_risk", "lost")]
            again = sum(1 for cid in targeted if cid in after and as_of - int(after[cid]["recency_days"]) >= since)
            assert follow["ordered_again"] == again and follow["kpi"] == "reactivation_rate"
            assert follow["met"] == (again / len(targeted) >= action["kpi_target"])

    # The customer groups index each later report reads is the service's own: neither
    # listed nor served, whatever a client asks.
    listed = cluster.cli("report", "list", "--dataset", "shop", key=key).stdout.strip().splitlines()
    assert all(line.split("\t")[3] == "csv,html,json,md" for line in listed), listed
    r = cluster.cli("report", "get", first, "--format", "_groups", key=key, check=False)
    assert r.returncode != 0 and "has no '_groups' report (it has: csv, html, json, md)" in r.stderr, r.stderr

    # Every report of the series, in order, in the third.
    assert [p["job"] for p in r3["comparison"]["trend"]] == [first, second, third]
    assert [p["as_of"] for p in r3["comparison"]["trend"]] == [r1["as_of"], r2["as_of"], r3["as_of"]]
    assert r3["comparison"]["trend"][0]["values"]["customers"] == r1["customers"]
    md = cluster.cli("report", "get", third, "--format", "md", key=key).stdout
    assert "# Since the last report" in md and "Where the customers went" in md and "What became of the previous report's actions" in md
    html = cluster.cli("report", "get", third, "--format", "html", key=key).stdout
    assert 'data-kind="lines"' in html and html.count('data-kind="heatmap"') >= 3

    # Who moved: the export's rows are the matrix's cell.
    m = r3["comparison"]["segment_migration"]["lifecycle"]
    i, j = max(((i, j) for i in range(len(m["rows"]) - 1) for j in range(len(m["columns"])) if m["rows"][i] != m["columns"][j]), key=lambda ij: m["counts"][ij[0]][ij[1]])
    exported = cluster.cli("segment", "export", third, "--moved-from", m["rows"][i], "--moved-to", m["columns"][j], key=key).stdout.strip().splitlines()
    assert len(exported) - 1 == m["counts"][i][j] > 0
    r = cluster.cli("segment", "export", first, "--moved-from", "lost", "--moved-to", "loyal", key=key, check=False)
    assert r.returncode != 0 and "not compared" in r.stderr
    r = cluster.cli("segment", "export", third, "--moved-from", "lost", "--moved-to", "Champions", key=key, check=False)
    assert r.returncode != 0 and "both RFM segments or both lifecycle groups" in r.stderr

    # Polling by name: the newest report of the series, and the ones after a report seen.
    latest = json.loads(cluster.cli("report", "latest", "shop", "--format", "json", key=key).stdout)
    assert latest["comparison"]["previous_job"] == second and latest["as_of"] == r3["as_of"]
    html_path = tmp_path / "latest.html"
    cluster.cli("report", "latest", "shop", "--format", "html", "-o", str(html_path), key=key)
    assert "Since the last report" in html_path.read_text()
    watched = cluster.cli("report", "watch", "shop", "--after", first, "--count", "2", key=key).stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in watched] == [second, third]

    # Another language, and a comparison with a report chosen by hand.
    fr_job, fr = analyse("--lang", "fr", "--compare-to", first)
    assert fr["comparison"]["previous_job"] == first
    assert "Depuis le dernier rapport" in cluster.cli("report", "get", fr_job, "--format", "md", key=key).stdout
    r = cluster.cli("job", "submit", "shop", "--compare-to", "job_doesnotexist", key=key, check=False)
    assert r.returncode != 0 and "notFound" in r.stderr


def wait_for(predicate, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_schedule_runs_once_per_change_across_a_kill_and_restart_of_the_coordinator(cluster, tmp_path):
    cluster.start_server()
    key = tenant(cluster, "scheduled")
    other = tenant(cluster, "stranger")
    full = generate(str(tmp_path / "full.csv"), customers=200, seed=9)
    header, lines, (a, b, c) = split_exports(full, [("0000", "2024-06-30"), ("2024-05-01", "2024-12-31"), ("2024-11-01", "9999")])
    cluster.cli("dataset", "upload", write(tmp_path / "a.csv", header, a), "--name", "shop", key=key)
    bad = cluster.cli("schedule", "create", "shop", "--every", "fortnightly", key=key, check=False)
    assert bad.returncode != 0 and "30d, 7d, 6h or 15m" in bad.stderr
    assert cluster.cli("schedule", "create", "nope", "--every", "1d", key=key, check=False).returncode != 0
    sid = cluster.cli("schedule", "create", "shop", "--every", "2s", "--seed", "3", key=key).stdout.strip()

    def runs():
        return json.loads(cluster.cli("schedule", "runs", sid, "--json", key=key).stdout).get("runs", [])

    def jobs():
        return json.loads(cluster.cli("job", "list", "--json", key=key).stdout).get("jobs", [])

    def submitted():
        return [r for r in runs() if r["outcome"] == "submitted"]

    # No worker yet: the first run's job waits, and the next runs say so instead of piling up.
    wait_for(lambda: any("still queued" in r.get("reason", "") for r in runs()), what="a skip while queued")
    assert len(jobs()) == 1
    cluster.start_worker("w1")
    first = submitted()[0]["job_id"]
    wait_state(cluster, key, first, ["JOB_STATE_SUCCEEDED"])
    wait_for(lambda: any("has not changed" in r.get("reason", "") for r in runs()), what="a skip of an unchanged dataset")
    assert len(jobs()) == 1

    cluster.cli("dataset", "append", "shop", write(tmp_path / "b.csv", header, b), key=key)
    second = wait_for(lambda: len(submitted()) == 2 and submitted()[0]["job_id"], what="the second run")
    wait_state(cluster, key, second, ["JOB_STATE_SUCCEEDED"])

    # A batch, then the coordinator killed at once: its run is made before or after, once.
    cluster.cli("dataset", "append", "shop", write(tmp_path / "c.csv", header, c), key=key)
    cluster.server.send_signal(signal.SIGKILL)
    cluster.server.wait()
    time.sleep(5)
    restarted = time.time() * 1000
    cluster.start_server()
    third = wait_for(lambda: len(submitted()) == 3 and submitted()[0]["job_id"], what="the third run")
    wait_state(cluster, key, third, ["JOB_STATE_SUCCEEDED"])
    time.sleep(3)

    versions = [v.split("\t")[1] for v in cluster.cli("dataset", "versions", "shop", key=key).stdout.strip().splitlines()]
    by_version = {}
    for job in jobs():
        by_version.setdefault(job["dataset_id"], []).append(job["id"])
    # One job per version: none lost, none doubled.
    assert sorted(map(len, by_version.values())) == [1, 1, 1] and set(by_version) == set(versions), by_version
    history = runs()
    assert len({r["due_at_unix_ms"] for r in history}) == len(history)
    # The periods missed while it was down make one run when it is back.
    missed = [r for r in history if int(r["ran_at_unix_ms"]) >= restarted and int(r["due_at_unix_ms"]) < restarted]
    assert len(missed) == 1, missed
    # The series goes on: the third run compares itself with the second.
    report = json.loads(cluster.cli("report", "get", third, "--format", "json", key=key).stdout)
    assert report["comparison"]["previous_job"] == second

    # Paused, it makes no run; its schedule is nobody else's.
    cluster.cli("schedule", "pause", sid, key=key)
    count = len(runs())
    time.sleep(3)
    assert len(runs()) == count
    listed = cluster.cli("schedule", "list", key=key).stdout
    assert sid in listed and "paused" in listed
    assert cluster.cli("schedule", "list", key=other).stdout.strip() == ""
    r = cluster.cli("schedule", "resume", sid, key=other, check=False)
    assert r.returncode != 0 and "notFound" in r.stderr
    cluster.cli("schedule", "delete", sid, key=key)
    assert cluster.cli("schedule", "list", key=key).stdout.strip() == ""


def test_retention_keeps_the_newest_versions_and_reports_and_what_the_series_needs(cluster, tmp_path):
    cluster.start_server()
    cluster.start_worker("w1")
    key = tenant(cluster, "kept")
    tenant_id = next(t["id"] for t in json.loads(cluster.cli("admin", "tenant", "list", "--json", key=ADMIN).stdout)["tenants"] if t["name"] == "kept")
    full = generate(str(tmp_path / "full.csv"), customers=200, seed=4)
    header, lines, parts = split_exports(full, [("0000", "2024-04-30"), ("2024-05-01", "2024-08-31"), ("2024-09-01", "2024-12-31"), ("2025-01-01", "9999")])
    cluster.cli("dataset", "upload", write(tmp_path / "p0.csv", header, parts[0]), "--name", "shop", key=key)
    jobs = []
    for i, part in enumerate(parts[1:], start=1):
        cluster.cli("dataset", "append", "shop", write(tmp_path / f"p{i}.csv", header, part), key=key)
        jobs.append(cluster.cli("job", "submit", "shop", "--wait", "--seed", "1", key=key).stdout.strip().splitlines()[0])
    r = cluster.cli("admin", "tenant", "limits", tenant_id, "--keep-versions", "2", "--keep-reports", "2", key=ADMIN)
    assert "keep 2 versions, 2 reports" in r.stdout, r.stdout
    wait_for(lambda: len(cluster.cli("dataset", "versions", "shop", key=key).stdout.strip().splitlines()) == 2, what="old versions deleted")
    wait_for(lambda: len(cluster.cli("report", "list", "--dataset", "shop", key=key).stdout.strip().splitlines()) == 2, what="old reports deleted")
    listed = cluster.cli("report", "list", "--dataset", "shop", key=key).stdout
    assert jobs[0] not in listed and jobs[1] in listed and jobs[2] in listed
    # The newest version still reads every batch (the retired versions' files stay), and the
    # next analysis compares itself with the newest report.
    job, report, _ = analysis(cluster, key, "shop")
    assert report["data_quality"]["rows_read"] == len(lines)
    assert report["comparison"]["previous_job"] == jobs[2]
