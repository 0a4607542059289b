"""Does the certificate hold on the next period? Split schemes compared on forward periods.

For each domain, the newest 60% of the time-ordered records is cut into equal blocks (10 per
domain; calendar periods are too uneven on vinst, where 72% of the records fall in the last
week). For each block: train with `train_policy` on every record before it, once per split
scheme and seed (the seed draws the random slices; 3 seeds, 1 on road_fines where nothing
certifies), then decide the block's records — the *next* period — with that policy and count how
many the model resolved and how many of those were right. Nothing in or after the block is used
for any choice; the block is only measured.

Schemes (model/splits.py):
- recent_pool — calib, cert and valid are random samples of the recent records; the model is
  fitted on the rest (the old default);
- forward     — the certification slice is the newest records before the test slice, strictly
  after everything the model was fitted on; valid and calib are random samples of the recent
  records before it;
- time        — fit → valid → calib → cert → test, all in time order.

Reported per scheme: certified share of trainings, the pooled realised model precision on the next
periods with its Clopper–Pearson 90% interval, mean coverage (model-resolved share of the
records no rule resolves), and how many next periods fell below the target (point estimate) or
wholly below it (the interval's upper end under the target).

road_fines: fines created before 2012-01-01 only (right-censoring, see bench_quality). The real
datasets are read where the domain file says (../shared/datasets from the repository); set
AUTORESOLVE_DATASETS to the datasets folder when the checkout sits elsewhere.

`python -m benchmarks forward [--quick] [--schemes a,b] [--seeds N] [--cuts N]` (--quick: 3
blocks, seed 0, CRM and vinst only; --schemes: a subset of the schemes; --seeds, --cuts: at most
that many seeds and blocks per domain, for a shorter run on a busy machine).
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from autoresolve.model.datasets import load_domain_frame
from autoresolve.model.domain import Domain, load_domain
from autoresolve.model.evaluation import interval
from autoresolve.model.train import train_policy
from benchmarks.common import data_file, peak_rss_mb, write_result

ROOT = Path(__file__).resolve().parents[1]
SCHEMES = ("recent_pool", "forward", "time")
HISTORY_START = 0.4
DOMAINS: dict[str, dict] = {
    "crm": {"cuts": 10, "seeds": 3},
    "vinst_escalation": {"cuts": 10, "seeds": 3},
    "vinst_orgline": {"cuts": 10, "seeds": 3},
    "road_fines": {"cuts": 6, "seeds": 1, "before": "2012-01-01"},
}


def blocks(n: int, n_cuts: int, start: float = HISTORY_START) -> list[tuple[int, int]]:
    """(first, end) row positions of `n_cuts` equal blocks covering the newest 1 − start of the
    time-ordered rows; block k's history is every row before `first`."""
    edges = np.linspace(start * n, n, n_cuts + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def next_period(
    domain: Domain, history: pd.DataFrame, nxt: pd.DataFrame, scheme: str, seed: int
) -> dict:
    t0 = time.perf_counter()
    policy, report = train_policy(domain, history, seed=seed, split_mode=scheme)
    seconds = time.perf_counter() - t0
    decisions = policy.decide_frame(nxt)
    truth = nxt[domain.label].astype(str).to_numpy(dtype=object)
    by_model = (decisions["source"] == "model").to_numpy()
    right = decisions["resolution"].to_numpy(dtype=object)[by_model] == truth[by_model]
    k, n = int(right.sum()), int(by_model.sum())
    rule_free = int((decisions["source"] != "rule").sum())
    lo, hi = interval(k, n) if n else (None, None)
    cert = report.certificate
    return {
        "scheme": scheme,
        "certified": not policy.resolves_nothing,
        "threshold": cert.get("threshold"),
        "cert_accepted": cert.get("accepted"),
        "cert_records": cert.get("n_calibration"),
        "records": len(nxt),
        "rule_free": rule_free,
        "model_resolved": n,
        "model_right": k,
        "precision": k / n if n else None,
        "ci90": [lo, hi],
        "coverage": n / rule_free if rule_free else 0.0,
        "train_seconds": seconds,
    }


def summarise(rows: list[dict], target: float) -> dict:
    k = sum(r["model_right"] for r in rows)
    n = sum(r["model_resolved"] for r in rows)
    active = [r for r in rows if r["model_resolved"] > 0]
    lo, hi = interval(k, n) if n else (None, None)
    return {
        "trainings": len(rows),
        "certified": sum(r["certified"] for r in rows),
        "periods_with_model_resolutions": len(active),
        "pooled_precision": k / n if n else None,
        "pooled_ci90": [lo, hi],
        "model_resolved": n,
        "mean_coverage": float(np.mean([r["coverage"] for r in rows])) if rows else 0.0,
        "below_target": sum(r["precision"] < target for r in active),
        "wholly_below": sum(r["ci90"][1] < target for r in active),
        "min_precision": min((r["precision"] for r in active), default=None),
    }


def run_domain(
    name: str, opts: dict, n_cuts: int, n_seeds: int, schemes: tuple[str, ...] = SCHEMES
) -> dict | None:
    domain = load_domain(ROOT / "data" / name)
    path = data_file(domain)
    if path is None:
        print(
            f"[{name}] skipped: data file {domain.data_path} is absent "
            "(../shared/datasets not here; set AUTORESOLVE_DATASETS to its folder)."
        )
        return None
    df = load_domain_frame(domain, path)
    if "before" in opts:
        df = df[df[domain.time] < pd.Timestamp(opts["before"], tz="UTC")]
    df = df.sort_values(domain.time, kind="stable").reset_index(drop=True)
    target = domain.policy.target_precision
    per_cut = []
    for first, end in blocks(len(df), n_cuts):
        history = df.iloc[:first].reset_index(drop=True)
        nxt = df.iloc[first:end].reset_index(drop=True)
        cut = f"{nxt[domain.time].iloc[0]:%Y-%m-%d %H:%M} … {nxt[domain.time].iloc[-1]:%Y-%m-%d}"
        for seed, scheme in itertools.product(range(n_seeds), schemes):
            row = next_period(domain, history, nxt, scheme, seed)
            row.update(cut=str(cut), history=len(history), seed=seed)
            per_cut.append(row)
            prec = "—" if row["precision"] is None else f"{row['precision']:.3f}"
            print(
                f"[{name}] next {cut} ({len(nxt)} records, history {len(history)}) "
                f"seed {seed} {scheme:>11}: λ={row['threshold']} resolved {row['model_resolved']} "
                f"precision {prec} coverage {row['coverage']:.3f} "
                f"({row['train_seconds']:.1f}s)",
                flush=True,
            )
    summary = {s: summarise([r for r in per_cut if r["scheme"] == s], target) for s in schemes}
    return {
        "domain": name,
        "target_precision": target,
        "confidence": domain.policy.confidence,
        "periods": domain.periods,
        "rows": len(df),
        "summary": summary,
        "per_cut": per_cut,
    }


def _fmt_ci(ci: list) -> str:
    return "—" if ci[0] is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    schemes = tuple((_option(argv, "--schemes") or ",".join(SCHEMES)).split(","))
    if unknown := set(schemes) - set(SCHEMES):
        print(f"--schemes: {sorted(unknown)} not among {SCHEMES}.")
        return 2
    max_seeds = int(_option(argv, "--seeds") or 99)
    max_cuts = int(_option(argv, "--cuts") or 99)
    results = []
    for name, opts in DOMAINS.items():
        if quick and name == "road_fines":
            continue
        cuts = min(3 if quick else opts["cuts"], max_cuts)
        seeds = min(1 if quick else opts["seeds"], max_seeds)
        r = run_domain(name, opts, cuts, seeds, schemes)
        if r is None:
            continue
        results.append(r)
    print(
        "\n| domain | scheme | certified | next periods with model resolutions | pooled "
        "precision [90% CI] | mean coverage | below target | wholly below |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        for scheme, s in r["summary"].items():
            prec = "—" if s["pooled_precision"] is None else f"{s['pooled_precision']:.3f}"
            print(
                f"| {r['domain']} (target {r['target_precision']:g}) | {scheme} | "
                f"{s['certified']}/{s['trainings']} | {s['periods_with_model_resolutions']} | "
                f"{prec} {_fmt_ci(s['pooled_ci90'])} ({s['model_resolved']} resolved) | "
                f"{s['mean_coverage']:.3f} | {s['below_target']} | {s['wholly_below']} |"
            )
    path = write_result("forward", {"peak_rss_mb": peak_rss_mb(), "domains": results})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
