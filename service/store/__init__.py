"""The decision store: every decision with its record, the labels that arrive later, the queue.

SQLite (WAL) by default, PostgreSQL by URL (the store for several replicas). One job per module:

| module | job |
|---|---|
| `tables` | the three tables (the alembic migrations in `service/migrations` create them) |
| `engine` | an engine with each backend's settings (WAL, durability, lock waits) |
| `schema` | migrations: bring a store up to date, keeping its data |
| `writes` | the decision log's write path: multi-row INSERTs and the group-commit writer thread |
| `health` | the SQLite file's identity (deleted or replaced?) and the writer's commits |
| `label_store` | labels upserted by record id, bound to the decision they label, with history |
| `labelling_queue` | deferred, unlabelled decisions, the most instructive first |
| `frames` | the log as tables for retraining, reports and replays |
| `decision_store` | `DecisionStore`, the object that offers all of the above |

A decision's row and its JSON come from `service/decision_codec.py`, never from here.
"""

from autoresolve.service.store.decision_store import DecisionStore
from autoresolve.service.store.engine import make_engine
from autoresolve.service.store.errors import LabelError, StoreUnavailable
from autoresolve.service.store.label_store import LabelResult
from autoresolve.service.store.labelling_queue import QueueKey, key_of
from autoresolve.service.store.schema import MIGRATIONS
from autoresolve.service.store.tables import metadata

__all__ = [
    "MIGRATIONS",
    "DecisionStore",
    "LabelError",
    "LabelResult",
    "QueueKey",
    "StoreUnavailable",
    "key_of",
    "make_engine",
    "metadata",
]
