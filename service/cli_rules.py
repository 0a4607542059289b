"""rules test | lint | explain | suggest: the rule files as tested data, from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from autoresolve.service.cli_common import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    DomainOpt,
    JsonOpt,
    command_group,
    emit_json,
    err_console,
    fail,
    load_domain_or_fail,
    offline_settings,
    resolved_domain,
    wide_console,
)


def _load(domain_dir: Path) -> tuple[Any, Any]:
    """The domain and its rule set (rules.yaml, then rules.learned.yaml when present), or a clean
    refusal naming the file (exit 1)."""
    from autoresolve.rules import RuleError, load_domain_rules

    domain = load_domain_or_fail(domain_dir, EXIT_REFUSED)
    domain = resolved_domain(domain)
    path = domain.rules_path
    if path is None or not path.is_file():
        fail(f"{domain_dir}: no rules.yaml in this domain folder (write `rules: []` for none).")
    try:
        ruleset = load_domain_rules(
            path, domain.learned_rules_path, domain.field_types, domain.resolutions
        )
    except RuleError as exc:
        fail(str(exc))
    return domain, ruleset


def _frame(domain: Any, data: Path | None) -> Any:
    """The records to lint: `--data`, else the domain's own data file (generated if need be)."""
    from autoresolve.model.datasets import load_domain_frame

    try:
        return load_domain_frame(domain, data, require_label=False)
    except Exception as exc:  # DatasetError / DomainError: both name the file and what to do
        fail(f"cannot load the data: {exc}")


def _record(spec: str) -> dict[str, Any]:
    text = spec
    if spec.startswith("@"):
        p = Path(spec[1:])
        if not p.is_file():
            fail(f"--record {spec}: no such file.", EXIT_USAGE)
        text = p.read_text(encoding="utf-8")
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(
            f"--record is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).",
            EXIT_USAGE,
        )
    if not isinstance(rec, dict):
        fail("--record must be a JSON object of field: value.", EXIT_USAGE)
    return rec


def test_(domain: DomainOpt, json_: JsonOpt = False) -> None:
    """Run every rule's examples; exit 1 if any fails."""
    _, ruleset = _load(domain)
    failures = ruleset.run_examples()
    total = sum(len(r.examples) for r in ruleset.rules)
    if json_:
        emit_json(
            {
                "ok": not failures,
                "version": ruleset.version,
                "rules": len(ruleset.rules),
                "examples": total,
                "failures": [f.to_dict() for f in failures],
            }
        )
    else:
        for f in failures:
            err_console.print(
                f"[red]FAIL[/] {f.source}:{f.line} rule '{f.rule_id}' example "
                f"{f.index}: {f.message}\n     record: {json.dumps(f.record, default=str)}",
                highlight=False,
            )
        status = "[green]ok[/]" if not failures else f"[red]{len(failures)} failed[/]"
        err_console.print(
            f"{len(ruleset.rules)} rules, {total} examples: {status} (rule set {ruleset.version})",
            highlight=False,
        )
    raise typer.Exit(EXIT_REFUSED if failures else EXIT_OK)


def lint(
    domain: DomainOpt,
    data: Annotated[Path | None, typer.Option(help="CSV/Parquet records")] = None,
    precision_bar: Annotated[float, typer.Option(help="flag rules below this")] = -1.0,
    strict: Annotated[bool, typer.Option(help="warnings fail too")] = False,
    json_: JsonOpt = False,
) -> None:
    """Shadowed, dead and overlapping rules; per-rule precision where labels exist."""
    from autoresolve import rules

    dom, ruleset = _load(domain)
    df = _frame(dom, data)
    bar = precision_bar if precision_bar >= 0 else dom.policy.target_precision
    if not 0 < bar <= 1:
        fail(f"--precision-bar must be in (0, 1], got {bar}.", EXIT_USAGE)
    label = dom.label if dom.label in df.columns else None
    report = rules.lint(ruleset, df, label, precision_bar=bar)
    failed = not report.ok or (strict and bool(report.findings))
    if json_:
        emit_json(report.to_dict())
    else:
        _print_lint(report)
    raise typer.Exit(EXIT_REFUSED if failed else EXIT_OK)


