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

Then today's scheme against the new one, each change on its own and together, on the same test
slice (`schemes` in the JSON; docs/quality.md's first table):

- today             — hand-written rules, one global certified threshold, a text field's 60
  tokens ranked by chi-square (the scheme before issue 13);
- + text vocabulary — 120 tokens ranked by the records they move (`token_excess`);
- + λ per class     — thresholds chosen automatically (`per_class="auto"`: per predicted class,
  certified together on one level, when the calibration slice favours it);
- + learned rules   — rules learned from labels (model.learned_loop: the miner of `rules
  suggest`, on every labelled record before the test slice, weighted by today's policy's
  decisions as `rules suggest` weighs them with a champion), loaded after the hand-written ones
  *if the retraining job's gates adopt them* (`challenge` on the records before the test slice);
- new               — all three.

For each: the share of all test records resolved by hand-written rules, by learned rules and by
the model, each with its realised precision, and the model's coverage of the rule-free records.

`python -m benchmarks quality [--quick]` (--quick: CRM and vinst only).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from autoresolve.model.datasets import load_domain_frame
from autoresolve.model.domain import load_domain
from autoresolve.model.learned_loop import RESOLVED_WEIGHT, refresh_learned_rules
from autoresolve.model.policy import default_rules
from autoresolve.model.records import coerce_frame
from autoresolve.model.retraining import LABELLED_AT, JobInputs, JobSettings, challenge
from autoresolve.model.splits import time_splits
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
    today, _ = train_policy(domain, df, seed=0, per_class=False, feature_options=TODAY_FEATURES)
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
    _, per = train_policy(domain, df, seed=0, per_class="bonferroni")
    pm = per.metrics
    rows.insert(
        1,
        {
            "method": "policy, λ per class (Bonferroni)",
            "autonomy": pm["autonomy"],
            "model_coverage": pm["coverage"],
            "model_precision": pm["realised_precision"],
            "overall_precision": pm["overall_precision"],
            "target_held": pm["target_held"],
        },
    )
    schemes = compare_schemes(domain, df, today)
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
        "schemes": schemes,
    }


