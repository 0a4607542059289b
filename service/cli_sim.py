"""simulate: the autonomy loop measured — a replay of history with the real retraining gates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from autoresolve.service.cli_common import (
    EXIT_USAGE,
    DomainOpt,
    JsonOpt,
    emit_json,
    err_console,
    fail,
    load_domain_or_fail,
    wide_console,
)

SPLITS = ("auto", "time", "count")


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
    learned_rules: Annotated[
        bool,
        typer.Option(
            "--learned-rules",
            help="also replay a loop that retires and mines learned rules at each retraining "
            "(its own line, baseline `learned_rules`)",
        ),
    ] = False,
    guard: Annotated[
        bool,
        typer.Option(
            "--guard/--no-guard",
            help="run the precision guard on the audit labels (and the same replay without it, "
            "baseline `no_guard`)",
        ),
    ] = True,
    guard_looks: Annotated[
        int,
        typer.Option(
            min=1,
            help="times per period the guard takes in the audit labels that arrived (the "
            "labels of one block's audits arrive before the next block is decided)",
        ),
    ] = 10,
    rows: Annotated[int | None, typer.Option(help="use only the first ROWS records")] = None,
    plot: Annotated[Path | None, typer.Option(help="write the autonomy curve (PNG)")] = None,
    json_: JsonOpt = False,
) -> None:
    """Replay a time-ordered dataset: the autonomy curve, with baselines."""
    dom = load_domain_or_fail(domain)
    if split not in SPLITS:
        fail(f"--split {split!r}: use auto, time or count.", EXIT_USAGE)
    rp = _retrain_policy(retrain, min_new_labels, window_fraction, shuffled_fit)
    df, kinds, new_kinds = _simulation_data(dom, data, rows)
    result = _replay(
        dom,
        df,
        periods,
        audit_rate=audit_rate,
        seed=seed,
        retrain_policy=rp,
        kinds=kinds,
        new_kinds=new_kinds,
        split=split,
        learned_rules=learned_rules,
        guard=guard,
        guard_looks=guard_looks,
    )
    out = result.to_dict()
    if plot is not None:
        out["plots"] = _write_plots(result, plot)
    if json_:
        emit_json(out)
        return
    _print_simulation(out)


def register(app: typer.Typer) -> None:
    app.command()(simulate)


# ---------------------------------------------------------------- the steps


def _retrain_policy(retrain: str, min_new_labels: int, window_fraction: float, shuffled_fit: bool):
    from autoresolve.model.simulate import RetrainPolicy

    try:
        return RetrainPolicy(
            mode=retrain.replace("-", "_"),
            min_new_labels=min_new_labels,
            window_fraction=window_fraction,
            shuffled_fit=shuffled_fit,
        )
    except ValueError as exc:
        fail(f"--retrain: {exc}", EXIT_USAGE)


def _simulation_data(
    domain, data: Path | None, rows: int | None
) -> tuple[pd.DataFrame, np.ndarray | None, list[str] | None]:
    """The labelled history to replay, plus each record's case kind when the domain's generator
    knows them: the replay then shows when the kinds that arrive late stop being deferred."""
    from autoresolve.model.datasets import domain_generator, load_domain_frame
    from autoresolve.model.domain import DomainError

    try:
        if data is None and domain.generator:
            gen = domain_generator(domain)
            if gen.with_kinds is not None:
                df, kinds = gen.with_kinds(rows or gen.default_n, gen.default_seed)
                return df, kinds, list(gen.new_kinds)
        df = load_domain_frame(domain, data)
    except DomainError as exc:
        fail(str(exc))
    return (df.head(rows) if rows is not None else df), None, None


def _replay(dom, df: pd.DataFrame, periods: int, **options: Any):
    """`model.simulate.simulate` with a progress bar on stderr; a refused input exits 1."""
    from autoresolve.model.simulate import simulate as run

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
            return run(dom, df, periods, progress=progress, **options)
        except ValueError as exc:
            fail(f"simulate: {exc}")


def _write_plots(result, plot: Path) -> list[str]:
    """The autonomy curve at `plot` and the precision curve beside it (`<stem>_precision`)."""
    from autoresolve.model.simulate import precision_plot_png

    plot.parent.mkdir(parents=True, exist_ok=True)
    plot.write_bytes(result.plot_png())
    prec = plot.with_name(plot.stem + "_precision" + plot.suffix)
    prec.write_bytes(precision_plot_png(result))
    return [str(plot), str(prec)]


# ---------------------------------------------------------------- the terminal view


def _pct(v: Any) -> str:
    return "—" if v is None or v != v else f"{100 * float(v):.1f}%"


def _interval(p: dict[str, Any] | None) -> str:
    if not p or not p.get("n"):
        return "—"
    return f"{_pct(p['precision'])} [{_pct(p['low'])}, {_pct(p['high'])}] n={p['n']}"


TABLE_COLUMNS = (
    "period",
    "span",
    "records",
    "autonomy",
    "rules only",
    "first model",
    "learned rules",
    "model precision [95% CI]",
    "audit view (model)",
    "threshold (guard)",
    "quarantined",
    "no guard: autonomy, model precision",
    "deferred/1k",
    "promoted",
)
BELOW = " ⚠ below"  # the period's model-precision interval lies wholly below the target


def _flagged(p: dict[str, Any] | None, target: float) -> str:
    """The precision cell, flagged when the whole interval lies below the target."""
    cell = _interval(p)
    return cell + BELOW if p and p.get("n") and (p.get("high") or 0) < target else cell


def _lam(v: float | None) -> str:
    return "suspended" if v is None else f"{v:.3f}"


def _guard_cell(g: dict[str, Any] | None) -> str:
    """The threshold in effect (start → end of the period when the guard moved it) and state."""
    if not g:
        return "off"
    if g["state"] == "no_model":
        return "no certified model"
    start, end = g["threshold_start"], g["threshold_end"]
    moved = _lam(start) if start == end else f"{_lam(start)} → {_lam(end)}"
    held = f", {g['held']} held" if g["held"] else ""
    return f"{moved} ({g['state']}{held})"


def _no_guard_cell(b: dict[str, Any] | None, target: float) -> str:
    if b is None:
        return "—"
    return f"{_pct(b['autonomy'])}, {_flagged(b['model_precision'], target)}"


def _learned_cell(row: dict[str, Any] | None) -> str:
    """The learned-rules loop's autonomy, and how many learned rules served the period."""
    if row is None:
        return "—"
    return f"{_pct(row['autonomy'])} ({row['learned_rules_in_force']} rules)"


