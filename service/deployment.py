"""A live deployment read into the tables `model.report` turns into the report.

One reader for `autoresolve report` (the CLI opens the store and the registry) and the service's
console (which holds both already): the decision log, the labels, the queue depth, recent
deferrals, drift against the champion's training data, and rule health over the logged traffic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


class ReportUnavailable(RuntimeError):
    """The store cannot give the report's tables; the message says why and what to do."""


LINT_COLUMNS = [
    "rule_id",
    "then",
    "fires",
    "coverage",
    "labelled",
    "precision",
    "ci_low",
    "ci_high",
    "status",
    "wrong",  # a few labelled records it got wrong (rules below their bar)
    "findings",  # long: the terminal leaves it to the HTML
]


def deployment_tables(
    dom,
    store,
    settings,
    recent_days: int = 7,
    cluster_days: int = 30,
    champion: tuple[Any, dict[str, Any], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Everything the pure report needs, as tables, from an open store and the registry.

    `champion` is (policy, what the report shows of it, its training data summary) when the
    caller already holds them (the service); otherwise the registry's @champion is loaded."""
    decisions, labels, depth = _store_tables(dom, store)
    policy, policy_info, summary = champion or load_champion(dom, settings)
    return {
        "decisions": decisions,
        "labels": labels,
        "deferred": _recent_deferrals(dom, decisions, cluster_days),
        "drift": _recent_drift(summary, decisions, recent_days),
        "rule_health": rule_health_frame(dom, policy, decisions, labels, settings),
        "queue_depth": depth,
        "policy": policy_info,
        "guard": _guard_table(dom, store),
    }


def _guard_table(dom, store) -> pd.DataFrame:
    """The precision guard of each policy version, as the store holds it."""
    from autoresolve.service.guard_keeper import guard_table
    from autoresolve.service.store import StoreUnavailable

    try:
        return guard_table(store.read_guards(dom))
    except StoreUnavailable as exc:
        raise ReportUnavailable(f"decision store: {exc}") from exc


def rule_health_of(dom, store, policy, settings) -> pd.DataFrame:
    """The rule layer's health over the logged traffic (the report's rule health table)."""
    decisions, labels, _ = _store_tables(dom, store)
    return rule_health_frame(dom, policy, decisions, labels, settings)


def _store_tables(dom, store) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The decision log, the labels and the queue depth, each keyed `record_id` only.

    A logged record carries the domain's own id (`case_id` …) beside the decision's `record_id`,
    with the same value: it is dropped, so renaming back to the domain's id cannot make two."""
    from autoresolve.service.store import StoreUnavailable

    try:
        if store.current_revision() is None:
            raise ReportUnavailable(
                f"no decisions logged yet for domain '{dom.name}' (the decision store "
                f"{store.url} has no decision log). Decisions are logged by "
                "`autoresolve resolve` and `autoresolve serve`; run one, then the report."
            )
        decisions = store.decisions_frame(dom)
        labels = store.labelled_frame(dom)
        depth = store.queue_depth(dom)
    except StoreUnavailable as exc:
        raise ReportUnavailable(f"decision store: {exc}") from exc
    if dom.id != "record_id":
        decisions = decisions.drop(columns=[dom.id], errors="ignore")
        labels = labels.drop(columns=["record_id"], errors="ignore")
        labels = labels.rename(columns={dom.id: "record_id"})
    return decisions, labels, depth


def _recent_deferrals(dom, decisions: pd.DataFrame, cluster_days: int) -> pd.DataFrame:
    """Every recent deferral (latest decision per record), labelled or not.

    The labelled ones say what people did with such records, which is what a new rule needs.
    """
    latest = decisions.drop_duplicates("record_id", keep="last")
    deferred = latest[latest["outcome"].eq("deferred")]
    if not deferred.empty:
        when = pd.to_datetime(deferred["decided_at"], utc=True, format="ISO8601")
        deferred = deferred[when >= when.max() - pd.Timedelta(days=cluster_days)]
    return deferred.rename(columns={"record_id": dom.id}) if dom.id != "record_id" else deferred


def load_champion(dom, settings) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
    """(champion policy, what the report shows of it, its training data summary), or what the
    registry said instead: the report still shows the store's view without a registry."""
    uri = settings.tracking_uri
    local = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    try:
        if local is not None and not local.is_file():
            raise FileNotFoundError(f"no MLflow store at {local}; train a policy first")
        from autoresolve.model import registry

        registry.configure(uri, settings.artifact_root)
        champion = registry.load_policy(dom.name)
        text = registry.load_artifact_text(dom.name, "champion", "data_summary.json")
        return champion_view(champion, json.loads(text) if text else None)
    except Exception as exc:
        return None, {"registry": f"unavailable: {exc}"}, None


def champion_view(
    champion: Any, summary: dict[str, Any] | None
) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
    """(policy, what the report shows of it, its training data summary)."""
    d = champion.describe()
    info = {k: d.get(k) for k in ("version", "rules_version", "threshold", "trained_at") if k in d}
    return champion, info, summary


def _recent_drift(
    summary: dict[str, Any] | None, decisions: pd.DataFrame, recent_days: int
) -> pd.DataFrame:
    """PSI per field between the champion's training data and the last `recent_days` of traffic."""
    from autoresolve.model.drift import drift

    if summary is None or decisions.empty:
        return pd.DataFrame()
    when = pd.to_datetime(decisions["decided_at"], utc=True, format="ISO8601")
    recent = decisions[when >= when.max() - pd.Timedelta(days=recent_days)]
    scores = drift(summary, recent)
    return pd.DataFrame(
        [{"field": f, "psi": v} for f, v in sorted(scores.items(), key=lambda kv: -kv[1])]
    )


def _domain_rules(dom, settings) -> Any:
    """The domain's rule files, checked against its resolutions (the data file's labels when
    domain.yaml lists none: without a champion there is no trained set to take)."""
    from autoresolve.model.policy import default_rules
    from autoresolve.service.domains import complete_domain

    return default_rules(complete_domain(dom, settings))


def rule_health_frame(
    dom, champion, decisions: pd.DataFrame, labels: pd.DataFrame, settings
) -> pd.DataFrame:
    """The rule layer's lint over the logged traffic, with labels where they exist."""
    from autoresolve import rules as rules_pkg
    from autoresolve.model.domain import DomainError

    try:
        ruleset = (
            champion.rules
            if champion is not None and hasattr(champion.rules, "rule_masks")
            else _domain_rules(dom, settings)
        )
    except (rules_pkg.RuleError, OSError, DomainError) as exc:
        return pd.DataFrame([{"rule_id": "—", "findings": f"rules unavailable: {exc}"}])
    if decisions.empty or not hasattr(ruleset, "rule_masks"):  # no rule file: no rules to lint
        return pd.DataFrame()
    fields = [c for c in decisions.columns if c in dom.field_types]
    traffic = decisions[["record_id", *fields]].drop_duplicates("record_id", keep="last")
    if dom.label in labels.columns and not labels.empty:
        lab = labels[["record_id", dom.label]].drop_duplicates("record_id", keep="last")
        traffic = traffic.merge(lab, on="record_id", how="left")
    if dom.id != "record_id":
        traffic = traffic.rename(columns={"record_id": dom.id})
    report = rules_pkg.lint(
        ruleset,
        traffic.reset_index(drop=True),
        dom.label if dom.label in traffic.columns else None,
        dom.policy.target_precision,
    )
    frame = lint_frame(report.to_dict())
    if not frame.empty and dom.label in traffic.columns:
        frame["wrong"] = frame["rule_id"].map(_wrong_records(dom, ruleset, traffic)).fillna("")
    return frame


def _wrong_records(dom, ruleset, traffic: pd.DataFrame) -> dict[str, str]:
    """Per rule below its bar on the newest labels (model.rule_health): a few records it got
    wrong, as `id (field=value, …) was label`."""
    from autoresolve.model.rule_health import recent_labelled, rule_health, shown_record

    health = rule_health(ruleset, recent_labelled(dom, traffic.reset_index(drop=True)), dom)
    return {r.rule_id: "; ".join(shown_record(w) for w in r.wrong) for r in health.unhealthy}


def lint_frame(lint: dict[str, Any]) -> pd.DataFrame:
    """One row per rule: fires, coverage, precision with its interval, status and findings."""
    rows = pd.DataFrame(lint.get("rules") or [])
    if rows.empty:
        return rows
    notes: dict[str, list[str]] = {}
    for f in lint.get("findings") or []:
        notes.setdefault(f["rule_id"], []).append(f"{f['kind']}: {f['message']}")
    rows["findings"] = ["; ".join(notes.get(r, [])) for r in rows["rule_id"]]
    return rows[[c for c in LINT_COLUMNS if c in rows.columns]]
