"""What each console page shows, assembled from the functions the API and the CLI already use.

The queues are `queue_page` (GET /v1/deferred's and /v1/audits'), explained by
`Policy.explain_records` (what `explain=true` answers); the policy page is `Policy.describe`,
the rule layer's health over logged traffic (`service.deployment`) and the registry's versions
(`autoresolve models list`'s rows); the report page is `model.report.build_report` on
`service.deployment`'s tables, rendered by `model.report_html` (`autoresolve report`'s). No page
computes anything of its own."""

from __future__ import annotations

from typing import Any

from autoresolve.service.errors import NotReady
from autoresolve.service.routes.labels import queue_page
from autoresolve.service.state import Service

DEFER_REASONS = {
    "rule": "a rule says to defer",
    "novel": "unlike the records the model was trained on",
    "low_confidence": "the model's confidence is below its certified threshold",
    "no_model": "the model resolves nothing (no certified threshold)",
    "guard": "automatic resolution suspended by the precision guard",
    "invalid": "the record failed validation",
}


def queue_view(
    svc: Service, queue: str, limit: int, cursor: str | None, start: int
) -> dict[str, Any]:
    """A page of a labelling queue, each record with its fields and why it was decided so."""
    page = queue_page(svc, queue, limit, cursor)
    items = page["items"]
    whys = _explain(svc, [it["record"] for it in items], items)
    fields = list(svc.domain.field_types)
    page["items"] = [
        it
        | {
            "fields": [(f, it["record"].get(f)) for f in fields],
            "reason_text": DEFER_REASONS.get(it["defer_reason"] or "", it["defer_reason"]),
            "why": why,
        }
        for it, why in zip(items, whys, strict=True)
    ]
    page["resolutions"] = list(svc.domain.resolutions)
    page |= {"queue": queue, "cursor": cursor or "", "start": start}
    return page


def _explain(svc: Service, records: list[dict], decisions: list[dict]) -> list[dict]:
    if not records:
        return []
    try:
        policy = svc.policy()
    except NotReady as exc:  # the queue is still worth working through without a policy
        return [{"kind": "none", "unavailable": str(exc)} for _ in records]
    return policy.explain_records(records, decisions)


def policy_view(svc: Service) -> dict[str, Any]:
    """The serving policy, its certificate per class, its rules with their health, its history."""
    from autoresolve.service.deployment import ReportUnavailable, rule_health_of

    policy = svc.policy()
    d = policy.describe()
    cert = d.get("certificate") or {}
    view: dict[str, Any] = {
        "policy": d,
        "certificate": {k: v for k, v in cert.items() if not isinstance(v, dict | list)},
        "per_class": d.get("per_class") or {},
        "never_resolved": _by_reason(d.get("never_resolved") or {}),
        "rules": list(getattr(policy.rules, "rules", ()) or ()),
        "reload": svc.holder.status.to_dict() if svc.holder else {},
    }
    try:
        view["health"] = _rows(rule_health_of(svc.domain, svc.the_store(), policy, svc.settings))
    except ReportUnavailable as exc:
        view["health_error"] = str(exc)
    view["versions"], view["versions_error"] = _versions(svc, str(policy.rules.version))
    return view


def _by_reason(never: dict[str, str]) -> dict[str, list[str]]:
    """Resolutions the model never resolves, grouped by the reason (often one for all)."""
    out: dict[str, list[str]] = {}
    for resolution, why in never.items():
        out.setdefault(why, []).append(resolution)
    return out


def _versions(svc: Service, rules_version: str) -> tuple[list[dict], str | None]:
    source = svc.holder.source if svc.holder else None
    versions = getattr(source, "versions", None)
    if versions is None:
        return [], "this service's policy source keeps no version history"
    try:
        return versions(rules_version), None
    except Exception as exc:  # the registry is down: the page still shows the rest
        return [], f"the registry did not answer: {exc}"


def report_view(svc: Service) -> dict[str, Any]:
    """`autoresolve report` for the serving policy, rendered from the store as it is now."""
    from autoresolve.model.report import build_report
    from autoresolve.model.report_html import report_sections
    from autoresolve.service.deployment import (
        ReportUnavailable,
        champion_view,
        deployment_tables,
    )

    policy = svc.policy()
    summary = _data_summary(svc)
    try:
        tables = deployment_tables(
            svc.domain, svc.the_store(), svc.settings, champion=champion_view(policy, summary)
        )
    except ReportUnavailable as exc:
        return {"error": str(exc)}
    rep = build_report(svc.domain, **tables)
    return {"sections": report_sections(rep, level=2)}


def _data_summary(svc: Service) -> dict[str, Any] | None:
    source = svc.holder.source if svc.holder else None
    summary = getattr(source, "data_summary", None)
    try:
        return summary() if summary is not None else None
    except Exception:  # no summary, no drift section: the rest of the report stands
        return None


def _rows(df: Any) -> list[dict[str, Any]]:
    from autoresolve.model.report_html import cell_text

    if df is None or df.empty:
        return []
    return [{str(k): cell_text(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
