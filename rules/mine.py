"""Rules learned from labels: conditions mined on older labels, measured on newer ones.

Why it is built this way:

- **Only what no existing rule decides.** Learned rules load after the hand-written (and earlier
  learned) ones and the first hit wins, so a record an existing rule decides is not their
  business: it is left out of mining and of measuring.
- **Weighted toward what is deferred today.** The caller passes a weight per record (e.g. 1 for a
  record today's policy defers, less for one the model already resolves); coverage is counted in
  that weight, precision in records.
- **Beam search over the rule language itself.** Every field is read through the rule layer's own
  frame reader (`frame.FrameCtx`), so a category value, a missing value or a number means here
  what it means to the evaluator. Conditions are `field == "v"`, `field in [...]`, `x <= t`,
  `x > t`, `is null`, `is not null` and boolean tests, joined by `and` (up to `max_conditions`).
  Counting is one `bincount` per field and beam member, so ~100k records × 20 fields take seconds.
- **The claim is measured on labels the rule was not mined from.** Records are split in time:
  the newest `holdout` share measures; of the older records, the first two thirds grow
  candidates (beam search) and the last third (the prune rows) ranks them with figures the search
  did not see, which also predict whether a test on the newer labels can succeed. There each
  candidate gets a one-sided Clopper–Pearson lower bound on its precision over the newer records
  it matches that no existing rule decides. Which candidates are tested is fixed before any newer
  label is read (those less likely than not to clear the bar are not), and the tested ones go
  through Holm's step-down: the chance that *any* accepted rule's precision is below the bar is
  at most 1 − confidence. (A fixed sequence was tried first: on vinst_orgline a single drifting
  first candidate stopped every later one, five of which clear the bar.)
- **Exact, checked rules.** Every candidate is written as `when` text from syntax-tree nodes,
  parsed and type-checked by the real rule parser, and its masks come from the real evaluator:
  what is measured is what will run. Its examples are real records (one where it fires with its
  resolution, one where no rule fires), checked against the whole rule set, and a candidate that
  would fire on an existing `expect: null` example is dropped (it would break `rules test`).

Pure: a frame in, suggestions out; no files, no clock. Deterministic for the same data.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml

from autoresolve.rules.bounds import (
    betainc,
    clopper_pearson_lower,
    pass_probability,
    wilson_lower,
)
from autoresolve.rules.check import VALUE_TYPE
from autoresolve.rules.frame import Arr, FrameCtx, Txt
from autoresolve.rules.lang import (
    BoolOp,
    Compare,
    Field,
    InList,
    IsNull,
    ListLit,
    Literal,
    Node,
    fields_of,
    unparse,
)
from autoresolve.rules.loader import parse_rules
from autoresolve.rules.ruleset import DEFER, Example, RuleSet
from autoresolve.rules.values import NORMALISERS

MIN_VALUE_SUPPORT = 3  # a value joins an `in` list only with this many right records behind it
MIN_PRUNE_RIGHT = 5  # right records a candidate needs on the prune rows to enter the sequence
MIN_POWER = 0.5  # a candidate less likely than not to clear the bar is not tested


@dataclass(frozen=True)
class MiningConfig:
    """Knobs of one suggestion run; `bar` and `confidence` make the claim, the rest the search."""

    bar: float = 0.95
    confidence: float = 0.90
    max_rules: int = 10
    max_conditions: int = 3
    holdout: float = 0.30
    beam_width: int = 12
    min_support: int = 20
    max_list: int = 12
    max_levels: int = 256
    thresholds: int = 16
    max_candidates: int = 400

    def __post_init__(self) -> None:
        checks = {
            "bar": 0.0 < self.bar <= 1.0,
            "confidence": 0.0 < self.confidence < 1.0,
            "max_rules": self.max_rules >= 1,
            "max_conditions": 1 <= self.max_conditions <= 3,
            "holdout": 0.0 < self.holdout < 1.0,
            "beam_width": self.beam_width >= 1,
            "min_support": self.min_support >= 1,
            "max_list": self.max_list >= 2,
            "max_levels": self.max_levels >= 1,
            "thresholds": self.thresholds >= 1,
            "max_candidates": self.max_candidates >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in bad)
            raise ValueError(
                f"mining settings out of range: {shown} (bar in (0, 1], confidence and holdout "
                "in (0, 1), max_conditions 1–3, max_list ≥ 2, the others ≥ 1)"
            )


@dataclass(frozen=True)
class Slice:
    """A set of labelled records: how many and the time they span (ISO, UTC), if known."""

    records: int
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class Suggestion:
    id: str
    when: str
    then: str
    examples: tuple[Example, ...]
    mined_decided: int  # older records it matches that no existing rule decides
    mined_correct: int
    decided: int  # newer records it matches that no existing rule decides: what it was tested on
    correct: int
    lower_bound: float  # one-sided Clopper–Pearson at the run's confidence, on those
    coverage: float  # newer records it decides (suggestions in file order) / newer records
    weighted_coverage: float  # the same, as a share of the weight no existing rule decides

    @property
    def precision(self) -> float:
        return self.correct / self.decided if self.decided else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["examples"] = [{"record": e.record, "expect": e.expect} for e in self.examples]
        out["precision"] = self.precision
        return out


@dataclass
class MiningResult:
    config: MiningConfig
    labels: Slice
    mined_on: Slice
    measured_on: Slice
    suggestions: list[Suggestion] = field(default_factory=list)
    tested: list[dict[str, Any]] = field(default_factory=list)  # the sequence, in order
    coverage: dict[str, Any] = field(default_factory=dict)  # on the held-out slice
    candidates: int = 0  # distinct conditions measured exactly
    dropped_for_examples: int = 0  # would have fired on an existing `expect: null` example
    unlabelled: int = 0  # rows without a usable label, left out

    @property
    def family_size(self) -> int:
        """How many candidates were tested on the newer labels (Holm's m)."""
        return sum(1 for t in self.tested if "holm_confidence" in t)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "family_size": self.family_size,
            "labels": asdict(self.labels),
            "mined_on": asdict(self.mined_on),
            "measured_on": asdict(self.measured_on),
            "suggestions": [s.to_dict() for s in self.suggestions],
            "tested": self.tested,
            "coverage": self.coverage,
            "candidates": self.candidates,
            "dropped_for_examples": self.dropped_for_examples,
            "unlabelled": self.unlabelled,
        }


