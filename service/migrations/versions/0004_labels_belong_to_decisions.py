"""A label belongs to the decision it labels.

`labels.decision_id` (and the same on `label_history`) names the decision row whose record the
label trains on, so a later decision for the same record id never changes the training data.
Existing labels are bound to the newest decision of their record, the one they were paired with
until now; a label without any decision stays unbound (it pairs with the first decision logged
for its record, see `store/frames.py`).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("labels") as batch:
        batch.add_column(sa.Column("decision_id", _Id))
    with op.batch_alter_table("label_history") as batch:
        batch.add_column(sa.Column("decision_id", _Id))
    op.execute(
        "UPDATE labels SET decision_id = (SELECT MAX(d.id) FROM decisions d "
        "WHERE d.domain = labels.domain AND d.record_id = labels.record_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("label_history") as batch:
        batch.drop_column("decision_id")
    with op.batch_alter_table("labels") as batch:
        batch.drop_column("decision_id")
