"""Case kinds no rule covers but a model can learn: interactions, cue words, judgement calls.

Each function sets its kind's fields on rows `i` and their clean resolution; records whose fields
do not settle the resolution are marked ambiguous (their labels are noisier).
"""

from __future__ import annotations

import numpy as np

from autoresolve.model.generators.crm.catalogue import (
    CORP_DOMAINS,
    CORP_WEIGHTS,
    FREE_DOMAINS,
    FREE_WEIGHTS,
    GOLD_CODES,
    PARTNER_CODES,
    PARTNER_WEIGHTS,
)
from autoresolve.model.generators.crm.draw import Draw, isin


def dup_fuzzy(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "DUPLICATE_SUSPECT")
    score = np.minimum(0.45 + 0.5 * d.rng.beta(2.0, 1.6, m), 0.949)
    d.set("duplicate_score", i, np.round(score, 3))
    customer = d.chance(0.25, m)
    d.set("is_existing_customer", i, customer.astype(float))
    cued = d.chance(0.3, m)
    d.set("notes", i[cued], d.cue("dup_merge", int(cued.sum())))
    d.label_as(i[cued], "merge_duplicate")
    rest = i[~cued]
    z0 = d.cols["duplicate_score"][rest] + 0.08 * ~d.free(rest)
    z = z0 + d.rng.normal(0, 0.03, len(rest))
    merge = z >= 0.83
    near = np.abs(z0 - 0.83) < 0.05
    d.label_as(rest[merge], "merge_duplicate")
    d.ambiguous[rest[near]] = True
    other = rest[~merge]
    cust = d.cols["is_existing_customer"][other] == 1.0
    d.label_as(other[cust], "route_account_manager")
    non = other[~cust]
    has_t = ~d.isnull("territory", non)
    d.label_as(non[has_t], "assign_territory_owner")
    d.label_as(non[~has_t], "reassign_round_robin")


def _size_route(d: Draw, i: np.ndarray, *, hi: float, lo: float, sd: float) -> None:
    """Company size, deal and stage decide between enterprise, territory and SMB; fuzzy edges."""
    emp = d.cols["employees"][i]
    known = ~np.isnan(emp)
    deal = d.cols["deal_amount"][i]
    stage = d.cols["lifecycle_stage"][i]
    s0 = (
        np.log10(np.where(known, emp, 1.0))
        + 0.35 * (np.nan_to_num(deal) >= 50_000)
        + 0.25 * isin(stage, ["salesqualifiedlead", "opportunity"])
    )
    s = s0 + d.rng.normal(0, sd, len(i))
    has_t = ~d.isnull("territory", i)
    ent = known & (s >= hi)
    smb = known & (s < lo)
    mid = known & ~ent & ~smb
    d.label_as(i[ent], "route_enterprise_sales")
    d.label_as(i[smb], "route_smb_queue")
    d.label_as(i[mid & has_t], "assign_territory_owner")
    d.label_as(i[mid & ~has_t], "reassign_round_robin")
    near = known & ((np.abs(s0 - hi) < 2 * sd) | (np.abs(s0 - lo) < 2 * sd))
    d.ambiguous[i[near]] = True
    unknown = i[~known]
    ut = has_t[~known]
    d.coin(unknown[ut], 0.75, "assign_territory_owner", "reassign_round_robin")
    d.label_as(unknown[~ut], "reassign_round_robin")


def no_owner_mid(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "NO_OWNER_MATCH")
    d.set("owner_active", i, np.nan)
    emp = d.cols["employees"][i]
    lead = d.cols["lead_source"][i]
    small_inbound = (emp < 50) & isin(lead, ["web_form", "chat"])
    d.set(
        "employees", i[small_inbound], np.round(50 + d.lognormal(60, 0.8, int(small_inbound.sum())))
    )
    deal = d.cols["deal_amount"][i]
    big = (d.cols["employees"][i] >= 5000) & (deal >= 100_000)
    d.set("deal_amount", i[big], np.round(d.rng.uniform(20_000, 99_000, int(big.sum())), -2))
    cued = d.chance(0.2, m)
    ent_cue = cued & d.chance(0.5, m)
    smb_cue = cued & ~ent_cue
    d.set("notes", i[ent_cue], d.cue("enterprise", int(ent_cue.sum())))
    d.set("notes", i[smb_cue], d.cue("smb", int(smb_cue.sum())))
    d.label_as(i[ent_cue], "route_enterprise_sales")
    d.label_as(i[smb_cue], "route_smb_queue")
    _size_route(d, i[~cued], hi=3.4, lo=2.1, sd=0.12)


