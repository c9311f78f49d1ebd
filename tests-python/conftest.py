"""Real processes: a coordinator and workers built by `swift build`, on loopback ports."""
import json, os, signal, socket, subprocess, sys, tempfile, time
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "debug")
ADMIN = "admin-token-for-tests"
WORKER = "worker-token-for-tests"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    def __init__(self, tmp, lease_seconds=2):
        self.tmp = tmp
        self.data = os.path.join(tmp, "data")
        self.port = free_port()
        self.lease = lease_seconds
        self.server = None
        self.workers = []
        self.env = dict(os.environ, FIDELIS_ADMIN_TOKEN=ADMIN, FIDELIS_WORKER_TOKEN=WORKER, FIDELIS_SERVER=f"127.0.0.1:{self.port}")

    def start_server(self, *extra):
        log = open(os.path.join(self.tmp, "server.log"), "a")
        self.server = subprocess.Popen(
            [f"{BIN}/fidelis-server", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data, "--lease-seconds", str(self.lease), "--drain-seconds", "5", *extra],
            env=self.env, stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.server.stdout.readline()
        assert line.startswith("listening on"), line
        return self.server

    def start_worker(self, name, *extra):
        log = open(os.path.join(self.tmp, f"{name}.log"), "a")
        p = subprocess.Popen([f"{BIN}/fidelis-worker", "--name", name, *extra], env=self.env, stdout=log, stderr=log)
        self.workers.append(p)
        return p

    def cli(self, *args, key=None, check=True):
        env = dict(self.env)
        if key:
            env["FIDELIS_API_KEY"] = key
        r = subprocess.run([f"{BIN}/fidelis", *args], env=env, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"fidelis {' '.join(args)} failed: {r.stderr}")
        return r

    def log(self, name="server"):
        with open(os.path.join(self.tmp, f"{name}.log")) as f:
            return f.read()

    def stop(self):
        for p in self.workers + ([self.server] if self.server else []):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.workers + ([self.server] if self.server else []):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(str(tmp_path))
    yield c
    c.stop()


def generate(path, customers=2000, seed=7, customers_file=None, layout="orders", extra=()):
    args = [sys.executable, os.path.join(ROOT, "scripts", "generate-data.py"), path, "--customers", str(customers), "--seed", str(seed), "--layout", layout, *extra]
    if customers_file:
        args += ["--customers-file", customers_file]
    subprocess.run(args, check=True, capture_output=True)
    return path