# ------------------------------------------------------------------------------ conditions


@dataclass(frozen=True, order=True)
class _Atom:
    """One condition on one field: op is eq, in, le, gt, null or notnull."""

    field: str
    op: str
    value: Any = None

    def node(self) -> Node:
        f = Field(0, self.field)
        if self.op == "null":
            return IsNull(0, f, False)
        if self.op == "notnull":
            return IsNull(0, f, True)
        if self.op == "in":
            return InList(0, f, ListLit(0, tuple(Literal(0, v) for v in self.value)), False)
        op = {"eq": "==", "le": "<=", "gt": ">"}[self.op]
        return Compare(0, op, f, Literal(0, self.value))


def condition_text(atoms: tuple[_Atom, ...]) -> str:
    nodes = [a.node() for a in atoms]
    return unparse(nodes[0] if len(nodes) == 1 else BoolOp(0, "and", tuple(nodes)))


@dataclass
class _Enc:
    """A field as small-int codes over the mining rows, and the atoms it offers."""

    name: str
    kind: str  # string | text | number | boolean
    codes: np.ndarray
    levels: int
    values: int  # string: codes below this are values (the next is "other")
    atoms: list[_Atom]
    design: np.ndarray  # (atoms × levels) 0/1: which codes satisfy each atom
    design_f: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.design_f = self.design.astype(np.float64)


def _sig(x: float, digits: int = 3) -> float:
    return float(f"{x:.{digits}g}")


def _encode(
    frame: pd.DataFrame, fields: Mapping[str, str], order: list[str], cfg: MiningConfig
) -> list[_Enc]:
    ctx = FrameCtx(frame, {n: VALUE_TYPE[t] for n, t in fields.items()})
    n = len(frame)
    out: list[_Enc] = []
    for name in order:
        ftype = fields[name]
        if ftype == "datetime" or name not in frame.columns:
            continue  # a rule on the calendar does not carry over to next month's records
        col = ctx.column(name)
        enc = (
            _encode_text(name, col, n, cfg, values=ftype == "category")
            if isinstance(col, Txt)
            else _encode_number(name, col, n, cfg)
            if ftype == "number"
            else _encode_boolean(name, col, n)
        )
        if enc is not None and enc.atoms:
            out.append(enc)
    return out


def _null_atoms(name: str, levels: int, null: int, has_null: bool, has_value: bool):
    atoms: list[_Atom] = []
    rows: list[np.ndarray] = []
    if has_null and has_value:
        e = np.zeros(levels, dtype=bool)
        e[null] = True
        atoms += [_Atom(name, "null"), _Atom(name, "notnull")]
        rows += [e, ~e]
    return atoms, rows


