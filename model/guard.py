"""The precision guard: anytime-valid evidence, from audited decisions, that precision fell.

A certificate is a promise about the next period made on the past; exception traffic drifts. The
guard watches a random sample of automatic decisions (audits) after deployment and acts without a
person when the evidence says precision is below the target.

**The test.** For one stream of audited outcomes X₁, X₂, … (1 = the automatic answer was right)
and target m, the drop test bets against "precision ≥ m":

    K_t = Π_{i ≤ t} (1 + λ_i (m − X_i)),    0 ≤ λ_i < 1 / (1 − m),

with each bet λ_i fixed before X_i is seen. Whenever the conditional chance of a right answer is
≥ m at every step, each factor has mean ≤ 1, so K is a nonnegative supermartingale and, by Ville's
inequality, P(K ever reaches 1/α) ≤ α — however often it is looked at, after every label if need
be (Waudby-Smith & Ramdas 2023, testing by betting). The null is composite and time-varying on
purpose: "precision never dipped below the target", which is exactly the promise.

**The bets.** λ_i is the Kelly bet for a Bernoulli mean, (m − p̂)/(m (1 − m)), scaled by
`Settings.kelly` and capped, where p̂ is an exponentially weighted estimate of recent precision
(effective memory `Settings.memory` labels) shrunk towards m by `Settings.prior` pseudo-labels.
While recent precision looks at or above the target the bet is zero and the wealth does not
shrink, so a drop after a long good stretch is found about as fast as a drop at the start (a
constant bet would first have to win back what it lost in the good stretch). How the bets are
sized changes power only, never validity.

**Recovery**, also by evidence: once alarmed, a second process bets against "precision ≤ m",
Π (1 + λ_i (X_i − m)), and clears the alarm when it reaches 1/α. A false all-clear (precision
still at or below target) has probability ≤ α. A cleared stream starts a fresh drop test.

**Order.** The state is defined on an ordered log: audited outcomes are folded in the order the
store receives their labels (`fold` rebuilds a state from that log, so a state can be checked or
rebuilt after a restart). The bets depend on the order, so every worker must apply updates in
one order (the store serialises them) rather than merging counts. Validity needs one thing of
that order: a label arriving next is no likelier to be wrong than the audited decisions still
waiting, which holds when audits are labelled as a queue in decision order, not when errors are
reported faster than successes.

**Levels.** The model is watched at its certified threshold λ₀ and at a few stricter candidate
thresholds λ₁ < λ₂ < … (from the certificate's candidate grid): an audited model decision with
confidence c feeds every level with λ_ℓ ≤ c. The threshold in effect is the lowest level not in
alarm; when every level is in alarm, model resolutions are suspended. Levels are a fixed
sequence, so the chance that the threshold rises past a level whose precision is truly ≥ target
is ≤ α, while each level is tested at α. Recovery of a lower level (labels of records it would
resolve keep arriving if the audit samples every record the *certified* policy would resolve,
served or deferred by the guard) brings its threshold back. Nothing moves on a timer.

**Rules** each get one stream against their own bar; an alarmed rule is quarantined (its records
defer) until its recovery test clears it.

Pure: no IO, no clock. The service stores `GuardState.to_dict()`; `decide` says what to serve.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Settings:
    """How bets are sized (power, not validity; chosen on simulated streams, tests/model)."""

    kelly: float = 1.0  # fraction of the Kelly bet for the (shrunk) current estimate
    memory: float = 100.0  # effective number of recent labels behind the estimate
    prior: float = 20.0  # pseudo-labels at the target: no bet on the first few labels
    max_bet: float = 0.5  # at most this share of the wealth is at risk on one label


DEFAULT_SETTINGS = Settings()


@dataclass(frozen=True)
class Stream:
    """One watched stream: counts, the estimate behind the bets, the two log e-values."""

    n: int = 0
    wrong: int = 0
    ew_n: float = 0.0
    ew_right: float = 0.0
    log_e_drop: float = 0.0
    log_e_recover: float = 0.0
    alarmed: bool = False
    alarms: int = 0
    recoveries: int = 0

    @property
    def precision(self) -> float | None:
        return (self.n - self.wrong) / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stream:
        """From `to_dict` output (JSON numbers and booleans), each value in its field's type."""
        cast = {"int": int, "float": float, "bool": bool}
        return cls(**{f.name: cast[str(f.type)](d[f.name]) for f in fields(cls)})


