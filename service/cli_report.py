"""report: how a live deployment is doing — autonomy, realised precision, drift, rule health.

The IO edge of `model.report`: reads the decision store and the registry into tables, hands them
to the pure report, and writes the result to the terminal, JSON or one HTML file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from autoresolve.service.cli_common import (
    DomainOpt,
    JsonOpt,
    emit_json,
    fail,
    load_domain_or_fail,
    offline_settings,
    wide_console,
)


def report(
    domain: DomainOpt,
    html: Annotated[Path | None, typer.Option(help="write a self-contained HTML file")] = None,
    recent_days: Annotated[int, typer.Option(help="recent traffic window for drift")] = 7,
    cluster_days: Annotated[
        int, typer.Option(help="window of deferrals grouped into clusters")
    ] = 30,
    freq: Annotated[str, typer.Option(help="autonomy bucket: D, W or M")] = "D",
    json_: JsonOpt = False,
) -> None:
    """Autonomy, realised precision, drift and rule health of a live deployment."""
    from autoresolve.model.report import build_report
    from autoresolve.model.report_html import render_html

    dom = load_domain_or_fail(domain)
    tables = _deployment_tables(dom, recent_days, cluster_days)
    rep = build_report(dom, freq=freq, **tables)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html(rep), encoding="utf-8")
    if json_:
        emit_json(rep.to_dict() | ({"html": str(html)} if html else {}))
        return
    _print_report(rep)
    if html is not None:
        wide_console().print(f"HTML report: {html}")


def register(app: typer.Typer) -> None:
    app.command()(report)


# ---------------------------------------------------------------- reading the deployment

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


def _deployment_tables(dom, recent_days: int, cluster_days: int = 30) -> dict[str, Any]:
    """Read the store and the registry; everything the pure report needs, as tables."""
    settings = offline_settings(dom.directory)
    decisions, labels, depth, guard = _store_tables(dom, settings.store_url)
    champion, policy_info, summary = _champion(dom, settings)
    return {
        "decisions": decisions,
        "labels": labels,
        "deferred": _recent_deferrals(dom, decisions, cluster_days),
        "drift": _recent_drift(summary, decisions, recent_days),
        "rule_health": _rule_health(dom, champion, decisions, labels),
        "queue_depth": depth,
        "policy": policy_info,
        "guard": guard,
    }


def _store_tables(dom, store_url: str) -> tuple[pd.DataFrame, pd.DataFrame, int, pd.DataFrame]:
    """The decision log, the labels, the queue depth (each keyed `record_id` only) and the
    precision guard of each policy version.

    A logged record carries the domain's own id (`case_id` …) beside the decision's `record_id`,
    with the same value: it is dropped, so renaming back to the domain's id cannot make two."""
    from autoresolve.service.guard_keeper import guard_table
    from autoresolve.service.store import DecisionStore, StoreUnavailable

    try:
        store = DecisionStore.from_url(store_url)
        if store.current_revision() is not None and not store.is_current():
            store.migrate()
        if store.current_revision() is None:
            fail(
                f"no decisions logged yet for domain '{dom.name}' (the decision store "
                f"{store.url} has no decision log). Decisions are logged by "
                "`autoresolve resolve` and `autoresolve serve`; run one, then the report."
            )
        decisions = store.decisions_frame(dom)
        labels = store.labelled_frame(dom)
        depth = store.queue_depth(dom)
        guard = guard_table(store.read_guards(dom))
    except StoreUnavailable as exc:
        fail(f"decision store: {exc}")
    if dom.id != "record_id":
        decisions = decisions.drop(columns=[dom.id], errors="ignore")
        labels = labels.drop(columns=["record_id"], errors="ignore")
        labels = labels.rename(columns={dom.id: "record_id"})
    return decisions, labels, depth, guard


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


def _champion(dom, settings) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
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
        d = champion.describe()
        info = {
            k: d.get(k) for k in ("version", "rules_version", "threshold", "trained_at") if k in d
        }
        text = registry.load_artifact_text(dom.name, "champion", "data_summary.json")
        return champion, info, json.loads(text) if text else None
    except Exception as exc:
        return None, {"registry": f"unavailable: {exc}"}, None


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


def _domain_rules(dom) -> Any:
    """The domain's rule files, checked against its resolutions (the data file's labels when
    domain.yaml lists none: without a champion there is no trained set to take)."""
    from autoresolve.model.train import default_rules
    from autoresolve.service.domains import complete_domain

    return default_rules(complete_domain(dom, offline_settings(dom.directory)))


def _rule_health(dom, champion, decisions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The rule layer's lint over the logged traffic, with labels where they exist."""
    from autoresolve import rules as rules_pkg
    from autoresolve.model.domain import DomainError

    try:
        ruleset = (
            champion.rules
            if champion is not None and hasattr(champion.rules, "rule_masks")
            else _domain_rules(dom)
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


# ---------------------------------------------------------------- the terminal view


def _print_report(rep) -> None:
    from autoresolve.model.report_html import cell_text

    console = wide_console()

    def show(title: str, df: pd.DataFrame, columns: list[str] | None = None) -> None:
        if df is None or df.empty:
            console.print(f"[dim]{title}: nothing to show[/]")
            return
        cols = [c for c in (columns or list(df.columns)) if c in df.columns]
        t = Table(title=title)
        for c in cols:
            t.add_column(str(c), overflow="fold")
        for row in df[cols].itertuples(index=False):
            t.add_row(*[cell_text(v)[:90] for v in row])
        console.print(t)

    console.print(f"[bold]autoresolve report — {rep.domain}[/]  policy: {rep.policy}")
    for n in rep.notes:
        console.print(f"[yellow]![/] {n}")
    show("Autonomy over time", rep.autonomy)
    show("Realised precision from audit labels (95% Clopper–Pearson)", rep.precision)
    show("Drift per field (PSI, training → recent)", rep.drift)
    show(
        "Rule health (lint over logged traffic; findings in the HTML)",
        rep.rule_health,
        LINT_COLUMNS[:-1],
    )
    show(f"Deferred queue: {rep.queue_depth} — largest clusters of recent deferrals", rep.clusters)
    show("Precision guard (from the store; audited labels of each served version)", rep.guard)