def _encode_text(name: str, col: Txt, n: int, cfg: MiningConfig, values: bool) -> _Enc | None:
    raw = col.codes if isinstance(col.codes, np.ndarray) else np.full(n, col.codes)
    raw = raw.astype(np.intp)
    # several raw values can read as one text (12 and "12"): merge them
    uniq_codes, uniq = pd.factorize(np.asarray(col.uniques, dtype=object))
    merged = np.where(raw >= 0, np.take(np.append(uniq_codes, -1), raw), -1)
    present = merged >= 0
    has_null, has_value = bool((~present).any()), bool(present.any())
    if not values:  # free text: only whether it is there
        codes = np.where(present, 0, 1)
        atoms, rows = _null_atoms(name, 2, 1, has_null, has_value)
        if not atoms:
            return None
        return _Enc(name, "text", codes.astype(np.intp), 2, 0, atoms, np.array(rows))
    counts = np.bincount(merged[present], minlength=len(uniq))
    names = [str(u) for u in uniq]
    keep = [i for i in range(len(uniq)) if counts[i] >= MIN_VALUE_SUPPORT]
    keep.sort(key=lambda i: (-counts[i], names[i]))
    keep = keep[: cfg.max_levels]
    v = len(keep)
    remap = np.full(len(uniq) + 1, v, dtype=np.intp)  # other
    remap[keep] = np.arange(v)
    remap[-1] = v + 1  # null
    codes = np.take(remap, np.where(present, merged, len(uniq)))
    levels = v + 2
    eye = np.eye(levels, dtype=bool)
    atoms = [_Atom(name, "eq", names[i]) for i in keep]
    rows = [eye[j] for j in range(v)]
    more, more_rows = _null_atoms(name, levels, v + 1, has_null, has_value)
    design = np.array(rows + more_rows) if rows or more_rows else np.zeros((0, levels), bool)
    return _Enc(name, "string", codes, levels, v, atoms + more, design)


def _encode_number(name: str, col: Arr, n: int, cfg: MiningConfig) -> _Enc | None:
    vals = np.broadcast_to(np.asarray(col.values, dtype=np.float64), (n,))
    missing = np.broadcast_to(np.asarray(col.missing, dtype=bool), (n,)) | np.isnan(vals)
    known = vals[~missing]
    edges = np.zeros(0)
    if len(known):
        qs = np.quantile(known, np.linspace(0, 1, cfg.thresholds + 2)[1:-1])
        edges = np.unique([_sig(q) for q in qs if np.isfinite(q)])
    e = len(edges)
    null = e + 1
    codes = np.where(missing, null, np.searchsorted(edges, np.where(missing, 0, vals), "left"))
    levels = e + 2
    lvl = np.arange(levels)
    atoms: list[_Atom] = []
    rows: list[np.ndarray] = []
    for b, edge in enumerate(edges):
        atoms += [_Atom(name, "le", float(edge)), _Atom(name, "gt", float(edge))]
        rows += [lvl <= b, (lvl > b) & (lvl <= e)]
    more, more_rows = _null_atoms(name, levels, null, bool(missing.any()), bool(len(known)))
    if not atoms and not more:
        return None
    design = np.array(rows + more_rows)
    return _Enc(name, "number", codes.astype(np.intp), levels, 0, atoms + more, design)


def _encode_boolean(name: str, col: Arr, n: int) -> _Enc | None:
    vals = np.broadcast_to(np.asarray(col.values, dtype=bool), (n,))
    missing = np.broadcast_to(np.asarray(col.missing, dtype=bool), (n,))
    codes = np.where(missing, 2, vals.astype(np.intp))
    lvl = np.arange(3)
    atoms = [_Atom(name, "eq", True), _Atom(name, "eq", False)]
    rows = [lvl == 1, lvl == 0]
    more, more_rows = _null_atoms(name, 3, 2, bool(missing.any()), bool((~missing).any()))
    design = np.array(rows + more_rows)
    return _Enc(name, "boolean", codes.astype(np.intp), 3, 0, atoms + more, design)


# ------------------------------------------------------------------------------ search


@dataclass
class _Member:
    atoms: tuple[_Atom, ...]
    rows: np.ndarray  # positions into the mining rows


