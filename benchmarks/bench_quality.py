"""Quality of the certified policy against same-run baselines, on a time-ordered test split.

For each domain (the CRM demo and the real datasets under ../shared/datasets, or under
$AUTORESOLVE_DATASETS when the checkout sits elsewhere): train with
`train_policy` (which holds out the newest records as test: 15% of a small table, at most
max(500, 3%) of a large one), then report on that test slice:

- policy     — rules, then the model where its calibrated confidence clears the certified λ;
- policy, λ per class — the same with one certified λ per predicted class (Bonferroni over
  classes; the stretch goal);
- rules only — what the rule set resolves, everything else deferred;
- argmax     — rules, then the uncalibrated model's argmax for every remaining record;
- raw ≥ 0.8  — rules, then the model where its *raw* top probability ≥ 0.8.

Columns: autonomy (share of all test records resolved), model coverage (share of rule-free
records the model resolves), model precision (realised, on the test labels), overall precision
(rules + model), whether the target precision held for the model's resolutions. Figures
(reliability, coverage–precision, confusion) go to benchmarks/results/quality/<domain>/.

road_fines: fines created before 2012-01-01 only (right-censoring: later fines rarely reach
credit collection inside the log, see its PROVENANCE.md).

`python -m benchmarks quality [--quick]` (--quick: CRM and vinst only).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd

from autoresolve.model.datasets import load_domain_frame
from autoresolve.model.domain import load_domain
from autoresolve.model.train import train_policy
from benchmarks.common import RESULTS, data_file, peak_rss_mb, write_result

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = {
    "crm": {},
    "vinst_escalation": {},
    "vinst_orgline": {},
    "road_fines": {"before": "2012-01-01"},
}


def _fmt(v: object) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def run_domain(name: str, opts: dict) -> dict | None:
    domain = load_domain(ROOT / "data" / name)
    path = data_file(domain)
    if path is None:
        print(
            f"[{name}] skipped: data file {domain.data_path} is absent "
            "(../shared/datasets not here; set AUTORESOLVE_DATASETS to its folder)."
        )
        return None
    df = load_domain_frame(domain, path)
    note = ""
    if "before" in opts:
        cut = pd.Timestamp(opts["before"], tz="UTC")
        keep = df[domain.time] < cut
        note = f"rows with {domain.time} < {opts['before']} only ({int(keep.sum())} of {len(df)})"
        df = df[keep].reset_index(drop=True)
    t0 = time.perf_counter()
    _policy, report = train_policy(domain, df, seed=0)
    seconds = time.perf_counter() - t0
    ev = report.evaluation
    m = report.metrics
    target = domain.policy.target_precision
    rows = [
        {
            "method": "policy (certified)",
            "autonomy": m["autonomy"],
            "model_coverage": m["coverage"],
            "model_precision": m["realised_precision"],
            "overall_precision": m["overall_precision"],
            "target_held": m["target_held"],
        }
    ]
    for key, label in (
        ("rules_only", "rules only"),
        ("argmax_uncalibrated", "argmax (uncalibrated)"),
        ("raw_cut_0.8", "raw prob ≥ 0.8"),
    ):
        b = ev["baselines"][key]
        rows.append(
            {
                "method": label,
                "autonomy": b["autonomy"],
                "model_coverage": b["model_coverage"],
                "model_precision": b["model_precision"],
                "overall_precision": b["precision"],
                "target_held": b["target_held"],
            }
        )
    _, per = train_policy(domain, df, seed=0, per_class=True)
    pm = per.metrics
    rows.insert(
        1,
        {
            "method": "policy, λ per class",
            "autonomy": pm["autonomy"],
            "model_coverage": pm["coverage"],
            "model_precision": pm["realised_precision"],
            "overall_precision": pm["overall_precision"],
            "target_held": pm["target_held"],
        },
    )
    figdir = RESULTS / "quality" / name
    figdir.mkdir(parents=True, exist_ok=True)
    for fname, png in report.figures().items():
        (figdir / fname).write_bytes(png)
    return {
        "domain": name,
        "note": note,
        "target_precision": target,
        "confidence": domain.policy.confidence,
        "rows": len(df),
        "splits": report.splits,
        "chosen": report.chosen,
        "why": report.why,
        "certificate": {k: v for k, v in report.certificate.items() if k != "p_values"},
        "train_seconds": seconds,
        "methods": rows,
        "ece": m["ece"],
        "ece_uncalibrated": m["ece_uncalibrated"],
        "rule_precision": m["rule_precision"],
        "novelty": {k: v for k, v in report.novelty.items() if k.startswith("test_")},
        "per_class_precision": {c: v["precision"] for c, v in ev["per_class_precision"].items()},
        "figures": str(figdir.relative_to(ROOT)),
    }


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [n for n in DOMAINS if not (quick and n == "road_fines")]
    results = []
    for name in names:
        print(f"\n[{name}] training …", flush=True)
        r = run_domain(name, DOMAINS[name])
        if r is None:
            continue
        results.append(r)
        cert = r["certificate"]
        print(
            f"[{name}] {r['rows']} rows{'; ' + r['note'] if r['note'] else ''}; "
            f"test {r['splits']['test']['rows']} rows from {r['splits']['test']['time_start']}; "
            f"trained in {r['train_seconds']:.1f}s; chose {r['chosen']}"
        )
        print(f"  certificate: λ={cert['threshold']} — {cert['reason']}")
        print(
            f"  ECE {r['ece']:.3f} (uncalibrated {r['ece_uncalibrated']:.3f}); "
            f"novelty {r['novelty']}"
        )
        header = ["method", "autonomy", "model_coverage", "model_precision", "overall_precision"]
        print("  " + " | ".join(f"{h:>22}" for h in [*header, "target held"]))
        for row in r["methods"]:
            cells = [row[h] for h in header] + [row["target_held"]]
            print("  " + " | ".join(f"{_fmt(c):>22}" for c in cells))
    path = write_result("quality", {"peak_rss_mb": peak_rss_mb(), "domains": results})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
