"""A Python client generated from proto/ alone uses the service: proof the API is usable outside Swift."""
import json, os, shutil, sqlite3, subprocess, sys, time
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from conftest import ADMIN, BIN, ROOT, WORKER, generate


def stubs(tmp):
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(ROOT, "proto"), f"--python_out={tmp}", f"--grpc_python_out={tmp}",
                    "fidelis/v1/fidelis.proto"], check=True)
    sys.path.insert(0, str(tmp))
    from fidelis.v1 import fidelis_pb2, fidelis_pb2_grpc
    return fidelis_pb2, fidelis_pb2_grpc


def test_python_client_uploads_submits_waits_and_fetches(cluster, tmp_path):
    cluster.start_server()
    cluster.start_worker("w1")
    pb, rpc = stubs(tmp_path)
    channel = grpc.insecure_channel(f"127.0.0.1:{cluster.port}")
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    admin = [("authorization", f"Bearer {ADMIN}")]
    key = rpc.AdminServiceStub(channel).CreateTenant(pb.CreateTenantRequest(name="py"), metadata=admin).api_key
    auth = [("authorization", f"Bearer {key}")]
    data = open(generate(str(tmp_path / "d.csv"), customers=300), "rb").read()

    def parts():
        yield pb.UploadDatasetRequest(header=pb.UploadDatasetHeader(name="d.csv"))
        for i in range(0, len(data), 1 << 16):
            yield pb.UploadDatasetRequest(chunk=data[i:i + (1 << 16)])

    dataset = rpc.DatasetServiceStub(channel).UploadDataset(parts(), metadata=auth)
    assert dataset.size_bytes == len(data)
    jobs = rpc.JobServiceStub(channel)
    job = jobs.SubmitJob(pb.SubmitJobRequest(dataset_id=dataset.id, kind="analysis", options=pb.JobOptions(language="en", clusters=3)), metadata=auth)
    states = [update.state for update in jobs.WatchJob(pb.WatchJobRequest(job_id=job.id), metadata=auth, timeout=120)]
    assert states[-1] == pb.JOB_STATE_SUCCEEDED
    report = b"".join(c.data for c in rpc.ReportServiceStub(channel).GetReport(pb.GetReportRequest(job_id=job.id, format="json"), metadata=auth))
    assert json.loads(report)["customers"] == 300
    # Errors map to precise status codes.
    try:
        jobs.GetJob(pb.GetJobRequest(job_id="job_missing"), metadata=auth)
        raise AssertionError("expected NOT_FOUND")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND
    try:
        jobs.SubmitJob(pb.SubmitJobRequest(dataset_id=dataset.id, options=pb.JobOptions(clusters=99)), metadata=auth)
        raise AssertionError("expected INVALID_ARGUMENT")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "clusters" in e.details()
    try:
        jobs.ListJobs(pb.ListJobsRequest())
        raise AssertionError("expected UNAUTHENTICATED")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNAUTHENTICATED


def test_python_client_waits_for_the_next_report_of_a_dataset(cluster, tmp_path):
    """WatchReports from a client generated from proto/: the stream stays open until the
    dataset's next analysis succeeds, then brings its summary; the command line's
    `report watch`, `report latest` and `report list --dataset` agree with it."""
    cluster.start_server()
    cluster.start_worker("w1")
    pb, rpc = stubs(tmp_path)
    channel = grpc.insecure_channel(f"127.0.0.1:{cluster.port}")
    admin = [("authorization", f"Bearer {ADMIN}")]
    key = rpc.AdminServiceStub(channel).CreateTenant(pb.CreateTenantRequest(name="watcher"), metadata=admin).api_key
    auth = [("authorization", f"Bearer {key}")]
    path = generate(str(tmp_path / "d.csv"), customers=300)
    dataset = cluster.cli("dataset", "upload", path, key=key).stdout.strip()
    # The command line watches too, for one report, as a process of its own.
    watcher = subprocess.Popen([f"{BIN}/fidelis", "report", "watch", dataset, "--kind", "analysis", "--count", "1"],
                               env=dict(cluster.env, FIDELIS_API_KEY=key), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stream = rpc.ReportServiceStub(channel).WatchReports(pb.WatchReportsRequest(dataset_id=dataset, kind="analysis"), metadata=auth, timeout=120)
    time.sleep(1)  # both watches have taken their first look: nothing is there yet
    job = cluster.cli("job", "submit", dataset, "--wait", key=key).stdout.strip()
    summary = next(stream)
    stream.cancel()
    assert (summary.job_id, summary.dataset_id, summary.kind) == (job, dataset, "analysis")
    assert set(summary.formats) == {"md", "html", "json", "csv"}
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert out.split("\t")[0] == job
    listed = cluster.cli("report", "list", "--dataset", dataset, key=key).stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == [job]
    latest = cluster.cli("report", "latest", dataset, "--format", "json", key=key).stdout
    assert json.loads(latest)["customers"] == 300
    # Another tenant's watch of the dataset: NOT_FOUND, at once.
    other = rpc.AdminServiceStub(channel).CreateTenant(pb.CreateTenantRequest(name="other"), metadata=admin).api_key
    try:
        next(rpc.ReportServiceStub(channel).WatchReports(pb.WatchReportsRequest(dataset_id=dataset), metadata=[("authorization", f"Bearer {other}")], timeout=10))
        raise AssertionError("expected NOT_FOUND")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lets_a_client_without_the_protos_call_the_api(cluster, tmp_path):
    """Server reflection, both names: Python's grpcio-reflection client (v1alpha) learns the
    API from the server alone and calls it with messages built from what it learned; a v1
    client generated from proto/grpc/reflection/v1 lists the services and gets the files."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
    cluster.start_server()
    channel = grpc.insecure_channel(f"127.0.0.1:{cluster.port}")
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert {"fidelis.v1.AdminService", "fidelis.v1.DatasetService", "fidelis.v1.JobService", "fidelis.v1.ReportService", "fidelis.v1.WorkerService",
            "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} <= services
    pool = descriptor_pool.DescriptorPool(database)
    watch = pool.FindServiceByName("fidelis.v1.ReportService").FindMethodByName("WatchReports")
    assert watch.input_type.full_name == "fidelis.v1.WatchReportsRequest" and watch.server_streaming
    # A call made only from what reflection told: create a tenant, list its datasets.
    def call(method, fields, metadata):
        descriptor = pool.FindServiceByName(method.rsplit("/", 1)[0]).FindMethodByName(method.rsplit("/", 1)[1])
        request_class = message_factory.GetMessageClass(descriptor.input_type)
        response_class = message_factory.GetMessageClass(descriptor.output_type)
        invoke = channel.unary_unary(f"/{method}", request_serializer=request_class.SerializeToString, response_deserializer=response_class.FromString)
        return invoke(request_class(**fields), metadata=metadata, timeout=10)
    key = call("fidelis.v1.AdminService/CreateTenant", {"name": "reflected"}, [("authorization", f"Bearer {ADMIN}")]).api_key
    assert key.startswith("fk_")
    listed = call("fidelis.v1.DatasetService/ListDatasets", {"page_size": 10}, [("authorization", f"Bearer {key}")])
    assert list(listed.datasets) == [] and listed.next_page_token == ""
    # Version 1, from a client generated from proto/ (under another directory: a module path
    # starting with grpc/ would be looked for inside the grpc package).
    os.makedirs(tmp_path / "refl" / "v1")
    shutil.copy(os.path.join(ROOT, "proto", "grpc", "reflection", "v1", "reflection.proto"), tmp_path / "refl" / "v1")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", str(tmp_path), f"--python_out={tmp_path}", f"--grpc_python_out={tmp_path}",
                    "refl/v1/reflection.proto"], check=True)
    sys.path.insert(0, str(tmp_path))
    from refl.v1 import reflection_pb2 as r, reflection_pb2_grpc as rg
    asked = [r.ServerReflectionRequest(list_services=""), r.ServerReflectionRequest(file_containing_symbol="fidelis.v1.JobService.SubmitJob"),
             r.ServerReflectionRequest(file_by_filename="grpc/health/v1/health.proto"), r.ServerReflectionRequest(file_containing_symbol="fidelis.v1.Nothing")]
    answers = list(rg.ServerReflectionStub(channel).ServerReflectionInfo(iter(asked), timeout=10))
    assert len(answers) == 4
    assert {s.name for s in answers[0].list_services_response.service} == services
    files = [descriptor_pb2.FileDescriptorProto.FromString(b).name for b in answers[1].file_descriptor_response.file_descriptor_proto]
    assert files[0] == "fidelis/v1/fidelis.proto"
    assert [descriptor_pb2.FileDescriptorProto.FromString(b).name for b in answers[2].file_descriptor_response.file_descriptor_proto] == ["grpc/health/v1/health.proto"]
    assert answers[3].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


class PythonWorker:
    """A tenant with one queued analysis job of a 50-customer dataset, and a worker written
    in Python from proto/ alone that leases it; the coordinator is started here."""

    def __init__(self, cluster, tmp_path, name):
        cluster.start_server()
        self.cluster = cluster
        self.pb, self.rpc = stubs(tmp_path)
        channel = grpc.insecure_channel(f"127.0.0.1:{cluster.port}")
        admin = [("authorization", f"Bearer {ADMIN}")]
        self.key = self.rpc.AdminServiceStub(channel).CreateTenant(self.pb.CreateTenantRequest(name=name), metadata=admin).api_key
        dataset = cluster.cli("dataset", "upload", generate(str(tmp_path / "d.csv"), customers=50), key=self.key).stdout.strip()
        self.job_id = cluster.cli("job", "submit", dataset, key=self.key).stdout.strip()
        self.workers = self.rpc.WorkerServiceStub(channel)
        self.metadata = [("authorization", f"Bearer {WORKER}")]

    def lease(self):
        leased = self.workers.LeaseJob(self.pb.LeaseJobRequest(worker_id="py-1", host="test", wait_ms=5000), metadata=self.metadata).job
        assert leased.job_id == self.job_id
        return leased

    def stored_rows(self):
        """The job's report files still staged under a lease, and all its stored pieces."""
        with sqlite3.connect(f"file:{os.path.join(self.cluster.data, 'fidelis.sqlite')}?mode=ro", uri=True) as db:
            return (db.execute("SELECT COUNT(*) FROM artifact WHERE jobId = ? AND leaseId IS NOT NULL", (self.job_id,)).fetchone()[0],
                    db.execute("SELECT COUNT(*) FROM artifactPiece WHERE jobId = ?", (self.job_id,)).fetchone()[0])


def noisy_pieces(rows, prefix=b"C"):
    """A CSV of `rows` lines that deflates to about half its size, and its 1 MiB pieces
    deflated by Python's zlib."""
    import zlib
    piece = 1 << 20
    csv = b"".join(prefix + b"%07d,%s\n" % (i, os.urandom(24).hex().encode()) for i in range(rows))
    return csv, [(len(csv[i:i + piece]), zlib.compress(csv[i:i + piece], 1)) for i in range(0, len(csv), piece)]


def test_a_worker_written_in_python_hands_in_pieces_its_own_zlib_deflated(cluster, tmp_path):
    """The worker protocol from proto/ alone: a job leased by a Python worker, its report's
    file handed in as pieces Python's zlib deflated. A piece that does not inflate to the
    size it declares, in the middle of the file, fails the hand-in with INVALID_ARGUMENT and
    stores nothing; the same file with sound pieces is the report, byte for byte."""
    import zlib
    w = PythonWorker(cluster, tmp_path, "pyworker")
    pb, workers, worker, key, job_id = w.pb, w.workers, w.metadata, w.key, w.job_id
    leased = w.lease()

    piece = 1 << 20
    csv = b"".join(b"C%07d,Champions,loyal,%d,steady,%d\n" % (i, i % 4, i % 365) for i in range(110_000))
    assert len(csv) > 3 * piece
    pieces = [(len(csv[i:i + piece]), zlib.compress(csv[i:i + piece], 1)) for i in range(0, len(csv), piece)]

    def hand_in(pieces):
        yield pb.CompleteJobRequest(header=pb.CompleteJobHeader(job_id=leased.job_id, lease_id=leased.lease_id))
        yield pb.CompleteJobRequest(artifact=pb.ArtifactHeader(format="md", content_type="text/markdown", data=b"# Report\n"))
        yield pb.CompleteJobRequest(artifact=pb.ArtifactHeader(format="csv", content_type="text/csv"))
        for size, data in pieces:
            yield pb.CompleteJobRequest(piece=pb.DeflatedPiece(size=size, data=data))

    damaged = list(pieces)
    middle = len(damaged[2][1]) // 2
    damaged[2] = (damaged[2][0], damaged[2][1][:middle] + bytes([damaged[2][1][middle] ^ 0xFF]) + damaged[2][1][middle + 1:])
    try:
        workers.CompleteJob(hand_in(damaged), metadata=worker, timeout=30)
        raise AssertionError("expected INVALID_ARGUMENT")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "does not inflate" in e.details(), e.details()
    assert json.loads(cluster.cli("job", "status", job_id, "--json", key=key).stdout)["state"] == "JOB_STATE_RUNNING"
    workers.CompleteJob(hand_in(pieces), metadata=worker, timeout=30)
    report = cluster.cli("report", "get", job_id, "--format", "csv", "-o", str(tmp_path / "got.csv"), key=key)
    assert (tmp_path / "got.csv").read_bytes() == csv


def test_a_report_larger_than_the_coordinator_holds_is_stored_as_it_arrives(cluster, tmp_path):
    """A Python worker hands in a file of 20 MiB that deflates to more than the coordinator
    holds at once, so its first pieces are stored while the rest comes. A hand-in broken off
    by a damaged piece late in the file leaves no report (the job still running); the next
    hand-in of the same lease is the report, byte for byte."""
    w = PythonWorker(cluster, tmp_path, "bigreport")
    pb, workers, worker, key, job_id = w.pb, w.workers, w.metadata, w.key, w.job_id
    csv, pieces = noisy_pieces(370_000)
    assert len(csv) > 20 << 20 and sum(len(d) for _, d in pieces) > 10 << 20
    leased = w.lease()

    def beat():
        workers.Heartbeat(pb.HeartbeatRequest(job_id=leased.job_id, lease_id=leased.lease_id, stage="report"), metadata=worker)

    def hand_in(pieces):
        yield pb.CompleteJobRequest(header=pb.CompleteJobHeader(job_id=leased.job_id, lease_id=leased.lease_id))
        yield pb.CompleteJobRequest(artifact=pb.ArtifactHeader(format="csv", content_type="text/csv"))
        for size, data in pieces:
            yield pb.CompleteJobRequest(piece=pb.DeflatedPiece(size=size, data=data))
        yield pb.CompleteJobRequest(artifact=pb.ArtifactHeader(format="md", content_type="text/markdown", data=b"# Report\n"))

    damaged = list(pieces)
    damaged[-2] = (damaged[-2][0], damaged[-2][1][:100] + bytes([damaged[-2][1][100] ^ 0xFF]) + damaged[-2][1][101:])
    beat()
    try:
        workers.CompleteJob(hand_in(damaged), metadata=worker, timeout=60)
        raise AssertionError("expected INVALID_ARGUMENT")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.details()
    assert json.loads(cluster.cli("job", "status", job_id, "--json", key=key).stdout)["state"] == "JOB_STATE_RUNNING"
    assert cluster.cli("report", "list", "--json", key=key).stdout.count(job_id) == 0
    assert w.stored_rows() > (0, 0), "the file's first pieces were stored before the damaged one came"
    beat()
    workers.CompleteJob(hand_in(pieces), metadata=worker, timeout=60)
    cluster.cli("report", "get", job_id, "--format", "csv", "-o", str(tmp_path / "got.csv"), key=key)
    assert (tmp_path / "got.csv").read_bytes() == csv
    cluster.cli("report", "get", job_id, "--format", "md", "-o", str(tmp_path / "got.md"), key=key)
    assert (tmp_path / "got.md").read_bytes() == b"# Report\n"


def test_a_worker_that_dies_while_handing_in_a_large_report_leaves_nothing_and_the_job_succeeds(cluster, tmp_path):
    """A Python worker stores the first pieces of a large report, then dies (its call is
    cancelled, its lease left to expire). The job goes back to the queue; a real worker runs
    it and its report is the job's: none of the dead worker's pieces is left in the store."""
    w = PythonWorker(cluster, tmp_path, "dies")
    pb, workers, worker, key, job_id = w.pb, w.workers, w.metadata, w.key, w.job_id
    staged_rows = w.stored_rows
    _, pieces = noisy_pieces(400_000, prefix=b"X")
    leased = w.lease()

    def dies_midway():
        yield pb.CompleteJobRequest(header=pb.CompleteJobHeader(job_id=leased.job_id, lease_id=leased.lease_id))
        yield pb.CompleteJobRequest(artifact=pb.ArtifactHeader(format="csv", content_type="text/csv"))
        for size, data in pieces[:-2]:
            yield pb.CompleteJobRequest(piece=pb.DeflatedPiece(size=size, data=data))
        deadline = time.time() + 10
        while staged_rows()[1] == 0 and time.time() < deadline:
            time.sleep(0.05)
        seen.append(staged_rows())
        raise RuntimeError("the worker dies")

    seen = []
    workers.Heartbeat(pb.HeartbeatRequest(job_id=leased.job_id, lease_id=leased.lease_id, stage="report"), metadata=worker)

    try:
        workers.CompleteJob(dies_midway(), metadata=worker, timeout=30)
        raise AssertionError("expected the call to end with the worker's death")
    except grpc.RpcError:
        pass
    assert seen[0][0] == 1 and seen[0][1] > 0, f"the first pieces were stored before the worker died: {seen}"

    cluster.start_worker("w-real")
    from test_processes import wait_state
    done = wait_state(cluster, key, job_id, {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"})
    assert done["state"] == "JOB_STATE_SUCCEEDED", done
    cluster.cli("report", "get", job_id, "--format", "csv", "-o", str(tmp_path / "got.csv"), key=key)
    got = (tmp_path / "got.csv").read_bytes()
    assert got.startswith(b"customer_id") and b"X0000001" not in got
    staged, stored = staged_rows()
    assert staged == 0
    with sqlite3.connect(f"file:{os.path.join(cluster.data, 'fidelis.sqlite')}?mode=ro", uri=True) as db:
        expected = db.execute("SELECT COUNT(*) FROM artifactPiece p JOIN artifact a USING (jobId, format) WHERE jobId = ? AND a.leaseId IS NULL", (job_id,)).fetchone()[0]
    assert stored == expected