def _search(
    encs: list[_Enc], y: np.ndarray, w: np.ndarray, k: int, cfg: MiningConfig
) -> dict[tuple[tuple[_Atom, ...], int], float]:
    """Candidate (conditions, class) → weighted right records on the mining rows."""
    order = {e.name: i for i, e in enumerate(encs)}
    n = len(y)
    base = np.bincount(y, minlength=k) / max(n, 1)
    pool: dict[tuple[tuple[_Atom, ...], int], float] = {}
    frontier = [_Member((), np.arange(n))]

    def add(atoms: tuple[_Atom, ...], cls: int, wc: float) -> None:
        key = (tuple(sorted(atoms, key=lambda a: order[a.field])), cls)
        if wc > pool.get(key, -1.0):
            pool[key] = wc

    for depth in range(cfg.max_conditions):
        expand = depth + 1 < cfg.max_conditions
        beams: list[list[tuple[float, str, _Member, _Enc, int]]] = [[] for _ in range(k)]
        for m in frontier:
            used = {a.field for a in m.atoms}
            yr, wr = y[m.rows], w[m.rows]
            size = len(m.rows)
            for enc in encs:
                if enc.name in used:
                    continue
                idx = enc.codes[m.rows] * k + yr
                cnt = np.bincount(idx, minlength=enc.levels * k).reshape(enc.levels, k)
                wct = np.bincount(idx, weights=wr, minlength=enc.levels * k).reshape(enc.levels, k)
                ac = enc.design_f @ cnt
                aw = enc.design_f @ wct
                tot = ac.sum(axis=1, keepdims=True)
                narrows = (tot[:, 0] < size) & (tot[:, 0] > 0)
                lb = wilson_lower(ac, np.broadcast_to(tot, ac.shape), cfg.confidence)
                supported = (ac >= cfg.min_support) & narrows[:, None]
                valid = supported & (lb >= cfg.bar)
                for a, cls in zip(*np.nonzero(valid), strict=True):
                    add((*m.atoms, enc.atoms[a]), int(cls), float(aw[a, cls]))
                if enc.kind == "string" and enc.values >= 2:
                    _lists(m, enc, cnt, wct, cfg, add)
                if not expand:
                    continue
                with np.errstate(divide="ignore", invalid="ignore"):
                    p = np.where(tot > 0, ac / tot, 0.0)
                    gain = (p - base) / np.where(base < 1, 1 - base, 1)
                score = np.where(supported & ~valid & (gain > 0), aw * gain, 0.0)
                for cls in np.flatnonzero(score.max(axis=0) > 0):
                    col = score[:, cls]
                    top = np.argsort(-col, kind="stable")[: cfg.beam_width]
                    for a in top[col[top] > 0]:
                        atoms = (*m.atoms, enc.atoms[a])
                        beams[cls].append((float(col[a]), _key(atoms), m, enc, int(a)))
        nxt: dict[str, _Member] = {}
        for cand in beams:
            cand.sort(key=lambda c: (-c[0], c[1]))
            taken = 0
            for _, key, parent, enc, a in cand:
                if taken >= cfg.beam_width:
                    break
                if key in nxt:
                    taken += 1
                    continue
                sat = enc.design[a][enc.codes[parent.rows]]
                nxt[key] = _Member((*parent.atoms, enc.atoms[a]), parent.rows[sat])
                taken += 1
        frontier = [nxt[key] for key in sorted(nxt)]
        if not frontier:
            break
    return pool


def _key(atoms: tuple[_Atom, ...]) -> str:
    return repr(sorted(atoms))


def _lists(m: _Member, enc: _Enc, cnt: np.ndarray, wct: np.ndarray, cfg: MiningConfig, add):
    """`field in [...]`: values that are each nearly always one resolution, merged while the
    merged condition still clears the bar on the mining rows (long-tailed categories)."""
    v = enc.values
    cv, nv = cnt[:v], cnt[:v].sum(axis=1)
    ok = (cv >= MIN_VALUE_SUPPORT) & (cv >= cfg.bar * nv[:, None])
    for cls in np.flatnonzero(ok.sum(axis=0) >= 2):
        vals = np.flatnonzero(ok[:, cls])
        c, nn = cv[vals, cls], nv[vals]
        lb = wilson_lower(c, nn, cfg.confidence)
        ranked = vals[np.lexsort((vals, -c, -lb))][: cfg.max_list]
        cum_c = np.cumsum(cv[ranked, cls])
        cum_n = np.cumsum(nv[ranked])
        good = np.flatnonzero(
            (wilson_lower(cum_c, cum_n, cfg.confidence) >= cfg.bar) & (cum_c >= cfg.min_support)
        )
        if not len(good) or good[-1] < 1:
            continue
        chosen = ranked[: good[-1] + 1]
        values = tuple(sorted(enc.atoms[i].value for i in chosen))
        add((*m.atoms, _Atom(enc.name, "in", values)), int(cls), float(wct[chosen, cls].sum()))


# ------------------------------------------------------------------------------ the run


