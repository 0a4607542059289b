"""What `explain=true` costs, and that the decision path does not pay it when nobody asks.

On the CRM demo's champion-like policy (LightGBM, trained on 24,000 demo records), one rule-free
record at a time, p50/p99 µs in the same run:

- decide: `Policy.decide_records([record])` + `decision_json` — the single-record path that
  `POST /v1/resolve` runs (unchanged by explanations: it never computes them);
- decide + explain: the same, then `Policy.explain_records` (LightGBM `pred_contrib`, columns
  summed back to fields) — what `explain=true` adds.

Reported: both, and their ratio (what asking for `why` costs per record). The HTTP path without
`explain` is measured by `python -m benchmarks http` (an A/B against the code before the console
is in docs/performance.md).

`python -m benchmarks explain [--quick]`.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

from autoresolve.model.datasets import load_domain_frame
from autoresolve.model.domain import load_domain
from autoresolve.model.train import train_policy
from autoresolve.service.decision_codec import decision_json, jsonable
from benchmarks.common import percentiles_us, write_result

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    domain = load_domain(os.path.join(ROOT, "data", "crm"))
    df = load_domain_frame(domain)
    policy, _ = train_policy(domain, df.iloc[: 8000 if quick else len(df)], seed=0)
    rows = df.iloc[-2000:].drop(columns=[domain.label])
    records = [jsonable(r) for r in rows.to_dict("records")]
    free = [r for r in records if policy.rules.match_record(r) is None][:500]
    state = {"i": 0}

    def next_record() -> dict:
        state["i"] = (state["i"] + 1) % len(free)
        return free[state["i"]]

    def decide() -> dict:
        return decision_json(policy.decide_records([next_record()])[0])

    def decide_explain() -> dict:
        record = next_record()
        out = decision_json(policy.decide_records([record])[0])
        out["why"] = policy.explain_records([record], [out])[0]
        return out

    n = 1000 if quick else 5000
    base = percentiles_us(decide, n)
    explained = percentiles_us(decide_explain, n)
    again = percentiles_us(decide, n)  # the baseline twice: the run's own noise
    ratio = explained["p50_us"] / base["p50_us"]
    print(f"{'path':<22}{'p50 µs':>10}{'p99 µs':>10}")
    for name, m in (("decide", base), ("decide + explain", explained), ("decide (again)", again)):
        print(f"{name:<22}{m['p50_us']:>10.1f}{m['p99_us']:>10.1f}")
    repeat = again["p50_us"] / base["p50_us"]
    print(f"explain costs {ratio:.1f}× the decision (p50); baseline repeat {repeat:.2f}×")
    write_result(
        "explain",
        {"decide": base, "decide_explain": explained, "decide_again": again, "ratio_p50": ratio},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
