"""The labelling queue's order: novel first, then the closest calls, then rule deferrals."""

from __future__ import annotations

import pytest

from autoresolve.model.queue_priority import label_priority

CLOSE = [{"resolution": "a", "probability": 0.5}, {"resolution": "b", "probability": 0.45}]
WIDE = [{"resolution": "a", "probability": 0.8}, {"resolution": "b", "probability": 0.1}]


def test_novel_then_small_margins_then_rules_then_the_rest():
    assert label_priority("novel", WIDE) > label_priority("low_confidence", CLOSE)
    assert label_priority("low_confidence", CLOSE) > label_priority("low_confidence", WIDE)
    assert label_priority("low_confidence", WIDE) > label_priority("rule", [])
    assert label_priority("rule", []) > label_priority("invalid", CLOSE)


def test_values_follow_the_stated_formulas():
    assert label_priority("novel", WIDE) == pytest.approx(2.0 + (1.0 - 0.8))
    assert label_priority("no_model", CLOSE) == pytest.approx(1.0 + (1.0 - 0.05))
    assert label_priority("low_confidence", CLOSE[:1]) == pytest.approx(1.0 + (1.0 - 0.5))
    assert label_priority("novel", []) == 3.0  # no model output at all: as unknown as it gets
    assert label_priority(None, CLOSE) == 0.0


def test_candidate_order_does_not_matter():
    assert label_priority("low_confidence", CLOSE[::-1]) == label_priority("low_confidence", CLOSE)
