"""A hostile tenant, poison inputs and faults, against real processes: each finding of the
hardening review, with the answer a user now gets and the proof that the service stayed up."""
import json, os, signal, socket, stat, subprocess, sys, threading, time
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from conftest import ADMIN, BIN, Cluster, free_port, generate
from test_grpc_client import stubs
from test_processes import new_tenant, status, wait_state


def alive(cluster):
    """The coordinator answers (and did not die)."""
    assert cluster.server.poll() is None, "the coordinator died"
    cluster.cli("admin", "tenant", "list", key=ADMIN)


def upload(cluster, key, path, *extra):
    return cluster.cli("dataset", "upload", path, *extra, key=key).stdout.strip()


def write(path, text):
    with open(path, "w", newline="") as f:
        f.write(text)
    return str(path)


SMALL = "customer_id,order_id,order_date,amount\n" + "".join(
    f"C{c},O{c}-{i},2024-{1 + (c + i) % 12:02d}-{1 + (3 * c + i) % 28:02d},{10 + (c * 7 + i * 3) % 90}.50\n" for c in range(60) for i in range(1 + c % 4))


# 1. Options that trapped the coordinator or the command.

def test_options_whose_bounds_cross_are_refused_and_the_coordinator_stays_up(cluster, tmp_path):
    cluster.start_server()
    key = new_tenant(cluster, "acme")
    ds = upload(cluster, key, write(tmp_path / "s.csv", SMALL))
    for flags in (["--at-risk-days", "3650"], ["--at-risk-days", "100", "--lost-days", "50"], ["--k", "40"], ["--as-of", "1850-01-01"],
                  ["--as-of", "2024-02-30"], ["--lang", "xx"], ["--currency", "E" * 5000]):
        r = cluster.cli("job", "submit", ds, *flags, key=key, check=False)
        assert r.returncode != 0 and "invalid" in r.stderr.lower(), (flags, r.stderr)
        assert len(r.stderr) < 600, r.stderr
        alive(cluster)
    r = subprocess.run([f"{BIN}/fidelis", "analyze", str(tmp_path / "s.csv"), "--at-risk-days", "3650"], capture_output=True, text=True)
    assert r.returncode == 1 and "at_risk_days" in r.stderr, (r.returncode, r.stderr)


# 2. Poison jobs: refused once with the reason, or read with the bad rows counted.

def test_poison_inputs_fail_once_with_the_reason_or_are_counted_rows(cluster, tmp_path):
    cluster.start_server()
    worker = cluster.start_worker("w1")
    key = new_tenant(cluster, "acme")
    ds = upload(cluster, key, write(tmp_path / "s.csv", SMALL))
    # A reference date before the last purchase: failed once, not retried, both dates said.
    job = cluster.cli("job", "submit", ds, "--as-of", "2024-03-01", key=key).stdout.strip()
    final = wait_state(cluster, key, job, ["JOB_STATE_FAILED", "JOB_STATE_SUCCEEDED"])
    assert final["state"] == "JOB_STATE_FAILED" and "2024-03-01" in final["error"] and "before the last purchase" in final["error"], final
    assert len(final["attempts"]) == 1, final["attempts"]
    # Infinite, forty-digit and far-future values are rows rejected by reason.
    poisoned = SMALL + "X1,P1,2024-05-05,1e309\nX2,P2,2024-05-05,1234567890123456789012345678901234567890\nX3,P3,9999-12-31,12\nX4,P4,1066-10-14,5\n"
    ds2 = upload(cluster, key, write(tmp_path / "p.csv", poisoned))
    job = cluster.cli("job", "submit", ds2, key=key).stdout.strip()
    final = wait_state(cluster, key, job, ["JOB_STATE_FAILED", "JOB_STATE_SUCCEEDED"])
    assert final["state"] == "JOB_STATE_SUCCEEDED", final
    report = json.loads(cluster.cli("report", "get", job, "--format", "json", key=key).stdout)
    assert report["data_quality"]["rejected"] == {"amount out of range": 2, "date out of range": 2}, report["data_quality"]
    # A file of one purchase dated 9999-12-31: refused for having no usable row, at once.
    ds3 = upload(cluster, key, write(tmp_path / "f.csv", "customer_id,order_date,amount\nA,9999-12-31,10\n"))
    job = cluster.cli("job", "submit", ds3, key=key).stdout.strip()
    final = wait_state(cluster, key, job, ["JOB_STATE_FAILED", "JOB_STATE_SUCCEEDED"], timeout=60)
    assert final["state"] == "JOB_STATE_FAILED" and "date out of range 1" in final["error"], final
    assert len(final["attempts"]) == 1
    assert worker.poll() is None, "the worker died"


