"""simulate, report: the autonomy loop measured — a replay of history, a live deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from autoresolve.service.cli_common import EXIT_USAGE, emit_json, err_console, fail

DomainOpt = Annotated[
    Path, typer.Option("--domain", help="domain folder (domain.yaml, rules.yaml)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout only")]


def _pct(v: Any) -> str:
    return "—" if v is None or v != v else f"{100 * float(v):.1f}%"


def _interval(p: dict[str, Any] | None) -> str:
    if not p or not p.get("n"):
        return "—"
    return f"{_pct(p['precision'])} [{_pct(p['low'])}, {_pct(p['high'])}] n={p['n']}"


def _load_domain(path: Path):
    from autoresolve.model.domain import DomainError, load_domain

    try:
        return load_domain(path)
    except DomainError as exc:
        fail(str(exc), EXIT_USAGE)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        fail(f"--data {path}: no such file. Give a CSV or Parquet file of labelled records.")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if name.endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")):
        return pd.read_csv(path, low_memory=False)
    fail(f"--data {path}: unknown file type; use .csv (optionally compressed) or .parquet.")


def _simulation_data(domain, data: Path | None, rows: int | None):
    """The labelled history to replay, plus case kinds when the CRM generator made it."""
    kinds = new_kinds = None
    if data is None and domain.generator == "crm":
        # The demo's records come from a seeded generator: regenerate them with the hidden case
        # kinds, so the replay can show when the late-arriving kinds stop being deferred.
        from autoresolve.model import crm_demo

        df, meta = crm_demo.generate_with_meta(rows or crm_demo.DEFAULT_N)
        return df, meta["case_kind"].to_numpy(), list(crm_demo.NEW_KINDS)
    from autoresolve.model.datasets import load_domain_frame
    from autoresolve.model.domain import DomainError

    try:
        df = load_domain_frame(domain, data)
    except DomainError as exc:
        fail(str(exc))
    if rows is not None:
        df = df.head(rows)
    return df, kinds, new_kinds


def simulation_table(result: dict[str, Any]) -> Table:
    t = Table(
        title=f"Replay of {result['domain']} — target precision {_pct(result['target_precision'])}"
    )
    for col in (
        "period",
        "span",
        "records",
        "autonomy",
        "rules only",
        "first model",
        "model precision [95% CI]",
        "audit view (model)",
        "deferred/1k",
        "promoted",
    ):
        t.add_column(col, justify="right" if col not in ("span", "promoted") else "left")
    rules_only = {b["period"]: b for b in result["baselines"].get("rules_only", [])}
    first = {b["period"]: b for b in result["baselines"].get("first_model", [])}
    for p in result["periods"]:
        if p.get("role") == "train":
            t.add_row(
                str(p["period"]),
                f"{p.get('start')} … {p.get('end')}",
                str(p["records"]),
                "train",
                "",
                "",
                "",
                "",
                "",
                "",
            )
            continue
        k = p["period"]
        audit = (p.get("audit") or {}).get("model_precision")
        t.add_row(
            str(k),
            f"{p.get('start')} … {p.get('end')}",
            str(p["records"]),
            _pct(p.get("autonomy")),
            _pct(rules_only.get(k, {}).get("autonomy")),
            _pct(first.get(k, {}).get("autonomy")),
            _interval(p.get("model_precision")),
            _interval(audit),
            "—" if p.get("deferred_per_1000") is None else f"{p['deferred_per_1000']:.0f}",
            "yes"
            if p.get("promoted")
            else ("gates failed" if p.get("retrain", {}).get("trained") else ""),
        )
    return t


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        domain: DomainOpt,
        data: Annotated[
            Path | None, typer.Option(help="labelled history (CSV/Parquet); default: the domain's")
        ] = None,
        periods: Annotated[int, typer.Option(min=2, help="periods; the first trains")] = 12,
        audit_rate: Annotated[
            float, typer.Option(min=0.0, max=1.0, help="share of automatic decisions audited")
        ] = 0.02,
        seed: int = 0,
        split: Annotated[
            str, typer.Option(help="auto | time (equal spans) | count (equal record counts)")
        ] = "auto",
        retrain: Annotated[str, typer.Option(help="if_needed | always | never")] = "if_needed",
        min_new_labels: Annotated[int, typer.Option(help="retrain trigger: new labels")] = 200,
        window_fraction: Annotated[
            float, typer.Option(help="share of the newest labels held out for the gates")
        ] = 0.25,
        shuffled_fit: Annotated[
            bool,
            typer.Option(help="what-if: challengers fit on random, not time-ordered, splits"),
        ] = False,
        rows: Annotated[int | None, typer.Option(help="use only the first ROWS records")] = None,
        plot: Annotated[Path | None, typer.Option(help="write the autonomy curve (PNG)")] = None,
        json_: JsonOpt = False,
    ) -> None:
        """Replay a time-ordered dataset: the autonomy curve, with baselines."""
        from autoresolve.model.simulate import RetrainPolicy, precision_plot_png
        from autoresolve.model.simulate import simulate as run

        dom = _load_domain(domain)
        if split not in ("auto", "time", "count"):
            fail(f"--split {split!r}: use auto, time or count.", EXIT_USAGE)
        try:
            rp = RetrainPolicy(
                mode=retrain.replace("-", "_"),
                min_new_labels=min_new_labels,
                window_fraction=window_fraction,
                shuffled_fit=shuffled_fit,
            )
        except ValueError as exc:
            fail(f"--retrain: {exc}", EXIT_USAGE)
        df, kinds, new_kinds = _simulation_data(dom, data, rows)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task("replay", total=periods)

            def progress(msg: str, done: int, total: int) -> None:
                bar.update(task, description=msg, completed=done, total=total)

            try:
                result = run(
                    dom,
                    df,
                    periods,
                    audit_rate=audit_rate,
                    seed=seed,
                    retrain_policy=rp,
                    progress=progress,
                    kinds=kinds,
                    new_kinds=new_kinds,
                    split=split,
                )
            except ValueError as exc:
                fail(f"simulate: {exc}")
        out = result.to_dict()
        if plot is not None:
            plot.parent.mkdir(parents=True, exist_ok=True)
            plot.write_bytes(result.plot_png())
            prec = plot.with_name(plot.stem + "_precision" + plot.suffix)
            prec.write_bytes(precision_plot_png(result))
            out["plots"] = [str(plot), str(prec)]
        if json_:
            emit_json(out)
            return
        console = _console()
        console.print(simulation_table(out))
        for kind, info in out.get("new_kinds", {}).items():
            rates = ", ".join(
                f"p{r['period']}: {_pct(r['deferred_rate'])}"
                for r in info["periods"]
                if r["records"]
            )
            settled = info.get("settled")
            when = (
                f"settled from period {settled['period']} after {settled['labels_before']} labels"
                if settled
                else "not settled"
            )
            console.print(f"new kind [bold]{kind}[/]: deferral {rates or 'none seen'} — {when}")
        s = out.get("summary", {})
        console.print(
            f"autonomy {_pct(s.get('first_autonomy'))} → {_pct(s.get('last_autonomy'))}; "
            f"rules only {_pct(s.get('rules_only_last_autonomy'))}, first model never retrained "
            f"{_pct(s.get('first_model_last_autonomy'))} (last period); "
            f"{s.get('promotions', 0)} promotions of {s.get('retrains', 0)} retrains; "
            f"{out['seconds']:.0f}s"
        )
        if plot is not None:
            console.print(f"plots: {', '.join(out['plots'])}")

    @app.command()
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
        from autoresolve.model.report import build_report, render_html

        dom = _load_domain(domain)
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
            _console().print(f"HTML report: {html}")


def _deployment_tables(dom, recent_days: int, cluster_days: int = 30) -> dict[str, Any]:
    """Read the store and the registry; everything the pure report needs, as tables."""
    from autoresolve.model.drift import drift
    from autoresolve.service.settings import load_settings
    from autoresolve.service.store import DecisionStore, StoreUnavailable

    settings = load_settings(domain=dom.directory)
    try:
        store = DecisionStore.from_url(settings.store_url)
        decisions = store.decisions_frame(dom)
        labels = store.labelled_frame(dom)
        queue = store.deferred(dom, limit=1)
        depth = store.queue_depth(dom)
    except StoreUnavailable as exc:
        fail(f"decision store: {exc}")
    labels = labels.rename(columns={dom.id: "record_id"}) if dom.id != "record_id" else labels
    # Clusters over every recent deferral (latest decision per record), labelled or not: the
    # labelled ones say what people did with such records, which is what a new rule needs.
    latest = decisions.drop_duplicates("record_id", keep="last")
    deferred = latest[latest["outcome"].eq("deferred")]
    if not deferred.empty:
        when = pd.to_datetime(deferred["decided_at"], utc=True, format="ISO8601")
        deferred = deferred[when >= when.max() - pd.Timedelta(days=cluster_days)]
    deferred = deferred.rename(columns={"record_id": dom.id}) if dom.id != "record_id" else deferred
    del queue

    policy_info: dict[str, Any] = {}
    drift_df = pd.DataFrame()
    summary = None
    champion = None
    uri = settings.tracking_uri
    local = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    try:
        import json

        if local is not None and not local.is_file():
            raise FileNotFoundError(f"no MLflow store at {local}; train a policy first")
        from autoresolve.model import registry

        registry.configure(uri, settings.artifact_root)
        champion = registry.load_policy(dom.name)
        d = champion.describe()
        policy_info = {
            k: d.get(k) for k in ("version", "rules_version", "threshold", "trained_at") if k in d
        }
        text = registry.load_artifact_text(dom.name, "champion", "data_summary.json")
        summary = json.loads(text) if text else None
    except Exception as exc:  # the report still shows the store's view without a registry
        policy_info = {"registry": f"unavailable: {exc}"}
    if summary is not None and not decisions.empty:
        when = pd.to_datetime(decisions["decided_at"], utc=True, format="ISO8601")
        recent = decisions[when >= when.max() - pd.Timedelta(days=recent_days)]
        scores = drift(summary, recent)
        drift_df = pd.DataFrame(
            [{"field": f, "psi": v} for f, v in sorted(scores.items(), key=lambda kv: -kv[1])]
        )
    rule_health = _rule_health(dom, champion, decisions, labels)
    return {
        "decisions": decisions,
        "labels": labels,
        "deferred": deferred,
        "drift": drift_df,
        "rule_health": rule_health,
        "queue_depth": depth,
        "policy": policy_info,
    }


def _rule_health(dom, champion, decisions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The rule layer's lint over the logged traffic, with labels where they exist."""
    from autoresolve import rules as rules_pkg

    try:
        ruleset = (
            champion.rules
            if champion is not None and hasattr(champion.rules, "rule_masks")
            else rules_pkg.load_rules(dom.rules_path, dom.field_types, dom.resolutions)
        )
    except (rules_pkg.RuleError, OSError) as exc:
        return pd.DataFrame([{"rule_id": "—", "findings": f"rules unavailable: {exc}"}])
    if decisions.empty:
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
    return lint_frame(report.to_dict())


def lint_frame(lint: dict[str, Any]) -> pd.DataFrame:
    """One row per rule: fires, coverage, precision with its interval, status and findings."""
    rows = pd.DataFrame(lint.get("rules") or [])
    if rows.empty:
        return rows
    notes: dict[str, list[str]] = {}
    for f in lint.get("findings") or []:
        notes.setdefault(f["rule_id"], []).append(f"{f['kind']}: {f['message']}")
    rows["findings"] = ["; ".join(notes.get(r, [])) for r in rows["rule_id"]]
    keep = [
        "rule_id",
        "then",
        "fires",
        "coverage",
        "labelled",
        "precision",
        "ci_low",
        "ci_high",
        "status",
        "findings",
    ]
    return rows[[c for c in keep if c in rows.columns]]


def _console() -> Console:
    """Wide enough for the tables even when stdout is a pipe (rich would assume 80 columns)."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _print_report(rep) -> None:
    from autoresolve.model.report import cell_text

    console = _console()

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
        [
            "rule_id",
            "then",
            "fires",
            "coverage",
            "labelled",
            "precision",
            "ci_low",
            "ci_high",
            "status",
        ],
    )
    show(f"Deferred queue: {rep.queue_depth} — largest clusters of recent deferrals", rep.clusters)
