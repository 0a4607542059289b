"""The case kinds: their shares, which are on a rule path, when new ones arrive, their workflows
and the function that shapes each one's records (an explicit table, so a kind is found by name).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from autoresolve.model.generators.crm import known_paths, late_kinds, unruled
from autoresolve.model.generators.crm.draw import Draw

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


KIND_FUNCS: dict[str, Callable[[Draw, np.ndarray], None]] = {
    "gdpr_hold": known_paths.gdpr_hold,
    "spam_disposable": known_paths.spam_disposable,
    "invalid_no_activity": known_paths.invalid_no_activity,
    "exact_duplicate": known_paths.exact_duplicate,
    "partner_mapped": known_paths.partner_mapped,
    "enrichment_missing": known_paths.enrichment_missing,
    "inactive_owner_customer": known_paths.inactive_owner_customer,
    "inactive_owner_no_deal": known_paths.inactive_owner_no_deal,
    "territory_from_country": known_paths.territory_from_country,
    "enterprise_no_owner": known_paths.enterprise_no_owner,
    "smb_inbound": known_paths.smb_inbound,
    "freemail_subscriber": known_paths.freemail_subscriber,
    "dup_fuzzy": unruled.dup_fuzzy,
    "no_owner_mid": unruled.no_owner_mid,
    "freemail_intent": unruled.freemail_intent,
    "territory_unresolved": unruled.territory_unresolved,
    "partner_no_code": unruled.partner_no_code,
    "enrichment_partial": unruled.enrichment_partial,
    "inactive_owner_deal": unruled.inactive_owner_deal,
    "routing_conflict": unruled.routing_conflict,
    "invalid_active": unruled.invalid_active,
    "webinar_smb": late_kinds.webinar_smb,
    "consent_missing": late_kinds.consent_missing,
}