def freemail_intent(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "FREE_EMAIL_DOMAIN")
    d.set("email_domain", i, d.pick(FREE_DOMAINS, m, FREE_WEIGHTS))
    stage = d.pick(
        ["lead", "marketingqualifiedlead", "salesqualifiedlead", "subscriber"], m, [35, 30, 15, 20]
    )
    d.set("lifecycle_stage", i, stage)
    views = d.rng.negative_binomial(2.0, 2.0 / 12.0, m).astype(float)
    views = np.where(stage == "subscriber", np.maximum(views, 3.0), views)
    d.set("page_views", i, views)
    no_company = d.chance(0.85, m)
    for f in ("employees", "annual_revenue"):
        d.set(f, i[no_company], np.nan)
    d.set("industry", i[no_company], None)
    cued = d.chance(0.45, m)
    fam = d.pick(["pricing", "student", "jobseeker"], m, [50, 35, 15])
    for family, res in (
        ("pricing", "route_smb_queue"),
        ("student", "nurture_marketing"),
        ("jobseeker", "disqualify_spam"),
    ):
        j = i[cued & (fam == family)]
        d.set("notes", j, d.cue(family, len(j)))
        d.label_as(j, res)
    r = i[~cued]
    st = stage[~cued]
    pv0 = views[~cued]
    pv = pv0 * d.lognormal(1.0, 0.25, len(r))
    sql = st == "salesqualifiedlead"
    hot = (st == "marketingqualifiedlead") & (pv >= 12)
    d.label_as(r[sql | hot], "route_smb_queue")
    d.label_as(r[~(sql | hot)], "nurture_marketing")
    d.ambiguous[r[(st == "marketingqualifiedlead") & (np.abs(pv0 - 12) <= 4)]] = True


def territory_unresolved(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "UNKNOWN_TERRITORY")
    d.set("territory", i, None)
    wf = d.cols["workflow"][i]
    drop = (wf == "territory_mapping") | d.chance(0.5, m)
    d.set("country", i[drop], None)
    cued = d.chance(0.3, m)
    d.set("notes", i[cued], d.cue("located", int(cued.sum())))
    d.label_as(i[cued], "assign_territory_owner")
    r = i[~cued]
    known = ~d.isnull("country", r)
    d.label_as(r[known], "assign_territory_owner")
    u = r[~known]
    big = d.cols["employees"][u] >= 2000
    d.coin(u[big], 0.8, "route_enterprise_sales", "reassign_round_robin")
    d.label_as(u[~big], "reassign_round_robin")


def partner_no_code(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "PARTNER_UNMAPPED")
    d.set("lead_source", i, d.pick(["partner_referral", "event", "outbound"], m, [75, 15, 10]))
    cued = d.chance(0.45, m)
    d.set("notes", i[cued], d.cue("referred", int(cued.sum())))
    d.label_as(i[cued], "route_partner_team")
    r = i[~cued]
    deal0 = d.cols["deal_amount"][r]
    deal = deal0 * d.lognormal(1.0, 0.2, len(r))
    big = deal >= 20_000
    d.label_as(r[big], "route_partner_team")
    d.ambiguous[r[np.abs(np.log(deal0 / 20_000)) < 0.3]] = True
    s = r[~big]
    emp = d.cols["employees"][s]
    d.label_as(s[emp < 200], "route_smb_queue")
    d.label_as(s[emp >= 200], "assign_territory_owner")
    d.label_as(s[np.isnan(emp)], "reassign_round_robin")


