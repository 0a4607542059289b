"""Which automatic decisions are sampled for audit: a seeded hash of the record id.

The precision guard (model/guard.py) needs labels for decisions the system made on its own, not
only for deferrals, and those labels must be a random sample of them, not the ones someone chose
to check. A hash of (seed, record id) is that sample without any state: every worker and replica,
the HTTP path and the table path, a restart and a replay all draw the same records, and the same
record asked twice is audited both times or neither.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

DEFAULT_SHARE = 0.03
_SCALE = float(2**64)


def audit_draw(record_id: object, seed: int) -> float:
    """The record's uniform draw in [0, 1): audited when it falls under the share."""
    digest = hashlib.blake2b(f"{seed}:{record_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def check_share(share: float) -> float:
    if not 0.0 <= share <= 1.0:
        raise ValueError(
            f"the audit share must lie within [0, 1] (a share of automatic decisions); got {share}."
        )
    return float(share)


def is_audited(record_id: object, share: float, seed: int) -> bool:
    return share > 0.0 and audit_draw(record_id, seed) < share


def audit_mask(record_ids: Iterable[object], share: float, seed: int) -> np.ndarray:
    """`is_audited` for many records (the table path)."""
    ids = list(record_ids)
    if share <= 0.0:
        return np.zeros(len(ids), dtype=bool)
    return np.fromiter((audit_draw(r, seed) < share for r in ids), dtype=bool, count=len(ids))