def test_a_job_over_its_memory_budget_fails_once_with_the_budget(cluster, tmp_path):
    cluster.start_server()
    cluster.start_worker("w1", "--job-memory-mb", "1")
    key = new_tenant(cluster, "acme")
    ds = upload(cluster, key, generate(str(tmp_path / "d.csv"), customers=20000))
    job = cluster.cli("job", "submit", ds, key=key).stdout.strip()
    final = wait_state(cluster, key, job, ["JOB_STATE_FAILED", "JOB_STATE_SUCCEEDED"], timeout=120)
    assert final["state"] == "JOB_STATE_FAILED" and "memory" in final["error"] and "budget of 1 MiB" in final["error"], final
    assert len(final["attempts"]) == 1


def test_a_job_that_ends_two_workers_is_failed_with_the_reason(cluster, tmp_path):
    cluster.start_server()
    key = new_tenant(cluster, "acme")
    ds = upload(cluster, key, generate(str(tmp_path / "d.csv"), customers=30000))
    job = cluster.cli("job", "submit", ds, key=key).stdout.strip()
    for name in ("w1", "w2"):
        w = cluster.start_worker(name)
        deadline = time.time() + 60
        while time.time() < deadline:
            s = status(cluster, key, job)
            if s.get("state") == "JOB_STATE_RUNNING" and s["attempts"][-1]["worker"] == name:
                break
            time.sleep(0.1)
        # What a crash or the kernel's out-of-memory killer does.
        w.send_signal(signal.SIGKILL)
        w.wait()
    final = wait_state(cluster, key, job, ["JOB_STATE_FAILED", "JOB_STATE_SUCCEEDED"], timeout=60)
    assert final["state"] == "JOB_STATE_FAILED", final
    assert "lost its worker 2 times" in final["error"] and "w1" in final["error"] and "w2" in final["error"], final["error"]
    assert [a["worker"] for a in final["attempts"]] == ["w1", "w2"]
    alive(cluster)


# 3. Segment export: bounded cost, streamed, capped per tenant.

def test_segment_exports_are_bounded_and_do_not_stall_other_tenants(cluster, tmp_path):
    cluster.start_server("--max-downloads", "4")
    cluster.start_worker("w1")
    key = new_tenant(cluster, "big")
    other = new_tenant(cluster, "other")
    ds = upload(cluster, key, generate(str(tmp_path / "d.csv"), customers=20000))
    job = cluster.cli("job", "submit", ds, "--wait", key=key).stdout.strip().splitlines()[0]
    wait_state(cluster, key, job, ["JOB_STATE_SUCCEEDED"])
    pb, rpc = stubs(tmp_path)
    channel = grpc.insecure_channel(f"127.0.0.1:{cluster.port}")
    reports = rpc.ReportServiceStub(channel)
    auth = [("authorization", f"Bearer {key}")]
    # A 100 KB name is refused at once, without being echoed.
    started = time.time()
    with pytest.raises(grpc.RpcError) as error:
        list(reports.ExportSegment(pb.ExportSegmentRequest(job_id=job, segment="x" * 100_000), metadata=auth, timeout=10))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and len(error.value.details()) < 200
    assert time.time() - started < 2
    # Twenty exports at once: four run, the others are told to wait; the other tenant's calls stay fast.
    outcomes = []

    def export():
        try:
            data = b"".join(c.data for c in reports.ExportSegment(pb.ExportSegmentRequest(job_id=job, segment="lost"), metadata=auth, timeout=60))
            outcomes.append(("ok", data))
        except grpc.RpcError as e:
            outcomes.append((e.code(), b""))

    threads = [threading.Thread(target=export) for _ in range(20)]
    for t in threads:
        t.start()
    latencies = []
    for _ in range(10):
        t0 = time.time()
        cluster.cli("job", "list", key=other)
        latencies.append(time.time() - t0)
    for t in threads:
        t.join()
    assert any(code == "ok" for code, _ in outcomes)
    assert all(code in ("ok", grpc.StatusCode.RESOURCE_EXHAUSTED) for code, _ in outcomes), outcomes
    data = next(d for code, d in outcomes if code == "ok")
    lines = data.decode().splitlines()
    assert lines[0].startswith("customer_id,segment,lifecycle_group") and all(",lost," in l for l in lines[1:])
    assert sorted(latencies)[len(latencies) // 2] < 2.0, latencies


def test_watches_are_capped_per_tenant(cluster, tmp_path):
    cluster.start_server("--max-watches", "5")
    key = new_tenant(cluster, "watcher")
    ds = upload(cluster, key, write(tmp_path / "s.csv", SMALL))
    job = cluster.cli("job", "submit", ds, key=key).stdout.strip()  # no worker: it stays queued
    pb, rpc = stubs(tmp_path)
    channel = grpc.insecure_channel(f"127.0.0.1:{cluster.port}")
    jobs = rpc.JobServiceStub(channel)
    auth = [("authorization", f"Bearer {key}")]
    streams = [jobs.WatchJob(pb.WatchJobRequest(job_id=job), metadata=auth, timeout=30) for _ in range(8)]
    codes = []
    for s in streams:
        try:
            next(s)
            codes.append("open")
        except grpc.RpcError as e:
            codes.append(e.code())
    assert codes.count("open") == 5 and codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 3, codes
    for s in streams:
        s.cancel()
    time.sleep(0.5)
    # Ended watches give their slots back.
    s = jobs.WatchJob(pb.WatchJobRequest(job_id=job), metadata=auth, timeout=30)
    assert next(s).id == job
    s.cancel()


# 4. A full disk: a plain answer, health says so, deletes work, nothing is failed for it.

def mount_tmpfs(path, size_mb):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", path], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small file system here (root needed): {r.stderr.strip()}")


