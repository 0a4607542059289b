"""Case kinds on a known path: each is what one rule of `data/crm/rules.yaml` captures.

Each function sets its kind's fields on rows `i` and their clean resolution.
"""

from __future__ import annotations

import numpy as np

from autoresolve.model.generators.crm.catalogue import (
    CORP_DOMAINS,
    CORP_WEIGHTS,
    COUNTRIES,
    COUNTRY_MIX_EARLY,
    DISPOSABLE_DOMAINS,
    FREE_DOMAINS,
    FREE_WEIGHTS,
    PARTNER_CODES,
    PARTNER_WEIGHTS,
)
from autoresolve.model.generators.crm.draw import Draw


def gdpr_hold(d: Draw, i: np.ndarray) -> None:
    d.set(
        "error_code",
        i,
        d.pick(["NO_OWNER_MATCH", "FREE_EMAIL_DOMAIN", "ENRICHMENT_FAILED"], len(i)),
    )
    d.set("notes", i, d.cue("gdpr", len(i)))
    d.coin(i, 0.35, "disqualify_spam", "nurture_marketing", ambiguous=False)


def spam_disposable(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set(
        "error_code",
        i,
        d.pick(["INVALID_EMAIL", "FREE_EMAIL_DOMAIN", "NO_OWNER_MATCH"], m, [4, 3, 3]),
    )
    d.set("email_domain", i, d.pick(DISPOSABLE_DOMAINS, m))
    d.set("page_views", i, d.rng.integers(0, 3, m).astype(float))
    d.set("employees", i, np.nan)
    d.set("annual_revenue", i, np.nan)
    d.set("industry", i, None)
    spammy = i[d.chance(0.4, m)]
    d.set("notes", spammy, d.cue("spam", len(spammy)))
    d.label_as(i, "disqualify_spam")


def invalid_no_activity(d: Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "INVALID_EMAIL")
    d.set("page_views", i, 0.0)
    d.label_as(i, "disqualify_spam")


def exact_duplicate(d: Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "DUPLICATE_SUSPECT")
    d.set("duplicate_score", i, np.round(d.rng.uniform(0.95, 1.0, len(i)), 3))
    d.label_as(i, "merge_duplicate")


def partner_mapped(d: Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "PARTNER_UNMAPPED")
    d.set("lead_source", i, "partner_referral")
    d.set("partner_code", i, d.pick(PARTNER_CODES, len(i), PARTNER_WEIGHTS))
    d.label_as(i, "route_partner_team")


def enrichment_missing(d: Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "ENRICHMENT_FAILED")
    d.set("email_domain", i, d.pick(CORP_DOMAINS, len(i), CORP_WEIGHTS))
    for f in ("employees", "annual_revenue"):
        d.set(f, i, np.nan)
    d.set("industry", i, None)
    d.label_as(i, "enrich_company_data")


def inactive_owner_customer(d: Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "OWNER_INACTIVE")
    d.set("owner_active", i, 0.0)
    d.set("is_existing_customer", i, 1.0)
    d.set(
        "lifecycle_stage", i, d.pick(["customer", "evangelist", "opportunity"], len(i), [8, 1, 1])
    )
    d.label_as(i, "route_account_manager")


def inactive_owner_no_deal(d: Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "OWNER_INACTIVE")
    d.set("owner_active", i, 0.0)
    d.set("is_existing_customer", i, 0.0)
    d.set("deal_amount", i, np.nan)
    d.set("lifecycle_stage", i, d.pick(["lead", "marketingqualifiedlead", "subscriber"], len(i)))
    d.label_as(i, "reassign_round_robin")


def territory_from_country(d: Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "UNKNOWN_TERRITORY")
    d.set("country", i, d.pick(COUNTRIES, len(i), COUNTRY_MIX_EARLY + 1.0))
    d.set("territory", i, None)
    d.label_as(i, "assign_territory_owner")


def enterprise_no_owner(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "NO_OWNER_MATCH")
    d.set("employees", i, np.round(5_000 * d.lognormal(2.5, 0.8, m).clip(1.0, None)))
    d.set("annual_revenue", i, np.round(d.cols["employees"][i] * d.lognormal(200_000, 0.4, m), -3))
    d.set("deal_amount", i, np.round(100_000 * d.lognormal(1.8, 0.6, m).clip(1.0, None), -2))
    d.set("owner_active", i, np.nan)
    d.label_as(i, "route_enterprise_sales")


def smb_inbound(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "NO_OWNER_MATCH")
    d.set("lead_source", i, d.pick(["web_form", "chat"], m, [2, 1]))
    d.set("employees", i, d.rng.integers(1, 50, m).astype(float))
    d.set("owner_active", i, np.nan)
    d.label_as(i, "route_smb_queue")


def freemail_subscriber(d: Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "FREE_EMAIL_DOMAIN")
    d.set("email_domain", i, d.pick(FREE_DOMAINS, m, FREE_WEIGHTS))
    d.set("lifecycle_stage", i, "subscriber")
    d.set("page_views", i, d.rng.integers(0, 3, m).astype(float))
    d.label_as(i, "nurture_marketing")
