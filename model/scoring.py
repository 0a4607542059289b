"""The measure the product lives by, as a scikit-learn scorer: certified coverage at the target.

`CertifiedCoverage(domain)` is a `scoring=` callable for `cross_val_score`, `GridSearchCV` and
friends. On the scored fold it keeps the records no rule resolves, puts them in time order, and
runs the certification step (model.certify's `certify_time_ordered`, the one re-certification
uses): the earlier 40% learn the candidate thresholds and their order, the later 60% are
certified at the domain's target precision and confidence. The score is the share of those
later records the certified threshold accepts (0 when nothing certifies). Higher is better.

The estimator is anything with `predict_proba` and `classes_` that takes the domain's records,
e.g. `make_pipeline(FeaturePipeline(domain), LightGBMModel())`. The probabilities are scored as
the estimator gives them: a Learn-then-Test certificate holds for any score, so calibration
changes which records come first, not whether the bound is valid. Records whose label is not one
of the estimator's classes count as errors when accepted, as in training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.certify import GLOBAL, LEARN_SHARE, certify_time_ordered
from autoresolve.model.domain import Domain
from autoresolve.model.policy import default_rules
from autoresolve.model.splits import time_positions


class CertifiedCoverage:
    """`scorer(estimator, X, y)`: certified coverage of the fold's rule-free records.

    `rules`: the rule set whose unresolved records the model serves (default: the domain's
    rules.yaml, as training uses; `NoRules()` to score every record). `last_certificate` keeps
    the certificate of the most recent call, for a notebook to show.
    """

    def __init__(
        self,
        domain: Domain,
        rules: Any = None,
        *,
        mode: str = GLOBAL,
        learn_share: float = LEARN_SHARE,
    ):
        if rules is None:
            rules = default_rules(domain)
        self.domain = domain
        self.rules = rules
        self.mode = mode
        self.learn_share = learn_share
        self.last_certificate: dict[str, Any] | None = None

    def __call__(self, estimator: Any, X: Any, y: Any) -> float:
        X, y = self._served(X, np.asarray(y, dtype=object))
        if len(y) == 0:
            return 0.0
        classes = tuple(str(c) for c in estimator.classes_)
        index = {c: i for i, c in enumerate(classes)}
        truth = np.array([index.get(str(v), -1) for v in y], dtype=np.int64)
        cert, _ = certify_time_ordered(
            estimator.predict_proba(X),
            truth,
            classes,
            target_precision=self.domain.policy.target_precision,
            confidence=self.domain.policy.confidence,
            mode=self.mode,
            learn_share=self.learn_share,
        )
        self.last_certificate = cert
        return float(cert["coverage"])

    def _served(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        """The fold's records no rule resolves, in time order (a matrix: all of it, as given)."""
        if not isinstance(X, pd.DataFrame):
            return X, y
        order = time_positions(self.domain, X)
        X, y = X.iloc[order], y[order]
        free = np.flatnonzero(np.asarray(self.rules.match_frame(X), dtype=np.int64) < 0)
        return X.iloc[free], y[free]

    def __repr__(self) -> str:
        return f"CertifiedCoverage(domain={self.domain.name!r}, mode={self.mode!r})"
