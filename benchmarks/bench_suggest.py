"""Rule suggestions: mining time on 100,000 labelled records × 20 fields (`--quick`: 20,000).

Synthetic records with 10 category fields (8 to 400 values), 6 numbers, 3 booleans and a text
field, 8 resolutions, three planted rules (one to three conditions, 1% label noise) and a
noisy remainder. The baseline,
measured in the same run, is one counting pass: `pd.crosstab` of every field (numbers in 16
bins) against the label, which any miner must at least do once. Target (issue 13): well under a
minute for 100k × 20 on this 2-core machine.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from autoresolve.rules import parse_rules
from autoresolve.rules.mine import MiningConfig, suggest_rules
from benchmarks.common import peak_rss_mb, timed, write_result

CATS = {f"cat{i}": v for i, v in enumerate([8, 12, 20, 30, 50, 80, 120, 200, 300, 400])}
NUMS = [f"num{i}" for i in range(6)]
BOOLS = [f"flag{i}" for i in range(3)]
FIELDS = (
    dict.fromkeys(CATS, "category")
    | dict.fromkeys(NUMS, "number")
    | dict.fromkeys(BOOLS, "boolean")
    | {"note": "text", "created_at": "datetime"}
)
RESOLUTIONS = [f"res_{i}" for i in range(8)]
PLANTED = {  # disjoint (by cat0), so each is a true rule on its own
    "res_1": lambda d: (d["cat0"] == "v3") & (d["num0"] > 60),
    "res_2": lambda d: (d["cat0"] == "v1") & d["cat8"].isin([f"v{i}" for i in range(6)]),
    "res_3": lambda d: (d["cat0"] == "v0") & (d["flag0"] == True) & (d["cat1"] == "v5"),  # noqa: E712
}


def make_frame(n: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {"record_id": [f"r{i}" for i in range(n)]}
    for name, k in CATS.items():
        p = 1.0 / np.arange(1, k + 1) ** 0.8
        col = rng.choice(np.array([f"v{i}" for i in range(k)], dtype=object), n, p=p / p.sum())
        col[rng.random(n) < 0.05] = None
        data[name] = col
    for name in NUMS:
        col = rng.gamma(2.0, 20.0, n)
        col[rng.random(n) < 0.05] = np.nan
        data[name] = col
    for name in BOOLS:
        col = (rng.random(n) < 0.3).astype(object)
        col[rng.random(n) < 0.05] = None
        data[name] = col
    data["note"] = rng.choice(np.array(["a", "b", None], dtype=object), n)
    data["created_at"] = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, 365, n)), unit="D"
    )
    df = pd.DataFrame(data)
    label = rng.choice(np.array(RESOLUTIONS, dtype=object), n)
    for res, when in PLANTED.items():
        hit = when(df).to_numpy(dtype=bool)
        label[hit] = np.where(rng.random(hit.sum()) < 0.99, res, "res_0")
    df["resolution"] = label
    return df


def crosstab_pass(df: pd.DataFrame) -> int:
    cells = 0
    for name, kind in FIELDS.items():
        if kind == "datetime":
            continue
        col = df[name]
        if kind == "number":
            col = pd.qcut(col, 16, duplicates="drop")
        cells += pd.crosstab(col, df["resolution"], dropna=False).size
    return cells


def main(argv: list[str]) -> int:
    n = 20_000 if "--quick" in argv else 100_000
    df, t_gen = timed(lambda: make_frame(n))
    fields = len(FIELDS) - 1
    print(f"{n:,} records × {fields} fields generated in {t_gen:.1f}s", flush=True)
    existing = parse_rules("rules: []", FIELDS, RESOLUTIONS)
    cfg = MiningConfig()
    runs = []
    for _ in range(3):
        result, t = timed(
            lambda: suggest_rules(
                df,
                label="resolution",
                fields=FIELDS,
                resolutions=RESOLUTIONS,
                existing=existing,
                time="created_at",
                config=cfg,
            )
        )
        runs.append(t)
    t_mine = float(np.median(runs))
    t_base = float(np.median([timed(lambda: crosstab_pass(df))[1] for _ in range(3)]))
    found = sorted({s.then for s in result.suggestions} & set(PLANTED))
    rows = [
        ("mining, median of 3, s", round(t_mine, 2)),
        ("baseline: one crosstab pass over every field, s", round(t_base, 3)),
        ("mining / baseline", round(t_mine / t_base, 1)),
        ("conditions measured exactly", result.candidates),
        ("candidates tested on newer labels", result.family_size),
        ("suggestions", len(result.suggestions)),
        (f"planted rules found ({len(PLANTED)})", ", ".join(found) or "none"),
        ("share of newest records added", round(result.coverage["share_added"], 3)),
        ("peak RSS, MB", round(peak_rss_mb())),
    ]
    for k, v in rows:
        print(f"  {k:<50} {v}")
    for s in result.suggestions:
        print(f"    {s.then}: {s.when}  ({s.correct}/{s.decided}, bound {s.lower_bound:.3f})")
    path = write_result(
        "suggest",
        {
            "records": n,
            "fields": fields,
            "mining_s": t_mine,
            "mining_runs_s": runs,
            "crosstab_baseline_s": t_base,
            "ratio_to_baseline": t_mine / t_base,
            "candidates": result.candidates,
            "tested": result.family_size,
            "suggestions": [s.to_dict() for s in result.suggestions],
            "planted_found": found,
            "peak_rss_mb": peak_rss_mb(),
            "target_s": 60,
        },
    )
    print(f"wrote {path}")
    return 0 if t_mine < 60 and len(found) == len(PLANTED) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
