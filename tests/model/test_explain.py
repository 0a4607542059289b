"""Explanations: per-column contributions that add up to the model's own scores, summed back to
the domain's fields, and a reason for every decision (rule, model) — `model.explain`."""

from __future__ import annotations

import numpy as np
import pytest

from autoresolve.model.domain import load_domain
from autoresolve.model.explain import column_fields, field_contributions
from autoresolve.model.records import coerce_record
from autoresolve.service.decision_codec import decision_json, jsonable
from tests.support import CRM_DIR


@pytest.fixture(scope="module", params=["lightgbm", "linear"])
def trained(request):
    from autoresolve.model.generators import crm
    from autoresolve.model.train import train_policy

    domain = load_domain(CRM_DIR)
    df = crm.generate(1500, seed=2)
    policy, _ = train_policy(domain, df, seed=2, families=(request.param,))
    rows = crm.generate(60, seed=8).drop(columns=[domain.label])
    return policy, [jsonable(r) for r in rows.to_dict("records")]


def rows_of(policy, records) -> np.ndarray:
    return np.array([policy.pipeline.record_row(coerce_record(policy.domain, r)) for r in records])


def raw_scores(policy, X: np.ndarray) -> np.ndarray:
    est = policy.estimator
    if est.name == "lightgbm":
        s = est.booster_.predict(X, num_iteration=est.n_iterations_, raw_score=True)
        return np.asarray(s).reshape(len(X), -1)
    logits = est._num_block(X) @ est.w_num_ + est.bias_
    return logits + est.w_cat_[est._cat_index(X)].sum(axis=1)


def test_contributions_add_up_to_the_models_scores_up_to_a_per_class_constant(trained):
    policy, records = trained
    X = rows_of(policy, records)
    c = policy.estimator.contributions(X)
    assert c.shape == (len(X), len(policy.classes), X.shape[1])
    gap = raw_scores(policy, X) - c.sum(axis=2)  # the bias: the same for every record
    assert np.allclose(gap, gap[0], atol=1e-6)


def test_columns_sum_back_to_fields_without_losing_anything(trained):
    policy, records = trained
    fields = column_fields(policy.pipeline)
    assert len(fields) == policy.pipeline.n_features_out_
    assert set(fields) == set(policy.domain.field_types)
    X = rows_of(policy, records[:5])
    c = policy.estimator.contributions(X)
    names, per_field = field_contributions(c, fields)
    assert per_field.shape == (5, len(policy.classes), len(names))
    assert np.allclose(per_field.sum(axis=2), c.sum(axis=2))


def test_every_decision_gets_its_reason(trained):
    policy, records = trained
    outs = [decision_json(d) for d in policy.decide_records(records)]
    whys = policy.explain_records(records, outs)
    by_id = {r.id: r for r in policy.rules.rules}
    seen = set()
    for out, why in zip(outs, whys, strict=True):
        seen.add(why["kind"])
        if out["rule_id"]:
            assert why == {
                "kind": "rule",
                "rule_id": out["rule_id"],
                "condition": by_id[out["rule_id"]].when,
                "then": by_id[out["rule_id"]].then,
                "note": by_id[out["rule_id"]].note or None,
            }
        else:
            assert why["answer"] == out["candidates"][0]["resolution"]
            assert why["runner_up"] == out["candidates"][1]["resolution"]
            weights = [w["weight"] for w in why["toward_answer"]]
            assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
    assert seen == {"rule", "model"}


def test_an_invalid_record_is_explained_as_such(trained):
    policy, records = trained
    bad = dict(records[0], employees="many")
    out = {"rule_id": None, "candidates": []}
    assert policy.explain_records([bad], [out])[0]["kind"] == "invalid"