def explain(
    domain: DomainOpt,
    record: Annotated[str, typer.Option(help="JSON object, or @file.json")],
    json_: JsonOpt = False,
) -> None:
    """For one record: each rule, whether it matched and why; which one decides."""
    from autoresolve.rules import explain_record

    _, ruleset = _load(domain)
    rec = _record(record)
    unknown = sorted(set(rec) - set(ruleset.fields))
    trace = explain_record(ruleset, rec)
    fired = next((t for t in trace if t.fired), None)
    if json_:
        emit_json(
            {
                "version": ruleset.version,
                "rule_id": fired.rule_id if fired else None,
                "then": fired.then if fired else None,
                "ignored_keys": unknown,
                "trace": [t.to_dict() for t in trace],
            }
        )
        return
    for t in trace:
        mark = "[bold green]→[/]" if t.fired else ("[green]✓[/]" if t.matched else "[dim]·[/]")
        err_console.print(f"{mark} {t.rule_id} ({t.then}): {t.reason}", highlight=False)
    verdict = f"rule '{fired.rule_id}' decides: {fired.then}" if fired else "no rule fires"
    if unknown:
        err_console.print(f"[yellow]not fields of the domain, ignored:[/] {', '.join(unknown)}")
    err_console.print(f"{verdict} (rule set {ruleset.version})", highlight=False)


def register(app: typer.Typer) -> None:
    rules_app = command_group(
        help="Test, lint, explain a domain's rule files; suggest rules learned from labels."
    )
    rules_app.command("test")(test_)
    rules_app.command()(lint)
    rules_app.command()(explain)
    app.add_typer(rules_app, name="rules")
    rules_app.command("suggest")(suggest)


