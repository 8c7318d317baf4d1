"""deploy/monitoring (issue 11, "monitoring that ships"): the Prometheus alert rules and the
Grafana dashboard parse, every metric they name is one that /metrics serves (fetched from
the real application with the scrape token, as Prometheus fetches it), and the compose
profile that runs them points at the right files. Docker cannot run here; promtool, when
it is on PATH (or named by $PROMTOOL), checks the rules and runs their unit tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import httpx
import pytest
import yaml
from django.conf import settings
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

import msgbuffer_site.asgi
from messaging import polled_reads
from tests.support import ROOT

MONITORING = ROOT / "deploy" / "monitoring"
PROMETHEUS_DIR = MONITORING / "prometheus"
GRAFANA_DIR = MONITORING / "grafana"
ALERTS = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
PROMETHEUS = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
DASHBOARD = json.loads((GRAFANA_DIR / "dashboards" / "msgbuffer.json").read_text())
DATASOURCES = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
DASHBOARD_PROVIDERS = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "msgbuffer.yml").read_text())
SERVICES = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
TOKEN = "scrape-" + "m" * 40

# Series the rules and panels may name that msgbuffer does not serve, and why.
PROMETHEUS_OWN = {"up": "Prometheus's own, per target: 1 when the last scrape succeeded"}
# PromQL words that look like metric names but are not.
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
PROMQL_KEYWORDS |= {"inf", "nan", "Inf", "NaN"}


def metric_names(expr: str) -> set[str]:
    """The series an expression selects: identifiers that are neither functions, keywords,
    label names (inside {...} or a by/without/on/ignoring list) nor strings or durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("(") or match.group(0) in PROMQL_KEYWORDS:
            continue
        names.add(match.group(0))
    return names


