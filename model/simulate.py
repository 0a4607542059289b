"""Replay history to measure whether the loop runs itself: the autonomy curve.

A time-ordered dataset is cut into N periods. Period 1 trains the first policy (its labels are the
history a deployment starts from). Each later period the champion decides the period's records;
only the labels a deployment would really get are revealed — those of deferred records (a person
resolved them) and of a small random audit sample of automatic decisions — and then the retraining
job runs: the same functions of `model.retraining` that `autoresolve retrain --if-needed` calls
(need, training data and gate window, challenger, the gates of `model.retrain`). The replay gives
the job every label revealed so far, period 1's included, with the period that revealed it as its
labelling time (no history file), the periods decided since the champion was trained as its
recent traffic (drift and the coverage gate), and its in-memory champion; the rule set never
changes, so the job always refits. A challenger replaces the champion only if the gates pass.

Periods are **equal spans of time** between the first and last timestamp (so a 12-month dataset in
12 periods is 12 months, and the record count per period shows the traffic's own volume), unless
one span would hold fewer than max(100, n/4N) records (timestamps very uneven: a few stragglers
years before the bulk), in which case — and for a domain without a time field — the periods are
**equal record counts** in time order; the result says which was used. `split="time"` or
`split="count"` forces one.

The simulation knows every label, so realised precision is measured on ALL of a period's automatic
decisions; it also reports what an operator would see from the audit sample alone. Pure: no
MLflow, no store; champion, challengers and labels live in memory.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.binomial import precision_summary
from autoresolve.model.datasets import sort_by_time
from autoresolve.model.domain import Domain
from autoresolve.model.drift import summarize
from autoresolve.model.guard import GuardState, Verdict, apply, decide
from autoresolve.model.guard_policy import (
    GuardView,
    apply_verdict,
    certified_floor,
    guard_for,
    observe_audits,
)
from autoresolve.model.jsonable import jsonable
from autoresolve.model.plots import line_plot_png
from autoresolve.model.retrain import DEFAULT_TOLERANCE, WINDOW_FRACTION
from autoresolve.model.retraining import (
    LABELLED_AT,
    MIN_NEW_LABELS,
    PSI_BAR,
    Fit,
    JobInputs,
    JobSettings,
    RetrainResult,
    assess_need,
    challenge,
)

Progress = Callable[[str, int, int], None]
# How often per period the guard takes in the audit labels that have arrived: the period's
# records are decided in this many blocks, and the labels of one block's audited decisions are
# known before the next block is decided (with 12 monthly periods, about three days' delay).
GUARD_LOOKS = 10
# (domain, labelled frame, seed, rules) -> policy
Train = Callable[[Domain, pd.DataFrame, int, Any], Any]


@dataclass(frozen=True)
class RetrainPolicy:
    """When the replay retrains: `retrain --if-needed`'s settings (model.retraining.JobSettings),
    plus what-ifs a deployment does not have (retrain always or never, shuffled fits)."""

    mode: str = "if_needed"  # if_needed | always | never
    min_new_labels: int = MIN_NEW_LABELS
    drift_psi: float = PSI_BAR
    coverage_tolerance: float | None = None  # None: model.retrain's default
    window_fraction: float = WINDOW_FRACTION  # newest labels held out for the gates
    # What-if, not what `retrain` does: fit on a random (not time-ordered) split, so the newest
    # labels can reach the fit slice instead of only calibration/certification/test.
    shuffled_fit: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("if_needed", "always", "never"):
            raise ValueError(f"retrain mode {self.mode!r} is not one of if_needed, always, never.")
        self.job_settings()  # refuses bad fractions and bars here, where they were given

    def job_settings(self) -> JobSettings:
        tolerance = (
            DEFAULT_TOLERANCE if self.coverage_tolerance is None else self.coverage_tolerance
        )
        return JobSettings(
            min_new_labels=self.min_new_labels,
            psi_bar=self.drift_psi,
            tolerance=tolerance,
            window_fraction=self.window_fraction,
        )


@dataclass
class SimulationResult:
    """Per-period figures, the baselines of the same run, and the labels revealed each period."""

    domain: str
    target_precision: float
    confidence: float
    audit_rate: float
    seed: int
    split: str
    periods: list[dict[str, Any]] = field(default_factory=list)
    baselines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    new_kinds: dict[str, Any] = field(default_factory=dict)
    revealed: dict[int, np.ndarray] = field(default_factory=dict)  # period → record ids
    audited: dict[int, np.ndarray] = field(default_factory=dict)
    deferred_ids: dict[int, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0
    retrain_policy: dict[str, Any] = field(default_factory=dict)
    guard: dict[str, Any] = field(default_factory=dict)  # its settings; {} when off

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "domain": self.domain,
                "target_precision": self.target_precision,
                "confidence": self.confidence,
                "audit_rate": self.audit_rate,
                "seed": self.seed,
                "split": self.split,
                "retrain_policy": self.retrain_policy,
                "guard": self.guard,
                "periods": self.periods,
                "baselines": self.baselines,
                "new_kinds": self.new_kinds,
                "summary": self.summary(),
                "seconds": round(self.seconds, 2),
            }
        )

    def summary(self) -> dict[str, Any]:
        live = [p for p in self.periods if p.get("role") == "replay"]
        if not live:
            return {}
        held = precision_record(live, self.target_precision)
        out = {
            "first_autonomy": live[0]["autonomy"],
            "last_autonomy": live[-1]["autonomy"],
            "mean_autonomy": held.pop("mean_autonomy"),
            "promotions": sum(1 for p in live if p["promoted"]),
            "retrains": sum(1 for p in live if p["retrain"]["trained"]),
            **held,
            "rules_only_last_autonomy": self.baselines.get("rules_only", [{}])[-1].get("autonomy"),
            "first_model_last_autonomy": self.baselines.get("first_model", [{}])[-1].get(
                "autonomy"
            ),
            **(
                {
                    "learned_rules_last_autonomy": self.baselines["learned_rules"][-1]["autonomy"],
                    "learned_rules_in_force": self.baselines["learned_rules"][-1][
                        "learned_rules_in_force"
                    ],
                }
                if self.baselines.get("learned_rules")
                else {}
            ),
        }
        if self.guard:
            out["guard_actions"] = [
                {"period": p["period"], **a} for p in live for a in p["guard"]["actions"]
            ]
            out["guard_held"] = sum(p["guard"]["held"] for p in live)
        if self.baselines.get("no_guard"):
            rows = self.baselines["no_guard"]
            out["no_guard"] = {
                "first_autonomy": rows[0]["autonomy"],
                "last_autonomy": rows[-1]["autonomy"],
                **precision_record(rows, self.target_precision),
            }
        return out

    def plot_png(self) -> bytes:
        return autonomy_plot_png(self)


def precision_record(rows: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """How replayed periods kept the promise: the periods whose model-precision interval lies
    wholly below `target` (flagged), those whose point estimate does, and the share at or above
    it among the periods where the model resolved something; mean autonomy beside it."""
    active = [p for p in rows if (p.get("model_precision") or {}).get("n")]
    below = [p["period"] for p in active if (p["model_precision"]["high"] or 0) < target]
    point = [p["period"] for p in active if (p["model_precision"]["precision"] or 0) < target]
    autonomy = [p["autonomy"] for p in rows if p.get("autonomy") is not None]
    return {
        "mean_autonomy": float(np.mean(autonomy)) if autonomy else None,
        "periods_with_model_resolutions": len(active),
        "model_precision_interval_below_target": below,
        "model_precision_point_below_target": point,
        "model_precision_point_at_target_share": (
            1.0 - len(point) / len(active) if active else None
        ),
    }


# ---------------------------------------------------------------- periods


def assign_periods(
    df: pd.DataFrame, domain: Domain, periods: int, split: str = "auto"
) -> np.ndarray:
    """Period number (1..N) per row of `df`, which must already be in time order."""
    return _assign_periods(df, domain, periods, split)[0]


def _assign_periods(
    df: pd.DataFrame, domain: Domain, periods: int, split: str
) -> tuple[np.ndarray, str]:
    """(period per row, the split used). `auto`: equal time spans unless one would be starved.

    A dataset whose timestamps are very uneven (a few old stragglers before the bulk) would put
    almost nothing in the training period; `auto` then falls back to equal counts, and says so.
    """
    if periods < 2:
        raise ValueError(
            f"periods must be at least 2 (one to train, one to replay); got {periods}."
        )
    n = len(df)
    if n < periods:
        raise ValueError(f"{n} records cannot fill {periods} periods; use fewer periods.")
    if split not in ("auto", "time", "count"):
        raise ValueError(f"split {split!r} is not one of auto, time, count.")
    by_count = (np.arange(n) * periods // n + 1).astype(int)
    if split == "count" or not domain.time or domain.time not in df.columns:
        return by_count, "count"
    t = pd.to_datetime(df[domain.time], utc=True, errors="coerce", format="mixed")
    ns = t.astype("int64").to_numpy()
    if t.isna().any() or ns.max() <= ns.min():
        return by_count, "count (time missing or constant)"
    edges = np.linspace(ns.min(), ns.max(), periods + 1)
    by_time = (np.searchsorted(edges[1:-1], ns, side="right") + 1).astype(int)
    smallest = int(np.bincount(by_time, minlength=periods + 1)[1:].min())
    floor = max(100, n // (4 * periods))
    if split == "auto" and smallest < min(floor, n // periods):
        return by_count, f"count (a time span held only {smallest} records)"
    return by_time, "time"


def _period_span(df: pd.DataFrame, domain: Domain) -> tuple[str | None, str | None]:
    if not domain.time or domain.time not in df.columns or df.empty:
        return None, None
    t = pd.to_datetime(df[domain.time], utc=True, errors="coerce", format="mixed")
    return (str(t.min().date()), str(t.max().date()))


# ---------------------------------------------------------------- one period's figures


def _figures(
    dec: pd.DataFrame, truth: np.ndarray, audit: np.ndarray | None, confidence: float
) -> dict[str, Any]:
    outcome = dec["outcome"].to_numpy()
    source = dec["source"].to_numpy()
    resolution = dec["resolution"].astype(object).to_numpy()
    n = len(dec)
    resolved = outcome == "resolved"
    by_rule = resolved & (source == "rule")
    by_model = resolved & (source == "model")
    right = resolution == truth
    reasons = dec.loc[~resolved, "defer_reason"].fillna("unknown").value_counts()
    out: dict[str, Any] = {
        "records": n,
        "autonomy": float(resolved.mean()) if n else None,
        "rule_resolved": int(by_rule.sum()),
        "model_resolved": int(by_model.sum()),
        "deferred": int((~resolved).sum()),
        "deferred_per_1000": 1000.0 * float((~resolved).mean()) if n else None,
        "deferral_reasons": {str(k): int(v) for k, v in reasons.items()},
        "rule_precision": precision_summary(right[by_rule], confidence),
        "model_precision": precision_summary(right[by_model], confidence),
        "precision": precision_summary(right[resolved], confidence),
    }
    if audit is not None:
        out["audit"] = {
            "labels": int(audit.sum()),
            "rule_precision": precision_summary(right[by_rule & audit], confidence),
            "model_precision": precision_summary(right[by_model & audit], confidence),
        }
    return out


# ---------------------------------------------------------------- the hooks into other modules


def _default_train(domain: Domain, df: pd.DataFrame, seed: int, rules: Any) -> Any:
    from autoresolve.model.train import train_policy

    policy, _report = train_policy(domain, df, seed=seed, rules=rules)
    return policy


def _shuffled(train: Train) -> Train:
    """Training on rows in random order with the time field dropped (random splits)."""

    def run(domain: Domain, df: pd.DataFrame, seed: int, rules: Any) -> Any:
        timeless = dataclasses.replace(domain, time=None)
        rows = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        return train(timeless, rows, seed, rules)

    return run


def _as_fit(train: Train) -> Fit:
    """The retraining job's `Fit` from the replay's `train` (which returns the policy only)."""

    def fit(domain: Domain, df: pd.DataFrame, seed: int, rules: Any, _progress: Any) -> Any:
        return train(domain, df, seed, rules), None

    return fit


def _decide(policy: Any, df: pd.DataFrame) -> pd.DataFrame:
    return policy.decide_frame(df).reset_index(drop=True)


# ---------------------------------------------------------------- the replay


def simulate(
    domain: Domain,
    df: pd.DataFrame,
    periods: int = 12,
    *,
    audit_rate: float = 0.02,
    seed: int = 0,
    retrain_policy: RetrainPolicy | None = None,
    progress: Progress | None = None,
    kinds: pd.Series | Sequence[Any] | None = None,
    new_kinds: Sequence[str] | None = None,
    split: str = "auto",
    rules: Any = None,
    train: Train | None = None,
    confidence: float = 0.95,
    learned_rules: bool = False,
    guard: bool = True,
    guard_looks: int = GUARD_LOOKS,
) -> SimulationResult:
    """Replay labelled `df` in `periods` periods; see the module docstring for the protocol.

    `kinds` (aligned with `df`'s rows) names each record's kind of case; the per-period deferral
    rate is reported for each of `new_kinds` (e.g. the CRM demo's two late-arriving kinds), with
    how many of its labels had been revealed before each period. `train` replaces
    `train_policy` (tests use it to stay fast): (domain, labelled frame, seed, rules) → policy.
    `confidence` is that of the reported precision intervals (two-sided Clopper–Pearson).
    `learned_rules`: replay a second loop beside the first, the same in every way except that
    at each retraining it retires learned rules below their bar and mines new ones from the
    labels it revealed (model.learned_loop), the gates deciding; its figures are the baseline
    `learned_rules`.
    `guard`: run the precision guard on the audit labels (see `GUARD_LOOKS` for when they
    arrive); its figures are in each period's `guard`, and the baseline `no_guard` is the same
    replay without it (same records, same seed and audit draws).
    """
    t_start = time.perf_counter()
    if not 0.0 <= audit_rate <= 1.0:
        raise ValueError(f"audit_rate must be within [0, 1]; got {audit_rate}.")
    if guard_looks < 1:
        raise ValueError(f"guard_looks must be at least 1; got {guard_looks}.")
    if domain.label not in df.columns:
        raise ValueError(
            f"the replay needs the true '{domain.label}' of every record; the data has no "
            "such column."
        )
    rp = retrain_policy or RetrainPolicy()
    train = train or _default_train
    if rp.shuffled_fit:
        train = _shuffled(train)
    timeline = _Timeline.build(domain, df, periods, split, kinds)
    say = progress or (lambda _msg, _done, _total: None)
    looks = guard_looks if guard else 0
    kinds_shown = list(new_kinds or [])
    replay = _Replay(
        domain, timeline, rp, train, rules, seed, audit_rate, confidence, kinds_shown, say,
        guard_looks=looks,
    )  # fmt: skip
    shadow = None
    if learned_rules:
        shadow = _Replay(
            domain,
            timeline,
            rp,
            train,
            rules,
            seed,
            audit_rate,
            confidence,
            [],
            lambda msg, done, total: say(f"learned rules: {msg}", done, total),
            learn=True,
            guard_looks=looks,
        )
    replay.first_period()
    if shadow is not None:
        shadow.adopt_first(replay)
    for k in range(2, periods + 1):
        replay.period(k)
        if shadow is not None:
            shadow.period(k)
    result = replay.finish(time.perf_counter() - t_start)
    if shadow is not None:
        result.baselines["learned_rules"] = shadow.learned_rows
    return result


@dataclass(frozen=True)
class _Timeline:
    """The records in time order, cut into periods, with their truth kept apart."""

    frame: pd.DataFrame  # labelled, time-ordered
    features: pd.DataFrame  # the same rows without the label
    period_of: np.ndarray
    split: str
    ids: np.ndarray
    truth: np.ndarray
    kinds: np.ndarray | None
    periods: int

    @classmethod
    def build(
        cls,
        domain: Domain,
        df: pd.DataFrame,
        periods: int,
        split: str,
        kinds: pd.Series | Sequence[Any] | None,
    ) -> _Timeline:
        if kinds is not None:
            df = df.assign(_kind=np.asarray(kinds, dtype=object))
        frame = sort_by_time(domain, df).reset_index(drop=True)
        kind_arr = frame.pop("_kind").to_numpy() if kinds is not None else None
        period_of, used = _assign_periods(frame, domain, periods, split)
        return cls(
            frame=frame,
            features=frame.drop(columns=[domain.label]),
            period_of=period_of,
            split=used,
            ids=frame[domain.id].astype(str).to_numpy(),
            truth=frame[domain.label].astype(object).to_numpy(),
            kinds=kind_arr,
            periods=periods,
        )


class _Replay:
    """One replay's state: the champion, what has been revealed, and the figures so far."""

    def __init__(
        self,
        domain: Domain,
        timeline: _Timeline,
        rp: RetrainPolicy,
        train: Train,
        rules: Any,
        seed: int,
        audit_rate: float,
        confidence: float,
        new_kinds: list[str],
        progress: Progress,
        *,
        learn: bool = False,
        guard_looks: int = 0,
    ) -> None:
        self.domain, self.t, self.rp, self.train, self.rules = domain, timeline, rp, train, rules
        self.learn = learn  # the learned-rules loop (model.learned_loop); its rows in learned_rows
        self.extras = not learn  # the baselines and new-kind rates (the main loop only)
        self.learned_rows: list[dict[str, Any]] = []
        self.retired_ever: set[str] = set()
        self.seed, self.audit_rate, self.confidence = seed, audit_rate, confidence
        self.new_kinds, self.progress = new_kinds, progress
        self.settings = rp.job_settings()
        self.rng = np.random.default_rng(seed)
        self.revealed_in = np.zeros(len(timeline.frame), dtype=np.int64)  # 0: not (yet) revealed
        self.audited = np.zeros(len(timeline.frame), dtype=bool)
        self.result = SimulationResult(
            domain=domain.name,
            target_precision=domain.policy.target_precision,
            confidence=domain.policy.confidence,
            audit_rate=audit_rate,
            seed=seed,
            split=timeline.split,
            baselines={"rules_only": [], "first_model": []},
            new_kinds={str(kind): [] for kind in new_kinds},
            retrain_policy=dataclasses.asdict(rp),
        )
        # The precision guard (0 looks: off) and, for the main loop, its "no guard" twin: the
        # same replay without the guard, forked from the state before the first period in which
        # the guard changed anything (until then the two are the same by construction).
        self.guard_looks = guard_looks
        self.guard_state: GuardState | None = None
        self.no_guard: _Replay | None = None
        self.forks_no_guard = bool(guard_looks) and not learn
        if guard_looks:
            self.result.guard = {
                "looks_per_period": guard_looks,
                "alpha": round(1.0 - domain.policy.confidence, 10),
                "audit_rate": audit_rate,
            }
            if self.forks_no_guard:
                self.result.baselines["no_guard"] = []
        self.champion: Any = None
        self.first_model: Any = None
        self.champion_period = 1  # the period after which the champion was trained
        self.reference: Mapping[str, Any] | None = None

    def first_period(self) -> None:
        t, first = self.t, self.t.period_of == 1
        self.progress("training the first policy on period 1", 0, t.periods)
        self.revealed_in[first] = 1
        self.champion = self.first_model = self.train(
            self.domain, t.frame[first], self.seed, self.rules
        )
        self._new_guard()
        self.reference = summarize(self.domain.field_types, t.features[first])
        start, end = _period_span(t.frame[first], self.domain)
        n1 = int(first.sum())
        self.result.periods.append(
            {
                "period": 1,
                "role": "train",
                "start": start,
                "end": end,
                "records": n1,
                "autonomy": None,
                "labels_revealed": n1,
                "labels_total": n1,
                "policy_version": getattr(self.champion, "version", None),
                "promoted": False,
                "retrain": {"trained": True, "reasons": ["the first policy, trained on period 1"]},
            }
        )
        self.result.revealed[1] = t.ids[first]

    def adopt_first(self, other: _Replay) -> None:
        """Start from `other`'s first period (same records, same first policy): the two loops
        differ only from the first retraining on."""
        self.champion = self.first_model = other.champion
        self.reference, self.champion_period = other.reference, other.champion_period
        self._new_guard()
        self.revealed_in = other.revealed_in.copy()
        self.result.periods = [dict(p) for p in other.result.periods]
        self.result.revealed = dict(other.result.revealed)
        if self.learn:
            from autoresolve.model.learned_loop import starting_rules

            self.rules = starting_rules(self.domain, getattr(self.champion, "rules", self.rules))

    def period(self, k: int) -> None:
        """Decide period k with the champion (and the guard), reveal what a deployment learns,
        then retrain."""
        before = self._fork() if self.forks_no_guard and self.no_guard is None else None
        mask = self.t.period_of == k
        n = int(mask.sum())
        self.progress(f"period {k}/{self.t.periods}: deciding {n} records", k - 1, self.t.periods)
        start, end = _period_span(self.t.frame[mask], self.domain)
        row: dict[str, Any] = {"period": k, "role": "replay", "start": start, "end": end}
        if n == 0:
            empty = precision_summary(np.array([], dtype=bool), self.confidence)
            row.update(
                records=0,
                autonomy=None,
                model_precision=empty,
                rule_precision=empty,
                deferred=0,
                promoted=False,
                retrain={"trained": False, "reasons": []},
            )
            self.result.periods.append(row)
            self._no_guard_line(k, row, row, None)
            return
        part, truth = self.t.features[mask], self.t.truth[mask]
        dec = _decide(self.champion, part)  # the certified policy's decisions
        certified = dec["outcome"].to_numpy() == "resolved"
        audit = certified & (self.rng.random(n) < self.audit_rate)
        served, row["guard"] = self._guard_period(dec, truth, audit)
        resolved = served["outcome"].to_numpy() == "resolved"
        row.update(_figures(served, truth, audit, self.confidence))
        plain = row if served is dec else _figures(dec, truth, None, self.confidence)
        row["policy_version"] = str(dec["policy_version"].iloc[0])
        if self.extras:
            self._baselines(k, part, truth, dec, plain)
            self._new_kind_rates(k, mask, resolved, row)
        self._reveal(k, mask, resolved, audit, row)
        serving = getattr(self.champion, "rules", None)  # what decided this period
        row["retrain"], row["promoted"] = self._retrain(k)
        if row["guard"] is None:
            del row["guard"]
        self.result.periods.append(row)
        if self.learn:
            self.learned_rows.append(self._learned_row(k, served, truth, row, serving))
        acted = served is not dec or "guard" in row["retrain"]
        self._no_guard_line(k, row, plain, before if acted else None)

    # ---------------------------------------------------------------- the guard

    def _new_guard(self) -> None:
        """A fresh guard for the champion now served (no evidence carried over)."""
        if self.guard_looks:
            self.guard_state = guard_for(self.champion)

    def _guard_period(
        self, dec: pd.DataFrame, truth: np.ndarray, audit: np.ndarray
    ) -> tuple[pd.DataFrame, dict[str, Any] | None]:
        """The period decided in `guard_looks` blocks, each with the verdict in effect when it
        starts, applied as serving applies it (`apply_verdict`: a held decision keeps its
        source, `defer_reason` says `guard`); the audit labels of a block reach the guard before
        the next one. Returns the decisions as served (`dec` itself when the guard changed none)
        and the period's guard figures."""
        if self.guard_state is None:
            return dec, None
        state = self.guard_state
        right = dec["resolution"].astype(object).to_numpy() == truth
        edges = np.linspace(0, len(dec), self.guard_looks + 1).round().astype(int)
        first = decide(state)
        parts, actions, held = [], [], 0
        for block, (a, b) in enumerate(itertools.pairwise(edges)):
            state = _take(state, decide(state), actions, block)
            chunk = dec.iloc[a:b]
            part = apply_verdict(chunk, GuardView(state))
            held += int(part["guard_reason"].notna().sum())
            parts.append(part)
            sel = audit[a:b]
            state = observe_audits(state, chunk[sel], right[a:b][sel])
        last = decide(state)
        self.guard_state = state = _take(state, last, actions, self.guard_looks)
        served = dec if not held else pd.concat(parts).reset_index(drop=True)
        certified = certified_floor(self.champion) is not None
        info = {
            "certified_threshold": state.levels[0] if certified else None,
            "threshold_start": first.threshold if certified else None,
            "threshold_end": last.threshold if certified else None,
            "state": _guard_word(last) if certified else "no_model",
            "quarantined": sorted(last.quarantined),
            "held": held,
            "audit_labels": int(audit.sum()),
            "model_labels": state.model[0].n,
            "recertify": last.recertify,
            "actions": actions,
            "reason": last.reason,
        }
        return served, info

    def _guard_request(self) -> str | None:
        """The guard's request for recertification of the champion (None: it asks nothing)."""
        if self.guard_state is None:
            return None
        verdict = decide(self.guard_state)
        return verdict.reason if verdict.recertify else None

    def _fork(self) -> _Replay:
        """This replay's twin without the guard, from the state before the period about to be
        decided: same champion, labels, random draws; from here on its own loop."""
        twin = copy.copy(self)
        twin.rng = copy.deepcopy(self.rng)
        twin.revealed_in, twin.audited = self.revealed_in.copy(), self.audited.copy()
        r = self.result
        twin.result = dataclasses.replace(
            r,
            periods=list(r.periods),
            baselines={},
            new_kinds={},
            revealed=dict(r.revealed),
            audited=dict(r.audited),
            deferred_ids=dict(r.deferred_ids),
        )
        twin.guard_looks, twin.guard_state, twin.forks_no_guard = 0, None, False
        twin.extras = False
        twin.progress = lambda msg, done, total: self.progress(f"no guard: {msg}", done, total)
        return twin

    def _no_guard_line(self, k: int, row: dict, plain: dict, fork: _Replay | None) -> None:
        """Period k of the "no guard" baseline: the twin's own row once it has forked (`fork`:
        the guard changed something this period), else this period's unguarded figures, which
        are the twin's by construction."""
        if not self.forks_no_guard:
            return
        if self.no_guard is None and fork is not None:
            self.no_guard = fork
        if self.no_guard is not None:
            self.no_guard.period(k)
            src = self.no_guard.result.periods[-1]
        else:
            src = {**row, **plain}
        self.result.baselines["no_guard"].append(
            {
                "period": k,
                "records": src["records"],
                "autonomy": src["autonomy"],
                "deferred": src["deferred"],
                "model_resolved": src.get("model_resolved", 0),
                "model_precision": src["model_precision"],
                "rule_precision": src["rule_precision"],
                "promoted": src["promoted"],
                "forked": self.no_guard is not None,
            }
        )

    def _baselines(
        self, k: int, part: pd.DataFrame, truth: np.ndarray, dec: pd.DataFrame, row: dict
    ) -> None:
        """The rule layer alone and the first model never retrained, on the same records."""
        n = len(part)
        by_rule = (dec["outcome"].to_numpy() == "resolved") & (dec["source"].to_numpy() == "rule")
        rule_right = dec["resolution"].astype(object).to_numpy()[by_rule] == truth[by_rule]
        self.result.baselines["rules_only"].append(
            {
                "period": k,
                "records": n,
                "autonomy": float(by_rule.mean()),
                "deferred": int(n - by_rule.sum()),
                "rule_precision": precision_summary(rule_right, self.confidence),
            }
        )
        first = (
            row
            if self.champion is self.first_model
            else _figures(_decide(self.first_model, part), truth, None, self.confidence)
        )
        self.result.baselines["first_model"].append(
            {
                "period": k,
                "records": n,
                "autonomy": first["autonomy"],
                "deferred": first["deferred"],
                "model_precision": first["model_precision"],
                "precision": first["precision"],
            }
        )

    def _new_kind_rates(self, k: int, mask: np.ndarray, resolved: np.ndarray, row: dict) -> None:
        if self.t.kinds is None or not self.new_kinds:
            return
        here = self.t.kinds[mask]
        before = self.t.kinds[self.revealed_in > 0]
        row["new_kinds"] = {}
        for kind in self.new_kinds:
            sel = here == kind
            m = int(sel.sum())
            entry = {
                "period": k,
                "records": m,
                "deferred_rate": float((~resolved[sel]).mean()) if m else None,
                "labels_seen_before": int((before == kind).sum()),
            }
            self.result.new_kinds[str(kind)].append(entry)
            row["new_kinds"][str(kind)] = {"records": m, "deferred_rate": entry["deferred_rate"]}

    def _learned_row(
        self, k: int, dec: pd.DataFrame, truth: np.ndarray, row: dict, serving: Any
    ) -> dict:
        """The learned-rules loop's figures for period k (its baseline row); `serving` is the
        rule set that decided the period, `added`/`retired` what the retraining after it
        adopted."""
        from autoresolve.model.learned_loop import learned_ids

        ids = learned_ids(serving)
        by_learned = (dec["outcome"].to_numpy() == "resolved") & dec["rule_id"].isin(ids).to_numpy()
        right = dec["resolution"].astype(object).to_numpy() == truth
        learned = row["retrain"].get("learned") or {}
        adopted = bool(row["promoted"])  # a candidate rule set serves only if the gates pass
        return {
            "period": k,
            "records": row["records"],
            "autonomy": row["autonomy"],
            "deferred": row["deferred"],
            "rule_resolved": row["rule_resolved"],
            "learned_rule_resolved": int(by_learned.sum()),
            "model_resolved": row["model_resolved"],
            "rule_precision": row["rule_precision"],
            "learned_rule_precision": precision_summary(right[by_learned], self.confidence),
            "model_precision": row["model_precision"],
            "precision": row["precision"],
            "learned_rules_in_force": len(ids),
            "added": list(learned.get("added", [])) if adopted else [],
            "retired": list(learned.get("retired", [])) if adopted else [],
            "gated_out": (
                {"added": learned.get("added", []), "retired": learned.get("retired", [])}
                if learned and not adopted and (learned.get("added") or learned.get("retired"))
                else None
            ),
            "promoted": row["promoted"],
        }

    def _reveal(
        self, k: int, mask: np.ndarray, resolved: np.ndarray, audit: np.ndarray, row: dict
    ) -> None:
        """The labels a deployment gets: its deferrals (a person resolved them) and the audit."""
        revealed = (~resolved) | audit
        ids = self.t.ids[mask]
        self.revealed_in[np.flatnonzero(mask)[revealed]] = k
        self.audited[np.flatnonzero(mask)[audit]] = True
        self.result.revealed[k] = ids[revealed]
        self.result.audited[k] = ids[audit]
        self.result.deferred_ids[k] = ids[~resolved]
        row["labels_revealed"] = int(revealed.sum())
        row["labels_total"] = int((self.revealed_in > 0).sum())

    def _labels(self) -> pd.DataFrame:
        """Every revealed label, labelling time = the period that revealed it (the job's input)."""
        idx = np.flatnonzero(self.revealed_in > 0)
        return self.t.frame.iloc[idx].assign(**{LABELLED_AT: self.revealed_in[idx]})

    def _decided_since_champion(self, k: int) -> pd.DataFrame:
        """The records the current champion decided (periods after its training, up to k)."""
        period_of = self.t.period_of
        return self.t.features[(period_of > self.champion_period) & (period_of <= k)]

    def _retrain(self, k: int) -> tuple[dict[str, Any], bool]:
        """The retraining job (model.retraining), as `retrain --if-needed` runs it."""
        if self.rp.mode == "never":
            return {"trained": False, "needed": False, "reasons": ["retraining disabled"]}, False
        inputs = JobInputs(
            history=self.t.frame.iloc[0:0],
            labels=self._labels(),
            since=self.champion_period + 1,
            reference=self.reference,
            recent=self._decided_since_champion(k),
        )
        rules, learned = self.rules, None
        if self.learn and k < self.t.periods:
            rules, learned = self._learned_candidate(k)
        asked = self._guard_request()
        request = f"the precision guard asks for recertification: {asked}" if asked else None
        check = assess_need(
            champion=self.champion,
            rules=rules,
            inputs=inputs,
            settings=self.settings,
            guard_request=request,
        )
        needed, reasons = check.need.needed, list(check.need.reasons)
        if self.rp.mode == "always":
            needed, reasons = True, ["retrain every period (mode=always)", *reasons]
        info: dict[str, Any] = {"trained": False, "needed": needed, "reasons": reasons}
        info["new_labels"] = check.need.new_labels
        if asked:
            info["guard"] = asked
        if learned is not None:
            info["learned"] = learned
        if (top := check.largest_psi()) is not None:
            info["max_psi"], info["max_psi_field"] = round(top[1], 4), top[0]
        if not needed:
            return info, False
        if k == self.t.periods:
            info["skipped"] = "last period: a new champion would decide nothing in this replay"
            return info, False
        self.progress(f"period {k}/{self.t.periods}: training a challenger", k - 1, self.t.periods)
        run = challenge(
            domain=self.domain,
            champion=self.champion,
            rules=rules,
            inputs=inputs,
            need=check.need if self.rp.mode == "if_needed" else None,
            settings=self.settings,
            seed=self.seed + k,
            fit=_as_fit(self.train),
            retired=tuple((learned or {}).get("retired", ())),
        )
        info.update(_challenge_info(run), trained=True)
        if run.passed:
            self.champion, self.reference, self.champion_period = run.challenger, run.reference, k
            self._new_guard()
            if learned is not None:
                self.rules = rules
                self.retired_ever |= set(learned["retired"])
        elif learned is not None:
            learned["adopted"] = False
        return info, run.passed

    def _learned_candidate(self, k: int) -> tuple[Any, dict[str, Any]]:
        """The serving rules with learned rules retired and mined from the revealed labels."""
        from autoresolve.model.learned_loop import RESOLVED_WEIGHT, refresh_learned_rules

        seen = np.flatnonzero(self.revealed_in > 0)
        labelled = self.t.frame.iloc[seen].reset_index(drop=True)
        weights = np.where(self.audited[seen], RESOLVED_WEIGHT, 1.0)
        update = refresh_learned_rules(
            self.domain,
            self.rules,
            labelled,
            weights=weights,
            at=f"period {k}",
            retired_before=self.retired_ever,
        )
        info = {
            "added": list(update.added),
            "retired": list(update.retired),
            "candidate_rules_version": update.rules.version,
            "mined_on": update.mined,
        }
        if update.note:
            info["note"] = update.note
        changed = update.rules.version != getattr(self.rules, "version", None)
        return (update.rules if changed else self.rules), info

    def finish(self, seconds: float) -> SimulationResult:
        for kind, rows in list(self.result.new_kinds.items()):
            self.result.new_kinds[kind] = {"periods": rows, "settled": _settled(rows)}
        self.progress("done", self.t.periods, self.t.periods)
        self.result.seconds = seconds
        return self.result


def _take(state: GuardState, verdict: Verdict, actions: list[dict], block: int) -> GuardState:
    """`verdict` put in effect before `block` of the period (`looks`: at its end), its actions
    recorded."""
    for a in verdict.actions:
        actions.append({"block": block, "kind": a.kind, "subject": a.subject, "reason": a.reason})
    return apply(state, verdict) if verdict.actions else state


def _guard_word(verdict: Verdict) -> str:
    if verdict.model_suspended:
        return "suspended"
    return "raised" if verdict.level else "certified"


def _challenge_info(run: RetrainResult) -> dict[str, Any]:
    gate = run.gate
    return {
        "mode": run.mode,
        "labels_trained": run.training_records,
        "window": run.window_records,
        "challenger_version": getattr(run.challenger, "version", None),
        "gates_passed": bool(gate.passed),
        "gate_reasons": list(gate.reasons),
        "challenger_coverage": gate.challenger.coverage,
        "champion_coverage": gate.champion.coverage if gate.champion else None,
        "traffic_coverage": gate.traffic_coverage,
    }


def _settled(rows: list[dict[str, Any]], below: float = 0.5) -> dict[str, Any] | None:
    """First period from which the kind's deferral rate stays below `below`, and labels it took."""
    seen = [r for r in rows if r["records"]]
    for i, r in enumerate(seen):
        if all((s["deferred_rate"] or 0) < below for s in seen[i:]):
            return {
                "period": r["period"],
                "labels_before": r["labels_seen_before"],
                "deferral_below": below,
            }
    return None


# ---------------------------------------------------------------- plot


def autonomy_plot_png(result: SimulationResult) -> bytes:
    """Autonomy per period with the two baselines of the same run."""
    live = [p for p in result.periods if p.get("role") == "replay"]
    x = [p["period"] for p in live]
    series = {
        "autonomy (retrained)": [p["autonomy"] for p in live],
        "first model, never retrained": [b["autonomy"] for b in result.baselines["first_model"]],
        "rules only": [b["autonomy"] for b in result.baselines["rules_only"]],
    }
    if any(b.get("forked") for b in result.baselines.get("no_guard") or []):
        series["autonomy, no guard"] = [b["autonomy"] for b in result.baselines["no_guard"]]
    if result.baselines.get("learned_rules"):
        series["with learned rules (retrained)"] = [
            b["autonomy"] for b in result.baselines["learned_rules"]
        ]
    for kind, info in result.new_kinds.items():
        rows = info["periods"] if isinstance(info, Mapping) else info
        series[f"deferral rate: {kind}"] = [
            (r["deferred_rate"] if r["deferred_rate"] is not None else np.nan) for r in rows
        ]
    styles = {"first model, never retrained": "--", "rules only": ":"}
    styles |= {name: "-." for name in series if name.startswith("deferral rate")}
    return line_plot_png(
        x,
        series,
        title=f"Autonomy per period — {result.domain}",
        ylabel="share of records",
        ylim=(0.0, 1.05),
        styles=styles,
    )


def precision_plot_png(result: SimulationResult) -> bytes:
    live = [p for p in result.periods if p.get("role") == "replay"]
    x = [p["period"] for p in live]

    def col(key: str, part: str) -> list[float]:
        return [np.nan if p[key][part] is None else p[key][part] for p in live]

    series = {
        "model precision": col("model_precision", "precision"),
        "rule precision": col("rule_precision", "precision"),
    }
    no_guard = result.baselines.get("no_guard") or []
    if any(b.get("forked") for b in no_guard):  # the line differs from the guarded one
        series["model precision, no guard"] = [
            np.nan
            if b["model_precision"]["precision"] is None
            else b["model_precision"]["precision"]
            for b in no_guard
        ]
    return line_plot_png(
        x,
        series,
        bands={
            "model precision": (col("model_precision", "low"), col("model_precision", "high")),
            "rule precision": (col("rule_precision", "low"), col("rule_precision", "high")),
        },
        hline=(result.target_precision, "target"),
        title=f"Realised precision per period — {result.domain}",
        ylabel="precision",
        ylim=(max(0.0, min([0.8, *[v for v in col("model_precision", "low") if v == v]])), 1.0),
    )
