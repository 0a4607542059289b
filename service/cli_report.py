"""report: how a live deployment is doing — autonomy, realised precision, drift, rule health.

The IO edge of `model.report`: reads the decision store and the registry into tables, hands them
to the pure report, and writes the result to the terminal, JSON or one HTML file.
"""

from __future__ import annotations

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
    progress_status,
    wide_console,
)
from autoresolve.service.deployment import LINT_COLUMNS


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
    with progress_status("reading the decision log and the registry"):
        tables = _deployment_tables(dom, recent_days, cluster_days)
    with progress_status("building the report"):
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


# ---------------------------------------------------------------- the terminal view


def _deployment_tables(dom, recent_days: int, cluster_days: int) -> dict[str, Any]:
    from autoresolve.service.deployment import ReportUnavailable, deployment_tables
    from autoresolve.service.store import DecisionStore, StoreUnavailable

    settings = offline_settings(dom.directory)
    try:
        store = DecisionStore.from_url(settings.store_url)
        if store.current_revision() is not None and not store.is_current():
            store.migrate()
        return deployment_tables(dom, store, settings, recent_days, cluster_days)
    except (ReportUnavailable, StoreUnavailable) as exc:
        fail(str(exc))


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