def _test_slice(domain, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(everything before the test slice, the test slice), as `train_policy` cuts them."""
    frame = coerce_frame(domain, df)
    frame = frame[frame[domain.label].notna()].reset_index(drop=True)
    splits = time_splits(domain, frame, seed=0)
    test = splits["test"]
    before = np.setdiff1d(np.arange(len(frame)), test)
    return frame.iloc[before].reset_index(drop=True), frame.iloc[test].reset_index(drop=True)


def _by_source(policy, test: pd.DataFrame, label: str) -> dict:
    """Shares of all test records each source resolves, with its realised precision."""
    dec = policy.decide_frame(test.drop(columns=[label]))
    truth = test[label].astype(object).to_numpy()
    resolved = (dec["outcome"] == "resolved").to_numpy()
    right = dec["resolution"].astype(object).to_numpy() == truth
    learned = {r.id for r in policy.rules.rules if getattr(r, "learned", None) is not None}
    rule = resolved & (dec["source"] == "rule").to_numpy()
    by_learned = rule & dec["rule_id"].isin(learned).to_numpy()
    parts = {
        "hand_rules": rule & ~by_learned,
        "learned_rules": by_learned,
        "model": resolved & (dec["source"] == "model").to_numpy(),
        "all": resolved,
    }
    n = len(test)
    out = {
        k: {
            "share": float(m.sum() / n) if n else 0.0,
            "resolved": int(m.sum()),
            "precision": float(right[m].mean()) if m.any() else None,
        }
        for k, m in parts.items()
    }
    free = dec["rule_id"].isna().to_numpy()
    out["model"]["coverage_rule_free"] = float(parts["model"][free].mean()) if free.any() else 0.0
    out["learned_rules"]["count"] = len(learned)
    out["threshold_mode"] = policy.certificate.get("mode")
    return out


def _claim(rule) -> dict:
    return dict((rule.learned or {}).get("precision") or {})


TODAY_FEATURES = {"max_tokens": 60, "vocabulary_rank": "chi2"}  # before this change
SCHEMES = (
    ("today", TODAY_FEATURES, False, False),
    ("+ text vocabulary", None, False, False),
    ("+ λ per class (auto)", None, "auto", False),
    ("+ learned rules (gated)", None, False, True),
    ("new (all three)", None, "auto", True),
)


def _gate_learned(domain, champion, learned, before: pd.DataFrame) -> dict:
    """Would the retraining job adopt the learned rules? `challenge` on the records before the
    test slice (its fallback window: their newest 20%, held out of the challenger), against a
    champion trained on all of them with today's rules."""
    job_labels = pd.DataFrame(columns=[*before.columns, LABELLED_AT])
    result = challenge(
        domain=domain,
        champion=champion,
        rules=learned,
        inputs=JobInputs(before, job_labels, None, None, None),
        need=None,
        settings=JobSettings(),
        seed=0,
    )
    return {"passed": result.passed, "reasons": list(result.gate.reasons)}


def compare_schemes(domain, df: pd.DataFrame, today) -> dict:
    """Today's scheme, each change alone, and all of them (see the module doc), on one test
    slice. Learned rules count only where the retrain gates adopt them."""
    before, test = _test_slice(domain, df)
    decided = today.decide_frame(before.drop(columns=[domain.label]))
    by_model = ((decided["source"] == "model") & (decided["outcome"] == "resolved")).to_numpy()
    t0 = time.perf_counter()
    update = refresh_learned_rules(
        domain,
        default_rules(domain),
        before,
        weights=np.where(by_model, RESOLVED_WEIGHT, 1.0),
    )
    mining_s = time.perf_counter() - t0
    learned = update.rules
    out: dict = {
        "test_records": len(test),
        "learned_rules": {
            "added": list(update.added),
            "mined_on": update.mined,
            "seconds": mining_s,
            "rules": [
                {"id": r.id, "when": r.when, "then": r.then, **_claim(r)}
                for r in learned.rules
                if r.learned is not None
            ],
        },
    }
    policies: dict = {"today": today}
    gate = None
    for name, features, per_class, with_learned in SCHEMES:
        if with_learned and gate is None:  # the champion: this change's features, its rules
            champion = policies["+ text vocabulary"]
            gate = _gate_learned(domain, champion, learned, before) if update.added else {}
            out["learned_rules"]["gate"] = gate
        rules = learned if (with_learned and gate and gate["passed"]) else None
        if name not in policies:
            policies[name], _ = train_policy(
                domain, df, seed=0, rules=rules, per_class=per_class, feature_options=features
            )
        out[name] = _by_source(policies[name], test, domain.label)
    return out


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
    print_schemes(results)
    path = write_result("quality", {"peak_rss_mb": peak_rss_mb(), "domains": results})
    print(f"\nwrote {path}")
    return 0


def print_schemes(results: list[dict]) -> None:
    """The first table of docs/quality.md: today's scheme against the new one, per domain."""
    print("\n| domain | scheme | hand rules | learned rules | model | autonomy | model coverage "
          "(rule-free) | threshold mode |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")

    def cell(part: dict) -> str:
        prec = part["precision"]
        return f"{part['share']:.1%}" + (f" @ {prec:.1%}" if prec is not None else "")

    for r in results:
        sch = r["schemes"]
        for name, *_ in SCHEMES:
            row = sch[name]
            n_learned = row["learned_rules"]["count"]
            print(
                f"| {r['domain']} | {name} | {cell(row['hand_rules'])} | "
                f"{cell(row['learned_rules']) if n_learned else '—'}"
                f"{f' ({n_learned} rules)' if n_learned else ''} | {cell(row['model'])} | "
                f"{cell(row['all'])} | {row['model']['coverage_rule_free']:.1%} | "
                f"{row['threshold_mode']} |"
            )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
