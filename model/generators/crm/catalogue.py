"""What CRM records are made of: the resolutions, fields, value vocabularies and their mixes.

Fixed across seeds, like a real CRM's history: the company e-mail domains and partner codes come
from their own seeded draw (`_vocabulary`), so every generated data set shares them.
"""

from __future__ import annotations

import numpy as np

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

COMPANY_HEADS = (
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
)
COMPANY_TAILS = (
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
)


def _vocabulary() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Company e-mail domains and partner codes: fixed across seeds, like a real CRM's history."""
    rng = np.random.default_rng(7)
    tlds = np.array(
        [".com"] * 8
        + [".io", ".de", ".co.uk", ".fr", ".nl", ".com.au", ".co.jp", ".es", ".it", ".se", ".ca"]
    )
    names = np.array([h + t for h in COMPANY_HEADS for t in COMPANY_TAILS])
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
