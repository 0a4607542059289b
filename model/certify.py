"""Certify the confidence threshold with Learn-then-Test, on MAPIE's p-values and FWER control.

The multiclass decision is reduced to a binary one: a record is *accepted* (resolved by the model)
when its top calibrated probability ≥ λ, and the acceptance is *correct* when the top class is the
true label. For each candidate λ, MAPIE's binary Hoeffding–Bentkus p-value tests "precision among
accepted records < target"; a fixed-sequence walk over the candidates (MAPIE's `control_fwer`,
split fixed sequence) keeps the family-wise error ≤ 1 − confidence, so the loosest λ that passed
holds precision ≥ target with probability ≥ confidence.

Fixed-sequence testing pays no Bonferroni penalty for a long grid but stops at the first λ that
fails, so the order matters, and it is valid only if the order is fixed before the certification
labels are seen. The order is learned on a *different* labelled sample (the calibration slice),
and the candidate λ come from that sample too. It is chosen for power on the certification slice:
for each λ the calibration sample gives its acceptance rate and a pessimistic error rate
((errors + 1) / (accepted + 1), so a λ that accepted a handful of records without error does not
look perfect); scaled to the certification slice's size, these give the Hoeffding–Bentkus p-value
the test would probably see. The sequence starts at the λ with the smallest projected p-value and
then loosens one candidate at a time (more coverage, harder to pass) until one fails. MAPIE's own
learned order (`fwer="split_fixed_sequence"`) often started at a strict λ that accepted ~100
certification records, where one extra error fails the whole sequence.

The walk never lets the certification slice reorder it. MAPIE's `fwer_method="fixed_sequence"`
(used here before) looks at the risk the certification labels show along the given order and
*reverses* the order when that risk falls along it, so those labels could choose which λ is
tested first (a constructed case in the tests certifies λ = 0.7 that way where the learned order
certifies nothing). `fixed_sequence_test` computes the p-values in the learned order and walks
them as given.

Population: the caller passes the records the model would actually resolve if confident: no rule
resolves them and the novelty detector does not flag them (model.train filters both before
calling). Serving defers novel records whatever their score, so a certificate over every rule-free
record would speak for records the model never resolves; certifying the served population makes
the certificate's claim the same sentence as serving's promise ("precision of what the model
resolves").
"""

from __future__ import annotations

from typing import Any

import mapie
import numpy as np
from mapie.risk_control import BinaryClassificationController, control_fwer, precision
from mapie.risk_control.methods import compute_hoeffding_bentkus_p_value

from autoresolve.model.binomial import upper_bound

METHOD = (
    f"Learn-then-Test via MAPIE {mapie.__version__}: precision risk, Hoeffding-Bentkus p-values, "
    "split fixed-sequence FWER (test order learned on a separate calibration sample: start at "
    "the λ with the best projected p-value, then loosen; never reordered by the certification "
    "labels)"
)

SERVED_POPULATION = (
    "records the model resolves when confident: no rule resolves them and the novelty detector "
    "does not flag them (novel records are deferred whatever their score)"
)


