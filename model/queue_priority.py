"""How much a label for a deferred record would teach: the order of the labelling queue.

A learning policy, not storage: the store records the number with each deferred decision and
sorts by it (then by recency), so the first labels a reviewer gives are the most instructive.
  - `novel` deferrals first (2 + 1 − top probability): the record lies outside what the model has
    seen, so its label widens the region the model can certify;
  - `low_confidence` / `no_model` next (1 + 1 − margin between the two best candidates): the
    smaller the margin, the closer the record sits to a decision boundary (margin sampling);
  - `rule` deferrals after those (0.5): a rule sent them to a person on purpose;
  - anything else (`invalid`) last (0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def label_priority(defer_reason: str | None, candidates: Sequence[Mapping[str, Any]]) -> float:
    """The queue priority of a deferred decision from its reason and candidate probabilities."""
    probs = sorted((float(c["probability"]) for c in candidates), reverse=True)
    top = probs[0] if probs else 0.0
    margin = top - (probs[1] if len(probs) > 1 else 0.0)
    if defer_reason == "novel":
        return 2.0 + (1.0 - top)
    if defer_reason in ("low_confidence", "no_model"):
        return 1.0 + (1.0 - margin)
    if defer_reason == "rule":
        return 0.5
    return 0.0