def step_arrays(
    state: dict[str, np.ndarray],
    correct: np.ndarray,
    target: float,
    alpha: float,
    settings: Settings = DEFAULT_SETTINGS,
) -> dict[str, np.ndarray]:
    """One audited outcome for each of many streams at once (the one implementation: `observe`
    calls it for a single stream, the simulations for thousands)."""
    m = target
    x = np.asarray(correct, dtype=np.float64)
    alarmed = np.asarray(state["alarmed"], dtype=bool)
    p_hat = (settings.prior * m + state["ew_right"]) / (settings.prior + state["ew_n"])
    kelly = settings.kelly * (m - p_hat) / (m * (1.0 - m))
    bet_drop = np.clip(kelly, 0.0, settings.max_bet / (1.0 - m))
    bet_up = np.clip(-kelly, 0.0, settings.max_bet / m)
    log_drop = np.where(
        alarmed, state["log_e_drop"], state["log_e_drop"] + np.log1p(bet_drop * (m - x))
    )
    log_up = np.where(
        alarmed, state["log_e_recover"] + np.log1p(bet_up * (x - m)), state["log_e_recover"]
    )
    bar = math.log(1.0 / alpha)
    raised = ~alarmed & (log_drop >= bar)
    cleared = alarmed & (log_up >= bar)
    keep = 1.0 - 1.0 / settings.memory
    return {
        "n": state["n"] + 1,
        "wrong": state["wrong"] + (1 - x).astype(np.int64),
        "ew_n": keep * state["ew_n"] + 1.0,
        "ew_right": keep * state["ew_right"] + x,
        "log_e_drop": np.where(cleared, 0.0, log_drop),
        "log_e_recover": np.where(raised, 0.0, log_up),
        "alarmed": (alarmed | raised) & ~cleared,
        "alarms": state["alarms"] + raised,
        "recoveries": state["recoveries"] + cleared,
    }


def observe(
    stream: Stream,
    correct: bool,
    target: float,
    alpha: float,
    settings: Settings = DEFAULT_SETTINGS,
) -> Stream:
    """The stream after one audited outcome."""
    arrays = {k: np.asarray([v]) for k, v in stream.to_dict().items()}
    out = step_arrays(arrays, np.asarray([bool(correct)]), target, alpha, settings)
    return Stream.from_dict({k: v[0].item() for k, v in out.items()})


def fold(
    outcomes: list[bool] | np.ndarray,
    target: float,
    alpha: float,
    settings: Settings = DEFAULT_SETTINGS,
    stream: Stream | None = None,
) -> Stream:
    """A stream rebuilt from its ordered log of outcomes (or continued from `stream`)."""
    s = stream or Stream()
    for x in outcomes:
        s = observe(s, bool(x), target, alpha, settings)
    return s


def run_streams(
    outcomes: np.ndarray,
    target: float,
    alpha: float,
    settings: Settings = DEFAULT_SETTINGS,
) -> dict[str, np.ndarray]:
    """Many streams (rows of `outcomes`, S × T booleans) watched after every label.

    Returns per stream the label index (1-based) of the first alarm and of the first recovery
    after it (0 = never), and the final alarm state.
    """
    outcomes = np.asarray(outcomes, dtype=bool)
    s_count = outcomes.shape[0]
    state = {k: np.full(s_count, v) for k, v in Stream().to_dict().items()}
    first_alarm = np.zeros(s_count, dtype=np.int64)
    first_recovery = np.zeros(s_count, dtype=np.int64)
    for t in range(outcomes.shape[1]):
        state = step_arrays(state, outcomes[:, t], target, alpha, settings)
        new_alarm = (first_alarm == 0) & (state["alarms"] > 0)
        first_alarm[new_alarm] = t + 1
        new_rec = (first_recovery == 0) & (state["recoveries"] > 0)
        first_recovery[new_rec] = t + 1
    return {
        "first_alarm": first_alarm,
        "first_recovery": first_recovery,
        "alarmed": state["alarmed"],
    }


