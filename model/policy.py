"""The policy: rules + feature pipeline + estimator + calibration + certified threshold + novelty.

One object decides, for a table (`decide_frame`) or for one record (`decide_record`), following
DESIGN.md's flow: rules first (first hit; a `defer` rule defers with reason `rule`), then the model
for records no rule covers — novel → deferred `novel`; no certified threshold → deferred
`no_model`; top calibrated probability ≥ threshold → resolved by the model; else deferred
`low_confidence`. Both paths share every component, so they agree exactly (property-tested).

A Policy is immutable in use: changing anything (rules, version) returns a new object, so a server
can swap one reference atomically.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from autoresolve.model.calibration import TemperatureScaler
from autoresolve.model.certify import GLOBAL, SERVED_POPULATION, certify_time_ordered
from autoresolve.model.decision import DECISION_COLUMNS, Candidate, Decision
from autoresolve.model.domain import Domain
from autoresolve.model.features import FeaturePipeline
from autoresolve.model.novelty import NoveltyDetector
from autoresolve.model.records import RecordError, coerce_frame, coerce_record
from autoresolve.model.splits import time_positions

TOP_K = 3
CHUNK = 100_000  # rows per model block in decide_frame: bounds the feature matrix's memory


class RuleLike(Protocol):
    id: str
    then: str


class RuleSetLike(Protocol):
    version: str
    rules: Any

    def match_frame(self, df: pd.DataFrame) -> np.ndarray: ...

    def match_record(self, record: Mapping[str, Any]) -> RuleLike | None: ...


class NoRules:
    """The empty rule set: for domains without rules.yaml (every record goes to the model)."""

    version = "none"
    rules: tuple = ()

    def match_frame(self, df: pd.DataFrame) -> np.ndarray:
        return np.full(len(df), -1, dtype=np.int64)

    def match_record(self, record: Mapping[str, Any]) -> None:
        return None


def default_rules(domain: Domain) -> RuleSetLike:
    """The domain's rules.yaml (then rules.learned.yaml, if present) when present, else none."""
    path = domain.rules_path
    if path is None or not path.is_file():
        return NoRules()
    from autoresolve.rules import load_domain_rules

    return load_domain_rules(
        path, domain.learned_rules_path, domain.field_types, domain.resolutions
    )


def _candidate_lists(names: np.ndarray, probs: np.ndarray) -> list[list[dict[str, Any]]]:
    """Per row, the top classes as [{resolution, probability}, …] (columns zipped: fast)."""
    cols = [
        [{"resolution": a, "probability": b} for a, b in zip(nc, pc, strict=True)]
        for nc, pc in zip(names.T.tolist(), probs.T.tolist(), strict=True)
    ]
    return [list(row) for row in zip(*cols, strict=True)]


_last_stamp: tuple[int, str] = (0, "")


def _now_iso() -> str:
    """The current time as the decision stamp, formatted once per millisecond (~2 µs saved per
    record when a server decides several records per millisecond)."""
    global _last_stamp
    ms = time.time_ns() // 1_000_000
    last = _last_stamp
    if last[0] == ms:
        return last[1]
    t = datetime.fromtimestamp(ms / 1000, UTC)
    text = t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    _last_stamp = (ms, text)
    return text