def test_full_disk_is_said_deletes_work_and_the_running_job_completes(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    disk = str(tmp_path / "disk")
    mount_tmpfs(disk, 48)
    c = Cluster(str(tmp_path))
    c.data = os.path.join(disk, "data")
    try:
        c.start_server("--disk-reserve-mb", "4")
        key = new_tenant(c, "acme")
        ds_small = upload(c, key, write(tmp_path / "s.csv", SMALL))
        big = generate(str(tmp_path / "big.csv"), customers=30000)
        ds_big = upload(c, key, big)
        channel = grpc.insecure_channel(f"127.0.0.1:{c.port}")
        health = health_pb2_grpc.HealthStub(channel)

        def serving(service=""):
            return health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == health_pb2.HealthCheckResponse.SERVING

        assert serving()
        # A long job runs while another process fills the disk.
        c.start_worker("w1")
        job = c.cli("job", "submit", ds_big, key=key).stdout.strip()
        wait_state(c, key, job, ["JOB_STATE_RUNNING"])
        filler = os.path.join(disk, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError:
                pass
        # Writes are refused in plain words; health says NOT_SERVING for writes, reads go on.
        deadline = time.time() + 20
        while serving() and time.time() < deadline:
            time.sleep(0.2)
        assert not serving() and not serving("fidelis.v1.JobService") and serving("fidelis.v1.ReportService")
        r = c.cli("job", "submit", ds_small, key=key, check=False)
        assert r.returncode != 0 and "disk is full" in r.stderr and "SQLITE" not in r.stderr.upper(), r.stderr
        r = c.cli("dataset", "upload", str(tmp_path / "s.csv"), key=key, check=False)
        assert r.returncode != 0 and "disk is full" in r.stderr, r.stderr
        # Let the job finish its work while the disk is full. Its report is stored when it fits
        # in space the store already holds (free pages, a WAL file grown earlier), else the
        # worker keeps it and retries: either way the job never fails or runs twice.
        time.sleep(8)
        during = status(c, key, job)["state"]
        assert during in ("JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"), during
        print(f"job state while the disk was full: {during}")
        # Deleting a dataset still works on the full disk.
        c.cli("dataset", "delete", ds_small, key=key)
        # The other process frees its space: the service comes back by itself.
        os.remove(filler)
        deadline = time.time() + 20
        while not serving() and time.time() < deadline:
            time.sleep(0.2)
        assert serving()
        final = wait_state(c, key, job, ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"], timeout=120)
        assert final["state"] == "JOB_STATE_SUCCEEDED", final
        assert [a["outcome"] for a in final["attempts"]] == ["succeeded"], final["attempts"]
        upload(c, key, write(tmp_path / "s2.csv", SMALL))
    finally:
        c.stop()
        subprocess.run(["umount", "-l", disk])


def test_storage_quota_protects_the_other_tenants(cluster, tmp_path):
    cluster.start_server()
    key = cluster.cli("admin", "tenant", "create", "small", "--max-storage-bytes", "20000", key=ADMIN).stdout.strip()
    upload(cluster, key, write(tmp_path / "s.csv", SMALL))
    big = write(tmp_path / "b.csv", SMALL * 8)
    r = cluster.cli("dataset", "upload", big, key=key, check=False)
    assert r.returncode != 0 and "resourceExhausted" in r.stderr and "quota of 19.5 KiB" in r.stderr, r.stderr
    assert len(json.loads(cluster.cli("dataset", "list", "--json", key=key).stdout).get("datasets", [])) == 1


def test_a_file_past_the_limit_is_refused_before_its_first_chunk_and_a_changed_file_at_its_end(cluster, tmp_path):
    """A client that says its file's size (as `fidelis dataset upload` does) is refused at the
    header when the size is past the tenant's dataset limit or quota: a 2 GB file no longer
    sends its first gigabyte to hear it. Chunks that add up to another size than the header
    said are refused at the end. Nothing is stored."""
    cluster.start_server()
    key = cluster.cli("admin", "tenant", "create", "sized", "--max-dataset-bytes", "5000", key=ADMIN).stdout.strip()
    pb, rpc = stubs(tmp_path)
    datasets = rpc.DatasetServiceStub(grpc.insecure_channel(f"127.0.0.1:{cluster.port}"))
    tenant = [("authorization", f"Bearer {key}")]
    answered = threading.Event()

    def header_then_wait(size):
        yield pb.UploadDatasetRequest(header=pb.UploadDatasetHeader(name="big", size_bytes=size))
        # No chunk is sent until the answer has come (or 20 s have passed).
        answered.wait(20)

    started = time.monotonic()
    try:
        datasets.UploadDataset(header_then_wait(2_000_000_000), metadata=tenant, timeout=30)
        raise AssertionError("expected RESOURCE_EXHAUSTED")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "limit of 5000 bytes" in e.details(), e.details()
    finally:
        answered.set()
    assert time.monotonic() - started < 10, "refused at the header, before any chunk"

    def sized(size, chunk):
        yield pb.UploadDatasetRequest(header=pb.UploadDatasetHeader(name="changed", size_bytes=size))
        yield pb.UploadDatasetRequest(chunk=chunk)

    body = SMALL.encode()[:3000]
    try:
        datasets.UploadDataset(sized(len(body) - 10, body), metadata=tenant, timeout=30)
        raise AssertionError("expected INVALID_ARGUMENT")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and f"carried {len(body)} bytes where its header said {len(body) - 10}" in e.details(), e.details()
    assert len(json.loads(cluster.cli("dataset", "list", "--json", key=key).stdout).get("datasets", [])) == 0
    assert datasets.UploadDataset(sized(len(body), body), metadata=tenant, timeout=30).size_bytes == len(body)

    # The command says the size: a file past the limit is refused as it starts.
    r = cluster.cli("dataset", "upload", write(tmp_path / "b.csv", SMALL * 10), key=key, check=False)
    assert r.returncode != 0 and "limit of 5000 bytes" in r.stderr, r.stderr
    assert cluster.log().count("dataset uploaded") == 1


# 5 and 6. One coordinator per data directory; empty or damaged stores refused.

def start_raw(cluster, data, port=None):
    return subprocess.run([f"{BIN}/fidelis-server", "--listen", f"127.0.0.1:{port or free_port()}", "--data-dir", data],
                          env=cluster.env, capture_output=True, text=True, timeout=30)


def test_a_second_coordinator_on_the_same_directory_is_refused(cluster, tmp_path):
    cluster.start_server()
    key = new_tenant(cluster, "acme")
    r = start_raw(cluster, cluster.data)
    assert r.returncode != 0 and "another coordinator" in r.stderr and str(cluster.server.pid) in r.stderr, r.stderr
    alive(cluster)
    # Nothing of the first one's was touched.
    upload(cluster, key, write(tmp_path / "s.csv", SMALL))


@pytest.mark.parametrize("content,reason", [(b"", "is empty"), (b"\x00garbage" * 8192, "not a SQLite database")])
def test_an_empty_or_garbage_store_is_refused_at_start(cluster, tmp_path, content, reason):
    data = str(tmp_path / "d")
    os.makedirs(data)
    with open(os.path.join(data, "fidelis.sqlite"), "wb") as f:
        f.write(content)
    r = start_raw(cluster, data)
    assert r.returncode != 0 and reason in r.stderr, r.stderr
    assert os.path.getsize(os.path.join(data, "fidelis.sqlite")) == len(content)


def test_a_damaged_page_is_found_at_start(cluster, tmp_path):
    cluster.start_server()
    key = new_tenant(cluster, "acme")
    upload(cluster, key, generate(str(tmp_path / "d.csv"), customers=3000))
    cluster.server.send_signal(signal.SIGTERM)
    cluster.server.wait(timeout=30)
    path = os.path.join(cluster.data, "fidelis.sqlite")
    with open(path, "r+b") as f:
        f.seek(64 * 1024)
        f.write(os.urandom(64 * 1024))
    r = start_raw(cluster, cluster.data)
    assert r.returncode != 0 and ("damaged" in r.stderr or "cannot be read" in r.stderr), r.stderr


# 7. Connections that never speak.

def test_connections_that_send_nothing_are_closed(cluster):
    cluster.start_server("--handshake-timeout-seconds", "1")
    silent = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", cluster.port))
        s.settimeout(10)
        silent.append(s)
    time.sleep(2.5)
    closed = 0
    for s in silent:
        # The server speaks first (its SETTINGS frame); a closed connection then ends.
        try:
            while s.recv(4096):
                pass
            closed += 1
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            pass
        s.close()
    assert closed == 200, closed
    alive(cluster)


# 9. Injection through exports and Markdown.

def test_exports_neutralise_formulas_and_markdown_escapes_data(cluster, tmp_path):
    cluster.start_server()
    cluster.start_worker("w1")
    key = new_tenant(cluster, "acme")
    evil = ["=cmd|' /C calc'!A0", "+SUM(1+1)", "@SUM(1)", "-2+3", "<script>alert(1)</script>"]
    rows = "".join(f"\"{e.replace(chr(34), chr(34) * 2)}\",O{i}-{j},2024-0{1 + j}-1{i},{100 + i * 50}\n" for i, e in enumerate(evil) for j in range(3))
    ds = upload(cluster, key, write(tmp_path / "e.csv", "customer_id,order_id,order_date,amount\n" + rows + SMALL))
    job = cluster.cli("job", "submit", ds, key=key).stdout.strip()
    wait_state(cluster, key, job, ["JOB_STATE_SUCCEEDED"])
    csv = cluster.cli("report", "get", job, "--format", "csv", key=key).stdout
    for e in evil[:4]:
        assert f"'{e}" in csv, e
    for line in csv.splitlines()[1:]:
        assert line.lstrip('"')[:1] not in ("=", "+", "-", "@"), line


# 10. Private files.

def test_data_directory_and_files_are_private(cluster, tmp_path):
    os.makedirs(cluster.data, mode=0o755)
    cluster.start_server()
    new_tenant(cluster, "acme")
    assert stat.S_IMODE(os.stat(cluster.data).st_mode) == 0o700
    for name in os.listdir(cluster.data):
        mode = stat.S_IMODE(os.stat(os.path.join(cluster.data, name)).st_mode)
        assert mode & 0o077 == 0, (name, oct(mode))


# Low: each with its answer.

def test_low_findings(cluster, tmp_path):
    cluster.start_server()
    pb, rpc = stubs(tmp_path)
    channel = grpc.insecure_channel(f"127.0.0.1:{cluster.port}", options=[("grpc.max_send_message_length", 8 << 20)])
    admin = rpc.AdminServiceStub(channel)
    admin_auth = [("authorization", f"Bearer {ADMIN}")]
    key = admin.CreateTenant(pb.CreateTenantRequest(name="Acme"), metadata=admin_auth).api_key
    auth = [("authorization", f"Bearer {key}")]
    jobs = rpc.JobServiceStub(channel)
    # A 100 KB id: NOT_FOUND, without the id echoed whole.
    with pytest.raises(grpc.RpcError) as e:
        jobs.GetJob(pb.GetJobRequest(job_id="x" * 100_000), metadata=auth, timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and len(e.value.details()) < 200
    # Names: length, NUL, case.
    for name, code in (("a" * 201, grpc.StatusCode.INVALID_ARGUMENT), ("Ac\0me2", grpc.StatusCode.INVALID_ARGUMENT), ("ACME", grpc.StatusCode.FAILED_PRECONDITION)):
        with pytest.raises(grpc.RpcError) as e:
            admin.CreateTenant(pb.CreateTenantRequest(name=name), metadata=admin_auth, timeout=10)
        assert e.value.code() == code, (name, e.value.details())
    # A language Reports has no strings for.
    with pytest.raises(grpc.RpcError) as e:
        admin.CreateTenant(pb.CreateTenantRequest(name="Other", default_language="xx"), metadata=admin_auth, timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "en or fr" in e.value.details()
    # A message over the limit: RESOURCE_EXHAUSTED with a message.
    with pytest.raises(grpc.RpcError) as e:
        jobs.SubmitJob(pb.SubmitJobRequest(dataset_id="ds_x", idempotency_key="k" * (5 << 20)), metadata=auth, timeout=10)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (e.value.code(), e.value.details())
    # CR-only line endings are read.
    cluster.start_worker("w1")
    cr = SMALL.replace("\n", "\r")
    ds = upload(cluster, key, write(tmp_path / "cr.csv", cr))
    job = cluster.cli("job", "submit", ds, key=key).stdout.strip()
    final = wait_state(cluster, key, job, ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"])
    assert final["state"] == "JOB_STATE_SUCCEEDED", final
    assert json.loads(cluster.cli("report", "get", job, "--format", "json", key=key).stdout)["customers"] == 60
    # A header of 200,000 columns: the job fails once, and its reason is short enough to report.
    wide = write(tmp_path / "wide.csv", ",".join(f"c{i}" for i in range(200_000)) + "\n" + "1," * 199_999 + "1\n")
    job = cluster.cli("job", "submit", upload(cluster, key, wide), key=key).stdout.strip()
    final = wait_state(cluster, key, job, ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"])
    assert final["state"] == "JOB_STATE_FAILED" and "200000 columns" in final["error"] and len(final["attempts"]) == 1, final
    # Reports come a page at a time.
    for _ in range(4):
        cluster.cli("job", "submit", ds, "--kind", "profile", "--wait", key=key)
    reports = rpc.ReportServiceStub(channel)
    page = reports.ListReports(pb.ListReportsRequest(page_size=2), metadata=auth, timeout=10)
    assert len(page.reports) == 2 and page.next_page_token
    seen = [r.job_id for r in page.reports]
    while page.next_page_token:
        page = reports.ListReports(pb.ListReportsRequest(page_size=2, page_token=page.next_page_token), metadata=auth, timeout=10)
        seen += [r.job_id for r in page.reports]
    assert len(seen) == len(set(seen)) == 5
    assert len(cluster.cli("report", "list", key=key).stdout.splitlines()) == 5


def test_listen_on_a_name_and_a_port_in_use(cluster, tmp_path):
    port = free_port()
    env = dict(cluster.env, FIDELIS_SERVER=f"localhost:{port}")
    p = subprocess.Popen([f"{BIN}/fidelis-server", "--listen", f"localhost:{port}", "--data-dir", str(tmp_path / "a")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("listening on"), p.stderr.read()
        r = subprocess.run([f"{BIN}/fidelis-server", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "b")], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "already in use" in r.stderr, r.stderr
        r = subprocess.run([f"{BIN}/fidelis", "admin", "tenant", "list"], env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        # Connection options before the subcommand, as with gh, kubectl or docker.
        elsewhere = dict(env, FIDELIS_SERVER="127.0.0.1:1")
        r = subprocess.run([f"{BIN}/fidelis", "--server", f"localhost:{port}", "admin", "tenant", "list", "--json"], env=elsewhere,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


def test_a_succeeded_job_keeps_no_error_of_an_earlier_attempt(cluster, tmp_path):
    cluster.start_server()
    key = new_tenant(cluster, "acme")
    ds = upload(cluster, key, generate(str(tmp_path / "d.csv"), customers=30000))
    w1 = cluster.start_worker("w1")
    job = cluster.cli("job", "submit", ds, key=key).stdout.strip()
    wait_state(cluster, key, job, ["JOB_STATE_RUNNING"])
    w1.send_signal(signal.SIGKILL)
    w1.wait()
    cluster.start_worker("w2")
    final = wait_state(cluster, key, job, ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"], timeout=180)
    assert final["state"] == "JOB_STATE_SUCCEEDED", final
    assert final.get("error", "") == ""
    assert "expired" in final["attempts"][0]["error"]


def test_logs_that_cannot_be_written_stop_nothing(cluster, tmp_path):
    """A coordinator and a worker whose stderr is a full disk (or a closed log pipe) keep
    working: a log line that cannot be written is lost, not fatal. With JSON logs they
    stopped at their first line. `fidelis analyze` on a full stdout says so and exits 1."""
    full = open("/dev/full", "w")
    cluster.server = subprocess.Popen(
        [f"{BIN}/fidelis-server", "--listen", f"127.0.0.1:{cluster.port}", "--data-dir", cluster.data, "--log-format", "json", "--log-level", "debug"],
        env=cluster.env, stdout=subprocess.PIPE, stderr=full, text=True)
    assert cluster.server.stdout.readline().startswith("listening on")
    cluster.workers.append(subprocess.Popen(
        [f"{BIN}/fidelis-worker", "--name", "w1", "--log-format", "json", "--log-level", "debug"], env=cluster.env, stdout=full, stderr=full))
    key = new_tenant(cluster, "acme")
    job = cluster.cli("job", "submit", upload(cluster, key, write(tmp_path / "s.csv", SMALL)), key=key).stdout.strip()
    assert wait_state(cluster, key, job, ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"])["state"] == "JOB_STATE_SUCCEEDED"
    alive(cluster)
    assert cluster.workers[0].poll() is None, "the worker died"
    for fmt in ("csv", "md"):
        r = subprocess.run([f"{BIN}/fidelis", "analyze", str(tmp_path / "s.csv"), "--format", fmt], stdout=full, stderr=subprocess.PIPE, text=True)
        assert r.returncode == 1 and r.stderr.strip() == "Error: cannot write to stdout: No space left on device", r.stderr


def test_uploads_and_analyses_read_from_pipes(cluster, tmp_path):
    """An export piped in (`- `, /dev/stdin, a shell's `<(zcat export.csv.gz)`) uploads and
    analyses as the file does. A pipe has no size to announce: the header said what waited
    in the pipe, and the coordinator refused every such upload as a file that changed. It
    has no name either: one is asked for. The dataset limit still holds, counted as the
    chunks come."""
    cluster.start_server()
    key = cluster.cli("admin", "tenant", "create", "piped", "--max-dataset-bytes", "20000", key=ADMIN).stdout.strip()
    path = write(tmp_path / "s.csv", SMALL)
    env = dict(cluster.env, FIDELIS_API_KEY=key)

    def piped(*args, stdin_path=path):
        with open(stdin_path, "rb") as f:
            return subprocess.run([f"{BIN}/fidelis", *args], env=env, stdin=f, capture_output=True, text=True, timeout=60)

    r = piped("dataset", "upload", "-")
    assert r.returncode != 0 and r.stderr.strip() == "Error: - is not a file with a name: give the dataset one with --name", r.stderr
    for source in ("-", "/dev/stdin"):
        r = piped("dataset", "upload", source, "--name", "orders")
        assert r.returncode == 0, r.stderr
    # Through a real pipe (cat |), as a shell's process substitution gives it.
    r = subprocess.run(f"cat {path} | {BIN}/fidelis dataset upload /dev/stdin --name orders", shell=True, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    versions = json.loads(cluster.cli("dataset", "list", "--json", key=key).stdout)["datasets"]
    assert sorted(d["version"] for d in versions) == [1, 2, 3] and all(int(d["size_bytes"]) == len(SMALL) for d in versions), versions

    r = subprocess.run(f"cat {write(tmp_path / 'b.csv', SMALL * 10)} | {BIN}/fidelis dataset upload - --name big", shell=True, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "limit of 20000 bytes" in r.stderr, r.stderr
    assert len(json.loads(cluster.cli("dataset", "list", "--json", key=key).stdout)["datasets"]) == 3

    whole = subprocess.run([f"{BIN}/fidelis", "analyze", path, "--format", "json"], capture_output=True, timeout=60).stdout
    r = subprocess.run(f"cat {path} | {BIN}/fidelis analyze - --format json", shell=True, capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout == whole and len(whole) > 1000
    r = subprocess.run([f"{BIN}/fidelis", "analyze", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and r.stderr.strip() == f"Error: cannot read {tmp_path}: it is a folder", r.stderr


def test_gzip_exports_are_read_and_other_files_that_are_not_csv_refused_by_what_they_are(cluster, tmp_path):
    """A gzip export (made here by Python's gzip) uploads, appends and analyses as its CSV does:
    the command inflates it as it reads, and the dataset takes the CSV's name. A workbook and
    UTF-16 text without its mark (made by zipfile and codecs) are refused as the upload or the append starts,
    saying what the file is and how to make the CSV; nothing is stored. So is gzip sent as it
    is by another client, even a byte a message; a gzip file cut short is said as such."""
    import gzip, zipfile
    cluster.start_server()
    key = new_tenant(cluster, "acme")
    upload(cluster, key, write(tmp_path / "orders.csv", SMALL), "--name", "orders")
    with gzip.open(tmp_path / "orders.csv.gz", "wt") as f:
        f.write(SMALL)
    with zipfile.ZipFile(tmp_path / "orders.xlsx", "w") as z:
        z.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    # UTF-16 with its mark is read (tests-python/test_exports.py); without one, it is refused.
    (tmp_path / "orders-utf16.txt").write_bytes(SMALL.replace(",", "\t").encode("utf-16-le"))
    for name, says in [("orders.xlsx", "the file is a ZIP archive"), ("orders-utf16.txt", "the file is UTF-16 text without a byte-order mark")]:
        for command in (["dataset", "upload", str(tmp_path / name)], ["dataset", "append", "orders", str(tmp_path / name)]):
            r = cluster.cli(*command, key=key, check=False)
            assert r.returncode != 0 and says in r.stderr and "nothing was stored" in r.stderr, r.stderr
        r = subprocess.run([f"{BIN}/fidelis", "analyze", str(tmp_path / name)], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and says in r.stderr, r.stderr
    pb, rpc = stubs(tmp_path)
    datasets = rpc.DatasetServiceStub(grpc.insecure_channel(f"127.0.0.1:{cluster.port}"))

    def byte_by_byte(data):
        yield pb.UploadDatasetRequest(header=pb.UploadDatasetHeader(name="trickled"))
        for i in range(len(data)):
            yield pb.UploadDatasetRequest(chunk=data[i:i + 1])

    try:
        datasets.UploadDataset(byte_by_byte((tmp_path / "orders.csv.gz").read_bytes()[:200]), metadata=[("authorization", f"Bearer {key}")], timeout=30)
        raise AssertionError("expected INVALID_ARGUMENT")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "gzip-compressed" in e.details(), e.details()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes((tmp_path / "orders.csv.gz").read_bytes()[:-30])
    r = cluster.cli("dataset", "upload", str(cut), key=key, check=False)
    assert r.returncode != 0 and "the gzip file ends before its data does" in r.stderr and "nothing was stored" in r.stderr, r.stderr
    held = json.loads(cluster.cli("dataset", "list", "--json", key=key).stdout)["datasets"]
    assert [(d["name"], d["version"]) for d in held] == [("orders", 1)], held

    # The gzip export itself: uploaded under the CSV's name, appended, analysed.
    gz = str(tmp_path / "orders.csv.gz")
    version = upload(cluster, key, gz)
    held = {d["id"]: d for d in json.loads(cluster.cli("dataset", "list", "--json", key=key).stdout)["datasets"]}
    assert held[version]["name"] == "orders.csv" and int(held[version]["size_bytes"]) == len(SMALL), held[version]
    r = cluster.cli("dataset", "append", "orders", gz, key=key)
    assert f"0 lines added, {len(SMALL.splitlines()) - 1} skipped" in r.stderr, r.stderr
    plain = subprocess.run([f"{BIN}/fidelis", "analyze", str(tmp_path / "orders.csv"), "--format", "json"], capture_output=True, timeout=60).stdout
    assert subprocess.run([f"{BIN}/fidelis", "analyze", gz, "--format", "json"], capture_output=True, timeout=60).stdout == plain and len(plain) > 1000


def test_a_data_directory_that_cannot_be_made_is_said_plainly(cluster, tmp_path):
    """A data directory that is a file, or lies under one, stops the coordinator at start with
    the path and the reason, where it printed Foundation's error domain and code."""
    blocker = write(tmp_path / "blocker", "not a directory")
    env = {k: v for k, v in cluster.env.items() if k not in ("FIDELIS_ADMIN_TOKEN", "FIDELIS_WORKER_TOKEN")}
    for data, message in [(blocker, f"cannot use {blocker} as the data directory: it is a file"),
                          (f"{blocker}/data/store", f"cannot make the data directory {blocker}/data/store (at {blocker}/data): Not a directory")]:
        r = subprocess.run([f"{BIN}/fidelis-server", "--listen", "127.0.0.1:0", "--data-dir", data], env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and r.stderr.splitlines()[0] == f"Error: {message}", r.stderr
    # A TLS file that cannot be read is said with the reason, before anything listens.
    r = subprocess.run([f"{BIN}/fidelis-server", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "tls"), "--tls-cert", str(tmp_path / "none.pem"),
                        "--tls-key", str(tmp_path / "none.key")], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and f"cannot read {tmp_path / 'none.pem'}: No such file or directory" in r.stderr, r.stderr
    # A directory several levels down is made, private at each level.
    deep = tmp_path / "a" / "b" / "c"
    cluster.data = str(deep)
    cluster.start_server()
    alive(cluster)
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o700 for p in (tmp_path / "a", tmp_path / "a" / "b", deep))
