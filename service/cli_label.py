"""label: import true resolutions from a CSV or JSON file into the decision store.

The file holds the record id and the resolution, named either `record_id`/`resolution` or the
domain's own id and label columns. Every resolution is checked against the domain before anything
is written; the import is one idempotent upsert (history kept), so running it twice is harmless.
Rows with an empty resolution (records still open in an export) are skipped and counted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from autoresolve.service.cli_common import (
    EXIT_USAGE,
    emit_json,
    err_console,
    fail,
    offline_settings,
    resolved_domain,
)


def read_labels(path: Path, id_col: str, label_col: str) -> list[tuple[Any, Any]]:
    """(record_id, resolution) pairs from .csv, or .json (a list or {"labels": [...]}), .jsonl."""
    if not path.is_file():
        fail(f"{path}: no such file.", EXIT_USAGE)
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    try:
        if suffix in (".csv", ".csv.gz"):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif suffix in (".json", ".jsonl", ".ndjson"):
            text = path.read_text(encoding="utf-8").strip()
            if suffix == ".json" and text[:1] in "[{":
                data = json.loads(text)
                if isinstance(data, dict):
                    data = data.get("labels", [data])
            else:
                data = [json.loads(line) for line in text.splitlines() if line.strip()]
            if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
                fail(f"{path}: expected a list of {{record_id, resolution}} objects.")
            frame = pd.DataFrame(data)
        else:
            fail(f"{path}: unsupported file type '{suffix}'; use .csv or .json.", EXIT_USAGE)
    except (UnicodeDecodeError, json.JSONDecodeError, pd.errors.ParserError) as exc:
        fail(f"{path}: cannot read it ({exc}).")
    rid = next((c for c in ("record_id", id_col) if c in frame.columns), None)
    res = next((c for c in ("resolution", label_col) if c in frame.columns), None)
    if rid is None or res is None:
        fail(
            f"{path}: needs columns 'record_id' (or '{id_col}') and 'resolution' "
            f"(or '{label_col}'); found {', '.join(map(str, frame.columns)) or 'none'}."
        )
    return list(zip(frame[rid].tolist(), frame[res].tolist(), strict=True))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or not str(value).strip()


def run_label(
    domain_dir: Path, input_path: Path, as_json: bool = False, source: str = "cli"
) -> None:
    from autoresolve.model.domain import DomainError, load_domain
    from autoresolve.service.settings import SettingsError
    from autoresolve.service.store import DecisionStore, LabelError, StoreUnavailable

    try:
        settings = offline_settings(domain_dir)
        domain = load_domain(settings.domain)
    except (SettingsError, DomainError, ValueError) as exc:
        fail(str(exc))
    domain = resolved_domain(domain, settings)
    given = read_labels(input_path, domain.id, domain.label)
    # an export also holds the records still open: an empty resolution is no label yet
    pairs = [(rid, res) for rid, res in given if not _blank(res)]
    skipped = len(given) - len(pairs)
    if not pairs:
        fail(f"{input_path}: no labels in the file.")
    store = DecisionStore.from_url(
        settings.store_url,
        busy_timeout_ms=settings.store_busy_timeout_ms,
        synchronous=settings.sqlite_synchronous,
    )
    try:
        store.migrate()
        result = store.upsert_labels(domain, pairs, source=source)
    except LabelError as exc:
        fail(f"{input_path}: {exc} Nothing was imported.")
    except StoreUnavailable as exc:
        fail(str(exc))
    finally:
        store.close()
    payload = {
        "file": str(input_path),
        "labels": len(pairs),
        "skipped_without_resolution": skipped,
        **result.to_dict(),
    }
    if as_json:
        emit_json(payload)
    else:
        err_console.print(
            f"{len(pairs)} label(s) from {input_path}: {result.inserted} new, "
            f"{result.updated} changed, {result.unchanged} unchanged"
            + (f"; {skipped} row(s) without a resolution skipped" if skipped else "")
            + (
                f"; {result.to_dict()['unknown']} for records never decided"
                if result.unknown
                else ""
            )
            + (
                f"; {len(result.repeated)} id(s) given twice, the last one kept"
                if result.repeated
                else ""
            )
            + "."
        )
