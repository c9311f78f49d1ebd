"""Several hosts made on this machine with network namespaces: a coordinator on A (TLS, and
mutual TLS for workers), workers on B and C, the client on D, on 198.18.0.0/24 (the range
set aside for network tests), reachable only inside the namespaces made here. A worker's
link is cut in the middle of a job, then restored. Needs root (CI runs as root); skipped
otherwise, saying why."""
import json, os, signal, subprocess, time
import pytest
from conftest import ADMIN, BIN, ROOT, WORKER, generate

HOSTS = {"a": "198.18.0.1", "b": "198.18.0.2", "c": "198.18.0.3", "d": "198.18.0.4"}


def run(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


class Network:
    """Namespaces fdlNNNN-a…d joined by veth pairs to a bridge in fdlNNNN-sw."""

    def __init__(self):
        self.prefix = f"fdl{os.getpid() % 10000}"
        self.namespaces = []

    def ns(self, host):
        return f"{self.prefix}-{host}"

    def port(self, host):  # the switch side of the host's link
        return f"{self.prefix}{host}1"

    def create(self):
        switch = self.ns("sw")
        run("ip", "netns", "add", switch)
        self.namespaces.append(switch)
        run("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", switch, "link", "set", "br0", "up")
        for host, address in HOSTS.items():
            ns, inside, outside = self.ns(host), f"{self.prefix}{host}0", self.port(host)
            run("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            run("ip", "link", "add", inside, "type", "veth", "peer", "name", outside)
            run("ip", "link", "set", inside, "netns", ns)
            run("ip", "link", "set", outside, "netns", switch)
            run("ip", "-n", switch, "link", "set", outside, "master", "br0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", inside)
            run("ip", "-n", ns, "link", "set", inside, "up")

    def cut(self, host):
        run("ip", "-n", self.ns("sw"), "link", "set", self.port(host), "down")

    def restore(self, host):
        run("ip", "-n", self.ns("sw"), "link", "set", self.port(host), "up")

    def remove(self):
        for ns in reversed(self.namespaces):
            for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            run("ip", "netns", "del", ns, check=False)


@pytest.fixture
def network():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root; CI runs as root")
    net = Network()
    try:
        net.create()
    except subprocess.CalledProcessError as e:
        net.remove()
        pytest.skip(f"cannot create network namespaces here: {e.stderr.strip()}")
    try:
        yield net
    finally:
        net.remove()


class Hosts:
    def __init__(self, net, tmp):
        self.net, self.tmp, self.procs = net, tmp, []
        self.certs = os.path.join(tmp, "certs")
        self.rogue = os.path.join(tmp, "rogue")
        run(os.path.join(ROOT, "scripts", "dev-certs"), self.certs, "--server-ip", HOSTS["a"], "--worker", "b", "--worker", "c")
        run(os.path.join(ROOT, "scripts", "dev-certs"), self.rogue, "--worker", "intruder")
        self.env = dict(os.environ, FIDELIS_ADMIN_TOKEN=ADMIN, FIDELIS_WORKER_TOKEN=WORKER)

    def spawn(self, host, name, *args):
        log = open(os.path.join(self.tmp, f"{name}.log"), "a")
        p = subprocess.Popen(["ip", "netns", "exec", self.net.ns(host), *args], env=self.env, stdout=subprocess.PIPE if name == "server" else log, stderr=log, text=True)
        self.procs.append(p)
        return p

    def server(self):
        p = self.spawn("a", "server", f"{BIN}/fidelis-server", "--listen", f"{HOSTS['a']}:7443", "--worker-listen", f"{HOSTS['a']}:7444",
                       "--data-dir", os.path.join(self.tmp, "data"), "--tls-cert", f"{self.certs}/server.pem", "--tls-key", f"{self.certs}/server.key",
                       "--worker-client-ca", f"{self.certs}/ca.pem", "--lease-seconds", "3")
        assert p.stdout.readline().startswith("listening on")
        assert p.stdout.readline().startswith("workers listening on")
        return p

    def worker(self, host, name, cert_dir=None, cert=None):
        args = [f"{BIN}/fidelis-worker", "--server", f"{HOSTS['a']}:7444", "--tls-ca", f"{self.certs}/ca.pem", "--name", name, "--host", f"host-{host}"]
        if cert:
            args += ["--tls-cert", f"{cert_dir}/worker-{cert}.pem", "--tls-key", f"{cert_dir}/worker-{cert}.key"]
        return self.spawn(host, name, *args)

    def cli(self, *args, key=None, ca=None, check=True):
        env = dict(self.env, FIDELIS_SERVER=f"{HOSTS['a']}:7443", FIDELIS_TLS_CA=ca or f"{self.certs}/ca.pem")
        if key:
            env["FIDELIS_API_KEY"] = key
        r = subprocess.run(["ip", "netns", "exec", self.net.ns("d"), f"{BIN}/fidelis", *args], env=env, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"fidelis {' '.join(args)}: {r.stderr}")
        return r

    def log(self, name):
        return open(os.path.join(self.tmp, f"{name}.log")).read()

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def job(h, key, job_id):
    return json.loads(h.cli("job", "status", job_id, "--json", key=key).stdout)


def wait_final(h, key, job_id, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = job(h, key, job_id)
        if s.get("state") in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            return s
        time.sleep(0.3)
    raise AssertionError(f"{job_id} not final: {s}")


def test_workers_on_two_hosts_ride_out_a_cut_link(network, tmp_path):
    h = Hosts(network, str(tmp_path))
    try:
        h.server()
        h.worker("b", "wb", h.certs, "b")
        h.worker("c", "wc", h.certs, "c")
        key = h.cli("admin", "tenant", "create", "acme", key=ADMIN).stdout.strip()
        small = h.cli("dataset", "upload", generate(str(tmp_path / "small.csv"), customers=200), key=key).stdout.strip()
        big = h.cli("dataset", "upload", generate(str(tmp_path / "big.csv"), customers=60000), key=key).stdout.strip()
        submitted = []

        # Jobs are spread over both worker hosts; each attempt names its host and certificate.
        quick = [h.cli("job", "submit", small, "--kind", "profile", key=key).stdout.strip() for _ in range(12)]
        submitted += quick
        finals = [wait_final(h, key, j) for j in quick]
        assert all(f["state"] == "JOB_STATE_SUCCEEDED" for f in finals)
        attempts = [a for f in finals for a in f["attempts"]]
        assert {a["host"] for a in attempts} == {"host-b", "host-c"}
        assert {a.get("worker_certificate") for a in attempts} == {"CN=b,O=Fidelis workers", "CN=c,O=Fidelis workers"}, attempts

        # The link of the host running a long job is cut: the job completes on the other host, once.
        long_job = h.cli("job", "submit", big, "--kind", "analysis", key=key).stdout.strip()
        submitted.append(long_job)
        deadline = time.time() + 60
        while time.time() < deadline:
            s = job(h, key, long_job)
            if s.get("state") == "JOB_STATE_RUNNING" and s.get("attempts"):
                break
            time.sleep(0.2)
        victim = s["attempts"][-1]["host"][-1]
        survivor = "c" if victim == "b" else "b"
        time.sleep(0.5)
        network.cut(victim)
        final = wait_final(h, key, long_job, timeout=180)
        assert final["state"] == "JOB_STATE_SUCCEEDED", final
        outcomes = [(a["host"], a["outcome"]) for a in final["attempts"]]
        assert outcomes == [(f"host-{victim}", "lease expired"), (f"host-{survivor}", "succeeded")], outcomes

        # The link comes back: the cut worker's late result is refused, and it takes new work.
        network.restore(victim)
        deadline = time.time() + 120
        back = False
        while time.time() < deadline and not back:
            j = h.cli("job", "submit", small, "--kind", "profile", key=key).stdout.strip()
            submitted.append(j)
            back = wait_final(h, key, j)["attempts"][-1]["host"] == f"host-{victim}"
        assert back, f"host-{victim} never took work again"
        victim_log = h.log(f"w{victim}")
        assert "result refused: lease no longer held" in victim_log or "lease lost; result dropped" in victim_log, victim_log[-2000:]
        assert [a["outcome"] for a in job(h, key, long_job)["attempts"]].count("succeeded") == 1

        # A worker with a certificate from another CA, or with none, is refused.
        h.worker("c", "intruder", h.rogue, "intruder")
        h.worker("c", "anonymous")
        time.sleep(4)
        assert "UNKNOWN_CA" in h.log("intruder")
        assert "lease failed" in h.log("anonymous")
        # A client without the right CA refuses the server; a plaintext client gets nothing.
        r = h.cli("job", "list", key=key, ca=f"{h.rogue}/ca.pem", check=False)
        assert r.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in r.stderr, r.stderr
        r = subprocess.run(["ip", "netns", "exec", network.ns("d"), f"{BIN}/fidelis", "job", "list", "--server", f"{HOSTS['a']}:7443", "--api-key", key],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0

        # Everything uploaded is still there and every accepted job reached a final state.
        datasets = json.loads(h.cli("dataset", "list", "--json", key=key).stdout)["datasets"]
        assert sorted(d["id"] for d in datasets) == sorted([small, big])
        for j in submitted:
            state = wait_final(h, key, j)["state"]
            assert state == "JOB_STATE_SUCCEEDED", (j, state)
            hosts = {a["host"] for a in job(h, key, j)["attempts"]}
            assert hosts <= {"host-b", "host-c"}
    finally:
        h.stop()


def test_plaintext_on_a_network_address_needs_an_explicit_flag(network, tmp_path):
    env = dict(os.environ, FIDELIS_ADMIN_TOKEN=ADMIN, FIDELIS_WORKER_TOKEN=WORKER)
    r = subprocess.run(["ip", "netns", "exec", network.ns("a"), f"{BIN}/fidelis-server", "--listen", f"{HOSTS['a']}:7443", "--data-dir", str(tmp_path / "d")],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "refusing plaintext" in r.stderr, r.stderr
    p = subprocess.Popen(["ip", "netns", "exec", network.ns("a"), f"{BIN}/fidelis-server", "--listen", f"{HOSTS['a']}:7443", "--data-dir", str(tmp_path / "d"),
                          "--insecure-plaintext"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("listening on")
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=20)
    assert "PLAINTEXT" in err


def test_tls_and_worker_certificates_on_loopback(tmp_path):
    """The same security without namespaces (so it runs without root too)."""
    from conftest import free_port
    certs, rogue = str(tmp_path / "certs"), str(tmp_path / "rogue")
    run(os.path.join(ROOT, "scripts", "dev-certs"), certs, "--worker", "w1")
    run(os.path.join(ROOT, "scripts", "dev-certs"), rogue, "--worker", "w1")
    port, worker_port = free_port(), free_port()
    env = dict(os.environ, FIDELIS_ADMIN_TOKEN=ADMIN, FIDELIS_WORKER_TOKEN=WORKER, FIDELIS_SERVER=f"127.0.0.1:{port}", FIDELIS_TLS_CA=f"{certs}/ca.pem")
    procs = []
    try:
        server = subprocess.Popen([f"{BIN}/fidelis-server", "--listen", f"127.0.0.1:{port}", "--worker-listen", f"127.0.0.1:{worker_port}", "--data-dir", str(tmp_path / "data"),
                                   "--tls-cert", f"{certs}/server.pem", "--tls-key", f"{certs}/server.key", "--worker-client-ca", f"{certs}/ca.pem"],
                                  env=env, stdout=subprocess.PIPE, stderr=open(tmp_path / "server.log", "w"), text=True)
        procs.append(server)
        assert server.stdout.readline().startswith("listening on")
        worker_log = tmp_path / "w1.log"
        procs.append(subprocess.Popen([f"{BIN}/fidelis-worker", "--server", f"127.0.0.1:{worker_port}", "--tls-cert", f"{certs}/worker-w1.pem", "--tls-key", f"{certs}/worker-w1.key", "--name", "w1"],
                                      env=env, stdout=subprocess.DEVNULL, stderr=open(worker_log, "w")))
        # A worker presenting a certificate of another CA with the right name is still refused.
        procs.append(subprocess.Popen([f"{BIN}/fidelis-worker", "--server", f"127.0.0.1:{worker_port}", "--tls-cert", f"{rogue}/worker-w1.pem", "--tls-key", f"{rogue}/worker-w1.key", "--name", "impostor"],
                                      env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "impostor.log", "w")))
        cli = lambda *a, **kw: subprocess.run([f"{BIN}/fidelis", *a], env={**env, **kw}, capture_output=True, text=True, timeout=120)
        key = cli("admin", "tenant", "create", "tls").stdout.strip()
        dataset = cli("dataset", "upload", generate(str(tmp_path / "d.csv"), customers=100), FIDELIS_API_KEY=key).stdout.strip()
        job_id = cli("job", "submit", dataset, "--kind", "profile", "--wait", FIDELIS_API_KEY=key).stdout.strip()
        status = json.loads(cli("job", "status", job_id, "--json", FIDELIS_API_KEY=key).stdout)
        assert status["state"] == "JOB_STATE_SUCCEEDED"
        assert [(a["worker"], a.get("worker_certificate")) for a in status["attempts"]] == [("w1", "CN=w1,O=Fidelis workers")]
        assert "UNKNOWN_CA" in open(tmp_path / "impostor.log").read()
        r = cli("job", "list", FIDELIS_API_KEY=key, FIDELIS_TLS_CA=f"{rogue}/ca.pem")
        assert r.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in r.stderr
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def test_tls_with_the_system_trust_store(tmp_path):
    """`--tls` without `--tls-ca` trusts the system's CAs: refused while the coordinator's CA
    is not among them, accepted once it is. The system bundle is replaced only inside a mount
    namespace of the client's own, so the machine's trust store is never touched."""
    if os.geteuid() != 0:
        pytest.skip("a mount namespace needs root; CI runs as root")
    bundle = "/etc/ssl/certs/ca-certificates.crt"  # where the TLS library looks on Debian
    if not os.path.isfile(bundle):
        pytest.skip(f"no system CA bundle at {bundle}")
    from conftest import free_port
    certs = str(tmp_path / "certs")
    run(os.path.join(ROOT, "scripts", "dev-certs"), certs, "--worker", "w1")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "FIDELIS_TLS_CA"}
    env.update(FIDELIS_ADMIN_TOKEN=ADMIN, FIDELIS_WORKER_TOKEN=WORKER)
    server = subprocess.Popen([f"{BIN}/fidelis-server", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "data"),
                               "--tls-cert", f"{certs}/server.pem", "--tls-key", f"{certs}/server.key"],
                              env=env, stdout=subprocess.PIPE, stderr=open(tmp_path / "server.log", "w"), text=True)
    try:
        assert server.stdout.readline().startswith("listening on")
        command = [f"{BIN}/fidelis", "admin", "tenant", "create", "trusted", "--server", f"127.0.0.1:{port}", "--tls"]
        refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
        in_namespace = ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'mount --bind "$0" {bundle} && exec "$@"', f"{certs}/ca.pem", *command]
        accepted = subprocess.run(in_namespace, env=env, capture_output=True, text=True, timeout=60)
        if accepted.returncode != 0 and "mount" in accepted.stderr and "fidelis" not in accepted.stderr:
            pytest.skip(f"cannot make a mount namespace here: {accepted.stderr.strip()}")
        assert accepted.returncode == 0, accepted.stderr
        assert accepted.stdout.strip().startswith("fk_")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
