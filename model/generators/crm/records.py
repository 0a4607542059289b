"""Generate records: months and kinds, the background every record has, each kind's shaping,
derived fields, label noise and timestamps; the records and their hidden metadata.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from autoresolve.model.generators.crm.catalogue import (
    CORP_DOMAINS,
    CORP_WEIGHTS,
    COUNTRIES,
    COUNTRY_MIX_EARLY,
    COUNTRY_MIX_LATE,
    DEFAULT_N,
    DEFAULT_SEED,
    DISPOSABLE_DOMAINS,
    FIELDS,
    FREE_DOMAINS,
    FREE_WEIGHTS,
    INDUSTRIES,
    INDUSTRY_MIX,
    LEAD_MIX_EARLY,
    LEAD_MIX_LATE,
    LEAD_SOURCES,
    MONTHS,
    NEUTRAL_NOTES,
    PARTNER_CODES,
    PARTNER_WEIGHTS,
    RESOLUTIONS,
    STAGE_MIX,
    STAGES,
    START,
    TERRITORY_OF,
    US_TERRITORIES,
)
from autoresolve.model.generators.crm.draw import Draw, isin
from autoresolve.model.generators.crm.kinds import (
    KIND_FUNCS,
    KIND_NAMES,
    KINDS,
    NEW_KINDS,
    NOISE_AMBIGUOUS,
    NOISE_CLEAR,
    NOISE_RULE,
    RULE_KINDS,
    WORKFLOW_OF_KIND,
)


def _assign_months_and_kinds(d: Draw) -> tuple[np.ndarray, np.ndarray]:
    months = d.months
    volume = 1.0 + 0.03 * np.arange(months)
    month = np.sort(d.rng.choice(months, size=d.n, p=volume / volume.sum()))
    base = np.array([s for _, s, _ in KINDS])
    base = base / base.sum()
    kind = np.empty(d.n, dtype=np.int64)
    names = list(KIND_NAMES)
    for m in range(months):
        idx = np.flatnonzero(month == m)
        new = np.zeros(len(NEW_KINDS))
        for j, (start_frac, ramp) in enumerate(NEW_KINDS.values()):
            first = round(start_frac * months)
            if m >= first:
                new[j] = ramp[min(m - first, len(ramp) - 1)]
        p = np.concatenate([base * (1.0 - new.sum()), new])
        kind[idx] = d.rng.choice(len(names), size=len(idx), p=p)
    return month, kind


def _background(d: Draw, month: np.ndarray, kind: np.ndarray) -> None:
    """Fields every record has before its kind shapes it: the year's mix, with drift."""
    n, rng = d.n, d.rng
    t = month / max(d.months - 1, 1)
    cols = d.cols
    workflow = np.empty(n, dtype=object)
    for k, name in enumerate(KIND_NAMES):
        idx = np.flatnonzero(kind == k)
        mix = WORKFLOW_OF_KIND[name]
        workflow[idx] = d.pick(list(mix), len(idx), list(mix.values()))
    cols["workflow"] = workflow
    cols["error_code"] = np.full(n, None, dtype=object)
    lead_p = (1 - t)[:, None] * LEAD_MIX_EARLY + t[:, None] * LEAD_MIX_LATE
    lead = np.asarray(LEAD_SOURCES, dtype=object)[d.rows_choice(lead_p)]
    cols["lead_source"] = lead
    country_p = (1 - t)[:, None] * COUNTRY_MIX_EARLY + t[:, None] * COUNTRY_MIX_LATE
    country = np.asarray(COUNTRIES, dtype=object)[d.rows_choice(country_p)]
    missing_country = d.chance(np.where(lead == "list_import", 0.25, 0.04), n)
    country[missing_country] = None
    cols["country"] = country
    territory = np.array([TERRITORY_OF.get(c) if c else None for c in country], dtype=object)
    us = np.flatnonzero(country == "US")
    territory[us] = d.pick(US_TERRITORIES, len(us), [0.45, 0.25, 0.3])
    cols["territory"] = territory
    domain = np.where(
        d.chance(0.22, n),
        d.pick(FREE_DOMAINS, n, FREE_WEIGHTS),
        d.pick(CORP_DOMAINS, n, CORP_WEIGHTS),
    ).astype(object)
    domain[d.chance(0.02, n)] = None
    cols["email_domain"] = domain
    industry = d.pick(INDUSTRIES, n, INDUSTRY_MIX)
    employees = np.clip(np.round(d.lognormal(220, 1.7, n)), 1, 250_000)
    revenue = np.round(employees * d.lognormal(140_000, 0.6, n), -3)
    no_company = d.chance(0.1, n)
    employees[no_company] = np.nan
    revenue[no_company | d.chance(0.08, n)] = np.nan
    industry[no_company | d.chance(0.05, n)] = None
    cols["industry"], cols["employees"], cols["annual_revenue"] = industry, employees, revenue
    has_deal = d.chance(np.where(isin(workflow, ["deal_routing", "renewal_routing"]), 0.9, 0.15), n)
    size = np.where(np.isnan(employees), 100.0, employees)
    deal = d.lognormal(9_000, 0.9, n) * (size / 100.0) ** 0.3 * (1.0 + 0.35 * t)
    deal = np.where(has_deal, np.round(deal, -2), np.nan)
    cols["deal_amount"] = deal
    stage = d.pick(STAGES, n, STAGE_MIX)
    stage[d.chance(0.03, n)] = None
    cols["lifecycle_stage"] = stage
    cols["duplicate_score"] = np.round(rng.beta(1.5, 8.0, n), 3)
    customer = d.chance(np.where(stage == "customer", 0.95, 0.07), n).astype(float)
    cols["is_existing_customer"] = customer
    views = rng.negative_binomial(1.2, 1.2 / (1.2 + 8.0), n).astype(float)
    views[d.chance(np.where(lead == "list_import", 0.6, 0.05), n)] = np.nan
    cols["page_views"] = views
    owner = d.pick([1.0, 0.0, np.nan], n, [0.7, 0.08, 0.22]).astype(float)
    cols["owner_active"] = owner
    notes = d.pick(NEUTRAL_NOTES, n)
    notes[d.chance(0.45, n)] = None
    cols["notes"] = notes
    cols["partner_code"] = np.full(n, None, dtype=object)
    cols["is_free_email"] = np.full(n, np.nan)


