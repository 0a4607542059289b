"""Rules: vectorised evaluation vs a per-record loop (same rules, same run), and per-record latency.

50 rules of the usual shapes (equality, `in` lists, numeric thresholds, null checks, text
functions and RE2 patterns, arithmetic, datetimes) over 1,000,000 synthetic records
(`--quick`: 100,000). Targets (issue 3): vectorised ≥ 100× faster than the loop; per-record
p50 ≤ 50 µs for 50 rules.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
import yaml

from autoresolve.rules import parse_rules
from benchmarks.common import peak_rss_mb, percentiles_us, timed, write_result

FIELDS = {
    "workflow": "category",
    "error_code": "category",
    "country": "category",
    "email_domain": "category",
    "is_free_email": "boolean",
    "employees": "number",
    "annual_revenue": "number",
    "deal_amount": "number",
    "duplicate_score": "number",
    "page_views": "number",
    "owner_active": "boolean",
    "notes": "text",
    "created_at": "datetime",
}
RESOLUTIONS = [f"res_{i}" for i in range(10)]
CODES = [
    "NO_OWNER_MATCH",
    "DUPLICATE_SUSPECT",
    "INVALID_EMAIL",
    "ENRICHMENT_FAILED",
    "OWNER_INACTIVE",
    "UNKNOWN_TERRITORY",
    "PARTNER_UNMAPPED",
    "FREE_EMAIL_DOMAIN",
]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "ES", "IT", "BR", "IN", "JP", "CA", "AU"]


def make_rules() -> str:
    rules = []
    for i in range(50):
        code = CODES[i % len(CODES)]
        c1, c2 = COUNTRIES[i % 12], COUNTRIES[(i * 5 + 3) % 12]
        shape = i % 10
        when = {
            0: f'error_code == "{code}" and employees > {100 + 37 * i}',
            1: f'error_code == "{code}" and country in ["{c1}", "{c2}", "XX"]',
            2: f'email_domain in ["spam{i}.com", "junk{i}.net", "d{i}.io"]',
            3: f'error_code == "{code}" and deal_amount is null and is_free_email == false',
            4: f'matches(lower(notes), "urgent {i}|asap {i}")',
            5: f'duplicate_score >= 0.9{i % 10} and error_code == "{code}"',
            6: f"annual_revenue / (employees + 1) > {5000 + 100 * i} and not owner_active",
            7: f'startswith(email_domain, "corp{i}") or contains(notes, "ticket {i}")',
            8: f'created_at >= "2024-{1 + i % 12:02d}-01" and page_views == {i % 7}'
            f' and country == "{c1}"',
            9: f'(employees is null or employees < {i}) and error_code in ["{code}", '
            f'"{CODES[(i + 1) % 8]}"] and country not in ["{c1}"]',
        }[shape]
        rules.append(
            {
                "id": f"rule-{i:02d}",
                "when": when,
                "then": "defer" if i % 9 == 4 else RESOLUTIONS[i % 10],
            }
        )
    return yaml.safe_dump({"rules": rules}, sort_keys=False, width=200)


def make_frame(n: int, seed: int = 0, note_variants: int = 10) -> pd.DataFrame:
    """CRM-like records; notes are 300 templates x `note_variants` suffixes (the demo domain has
    ~900 distinct notes in 24k rows, so 3,000 in 1M is in keeping; 200 gives 60,000)."""
    rng = np.random.default_rng(seed)

    def holes(x: np.ndarray, p: float) -> np.ndarray:
        x = x.astype(float)
        x[rng.random(n) < p] = np.nan
        return x

    domains = np.array(
        [f"corp{i}.com" for i in range(300)]
        + [f"spam{i}.com" for i in range(50)]
        + ["gmail.com", "outlook.com"]
    )
    words = np.array(
        [f"{w} {k}" for w in ("urgent", "asap", "ticket", "call", "note") for k in range(60)]
    )
    notes = np.char.add(
        np.char.add(rng.choice(words, n), " re "), rng.integers(0, note_variants, n).astype(str)
    ).astype(object)
    notes[rng.random(n) < 0.3] = None
    created = pd.Timestamp("2023-06-01") + pd.to_timedelta(rng.integers(0, 600 * 86400, n), "s")
    return pd.DataFrame(
        {
            "workflow": rng.choice(["lead_routing", "dedupe", "enrichment"], n),
            "error_code": rng.choice(CODES, n),
            "country": np.where(rng.random(n) < 0.1, None, rng.choice(COUNTRIES, n)),
            "email_domain": rng.choice(domains, n),
            "is_free_email": pd.array(
                np.where(rng.random(n) < 0.05, None, rng.random(n) < 0.3), dtype="boolean"
            ),
            "employees": holes(rng.lognormal(4, 1.5, n).round(), 0.2),
            "annual_revenue": holes(rng.lognormal(13, 1.5, n), 0.25),
            "deal_amount": holes(rng.lognormal(10, 1, n), 0.6),
            "duplicate_score": holes(rng.random(n), 0.1),
            "page_views": holes(rng.integers(0, 20, n), 0.05),
            "owner_active": rng.random(n) < 0.8,
            "notes": pd.array(notes, dtype="str"),
            "created_at": created,
        }
    )


def _median_time(fn, repeats: int = 3) -> tuple[object, float]:
    times = []
    out = None
    for _ in range(repeats):
        out, t = timed(fn)
        times.append(t)
    return out, float(np.median(times))


def _cpu_time(fn) -> float:
    """CPU seconds of this process: steadier than wall time on a shared 2-core machine."""
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    n = 100_000 if quick else 1_000_000
    rs = parse_rules(make_rules(), FIELDS, RESOLUTIONS, source="bench_rules.yaml")
    df, t_gen = timed(lambda: make_frame(n))
    print(
        f"{len(rs)} rules (version {rs.version}); {n:,} records generated in {t_gen:.1f}s; "
        f"{df['notes'].nunique():,} distinct notes"
    )

    rs.match_frame(df.head(1000))  # warm-up
    framed, t_vec = _median_time(lambda: rs.match_frame(df))
    text_cols = [c for c, t in FIELDS.items() if t in ("category", "text")]
    df_obj = df.astype(dict.fromkeys(text_cols, object))  # model.records' layout: object text
    framed_obj, t_vec_obj = _median_time(lambda: rs.match_frame(df_obj))
    df_hi = make_frame(n, note_variants=200)
    framed_hi, t_vec_hi = _median_time(lambda: rs.match_frame(df_hi))
    print(
        f"vectorised (median of 3): {t_vec:.3f}s ({n / t_vec:,.0f} rows/s); object text "
        f"columns {t_vec_obj:.3f}s; {df_hi['notes'].nunique():,} distinct notes {t_vec_hi:.3f}s",
        flush=True,
    )

    records, t_dict = timed(lambda: df.to_dict("records"))
    print(f"df.to_dict('records'): {t_dict:.1f}s (not counted in either figure)", flush=True)
    match_index = rs.match_index
    chunk = max(n // 20, 1)
    parts, chunk_times, chunk_cpu, frame_cpu = [], [], [], []
    for lo in range(0, n, chunk):
        tc, cc = time.perf_counter(), time.process_time()
        parts.append([match_index(r) for r in records[lo : lo + chunk]])
        chunk_times.append((time.perf_counter() - tc) / len(parts[-1]))
        chunk_cpu.append((time.process_time() - cc) / len(parts[-1]))
        # one frame run right after each chunk (not counted in the loop's time): both meet the
        # same machine load, which on a shared machine swings either figure by half
        frame_cpu.append(_cpu_time(lambda: rs.match_frame(df)))
    t_loop = sum(t * len(p) for t, p in zip(chunk_times, parts, strict=True))
    c_loop = sum(c * len(p) for c, p in zip(chunk_cpu, parts, strict=True))
    paired = float(np.median([c * n / f for c, f in zip(chunk_cpu, frame_cpu, strict=True)]))
    looped = np.asarray([i for part in parts for i in part], dtype=np.int64)
    c_vec = float(np.median([_cpu_time(lambda: rs.match_frame(df)) for _ in range(3)]))
    # On a shared machine other jobs inflate both figures unevenly; best-of-runs for the frame
    # against best-chunk-rate for the loop compares the two at their least disturbed.
    best_vec = min(timed(lambda: rs.match_frame(df))[1] for _ in range(5))
    best_loop = min(chunk_times) * n
    agree = bool(np.array_equal(framed, looped) and np.array_equal(framed_obj, looped))
    sample_hi = df_hi.head(20_000).to_dict("records")
    agree_hi = framed_hi[:20_000].tolist() == [match_index(r) for r in sample_hi]
    agree = agree and agree_hi
    print(f"per-record loop: {t_loop:.1f}s ({n / t_loop:,.0f} rows/s); agree: {agree}")
    hit_rate = float((framed >= 0).mean())

    sample = records[:20_000]
    it = iter(range(10**9))
    match_record = rs.match_record
    lat = percentiles_us(lambda: match_record(sample[next(it) % 20_000]), 20_000, warmup=2_000)
    none_rec = dict.fromkeys(FIELDS)
    lat_none = percentiles_us(lambda: match_record(none_rec), 20_000, warmup=1_000)
    worst = {
        "error_code": "NONE",
        "country": "ZZ",
        "email_domain": "x.com",
        "notes": "hello",
        "employees": 5.0,
        "annual_revenue": 10.0,
        "created_at": "2024-03-01T10:00:00",
        "owner_active": True,
        "is_free_email": True,
        "page_views": 50.0,
    }
    assert rs.match_record(worst) is None
    lat_all = percentiles_us(lambda: match_record(worst), 20_000, warmup=1_000)

    def pp(d: dict) -> tuple[float, float]:
        return round(d["p50_us"], 1), round(d["p99_us"], 1)

    rows = [
        ("vectorised match_frame, s", round(t_vec, 3)),
        ("per-record loop (same rules, same records), s", round(t_loop, 2)),
        ("speed-up, wall time (target >= 100x)", round(t_loop / t_vec, 1)),
        ("speed-up, CPU time of this process", round(c_loop / c_vec, 1)),
        ("speed-up, best frame run vs best loop chunk", round(best_loop / best_vec, 1)),
        ("speed-up, CPU, loop chunk vs frame run after it", round(paired, 1)),
        ("speed-up, object text columns", round(t_loop / t_vec_obj, 1)),
        (f"speed-up, {df_hi['notes'].nunique():,} distinct notes", round(t_loop / t_vec_hi, 1)),
        ("frame == loop on every row", agree),
        ("share of rows a rule decides", round(hit_rate, 3)),
        ("per-record p50 / p99 us, real records", pp(lat)),
        ("per-record p50 / p99 us, all 50 rules fail", pp(lat_all)),
        ("per-record p50 / p99 us, all fields missing", pp(lat_none)),
    ]
    for k, v in rows:
        print(f"  {k:<48} {v}")
    path = write_result(
        "rules",
        {
            "records": n,
            "rules": len(rs),
            "distinct_notes": int(df["notes"].nunique()),
            "vectorised_s": t_vec,
            "vectorised_object_text_s": t_vec_obj,
            "vectorised_60k_notes_s": t_vec_hi,
            "loop_s": t_loop,
            "to_dict_s": t_dict,
            "speedup_vs_loop": t_loop / t_vec,
            "vectorised_cpu_s": c_vec,
            "loop_cpu_s": c_loop,
            "speedup_cpu": c_loop / c_vec,
            "vectorised_best_s": best_vec,
            "loop_best_rate_s": best_loop,
            "speedup_best": best_loop / best_vec,
            "speedup_cpu_paired": paired,
            "vectorised_cpu_paired_median_s": float(np.median(frame_cpu)),
            "speedup_object_text": t_loop / t_vec_obj,
            "speedup_60k_notes": t_loop / t_vec_hi,
            "agree": agree,
            "hit_rate": hit_rate,
            "per_record_us": lat,
            "per_record_all_rules_fail_us": lat_all,
            "per_record_all_missing_us": lat_none,
            "peak_rss_mb": peak_rss_mb(),
            "targets": {"speedup_vs_loop": 100, "per_record_p50_us": 50},
        },
    )
    print(f"wrote {path}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
