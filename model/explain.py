"""Why a decision came out as it did: the rule and its condition, or the fields behind the model.

Computed only when asked (`explain=true` on the resolve endpoints, and always in the console):
the decision path never pays for it. For a model decision the estimator gives per-column
contributions to each class's raw score (LightGBM's `pred_contrib`, the linear family's
coefficient × input); the columns derived from one field (a text field's token flags, a time's
hour and weekday) are summed back into that field, because a reviewer reads fields, not columns.
A field's weight is its contribution to the answer's score minus its contribution to the
runner-up's: positive pushes toward the answer and away from the runner-up, negative the reverse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

TOP_FIELDS = 3


def column_fields(pipeline: Any) -> list[str]:
    """The domain field each feature column was derived from (pipeline order)."""
    slots = list(pipeline.slots_)
    ends = [start for _, _, start in slots[1:]] + [int(pipeline.n_features_out_)]
    out: list[str] = []
    for (name, _, start), end in zip(slots, ends, strict=True):
        out.extend([name] * (end - start))
    return out


def field_contributions(contrib: np.ndarray, fields: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(field names, contributions summed per field): (n, K, columns) → (n, K, fields)."""
    names = list(dict.fromkeys(fields))
    index = np.array([names.index(f) for f in fields], dtype=np.int64)
    summed = np.zeros((*contrib.shape[:2], len(names)), dtype=np.float64)
    np.add.at(summed, (slice(None), slice(None), index), contrib)
    return names, summed


def rule_why(rule: Any) -> dict[str, Any]:
    """A rule decision's reason: which rule, on what condition, with what outcome."""
    return {
        "kind": "rule",
        "rule_id": rule.id,
        "condition": rule.when,
        "then": rule.then,
        "note": getattr(rule, "note", "") or None,
    }


def model_why(
    record: Mapping[str, Any],
    classes: Sequence[str],
    probabilities: Sequence[float],
    per_field: np.ndarray,
    names: Sequence[str],
    top: int = TOP_FIELDS,
) -> dict[str, Any]:
    """A model decision's reason from one row of per-field contributions (K, fields)."""
    order = np.argsort(-np.asarray(probabilities), kind="stable")
    answer = int(order[0])
    runner = int(order[1]) if len(order) > 1 else None
    margin = per_field[answer] - (per_field[runner] if runner is not None else 0.0)

    def item(j: int) -> dict[str, Any]:
        return {"field": names[j], "value": record.get(names[j]), "weight": float(margin[j])}

    toward = [item(j) for j in np.argsort(-margin, kind="stable")[:top] if margin[j] > 0]
    away = [item(j) for j in np.argsort(margin, kind="stable")[:top] if margin[j] < 0]
    return {
        "kind": "model",
        "answer": classes[answer],
        "runner_up": classes[runner] if runner is not None else None,
        "toward_answer": toward,
        "toward_runner_up": away,
    }
