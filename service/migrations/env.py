"""Alembic environment, configured in code: `DecisionStore.migrate()` passes its connection.

Run from the command line, alembic needs `-x url=...` (there is no alembic.ini).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit(
            "pass the store URL: alembic -x url=sqlite:///var/autoresolve.db upgrade head"
        )
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, render_as_batch=conn.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
