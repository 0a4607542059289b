"""What the routes share: settings, domain, generated models, store, policy holder, metrics.

The lifespan fills in the store and the policy holder; until then (and while no policy is
loaded) `policy()` and `the_store()` raise NotReady, which the error handlers answer with 503.
"""

from __future__ import annotations

from typing import Any

from autoresolve.model.domain import Domain
from autoresolve.model.serving import ServedPolicy
from autoresolve.service.errors import NotReady
from autoresolve.service.examples import RequestExamples
from autoresolve.service.guard_keeper import GuardKeeper
from autoresolve.service.metrics import Metrics
from autoresolve.service.reload import PolicyHolder
from autoresolve.service.schemas import RequestModels
from autoresolve.service.settings import Settings
from autoresolve.service.store import DecisionStore


class Service:
    def __init__(
        self,
        settings: Settings,
        domain: Domain,
        models: RequestModels,
        metrics: Metrics,
        examples: RequestExamples | None = None,
    ):
        self.settings = settings
        self.domain = domain
        self.models = models
        self.examples = examples or RequestExamples()
        self.metrics = metrics
        self.store: DecisionStore | None = None
        self.holder: PolicyHolder | None = None
        self.guard: GuardKeeper | None = None

    @property
    def record_fields(self) -> list[str]:
        return [self.domain.id, *self.domain.field_types]

    def policy(self) -> Any:
        policy = self.holder.policy if self.holder else None
        if policy is None:
            refused = self.holder.status.refused if self.holder else {}
            if refused:
                version, why = next(reversed(refused.items()))
                raise NotReady(
                    f"no policy loaded for domain '{self.domain.name}': the registry's "
                    f"@champion (version {version}) was refused: {why}. Promote a version that "
                    "passes (`autoresolve models promote`), then POST /v1/admin/reload."
                )
            raise NotReady(
                f"no policy loaded yet for domain '{self.domain.name}': register one "
                f"(`autoresolve train --domain {self.settings.domain}`); it is picked up within "
                f"{self.settings.reload_interval_s:g}s."
            )
        return policy

    def served(self) -> ServedPolicy:
        """The policy as served: audited and guarded (model/serving.py); no store round trip."""
        policy = self.policy()
        if self.guard is None:
            raise NotReady("the precision guard is not open yet; the service is starting.")
        return self.guard.served(policy)

    def the_store(self) -> DecisionStore:
        if self.store is None:
            raise NotReady("the decision store is not open yet; the service is starting.")
        return self.store