def simulation_table(result: dict[str, Any]) -> Table:
    t = Table(
        title=f"Replay of {result['domain']} — target precision {_pct(result['target_precision'])}"
    )
    for col in TABLE_COLUMNS:
        t.add_column(col, justify="right" if col not in ("span", "promoted") else "left")
    rules_only = {b["period"]: b for b in result["baselines"].get("rules_only", [])}
    first = {b["period"]: b for b in result["baselines"].get("first_model", [])}
    learned = {b["period"]: b for b in result["baselines"].get("learned_rules", [])}
    no_guard = {b["period"]: b for b in result["baselines"].get("no_guard", [])}
    target = result["target_precision"]
    for p in result["periods"]:
        span = f"{p.get('start')} … {p.get('end')}"
        if p.get("role") == "train":
            t.add_row(
                str(p["period"]), span, str(p["records"]), "train", *[""] * (len(TABLE_COLUMNS) - 4)
            )
            continue
        k = p["period"]
        audit = (p.get("audit") or {}).get("model_precision")
        t.add_row(
            str(k),
            span,
            str(p["records"]),
            _pct(p.get("autonomy")),
            _pct(rules_only.get(k, {}).get("autonomy")),
            _pct(first.get(k, {}).get("autonomy")),
            _learned_cell(learned.get(k)),
            _flagged(p.get("model_precision"), target),
            _interval(audit),
            _guard_cell(p.get("guard")),
            ", ".join((p.get("guard") or {}).get("quarantined", [])) or "—",
            _no_guard_cell(no_guard.get(k), target),
            "—" if p.get("deferred_per_1000") is None else f"{p['deferred_per_1000']:.0f}",
            "yes"
            if p.get("promoted")
            else ("gates failed" if p.get("retrain", {}).get("trained") else ""),
        )
    return t


def _print_simulation(out: dict[str, Any]) -> None:
    console = wide_console()
    console.print(simulation_table(out))
    for kind, info in out.get("new_kinds", {}).items():
        rates = ", ".join(
            f"p{r['period']}: {_pct(r['deferred_rate'])}" for r in info["periods"] if r["records"]
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
        + (
            f"with learned rules {_pct(s['learned_rules_last_autonomy'])} "
            f"({s['learned_rules_in_force']} learned rules); "
            if "learned_rules_last_autonomy" in s
            else ""
        )
        + f"{s.get('promotions', 0)} promotions of {s.get('retrains', 0)} retrains; "
        f"{out['seconds']:.0f}s"
    )
    _print_guard(out)
    if "plots" in out:
        console.print(f"plots: {', '.join(out['plots'])}")


def _print_guard(out: dict[str, Any]) -> None:
    """The guard's actions, and both lines' promise kept or not (flagged periods)."""
    s, console = out.get("summary", {}), wide_console()
    for a in s.get("guard_actions", []):
        console.print(
            f"guard, period {a['period']} block {a['block']}: {a['kind']} — {a['reason']}"
        )
    lines = [("guarded" if out.get("guard") else "replay", s)]
    if "no_guard" in s:
        lines.append(("no guard", s["no_guard"]))
    for name, rec in lines:
        below = rec.get("model_precision_interval_below_target") or []
        share = rec.get("model_precision_point_at_target_share")
        console.print(
            f"{name}: mean autonomy {_pct(rec.get('mean_autonomy'))}; model precision at or "
            f"above target in {_pct(share)} of {rec.get('periods_with_model_resolutions', 0)} "
            "periods with model resolutions; "
            + (f"[bold red]interval wholly below target in periods {below}[/]" if below else
               "no period's interval wholly below target")
        )  # fmt: skip
