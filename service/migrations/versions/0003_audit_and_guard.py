"""Audited decisions and the precision guard's state.

`decisions.audit` marks the automatic decisions sampled for audit (existing rows: not audited),
`decisions.guard_reason` says why the guard deferred a decision; `guard_states` holds one guard
per served policy version.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("audit", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("guard_reason", sa.Text))
    op.create_index("ix_decisions_audit", "decisions", ["domain", "audit", "id"])
    op.create_table(
        "guard_states",
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


def downgrade() -> None:
    op.drop_table("guard_states")
    op.drop_index("ix_decisions_audit", table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("guard_reason")
        batch.drop_column("audit")
