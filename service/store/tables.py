"""The decision store's tables. The alembic migrations in `service/migrations` create them; a
test checks that the two agree."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("domain", sa.String(100), nullable=False),
    sa.Column("record_id", sa.String(200), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("resolution", sa.String(200)),
    sa.Column("source", sa.String(16)),
    sa.Column("rule_id", sa.String(200)),
    sa.Column("confidence", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("defer_reason", sa.String(32)),
    sa.Column("candidates", sa.JSON),
    sa.Column("policy_version", sa.String(200), nullable=False),
    sa.Column("decided_at", _When, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("priority", sa.Float),
    sa.Column("audit", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("guard_reason", sa.Text),
    sa.Index("ix_decisions_domain_record", "domain", "record_id", "id"),
    sa.Index("ix_decisions_domain_decided", "domain", "decided_at"),
    sa.Index("ix_decisions_queue", "domain", "outcome", "priority"),
    sa.Index("ix_decisions_audit", "domain", "audit", "id"),
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("domain", sa.String(100), nullable=False),
    sa.Column("record_id", sa.String(200), nullable=False),
    sa.Column("resolution", sa.String(200), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("labelled_at", _When, nullable=False),
    sa.Column("updated_at", _When, nullable=False),
    # the decision this label belongs to (decisions.id): its record is what the label trains on
    sa.Column("decision_id", _Id),
    sa.UniqueConstraint("domain", "record_id", name="uq_labels_domain_record"),
)

label_history = sa.Table(
    "label_history",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("domain", sa.String(100), nullable=False),
    sa.Column("record_id", sa.String(200), nullable=False),
    sa.Column("resolution", sa.String(200), nullable=False),
    sa.Column("previous", sa.String(200)),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("changed_at", _When, nullable=False),
    sa.Column("decision_id", _Id),
    sa.Index("ix_label_history_record", "domain", "record_id"),
)

# The precision guard of each served policy version (model/guard.py's GuardState as JSON), with
# what it applies in plain columns for reports; `seq` counts changes, so a worker checks one
# integer to know whether to re-read the row.
guard_states = sa.Table(
    "guard_states",
    metadata,
    sa.Column("domain", sa.String(100), primary_key=True),
    sa.Column("policy_version", sa.String(200), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("threshold", sa.Float),
    sa.Column("suspended", sa.Boolean, nullable=False),
    sa.Column("quarantined", sa.JSON, nullable=False),
    sa.Column("recertify", sa.Boolean, nullable=False),
    sa.Column("recertify_requested_at", _When),
    sa.Column("actions", sa.JSON, nullable=False),
    sa.Column("updated_at", _When, nullable=False),
)
