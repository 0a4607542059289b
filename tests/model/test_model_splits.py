"""Splits: the test slice is the newest records and capped; calib/cert/valid are disjoint samples of
the recent pool (forward mode: the certification slice comes after everything fitted); the fitted
model sees most of the history, recent labels included."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from autoresolve.model.domain import load_domain
from autoresolve.model.splits import RECENT_POOL, size_of_test_slice, split_positions, time_splits
from tests.support import CRM_DIR

CRM = CRM_DIR


def test_slices_partition_and_test_is_newest() -> None:
    n = 20_000
    pos = split_positions(n, seed=3)
    allpos = np.concatenate(list(pos.values()))
    assert len(allpos) == n and len(np.unique(allpos)) == n
    assert pos["test"].min() > max(pos[k].max() for k in ("fit", "valid", "calib", "cert"))
    assert len(pos["test"]) == size_of_test_slice(n) == 600  # 15% capped at max(500, 3%)
    assert len(pos["fit"]) >= 0.6 * n


def test_forward_mode_certifies_after_everything_fitted_and_fit_sees_recent_labels() -> None:
    n = 30_000
    pos = split_positions(n, seed=0, mode="forward")
    m = n - len(pos["test"])
    assert pos["cert"].min() > max(pos[k].max() for k in ("fit", "valid", "calib"))
    assert np.array_equal(pos["cert"], np.arange(pos["cert"].min(), m))  # newest before test
    before_cert = pos["cert"].min()
    pool_start = before_cert - int(np.ceil(RECENT_POOL * before_cert))
    for k in ("valid", "calib"):
        assert pos[k].min() >= pool_start
    assert len(np.intersect1d(pos["calib"], pos["valid"])) == 0
    newest_tenth = np.arange(before_cert - before_cert // 10, before_cert)
    assert np.isin(newest_tenth, pos["fit"]).mean() >= 0.3
    again = split_positions(n, seed=0, mode="forward")
    assert all(np.array_equal(pos[k], again[k]) for k in pos)
    assert not np.array_equal(pos["cert"], split_positions(n, seed=0)["cert"])  # not the default


def test_calib_and_cert_come_from_the_recent_pool_by_default() -> None:
    n = 30_000
    pos = split_positions(n, seed=0)
    m = n - len(pos["test"])
    pool_start = m - int(np.ceil(RECENT_POOL * m))
    for k in ("valid", "calib", "cert"):
        assert pos[k].min() >= pool_start
    assert len(np.intersect1d(pos["calib"], pos["cert"])) == 0
    newest_tenth = np.arange(m - m // 10, m)
    assert np.isin(newest_tenth, pos["fit"]).mean() >= 0.3


def test_small_tables_keep_fifteen_percent_for_test_and_seed_is_deterministic() -> None:
    assert size_of_test_slice(2_000) == 300
    assert size_of_test_slice(200_000) == 6_000
    a, b = split_positions(5_000, seed=7), split_positions(5_000, seed=7)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_time_splits_follow_the_time_field() -> None:
    domain = load_domain(CRM)
    rng = np.random.default_rng(0)
    t = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**7, 4000), "s")
    df = pd.DataFrame({domain.time: t})
    s = time_splits(domain, df, seed=1)
    newest = df[domain.time].iloc[s["test"]].min()
    assert (df[domain.time].iloc[np.concatenate([s["fit"], s["cert"]])] <= newest).all()


def test_strict_time_mode_orders_every_slice() -> None:
    pos = split_positions(10_000, mode="time")
    order = ["fit", "valid", "calib", "cert", "test"]
    for a, b in pairwise(order):
        assert pos[a].max() < pos[b].min()
    assert sum(len(v) for v in pos.values()) == 10_000
    with pytest.raises(ValueError, match="split mode"):
        split_positions(100, mode="random")
