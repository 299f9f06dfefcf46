"""The alert rules and dashboards query metrics the code exports, every alert has a
runbook, and the rules are well-formed for Prometheus."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import storefleet.operator.metrics
import storefleet.runtime.platform.events.consumer
import storefleet.runtime.platform.resilience.breaker
import storefleet.runtime.platform.resilience.client
import storefleet.runtime.platform.telemetry.business_metrics
import storefleet.runtime.platform.telemetry.observability  # noqa: F401 - registers its metrics

ROOT = Path(__file__).resolve().parents[3]
RULES = yaml.safe_load((ROOT / "monitoring" / "alerts.yaml").read_text())
ALERTS = [rule for group in RULES["groups"] for rule in group["rules"]]
DASHBOARDS = sorted((ROOT / "monitoring" / "dashboards").glob("*.json"))
# Metrics that Prometheus itself adds to every target.
PROMETHEUS_OWN = {"up"}


def exported() -> set[str]:
    return set(REGISTRY._names_to_collectors)


def referenced(expr: str) -> set[str]:
    return set(re.findall(r"\b(storefleet_[a-z0-9_]+|up)\b", expr))


def dashboard_exprs(path: Path) -> list[str]:
    board: dict[str, Any] = json.loads(path.read_text())
    return [t["expr"] for panel in board["panels"] for t in panel["targets"]]


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: a["alert"])
def test_each_alert_queries_exported_metrics(alert: dict[str, Any]) -> None:
    unknown = referenced(alert["expr"]) - exported() - PROMETHEUS_OWN
    assert not unknown, f"{alert['alert']} queries metrics nothing exports: {unknown}"
    assert referenced(alert["expr"]), alert["expr"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_each_dashboard_panel_queries_exported_metrics(path: Path) -> None:
    exprs = dashboard_exprs(path)
    assert exprs
    for expr in exprs:
        unknown = referenced(expr) - exported()
        assert not unknown, f"{path.name}: {expr} queries {unknown}"


def runbook_anchors() -> set[str]:
    text = (ROOT / "docs" / "runbooks.md").read_text()
    return {line[3:].strip().lower() for line in text.splitlines() if line.startswith("## ")}


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: a["alert"])
def test_each_alert_says_how_bad_and_where_its_runbook_is(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in {"critical", "warning", "info"}
    assert alert["annotations"]["summary"]
    anchor = alert["annotations"]["runbook_url"].rsplit("#", 1)[1]
    assert anchor == alert["alert"].lower()
    assert anchor in runbook_anchors(), f"docs/runbooks.md has no section {alert['alert']}"


def test_alert_names_are_unique_and_durations_parse() -> None:
    names = [a["alert"] for a in ALERTS]
    assert len(names) == len(set(names))
    for alert in ALERTS:
        if "for" in alert:
            assert re.fullmatch(r"[0-9]+[smh]", alert["for"]), alert["for"]
