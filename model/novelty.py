"""Novelty: defer records unlike the training data, however confident the classifier is.

A confident prediction on a record from outside the training distribution is exactly the kind of
automatic mistake the certificate cannot cover (it was measured on familiar records). Three
signals, all computed from the FeaturePipeline's matrix so one record and a table agree exactly:

- an unseen value in a categorical field that matters: the field is marked `novelty` in the
  domain, is filled often enough, and new values were rare out of time during training (on the
  validation slice) — so a new one means something, unlike an e-mail domain where new values are
  everyday;
- a number far outside the range seen in training (beyond the range widened by `range_margin` of
  its span on each side);
- an outlier score: the sum over fields of -log frequency of the record's value (its bin for
  numbers), i.e. the negative log-likelihood under independent per-field histograms. Cheap, and
  thresholded at a high quantile of the out-of-time validation slice.
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

from autoresolve.model.features import FeaturePipeline

_BINS = 16


class NoveltyDetector:
    def __init__(
        self,
        *,
        quantile: float = 0.995,
        unseen_rate_max: float = 0.01,
        min_fill: float = 0.05,
        range_margin: float = 0.5,
    ):
        self.quantile = quantile
        self.unseen_rate_max = unseen_rate_max
        self.min_fill = min_fill
        self.range_margin = range_margin

    def fit(
        self, pipeline: FeaturePipeline, X_train: np.ndarray, X_valid: np.ndarray | None = None
    ) -> NoveltyDetector:
        domain = pipeline.domain
        enabled = domain.policy.novelty
        watch = {f.name for f in domain.fields if f.novelty} if enabled else set()
        X_ref = X_valid if X_valid is not None and len(X_valid) else X_train
        n = max(len(X_train), 1)
        self.unseen_cols_: list[int] = []
        self.unseen_codes_: list[float] = []
        self.range_cols_: list[int] = []
        lo_list, hi_list = [], []
        self.field_stats_: dict[str, dict] = {}
        for name, ftype, j in pipeline.slots_:
            if name not in watch:
                continue
            col = X_train[:, j]
            fill = float(np.mean(~np.isnan(col))) if len(col) else 0.0
            if ftype == "category":
                _, unseen = pipeline.category_code_of(j)
                ref = X_ref[:, j]
                present = ~np.isnan(ref)
                rate = float(np.mean(ref[present] == unseen)) if present.any() else 1.0
                use = fill >= self.min_fill and rate <= self.unseen_rate_max
                self.field_stats_[name] = {"fill": fill, "unseen_rate_valid": rate, "used": use}
                if use:
                    self.unseen_cols_.append(j)
                    self.unseen_codes_.append(float(unseen))
            elif ftype == "number":
                vals = col[~np.isnan(col)]
                use = fill >= self.min_fill and len(vals) > 0
                self.field_stats_[name] = {"fill": fill, "used": bool(use)}
                if use:
                    lo, hi = float(vals.min()), float(vals.max())
                    span = hi - lo if hi > lo else max(abs(hi), 1.0)
                    self.range_cols_.append(j)
                    lo_list.append(lo - self.range_margin * span)
                    hi_list.append(hi + self.range_margin * span)
        self.range_lo_ = np.array(lo_list)
        self.range_hi_ = np.array(hi_list)
        self.unseen_codes_arr_ = np.array(self.unseen_codes_)
        self._fit_score(pipeline, X_train, n)
        ref_scores = self.score(X_ref)
        self.score_threshold_ = (
            float(np.quantile(ref_scores, self.quantile)) if len(ref_scores) else np.inf
        )
        return self

    def _fit_score(self, pipeline: FeaturePipeline, X: np.ndarray, n: int) -> None:
        """Per-column histograms: categorical codes (+ missing) and quantile bins (+ missing)."""
        self.score_cols_: list[int] = []
        self.score_edges_: list[np.ndarray | None] = []
        self.score_logp_: list[np.ndarray] = []
        for _name, ftype, j in pipeline.slots_:
            if ftype not in ("category", "number", "boolean"):
                continue
            col = X[:, j]
            miss = np.isnan(col)
            if ftype == "category":
                size = pipeline.category_sizes_[j]
                idx = np.where(miss, size, np.nan_to_num(col)).astype(np.int64)
                counts = np.bincount(idx, minlength=size + 1).astype(np.float64)
                edges = None
            else:
                vals = col[~miss]
                edges = (
                    np.unique(np.quantile(vals, np.linspace(0, 1, _BINS + 1)[1:-1]))
                    if len(vals)
                    else np.array([])
                )
                nb = len(edges) + 1
                idx = np.where(miss, nb, np.searchsorted(edges, np.nan_to_num(col), "right"))
                counts = np.bincount(idx, minlength=nb + 1).astype(np.float64)
            logp = -np.log((counts + 0.5) / (n + 0.5 * len(counts)))
            self.score_cols_.append(j)
            self.score_edges_.append(edges)
            self.score_logp_.append(logp)

    def score(self, X: np.ndarray) -> np.ndarray:
        """Outlier score per row (higher = less like the training data)."""
        total = np.zeros(len(X))
        for j, edges, logp in zip(
            self.score_cols_, self.score_edges_, self.score_logp_, strict=True
        ):
            col = X[:, j]
            miss = np.isnan(col)
            last = len(logp) - 1
            if edges is None:
                idx = np.where(miss, last, np.clip(np.nan_to_num(col), 0, last - 1))
            else:
                idx = np.where(miss, last, np.searchsorted(edges, np.nan_to_num(col), "right"))
            total += logp[idx.astype(np.int64)]
        return total

    def _row_tables(self) -> list[tuple[int, list[float] | None, list[float]]]:
        tables = getattr(self, "_row_tables_", None)
        if tables is None:
            tables = [
                (j, None if e is None else [float(v) for v in e], [float(v) for v in lp])
                for j, e, lp in zip(
                    self.score_cols_, self.score_edges_, self.score_logp_, strict=True
                )
            ]
            self._row_tables_ = tables
        return tables

    def _row_plan(self) -> tuple[list, list, list]:
        plan = self.__dict__.get("_row_plan_")
        if plan is None:
            plan = (
                [(j, float(c)) for j, c in zip(self.unseen_cols_, self.unseen_codes_, strict=True)],
                [
                    (j, float(lo), float(hi))
                    for j, lo, hi in zip(
                        self.range_cols_, self.range_lo_, self.range_hi_, strict=True
                    )
                ],
                [(j, e, lp, len(lp) - 1) for j, e, lp in self._row_tables()],
            )
            self._row_plan_ = plan
        return plan

    def is_novel_row(self, row: list[float] | np.ndarray) -> bool:
        """`is_novel` for one feature row in plain Python (same arithmetic, same order)."""
        unseen, ranges, tables = self._row_plan()
        for j, code in unseen:
            if row[j] == code:
                return True
        for j, lo, hi in ranges:
            v = row[j]
            if v < lo or v > hi:
                return True
        total = 0.0
        isnan = math.isnan
        for j, edges, logp, last in tables:
            v = row[j]
            if isnan(v):
                k = last
            elif edges is None:
                k = min(max(int(v), 0), last - 1)
            else:
                k = bisect_right(edges, v)
            total += logp[k]
        return total > self.score_threshold_

    def flags(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Boolean arrays: unseen_category, out_of_range, outlier, and their union `novel`."""
        n = len(X)
        unseen = np.zeros(n, dtype=bool)
        if self.unseen_cols_:
            unseen = (X[:, self.unseen_cols_] == self.unseen_codes_arr_).any(axis=1)
        out_of_range = np.zeros(n, dtype=bool)
        if self.range_cols_:
            v = X[:, self.range_cols_]
            with np.errstate(invalid="ignore"):
                out_of_range = ((v < self.range_lo_) | (v > self.range_hi_)).any(axis=1)
        outlier = self.score(X) > self.score_threshold_
        return {
            "unseen_category": unseen,
            "out_of_range": out_of_range,
            "outlier": outlier,
            "novel": unseen | out_of_range | outlier,
        }

    def is_novel(self, X: np.ndarray) -> np.ndarray:
        return self.flags(X)["novel"]

    def describe(self) -> dict:
        return {
            "fields": self.field_stats_,
            "score_quantile": self.quantile,
            "score_threshold": self.score_threshold_,
        }
