"""Crashes and restarts of real processes: no accepted job is lost or run twice."""
import json, os, signal, subprocess, time
from conftest import ADMIN, BIN, generate


def new_tenant(cluster, name):
    return cluster.cli("admin", "tenant", "create", name, key=ADMIN).stdout.strip()


def status(cluster, key, job):
    return json.loads(cluster.cli("job", "status", job, "--json", key=key).stdout)


def wait_state(cluster, key, job, states, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = status(cluster, key, job)
        if s.get("state", "JOB_STATE_QUEUED") in states:
            return s
        time.sleep(0.2)
    raise AssertionError(f"job {job} never reached {states}: {s}")


def test_worker_killed_mid_job_job_succeeds_exactly_once(cluster, tmp_path):
    cluster.start_server()
    w1 = cluster.start_worker("w1")
    key = new_tenant(cluster, "acme")
    data = generate(str(tmp_path / "big.csv"), customers=30000)
    dataset = cluster.cli("dataset", "upload", data, key=key).stdout.strip()
    job = cluster.cli("job", "submit", dataset, "--kind", "analysis", key=key).stdout.strip()
    wait_state(cluster, key, job, ["JOB_STATE_RUNNING"])
    time.sleep(0.3)
    w1.send_signal(signal.SIGKILL)
    w1.wait()
    cluster.start_worker("w2")
    final = wait_state(cluster, key, job, ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"], timeout=300)
    assert final["state"] == "JOB_STATE_SUCCEEDED", final
    outcomes = [a["outcome"] for a in final["attempts"]]
    assert outcomes.count("succeeded") == 1, outcomes
    assert outcomes[0] == "lease expired", outcomes
    assert final["attempts"][0]["worker"] == "w1" and final["attempts"][-1]["worker"] == "w2"
    report = cluster.cli("report", "get", job, "--format", "json", key=key).stdout
    assert json.loads(report)["schema"] == "fidelis.report/v1"


def test_coordinator_killed_after_burst_every_accepted_job_completes_once(cluster, tmp_path):
    cluster.start_server()
    key = new_tenant(cluster, "burst")
    data = generate(str(tmp_path / "small.csv"), customers=50)
    dataset = cluster.cli("dataset", "upload", data, key=key).stdout.strip()
    accepted = []
    for i in range(25):
        r = cluster.cli("job", "submit", dataset, "--kind", "profile", "--idempotency-key", f"burst-{i}", key=key)
        accepted.append(r.stdout.strip())
    cluster.server.send_signal(signal.SIGKILL)
    cluster.server.wait()
    cluster.start_server()
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    # A client retrying a submit after the crash gets the same job back.
    again = cluster.cli("job", "submit", dataset, "--kind", "profile", "--idempotency-key", "burst-3", key=key).stdout.strip()
    assert again == accepted[3]
    for job in accepted:
        final = wait_state(cluster, key, job, ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"])
        assert final["state"] == "JOB_STATE_SUCCEEDED", final
        assert [a["outcome"] for a in final.get("attempts", [])].count("succeeded") == 1
    listed = json.loads(cluster.cli("job", "list", "--json", "--limit", "1000", key=key).stdout)["jobs"]
    assert sorted(j["id"] for j in listed) == sorted(accepted)


def test_two_tenants_cannot_see_each_other(cluster, tmp_path):
    cluster.start_server()
    cluster.start_worker("w1")
    a = new_tenant(cluster, "tenant-a")
    b = new_tenant(cluster, "tenant-b")
    data = generate(str(tmp_path / "a.csv"), customers=100)
    dataset = cluster.cli("dataset", "upload", data, key=a).stdout.strip()
    job = cluster.cli("job", "submit", dataset, "--kind", "profile", "--wait", key=a).stdout.strip()
    assert cluster.cli("dataset", "list", key=b).stdout.strip() == ""
    r = cluster.cli("report", "get", job, "--format", "md", key=b, check=False)
    assert r.returncode != 0 and "notFound" in r.stderr or "not found" in r.stderr.lower(), r.stderr
    r = cluster.cli("job", "submit", dataset, key=b, check=False)
    assert r.returncode != 0 and f"no dataset {dataset}" in r.stderr
    r = cluster.cli("job", "status", job, key="fk_not_a_key", check=False)
    assert r.returncode != 0 and "unauthenticated" in r.stderr.lower()


def test_a_worker_with_a_wrong_token_stops_and_says_why(cluster, tmp_path):
    """A worker the coordinator will never serve exits non-zero, naming the token, where it
    leased again forever and looked alive to its supervisor; the right worker then runs the job."""
    cluster.start_server()
    key = new_tenant(cluster, "token")
    dataset = cluster.cli("dataset", "upload", generate(str(tmp_path / "d.csv"), customers=50), key=key).stdout.strip()
    job = cluster.cli("job", "submit", dataset, "--kind", "profile", key=key).stdout.strip()
    wrong = subprocess.run([f"{BIN}/fidelis-worker", "--name", "wrong"], env=dict(cluster.env, FIDELIS_WORKER_TOKEN="not-the-token"),
                           capture_output=True, text=True, timeout=30)
    assert wrong.returncode != 0
    assert "refused the worker token" in wrong.stderr and "FIDELIS_WORKER_TOKEN" in wrong.stderr, wrong.stderr
    assert status(cluster, key, job).get("state", "JOB_STATE_QUEUED") == "JOB_STATE_QUEUED"
    cluster.start_worker("right")
    assert wait_state(cluster, key, job, {"JOB_STATE_SUCCEEDED"})["state"] == "JOB_STATE_SUCCEEDED"


def test_sigterm_drains_cleanly(cluster, tmp_path):
    cluster.start_server()
    cluster.start_worker("w1")
    key = new_tenant(cluster, "drain")
    dataset = cluster.cli("dataset", "upload", generate(str(tmp_path / "d.csv"), customers=100), key=key).stdout.strip()
    cluster.cli("job", "submit", dataset, "--kind", "profile", "--wait", key=key)
    cluster.server.send_signal(signal.SIGTERM)
    assert cluster.server.wait(timeout=20) == 0


def test_cancel_reaches_the_running_worker(cluster, tmp_path):
    cluster.start_server()
    cluster.start_worker("w1")
    key = new_tenant(cluster, "cancel")
    data = generate(str(tmp_path / "big.csv"), customers=40000)
    dataset = cluster.cli("dataset", "upload", data, key=key).stdout.strip()
    job = cluster.cli("job", "submit", dataset, "--kind", "analysis", key=key).stdout.strip()
    wait_state(cluster, key, job, ["JOB_STATE_RUNNING"])
    asked = time.time()
    cancelled = json.loads(cluster.cli("job", "cancel", job, "--json", key=key).stdout)
    assert cancelled.get("cancel_requested") is True, cancelled
    final = wait_state(cluster, key, job, ["JOB_STATE_CANCELLED", "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"], timeout=60)
    assert final["state"] == "JOB_STATE_CANCELLED", final
    # The worker stopped on its next heartbeat (every 2/3 s with 2 s leases), not at the end.
    assert time.time() - asked < 5
    assert [a["outcome"] for a in final["attempts"]] == ["cancelled"]
    assert "job cancelled" in open(os.path.join(cluster.tmp, "w1.log")).read()
    r = cluster.cli("report", "get", job, "--format", "md", key=key, check=False)
    assert r.returncode != 0
    # The worker is free again: the next job runs.
    again = cluster.cli("job", "submit", dataset, "--kind", "profile", "--wait", key=key)
    assert again.returncode == 0


def memory_mb(pid, field):
    """A process's `field` of /proc/PID/status (VmHWM: peak resident, VmRSS: resident now), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field}")


def peak_rss_mb(pid):
    return memory_mb(pid, "VmHWM")


def rss_mb(pid):
    return memory_mb(pid, "VmRSS")


def test_200_mb_upload_streams_with_bounded_memory(cluster, tmp_path):
    cluster.start_server()
    key = new_tenant(cluster, "big-upload")
    path = tmp_path / "200mb.csv"
    line_block = "".join(f"C{i % 50000:06d},O{i:09d},2024-03-{i % 28 + 1:02d},{i % 997}.25\n" for i in range(25000)).encode()
    with open(path, "wb") as f:
        f.write(b"customer_id,order_id,order_date,amount\n")
        while f.tell() < 200 * 1024 * 1024:
            f.write(line_block)
    size = os.path.getsize(path)
    server_before = peak_rss_mb(cluster.server.pid)
    server_resident_before = rss_mb(cluster.server.pid)
    env = dict(cluster.env, FIDELIS_API_KEY=key)
    client = subprocess.Popen([f"{BIN}/fidelis", "dataset", "upload", str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # VmHWM of the running client (the rusage of a child would count this Python process's
    # own pages, shared between fork and exec); it only grows, so the last reading is the peak.
    client_peak = 0
    while client.poll() is None:
        try:
            client_peak = max(client_peak, peak_rss_mb(client.pid))
        except (OSError, AssertionError):
            pass
        time.sleep(0.02)
    out, err = client.communicate()
    assert client.returncode == 0, err
    dataset = out.decode().strip()
    assert client_peak > 0
    server_peak = peak_rss_mb(cluster.server.pid)
    listed = json.loads(cluster.cli("dataset", "list", "--json", key=key).stdout)["datasets"]
    assert [int(d["size_bytes"]) for d in listed if d["id"] == dataset] == [size]
    # Both sides hold a few 1 MiB chunks at a time, never the file.
    print(f"client peak {client_peak:.0f} MB, server grew {server_peak - server_before:.0f} MB")
    assert client_peak < 80, f"client peak {client_peak:.0f} MB for a {size >> 20} MB file"
    assert server_peak - server_before < 80, f"server grew from {server_before:.0f} to {server_peak:.0f} MB"
    # The coordinator keeps chunk-sized buffers for reuse while it works, and gives back
    # what it freed every few seconds: once the upload is over, it holds what it held before
    # (and a few megabytes of SQLite's page caches).
    deadline = time.time() + 15
    while rss_mb(cluster.server.pid) > server_resident_before + 16 and time.time() < deadline:
        time.sleep(0.25)
    resident = rss_mb(cluster.server.pid)
    print(f"server resident {server_resident_before:.0f} MB before, {resident:.0f} MB {15 - (deadline - time.time()):.1f} s after")
    assert resident <= server_resident_before + 16, f"server still holds {resident:.0f} MB after the upload, {server_resident_before:.0f} MB before"


def test_online_backup_restores_every_tenant_dataset_job_and_report(cluster, tmp_path):
    """`fidelis-server backup` while the coordinator runs and takes submits; the copy, put in
    an empty data directory, serves the same keys, datasets, jobs and reports."""
    from conftest import Cluster
    cluster.start_server()
    cluster.start_worker("w1")
    key = new_tenant(cluster, "Backed")
    dataset = cluster.cli("dataset", "upload", generate(str(tmp_path / "d.csv"), customers=300), key=key).stdout.strip()
    job = cluster.cli("job", "submit", dataset, "--wait", key=key).stdout.strip()
    report = cluster.cli("report", "get", job, "--format", "json", key=key).stdout
    # Submits go on while the copy is taken.
    busy = subprocess.Popen(["bash", "-c", f'for i in $(seq 30); do "{BIN}/fidelis" job submit {dataset} --kind profile >/dev/null || exit 1; done'],
                            env=dict(cluster.env, FIDELIS_API_KEY=key))
    copy = str(tmp_path / "backup.sqlite")
    done = subprocess.run([f"{BIN}/fidelis-server", "backup", "--data-dir", cluster.data, "--to", copy], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 tenants" in done.stderr and "1 datasets" in done.stderr
    assert busy.wait(timeout=120) == 0
    assert oct(os.stat(copy).st_mode & 0o777) == "0o600"
    # A backup never replaces a file.
    again = subprocess.run([f"{BIN}/fidelis-server", "backup", "--data-dir", cluster.data, "--to", copy], capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "exists" in again.stderr
    # A copy that cannot be written is said of the copy, with the reason.
    missing = str(tmp_path / "no-such-folder" / "b.sqlite")
    r = subprocess.run([f"{BIN}/fidelis-server", "backup", "--data-dir", cluster.data, "--to", missing], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and f"cannot write {missing}: No such file or directory" in r.stderr, r.stderr
    cluster.stop()
    # Restore: the copy as the store of an empty data directory, the same tokens.
    restored = Cluster(str(tmp_path / "restored"))
    os.makedirs(restored.data)
    os.rename(copy, os.path.join(restored.data, "fidelis.sqlite"))
    try:
        restored.start_server()
        restored.start_worker("w2")
        assert dataset in restored.cli("dataset", "list", key=key).stdout
        assert restored.cli("report", "get", job, "--format", "json", key=key).stdout == report
        assert json.loads(restored.cli("job", "status", job, "--json", key=key).stdout)["state"] == "JOB_STATE_SUCCEEDED"
        # The restored coordinator takes new work on the restored data.
        assert restored.cli("job", "submit", dataset, "--kind", "profile", "--wait", key=key).returncode == 0
    finally:
        restored.stop()


def test_operator_lists_retries_and_cancels_any_tenants_jobs(cluster, tmp_path):
    """`fidelis admin jobs`, `admin job cancel` and `admin job retry` with the admin token,
    across tenants; a tenant's key cannot use them."""
    cluster.start_server()
    a, b = new_tenant(cluster, "A"), new_tenant(cluster, "B")
    ids = {line.split("\t")[1]: line.split("\t")[0] for line in cluster.cli("admin", "tenant", "list", key=ADMIN).stdout.splitlines()}
    good = cluster.cli("dataset", "upload", generate(str(tmp_path / "good.csv"), customers=200), key=a).stdout.strip()
    bad_path = tmp_path / "bad.csv"
    bad_path.write_text("colour,size\nred,3\n")
    bad = cluster.cli("dataset", "upload", str(bad_path), key=b).stdout.strip()
    # No worker yet: A's job waits in the queue, and the operator cancels it.
    waiting = cluster.cli("job", "submit", good, key=a).stdout.strip()
    cancelled = json.loads(cluster.cli("admin", "job", "cancel", waiting, "--json", key=ADMIN).stdout)
    assert cancelled["state"] == "JOB_STATE_CANCELLED" and cancelled["tenant_id"] == ids["A"]
    failing = cluster.cli("job", "submit", bad, "--kind", "profile", key=b).stdout.strip()
    cluster.start_worker("w1")
    first = wait_state(cluster, b, failing, {"JOB_STATE_FAILED"})
    listed = cluster.cli("admin", "jobs", "--state", "failed", key=ADMIN).stdout.splitlines()
    assert [line.split("\t")[:3] for line in listed] == [[failing, ids["B"], "failed"]]
    assert cluster.cli("admin", "jobs", "--state", "failed", "--tenant", ids["A"], key=ADMIN).stdout == ""
    assert {line.split("\t")[0] for line in cluster.cli("admin", "jobs", key=ADMIN).stdout.splitlines()} == {waiting, failing}
    # The cancelled job, retried, runs to the end; its report is the tenant's as usual.
    retried = json.loads(cluster.cli("admin", "job", "retry", waiting, "--json", key=ADMIN).stdout)
    assert retried["state"] == "JOB_STATE_QUEUED"
    assert wait_state(cluster, a, waiting, {"JOB_STATE_SUCCEEDED"})["state"] == "JOB_STATE_SUCCEEDED"
    assert json.loads(cluster.cli("report", "get", waiting, "--format", "json", key=a).stdout)["customers"] == 200
    # The failed one gets a fresh budget of attempts, keeps its history, and fails again on the same file.
    again = json.loads(cluster.cli("admin", "job", "retry", failing, "--json", key=ADMIN).stdout)
    assert again["max_attempts"] == first["attempt"] + first["max_attempts"]
    final = wait_state(cluster, b, failing, {"JOB_STATE_FAILED"})
    assert final["attempt"] == first["attempt"] + 1 and len(final["attempts"]) == final["attempt"]
    # Only final failures and cancellations are retried; a tenant's key is not the admin token.
    refused = cluster.cli("admin", "job", "retry", waiting, key=ADMIN, check=False)
    assert refused.returncode != 0 and "only a failed or cancelled job is retried" in refused.stderr
    as_tenant = cluster.cli("admin", "jobs", "--api-key", a, check=False)
    assert as_tenant.returncode != 0 and "admin token" in as_tenant.stderr


def test_operator_sets_a_tenants_limits_and_reads_its_usage(cluster, tmp_path):
    """`fidelis admin tenant limits` changes what the tenant may do from the next call on;
    `admin tenant usage` counts its storage, datasets, jobs and worker seconds."""
    cluster.start_server()
    cluster.start_worker("w1")
    key = new_tenant(cluster, "Metered")
    other = new_tenant(cluster, "Other")
    ids = {line.split("\t")[1]: line.split("\t")[0] for line in cluster.cli("admin", "tenant", "list", key=ADMIN).stdout.splitlines()}
    path = generate(str(tmp_path / "d.csv"), customers=300)
    size = os.path.getsize(path)
    dataset = cluster.cli("dataset", "upload", path, key=key).stdout.strip()
    job = cluster.cli("job", "submit", dataset, "--wait", key=key).stdout.strip()
    usage = json.loads(cluster.cli("admin", "tenant", "usage", ids["Metered"], "--json", key=ADMIN).stdout)["usage"]
    assert len(usage) == 1
    u = usage[0]
    assert u["tenant_id"] == ids["Metered"] and u["datasets"] == 1 and u["jobs"] == {"succeeded": "1"}
    assert int(u["storage_bytes"]) > size  # the dataset and the job's reports
    assert u["worker_seconds"] > 0
    # The worker reported the attempt's CPU time; an analysis of 300 customers takes some.
    assert 0 < u["cpu_seconds"] < 60
    everyone = cluster.cli("admin", "tenant", "usage", key=ADMIN).stdout.splitlines()
    assert {line.split("\t")[0] for line in everyone} == {ids["Metered"], ids["Other"]}
    # A storage quota below what it holds: the next upload is refused, nothing stored.
    limited = cluster.cli("admin", "tenant", "limits", ids["Metered"], "--max-storage-mb", "1", "--max-running", "2", key=ADMIN).stdout
    assert "running 2" in limited and "storage 1 MiB" in limited
    big = generate(str(tmp_path / "big.csv"), customers=8000)
    assert os.path.getsize(big) > 1 << 20
    refused = cluster.cli("dataset", "upload", big, key=key, check=False)
    assert refused.returncode != 0 and "quota" in refused.stderr
    assert json.loads(cluster.cli("admin", "tenant", "usage", ids["Metered"], "--json", key=ADMIN).stdout)["usage"][0]["datasets"] == 1
    # The options not given stay; 0 gives the coordinator's default back.
    again = cluster.cli("admin", "tenant", "limits", ids["Metered"], "--max-storage-mb", "0", key=ADMIN).stdout
    assert "running 2" in again and "storage 0 MiB" in again
    assert cluster.cli("dataset", "upload", big, key=key).returncode == 0
    assert cluster.cli("admin", "tenant", "usage", "ten_missing", key=ADMIN, check=False).returncode != 0
    assert cluster.cli("admin", "tenant", "usage", "--api-key", other, check=False).returncode != 0


def test_operator_sees_the_workers_their_slots_and_running_jobs(cluster, tmp_path):
    """`fidelis admin workers`: each worker by name with its host and slots once it has asked
    for work, and its running jobs while it runs them."""
    cluster.start_server()
    cluster.start_worker("alpha", "--concurrency", "2")
    cluster.start_worker("beta")
    def workers():
        return {w["name"]: w for w in json.loads(cluster.cli("admin", "workers", "--json", key=ADMIN).stdout).get("workers", [])}
    deadline = time.time() + 20
    while set(workers()) != {"alpha", "beta"} and time.time() < deadline:
        time.sleep(0.2)
    seen = workers()
    assert set(seen) == {"alpha", "beta"}
    assert seen["alpha"]["slots"] == 2 and seen["beta"]["slots"] == 1
    assert all(w["connected"] and w["host"] for w in seen.values())
    assert all(w.get("running_jobs", 0) == 0 for w in seen.values())
    key = new_tenant(cluster, "Busy")
    dataset = cluster.cli("dataset", "upload", generate(str(tmp_path / "d.csv"), customers=20000), key=key).stdout.strip()
    job = cluster.cli("job", "submit", dataset, key=key).stdout.strip()
    running = None
    deadline = time.time() + 60
    while running is None and time.time() < deadline:
        busy = [w for w in workers().values() if w.get("running_jobs", 0) == 1]
        if busy:
            running = busy[0]
        elif status(cluster, key, job).get("state") == "JOB_STATE_SUCCEEDED":
            break
        time.sleep(0.05)
    assert running is not None, "the job ran without a worker showing it"
    wait_state(cluster, key, job, {"JOB_STATE_SUCCEEDED"})
    assert sum(w.get("running_jobs", 0) for w in workers().values()) == 0
    lines = cluster.cli("admin", "workers", key=ADMIN).stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["alpha", "beta"] and all(line.endswith("connected") for line in lines)
