"""The Grafana dashboard and the Prometheus rules under deploy/ parse, and every series they
query is one scimgate exports (a renamed metric would silently blank a panel or an alert).
`.ci/run` also checks the rules with promtool."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import api.metrics  # noqa: F401 -- registers the ingress's series
import infra.metrics.pipeline  # noqa: F401 -- registers the worker's series
from infra.metrics.snapshot import GAUGES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
_SERIES = re.compile(r"\bscimgate_[a-z_]+")
_SUFFIXES = ("", "_total", "_bucket", "_sum", "_count")


def _exported() -> set[str]:
    families = {family.name for family in REGISTRY.collect() if family.name.startswith("scimgate_")}
    families |= {name for name, _help in GAUGES.values()}
    families |= {"scimgate_organization_failed_writes", "scimgate_snapshot_up"}
    return {family + suffix for family in families for suffix in _SUFFIXES}


def _rules() -> list[dict]:
    document = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_alert_queries_exported_series():
    exported = _exported()
    rules = _rules()
    assert {rule["alert"] for rule in rules} >= {
        "ScimgateNoLiveWorker", "ScimgateOldestQueuedWrite", "ScimgateHigh5xxRate", "ScimgateHigh503Rate",
        "ScimgateOutboxLag", "ScimgateOrganizationFailing",
    }
    for rule in rules:
        used = set(_SERIES.findall(rule["expr"]))
        assert used and used <= exported, (rule["alert"], used - exported)
        assert rule["annotations"]["summary"] and rule["labels"]["severity"] in ("warning", "critical")


def test_every_dashboard_panel_queries_exported_series():
    exported = _exported()
    dashboard = json.loads((DEPLOY / "grafana" / "scimgate.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(queries) >= 20
    for expr in queries:
        used = set(_SERIES.findall(expr))
        assert used and used <= exported, (expr, used - exported)
    needed = {"scimgate_queue_depth", "scimgate_oldest_queued_seconds", "scimgate_outbox_lag_seconds",
              "scimgate_worker_batch_seconds_bucket", "scimgate_workers_live", "scimgate_http_requests_total",
              "scimgate_http_request_seconds_bucket", "scimgate_worker_commands_total",
              "scimgate_organization_failed_writes"}
    assert needed <= {series for expr in queries for series in _SERIES.findall(expr)}


def test_the_example_prometheus_config_loads_the_rules():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert {job["job_name"] for job in config["scrape_configs"]} == {"scimgate", "scimgate-worker"}