def iso_utc(now: datetime | None) -> str:
    if now is None:
        return _now_iso()
    t = now
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _FrameDecisions:
    """The decision columns of a table under construction: every row starts deferred, with no
    source, and the rule layer then the model fill in the rows they decide."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.outcome = np.full(n, "deferred", dtype=object)
        self.resolution = np.empty(n, dtype=object)  # all None
        self.source = np.empty(n, dtype=object)
        self.rule_id = np.empty(n, dtype=object)
        self.reason = np.empty(n, dtype=object)
        self.confidence = np.full(n, np.nan)
        self.threshold = np.full(n, np.nan)
        self.candidates: list[list[dict[str, Any]]] = [[] for _ in range(n)]

    def set_candidates(self, rows: np.ndarray, built: list[list[dict[str, Any]]]) -> None:
        if len(rows) == self.n:
            self.candidates = built
            return
        for r, c in zip(rows.tolist(), built, strict=True):
            self.candidates[r] = c

    def frame(self, ids: np.ndarray, version: str, stamp: str) -> pd.DataFrame:
        index = pd.RangeIndex(self.n)

        def obj(values: Any) -> pd.Series:
            # object dtype keeps None for missing (pandas would infer `str` and turn it into NaN)
            return pd.Series(values, dtype=object, index=index)

        return pd.DataFrame(
            {
                "record_id": obj(ids),
                "outcome": obj(self.outcome),
                "resolution": obj(self.resolution),
                "source": obj(self.source),
                "rule_id": obj(self.rule_id),
                "confidence": pd.Series(self.confidence, index=index),
                "threshold": pd.Series(self.threshold, index=index),
                "defer_reason": obj(self.reason),
                "candidates": obj(self.candidates),
                "policy_version": obj([version] * self.n),
                "decided_at": obj([stamp] * self.n),
            },
            columns=list(DECISION_COLUMNS),
        )


class Policy:
    """Everything that decides, versioned as one object."""

    def __init__(
        self,
        *,
        domain: Domain,
        rules: RuleSetLike | None,
        pipeline: FeaturePipeline,
        estimator: Any,
        calibrator: TemperatureScaler,
        certificate: dict[str, Any],
        novelty: NoveltyDetector | None,
        classes: tuple[str, ...],
        fingerprint: dict[str, Any],
        trained_at: str,
        candidate_grid: tuple[float, ...] = (),
        metrics: dict[str, Any] | None = None,
        version: str | None = None,
        batch_threads: int = 1,
    ):
        self.domain = domain
        self.rules = rules if rules is not None else NoRules()
        self.pipeline = pipeline
        self.estimator = estimator
        self.calibrator = calibrator
        self.certificate = certificate
        self.novelty = novelty
        self.classes = tuple(classes)
        self.fingerprint = fingerprint
        self.trained_at = trained_at
        self.candidate_grid = tuple(candidate_grid)
        self.metrics = metrics or {}
        self.batch_threads = batch_threads
        self._set_thresholds(certificate)
        self._classes_arr = np.array(self.classes, dtype=object)
        self.version = version or self.content_version()

    def _set_thresholds(self, certificate: dict[str, Any]) -> None:
        """Global λ, or one λ per class (certificate mode `per_class`); +inf = never resolved."""
        t = certificate.get("threshold")
        self.threshold: float | None = None if t is None else float(t)
        per = certificate.get("per_class") or {}
        if self.threshold is not None:
            by_class = [self.threshold] * len(self.classes)
        else:
            by_class = [
                float(per[c]["threshold"])
                if c in per and per[c].get("threshold") is not None
                else float("inf")
                for c in self.classes
            ]
        self.class_thresholds = np.array(by_class, dtype=np.float64)
        self._thr_list = by_class
        self.resolves_nothing = not np.isfinite(self.class_thresholds).any()

    @property
    def thresholds(self) -> dict[str, float | None]:
        """The certified λ per class (None: that class is never resolved by the model)."""
        return {
            c: (float(t) if np.isfinite(t) else None)
            for c, t in zip(self.classes, self.class_thresholds, strict=True)
        }

    def never_resolved(self) -> dict[str, str]:
        """Resolutions the model never resolves (rules still may), each with the reason."""
        cert = self.certificate
        per = cert.get("per_class") or {}
        absent = cert.get("not_in_model") or {}
        out: dict[str, str] = {}
        for r in self.domain.resolutions:
            if r not in self.classes:
                out[r] = absent.get(r, "not one of the model's classes")
            elif self.resolves_nothing:
                out[r] = "nothing is certified: " + str(cert.get("reason") or "no threshold")
            elif not np.isfinite(self.class_thresholds[self.classes.index(r)]):
                row = per.get(r) or {}
                out[r] = str(
                    row.get("why_not") or row.get("reason") or "no certified threshold for it"
                )
        return out

    def class_table(self) -> dict[str, dict[str, Any]]:
        """Per model class: its threshold, and its certification records (size, accepted,
        observed precision, its own error bound — not simultaneous; the certified claim is on
        all classes together)."""
        per = self.certificate.get("per_class") or {}
        out: dict[str, dict[str, Any]] = {}
        for c, t in self.thresholds.items():
            row = per.get(c) or {}
            out[c] = {
                "threshold": t,
                "n_certification": row.get("n_certification", row.get("n_predicted")),
                "accepted": row.get("accepted"),
                "observed_precision": row.get("observed_precision"),
                "error_upper_bound": row.get("error_upper_bound"),
            }
        return out

    # ---------------------------------------------------------------- identity
    def content_version(self) -> str:
        payload = json.dumps(
            {
                "fingerprint": self.fingerprint,
                "rules": self.rules.version,
                "threshold": self.threshold,
                "thresholds": self._thr_list,
                "classes": self.classes,
                "estimator": self.estimator.describe(),
                "temperature": self.calibrator.temperature_,
            },
            sort_keys=True,
            default=str,
        )
        return "unregistered-" + hashlib.sha256(payload.encode()).hexdigest()[:12]

    def with_version(self, version: str) -> Policy:
        new = copy.copy(self)
        new.version = version
        return new

    def describe(self) -> dict[str, Any]:
        return {
            "domain": self.domain.name,
            "version": self.version,
            "rules_version": self.rules.version,
            "n_rules": len(getattr(self.rules, "rules", ()) or ()),
            "threshold": self.threshold,
            "thresholds": (
                {"global": self.threshold} if self.threshold is not None else self.thresholds
            ),
            "certificate": self.certificate,
            "per_class": self.class_table(),
            "never_resolved": self.never_resolved(),
            "classes": list(self.classes),
            "estimator": self.estimator.describe(),
            "calibration": self.calibrator.describe(),
            "novelty": self.novelty.describe() if self.novelty is not None else None,
            "fingerprint": self.fingerprint,
            "trained_at": self.trained_at,
            "features": int(self.pipeline.n_features_out_),
            "metrics": {
                k: v for k, v in self.metrics.items() if isinstance(v, int | float | str | bool)
            },
        }

    # ---------------------------------------------------------------- probabilities
    def _proba(self, X: np.ndarray, threads: int = 1) -> np.ndarray:
        return self.calibrator.apply(self.estimator.predict_proba(X, num_threads=threads))

    def predict_proba_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Calibrated class probabilities for every row (rules ignored), columns = classes."""
        df = self._coerce_frame(df)
        P = self._proba(self.pipeline.transform(df), self.batch_threads)
        return pd.DataFrame(P, columns=list(self.classes), index=df.index)

    # ---------------------------------------------------------------- deciding
    def _coerce_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        return coerce_frame(self.domain, df)

    def decide_frame(self, df: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
        df = self._coerce_frame(df)
        out = _FrameDecisions(len(df))
        hit = np.asarray(self.rules.match_frame(df), dtype=np.int64)
        self._decide_by_rules(out, hit)
        rest = np.flatnonzero(hit < 0)
        for start in range(0, len(rest), CHUNK):
            self._decide_by_model(out, df, rest[start : start + CHUNK])
        ids = df[self.domain.id].to_numpy(dtype=object)  # coerce_frame made them str
        return out.frame(ids, self.version, iso_utc(now))

    def _decide_by_rules(self, out: _FrameDecisions, hit: np.ndarray) -> None:
        """The rows a rule decides (`hit` ≥ 0): resolved by it, or deferred when it says defer."""
        ruled = np.flatnonzero(hit >= 0)
        if not len(ruled):
            return
        rule_list = list(self.rules.rules)
        ids_of = np.array([r.id for r in rule_list], dtype=object)
        then_of = np.array([r.then for r in rule_list], dtype=object)
        then = then_of[hit[ruled]]
        defer = then == "defer"
        out.rule_id[ruled] = ids_of[hit[ruled]]
        out.source[ruled] = "rule"
        out.outcome[ruled] = np.where(defer, "deferred", "resolved")
        out.resolution[ruled] = np.where(defer, None, then)
        out.reason[ruled] = np.where(defer, "rule", None)

    def _decide_by_model(self, out: _FrameDecisions, df: pd.DataFrame, rest: np.ndarray) -> None:
        """One chunk of rule-free rows: candidates, then resolved only when familiar and above
        the certified threshold of the top class."""
        sub = df.iloc[rest] if len(rest) < out.n else df
        X = self.pipeline.transform(sub)
        P = self._proba(X, self.batch_threads)
        order = np.argsort(-P, axis=1, kind="stable")[:, :TOP_K]
        top_p = np.take_along_axis(P, order, axis=1)
        novel = (
            self.novelty.is_novel(X)
            if self.novelty is not None
            else np.zeros(len(rest), dtype=bool)
        )
        del X, P
        conf = top_p[:, 0]
        out.confidence[rest] = conf
        names = self._classes_arr[order]
        out.set_candidates(rest, _candidate_lists(names, top_p))
        if self.resolves_nothing:
            why = np.where(novel, "novel", "no_model")
            ok = np.zeros(len(rest), dtype=bool)
        else:
            thr = self.class_thresholds[order[:, 0]]
            out.threshold[rest] = np.where(np.isfinite(thr), thr, np.nan)
            ok = ~novel & (conf >= thr)
            why = np.where(novel, "novel", np.where(ok, None, "low_confidence"))
        out.reason[rest] = why
        out.outcome[rest] = np.where(ok, "resolved", "deferred")
        out.source[rest] = np.where(ok, "model", None)
        out.resolution[rest] = np.where(ok, names[:, 0], None)

    def decide_record(self, record: Mapping[str, Any], now: datetime | None = None) -> Decision:
        out = self.decide_records([record], now)[0]
        if isinstance(out, Exception):
            raise out
        return out

    def decide_records(
        self, records: Sequence[Mapping[str, Any]], now: datetime | None = None
    ) -> list[Decision | RecordError]:
        """`decide_record` for a few records at once (a server's records of one loop turn).

        Each record takes the single-record path; the model rows are evaluated back to back, so
        the trees stay in the CPU cache after the first (under load, a lone LightGBM row cost ~3×
        its isolated time from cache misses), and calibrated in one call. A record that does not
        fit the schema gets its RecordError in its place; the others are decided.
        """
        stamp = iso_utc(now)
        out: list[Decision | RecordError | None] = [None] * len(records)
        waiting: list[tuple[int, str, list[float]]] = []
        for i, raw in enumerate(records):
            try:
                record = coerce_record(self.domain, raw)
            except RecordError as exc:
                out[i] = exc
                continue
            rid = str(record.get(self.domain.id))
            rule = self.rules.match_record(record)
            if rule is None:
                waiting.append((i, rid, self.pipeline.record_row(record)))
                continue
            defer = rule.then == "defer"
            out[i] = Decision(
                record_id=rid,
                outcome="deferred" if defer else "resolved",
                resolution=None if defer else rule.then,
                source="rule",
                rule_id=rule.id,
                confidence=None,
                threshold=None,
                defer_reason="rule" if defer else None,
                candidates=(),
                policy_version=self.version,
                decided_at=stamp,
            )
        if waiting:
            predict = self.estimator.predict_row
            raw_p = np.array([predict(row) for _, _, row in waiting], dtype=np.float64)
            for (i, rid, row), p in zip(
                waiting, self.calibrator.apply(raw_p).tolist(), strict=True
            ):
                out[i] = self._model_decision(rid, row, p, stamp)
        return out  # type: ignore[return-value]

    def _model_decision(self, rid: str, row: list[float], p: list[float], stamp: str) -> Decision:
        order = sorted(range(len(p)), key=lambda k: -p[k])[:TOP_K]  # stable, like argsort
        cands = tuple(Candidate(self.classes[k], p[k]) for k in order)
        conf = p[order[0]]
        novel = self.novelty.is_novel_row(row) if self.novelty is not None else False
        thr: float | None = self._thr_list[order[0]]
        if thr == float("inf"):
            thr = None
        if novel:
            reason = "novel"
        elif self.resolves_nothing or thr is None:
            reason = "no_model" if self.resolves_nothing else "low_confidence"
        elif conf >= thr:
            reason = None
        else:
            reason = "low_confidence"
        resolved = reason is None
        return Decision(
            record_id=rid,
            outcome="resolved" if resolved else "deferred",
            resolution=cands[0].resolution if resolved else None,
            source="model" if resolved else None,
            rule_id=None,
            confidence=conf,
            threshold=thr,
            defer_reason=reason,
            candidates=cands,
            policy_version=self.version,
            decided_at=stamp,
        )

    # ---------------------------------------------------------------- re-certification
    def with_rules(self, rules: RuleSetLike, calibration_df: pd.DataFrame) -> Policy:
        """The same model re-certified for a new rule set (no refit): a new policy version.

        `calibration_df` must be labelled records the model never trained on (e.g. the recent
        window). Records the new rules resolve and novel records are left out (the population
        the model serves); the rest are split in time order:
        the first 40% learn the candidate thresholds and their test order, the last 60% give the
        certificate — the same procedure as training, on new data.
        """
        df = self._coerce_frame(calibration_df)
        label = self.domain.label
        if label not in df.columns:
            raise ValueError(f"calibration data needs the label column '{label}' to re-certify.")
        df = df[df[label].notna()].reset_index(drop=True)
        df = df.iloc[time_positions(self.domain, df)]
        sub = df.iloc[np.flatnonzero(np.asarray(rules.match_frame(df)) < 0)]
        X = self.pipeline.transform(sub)
        if self.novelty is not None and len(sub):  # the served population (model.certify)
            served = ~self.novelty.is_novel(X)
            sub, X = sub.iloc[np.flatnonzero(served)], X[served]
        P = self._proba(X, self.batch_threads)
        index = {c: i for i, c in enumerate(self.classes)}
        truth = np.array([index.get(v, -1) for v in sub[label].astype(str)], dtype=np.int64)
        cert, grid = certify_time_ordered(
            P,
            truth,
            self.classes,
            target_precision=self.domain.policy.target_precision,
            confidence=self.domain.policy.confidence,
            mode=self.certificate.get("mode") or GLOBAL,
        )
        if "not_in_model" in self.certificate:
            cert["not_in_model"] = self.certificate["not_in_model"]
        cert["recertified_for_rules"] = rules.version
        cert["population"] = SERVED_POPULATION
        new = copy.copy(self)
        new.rules = rules
        new.certificate = cert
        new.candidate_grid = tuple(float(g) for g in grid)
        new._set_thresholds(cert)
        new.version = new.content_version()
        return new
