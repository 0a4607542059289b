"""A seeded generator of CRM exception records: the demo domain in `data/crm/`.

The records imitate leads and deals that fell off HubSpot-style automation (no owner match,
duplicate suspects, failed enrichment, unknown territory, partner referrals …). Each record is drawn
from one *case kind*: a known path that `data/crm/rules.yaml` captures (about half the records, with
~1% label noise), a case the rules do not cover but whose resolution follows learnable structure
(interactions between fields, cue words in the note, ambiguous zones where the resolution is a coin
flip given what the record shows), and two kinds that only appear late in the year and that no rule
covers: webinar sign-ups (from month 8) and records stopped for missing marketing consent (from
month 10). The later months also drift: a new lead-source mix, larger deals, more APAC traffic.

The case kind, whether a record is on a rule path, whether its label was flipped and its clean
resolution are hidden metadata: `generate_with_meta` returns them in a separate frame so that tests
and benchmarks can check the data's properties while nothing trains on them.

Pure and vectorised (numpy, one pass per kind): a million records take a few seconds. The same
`(n, seed, start, months)` always gives the same records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_N = 60_000
DEFAULT_SEED = 20250101
START = "2025-01-01"
MONTHS = 12

RESOLUTIONS = (
    "assign_territory_owner",
    "route_enterprise_sales",
    "route_smb_queue",
    "route_partner_team",
    "route_account_manager",
    "merge_duplicate",
    "enrich_company_data",
    "disqualify_spam",
    "nurture_marketing",
    "reassign_round_robin",
)

FIELDS = (
    "workflow",
    "error_code",
    "lead_source",
    "country",
    "territory",
    "email_domain",
    "is_free_email",
    "industry",
    "employees",
    "annual_revenue",
    "deal_amount",
    "lifecycle_stage",
    "duplicate_score",
    "is_existing_customer",
    "partner_code",
    "page_views",
    "owner_active",
    "notes",
)
BOOLEAN_FIELDS = ("is_free_email", "is_existing_customer", "owner_active")
NUMBER_FIELDS = ("employees", "annual_revenue", "deal_amount", "duplicate_score", "page_views")

# (kind, share of an early month's records, on a rule path)
KINDS: tuple[tuple[str, float, bool], ...] = (
    ("gdpr_hold", 0.010, True),
    ("spam_disposable", 0.040, True),
    ("invalid_no_activity", 0.030, True),
    ("exact_duplicate", 0.065, True),
    ("partner_mapped", 0.055, True),
    ("enrichment_missing", 0.055, True),
    ("inactive_owner_customer", 0.045, True),
    ("inactive_owner_no_deal", 0.040, True),
    ("territory_from_country", 0.055, True),
    ("enterprise_no_owner", 0.035, True),
    ("smb_inbound", 0.045, True),
    ("freemail_subscriber", 0.040, True),
    ("dup_fuzzy", 0.070, False),
    ("no_owner_mid", 0.100, False),
    ("freemail_intent", 0.060, False),
    ("territory_unresolved", 0.050, False),
    ("partner_no_code", 0.040, False),
    ("enrichment_partial", 0.045, False),
    ("inactive_owner_deal", 0.045, False),
    ("routing_conflict", 0.060, False),
    ("invalid_active", 0.035, False),
)
# New kinds: first month (as a fraction of the span, 7/12 → the 8th month) and share ramp.
NEW_KINDS: dict[str, tuple[float, tuple[float, ...]]] = {
    "webinar_smb": (7 / 12, (0.03, 0.05, 0.06, 0.07, 0.07)),
    "consent_missing": (9 / 12, (0.04, 0.05, 0.06)),
}
KIND_NAMES = tuple(k for k, _, _ in KINDS) + tuple(NEW_KINDS)
RULE_KINDS = frozenset(k for k, _, on_rule in KINDS if on_rule)

NOISE_RULE = 0.01  # known paths: ops follow the playbook
NOISE_CLEAR = 0.01  # unruled but clear cases
NOISE_AMBIGUOUS = 0.14  # judgement calls are where people disagree with themselves

WORKFLOWS = (
    "lead_assignment",
    "deal_routing",
    "partner_intake",
    "enrichment_sync",
    "dedupe_check",
    "territory_mapping",
    "marketing_handoff",
    "renewal_routing",
)
LEAD_SOURCES = (
    "web_form",
    "event",
    "partner_referral",
    "list_import",
    "chat",
    "content_download",
    "paid_search",
    "outbound",
)
LEAD_MIX_EARLY = np.array([0.30, 0.14, 0.10, 0.12, 0.08, 0.12, 0.09, 0.05])
LEAD_MIX_LATE = np.array([0.24, 0.06, 0.10, 0.07, 0.15, 0.12, 0.19, 0.07])

TERRITORY_OF = {
    "US": None,  # split across three territories below
    "CA": "NA-CANADA",
    "GB": "EMEA-UKI",
    "IE": "EMEA-UKI",
    "DE": "EMEA-DACH",
    "AT": "EMEA-DACH",
    "CH": "EMEA-DACH",
    "FR": "EMEA-FRBENELUX",
    "BE": "EMEA-FRBENELUX",
    "NL": "EMEA-FRBENELUX",
    "SE": "EMEA-NORDICS",
    "NO": "EMEA-NORDICS",
    "DK": "EMEA-NORDICS",
    "FI": "EMEA-NORDICS",
    "ES": "EMEA-SOUTH",
    "IT": "EMEA-SOUTH",
    "PT": "EMEA-SOUTH",
    "PL": "EMEA-CEE",
    "CZ": "EMEA-CEE",
    "AU": "APAC-ANZ",
    "NZ": "APAC-ANZ",
    "JP": "APAC-JP",
    "SG": "APAC-SEA",
    "IN": "APAC-INDIA",
    "BR": "LATAM",
    "MX": "LATAM",
    "ZA": None,  # no territory mapped yet: these stop the workflow
    "AE": None,
    "IL": None,
    "KR": None,
}
COUNTRIES = tuple(TERRITORY_OF)
COUNTRY_MIX_EARLY = np.array(
    [
        30,
        4,
        8,
        1,
        7,
        1.5,
        1.5,
        4,
        1.5,
        3,
        1.5,
        1,
        1,
        1,
        3,
        2.5,
        0.8,
        1.5,
        0.8,
        2,
        0.5,
        1.5,
        1.2,
        2.5,
        2,
        1,
        0.8,
        0.8,
        0.6,
        0.6,
    ]
)
APAC = np.array([c in ("AU", "NZ", "JP", "SG", "IN", "KR") for c in COUNTRIES])
COUNTRY_MIX_LATE = COUNTRY_MIX_EARLY * np.where(APAC, 2.2, 1.0)
US_TERRITORIES = ("NA-EAST", "NA-CENTRAL", "NA-WEST")
EU_COUNTRIES = ("DE", "FR", "NL", "AT", "BE", "IT", "ES", "SE", "DK", "IE", "PL")

FREE_DOMAINS = (
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "proton.me",
    "gmx.de",
    "web.de",
    "yahoo.co.uk",
    "hotmail.co.uk",
    "live.com",
    "msn.com",
    "orange.fr",
    "free.fr",
    "libero.it",
    "t-online.de",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
    "naver.com",
    "rediffmail.com",
    "bigpond.com",
    "uol.com.br",
    "zoho.com",
)
FREE_WEIGHTS = 1.0 / np.arange(1, len(FREE_DOMAINS) + 1) ** 1.3
DISPOSABLE_DOMAINS = (
    "mailinator.com",
    "yopmail.com",
    "guerrillamail.com",
    "10minutemail.com",
    "trashmail.com",
    "tempmail.dev",
    "sharklasers.com",
    "getnada.com",
    "dispostable.com",
    "maildrop.cc",
    "throwawaymail.com",
    "fakeinbox.com",
)
INDUSTRIES = (
    "software",
    "financial_services",
    "healthcare",
    "manufacturing",
    "retail",
    "education",
    "professional_services",
    "media",
    "logistics",
    "energy",
    "telecom",
    "government",
    "nonprofit",
    "real_estate",
    "hospitality",
    "construction",
)
INDUSTRY_MIX = np.array([18, 10, 9, 10, 8, 5, 9, 4, 5, 3, 3, 2, 2, 4, 4, 4], dtype=float)
STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
STAGE_MIX = np.array([0.16, 0.32, 0.2, 0.12, 0.09, 0.07, 0.01, 0.03])

NEUTRAL_NOTES = (
    "auto-created by workflow",
    "imported from trade show list",
    "form fill from the contact page",
    "called once, no answer",
    "left voicemail",
    "downloaded the product brochure",
    "came in through the newsletter",
    "rep to follow up next week",
    "sync from marketing automation",
    "contact details updated by the rep",
    "asked a general question about the product",
    "signed up for the monthly update",
)
CITIES = (
    "Munich",
    "Lyon",
    "Rotterdam",
    "Manchester",
    "Dublin",
    "Austin",
    "Denver",
    "Toronto",
    "Sydney",
    "Osaka",
    "Madrid",
    "Milan",
    "Oslo",
    "Krakow",
    "Singapore",
    "Pune",
    "Sao Paulo",
    "Monterrey",
    "Zurich",
    "Gothenburg",
)
PARTNER_NAMES = (
    "Northwind Consulting",
    "Bluepeak Partners",
    "Crestline Digital",
    "Harbor IT",
    "Ironleaf Solutions",
    "Lakeside Advisory",
    "Meridian Systems",
    "Oakridge Group",
    "Pinecrest Tech",
    "Redwood Integrators",
    "Silverline Cloud",
    "Summit Resellers",
)
WEBINAR_TOPICS = (
    "pipeline hygiene 101",
    "automating lead routing",
    "forecasting for small teams",
    "getting started with sequences",
    "reporting dashboards live demo",
    "CRM for growing teams",
)

# cue phrases by (kind family, resolution); the model must learn them from the text
CUES = {
    "dup_merge": (
        "same person, new job title",
        "re-submitted the form with a new email",
        "already in CRM under an old address",
        "second form fill from the same contact",
    ),
    "enterprise": (
        "global rollout across several sites",
        "procurement involved, security review requested",
        "group-wide RFP expected next quarter",
        "asked about SSO and an enterprise agreement",
    ),
    "smb": (
        "small team, wants to start this month",
        "self-serve trial user asking for help",
        "founder-led company, quick decision",
        "needs a simple plan for five users",
    ),
    "pricing": (
        "asked for pricing",
        "requested a demo for the team",
        "wants a quote for ten seats",
        "comparing plans, asked about pricing tiers",
    ),
    "student": (
        "student, working on a thesis",
        "personal project, just exploring",
        "hobbyist, no company yet",
        "researching for a university course",
    ),
    "jobseeker": (
        "applying for a job, attached resume",
        "looking for a position in sales",
        "recruiter asking about open roles",
    ),
    "located": ("based in {city}", "office in {city}", "team located in {city}"),
    "referred": (
        "referred by {partner}, code not on the form",
        "partner {partner} introduced this lead",
        "intro from {partner} at the partner summit",
    ),
    "conflict_territory": (
        "two reps claimed this lead",
        "overlap between two territories",
        "territory dispute between regions",
    ),
    "conflict_account": (
        "existing account, CSM asked to take it",
        "belongs to a current customer account",
        "customer success already engaged",
    ),
    "spam": (
        "visit http://cheap-seo-links.biz now",
        "SEO services offer, backlinks cheap",
        "crypto investment opportunity!!!",
        "asdf qwerty test test",
    ),
    "typo": (
        "typo in the email domain",
        "email bounced, likely misspelled domain",
        "gmial instead of gmail, fix address",
    ),
    "gdpr": (
        "GDPR erasure request received",
        "contact asked us to delete my data, hold",
        "erasure request under GDPR, do not process",
        "right to erasure requested by the contact",
    ),
    "webinar": (
        "webinar attendee: {topic}",
        "registered via webinar platform for {topic}",
        "attended live webinar ({topic}), asked a question in Q&A",
    ),
    "consent": (
        "no marketing opt-in recorded",
        "consent checkbox not ticked on the form",
        "double opt-in pending, no consent yet",
        "imported without marketing consent",
    ),
}


def _vocabulary() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Company e-mail domains and partner codes: fixed across seeds, like a real CRM's history."""
    rng = np.random.default_rng(7)
    heads = [
        "acme",
        "apex",
        "aster",
        "bright",
        "cedar",
        "clear",
        "core",
        "crest",
        "delta",
        "ember",
        "fair",
        "first",
        "glen",
        "gold",
        "granite",
        "harbor",
        "helix",
        "iron",
        "keystone",
        "lumen",
        "maple",
        "metro",
        "nimbus",
        "north",
        "nova",
        "oak",
        "orbit",
        "pine",
        "prime",
        "quant",
        "red",
        "river",
        "sage",
        "silver",
        "solid",
        "stone",
        "summit",
        "terra",
        "tide",
        "vertex",
    ]
    tails = [
        "soft",
        "labs",
        "systems",
        "works",
        "logic",
        "data",
        "cloud",
        "health",
        "bank",
        "foods",
        "logistics",
        "energy",
        "media",
        "group",
        "tech",
        "bio",
        "capital",
        "retail",
        "motors",
        "analytics",
    ]
    tlds = np.array(
        [".com"] * 8
        + [".io", ".de", ".co.uk", ".fr", ".nl", ".com.au", ".co.jp", ".es", ".it", ".se", ".ca"]
    )
    names = np.array([h + t for h in heads for t in tails])
    pick = rng.choice(len(names), size=700, replace=False)
    domains = np.char.add(names[pick], tlds[rng.integers(0, len(tlds), 700)])
    domain_w = 1.0 / np.arange(1, 701) ** 0.9
    codes = np.array([f"PRT-{c:04d}" for c in rng.choice(10_000, size=340, replace=False)])
    gold = rng.random(340) < 0.3
    return domains.astype(object), domain_w / domain_w.sum(), codes.astype(object), gold