def candidate_grid(
    reference_scores: np.ndarray, n_certify: int, *, min_accepted: int = 60, size: int = 40
) -> np.ndarray:
    """Thresholds from strictest to loosest, as quantiles of scores from another sample.

    The strictest candidate keeps about `min_accepted` records of a certification sample of
    `n_certify` (fewer could never reach a useful p-value, and fixed-sequence testing stops at
    the first failure).
    """
    s = np.asarray(reference_scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if len(s) == 0 or n_certify <= 0:
        return np.array([])
    top_level = min(1.0 - min(min_accepted / n_certify, 1.0), 0.999)
    levels = np.linspace(top_level, 0.0, size)
    grid = np.unique(np.round(np.quantile(s, levels), 6))[::-1]
    return grid


def projected_order(
    candidates: np.ndarray,
    learn_scores: np.ndarray,
    learn_correct: np.ndarray,
    n_certify: int,
    target_precision: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(test order, projected p-values): see the module doc. Uses no certification label."""
    cands = np.sort(np.asarray(candidates, dtype=np.float64))[::-1]
    ls = np.asarray(learn_scores, dtype=np.float64)
    lc = np.asarray(learn_correct, dtype=np.int64)
    n_learn = max(len(ls), 1)
    accepted = np.array([int((ls >= c).sum()) for c in cands])
    errors = np.array([int(((ls >= c) & (lc == 0)).sum()) for c in cands])
    # Projected counts on the certification slice, integer (the binomial form needs k/n).
    n_proj = np.maximum(np.round(accepted * n_certify / n_learn), 1).astype(np.int64)
    e_proj = np.ceil((errors + 1) / (accepted + 1) * n_proj - 1e-9).astype(np.int64)
    p = np.array(
        [
            float(
                np.ravel(
                    compute_hoeffding_bentkus_p_value(
                        np.array([e / m]), np.array([m]), 1.0 - target_precision, binary=True
                    )
                )[0]
            )
            for e, m in zip(e_proj, n_proj, strict=True)
        ]
    )
    p = np.where(np.isfinite(p), p, 1.0)
    # Ties go to the looser λ (more coverage at the same evidence).
    start = int(len(p) - 1 - np.argmin(p[::-1]))
    return cands[start:], p


def exact_risk(errors: np.ndarray, accepted: np.ndarray) -> np.ndarray:
    """errors / accepted, nudged down where float rounding puts accepted · risk above `errors`.

    MAPIE's binary Bentkus p-value is binom.cdf(ceil(n · r̂), n, α): with r̂ computed as
    1 − precision (as MAPIE's own risk does), n · r̂ often lands one ulp above the integer and
    the ceiling counts one error too many (2 errors in 105 gave the p-value of 3: 0.22 instead of
    0.10). Valid but needlessly weak; the exact count is what the bound is about.
    """
    n = np.maximum(np.asarray(accepted, dtype=np.float64), 1.0)
    e = np.asarray(errors, dtype=np.float64)
    risk = np.where(np.asarray(accepted) > 0, e / n, 1.0)
    for _ in range(4):
        over = (np.asarray(accepted) > 0) & (np.ceil(n * risk) > e)
        if not over.any():
            break
        risk = np.where(over, np.nextafter(risk, 0.0), risk)
    return risk


def fixed_sequence_test(
    scores: np.ndarray,
    correct: np.ndarray,
    order: np.ndarray,
    *,
    target_precision: float,
    confidence: float,
) -> tuple[np.ndarray, int]:
    """(Hoeffding–Bentkus p-value of each λ in `order`, how many λ passed, from the start).

    The order is taken as given. MAPIE's `fixed_sequence` would look at the risk these labels
    show along the order and reverse it when that risk falls; its `split_fixed_sequence` leaves
    the order alone, so the walk is MAPIE's `control_fwer(p, δ, "split_fixed_sequence")` on
    p-values from MAPIE's own binary Hoeffding–Bentkus function.
    """
    s = np.asarray(scores, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.int64)
    lams = np.asarray(order, dtype=np.float64)
    if len(lams) == 0:
        return np.array([]), 0
    accepted = np.array([int((s >= lam).sum()) for lam in lams])
    errors = np.array([int(((s >= lam) & (ok == 0)).sum()) for lam in lams])
    risk = exact_risk(errors, accepted)
    p = np.ravel(
        compute_hoeffding_bentkus_p_value(
            risk, accepted.astype(np.float64), 1.0 - target_precision, binary=True
        )
    )
    p = np.where((accepted > 0) & np.isfinite(p), p, 1.0)
    passed = control_fwer(p, 1.0 - confidence, fwer_method="split_fixed_sequence")
    return p, len(passed)  # a fixed sequence passes a prefix of the order


def mapie_order(
    candidates: np.ndarray,
    learn_scores: np.ndarray,
    learn_correct: np.ndarray,
    target_precision: float,
    confidence: float,
) -> np.ndarray:
    """MAPIE's own split-fixed-sequence order, learned on the learn sample only (for comparison
    with `projected_order`; the projected one certifies at least as often, tested)."""
    controller = BinaryClassificationController(
        predict_function=lambda s: np.column_stack([1.0 - s, s]),
        risk=precision,
        target_level=target_precision,
        confidence_level=confidence,
        list_predict_params=np.asarray(candidates, dtype=np.float64),
        fwer_method="split_fixed_sequence",
    )
    controller.learn_fixed_sequence_order(
        np.asarray(learn_scores, dtype=np.float64), np.asarray(learn_correct, dtype=np.int64)
    )
    return np.asarray(controller._learned_fixed_sequence, dtype=np.float64)


def certify_threshold(
    scores: np.ndarray,
    correct: np.ndarray,
    *,
    target_precision: float,
    confidence: float,
    candidates: np.ndarray,
    learn: tuple[np.ndarray, np.ndarray] | None = None,
    fwer: str | None = None,
) -> dict[str, Any]:
    """The certificate for one threshold on `scores` (top calibrated probabilities).

    `learn` = (scores, correct) of an independent labelled sample that orders the candidates
    (`fwer` "projected", the default, or "split_fixed_sequence" for MAPIE's learned order);
    without it, candidates are tested strictest first ("strictest_first"). Whatever the order,
    it is fixed before `correct` is looked at.
    """
    scores = np.asarray(scores, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.int64)
    candidates = np.asarray(candidates, dtype=np.float64)
    cert: dict[str, Any] = {
        "target_precision": float(target_precision),
        "confidence": float(confidence),
        "n_calibration": len(scores),
        "threshold": None,
        "accepted": 0,
        "observed_precision": None,
        "error_upper_bound": None,
        "method": METHOD,
        "candidates_tested": [float(c) for c in candidates],
        "reason": "",
    }
    if len(scores) == 0:
        cert["reason"] = "no calibration records outside the rules: nothing to certify on."
        return cert
    if len(candidates) == 0:
        cert["reason"] = "no candidate thresholds (empty reference sample)."
        return cert
    candidates = _test_order(
        candidates, learn, fwer, len(scores), cert, target_precision, confidence
    )
    cert["test_order"] = [float(v) for v in candidates]
    p_values, passed = fixed_sequence_test(
        scores, correct, candidates, target_precision=target_precision, confidence=confidence
    )
    cert["p_values"] = [float(p) for p in p_values]
    if passed == 0:
        top = float(candidates[0])  # the first λ tested
        acc = scores >= top
        k = int(acc.sum())
        prec = float(correct[acc].mean()) if k else float("nan")
        cert["reason"] = (
            f"no candidate threshold holds precision ≥ {target_precision:g} at confidence "
            f"{confidence:g} (the first λ tested, {top:.4f}, accepts {k} of {len(scores)} "
            f"calibration records with observed precision {prec:.3f}). More labelled data or a "
            "better model is needed; the model resolves nothing meanwhile."
        )
        return cert
    # Every λ that passed holds together (FWER), so any may be used: the one that accepts most.
    passed_lams = candidates[:passed]
    thr = float(passed_lams[np.argmax([(scores >= lam).sum() for lam in passed_lams])])
    acc = scores >= thr
    k = int(acc.sum())
    errors = int(k - correct[acc].sum())
    cert.update(
        threshold=thr,
        accepted=k,
        observed_precision=float(correct[acc].mean()) if k else None,
        error_upper_bound=upper_bound(errors, k, confidence),
        coverage=k / len(scores),
        reason=(
            f"λ={thr:.4f} is the loosest λ that passed the test sequence: precision ≥ "
            f"{target_precision:g} holds at confidence {confidence:g} ({k} of {len(scores)} "
            f"calibration records accepted, {errors} wrong)."
        ),
    )
    return cert


def _test_order(
    candidates: np.ndarray,
    learn: tuple[np.ndarray, np.ndarray] | None,
    fwer: str | None,
    n: int,
    cert: dict[str, Any],
    target_precision: float,
    confidence: float,
) -> np.ndarray:
    """The order the fixed-sequence test walks, fixed before the certification labels are read."""
    method = fwer or ("projected" if learn is not None else "strictest_first")
    if method == "projected" and learn is not None:
        candidates, projected = projected_order(candidates, learn[0], learn[1], n, target_precision)
        cert["projected_p_values"] = [float(v) for v in projected]
        return candidates
    if method == "split_fixed_sequence" and learn is not None:
        return mapie_order(candidates, learn[0], learn[1], target_precision, confidence)
    if method == "strictest_first":
        return np.sort(candidates)[::-1]
    raise ValueError(
        f"fwer must be 'projected' or 'split_fixed_sequence' (both need `learn`), or "
        f"'strictest_first'; got {method!r} with learn={'given' if learn else 'None'}."
    )


def certify_per_class(
    scores: np.ndarray,
    predicted: np.ndarray,
    truth: np.ndarray,
    classes: tuple[str, ...],
    *,
    target_precision: float,
    confidence: float,
    learn: tuple[np.ndarray, np.ndarray, np.ndarray],
    min_records: int = 20,
) -> dict[str, Any]:
    """One certified threshold per predicted class (the stretch goal of DESIGN.md).

    For each class c, the records the model would label c are certified separately (precision of
    "predicted c and score ≥ λ_c"), each at confidence 1 − δ/K with K the classes attempted
    (Bonferroni), so all K guarantees hold together with probability ≥ 1 − δ — and then the
    precision of everything resolved, a mixture of the per-class precisions, is ≥ target too.
    Which classes are attempted depends on predictions only (≥ `min_records` predicted in both
    samples), never on the certification labels. A class without a certified λ is not resolved.
    """
    scores = np.asarray(scores, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    l_scores, l_pred, l_truth = (np.asarray(a) for a in learn)
    eligible = [
        c
        for c in range(len(classes))
        if (predicted == c).sum() >= min_records and (l_pred == c).sum() >= min_records
    ]
    delta = 1.0 - confidence
    conf_c = 1.0 - delta / max(len(eligible), 1)
    per: dict[str, dict[str, Any]] = {}
    accepted = np.zeros(len(scores), dtype=bool)
    bounds = []
    for c in eligible:
        m, ml = predicted == c, l_pred == c
        grid = candidate_grid(l_scores[ml], int(m.sum()), min_accepted=10, size=20)
        cert_c = certify_threshold(
            scores[m],
            (truth[m] == c).astype(int),
            target_precision=target_precision,
            confidence=conf_c,
            candidates=grid,
            learn=(l_scores[ml], (l_truth[ml] == c).astype(int)),
        )
        per[classes[c]] = {
            k: cert_c.get(k)
            for k in ("threshold", "accepted", "observed_precision", "error_upper_bound", "reason")
        }
        per[classes[c]]["n_predicted"] = int(m.sum())
        if cert_c["threshold"] is not None:
            accepted |= m & (scores >= cert_c["threshold"])
            bounds.append(cert_c["error_upper_bound"])
    k = int(accepted.sum())
    correct = predicted == truth
    n_cert = sum(1 for v in per.values() if v["threshold"] is not None)
    return {
        "mode": "per_class",
        "target_precision": float(target_precision),
        "confidence": float(confidence),
        "n_calibration": len(scores),
        "threshold": None,
        "per_class": per,
        "accepted": k,
        "coverage": k / len(scores) if len(scores) else 0.0,
        "observed_precision": float(correct[accepted].mean()) if k else None,
        "error_upper_bound": max(bounds) if bounds else None,
        "method": f"{METHOD}; one λ per predicted class, Bonferroni over {len(eligible)} classes",
        "candidates_tested": {},
        "reason": (
            f"{n_cert} of {len(eligible)} classes attempted have a certified λ (each at "
            f"confidence {conf_c:.4f}); {k} of {len(scores)} calibration records accepted."
            if n_cert
            else f"no class reached precision ≥ {target_precision:g} at confidence {conf_c:.4f} "
            f"({len(eligible)} classes attempted); the model resolves nothing meanwhile."
        ),
    }


# ---------------------------------------------------------------- per-class thresholds, one level

GLOBAL = "global"
CLASS_CURVES = "class_curves"
BONFERRONI = "per_class"  # one λ per class, each certified alone (Bonferroni over classes)
MODES = (GLOBAL, CLASS_CURVES, BONFERRONI)


def certify_class_curves(
    scores: np.ndarray,
    predicted: np.ndarray,
    truth: np.ndarray,
    classes: tuple[str, ...],
    *,
    target_precision: float,
    confidence: float,
    learn: tuple[np.ndarray, np.ndarray, np.ndarray],
    seed: int = 0,
    min_accepted: int = 20,
) -> dict[str, Any]:
    """One threshold per predicted class, all certified together by one test of one level.

    The family: for each level t, the vector of thresholds λ(t) whose class-c entry is the top
    probability at which class c's curve (model.class_curves, fitted on the calibration slice)
    reaches t. Learn-then-Test over that one-dimensional family of vectors: the hypothesis for t
    is "precision of everything λ(t) accepts < target", tested with the same Hoeffding–Bentkus
    p-values and the same fixed sequence (order learned on the calibration slice, from
    cross-fitted estimates) as the global cut, so the family-wise error over the whole path is
    ≤ 1 − confidence and the certified λ(t) holds precision ≥ target for everything the model
    resolves, as the global certificate does.

    Why not one test per class (Bonferroni, `certify_per_class`): it splits 1 − confidence K
    ways and asks every class to reach the target on its own records, which forbids a very
    precise class from carrying a slightly weaker one — the global cut allows that, and so the
    per-class Bonferroni certificates covered 19–23 points less than the global cut on the CRM
    demo and vinst_orgline (docs/quality.md). Along a path of vectors the test pays no
    multiplicity for the number of classes; the classes only change which records come first.
    """
    from autoresolve.model.class_curves import cross_fitted_estimates, fit_class_curves

    scores = np.asarray(scores, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    l_top, l_pred, l_truth = (np.asarray(a) for a in learn)
    l_ok = (l_pred == l_truth).astype(int)
    k = len(classes)
    curves = fit_class_curves(l_top, l_pred, l_ok, k)
    learn_level = cross_fitted_estimates(l_top, l_pred, l_ok, k, seed=seed)
    level = curves.estimate(scores, predicted)
    correct = (predicted == truth).astype(int)
    grid = candidate_grid(learn_level, len(scores), min_accepted=min_accepted)
    cert = certify_threshold(
        level,
        correct,
        target_precision=target_precision,
        confidence=confidence,
        candidates=grid,
        learn=(learn_level, l_ok),
    )
    t = cert.get("threshold")
    thresholds = curves.thresholds(float(t)) if t is not None else np.full(k, np.inf)
    if t is not None:
        served = scores >= thresholds[predicted]
        if not np.array_equal(served, level >= t):  # pragma: no cover - an invariant
            raise AssertionError("per-class thresholds disagree with the certified level")
    cert.update(
        mode=CLASS_CURVES,
        level=t,
        threshold=None,
        method=f"{METHOD}; over the path of per-class threshold vectors λ(t) given by one "
        "isotonic curve per predicted class (top probability → precision, fitted on the "
        "calibration slice, shrunk to the global curve)",
    )
    cert["per_class"] = class_breakdown(
        scores, predicted, truth, classes, thresholds, confidence, learn_counts=curves.counts
    )
    _say_why_not(cert["per_class"], classes, curves, t)
    if t is not None:
        n_on = sum(1 for v in cert["per_class"].values() if v["threshold"] is not None)
        cert["reason"] = (
            f"level t={t:.4f} is the loosest level that passed the test sequence: the "
            f"per-class thresholds it gives ({n_on} of {k} classes resolvable) hold precision "
            f"≥ {target_precision:g} at confidence {confidence:g} ({cert['accepted']} of "
            f"{len(scores)} certification records accepted, "
            f"{cert['accepted'] - int(correct[level >= t].sum())} wrong)."
        )
    return cert


def _say_why_not(per_class: dict[str, dict], classes: tuple[str, ...], curves, t) -> None:
    """A class the model never resolves says so with the figure that keeps it out."""
    for c, row in per_class.items():
        if row["threshold"] is None:
            i = classes.index(c)
            row["why_not"] = (
                f"its calibration-slice curve ({curves.counts[i]} records predicted "
                f"{c}) peaks at an estimated precision of {curves.best()[i]:.3f}, below the "
                f"certified level {t:.4f}"
                if t is not None
                else "nothing certified"
            )


def class_breakdown(
    scores: np.ndarray,
    predicted: np.ndarray,
    truth: np.ndarray,
    classes: tuple[str, ...],
    thresholds: np.ndarray,
    confidence: float,
    *,
    learn_counts: tuple[int, ...] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per model class: its threshold and what it accepts of the certification records.

    The bound is each class's own one-sided Clopper–Pearson upper bound on its error rate among
    the records it accepts, at the domain's confidence: informative, not simultaneous — the
    certified claim is the precision of all classes together.
    """
    out: dict[str, dict[str, Any]] = {}
    for i, c in enumerate(classes):
        m = predicted == i
        lam = float(thresholds[i])
        acc = m & (scores >= lam) if np.isfinite(lam) else np.zeros_like(m)
        k = int(acc.sum())
        wrong = int(k - (truth[acc] == i).sum())
        row: dict[str, Any] = {
            "threshold": lam if np.isfinite(lam) else None,
            "n_certification": int(m.sum()),
            "accepted": k,
            "observed_precision": (k - wrong) / k if k else None,
            "error_upper_bound": upper_bound(wrong, k, confidence) if k else None,
        }
        if learn_counts is not None:
            row["n_calibration"] = int(learn_counts[i])
        out[c] = row
    return out


def choose_mode(
    learn: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_classes: int,
    *,
    target_precision: float,
    confidence: float,
    seed: int = 0,
) -> tuple[str, dict[str, float]]:
    """`auto`: per-class thresholds (`class_curves`) only when, on the calibration slice, they
    reach the target on more records than the global cut (label-aware lower bounds over the
    records taken best first; the class curves' order from cross-fitted estimates, so a class
    seen a few times does not look perfect). No certification label is used."""
    from autoresolve.model.class_curves import cross_fitted_estimates

    top, pred, truth = (np.asarray(a) for a in learn)
    ok = (pred == truth).astype(int)
    estimates = cross_fitted_estimates(top, pred, ok, n_classes, seed=seed)
    cov = {
        GLOBAL: ranked_coverage(top, ok, target_precision, confidence),
        CLASS_CURVES: ranked_coverage(estimates, ok, target_precision, confidence),
    }
    return (CLASS_CURVES if cov[CLASS_CURVES] > cov[GLOBAL] else GLOBAL), cov


def ranked_coverage(
    scores: np.ndarray, correct: np.ndarray, target: float, confidence: float
) -> float:
    """Largest share of records, taken by descending score, whose precision is ≥ target with
    the given confidence (one-sided Clopper–Pearson lower bound). A label-aware ranking score
    for choices made on the calibration slice; not a certificate."""
    from autoresolve.model.binomial import lower_bounds

    n = len(scores)
    if n == 0:
        return 0.0
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    ok = np.cumsum(np.asarray(correct)[order])
    lower = lower_bounds(ok, np.arange(1, n + 1), confidence)
    good = np.flatnonzero(lower >= target)
    return float((good[-1] + 1) / n) if len(good) else 0.0


def certify_scores(
    mode: str,
    scores: np.ndarray,
    predicted: np.ndarray,
    truth: np.ndarray,
    classes: tuple[str, ...],
    *,
    target_precision: float,
    confidence: float,
    learn: tuple[np.ndarray, np.ndarray, np.ndarray],
    seed: int = 0,
    min_records: int = 20,
) -> tuple[dict[str, Any], np.ndarray]:
    """The certificate of one mode (GLOBAL, CLASS_CURVES or BONFERRONI) on the certification
    records, ordered and gridded on `learn` (the calibration slice): (certificate, the grid
    of the global cut). Training and re-certification for new rules both call this."""
    if mode not in MODES:
        raise ValueError(f"threshold mode must be one of {', '.join(MODES)}; got {mode!r}.")
    scores = np.asarray(scores, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    l_top, l_pred, l_truth = (np.asarray(a) for a in learn)
    l_ok = (l_pred == l_truth).astype(int)
    grid = candidate_grid(l_top, len(scores), min_accepted=20)
    if mode == CLASS_CURVES:
        cert = certify_class_curves(
            scores,
            predicted,
            truth,
            classes,
            target_precision=target_precision,
            confidence=confidence,
            learn=(l_top, l_pred, l_truth),
            seed=seed,
        )
    elif mode == BONFERRONI:
        cert = certify_per_class(
            scores,
            predicted,
            truth,
            classes,
            target_precision=target_precision,
            confidence=confidence,
            learn=(l_top, l_pred, l_truth),
            min_records=min_records,
        )
    else:
        cert = certify_threshold(
            scores,
            (predicted == truth).astype(int),
            target_precision=target_precision,
            confidence=confidence,
            candidates=grid,
            learn=(l_top, l_ok),
        )
        cert["mode"] = GLOBAL
        lam = cert["threshold"]
        cert["per_class"] = class_breakdown(
            scores,
            predicted,
            truth,
            classes,
            np.full(len(classes), np.inf if lam is None else float(lam)),
            confidence,
        )
    cert["coverage"] = cert["accepted"] / len(scores) if len(scores) else 0.0
    return cert, grid


LEARN_SHARE = 0.4  # of time-ordered records: learn the grid and its order; the rest certify


def certify_time_ordered(
    proba: np.ndarray,
    truth: np.ndarray,
    classes: tuple[str, ...],
    *,
    target_precision: float,
    confidence: float,
    mode: str = GLOBAL,
    learn_share: float = LEARN_SHARE,
    seed: int = 0,
) -> tuple[dict[str, Any], np.ndarray]:
    """`certify_scores` on one labelled sample already in time order: the first `learn_share`
    learn the candidate thresholds and their test order, the later rest is certified.

    Re-certification for new rules (`Policy.with_rules`) and the certified-coverage scorer
    (model.scoring) both call this, so a tuned candidate is scored by the step that certifies.
    """
    P = np.asarray(proba, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    top, pred = P.max(axis=1), P.argmax(axis=1)
    cut = int(learn_share * len(top))
    return certify_scores(
        mode,
        top[cut:],
        pred[cut:],
        truth[cut:],
        classes,
        target_precision=target_precision,
        confidence=confidence,
        learn=(top[:cut], pred[:cut], truth[:cut]),
        seed=seed,
    )