def rule_id_for(when: str, then: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", then.lower()).strip("-")[:40] or "rule"
    digest = hashlib.sha256(f"{when}\0{then}".encode()).hexdigest()[:8]
    return f"learned-{slug}-{digest}"


def _time_keys(df: pd.DataFrame, time: str | None) -> pd.Series | None:
    if not time or time not in df.columns:
        return None
    return pd.to_datetime(df[time], utc=True, errors="coerce", format="mixed")


def _span(t: pd.Series | None, pos: np.ndarray) -> Slice:
    if t is None or not len(pos):
        return Slice(len(pos))
    part = t.iloc[pos].dropna()
    if part.empty:
        return Slice(len(pos))
    return Slice(len(pos), part.min().isoformat(), part.max().isoformat())


def suggest_rules(
    df: pd.DataFrame,
    *,
    label: str,
    fields: Mapping[str, str],
    resolutions: Collection[str],
    existing: RuleSet,
    time: str | None = None,
    weights: np.ndarray | None = None,
    config: MiningConfig | None = None,
) -> MiningResult:
    """Mine rules from `df` (labels in column `label`) that decide what `existing` leaves open.

    `weights` (one per row of df, ≥ 0) says how much covering each record is worth; records
    today's policy defers should weigh most. Rows without a label among `resolutions` are left
    out. See the module doc for the method and the guarantee.
    """
    cfg = config or MiningConfig()
    res = tuple(resolutions)
    if label not in df.columns:
        raise ValueError(f"the label column '{label}' is not in the frame")
    w_all = np.ones(len(df)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w_all.shape != (len(df),) or not np.all(np.isfinite(w_all)) or (w_all < 0).any():
        raise ValueError(f"weights must be {len(df):,} finite values ≥ 0, one per row")
    frame, y, w, t, classes = _labelled_in_time_order(df, label, res, time, w_all)
    n = len(frame)
    n_held = int(np.ceil(cfg.holdout * n))
    mine_pos, held_pos = np.arange(0, n - n_held), np.arange(n - n_held, n)
    result = MiningResult(
        config=cfg,
        labels=_span(t, np.arange(n)),
        mined_on=_span(t, mine_pos),
        measured_on=_span(t, held_pos),
        unlabelled=len(df) - n,
    )
    decided = existing.match_frame(frame) >= 0 if n else np.zeros(0, bool)
    open_mine = mine_pos[~decided[mine_pos]]
    first = np.full(n, -1, dtype=np.intp)  # the deciding suggestion per row, in file order
    found = None
    if len(open_mine) >= cfg.min_support and len(held_pos) and classes:
        found = _find(
            frame, y, w, classes, open_mine, held_pos, decided, existing, fields, res, cfg, result
        )
    if found is None:
        result.coverage = _coverage(held_pos, decided, w, first >= 0)
        return result
    accepted, _, _, masks, then_idx = found
    for j in reversed(accepted):
        first[masks[:, j] & ~decided] = j
    result.suggestions.extend(
        _measured_suggestions(
            found, frame, y, w, first, decided, open_mine, held_pos, existing, fields, cfg
        )
    )
    result.coverage = _coverage(held_pos, decided, w, first >= 0, y, first, then_idx)
    return result


def _labelled_in_time_order(
    df: pd.DataFrame, label: str, res: tuple[str, ...], time: str | None, w_all: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, pd.Series | None, list[str]]:
    """The rows labelled with a known resolution, oldest first: mining looks at the past and
    measures on the newest labels, as the rules will meet the future."""
    lab = df[label].astype(object).where(df[label].notna(), None).to_numpy(dtype=object)
    usable = np.array([v in res for v in lab.tolist()] or [], dtype=bool)
    t_all = _time_keys(df, time)
    pos = np.flatnonzero(usable)
    if t_all is not None:
        key = t_all.iloc[pos].to_numpy(dtype="datetime64[ns]")
        pos = pos[np.argsort(key, kind="stable")]
    frame = df.iloc[pos].reset_index(drop=True)
    t = t_all.iloc[pos].reset_index(drop=True) if t_all is not None else None
    classes = sorted({str(v) for v in lab[pos].tolist()})
    cls_of = {c: i for i, c in enumerate(classes)}
    y = np.array([cls_of[str(v)] for v in lab[pos].tolist()], dtype=np.intp)
    return frame, y, w_all[pos], t, classes


def _measured_suggestions(
    found, frame, y, w, first, decided, open_mine, held_pos, existing, fields, cfg
) -> list[Suggestion]:
    """Each accepted rule with what it did on the rows it was mined from and, separately, on the
    held-out rows no earlier rule decides — the figures its lower bound is about."""
    accepted, cands, texts, masks, then_idx = found
    n = len(frame)
    mined_open = np.zeros(n, dtype=bool)
    mined_open[open_mine] = True
    held_open = np.zeros(n, dtype=bool)
    held_open[held_pos] = True
    held_open &= ~decided
    held_w_open = float(w[held_open].sum())
    out: list[Suggestion] = []
    for j in accepted:
        rule = cands.rules[j]
        region = masks[:, j] & held_open
        mined = masks[:, j] & mined_open
        right = int((y[region] == then_idx[j]).sum())
        deciding = (first == j) & held_open
        examples = _examples(
            j, texts[j], frame, y, then_idx, first, decided, existing, cands, accepted, fields
        )
        out.append(
            Suggestion(
                id=rule_id_for(rule.when, rule.then),
                when=rule.when,
                then=rule.then,
                examples=examples,
                mined_decided=int(mined.sum()),
                mined_correct=int((y[mined] == then_idx[j]).sum()),
                decided=int(region.sum()),
                correct=right,
                lower_bound=clopper_pearson_lower(right, int(region.sum()), cfg.confidence),
                coverage=int(deciding.sum()) / len(held_pos),
                weighted_coverage=float(w[deciding].sum()) / held_w_open if held_w_open else 0.0,
            )
        )
    return out


def _find(frame, y, w, classes, open_mine, held_pos, decided, existing, fields, res, cfg, result):
    """Grow candidates on the older open records, rank them on the prune rows, test them on the
    newer ones. None when the search finds no candidate; else the accepted ones (in file order)
    with what describes every candidate: the rule set, their conditions, masks and classes."""
    order = [f for f in fields if f in frame.columns]
    grow = open_mine[: len(open_mine) - len(open_mine) // 3]  # the rest ranks (prunes) them
    encs = _encode(frame.iloc[grow].reset_index(drop=True), fields, order, cfg)
    pool = _search(encs, y[grow], w[grow], len(classes), cfg)
    ranked = sorted(pool.items(), key=lambda kv: (-kv[1], len(kv[0][0]), _key(kv[0][0]), kv[0][1]))
    texts: dict[tuple[str, str], tuple[_Atom, ...]] = {}
    for (atoms, cls), _ in ranked:
        if len(texts) >= cfg.max_candidates:
            break
        texts.setdefault((condition_text(atoms), classes[cls]), atoms)
    if not texts:
        return None
    keys = list(texts)
    cands = _as_ruleset(keys, fields, res)
    result.candidates = len(keys)
    masks = cands.rule_masks(frame)
    clash = _fires_on_null_examples(existing, cands)
    result.dropped_for_examples = int(clash.sum())
    cls_of = {c: i for i, c in enumerate(classes)}
    then_idx = np.array([cls_of[then] for _, then in keys], dtype=np.intp)
    prune = open_mine[len(open_mine) - len(open_mine) // 3 :]
    seq = _order_on_prune(masks, y, w, prune, then_idx, clash, cfg)
    accepted = _holm(seq, masks, y, held_pos, ~decided, then_idx, keys, cfg, result)
    return accepted, cands, [texts[k] for k in keys], masks, then_idx


def _as_ruleset(keys: list[tuple[str, str]], fields: Mapping[str, str], res: tuple[str, ...]):
    doc = {"rules": [{"id": f"c{i}", "when": w, "then": t} for i, (w, t) in enumerate(keys)]}
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10_000)
    return parse_rules(text, fields, res, source="<mined candidates>")


def _fires_on_null_examples(existing: RuleSet, cands: RuleSet) -> np.ndarray:
    """Per candidate: would it fire on an existing `expect: null` example (breaking it)?"""
    records = [ex.record for r in existing.rules for ex in r.examples if ex.expect is None]
    if not records:
        return np.zeros(len(cands.rules), dtype=bool)
    return cands.rule_masks(pd.DataFrame(records)).any(axis=0)


def _order_on_prune(
    masks: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    prune: np.ndarray,
    then_idx: np.ndarray,
    clash: np.ndarray,
    cfg: MiningConfig,
) -> list[tuple[int, int, int]]:
    """Which candidates to test, in file order: (candidate, right, matched) on the prune rows.

    The prune rows are the newest third of the older records, which the search did not see: its
    own figures are optimistic (it picked values and thresholds that look best on the rows it
    grew on), these are not. Greedy by weighted right records not yet taken there, so each
    candidate adds records of its own.
    """
    right = masks & (y[:, None] == then_idx[None, :])
    pm, pr = masks[prune], right[prune]
    avail = np.ones(len(prune), dtype=bool)
    alive = ~clash
    seq: list[tuple[int, int, int]] = []
    longest = max(3 * cfg.max_rules, cfg.max_rules + 10)
    while len(seq) < longest and alive.any():
        cols = np.flatnonzero(alive)
        sub_m, sub_r = pm[avail][:, cols], pr[avail][:, cols]
        nn = sub_m.sum(axis=0)
        c = sub_r.sum(axis=0)
        wc = w[prune][avail] @ sub_r
        ok = (c >= MIN_PRUNE_RIGHT) & (c >= cfg.bar * nn)
        alive[cols[c < MIN_PRUNE_RIGHT]] = False  # its rows only shrink from here
        if not ok.any():
            break
        best = int(cols[np.flatnonzero(ok)[np.argmax(wc[ok])]])
        alive[best] = False
        seq.append((best, int(pr[:, best].sum()), int(pm[:, best].sum())))
        avail &= ~pm[:, best]
    return seq


def _holm(
    seq: list[tuple[int, int, int]],
    masks: np.ndarray,
    y: np.ndarray,
    held: np.ndarray,
    open_rows: np.ndarray,
    then_idx: np.ndarray,
    keys: list[tuple[str, str]],
    cfg: MiningConfig,
    result: MiningResult,
) -> list[int]:
    """Test on the newer labels; accepted candidates in file order (at most max_rules).

    Each candidate is measured on every newer record it matches that no existing rule decides
    (not only those it would decide after other suggestions: the sets are fixed before any label
    is read, so each test is valid whatever the others found). Which to test is decided first,
    without the newer labels: a candidate whose estimated precision (prune rows, add-one) gives
    it less than an even chance to clear the bar with the newer records it matches is not tested.
    The m tested ones go through Holm's step-down at 1 − confidence: the chance that any accepted
    rule's precision is below the bar is at most 1 − confidence. Each accepted rule reports its
    own Clopper–Pearson bound at the run's confidence.
    """
    alpha = 1.0 - cfg.confidence
    yh = y[held]
    entries: list[dict[str, Any]] = []
    tested: list[tuple[int, int, int, dict[str, Any]]] = []
    for j, prune_right, prune_n in seq:
        region = masks[held, j] & open_rows[held]
        nn = int(region.sum())
        estimate = (prune_right + 1) / (prune_n + 2)
        power = pass_probability(nn, estimate, cfg.bar, cfg.confidence)
        entry: dict[str, Any] = {
            "when": keys[j][0],
            "then": keys[j][1],
            "decided": nn,
            "prune": {"decided": prune_n, "correct": prune_right},
            "power": power,
        }
        entries.append(entry)
        if power < MIN_POWER:
            entry["outcome"] = (
                f"untested: matches {nn} newer records; at the {estimate:.1%} precision the "
                f"older labels suggest, the chance to clear the bar is {power:.0%}"
            )
            continue
        c = int((yh[region] == then_idx[j]).sum())
        entry |= {"correct": c, "lower_bound": clopper_pearson_lower(c, nn, cfg.confidence)}
        tested.append((j, c, nn, entry))
    m = len(tested)
    # Holm: sort by p-value, i.e. by how far the bound clears the bar at a common level
    ranked = sorted(
        range(m),
        key=lambda i: (_tail(tested[i][1], tested[i][2], cfg.bar), i),
    )
    accepted_set: set[int] = set()
    stopped = False
    for rank, i in enumerate(ranked):
        j, c, nn, entry = tested[i]
        level = 1.0 - alpha / (m - rank)
        bound = clopper_pearson_lower(c, nn, level)
        entry |= {"holm_confidence": level, "holm_lower_bound": bound}
        if not stopped and bound >= cfg.bar:
            entry["outcome"] = "accepted"
            accepted_set.add(j)
            continue
        entry["outcome"] = (
            "not shown: a test before it in Holm's order failed"
            if stopped
            else f"not shown: {c}/{nn} right; bound {bound:.1%} at Holm's level {level:.2%}"
        )
        stopped = True
    accepted = [j for j, *_ in seq if j in accepted_set][: cfg.max_rules]
    for entry, (j, *_) in zip(entries, seq, strict=True):
        if j in accepted_set and j not in accepted:
            entry["outcome"] = f"accepted but over --max-rules ({cfg.max_rules})"
    result.tested.extend(entries)
    return accepted


def _tail(c: int, n: int, bar: float) -> float:
    """Holm's p-value: P(at least c right of n) if the precision were exactly the bar."""
    return 1.0 if c == 0 else betainc(float(c), float(n - c + 1), bar)


def _coverage(held, decided, w, learned_hit, y=None, first=None, then_idx=None) -> dict:
    """On the newer records: what the existing rules decide, and what the suggestions add (in
    file order, first hit), with how many of those they get right."""
    nh = len(held)
    by_existing = int(decided[held].sum()) if nh else 0
    by_learned = int(learned_hit[held].sum()) if nh else 0
    open_w = float(w[held][~decided[held]].sum()) if nh else 0.0
    learned_w = float(w[held][learned_hit[held]].sum()) if nh else 0.0
    correct = 0
    if by_learned and y is not None and first is not None and then_idx is not None:
        rows = held[learned_hit[held]]
        correct = int((y[rows] == then_idx[first[rows]]).sum())
    return {
        "records": nh,
        "decided_by_existing_rules": by_existing,
        "decided_by_suggestions": by_learned,
        "suggestions_correct": correct,
        "suggestions_precision": correct / by_learned if by_learned else None,
        "share_existing": by_existing / nh if nh else 0.0,
        "share_added": by_learned / nh if nh else 0.0,
        "share_of_open_weight": learned_w / open_w if open_w else 0.0,
    }


# ------------------------------------------------------------------------------ examples


def _value(v: Any, vtype: str) -> Any:
    if vtype == "datetime":
        norm = NORMALISERS["datetime"](v)
        return None if norm is None else norm.isoformat() + "Z"
    norm = NORMALISERS[vtype](v)
    if isinstance(norm, float) and norm.is_integer() and abs(norm) < 1e15:
        return int(norm)
    return norm


def _record(frame: pd.DataFrame, row: int, names: list[str], fields: Mapping[str, str]) -> dict:
    out: dict[str, Any] = {}
    for name in names:
        if name not in frame.columns:
            continue
        v = _value(frame[name].iat[row], VALUE_TYPE[fields[name]])
        if v is not None:
            out[name] = v
    return out


def _examples(
    j: int,
    atoms: tuple[_Atom, ...],
    frame: pd.DataFrame,
    y: np.ndarray,
    then_idx: np.ndarray,
    first: np.ndarray,
    decided: np.ndarray,
    existing: RuleSet,
    cands: RuleSet,
    accepted: list[int],
    fields: Mapping[str, str],
) -> tuple[Example, ...]:
    """One newest real record it decides rightly, one near miss that no rule decides; each cut to
    the fields this rule reads when the whole rule set still decides the cut record the same."""
    then = cands.rules[j].then
    own = [f for f in fields if f in fields_of(cands.rules[j].expr)]  # type: ignore[arg-type]
    read = set(existing.used_fields) | {
        f
        for i in accepted
        for f in fields_of(cands.rules[i].expr)  # type: ignore[arg-type]
    }
    every = [f for f in fields if f in read]

    def outcome(rec: dict) -> str | None:
        hit = existing.match_record(rec)
        if hit is not None:
            return hit.then
        holds = cands.matches_each(rec)
        for i in accepted:
            if holds[i]:
                return cands.rules[i].then
        return None

    def cut(row: int, want: str | None) -> dict:
        """The record with only this rule's fields, plus those of any rule that a missing field
        made fire; all the fields the rules read if that does not settle it."""
        names = list(own)
        for _ in range(4):
            rec = _record(frame, row, names, fields)
            if outcome(rec) == want:
                return rec
            hit = existing.match_record(rec)
            extra = fields_of(hit.expr) if hit is not None and hit.expr is not None else set()
            if hit is None:
                holds = cands.matches_each(rec)
                i = next((i for i in accepted if holds[i]), None)
                extra = fields_of(cands.rules[i].expr) if i is not None else set()  # type: ignore[arg-type]
            more = [f for f in fields if f in extra and f not in names]
            if not more:
                break
            names += more
        return _record(frame, row, every, fields)

    out: list[Example] = []
    pos = np.flatnonzero((first == j) & (y == then_idx[j]))
    if len(pos):
        out.append(Example(cut(int(pos[-1]), then), then))
    none = np.flatnonzero(~decided & (first < 0))[-20_000:]
    if len(none):
        parts = _as_ruleset(
            [(condition_text((a,)), DEFER) for a in atoms], cands.fields, cands.resolutions
        )
        near = parts.rule_masks(frame.iloc[none]).sum(axis=1)
        best = int(none[np.flatnonzero(near == near.max())[-1]])
        out.append(Example(cut(best, None), None))
    return tuple(out)