# ---------------------------------------------------------------- one policy version


def guard_levels(certified: float, grid: tuple[float, ...], *, steps: int = 3, stride: int = 4):
    """The certified λ, then up to `steps` stricter candidates, `stride` grid points apart (the
    grid is quantiles of calibration scores, so a stride of 4 of 40 is ~10% of coverage)."""
    stricter = sorted(g for g in grid if g > certified)
    return (float(certified), *(float(g) for g in stricter[stride - 1 :: stride][:steps]))


@dataclass(frozen=True)
class Action:
    kind: str  # raise_threshold | suspend_model | recover | quarantine_rule | release_rule
    subject: str  # "model" or "rule:<id>"
    reason: str


@dataclass(frozen=True)
class Verdict:
    """What to serve: the threshold in effect (None: model suspended), quarantined rules, whether
    to ask for recertification, and what changed since the last applied verdict."""

    actions: tuple[Action, ...]
    threshold: float | None
    model_suspended: bool
    level: int
    quarantined: frozenset[str]
    recertify: bool
    reason: str

    @property
    def action(self) -> str:
        return self.actions[0].kind if self.actions else "none"


@dataclass(frozen=True)
class GuardState:
    """The guard of one policy version: a stream per model level and per rule, plus what is
    currently applied (so `decide` can say what changed). JSON-serialisable via `to_dict`."""

    policy_version: str
    target: float
    confidence: float
    levels: tuple[float, ...]
    model: tuple[Stream, ...]
    rule_targets: dict[str, float] = field(default_factory=dict)
    rules: dict[str, Stream] = field(default_factory=dict)
    applied_level: int = 0
    quarantined: frozenset[str] = frozenset()

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy_version": self.policy_version,
            "target": self.target,
            "confidence": self.confidence,
            "levels": list(self.levels),
            "model": [s.to_dict() for s in self.model],
            "rule_targets": dict(self.rule_targets),
            "rules": {k: s.to_dict() for k, s in self.rules.items()},
            "applied_level": self.applied_level,
            "quarantined": sorted(self.quarantined),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GuardState:
        return cls(
            policy_version=str(d["policy_version"]),
            target=float(d["target"]),
            confidence=float(d["confidence"]),
            levels=tuple(float(v) for v in d["levels"]),
            model=tuple(Stream.from_dict(s) for s in d["model"]),
            rule_targets={k: float(v) for k, v in d["rule_targets"].items()},
            rules={k: Stream.from_dict(s) for k, s in d["rules"].items()},
            applied_level=int(d["applied_level"]),
            quarantined=frozenset(d["quarantined"]),
        )


def new_guard(
    policy_version: str,
    *,
    target: float,
    confidence: float,
    levels: tuple[float, ...],
    rule_targets: dict[str, float] | None = None,
) -> GuardState:
    """A fresh guard for a newly served policy version (no evidence yet, nothing applied)."""
    if not levels:
        raise ValueError("the guard needs at least the certified threshold as its first level.")
    if list(levels) != sorted(levels):
        raise ValueError(f"guard levels must rise from the certified λ; got {list(levels)}.")
    if not 0.0 < target < 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError(f"target and confidence must lie in (0, 1); got {target}, {confidence}.")
    targets = dict(rule_targets or {})
    return GuardState(
        policy_version=policy_version,
        target=target,
        confidence=confidence,
        levels=tuple(float(v) for v in levels),
        model=tuple(Stream() for _ in levels),
        rule_targets=targets,
        rules={r: Stream() for r in targets},
    )


def observe_model(
    state: GuardState, confidence: float, correct: bool, settings: Settings = DEFAULT_SETTINGS
) -> GuardState:
    """An audited record the certified policy would resolve (served, or deferred by the guard):
    it feeds every level whose threshold its confidence reaches."""
    model = tuple(
        observe(s, correct, state.target, state.alpha, settings) if confidence >= lam else s
        for s, lam in zip(state.model, state.levels, strict=True)
    )
    return replace(state, model=model)