def alert_rules() -> list[dict]:
    return [rule for group in ALERTS["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in DASHBOARD["panels"] for target in panel.get("targets", [])]


def served_names(exposition: str) -> set[str]:
    """Every series name /metrics serves, and the ones a family declares but has no sample
    of yet (a labelled counter nobody has counted in, e.g. flush errors on a quiet day)."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "summary": ["_sum", "_count"]}
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        names.update(family.name + suffix for suffix in suffixes.get(family.type, []))
        names.update(sample.name for sample in family.samples)
    return names


@pytest.fixture
async def exposition(db):
    """GET /metrics as Prometheus scrapes it: keys required, the scrape token as Bearer."""
    polled_reads.forget_cached_reads()
    production = override_settings(
        DEBUG=False, MSGBUFFER={**settings.MSGBUFFER, "API_KEYS_REQUIRED": True, "METRICS_TOKEN": TOKEN}
    )
    transport = httpx.ASGITransport(app=msgbuffer_site.asgi.application)
    with production:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answer = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            refused = await client.get("/metrics")
    polled_reads.forget_cached_reads()
    assert refused.status_code == 401  # the credentials are what let it in
    assert answer.status_code == 200, answer.text
    return answer.text


# ---------------------------------------------------------------------------
# The metrics they name exist
# ---------------------------------------------------------------------------
def test_metric_names__reads_promql__series_not_functions_labels_or_durations():
    expr = 'histogram_quantile(0.95, max by (le) (rate(x_bucket{job="a", le!="1"}[5m]))) / max(y > 0) offset 1h and on(z) w'
    assert metric_names(expr) == {"x_bucket", "y", "w"}


def test_alert_rules__every_metric__served_by_metrics(exposition):
    served = served_names(exposition) | set(PROMETHEUS_OWN)
    for rule in alert_rules():
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= served, f"{rule['alert']} names {sorted(used - served)}, which /metrics does not serve"


def test_dashboard__every_metric__served_by_metrics(exposition):
    served = served_names(exposition) | set(PROMETHEUS_OWN)
    exprs = dashboard_exprs()
    assert exprs
    for expr in exprs:
        assert metric_names(expr) and metric_names(expr) <= served, f"{expr!r}: {sorted(metric_names(expr) - served)}"


# ---------------------------------------------------------------------------
# The alert rules
# ---------------------------------------------------------------------------
def test_alert_rules__the_ones_issue_11_asks_for():
    used = {rule["alert"]: metric_names(rule["expr"]) for rule in alert_rules()}
    assert used["MsgbufferNoWorker"] == {"msgbuffer_workers"}
    assert used["MsgbufferOldestMessageTooOld"] == {"msgbuffer_oldest_message_age_seconds"}
    assert used["MsgbufferDeadLettersRising"] == {"msgbuffer_messages_dead_lettered_total"}
    assert used["MsgbufferRedisMemoryHigh"] == {"msgbuffer_redis_used_memory_bytes", "msgbuffer_redis_maxmemory_bytes"}
    assert used["MsgbufferFlushErrors"] == {"msgbuffer_flush_errors_total"}


def test_alert_rules__each_has_a_severity_summary_and_description():
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def promtool() -> str:
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not found:
        pytest.skip("promtool is not on PATH (set PROMTOOL=/path/to/promtool to run it)")
    return found


def test_alert_rules__promtool_check_and_unit_tests_pass():
    tool = promtool()
    for argv in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
        result = subprocess.run([tool, *argv], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------
# Prometheus, Grafana and the compose profile fit together
# ---------------------------------------------------------------------------
def test_prometheus__scrapes_web_metrics_with_the_token_from_a_compose_secret():
    (job,) = PROMETHEUS["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": ["web:8000"]}]  # the web service's port in the container
    assert job["authorization"]["type"] == "Bearer"  # what messaging/access.py accepts for /metrics
    secret = job["authorization"]["credentials_file"]
    assert secret == "/run/secrets/metrics_token"
    assert SERVICES["prometheus"]["secrets"] == ["metrics_token"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["secrets"]["metrics_token"] == {"environment": "MSGBUFFER_METRICS_TOKEN"}


def mounts(service: str) -> dict[str, str]:
    """{container path: host path} of a service's bind mounts."""
    found = {}
    for mount in SERVICES[service]["volumes"]:
        source, target = mount.split(":")[:2]
        if source.startswith("./"):
            found[target] = source
    return found


def test_prometheus__rule_file__is_the_mounted_alerts_yml():
    (mounted_dir,) = [target for target, source in mounts("prometheus").items() if source == "./deploy/monitoring/prometheus"]
    (rule_file,) = PROMETHEUS["rule_files"]
    assert rule_file == f"{mounted_dir}/alerts.yml"
    assert f"--config.file={mounted_dir}/prometheus.yml" in SERVICES["prometheus"]["command"]


def test_grafana__provisions_the_datasource_and_the_dashboard_it_uses():
    (datasource,) = DATASOURCES["datasources"]
    assert (datasource["type"], datasource["url"]) == ("prometheus", "http://prometheus:9090")
    used = {json.dumps(panel["datasource"], sort_keys=True) for panel in DASHBOARD["panels"]}
    used |= {json.dumps(t["datasource"], sort_keys=True) for panel in DASHBOARD["panels"] for t in panel["targets"]}
    assert used == {json.dumps({"type": "prometheus", "uid": datasource["uid"]}, sort_keys=True)}
    grafana_mounts = mounts("grafana")
    assert grafana_mounts["/etc/grafana/provisioning"] == "./deploy/monitoring/grafana/provisioning"
    (provider,) = DASHBOARD_PROVIDERS["providers"]
    assert grafana_mounts[provider["options"]["path"]] == "./deploy/monitoring/grafana/dashboards"


def test_grafana__dashboard__panels_have_unique_ids_and_fit_the_grid():
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
    assert DASHBOARD["uid"] == "msgbuffer"


def test_compose__monitoring_services__optional_and_published_on_loopback_only():
    for name in ("prometheus", "grafana"):
        service = SERVICES[name]
        assert service["profiles"] == ["monitoring"], name
        (published,) = service["ports"]
        assert published.startswith("127.0.0.1:"), name