def suggest(
    domain: DomainOpt,
    data: Annotated[
        Path | None, typer.Option(help="labelled history (CSV/Parquet); default: the domain's")
    ] = None,
    min_precision: Annotated[
        float | None,
        typer.Option(
            "--min-precision", help="bar for a suggestion (default: the domain's target precision)"
        ),
    ] = None,
    max_rules: Annotated[int, typer.Option("--max-rules", min=1, help="at most this many")] = 10,
    apply: Annotated[
        bool, typer.Option("--apply", help="write them into rules.learned.yaml beside rules.yaml")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Rules learned from labels for what no rule decides today, as YAML to review.

    Mined on older labels, measured on the newest ones (docs/rules.md). With --apply, the
    suggestions (each cleared the domain's target precision at its confidence) are added to
    rules.learned.yaml, which loads after rules.yaml; rules.yaml is never changed.
    """
    import time

    from autoresolve.rules.learned import render_rules
    from autoresolve.rules.mine import MiningConfig, suggest_rules

    dom, ruleset = _load(domain)
    bar = _suggest_bar(dom, min_precision, apply)
    history = _suggest_history(dom, data)
    cfg = MiningConfig(bar=bar, confidence=dom.policy.confidence, max_rules=max_rules)
    err_console.print(f"mining {len(history.frame):,} labelled records …", highlight=False)
    started = time.perf_counter()
    result = suggest_rules(
        history.frame,
        label=dom.label,
        fields=dom.field_types,
        resolutions=dom.resolutions,
        existing=ruleset,
        time=dom.time,
        weights=history.weights,
        config=cfg,
    )
    seconds = time.perf_counter() - started
    fingerprint = _fingerprint(dom, history.frame)
    applied = _apply_suggestions(dom, result, fingerprint) if apply and result.suggestions else None
    preview = render_rules(result, result.suggestions, fingerprint=fingerprint)
    if json_:
        emit_json(
            result.to_dict()
            | {"sources": history.sources, "seconds": seconds, "yaml": preview, "applied": applied}
        )
        return
    if result.suggestions:
        sys.stdout.write(
            f"# {len(result.suggestions)} rule(s) learned from labels, not yet applied "
            "(`--apply` adds them to rules.learned.yaml)\nrules:\n" + preview
        )
    _print_suggest(result, seconds, applied)


def _suggest_bar(dom: Any, min_precision: float | None, apply: bool) -> float:
    """Suggestions below the target may be shown for review, never written."""
    target = dom.policy.target_precision
    bar = target if min_precision is None else min_precision
    if not 0 < bar <= 1:
        fail(f"--min-precision must be in (0, 1], got {bar}.", EXIT_USAGE)
    if apply and bar < target:
        fail(
            f"--apply writes only rules that clear the domain's target precision ({target:g}); "
            f"drop --min-precision {bar:g} or set it at or above the target.",
            EXIT_USAGE,
        )
    return bar


def _suggest_history(dom: Any, data: Path | None) -> Any:
    from autoresolve.model.datasets import DatasetError
    from autoresolve.model.domain import DomainError
    from autoresolve.service.store import StoreUnavailable
    from autoresolve.service.suggest_data import load_history

    err_console.print(f"reading labelled records of domain '{dom.name}' …", highlight=False)
    try:
        history = load_history(dom, data, offline_settings(dom.directory), say=_note)
    except (DomainError, DatasetError, StoreUnavailable) as exc:
        fail(f"cannot read the labelled records: {exc}")
    if history.frame.empty:
        fail(
            f"no labelled records for domain '{dom.name}': pass --data FILE with a "
            f"'{dom.label}' column, or import labels with `autoresolve label`."
        )
    return history


def _apply_suggestions(dom: Any, result: Any, fingerprint: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    from autoresolve.rules import RuleError
    from autoresolve.rules.learned import render_rules, write_learned

    at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    items = render_rules(result, result.suggestions, fingerprint=fingerprint, at=at)
    try:
        written = write_learned(
            dom.rules_path, dom.learned_rules_path, dom.field_types, dom.resolutions, items
        )
    except RuleError as exc:
        fail(str(exc))
    return {
        "file": str(dom.learned_rules_path),
        "added": len(result.suggestions),
        "rules": len(written.rules),
        "version": written.version,
    }


def _note(message: str) -> None:
    err_console.print(f"[yellow]{message}[/]", highlight=False)


def _fingerprint(dom: Any, frame: Any) -> str:
    from autoresolve.model.train import fingerprint

    return "sha256:" + fingerprint(dom, frame)["sha256"][:16]


def _print_suggest(result: Any, seconds: float, applied: dict[str, Any] | None) -> None:
    cov = result.coverage
    held = result.measured_on
    err_console.print(
        f"mined on {result.mined_on.records:,} older labels, measured on the newest "
        f"{held.records:,} ({held.start or '?'} – {held.end or '?'}) in {seconds:.1f}s: "
        f"{result.candidates} conditions, {result.family_size} tested, "
        f"{len(result.suggestions)} cleared {result.config.bar:.0%} at "
        f"{result.config.confidence:.0%} confidence (Holm over the tested ones)",
        highlight=False,
    )
    for s in result.suggestions:
        err_console.print(
            f"  {s.id} → {s.then}: {s.correct}/{s.decided} right, bound {s.lower_bound:.1%}, "
            f"decides {s.coverage:.1%} of the newest records",
            highlight=False,
        )
    err_console.print(
        f"newest records decided by the existing rules {cov['share_existing']:.1%}; "
        f"the suggestions add {cov['share_added']:.1%} "
        f"({cov['share_of_open_weight']:.1%} of what the rules leave open, by weight)",
        highlight=False,
    )
    if applied:
        err_console.print(
            f"[green]wrote[/] {applied['added']} rule(s) to {applied['file']} "
            f"(rule set {applied['version']}, {applied['rules']} rules); "
            "`autoresolve train` or `retrain` picks them up",
            highlight=False,
        )
    elif not result.suggestions:
        err_console.print("nothing cleared the bar; nothing to apply", highlight=False)


def _print_lint(report: Any) -> None:
    from rich.table import Table

    wide = wide_console(stderr=True)

    table = Table(
        title=f"rule set {report.version}: {report.rows:,} rows, "
        f"{report.labelled_rows:,} labelled, bar {report.precision_bar:.0%}"
    )
    for col in ("rule", "then", "matches", "fires", "coverage", "precision", "CI", "status"):
        table.add_column(col)
    for s in report.rules:
        prec = "—" if s.precision is None else f"{s.correct}/{s.labelled} {s.precision:.1%}"
        ci = "—" if s.precision is None else f"{s.ci_low:.1%}–{s.ci_high:.1%}"
        table.add_row(
            s.rule_id,
            s.then,
            f"{s.matches:,}",
            f"{s.fires:,}",
            f"{s.coverage:.1%}",
            prec,
            ci,
            s.status,
        )
    wide.print(table)
    colour = {"error": "red", "warning": "yellow", "info": "cyan"}
    for f in report.findings:
        err_console.print(
            f"[{colour[f.severity]}]{f.severity}[/] {f.kind} '{f.rule_id}': {f.message}",
            highlight=False,
        )
    err_console.print("ok" if report.ok else f"{len(report.errors)} error(s)")