def observe_rule(
    state: GuardState, rule_id: str, correct: bool, settings: Settings = DEFAULT_SETTINGS
) -> GuardState:
    """An audited record that rule `rule_id` resolves (or would, while quarantined)."""
    if rule_id not in state.rule_targets:
        raise KeyError(
            f"rule '{rule_id}' is not watched by the guard of policy {state.policy_version}; "
            f"watched: {sorted(state.rule_targets)}."
        )
    stream = observe(
        state.rules[rule_id], correct, state.rule_targets[rule_id], state.alpha, settings
    )
    return replace(state, rules={**state.rules, rule_id: stream})


def _evidence(stream: Stream, target: float) -> str:
    prec = stream.precision
    shown = "—" if prec is None else f"{prec:.3f}"
    return f"{stream.n - stream.wrong}/{stream.n} right ({shown}) against {target:g}"


def decide(state: GuardState) -> Verdict:
    """What to serve now, given the evidence, and what changed since `state.applied_level` and
    `state.quarantined`. α = 1 − the policy's confidence."""
    alarmed = [s.alarmed for s in state.model]
    level = next((i for i, a in enumerate(alarmed) if not a), len(state.levels))
    suspended = level == len(state.levels)
    threshold = None if suspended else state.levels[level]
    bar = f"e-value ≥ {1 / state.alpha:g} (anytime, α = {state.alpha:g})"
    actions: list[Action] = []
    if level > state.applied_level:
        below = state.model[level - 1]
        why = (
            f"precision at λ={state.levels[level - 1]:.4f} is below {state.target:g}: "
            f"{_evidence(below, state.target)}, {bar}"
        )
        if suspended:
            actions.append(
                Action(
                    "suspend_model",
                    "model",
                    why + "; no stricter level is clear, so the model resolves nothing.",
                )
            )
        else:
            actions.append(
                Action("raise_threshold", "model", why + f"; threshold raised to {threshold:.4f}.")
            )
    elif level < state.applied_level:
        clear = state.model[level]
        actions.append(
            Action(
                "recover",
                "model",
                f"precision at λ={state.levels[level]:.4f} is back above {state.target:g}: "
                f"{_evidence(clear, state.target)} since the alarm, {bar}; threshold "
                f"{state.levels[level]:.4f} in effect again.",
            )
        )
    quarantined = frozenset(r for r, s in state.rules.items() if s.alarmed)
    for r in sorted(quarantined - state.quarantined):
        s, t = state.rules[r], state.rule_targets[r]
        actions.append(
            Action(
                "quarantine_rule",
                f"rule:{r}",
                f"rule '{r}' is below its bar {t:g}: {_evidence(s, t)}, {bar}; its records "
                "defer until the evidence clears it.",
            )
        )
    for r in sorted(state.quarantined - quarantined):
        s, t = state.rules[r], state.rule_targets[r]
        actions.append(
            Action(
                "release_rule",
                f"rule:{r}",
                f"rule '{r}' is back above its bar {t:g}: {_evidence(s, t)}, {bar}.",
            )
        )
    if suspended:
        summary = "model resolutions suspended by the guard"
    elif level:
        summary = (
            f"threshold raised by the guard to {threshold:.4f} (certified {state.levels[0]:.4f})"
        )
    else:
        summary = f"certified threshold {state.levels[0]:.4f} in effect; no evidence of a drop"
    if quarantined:
        summary += f"; quarantined rules: {', '.join(sorted(quarantined))}"
    return Verdict(
        actions=tuple(actions),
        threshold=threshold,
        model_suspended=suspended,
        level=level,
        quarantined=quarantined,
        recertify=level > 0,
        reason=summary + ".",
    )


def apply(state: GuardState, verdict: Verdict) -> GuardState:
    """The state once `verdict` is in effect (so the next `decide` reports only new changes)."""
    return replace(state, applied_level=verdict.level, quarantined=verdict.quarantined)
