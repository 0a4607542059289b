"""The log as tables, for retraining, reports and replays: decisions, and labelled decisions."""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from autoresolve.model.decision import SERVED_COLUMNS
from autoresolve.model.domain import Domain
from autoresolve.service.decision_codec import as_datetime, decision_json
from autoresolve.service.store.reads import read_rows
from autoresolve.service.store.tables import decisions, labels


def decisions_frame(engine: Engine, name: str, since: Any = None) -> pd.DataFrame:
    """Every logged decision (SERVED_COLUMNS) with its record's fields as further columns."""
    q = sa.select(decisions).where(decisions.c.domain == name)
    if since is not None:
        q = q.where(decisions.c.decided_at >= as_datetime(since))
    rows = read_rows(engine, q.order_by(decisions.c.id), "reading decisions")
    if not rows:
        return pd.DataFrame(columns=[*SERVED_COLUMNS, "record"])
    base = pd.DataFrame([decision_json(r) for r in rows], columns=list(SERVED_COLUMNS))
    recs = pd.DataFrame([r["record"] for r in rows])
    recs = recs[[c for c in recs.columns if c not in base.columns]]
    return pd.concat([base, recs], axis=1)


def labelled_frame(engine: Engine, domain: Domain | str, since: Any = None) -> pd.DataFrame:
    """Labelled records that the service decided: record fields, the label, `labelled_at`
    (time of the latest label change) and the decision it labels as `decision_*` columns.

    A label trains on the record of the decision it is bound to (`label_store.py`); an unbound
    one (written before its record was decided) on the first decision logged for its record.
    Decisions logged later for the same id never change either.

    The label column is the domain's label name when a Domain is given, else `resolution`.
    """
    name = domain.name if isinstance(domain, Domain) else str(domain)
    label_col = domain.label if isinstance(domain, Domain) else "resolution"
    rows = read_rows(engine, _labelled_query(name, since), "reading labels")
    cols_dec = [f"decision_{c}" for c in SERVED_COLUMNS if c != "record_id"]
    if not rows:
        return pd.DataFrame(columns=[label_col, "labelled_at", "label_source", *cols_dec])
    recs = pd.DataFrame([r["record"] for r in rows])
    recs[label_col] = [r["_label"] for r in rows]
    recs["labelled_at"] = pd.to_datetime([r["_labelled_at"] for r in rows], utc=True)
    recs["label_source"] = [r["_label_source"] for r in rows]
    dec = pd.DataFrame([decision_json(r) for r in rows], columns=list(SERVED_COLUMNS))
    for c in SERVED_COLUMNS:
        if c != "record_id":
            recs[f"decision_{c}"] = dec[c].to_numpy()
    if isinstance(domain, Domain) and domain.id not in recs.columns:
        recs[domain.id] = [r["_rid"] for r in rows]
    return recs


def _labelled_query(name: str, since: Any) -> sa.Select:
    """Each label of the domain joined to the decision it labels."""
    d2 = decisions.alias("d2")
    first = (
        sa.select(sa.func.min(d2.c.id))
        .where(d2.c.domain == labels.c.domain, d2.c.record_id == labels.c.record_id)
        .correlate(labels)
        .scalar_subquery()
    )
    labelled = sa.func.coalesce(labels.c.decision_id, first)
    q = (
        sa.select(
            labels.c.record_id.label("_rid"),
            labels.c.resolution.label("_label"),
            labels.c.updated_at.label("_labelled_at"),
            labels.c.source.label("_label_source"),
            decisions,
        )
        .select_from(labels)
        .join(decisions, decisions.c.id == labelled)
        .where(labels.c.domain == name)
    )
    if since is not None:
        q = q.where(labels.c.updated_at >= as_datetime(since))
    return q.order_by(labels.c.id)
