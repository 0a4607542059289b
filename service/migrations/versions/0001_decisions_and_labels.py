"""Decision log and labels.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "decisions",
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
    )
    op.create_index("ix_decisions_domain_record", "decisions", ["domain", "record_id", "id"])
    op.create_index("ix_decisions_domain_decided", "decisions", ["domain", "decided_at"])
    op.create_table(
        "labels",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("domain", sa.String(100), nullable=False),
        sa.Column("record_id", sa.String(200), nullable=False),
        sa.Column("resolution", sa.String(200), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("labelled_at", _When, nullable=False),
        sa.Column("updated_at", _When, nullable=False),
        sa.UniqueConstraint("domain", "record_id", name="uq_labels_domain_record"),
    )


def downgrade() -> None:
    op.drop_table("labels")
    op.drop_index("ix_decisions_domain_decided", table_name="decisions")
    op.drop_index("ix_decisions_domain_record", table_name="decisions")
    op.drop_table("decisions")
