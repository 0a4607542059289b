"""The retraining job: whether to retrain, how, on which data, and whether the challenger wins.

One implementation for every caller, pure (no MLflow, no store, no files). `autoresolve retrain`
(service/cli_model.py) reads the history file, the decision store and the registry's champion,
calls these functions, then registers and promotes; `simulate` (model/simulate.py) calls the same
ones with the labels its replay revealed and its in-memory champion, so a replay measures the job
that runs in production. The gates themselves are `model.retrain`'s.

What the job is given, and what each caller passes:
- `history`: labelled records without a labelling time. The CLI: the domain's history file. The
  replay: none — every label it knows was revealed in a period, period 1's included.
- `labels`: labelled records with `labelled_at`, their labelling time (a label wins over the
  history row with the same id). The CLI: the decision store's labels. The replay: every label
  revealed so far, `labelled_at` = the period that revealed it.
- `since`: the labelling time from which a label is new to the champion. The CLI: when the
  champion was registered. The replay: the period after the one the champion was trained in.
- `recent`: the records decided since the champion took over, labels not needed. Drift is
  measured on them, and the coverage gate compares both policies on them (`model.retrain` says
  why not on the window). The CLI: the decisions logged since the champion was registered (none
  without a store: coverage is then compared on the window). The replay: the periods decided
  since the champion was trained.
- `reference`: the champion's training-data summary (`model.drift.summarize`), drift's baseline.

Need (`assess_need`): at least `min_new_labels` labels since the champion, PSI above `psi_bar` on
some field of `recent` (when it holds at least `drift_min_records` records), a rule set other
than the champion's, or the precision guard asking for recertification (`guard`: it saw audited
precision fall below the target; model/guard.py).

Mode (`choose_mode`, `challenge`): when a changed rule set is the only reason, the champion's
model is re-certified for the new rules without refit (`Policy.with_rules`) on the labelled
records it never fitted — history after the end of its training data, and labels given since
`since` — in time order: the older part certifies, the newest max(MIN_WINDOW, 25 %) is the gate
window. With fewer than 4·MIN_WINDOW such records, or for any other reason, the job refits.

Training data and gate window of a refit (`training_and_window`):
- with at least 2·MIN_WINDOW labels: the window is the newest labels by labelling time
  (`window_fraction` of them, within [MIN_WINDOW, MAX_WINDOW], see `split_recent_window`), held
  out of the challenger's training data, which is the history plus the older labels;
- with fewer labels: the newest `fallback_window_fraction` of history and labels together by the
  domain's time field (else the id), at least MIN_WINDOW, held out likewise. The champion may
  have trained on part of that window, which only flatters the champion, so the coverage gate
  errs towards keeping it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from autoresolve.model.domain import Domain
from autoresolve.model.drift import drift, summarize
from autoresolve.model.retrain import (
    DEFAULT_TOLERANCE,
    MIN_WINDOW,
    WINDOW_FRACTION,
    GateResult,
    RetrainNeed,
    evaluate_gates,
    retrain_needed,
    split_recent_window,
)
from autoresolve.model.rule_health import RuleHealth, recent_labelled, rule_health

LABELLED_AT = "labelled_at"
REFIT = "refit"
RECERTIFIED = "recertified"
FALLBACK_WINDOW_FRACTION = 0.2
MIN_NEW_LABELS = 200
PSI_BAR = 0.2
DRIFT_MIN_RECORDS = 200

StepProgress = Callable[[str, float], None]
# (domain, labelled training frame, seed, rules, progress) -> (policy, training report or None)
Fit = Callable[[Domain, pd.DataFrame, int, Any, StepProgress | None], tuple[Any, Any]]


@dataclass(frozen=True)
class JobSettings:
    """The job's knobs: `retrain`'s flags and the replay's `RetrainPolicy` fill them."""

    min_new_labels: int = MIN_NEW_LABELS
    psi_bar: float = PSI_BAR
    drift_min_records: int = DRIFT_MIN_RECORDS
    tolerance: float = DEFAULT_TOLERANCE
    window_fraction: float = WINDOW_FRACTION
    fallback_window_fraction: float = FALLBACK_WINDOW_FRACTION

    def __post_init__(self) -> None:
        for name in ("window_fraction", "fallback_window_fraction"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must be within (0, 1); got {value}.")
        if not 0.0 <= self.tolerance <= 1.0:
            raise ValueError(f"tolerance must be within [0, 1]; got {self.tolerance}.")
        if self.min_new_labels < 1 or self.drift_min_records < 1:
            raise ValueError(
                "min_new_labels and drift_min_records must be at least 1; got "
                f"{self.min_new_labels} and {self.drift_min_records}."
            )
        if self.psi_bar < 0:
            raise ValueError(f"psi_bar must be at least 0; got {self.psi_bar}.")


@dataclass(frozen=True)
class JobInputs:
    """What the job reads besides the champion and the rule set (see the module docstring)."""

    history: pd.DataFrame  # labelled records without a labelling time
    labels: pd.DataFrame  # labelled records with LABELLED_AT
    since: Any  # labels given at or after it are new to the champion
    reference: Mapping[str, Any] | None  # the champion's training-data summary
    recent: pd.DataFrame | None  # records decided since the champion: drift, coverage gate


@dataclass(frozen=True)
class NeedCheck:
    """The trigger's decision and every field's PSI on `recent` (empty: too few records)."""

    need: RetrainNeed
    psi: dict[str, float]

    def largest_psi(self) -> tuple[str, float] | None:
        if not self.psi:
            return None
        worst = max(self.psi, key=lambda f: self.psi[f])
        return worst, float(self.psi[worst])


@dataclass(frozen=True)
class TrainingSplit:
    """A refit's training data and the gate window held out of it, with how it was chosen."""

    training: pd.DataFrame
    window: pd.DataFrame
    how: str


@dataclass(frozen=True)
class RetrainResult:
    """What one run of the job produced; the caller registers, promotes or keeps the champion."""

    mode: str  # REFIT | RECERTIFIED
    challenger: Any
    report: Any  # the training report of a refit (None when re-certified or not given)
    gate: GateResult
    window: str  # how the gate window was chosen
    window_records: int
    training_records: int | None  # None when re-certified (no training)
    labels: int  # labelled records with a labelling time the job was given
    reference: Mapping[str, Any] | None  # the challenger's training-data summary
    notes: tuple[str, ...] = ()
    rule_health: Mapping[str, Any] | None = None  # the challenger's rules on recent labels

    @property
    def passed(self) -> bool:
        return bool(self.gate.passed)

    def summary(self) -> dict[str, Any]:
        """The fields `retrain --json` reports about the run."""
        out: dict[str, Any] = {
            "mode": self.mode,
            "window": self.window,
            "window_records": self.window_records,
        }
        if self.training_records is not None:
            out["training_records"] = self.training_records
        out["labels_in_store"] = self.labels
        if self.rule_health is not None:
            out["rule_health"] = dict(self.rule_health)
        return out


def fit_policy(
    domain: Domain, df: pd.DataFrame, seed: int, rules: Any, progress: StepProgress | None = None
) -> tuple[Any, Any]:
    """The default `Fit`: `train_policy` (imported when called, so tests can stand in for it)."""
    from autoresolve.model import train

    return train.train_policy(domain, df, seed=seed, rules=rules, progress=progress)


# ---------------------------------------------------------------- need


def count_new_labels(labels: pd.DataFrame, since: Any) -> int:
    """Labels given at or after `since` (every label when `since` is None)."""
    if since is None or labels.empty:
        return len(labels)
    return int((labels[LABELLED_AT] >= since).sum())


def _rules_version(rules: Any) -> str | None:
    return getattr(rules, "version", None) if rules is not None else None


def assess_need(
    *,
    champion: Any,
    rules: Any,
    inputs: JobInputs,
    settings: JobSettings,
    guard: str | None = None,
) -> NeedCheck:
    """`retrain --if-needed`'s decision; `rules` None means the champion's rule set, unchanged.

    `guard`: the precision guard's request for recertification (its verdict's reason, e.g. "the
    threshold raised by the guard …"), None when it asks nothing. The guard acts on evidence
    that the champion's certificate no longer holds, so it is a reason on its own, whatever the
    label count and drift say; the job then refits (a re-certification without refit is only
    for a changed rule set)."""
    psi: dict[str, float] = {}
    if inputs.reference is not None and inputs.recent is not None:
        psi = drift(inputs.reference, inputs.recent, min_records=settings.drift_min_records)
    champion_rules = _rules_version(getattr(champion, "rules", None))
    need = retrain_needed(
        new_labels=count_new_labels(inputs.labels, inputs.since),
        min_new_labels=settings.min_new_labels,
        drift_scores=psi,
        psi_bar=settings.psi_bar,
        champion_rules_version=champion_rules,
        rules_version=_rules_version(rules) if rules is not None else champion_rules,
    )
    if guard:
        asked = f"the precision guard asks for recertification: {guard}"
        kept = need.reasons if need.needed else ()
        need = replace(need, needed=True, reasons=(*kept, asked))
    return NeedCheck(need=need, psi=psi)


def choose_mode(need: RetrainNeed | None) -> str:
    """Re-certify without refit when a changed rule set is the only reason; otherwise refit."""
    if need is not None and need.rules_changed and len(need.reasons) == 1:
        return RECERTIFIED
    return REFIT


# ---------------------------------------------------------------- data


def _columns(history: pd.DataFrame, labels: pd.DataFrame) -> list[str]:
    cols = [c for c in history.columns if c != LABELLED_AT]
    return cols + [c for c in labels.columns if c != LABELLED_AT and c not in cols]


def _stack(parts: list[pd.DataFrame], cols: list[str]) -> pd.DataFrame:
    """Rows of `parts` in order under `cols`; empty parts never decide a column's type."""
    full = [p.reindex(columns=cols) for p in parts if len(p)]
    if not full:
        return pd.DataFrame(columns=cols)
    return pd.concat(full, ignore_index=True) if len(full) > 1 else full[0].reset_index(drop=True)


def _not_in(frame: pd.DataFrame, domain: Domain, labels: pd.DataFrame) -> pd.DataFrame:
    """Rows of `frame` whose id has no label in `labels` (a label wins over a history row)."""
    if labels.empty or frame.empty:
        return frame
    labelled = set(labels[domain.id].astype(str))
    return frame[~frame[domain.id].astype(str).isin(labelled)]


def training_and_window(
    domain: Domain, history: pd.DataFrame, labels: pd.DataFrame, settings: JobSettings
) -> TrainingSplit:
    """A refit's training data and gate window (see the module docstring)."""
    cols = _columns(history, labels)
    base = _not_in(history, domain, labels)
    if len(labels) >= 2 * MIN_WINDOW:
        older, window = split_recent_window(
            labels, order_by=LABELLED_AT, fraction=settings.window_fraction, min_records=MIN_WINDOW
        )
        training = _stack([base, older], cols)
        how = "newest labelled records (by time of labelling)"
    else:
        combined = _stack([base, labels], cols)
        order = domain.time if domain.time and domain.time in combined.columns else domain.id
        fraction = settings.fallback_window_fraction
        training, window = split_recent_window(
            combined, order_by=order, fraction=fraction, min_records=MIN_WINDOW
        )
        how = f"newest {fraction:.0%} of all records by '{order}'"
    return TrainingSplit(
        training=training.reset_index(drop=True),
        window=window.reindex(columns=cols).reset_index(drop=True),
        how=how,
    )


def unseen_by(
    champion: Any, domain: Domain, history: pd.DataFrame, labels: pd.DataFrame, since: Any
) -> pd.DataFrame:
    """Labelled records the champion's model never fitted, in time order: history after the end
    of its training data (unless labelled since), then the labels given since `since`.

    Labels given before `since` may be in the champion's training data (a refit trains on the
    older labels), so they never certify it."""
    cols = _columns(history, labels)
    end = (getattr(champion, "fingerprint", None) or {}).get("time_end")
    fresh = history.iloc[0:0]
    if end and domain.time and domain.time in history.columns:
        when = pd.to_datetime(history[domain.time], utc=True, errors="coerce")
        fresh = history[when > pd.Timestamp(end)]
    new = labels if since is None else labels[labels[LABELLED_AT] >= since]
    ordered = new.sort_values(LABELLED_AT, kind="stable")
    return _stack([_not_in(fresh, domain, labels), ordered], cols)


def recertify(champion: Any, rules: Any, unseen: pd.DataFrame) -> tuple[Any, pd.DataFrame] | None:
    """(challenger, window) re-certified for `rules` without refit, or None when there are too
    few unseen labelled records: the older part certifies, the newest part is the gate window."""
    if not hasattr(champion, "with_rules") or len(unseen) < 4 * MIN_WINDOW:
        return None
    cut = len(unseen) - max(MIN_WINDOW, len(unseen) // 4)
    calibration, window = unseen.iloc[:cut], unseen.iloc[cut:].reset_index(drop=True)
    return champion.with_rules(rules, calibration), window


def labelled_records(domain: Domain, inputs: JobInputs) -> pd.DataFrame:
    """Every labelled record the job knows: the history (a label wins over its row), then the
    labels, without their labelling time."""
    cols = _columns(inputs.history, inputs.labels)
    return _stack([_not_in(inputs.history, domain, inputs.labels), inputs.labels], cols)


def check_rules(domain: Domain, rules: Any, inputs: JobInputs) -> RuleHealth:
    """Rule health of `rules` on the newest labelled records (model.rule_health): what
    `retrain` reports, and the learned rules it retires."""
    return rule_health(rules, recent_labelled(domain, labelled_records(domain, inputs)), domain)


# ---------------------------------------------------------------- the challenger


@dataclass(frozen=True)
class _Candidate:
    mode: str
    challenger: Any
    report: Any
    window: pd.DataFrame
    how: str
    training_records: int | None
    reference: Mapping[str, Any] | None


def _refit(
    domain: Domain,
    rules: Any,
    inputs: JobInputs,
    settings: JobSettings,
    seed: int,
    fit: Fit,
    progress: StepProgress,
) -> _Candidate:
    split = training_and_window(domain, inputs.history, inputs.labels, settings)
    challenger, report = fit(domain, split.training, seed, rules, progress)
    return _Candidate(
        mode=REFIT,
        challenger=challenger,
        report=report,
        window=split.window,
        how=split.how,
        training_records=len(split.training),
        reference=summarize(domain.field_types, split.training),
    )


def _recertified(
    domain: Domain, champion: Any, rules: Any, inputs: JobInputs, progress: StepProgress
) -> _Candidate | None:
    unseen = unseen_by(champion, domain, inputs.history, inputs.labels, inputs.since)
    done = recertify(champion, rules, unseen)
    if done is None:
        return None
    progress("re-certifying for the new rules (no refit)", 0.9)
    challenger, window = done
    return _Candidate(
        mode=RECERTIFIED,
        challenger=challenger,
        report=None,
        window=window,
        how="newest labelled records the champion never trained on",
        training_records=None,
        reference=inputs.reference,
    )


def challenge(
    *,
    domain: Domain,
    champion: Any,
    rules: Any,
    inputs: JobInputs,
    need: RetrainNeed | None,
    settings: JobSettings,
    seed: int,
    fit: Fit = fit_policy,
    progress: StepProgress | None = None,
    retired: tuple[str, ...] = (),
) -> RetrainResult:
    """Build the challenger (re-certified or refit, by `choose_mode(need)`) and run the gates
    against `champion` on its window; coverage on `inputs.recent` when given.

    `need` None (retrain unconditionally) refits. `rules` None trains with the domain's rules
    and never re-certifies. `retired`: learned rules the champion has that were retired for
    being below their bar; the coverage they gave the champion does not count at the gates.
    """
    step = progress or (lambda _msg, _frac: None)
    notes: list[str] = []
    candidate = None
    if choose_mode(need) == RECERTIFIED:
        candidate = _recertified(domain, champion, rules, inputs, step)
        if candidate is None:
            notes.append(
                "too few labelled records unseen by the champion to re-certify without refit; "
                "refitting."
            )
    if candidate is None:
        candidate = _refit(domain, rules, inputs, settings, seed, fit, step)
    step("rule health", 0.93)
    served = rules if rules is not None else getattr(candidate.challenger, "rules", None)
    health = check_rules(domain, served, inputs).to_dict() if served is not None else None
    step("gates", 0.95)
    gate = evaluate_gates(
        candidate.challenger,
        champion,
        candidate.window,
        tolerance=settings.tolerance,
        traffic=inputs.recent,
        unsound_rules=retired,
    )
    return RetrainResult(
        mode=candidate.mode,
        challenger=candidate.challenger,
        report=candidate.report,
        gate=gate,
        window=candidate.how,
        window_records=len(candidate.window),
        training_records=candidate.training_records,
        labels=len(inputs.labels),
        reference=candidate.reference,
        notes=tuple(notes),
        rule_health=health,
    )