def enrichment_partial(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "ENRICHMENT_FAILED")
    sub = d.pick(["free", "partial", "nodomain"], m, [40, 45, 15])
    free = i[sub == "free"]
    d.set("email_domain", free, d.pick(FREE_DOMAINS, len(free), FREE_WEIGHTS))
    pv = d.cols["page_views"][free]
    active = np.nan_to_num(pv, nan=1.0) >= 2
    d.label_as(free[active], "nurture_marketing")
    d.coin(free[~active], 0.65, "disqualify_spam", "nurture_marketing")
    part = i[sub == "partial"]
    d.set("email_domain", part, d.pick(CORP_DOMAINS, len(part), CORP_WEIGHTS))
    emp0 = np.round(d.lognormal(300, 1.4, len(part)))
    d.set("employees", part, emp0)
    d.set("industry", part, None)
    d.set("annual_revenue", part[d.chance(0.7, len(part))], np.nan)
    emp = emp0 * d.lognormal(1.0, 0.25, len(part))
    big = emp >= 1500
    d.label_as(part[big], "route_enterprise_sales")
    d.label_as(part[~big], "enrich_company_data")
    d.ambiguous[part[np.abs(np.log(emp0 / 1500)) < 0.4]] = True
    nod = i[sub == "nodomain"]
    d.set("email_domain", nod, None)
    d.label_as(nod, "enrich_company_data")


def inactive_owner_deal(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "OWNER_INACTIVE")
    d.set("owner_active", i, 0.0)
    d.set("is_existing_customer", i, 0.0)
    deal0 = d.cols["deal_amount"][i]
    deal0 = np.where(np.isnan(deal0), np.round(d.lognormal(20_000, 1.0, m), -2), deal0)
    d.set("deal_amount", i, deal0)
    deal = deal0 * d.lognormal(1.0, 0.2, m)
    big = deal >= 60_000
    d.label_as(i[big], "route_enterprise_sales")
    d.ambiguous[i[np.abs(np.log(deal0 / 60_000)) < 0.3]] = True
    r = i[~big]
    has_t = ~d.isnull("territory", r)
    d.label_as(r[has_t], "assign_territory_owner")
    d.label_as(r[~has_t], "reassign_round_robin")


def routing_conflict(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "ROUTING_CONFLICT")
    partner = d.chance(0.2, m)
    d.set("lead_source", i[partner], "partner_referral")
    codes = d.pick(PARTNER_CODES, int(partner.sum()), PARTNER_WEIGHTS)
    d.set("partner_code", i[partner], codes)
    cued = d.chance(0.4, m) & ~partner
    fam = d.pick(["conflict_territory", "conflict_account", "enterprise"], m)
    for family, res in (
        ("conflict_territory", "assign_territory_owner"),
        ("conflict_account", "route_account_manager"),
        ("enterprise", "route_enterprise_sales"),
    ):
        j = i[cued & (fam == family)]
        d.set("notes", j, d.cue(family, len(j)))
        d.label_as(j, res)
    p = i[partner]
    gold = isin(codes, list(GOLD_CODES))
    d.label_as(p[gold], "route_partner_team")
    d.label_as(p[~gold], "assign_territory_owner")
    r = i[~cued & ~partner]
    cust = d.cols["is_existing_customer"][r] == 1.0
    d.coin(r[cust], 0.7, "route_account_manager", "assign_territory_owner")
    non = r[~cust]
    has_t = ~d.isnull("territory", non)
    d.coin(non[has_t], 0.6, "assign_territory_owner", "reassign_round_robin")
    d.label_as(non[~has_t], "reassign_round_robin")


def invalid_active(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "INVALID_EMAIL")
    pv = d.cols["page_views"][i]
    d.set("page_views", i, np.where(pv == 0, d.rng.integers(1, 20, m), pv))
    cued = d.chance(0.5, m)
    spam = cued & d.chance(0.55, m)
    typo = cued & ~spam
    d.set("notes", i[spam], d.cue("spam", int(spam.sum())))
    d.set("notes", i[typo], d.cue("typo", int(typo.sum())))
    d.label_as(i[spam], "disqualify_spam")
    d.label_as(i[typo], "enrich_company_data")
    r = i[~cued]
    active = np.nan_to_num(d.cols["page_views"][r], nan=0.0) >= 6
    d.coin(r[active], 0.75, "enrich_company_data", "disqualify_spam")
    d.coin(r[~active], 0.7, "disqualify_spam", "enrich_company_data")
