"""What `rules suggest` mines from: the labelled history, and what each record is worth covering.

Labels come from the domain's data file (or --data) and, when a decision store exists, from its
labels (`DecisionStore.labelled_frame`; a store label wins over the file's for the same id, and
brings the decision the service actually made). A record is worth 1 when today's policy defers it
and `RESOLVED_WEIGHT` when the model already resolves it: a rule there adds an audit trail, not
autonomy. "Today" is the store's logged decision where there is one, else the champion policy's
decision (when a champion is registered), else every record no rule decides counts as deferred,
which is what happens without a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.domain import Domain
from autoresolve.model.learned_loop import RESOLVED_WEIGHT


@dataclass
class LabelledHistory:
    frame: pd.DataFrame  # schema types: id, fields, label (rows without a label dropped)
    weights: np.ndarray
    sources: dict[str, Any] = field(default_factory=dict)


def load_history(
    dom: Domain, data: Path | None, settings: Any, say: Any = print
) -> LabelledHistory:
    """The labelled records and their weights; raises DomainError/DatasetError/StoreUnavailable."""
    from autoresolve.model.datasets import load_domain_frame

    sources: dict[str, Any] = {}
    parts: list[pd.DataFrame] = []
    path = data if data is not None else dom.data_path
    if data is None and path is not None and not path.is_file() and not dom.generator:
        say(f"no data file at {path}; the decision store's labels only (or pass --data FILE)")
        path = None
    if path is not None:
        hist = load_domain_frame(dom, data, require_label=False)
        hist = hist[hist[dom.label].notna()] if dom.label in hist.columns else hist.iloc[:0]
        sources["data_file"] = str(path)
        sources["data_file_labelled"] = len(hist)
        parts.append(hist.assign(_model_resolved=np.nan))
    store = _store_labels(dom, settings)
    sources["store_labels"] = len(store)
    if len(store):
        ids = set(store[dom.id].astype(str))
        parts = [p[~p[dom.id].astype(str).isin(ids)] for p in parts]
        parts.append(store)
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        return LabelledHistory(frame, np.zeros(0), sources)
    resolved = np.array(frame.pop("_model_resolved"), dtype=np.float64)
    unknown = np.isnan(resolved)
    if unknown.any():
        by_champion = _champion_resolves(dom, settings, frame[unknown].reset_index(drop=True), say)
        if by_champion is not None:
            resolved[unknown] = by_champion
            sources["deferred_today"] = "store decisions, else the champion's"
        else:
            resolved[unknown] = 0.0
            sources["deferred_today"] = "store decisions, else no model (all deferred)"
    else:
        sources["deferred_today"] = "store decisions"
    weights = np.where(resolved > 0, RESOLVED_WEIGHT, 1.0)
    sources["model_resolved"] = int((resolved > 0).sum())
    return LabelledHistory(frame.reset_index(drop=True), weights, sources)


def _store_labels(dom: Domain, settings: Any) -> pd.DataFrame:
    """Labels in the decision store with their records, in schema types (empty without one)."""
    from autoresolve.model.records import coerce_frame
    from autoresolve.service.store import DecisionStore

    url = settings.store_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return pd.DataFrame()
    store = DecisionStore.from_url(url)
    try:
        raw = store.labelled_frame(dom)
    finally:
        store.close()
    if raw.empty or dom.label not in raw.columns:
        return pd.DataFrame()
    keep = [c for c in [dom.id, *dom.field_types, dom.label] if c in raw.columns]
    frame = coerce_frame(dom, raw[keep].copy())
    if dom.time and dom.time in frame.columns and "labelled_at" in raw.columns:
        # a record logged without its time field is placed at the time it was labelled
        when = pd.to_datetime(raw["labelled_at"], utc=True).to_numpy()
        frame[dom.time] = frame[dom.time].where(frame[dom.time].notna(), when)
    model = raw.get("decision_source")
    outcome = raw.get("decision_outcome")
    by_model = (
        (model.astype(object) == "model") & (outcome.astype(object) == "resolved")
        if model is not None and outcome is not None
        else pd.Series(False, index=raw.index)
    )
    frame["_model_resolved"] = by_model.to_numpy(dtype=np.float64)
    return frame[frame[dom.label].notna()]


def _champion_resolves(
    dom: Domain, settings: Any, frame: pd.DataFrame, say: Any
) -> np.ndarray | None:
    """1.0 where the registered champion's model resolves the record today; None without one."""
    uri = settings.tracking_uri
    local = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if local is not None and not local.is_file():
        return None
    try:
        from autoresolve.model import registry

        registry.configure(uri, settings.artifact_root)
        policy = registry.load_policy(dom.name)
        decided = policy.decide_frame(frame)
    except Exception as exc:  # no champion, another schema, an unreachable registry: weigh all 1
        say(f"no champion's decisions ({type(exc).__name__}: {exc}); every record counts 1")
        return None
    by_model = (decided["source"] == "model") & (decided["outcome"] == "resolved")
    return by_model.to_numpy(dtype=np.float64)