def _finish(d: Draw, kind: np.ndarray) -> None:
    """Fields derived from others once every kind has had its say."""
    cols = d.cols
    domain = cols["email_domain"]
    present = np.array([v is not None for v in domain], dtype=bool)
    free = isin(domain, FREE_DOMAINS + DISPOSABLE_DOMAINS)
    cols["is_free_email"] = np.where(present, free.astype(float), np.nan)
    partner = cols["partner_code"]
    forced = np.isin(
        kind,
        [
            KIND_NAMES.index("partner_mapped"),
            KIND_NAMES.index("routing_conflict"),
            KIND_NAMES.index("partner_no_code"),
        ],
    )
    fill = (~forced) & (cols["lead_source"] == "partner_referral") & d.chance(0.85, d.n)
    partner[fill] = d.pick(PARTNER_CODES, int(fill.sum()), PARTNER_WEIGHTS)


def _noise(d: Draw, kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    on_rule = np.isin(kind, [KIND_NAMES.index(k) for k in RULE_KINDS])
    rate = np.where(on_rule, NOISE_RULE, np.where(d.ambiguous, NOISE_AMBIGUOUS, NOISE_CLEAR))
    noisy = d.rng.random(d.n) < rate
    clean = d.label.copy()
    res = np.asarray(RESOLUTIONS, dtype=object)
    pos = {r: k for k, r in enumerate(RESOLUTIONS)}
    codes = np.array([pos[v] for v in clean[noisy]], dtype=np.int64)
    shift = d.rng.integers(1, len(RESOLUTIONS), len(codes))
    d.label[noisy] = res[(codes + shift) % len(RESOLUTIONS)]
    return clean, noisy


def _timestamps(d: Draw, month: np.ndarray, start: str) -> np.ndarray:
    first = np.datetime64(pd.Timestamp(start).strftime("%Y-%m"), "M")
    month_start = (first + month.astype("timedelta64[M]")).astype("datetime64[s]")
    month_end = (first + (month + 1).astype("timedelta64[M]")).astype("datetime64[s]")
    days = ((month_end - month_start) / np.timedelta64(1, "D")).astype(np.int64)
    day = np.floor(d.rng.random(d.n) * days).astype(np.int64)
    hour_w = np.array([1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 8, 9, 10, 9, 8, 6, 4, 3, 2, 2, 1, 1])
    hour = d.rng.choice(24, size=d.n, p=hour_w / hour_w.sum())
    sec = d.rng.integers(0, 3600, d.n)
    offset = day * 86_400 + hour * 3_600 + sec
    return month_start + offset.astype("timedelta64[s]")


def generate_with_meta(
    n: int = DEFAULT_N, seed: int = DEFAULT_SEED, *, start: str = START, months: int = MONTHS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records (id, created_at, the 18 fields, resolution) and their hidden metadata.

    `meta` has one row per record, same order: `record_id, case_kind, rule_path, ambiguous,
    clean_resolution, noisy`. Only the first frame is data; never train on `meta`.
    Columns use the schema types of `model.records`: category/text object with None,
    number and boolean float64 with NaN (booleans 1.0/0.0), created_at datetime64 UTC.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}.")
    d = Draw(n, seed, months)
    month, kind = _assign_months_and_kinds(d)
    _background(d, month, kind)
    for k, name in enumerate(KIND_NAMES):
        idx = np.flatnonzero(kind == k)
        if len(idx):
            KIND_FUNCS[name](d, idx)
    _finish(d, kind)
    clean, noisy = _noise(d, kind)
    when = _timestamps(d, month, start)
    order = np.argsort(when, kind="stable")
    ids = np.array([f"CRM-{j:07d}" for j in range(1, n + 1)], dtype=object)
    data = {
        "record_id": pd.Series(ids, dtype=object),
        "created_at": pd.to_datetime(when[order], utc=True).as_unit("us"),
    }
    for name in FIELDS:
        col = d.cols[name][order]
        data[name] = pd.Series(col, dtype=object if col.dtype == object else np.float64)
    data["resolution"] = pd.Series(d.label[order], dtype=object)
    frame = pd.DataFrame(data)
    kind_names = np.asarray(KIND_NAMES, dtype=object)[kind[order]]
    meta = pd.DataFrame(
        {
            "record_id": ids,
            "case_kind": pd.Series(kind_names, dtype=object),
            "rule_path": isin(kind_names, list(RULE_KINDS)),
            "ambiguous": d.ambiguous[order] & ~isin(kind_names, list(RULE_KINDS)),
            "clean_resolution": pd.Series(clean[order], dtype=object),
            "noisy": noisy[order],
        }
    )
    return frame, meta


def generate(
    n: int = DEFAULT_N, seed: int = DEFAULT_SEED, *, start: str = START, months: int = MONTHS
) -> pd.DataFrame:
    """The records only: what a CRM export of these exceptions would hold."""
    return generate_with_meta(n, seed, start=start, months=months)[0]
