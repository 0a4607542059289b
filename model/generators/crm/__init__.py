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

Modules: `catalogue` (resolutions, fields, vocabularies and their mixes), `draw` (the arrays under
construction and the sampling helpers), `kinds` (the table of case kinds), `known_paths`,
`unruled` and `late_kinds` (what each kind does to its records), `records` (the whole pass).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from autoresolve.model.generators import Generator
from autoresolve.model.generators.crm.catalogue import (
    DEFAULT_N,
    DEFAULT_SEED,
    DISPOSABLE_DOMAINS,
    FIELDS,
    FREE_DOMAINS,
    INDUSTRIES,
    RESOLUTIONS,
)
from autoresolve.model.generators.crm.kinds import KIND_NAMES, NEW_KINDS, RULE_KINDS
from autoresolve.model.generators.crm.records import generate, generate_with_meta

__all__ = [
    "DEFAULT_N",
    "DEFAULT_SEED",
    "DISPOSABLE_DOMAINS",
    "FIELDS",
    "FREE_DOMAINS",
    "GENERATOR",
    "INDUSTRIES",
    "KIND_NAMES",
    "NEW_KINDS",
    "RESOLUTIONS",
    "RULE_KINDS",
    "generate",
    "generate_with_meta",
    "records_with_kinds",
]


def records_with_kinds(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The records of `generate(n, seed)` and each one's case kind."""
    df, meta = generate_with_meta(n, seed)
    return df, meta["case_kind"].to_numpy()


GENERATOR = Generator(
    generate=generate,
    default_n=DEFAULT_N,
    default_seed=DEFAULT_SEED,
    with_kinds=records_with_kinds,
    new_kinds=tuple(NEW_KINDS),
)
