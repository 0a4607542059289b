"""Alembic migrations of the decision store (run by `DecisionStore.migrate()`)."""
