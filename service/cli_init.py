"""init: a domain folder to start from.

`init DIR --data FILE --label COLUMN` writes a working domain from an export of past exceptions:
`model.profile` finds the id, the creation time, each field's type, the resolutions and the
columns that look like leakage, `model.scaffold` writes domain.yaml (every choice explained in a
comment) and rules.yaml (no rule yet; an example and the rules suggested from the labels, all
commented). Before anything is written, the domain is loaded and the export read through it, as
`train` will, so `train` works on the folder without an edit.

`init DIR --demo` copies the CRM demo domain that ships with the package (domain.yaml and
rules.yaml; its records are generated on first use), so an installed autoresolve can train and
serve without a checkout of the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from autoresolve.service.cli_common import EXIT_USAGE, emit_json, err_console, fail

DOMAIN_FILES = ("domain.yaml", "rules.yaml")
MINE_ROWS = 50_000  # the newest labelled records the rule suggestions are mined on


def _refuse_existing(target: Path) -> None:
    clash = [name for name in DOMAIN_FILES if (target / name).exists()]
    if clash:
        fail(
            f"{target} already holds {', '.join(clash)}; choose an empty folder (nothing was "
            "overwritten)."
        )


def copy_demo(target: Path) -> Path:
    """Copy the bundled demo domain's files into `target`, refusing to overwrite a domain."""
    from autoresolve.model.domain import bundled_domain_dir

    source = bundled_domain_dir("crm")
    _refuse_existing(target)
    target.mkdir(parents=True, exist_ok=True)
    for name in DOMAIN_FILES:
        shutil.copyfile(source / name, target / name)
    return target


# ---------------------------------------------------------------- from an export


