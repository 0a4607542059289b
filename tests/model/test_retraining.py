"""The retraining job's steps on small frames: new labels, mode, training data and window,
records unseen by the champion, and a re-certification without refit."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoresolve.model.decision import DECISION_COLUMNS
from autoresolve.model.retrain import MIN_WINDOW
from autoresolve.model.retraining import (
    LABELLED_AT,
    RECERTIFIED,
    REFIT,
    JobInputs,
    JobSettings,
    assess_need,
    challenge,
    choose_mode,
    training_and_window,
    unseen_by,
)


def _records(domain: Any, n: int, start: str = "2025-01-01", prefix: str = "r") -> pd.DataFrame:
    return pd.DataFrame(
        {
            domain.id: [f"{prefix}{i}" for i in range(n)],
            domain.time: pd.date_range(start, periods=n, freq="h", tz="UTC"),
            "country": ["DE"] * n,
            domain.label: ["route_partner_team"] * n,
        }
    )


def _labels(domain: Any, n: int, at: list[int], prefix: str = "l") -> pd.DataFrame:
    return _records(domain, n, "2025-06-01", prefix).assign(**{LABELLED_AT: at})


class Deferring:
    """Defers everything; re-certifies by remembering what it was given."""

    def __init__(self, domain: Any, version: str = "v1", rules: Any = None) -> None:
        self.domain, self.version = domain, version
        self.rules = rules or SimpleNamespace(version="rules-1")
        self.fingerprint = {"time_end": "2025-01-05T00:00:00+00:00"}
        self.certificate = {"threshold": 0.9}
        self.calibrated_on: pd.DataFrame | None = None

    def with_rules(self, rules: Any, calibration: pd.DataFrame) -> Deferring:
        out = Deferring(self.domain, self.version + "-recertified", rules)
        out.calibrated_on = calibration
        return out

    def decide_frame(self, df: pd.DataFrame, now: Any = None) -> pd.DataFrame:
        n = len(df)
        out = pd.DataFrame({c: [None] * n for c in DECISION_COLUMNS})
        out["record_id"] = df[self.domain.id].astype(str).to_numpy()
        out["outcome"] = "deferred"
        return out


def test_new_labels_count_from_since_and_rules_none_means_unchanged(crm_domain) -> None:
    labels = _labels(crm_domain, 10, [1] * 4 + [2] * 6)
    inputs = JobInputs(pd.DataFrame(), labels, since=2, reference=None, recent=None)
    champion = Deferring(crm_domain)
    settings = JobSettings(min_new_labels=6)
    check = assess_need(champion=champion, rules=None, inputs=inputs, settings=settings)
    assert check.need.new_labels == 6 and check.need.needed and not check.need.rules_changed
    assert check.psi == {} and check.largest_psi() is None
    changed = SimpleNamespace(version="rules-2")
    quiet = JobSettings(min_new_labels=7)
    only_rules = assess_need(champion=champion, rules=changed, inputs=inputs, settings=quiet)
    assert only_rules.need.rules_changed and choose_mode(only_rules.need) == RECERTIFIED
    both = assess_need(champion=champion, rules=changed, inputs=inputs, settings=settings)
    assert choose_mode(both.need) == REFIT, "new labels as well: refit"
    assert choose_mode(None) == REFIT


def test_the_guard_asking_for_recertification_is_a_reason_of_its_own(crm_domain) -> None:
    labels = _labels(crm_domain, 8, [1, 1, 2, 2, 2, 2, 2, 2])
    inputs = JobInputs(pd.DataFrame(), labels, since=2, reference=None, recent=None)
    champion, quiet = Deferring(crm_domain), JobSettings(min_new_labels=7)
    assert not assess_need(champion=champion, rules=None, inputs=inputs, settings=quiet).need.needed
    why = "the precision guard asks for recertification: threshold raised to 0.9100 (0.8200)."
    asked = assess_need(
        champion=champion, rules=None, inputs=inputs, settings=quiet, guard_request=why
    )
    assert asked.need.needed and choose_mode(asked.need) == REFIT
    assert asked.need.reasons == (why,)
    loud = JobSettings(min_new_labels=6)  # other reasons are kept beside it
    both = assess_need(
        champion=champion, rules=None, inputs=inputs, settings=loud, guard_request=why
    )
    assert len(both.need.reasons) == 2 and "6 new labels" in both.need.reasons[0]


def test_window_is_the_newest_labels_and_history_yields_to_labels(crm_domain) -> None:
    history = _records(crm_domain, 300)
    labels = _labels(crm_domain, 400, list(np.repeat([3, 1, 2, 4], 100)))
    labels.loc[0, crm_domain.id] = "r7"  # a label for a history record wins over its row
    split = training_and_window(crm_domain, history, labels, JobSettings())
    assert len(split.window) == MIN_WINDOW and "labelling" in split.how
    assert split.window[crm_domain.id].tolist() == [f"l{i}" for i in range(300, 400)]
    ids = split.training[crm_domain.id].tolist()
    assert len(ids) == 299 + 300 and "r7" not in ids[:299] and ids.count("r7") == 1
    assert not set(ids) & set(split.window[crm_domain.id])
    assert LABELLED_AT not in split.training.columns and LABELLED_AT not in split.window.columns


def test_few_labels_fall_back_to_the_newest_records_by_time(crm_domain) -> None:
    history = _records(crm_domain, 900)
    labels = _labels(crm_domain, 50, [1] * 50)
    split = training_and_window(crm_domain, history, labels, JobSettings())
    assert len(split.window) == 190 and "20%" in split.how  # 20% of 950
    assert split.window[crm_domain.id].tolist()[-50:] == [f"l{i}" for i in range(50)]
    assert len(split.training) == 760


def test_unseen_records_exclude_labels_the_champion_may_have_fitted(crm_domain) -> None:
    champion = Deferring(crm_domain)
    history = _records(crm_domain, 200)  # hourly from 1 January: 96 rows up to 5 January
    labels = _labels(crm_domain, 30, [1] * 10 + [5] * 20)
    labels.loc[29, crm_domain.id] = "r150"
    unseen = unseen_by(champion, crm_domain, history, labels, since=3)
    ids = unseen[crm_domain.id].tolist()
    assert ids[:102] == [f"r{i}" for i in range(97, 200) if i != 150]
    assert ids[102:] == [f"l{i}" for i in range(10, 29)] + ["r150"]
    assert not {f"l{i}" for i in range(10)} & set(ids), "labels given before `since`"


def test_only_changed_rules_recertify_without_refit(crm_domain) -> None:
    champion = Deferring(crm_domain)
    history = _records(crm_domain, 600)
    labels = _labels(crm_domain, 10, [1] * 10)
    inputs = JobInputs(history, labels, since=2, reference={"fields": {}}, recent=None)
    changed = SimpleNamespace(version="rules-2")
    need = assess_need(champion=champion, rules=changed, inputs=inputs, settings=JobSettings())

    def never(*_: Any) -> Any:
        raise AssertionError("a re-certification must not refit")

    run = challenge(domain=crm_domain, champion=champion, rules=changed, inputs=inputs,
                    need=need.need, settings=JobSettings(), seed=0, fit=never)  # fmt: skip
    assert run.mode == RECERTIFIED and run.training_records is None
    assert run.reference == {"fields": {}}, "the same model: the champion's training data"
    assert run.challenger.rules is changed
    assert len(run.challenger.calibrated_on) + run.window_records == 600 - 97
    assert "training_records" not in run.summary()

    few = JobInputs(history.head(300), labels, since=2, reference=None, recent=None)
    fitted: list[int] = []

    def fit(domain: Any, df: pd.DataFrame, seed: int, rules: Any, _progress: Any) -> Any:
        fitted.append(len(df))
        return Deferring(domain, "v2", rules), None

    refit = challenge(domain=crm_domain, champion=champion, rules=changed, inputs=few,
                      need=need.need, settings=JobSettings(), seed=0, fit=fit)  # fmt: skip
    assert refit.mode == REFIT and fitted == [refit.training_records]
    assert any("too few" in note for note in refit.notes)


@pytest.mark.parametrize(
    ("field", "value"),
    [("window_fraction", 1.0), ("fallback_window_fraction", 0.0), ("tolerance", 2.0)],
)
def test_settings_refuse_values_outside_their_range(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        JobSettings(**{field: value})
