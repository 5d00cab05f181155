"""The alert rules and the Grafana dashboard in deploy/ read metrics the code exports.

promtool (Debian's `prometheus` package, installed by `make promtool`) checks
the rules' syntax and runs their unit tests (`alerts.test.yml`); this module
also holds every metric name an expression uses to the names the API, the
projection worker and the webhook worker register, which promtool cannot know.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from refnet.projections.worker.metrics import WorkerMetrics, reason_class
from refnet.services.api.metrics import REGISTRY
from refnet.services.webhooks.metrics import WebhookMetrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "refnet.json"
PROMETHEUS_OWN = {"up"}  # written by Prometheus for every scrape target
_NAME = re.compile(r"\b(refnet_[a-z0-9_]+)\b")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported(registry: CollectorRegistry) -> set[str]:
    """The sample names a scrape of `registry` can show."""
    names = set()
    for family in registry.collect():
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def alert_rules() -> list[dict[str, object]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_expressions() -> Iterator[str]:
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel["targets"]:
            yield target["expr"]


def test_every_expression_names_a_metric_the_code_exports() -> None:
    known = exported(WorkerMetrics().registry) | exported(REGISTRY)
    known |= exported(WebhookMetrics().registry)
    expressions = [str(r["expr"]) for r in alert_rules()] + list(dashboard_expressions())
    used = {name for e in expressions for name in _NAME.findall(e)}
    assert used, "no RefNet metric found in the rules and the dashboard"
    assert used <= known, f"not exported: {sorted(used - known)}"
    # And every exported family is on the dashboard: a metric nobody looks at is noise.
    shown = {name for e in dashboard_expressions() for name in _NAME.findall(e)}
    families = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in known}
    unseen = {f for f in families if not any(s.startswith(f) for s in shown)}
    assert not unseen, f"exported but on no panel: {sorted(unseen)}"
    for e in expressions:
        bare = set(re.findall(r"\b(?!refnet_)([a-z_]+)\{", e))
        assert bare <= PROMETHEUS_OWN, f"{e}: unknown metrics {bare - PROMETHEUS_OWN}"


def test_every_alert_says_how_urgent_and_what_happened() -> None:
    for rule in alert_rules():
        labels, notes = rule["labels"], rule["annotations"]
        assert isinstance(labels, dict) and labels["severity"] in ("page", "ticket"), rule
        assert isinstance(notes, dict) and notes["summary"], rule


def test_dashboard_panels_each_query_prometheus() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "refnet-operations"
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_the_reason_label_is_the_first_word_of_a_dead_letter_s_reason() -> None:
    assert reason_class("undecodable: Expecting value: line 1") == "undecodable"
    assert reason_class("invalid: message key is not the event's participant_id") == "invalid"
    assert reason_class("unsigned: no signature") == "unsigned"
    assert reason_class("forged: signed with awo-en's key but names partner x") == "forged"
    assert reason_class("") == "unknown"
    assert reason_class("{weird}: x") == "unknown"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("promtool is missing under CI: `make promtool` installs it")
        pytest.skip("promtool is not installed (`make promtool`)")
    return found


@pytest.mark.parametrize(
    "args",
    [
        ["check", "rules", "alerts.yml"],
        ["check", "config", "prometheus.yml"],
        ["test", "rules", "alerts.test.yml"],
    ],
    ids=["rules", "config", "rule-tests"],
)
def test_promtool_accepts_the_rules_and_their_tests(args: list[str]) -> None:
    done = subprocess.run(
        [_promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
