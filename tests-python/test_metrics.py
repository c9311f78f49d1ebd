"""Operations: the coordinator's and a worker's /metrics scraped by a real Prometheus server,
checked by promtool, and the deploy/ rules, configuration and dashboard checked too."""
import json, os, re, shutil, subprocess, time, urllib.parse, urllib.request
import pytest
from conftest import ADMIN, ROOT, free_port, generate

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(not (PROMETHEUS and PROMTOOL), reason="Debian's prometheus package (scripts/test installs it)")


def fetch(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def query(port, promql):
    _, _, body = fetch(f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    result = json.loads(body)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_coordinator_and_a_worker_and_counts_the_jobs(cluster, tmp_path):
    coordinator_port, worker_port, prometheus_port = free_port(), free_port(), free_port()
    cluster.start_server("--metrics-listen", f"127.0.0.1:{coordinator_port}")
    cluster.start_worker("w1", "--metrics-listen", f"127.0.0.1:{worker_port}")
    key = cluster.cli("admin", "tenant", "create", "watched", key=ADMIN).stdout.strip()
    dataset = cluster.cli("dataset", "upload", generate(str(tmp_path / "d.csv"), customers=150), "--name", "shop", key=key).stdout.strip()
    jobs = 3
    for _ in range(jobs):
        cluster.cli("job", "submit", "shop", "--kind", "profile", "--wait", key=key)
    bad = cluster.cli("job", "status", "job_doesnotexist", key=key, check=False)
    assert bad.returncode != 0

    status, content_type, text = fetch(f"http://127.0.0.1:{coordinator_port}/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert re.search(r'^fidelis_jobs_finished_total\{kind="profile",outcome="succeeded"\} 3$', text, re.M), text
    assert re.search(r'^grpc_server_handled_total\{.*grpc_method="GetJob".*grpc_code="NotFound"\} 1$', text, re.M)
    assert "# HELP fidelis_jobs_queued " in text and "fidelis_workers_connected 1" in text
    with pytest.raises(urllib.error.HTTPError) as missing:
        fetch(f"http://127.0.0.1:{coordinator_port}/other")
    assert missing.value.code == 404
    # promtool reads both pages as valid exposition text, help texts included.
    for port in (coordinator_port, worker_port):
        page = fetch(f"http://127.0.0.1:{port}/metrics")[2]
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=page, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr

    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: fidelis-coordinator
    static_configs: [{{targets: ["127.0.0.1:{coordinator_port}"]}}]
  - job_name: fidelis-workers
    static_configs: [{{targets: ["127.0.0.1:{worker_port}"]}}]
""")
    log = open(tmp_path / "prometheus.log", "w")
    server = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prometheus_port}"],
        stdout=log, stderr=log)
    try:
        deadline = time.time() + 60
        finished = workers = None
        while time.time() < deadline:
            try:
                finished = query(prometheus_port, 'sum(fidelis_jobs_finished_total{outcome="succeeded"})')
                workers = query(prometheus_port, 'sum(fidelis_worker_jobs_total{outcome="succeeded"})')
                if finished is not None and workers is not None:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert finished == jobs and workers == jobs, (finished, workers, open(tmp_path / "prometheus.log").read()[-2000:])
        assert query(prometheus_port, 'sum(fidelis_jobs_submitted_total)') == jobs
        assert query(prometheus_port, 'sum(up)') == 2
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_the_deploy_rules_configuration_and_dashboard_are_valid_and_name_real_metrics(tmp_path):
    rules = subprocess.run([PROMTOOL, "check", "rules", os.path.join(ROOT, "deploy", "fidelis-alerts.yml")], capture_output=True, text=True)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = subprocess.run([PROMTOOL, "check", "config", os.path.join(ROOT, "deploy", "prometheus.yml")], capture_output=True, text=True)
    assert config.returncode == 0, config.stdout + config.stderr
    documented = open(os.path.join(ROOT, "docs", "metrics.md")).read()
    dashboard = json.load(open(os.path.join(ROOT, "deploy", "grafana-dashboard.json")))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += re.findall(r"expr: >?\s*\n?\s*(.+)", open(os.path.join(ROOT, "deploy", "fidelis-alerts.yml")).read())
    for expr in exprs:
        for name in re.findall(r"\b((?:fidelis|grpc_server)_[a-z_]+?)(?:_bucket)?\b", expr):
            assert name in documented, f"{name} (in {expr}) is not in docs/metrics.md"


def test_json_logs_give_every_line_as_an_object_with_the_jobs_trace_id_across_processes(cluster, tmp_path):
    cluster.start_server("--log-format", "json")
    cluster.start_worker("w1", "--log-format", "json", "--log-level", "debug")
    key = cluster.cli("admin", "tenant", "create", "logged", key=ADMIN).stdout.strip()
    cluster.cli("dataset", "upload", generate(str(tmp_path / "d.csv"), customers=100), "--name", "shop", key=key)
    job = cluster.cli("job", "submit", "shop", "--kind", "profile", "--wait", key=key).stdout.strip().splitlines()[0]
    cluster.stop()
    records = {}
    for name in ("server", "w1"):
        lines = [l for l in cluster.log(name).splitlines() if l.strip()]
        assert lines
        records[name] = [json.loads(l) for l in lines]  # every line is one JSON object
        for r in records[name]:
            assert {"time", "level", "logger", "message"} <= set(r), r
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r["time"]), r["time"]
    ours = [r for name in records for r in records[name] if r.get("job") == job]
    assert any(r["logger"] == "fidelis.server" for r in ours) and any(r["logger"] == "fidelis.worker" for r in ours), ours
    # One trace id for the job in both processes, W3C-shaped; the coordinator's lines name the tenant.
    assert len({r["trace_id"] for r in ours}) == 1 and re.match(r"^[0-9a-f]{32}$", ours[0]["trace_id"])
    assert all(r.get("tenant") for r in ours if r["logger"] == "fidelis.server" and r["message"] in ("job submitted", "job leased", "job succeeded"))
    assert all(r.get("worker") == "w1" for r in records["w1"])


def test_a_jobs_trace_spans_the_coordinator_and_the_worker_and_reaches_an_otlp_receiver(cluster, tmp_path):
    """A local OTLP/gRPC receiver (opentelemetry-proto's TraceService) takes the spans."""
    from concurrent import futures
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    spans = []

    class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            for resource in request.resource_spans:
                service = next((a.value.string_value for a in resource.resource.attributes if a.key == "service.name"), "")
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        spans.append((service, span))
            return trace_service_pb2.ExportTraceServiceResponse()

    receiver = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Receiver(), receiver)
    port = receiver.add_insecure_port("127.0.0.1:0")
    receiver.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        cluster.start_server("--otlp-endpoint", endpoint, "--log-format", "json")
        cluster.start_worker("w1", "--otlp-endpoint", endpoint)
        key = cluster.cli("admin", "tenant", "create", "traced", key=ADMIN).stdout.strip()
        cluster.cli("dataset", "upload", generate(str(tmp_path / "d.csv"), customers=200), "--name", "shop", key=key)
        job = cluster.cli("job", "submit", "shop", "--wait", key=key).stdout.strip().splitlines()[0]
        expected = {"submit", "lease", "serve dataset", "complete", "run analysis", "reading", "customers", "rfm", "clusters", "kpis", "report"}
        deadline = time.time() + 30
        while time.time() < deadline and not expected <= {s.name for _, s in spans}:
            time.sleep(0.3)
        names = {s.name for _, s in spans}
        assert expected <= names, sorted(names)
        trace_ids = {s.trace_id.hex() for _, s in spans}
        # One trace, the id the job's log lines carry.
        assert len(trace_ids) == 1, trace_ids
        logged = [json.loads(l) for l in cluster.log("server").splitlines() if l.startswith("{")]
        assert {r["trace_id"] for r in logged if r.get("job") == job} == trace_ids
        by_name = {s.name: (service, s) for service, s in spans}
        assert by_name["submit"][0] == "fidelis-coordinator" and by_name["run analysis"][0] == "fidelis-worker"
        # Stages are children of the worker's run; the coordinator's completion is a child of
        # the worker's run too: its context came in the call's gRPC metadata.
        run = by_name["run analysis"][1]
        assert by_name["rfm"][1].parent_span_id == run.span_id
        assert by_name["complete"][1].parent_span_id == run.span_id
        assert by_name["serve dataset"][1].parent_span_id == run.span_id
        assert run.start_time_unix_nano <= by_name["reading"][1].start_time_unix_nano <= by_name["kpis"][1].start_time_unix_nano <= run.end_time_unix_nano
    finally:
        receiver.stop(None)
