"""The two kinds that arrive late in the year and that no rule covers (see `kinds.NEW_KINDS`)."""

from __future__ import annotations

import numpy as np

from autoresolve.model.generators.crm.catalogue import (
    CORP_DOMAINS,
    CORP_WEIGHTS,
    EU_COUNTRIES,
    TERRITORY_OF,
    US_TERRITORIES,
)
from autoresolve.model.generators.crm.draw import Draw


def webinar_smb(d: Draw, i: np.ndarray) -> None:
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


def consent_missing(d: Draw, i: np.ndarray) -> None:
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
