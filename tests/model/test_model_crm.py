"""The CRM demo end to end: certified precision holds on the most recent records, novelty bites.

Trains once on the seeded demo up to 8 October (~45,000 records, some seconds with one thread): a
deployment trained a week after the `consent_missing` kind first appeared (1 October), so its
newest records (the test slice) hold a kind of case the fitted model has barely seen.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest

from autoresolve.model.datasets import load_domain_frame
from autoresolve.model.domain import load_domain
from autoresolve.model.train import train_policy
from tests.support import CRM_DIR

os.environ.setdefault("OMP_NUM_THREADS", "1")
CRM = CRM_DIR


@pytest.fixture(scope="module")
def crm():
    domain = load_domain(CRM)
    df = load_domain_frame(domain)
    df = df[df[domain.time] < pd.Timestamp("2025-10-09", tz="UTC")].reset_index(drop=True)
    policy, report = train_policy(domain, df, seed=0)
    return domain, df, policy, report


def test_certificate_and_realised_precision_on_test(crm) -> None:
    domain, _, _policy, report = crm
    cert = report.certificate
    m = report.metrics
    if cert["threshold"] is None:  # allowed, but then nothing is resolved by the model
        assert m["model_resolved"] == 0
        return
    assert cert["error_upper_bound"] <= 1 - domain.policy.target_precision + 1e-9
    assert m["model_resolved"] > 100
    lo, _hi = m["realised_precision_ci90"]
    assert lo >= domain.policy.target_precision - 0.05  # target inside a sane band on new data
    assert m["autonomy"] > report.evaluation["baselines"]["rules_only"]["autonomy"]
    assert m["ece"] < m["ece_uncalibrated"]  # temperature scaling helped on unseen months


def test_novel_records_are_less_accurate_on_the_test_split(crm) -> None:
    _, _, _, report = crm
    nov = report.novelty
    assert nov["test_novel_count"] >= 30
    assert nov["test_accuracy_novel"] < nov["test_accuracy_familiar"] - 0.1


def test_uncalibrated_baselines_miss_the_target(crm) -> None:
    _, _, _, report = crm
    base = report.evaluation["baselines"]
    assert not base["argmax_uncalibrated"]["target_held"]
    assert base["rules_only"]["precision"] > 0.97