CORP_DOMAINS, CORP_WEIGHTS, PARTNER_CODES, PARTNER_GOLD = _vocabulary()
PARTNER_WEIGHTS = 1.0 / np.arange(1, len(PARTNER_CODES) + 1) ** 1.05
PARTNER_WEIGHTS /= PARTNER_WEIGHTS.sum()
GOLD_CODES = frozenset(PARTNER_CODES[PARTNER_GOLD])


def _isin(values: np.ndarray, options) -> np.ndarray:
    """Membership by hashing: numpy's isin sorts object arrays, which is slow on a million rows."""
    return pd.Series(values, dtype=object).isin(list(options)).to_numpy()


class _Draw:
    """The record arrays under construction plus the random source; one instance per call."""

    def __init__(self, n: int, seed: int, months: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.n = n
        self.months = months
        self.cols: dict[str, np.ndarray] = {}
        self.label = np.full(n, None, dtype=object)
        self.ambiguous = np.zeros(n, dtype=bool)

    # -- sampling helpers -------------------------------------------------------------------
    def pick(self, options, size: int, p=None) -> np.ndarray:
        opts = np.asarray(options, dtype=object)
        if p is not None:
            p = np.asarray(p, dtype=float)
            p = p / p.sum()
        return opts[self.rng.choice(len(opts), size=size, p=p)]

    def chance(self, p, size: int) -> np.ndarray:
        return self.rng.random(size) < p

    def rows_choice(self, probs: np.ndarray) -> np.ndarray:
        """One categorical draw per row from that row's probability vector."""
        cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
        u = self.rng.random(len(probs))[:, None]
        return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)

    def cue(self, family: str, size: int) -> np.ndarray:
        """Cue notes, some behind a neutral lead-in, placeholders filled."""
        text = self.pick(CUES[family], size)
        if family == "located":
            fill = self.pick(CITIES, size)
            text = np.array([t.format(city=c) for t, c in zip(text, fill, strict=True)], object)
        elif family == "referred":
            fill = self.pick(PARTNER_NAMES, size)
            text = np.array([t.format(partner=c) for t, c in zip(text, fill, strict=True)], object)
        elif family == "webinar":
            fill = self.pick(WEBINAR_TOPICS, size)
            text = np.array([t.format(topic=c) for t, c in zip(text, fill, strict=True)], object)
        lead = self.chance(0.3, size)
        if lead.any():
            text[lead] = self.pick(NEUTRAL_NOTES, int(lead.sum())) + "; " + text[lead]
        return text

    def set(self, name: str, idx: np.ndarray, values) -> None:
        self.cols[name][idx] = values

    def label_as(self, idx: np.ndarray, resolution: str, *, ambiguous: bool = False) -> None:
        self.label[idx] = resolution
        if ambiguous:
            self.ambiguous[idx] = True

    def split(self, idx: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return idx[mask], idx[~mask]

    def coin(self, idx: np.ndarray, p: float, yes: str, no: str, *, ambiguous: bool = True) -> None:
        """A judgement call: the same-looking record goes either way."""
        a, b = self.split(idx, self.chance(p, len(idx)))
        self.label_as(a, yes, ambiguous=ambiguous)
        self.label_as(b, no, ambiguous=ambiguous)

    # -- views of current values ------------------------------------------------------------
    def isnull(self, name: str, idx: np.ndarray) -> np.ndarray:
        col = self.cols[name]
        if col.dtype == object:
            return np.array([v is None for v in col[idx]], dtype=bool)
        return np.isnan(col[idx])

    def free(self, idx: np.ndarray) -> np.ndarray:
        return _isin(self.cols["email_domain"][idx], FREE_DOMAINS + DISPOSABLE_DOMAINS)

    def lognormal(self, median: float, sigma: float, size: int) -> np.ndarray:
        return np.exp(self.rng.normal(np.log(median), sigma, size))


def _assign_months_and_kinds(d: _Draw) -> tuple[np.ndarray, np.ndarray]:
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


WORKFLOW_OF_KIND = {
    "gdpr_hold": {"lead_assignment": 3, "marketing_handoff": 2, "enrichment_sync": 1},
    "spam_disposable": {"lead_assignment": 3, "marketing_handoff": 2, "enrichment_sync": 1},
    "invalid_no_activity": {"lead_assignment": 2, "marketing_handoff": 1, "enrichment_sync": 2},
    "exact_duplicate": {"dedupe_check": 8, "lead_assignment": 2},
    "partner_mapped": {"partner_intake": 9, "lead_assignment": 1},
    "enrichment_missing": {"enrichment_sync": 8, "lead_assignment": 2},
    "inactive_owner_customer": {"renewal_routing": 5, "deal_routing": 3, "lead_assignment": 2},
    "inactive_owner_no_deal": {"lead_assignment": 7, "marketing_handoff": 3},
    "territory_from_country": {"territory_mapping": 1},
    "enterprise_no_owner": {"deal_routing": 7, "lead_assignment": 3},
    "smb_inbound": {"lead_assignment": 8, "marketing_handoff": 2},
    "freemail_subscriber": {"marketing_handoff": 6, "lead_assignment": 4},
    "dup_fuzzy": {"dedupe_check": 7, "lead_assignment": 2, "deal_routing": 1},
    "no_owner_mid": {"lead_assignment": 6, "deal_routing": 4},
    "freemail_intent": {"marketing_handoff": 5, "lead_assignment": 5},
    "territory_unresolved": {"territory_mapping": 4, "lead_assignment": 4, "deal_routing": 2},
    "partner_no_code": {"partner_intake": 8, "lead_assignment": 2},
    "enrichment_partial": {"enrichment_sync": 7, "lead_assignment": 3},
    "inactive_owner_deal": {"deal_routing": 7, "renewal_routing": 1, "lead_assignment": 2},
    "routing_conflict": {"lead_assignment": 4, "deal_routing": 3, "territory_mapping": 3},
    "invalid_active": {"lead_assignment": 4, "marketing_handoff": 3, "enrichment_sync": 3},
    "webinar_smb": {"lead_assignment": 8, "marketing_handoff": 2},
    "consent_missing": {"marketing_handoff": 8, "lead_assignment": 2},
}


def _background(d: _Draw, month: np.ndarray, kind: np.ndarray) -> None:
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
    has_deal = d.chance(
        np.where(_isin(workflow, ["deal_routing", "renewal_routing"]), 0.9, 0.15), n
    )
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


# -- the kinds: each sets its fields and its clean resolution ----------------------------------


def _k_gdpr_hold(d: _Draw, i: np.ndarray) -> None:
    d.set(
        "error_code",
        i,
        d.pick(["NO_OWNER_MATCH", "FREE_EMAIL_DOMAIN", "ENRICHMENT_FAILED"], len(i)),
    )
    d.set("notes", i, d.cue("gdpr", len(i)))
    d.coin(i, 0.35, "disqualify_spam", "nurture_marketing", ambiguous=False)


def _k_spam_disposable(d: _Draw, i: np.ndarray) -> None:
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


def _k_invalid_no_activity(d: _Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "INVALID_EMAIL")
    d.set("page_views", i, 0.0)
    d.label_as(i, "disqualify_spam")


def _k_exact_duplicate(d: _Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "DUPLICATE_SUSPECT")
    d.set("duplicate_score", i, np.round(d.rng.uniform(0.95, 1.0, len(i)), 3))
    d.label_as(i, "merge_duplicate")


def _k_partner_mapped(d: _Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "PARTNER_UNMAPPED")
    d.set("lead_source", i, "partner_referral")
    d.set("partner_code", i, d.pick(PARTNER_CODES, len(i), PARTNER_WEIGHTS))
    d.label_as(i, "route_partner_team")


def _k_enrichment_missing(d: _Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "ENRICHMENT_FAILED")
    d.set("email_domain", i, d.pick(CORP_DOMAINS, len(i), CORP_WEIGHTS))
    for f in ("employees", "annual_revenue"):
        d.set(f, i, np.nan)
    d.set("industry", i, None)
    d.label_as(i, "enrich_company_data")


def _k_inactive_owner_customer(d: _Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "OWNER_INACTIVE")
    d.set("owner_active", i, 0.0)
    d.set("is_existing_customer", i, 1.0)
    d.set(
        "lifecycle_stage", i, d.pick(["customer", "evangelist", "opportunity"], len(i), [8, 1, 1])
    )
    d.label_as(i, "route_account_manager")


def _k_inactive_owner_no_deal(d: _Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "OWNER_INACTIVE")
    d.set("owner_active", i, 0.0)
    d.set("is_existing_customer", i, 0.0)
    d.set("deal_amount", i, np.nan)
    d.set("lifecycle_stage", i, d.pick(["lead", "marketingqualifiedlead", "subscriber"], len(i)))
    d.label_as(i, "reassign_round_robin")


def _k_territory_from_country(d: _Draw, i: np.ndarray) -> None:
    d.set("error_code", i, "UNKNOWN_TERRITORY")
    d.set("country", i, d.pick(COUNTRIES, len(i), COUNTRY_MIX_EARLY + 1.0))
    d.set("territory", i, None)
    d.label_as(i, "assign_territory_owner")


def _k_enterprise_no_owner(d: _Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "NO_OWNER_MATCH")
    d.set("employees", i, np.round(5_000 * d.lognormal(2.5, 0.8, m).clip(1.0, None)))
    d.set("annual_revenue", i, np.round(d.cols["employees"][i] * d.lognormal(200_000, 0.4, m), -3))
    d.set("deal_amount", i, np.round(100_000 * d.lognormal(1.8, 0.6, m).clip(1.0, None), -2))
    d.set("owner_active", i, np.nan)
    d.label_as(i, "route_enterprise_sales")


def _k_smb_inbound(d: _Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "NO_OWNER_MATCH")
    d.set("lead_source", i, d.pick(["web_form", "chat"], m, [2, 1]))
    d.set("employees", i, d.rng.integers(1, 50, m).astype(float))
    d.set("owner_active", i, np.nan)
    d.label_as(i, "route_smb_queue")


def _k_freemail_subscriber(d: _Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "FREE_EMAIL_DOMAIN")
    d.set("email_domain", i, d.pick(FREE_DOMAINS, m, FREE_WEIGHTS))
    d.set("lifecycle_stage", i, "subscriber")
    d.set("page_views", i, d.rng.integers(0, 3, m).astype(float))
    d.label_as(i, "nurture_marketing")


def _k_dup_fuzzy(d: _Draw, i: np.ndarray) -> None:
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


def _size_route(d: _Draw, i: np.ndarray, *, hi: float, lo: float, sd: float) -> None:
    """Company size, deal and stage decide between enterprise, territory and SMB; fuzzy edges."""
    emp = d.cols["employees"][i]
    known = ~np.isnan(emp)
    deal = d.cols["deal_amount"][i]
    stage = d.cols["lifecycle_stage"][i]
    s0 = (
        np.log10(np.where(known, emp, 1.0))
        + 0.35 * (np.nan_to_num(deal) >= 50_000)
        + 0.25 * _isin(stage, ["salesqualifiedlead", "opportunity"])
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


def _k_no_owner_mid(d: _Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "NO_OWNER_MATCH")
    d.set("owner_active", i, np.nan)
    emp = d.cols["employees"][i]
    lead = d.cols["lead_source"][i]
    small_inbound = (emp < 50) & _isin(lead, ["web_form", "chat"])
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


def _k_freemail_intent(d: _Draw, i: np.ndarray) -> None:
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


def _k_territory_unresolved(d: _Draw, i: np.ndarray) -> None:
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


def _k_partner_no_code(d: _Draw, i: np.ndarray) -> None:
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


def _k_enrichment_partial(d: _Draw, i: np.ndarray) -> None:
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


def _k_inactive_owner_deal(d: _Draw, i: np.ndarray) -> None:
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


def _k_routing_conflict(d: _Draw, i: np.ndarray) -> None:
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
    gold = _isin(codes, list(GOLD_CODES))
    d.label_as(p[gold], "route_partner_team")
    d.label_as(p[~gold], "assign_territory_owner")
    r = i[~cued & ~partner]
    cust = d.cols["is_existing_customer"][r] == 1.0
    d.coin(r[cust], 0.7, "route_account_manager", "assign_territory_owner")
    non = r[~cust]
    has_t = ~d.isnull("territory", non)
    d.coin(non[has_t], 0.6, "assign_territory_owner", "reassign_round_robin")
    d.label_as(non[~has_t], "reassign_round_robin")


def _k_invalid_active(d: _Draw, i: np.ndarray) -> None:
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


def _k_webinar_smb(d: _Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "NO_OWNER_MATCH")
    d.set("lead_source", i, "webinar_platform")
    d.set("owner_active", i, np.nan)
    d.set("email_domain", i, d.pick(CORP_DOMAINS, m, CORP_WEIGHTS))
    d.set("employees", i, np.clip(np.round(d.lognormal(600, 0.6, m)), 200, 4_000))
    d.set("annual_revenue", i, np.round(d.cols["employees"][i] * d.lognormal(140_000, 0.5, m), -3))
    d.set("deal_amount", i, np.nan)
    d.set("lifecycle_stage", i, d.pick(["lead", "marketingqualifiedlead"], m, [6, 4]))
    d.set("page_views", i, d.rng.integers(2, 13, m).astype(float))
    noted = d.chance(0.85, m)
    d.set("notes", i[noted], d.cue("webinar", int(noted.sum())))
    d.set("notes", i[~noted], None)
    d.label_as(i, "route_smb_queue")


def _k_consent_missing(d: _Draw, i: np.ndarray) -> None:
    m = len(i)
    d.set("error_code", i, "CONSENT_MISSING")
    eu = d.chance(0.75, m)
    d.set("country", i[eu], d.pick(EU_COUNTRIES, int(eu.sum())))
    d.set("territory", i, [TERRITORY_OF.get(c) if c else None for c in d.cols["country"][i]])
    us = i[d.cols["country"][i] == "US"]
    d.set("territory", us, d.pick(US_TERRITORIES, len(us)))
    d.set(
        "lifecycle_stage", i, d.pick(["subscriber", "lead", "marketingqualifiedlead"], m, [4, 4, 2])
    )
    noted = d.chance(0.8, m)
    d.set("notes", i[noted], d.cue("consent", int(noted.sum())))
    d.label_as(i, "nurture_marketing")


KIND_FUNCS = {name: globals()[f"_k_{name}"] for name in KIND_NAMES}


def _finish(d: _Draw, kind: np.ndarray) -> None:
    """Fields derived from others once every kind has had its say."""
    cols = d.cols
    domain = cols["email_domain"]
    present = np.array([v is not None for v in domain], dtype=bool)
    free = _isin(domain, FREE_DOMAINS + DISPOSABLE_DOMAINS)
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


def _noise(d: _Draw, kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _timestamps(d: _Draw, month: np.ndarray, start: str) -> np.ndarray:
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
    d = _Draw(n, seed, months)
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
            "rule_path": _isin(kind_names, list(RULE_KINDS)),
            "ambiguous": d.ambiguous[order] & ~_isin(kind_names, list(RULE_KINDS)),
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
