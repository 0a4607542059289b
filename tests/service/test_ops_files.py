"""The Grafana dashboard and the Prometheus alert rules in ops/ name only metrics that a running
service exports, and the rules are valid (promtool, when installed).

The live check runs on the real server of test_service_uvicorn.py (`autoresolve serve`, two
uvicorn workers, multi-process metrics): after it decides, defers, takes a label and refuses a
request, every name must be in its /metrics.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from autoresolve.service.problems import KINDS
from tests.support import ROOT

DASHBOARD = ROOT / "ops" / "grafana" / "autoresolve.json"
ALERTS = ROOT / "ops" / "prometheus" / "alerts.yml"

# Metrics the ops files may name before the service exports them, with the work that adds them.
# Once exported they are checked like every other name; delete the entry when that work lands.
PENDING: dict[str, str] = {}
# Series Prometheus writes itself for every scrape target (never in /metrics).
SCRAPE_SERIES = {"up"}

_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "and", "or", "unless", "inf", "nan",
}  # fmt: skip
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads.

    Strings, Grafana variables, label matchers, range selectors and grouping clauses go first;
    what is left is function names (followed by `(`), keywords, numbers and metric names.
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", "", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+\w+", " ", text)
    names = set()
    for m in _IDENT.finditer(text):
        word = m.group()
        after = text[m.end() :].lstrip()
        if after.startswith("(") or word.lower() in _KEYWORDS:
            continue
        if re.fullmatch(r"\d.*", word):
            continue
        names.add(word)
    return names


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def dashboard_exprs() -> list[str]:
    return list(_exprs(json.loads(DASHBOARD.read_text(encoding="utf-8"))))


def alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def referenced() -> dict[str, set[str]]:
    """Metric name → the files naming it."""
    out: dict[str, set[str]] = {}
    for where, exprs in (("dashboard", dashboard_exprs()), ("alerts", alert_exprs())):
        for expr in exprs:
            for name in metric_names(expr):
                out.setdefault(name, set()).add(where)
    return out


def test_metric_names_are_read_from_promql():
    expr = (
        "histogram_quantile(0.99, sum by (le, endpoint) "
        '(rate(autoresolve_request_seconds_bucket{endpoint="resolve", kind=~"a|b"}'
        "[$__rate_interval])))"
        " / on(domain) group_left max(autoresolve_x offset 1d) > 0.25 and up == 0"
    )
    assert metric_names(expr) == {"autoresolve_request_seconds_bucket", "autoresolve_x", "up"}
    assert metric_names("absent(autoresolve_policy_info) == 1") == {"autoresolve_policy_info"}


def test_ops_files_name_only_our_metrics_and_cover_what_operators_watch():
    names = referenced()
    unknown = {n for n in names if not n.startswith("autoresolve_") and n not in SCRAPE_SERIES}
    assert not unknown, f"not autoresolve metrics: {unknown}"
    for wanted in (
        "autoresolve_decisions_total",  # autonomy, deferrals by reason
        "autoresolve_request_seconds_bucket",  # p99 latency
        "autoresolve_deferred_queue_depth",
        "autoresolve_policy_reloads_total",  # reload failures
        "autoresolve_guard_state",
    ):
        assert names.get(wanted) == {"dashboard", "alerts"}, wanted


def test_error_kinds_in_the_ops_files_are_problem_kinds():
    text = DASHBOARD.read_text() + ALERTS.read_text()
    for kind in re.findall(r'kind=\\?"([^"\\]+)', text):
        assert kind in KINDS, f"kind {kind!r} is no problem kind (service/problems.py)"


def test_dashboard_panels_are_well_formed():
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        assert p["datasource"]["uid"] == "${datasource}" and p["targets"], p["title"]


def test_alert_rules_pass_promtool():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus); rules unchecked")
    out = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr


def unexported(metrics_text: str) -> dict[str, set[str]]:
    """Names the ops files read that `metrics_text` (a /metrics answer) lacks, with the files
    naming them; pending names are allowed to be missing. The live test that calls this is in
    test_service_uvicorn.py, on that module's running server."""
    exported = {s.name for fam in text_string_to_metric_families(metrics_text) for s in fam.samples}
    return {
        name: where
        for name, where in referenced().items()
        if name not in exported and name not in PENDING and name not in SCRAPE_SERIES
    }


def test_an_empty_scrape_lacks_every_name_but_the_pending_ones():
    missing = unexported("")
    assert (
        "autoresolve_decisions_total" in missing and "autoresolve_deferred_queue_depth" in missing
    )
    assert not set(missing) & (set(PENDING) | SCRAPE_SERIES)
