"""Label history and the deferred queue's priority.

Existing deferred decisions get the priority of their reason alone (no margin known in SQL);
new decisions get the full score computed by the store.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("priority", sa.Float))
    op.execute(
        "UPDATE decisions SET priority = CASE defer_reason "
        "WHEN 'novel' THEN 2.0 WHEN 'low_confidence' THEN 1.0 WHEN 'no_model' THEN 1.0 "
        "WHEN 'rule' THEN 0.5 ELSE 0.0 END WHERE outcome = 'deferred'"
    )
    op.create_index("ix_decisions_queue", "decisions", ["domain", "outcome", "priority"])
    op.create_table(
        "label_history",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("domain", sa.String(100), nullable=False),
        sa.Column("record_id", sa.String(200), nullable=False),
        sa.Column("resolution", sa.String(200), nullable=False),
        sa.Column("previous", sa.String(200)),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("changed_at", _When, nullable=False),
    )
    op.create_index("ix_label_history_record", "label_history", ["domain", "record_id"])
    op.execute(
        "INSERT INTO label_history (domain, record_id, resolution, previous, source, changed_at) "
        "SELECT domain, record_id, resolution, NULL, source, updated_at FROM labels"
    )


def downgrade() -> None:
    op.drop_index("ix_label_history_record", table_name="label_history")
    op.drop_table("label_history")
    op.drop_index("ix_decisions_queue", table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("priority")
