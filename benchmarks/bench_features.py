"""What the model leaves on the table: feature variants against certified coverage, per domain.

Each variant trains `train_policy` (one global certified λ, so only the features change) on the
same records and reports the share of rule-free certification records the certificate accepts
(`cert_coverage`, what the change is chosen on), the test slice's model coverage and realised
precision, and the training time:

- default        — the pipeline's defaults (a text field: 120 tokens ranked by `token_excess`);
- before         — 60 tokens ranked by chi-square (the defaults before issue 13);
- tokens 200     — 200 tokens by chi-square;
- categories     — up to 1,000 values per category field (min frequency 2; default 200 and 3);
- crossed        — each domain's likely "who opened it × what it is about" pairs added as
  category fields (`CROSSES`; the value is both values joined).

Only text ranking and size changed the defaults: see docs/quality.md for the table and why.

`python -m benchmarks features [--quick]` (--quick: CRM only).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd
import yaml

from autoresolve.model.datasets import load_domain_frame
from autoresolve.model.domain import load_domain, parse_domain
from autoresolve.model.train import train_policy
from benchmarks.common import data_file, write_result

ROOT = Path(__file__).resolve().parents[1]
CROSSES = {
    "crm": [
        ("lead_source", "error_code"),
        ("error_code", "workflow"),
        ("error_code", "lifecycle_stage"),
    ],
    "vinst_escalation": [
        ("first_involved_st", "first_sub_status"),
        ("first_involved_st", "first_product"),
        ("first_product", "first_country"),
    ],
    "vinst_orgline": [
        ("first_involved_st", "first_sub_status"),
        ("first_involved_st", "first_product"),
        ("first_product", "first_country"),
    ],
    "road_fines": [("article", "vehicleClass"), ("article", "points")],
}
VARIANTS = {
    "default": {},
    "before": {"max_tokens": 60, "vocabulary_rank": "chi2"},
    "tokens 200": {"max_tokens": 200, "vocabulary_rank": "chi2"},
    "categories": {"max_categories": 1000, "min_frequency": 2},
    "crossed": {},
}


def _load(name: str):
    domain = load_domain(ROOT / "data" / name)
    path = data_file(domain)
    if path is None:
        return None, None
    df = load_domain_frame(domain, None if domain.generator else path)
    if name == "road_fines":  # right-censoring, as bench_quality
        df = df[df[domain.time] < pd.Timestamp("2012-01-01", tz="UTC")].reset_index(drop=True)
    return domain, df


def _crossed(name: str, df: pd.DataFrame):
    raw = yaml.safe_load((ROOT / "data" / name / "domain.yaml").read_text())
    raw.pop("data", None)
    raw.pop("generator", None)
    df = df.copy()
    for a, b in CROSSES[name]:
        col = f"{a}__x__{b}"
        df[col] = df[a].astype("string").fillna("∅") + "|" + df[b].astype("string").fillna("∅")
        raw["fields"][col] = {"type": "category", "novelty": False}
    return parse_domain(raw, path=ROOT / "data" / name / "domain.yaml"), df


def main(argv: list[str]) -> int:
    names = ["crm"] if "--quick" in argv else list(CROSSES)
    rows = []
    for name in names:
        domain, df = _load(name)
        if domain is None:
            print(f"[{name}] skipped: data file absent (set AUTORESOLVE_DATASETS)")
            continue
        for variant, options in VARIANTS.items():
            dom, frame = _crossed(name, df) if variant == "crossed" else (domain, df)
            t0 = time.perf_counter()
            _, report = train_policy(
                dom, frame, seed=0, per_class=False, feature_options=options or None
            )
            m = report.metrics
            row = {
                "domain": name,
                "variant": variant,
                "chosen": report.chosen,
                "cert_coverage": report.certificate.get("coverage") or 0.0,
                "test_coverage": m["coverage"],
                "test_precision": m["realised_precision"],
                "accuracy_rule_free": m["accuracy_rule_free"],
                "train_seconds": time.perf_counter() - t0,
            }
            rows.append(row)
            prec = row["test_precision"]
            print(
                f"| {name} | {variant} | {row['chosen']} | {row['cert_coverage']:.1%} | "
                f"{row['test_coverage']:.1%} | {'—' if prec is None else f'{prec:.1%}'} | "
                f"{row['train_seconds']:.1f} s |",
                flush=True,
            )
    path = write_result("features", {"rows": rows})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
