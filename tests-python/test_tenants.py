"""A tenant's defaults: the report language and the currency of its amounts."""
import json
from conftest import ADMIN, generate
from test_processes import status, wait_state


def report_json(cluster, key, dataset, *options):
    job = cluster.cli("job", "submit", dataset, "--wait", *options, key=key).stdout.strip().splitlines()[0]
    return job, json.loads(cluster.cli("report", "get", job, "--format", "json", key=key).stdout)


def test_a_tenants_currency_is_used_unless_the_job_names_one_and_a_change_spares_queued_jobs(cluster, tmp_path):
    cluster.start_server()
    key = cluster.cli("admin", "tenant", "create", "shop", "--currency", "usd", "--language", "fr", key=ADMIN).stdout.strip()
    tenants = json.loads(cluster.cli("admin", "tenant", "list", "--json", key=ADMIN).stdout)["tenants"]
    tenant = next(t for t in tenants if t["name"] == "shop")
    assert tenant["default_currency"] == "USD" and tenant["default_language"] == "fr"
    dataset = cluster.cli("dataset", "upload", generate(str(tmp_path / "d.csv"), customers=300), key=key).stdout.strip()
    # Queued before the change (no worker yet): keeps USD.
    queued = cluster.cli("job", "submit", dataset, key=key).stdout.strip()
    r = cluster.cli("admin", "tenant", "update", tenant["id"], "--currency", "GBP", key=ADMIN)
    assert r.stdout.split("\t")[-1].strip() == "GBP", r.stdout
    bad = cluster.cli("admin", "tenant", "update", tenant["id"], "--currency", "pounds", key=ADMIN, check=False)
    assert bad.returncode != 0 and "ISO 4217" in bad.stderr, bad.stderr
    cluster.start_worker("w1")
    wait_state(cluster, key, queued, ["JOB_STATE_SUCCEEDED"])
    first = json.loads(cluster.cli("report", "get", queued, "--format", "json", key=key).stdout)
    assert first["currency"] == "USD"
    _, second = report_json(cluster, key, dataset)
    assert second["currency"] == "GBP"
    job, third = report_json(cluster, key, dataset, "--currency", "JPY")
    assert third["currency"] == "JPY"
    md = cluster.cli("report", "get", job, "--format", "md", key=key).stdout
    assert "Rapport de fidélisation client" in md and "¥" in md
