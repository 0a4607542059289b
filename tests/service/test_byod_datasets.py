"""Bring your own data, on the real exports in /work/shared/datasets: `init` → `train` →
`resolve` → `label` → `report` → `retrain` with no hand edit, and the init'd domain does as well
as the hand-written one (data/vinst_orgline, data/road_fines) on the same time-ordered test slice.

Small enough for `make test`: vinst whole (7,554 requests), road fines every 6th fine created
before 2012 (~24,000; later fines are right-censored, see its PROVENANCE.md). The newest 10% of
each export play the records decided after training, whose labels arrive later.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from autoresolve.service.cli import app
from tests.support import DATA_DIR

SHARED = Path("/work/shared/datasets")
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Export:
    name: str
    file: Path
    label: str
    time: str
    hand: str  # the hand-written domain over the same data
    before: str | None = None  # keep records created before this (censoring)
    every: int = 1


EXPORTS = [
    Export("vinst", SHARED / "vinst" / "vinst_cases.csv", "resolving_org_line", "opened_at",
           "vinst_orgline"),
    Export("road_fines", SHARED / "road_fines" / "road_fines_cases.csv.gz", "outcome",
           "create_time", "road_fines", before="2012-01-01", every=6),
]  # fmt: skip


def _run(*args: str) -> object:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def _json(*args: str, codes: tuple[int, ...] = (0,)) -> dict:
    result = _run(*args, "--json")
    assert result.exit_code in codes, result.output
    return json.loads(result.stdout)


def _raw(export: Export) -> pd.DataFrame:
    if not export.file.is_file():
        pytest.skip(
            f"shared dataset {export.file} is absent (see its PROVENANCE.md); this test runs the "
            "bring-your-own-data path on it"
        )
    raw = pd.read_csv(export.file, dtype=str, keep_default_na=False)
    if export.before:
        raw = raw[raw[export.time] < export.before]
    raw = raw.iloc[:: export.every]
    return raw.sort_values(export.time, kind="stable").reset_index(drop=True)


def _hand_metrics(export: Export, history: Path) -> dict:
    from autoresolve.model.datasets import load_domain_frame
    from autoresolve.model.domain import load_domain
    from autoresolve.model.train import train_policy

    dom = load_domain(DATA_DIR / export.hand)
    _, report = train_policy(dom, load_domain_frame(dom, history), seed=0)
    return {"test": report.splits["test"], **report.metrics}


def _close(a: float | None, b: float | None, n: int) -> bool:
    """Equal within noise: three binomial standard errors on the test slice, at least 0.05."""
    if a is None or b is None:
        return a is None and b is None
    p = (a + b) / 2
    return abs(a - b) <= max(0.05, 3 * math.sqrt(p * (1 - p) / max(n, 1)))


@pytest.mark.parametrize("export", EXPORTS, ids=[e.name for e in EXPORTS])
def test_bring_your_own_data(export: Export, isolated_home: Path, tmp_path: Path) -> None:
    raw = _raw(export)
    cut = int(0.9 * len(raw))
    history, new = tmp_path / "history.csv", tmp_path / "new.csv"
    raw.iloc[:cut].to_csv(history, index=False)
    raw.iloc[cut:].drop(columns=[export.label]).to_csv(new, index=False)
    domain = tmp_path / export.name

    found = _json("init", str(domain), "--data", str(history), "--label", export.label)
    hand = DATA_DIR / export.hand / "domain.yaml"
    from autoresolve.model.domain import load_domain

    want = load_domain(hand)
    assert found["id"] == want.id and found["time"] == want.time
    assert set(found["fields"]) >= set(want.field_names), "a field the hand-written domain uses"

    trained = _json("train", "--domain", str(domain))
    mine, theirs = trained["metrics"], _hand_metrics(export, history)
    n = theirs["test_records"]
    assert mine["test_records"] == n
    assert _close(mine["autonomy"], theirs["autonomy"], n), (mine, theirs)
    assert _close(mine["overall_precision"], theirs["overall_precision"], n), (mine, theirs)

    decided = tmp_path / "decisions.csv"
    resolved = _json("resolve", "--domain", str(domain), "--input", str(new),
                     "--output", str(decided))  # fmt: skip
    assert resolved["records"] == resolved["logged"] == len(raw) - cut
    out = pd.read_csv(decided, dtype=str)
    assert out.columns[0] == want.id and out[want.id].tolist() == raw[want.id][cut:].tolist()

    labels = tmp_path / "labels.csv"
    raw.iloc[cut:][[want.id, export.label]].to_csv(labels, index=False)
    labelled = _json("label", "--domain", str(domain), "--input", str(labels))
    assert labelled["inserted"] == (raw[export.label][cut:] != "").sum()

    report = _json("report", "--domain", str(domain))
    assert sum(a["records"] for a in report["autonomy"]) == len(raw) - cut

    retrained = _json("retrain", "--domain", str(domain), codes=(0, 1))
    assert retrained["retrained"] and retrained["gate"]["reasons"]
    assert retrained["labels_in_store"] == labelled["inserted"]