def domain_name(target: Path) -> str:
    """The folder's name as a registry-friendly domain name (letters, digits, _ and -)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", target.resolve().name).strip("_-")
    return name or "domain"


def _typed_domain(profile: Any, target: Path, data: Path, raw: Any) -> tuple[str, Any, list[str]]:
    """domain.yaml's text and the Domain it loads as, after reading the export through it; a
    field whose values the schema refuses becomes a category (noted), never a failed `train`."""
    import dataclasses

    import yaml

    from autoresolve.model.domain import parse_domain
    from autoresolve.model.records import RecordError, coerce_frame
    from autoresolve.model.scaffold import domain_yaml

    notes: list[str] = []
    relative = os.path.relpath(data.resolve(), target.resolve())
    for _ in range(len(profile.columns) + 1):
        text = domain_yaml(profile, name=domain_name(target), source=str(data), data=relative)
        domain = parse_domain(yaml.safe_load(text), path=target / "domain.yaml")
        try:
            coerce_frame(domain, raw)
            return text, domain, notes
        except RecordError as exc:
            if exc.field is None or exc.field not in {c.name for c in profile.fields}:
                raise
            notes.append(f"'{exc.field}' is a category: {exc}")
            profile.columns = [
                dataclasses.replace(c, type="category", why=f"{c.why}, some not: read as text")
                if c.name == exc.field
                else c
                for c in profile.columns
            ]
    raise RuntimeError("unreachable: every field can be read as a category")


def _suggestions(profile: Any, domain: Any, raw: Any) -> tuple[list[Any], str | None]:
    """Rules mined from the newest labelled records (fields the rule language can name
    unquoted), or none and why."""
    from autoresolve.model.records import coerce_frame
    from autoresolve.rules.loader import parse_rules
    from autoresolve.rules.mine import MiningConfig, suggest_rules

    frame = coerce_frame(domain, raw)
    frame = frame[frame[domain.label].notna()]
    if domain.time:
        frame = frame.sort_values(domain.time, kind="stable")
    frame = frame.tail(MINE_ROWS).reset_index(drop=True)
    fields = domain.field_types
    try:
        result = suggest_rules(
            frame,
            label=domain.label,
            fields=fields,
            resolutions=domain.resolutions,
            existing=parse_rules("rules: []\n", fields, domain.resolutions),
            time=domain.time,
            config=MiningConfig(
                bar=domain.policy.target_precision, confidence=domain.policy.confidence
            ),
        )
    except ValueError as exc:
        return [], f"no rules suggested: {exc}"
    if not result.suggestions:
        return [], (
            f"no rule suggested: no condition held precision ≥ {domain.policy.target_precision:g} "
            "on the newest labelled records."
        )
    return list(result.suggestions), None


def init_from_export(
    target: Path,
    data: Path,
    label: str,
    *,
    id_column: str | None = None,
    time_column: str | None = None,
    suggest: bool = True,
) -> dict[str, Any]:
    """Write domain.yaml and rules.yaml in `target` for the export `data`; what was found."""
    from autoresolve.model.datasets import read_export
    from autoresolve.model.policy import default_rules
    from autoresolve.model.profile import profile_export
    from autoresolve.model.scaffold import rules_yaml

    _refuse_existing(target)
    started = time.perf_counter()
    err_console.print(f"reading {data} …", highlight=False)
    raw = read_export(data)
    err_console.print(f"profiling {len(raw):,} rows × {raw.shape[1]} columns …", highlight=False)
    profile = profile_export(raw, label, id=id_column, time=time_column)
    text, domain, notes = _typed_domain(profile, target, data, raw)
    suggestions, why_none = [], "rule suggestions skipped (--no-suggest)."
    if suggest:
        err_console.print("mining rule suggestions from the labels …", highlight=False)
        suggestions, why_none = _suggestions(profile, domain, raw)
    target.mkdir(parents=True, exist_ok=True)
    (target / "domain.yaml").write_text(text, encoding="utf-8")
    (target / "rules.yaml").write_text(rules_yaml(profile, suggestions, note=why_none), "utf-8")
    default_rules(domain)  # the written rule file loads (a commented example stays comments)
    return {
        "domain": str(target),
        "name": domain.name,
        "rows": profile.rows,
        "id": profile.id,
        "label": profile.label,
        "time": profile.time,
        "periods": profile.periods,
        "resolutions": [r for r, _ in profile.resolutions],
        "unlabelled": profile.unlabelled,
        "fields": {c.name: c.type for c in profile.fields},
        "left_out": {c.name: c.why for c in profile.left_out},
        "leaks": [c.name for c in profile.left_out if c.leak],
        "suggested_rules": [s.id for s in suggestions],
        "notes": notes,
        "seconds": round(time.perf_counter() - started, 2),
        "files": list(DOMAIN_FILES),
    }


def _print_written(out: dict[str, Any]) -> None:
    d = out["domain"]
    err_console.print(
        f"wrote {d}/domain.yaml: id '{out['id']}', label '{out['label']}' "
        f"({len(out['resolutions'])} resolutions), time '{out['time'] or 'none'}', "
        f"{len(out['fields'])} fields",
        highlight=False,
    )
    for name, why in out["left_out"].items():
        err_console.print(f"  left out {name}: {why}", highlight=False)
    for note in out["notes"]:
        err_console.print(f"  note: {note}", highlight=False)
    err_console.print(
        f"wrote {d}/rules.yaml: no rule yet, an example"
        + (f" and {len(out['suggested_rules'])} suggested rules" if out["suggested_rules"] else "")
        + " (commented)",
        highlight=False,
    )
    err_console.print(
        "Next:\n"
        f"  review {d}/domain.yaml (types, the columns left out, resolutions)\n"
        f"  autoresolve train   --domain {d}\n"
        f"  autoresolve resolve --domain {d} --input NEW.csv --output decisions.csv\n"
        f"  autoresolve label   --domain {d} --input labels.csv   ({out['id']}, {out['label']})\n"
        f"  autoresolve report  --domain {d}\n"
        f"  autoresolve retrain --domain {d}\n"
        f"  autoresolve serve   --domain {d}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        directory: Annotated[Path, typer.Argument(help="the domain folder to write")],
        data: Annotated[
            Path | None,
            typer.Option("--data", help="an export of past records (CSV, .csv.gz, Parquet)"),
        ] = None,
        label: Annotated[
            str | None, typer.Option("--label", help="the column holding each resolution")
        ] = None,
        id_column: Annotated[
            str | None, typer.Option("--id", help="the id column (default: found)")
        ] = None,
        time_column: Annotated[
            str | None, typer.Option("--time", help="the creation time column (default: found)")
        ] = None,
        suggest: Annotated[
            bool,
            typer.Option("--suggest/--no-suggest", help="rules mined from the labels, commented"),
        ] = True,
        demo: Annotated[
            bool,
            typer.Option("--demo", help="copy the CRM demo domain that ships with autoresolve"),
        ] = False,
        json_: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Write a domain folder (domain.yaml, rules.yaml): from an export, or the demo."""
        if demo == (data is not None):
            fail(
                "say what to start from: --data FILE --label COLUMN (an export of past "
                "records), or --demo (the CRM demo domain).",
                EXIT_USAGE,
            )
        if demo:
            target = copy_demo(directory)
            if json_:
                emit_json({"domain": str(target), "files": list(DOMAIN_FILES)})
                return
            err_console.print(
                f"wrote the demo domain to {target}. Next:\n"
                f"  autoresolve train --domain {target}     (generates its records on first use)\n"
                f"  autoresolve serve --domain {target}",
                highlight=False,
            )
            return
        if label is None:
            fail("--label COLUMN: name the column that holds each record's resolution.", EXIT_USAGE)
        from autoresolve.model.domain import DomainError

        try:
            out = init_from_export(
                directory, data, label, id_column=id_column, time_column=time_column,
                suggest=suggest,
            )  # fmt: skip
        except DomainError as exc:  # the export's problems, and ProfileError / DatasetError
            fail(str(exc))
        if json_:
            emit_json(out)
        else:
            _print_written(out)
