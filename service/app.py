"""The HTTP service: one record in, one decision out, logged before the answer leaves.

`create_app(settings)` builds everything from the domain file (request models, OpenAPI) in named
steps: the shared state, the lifespan, the middleware, the error handlers and one router per
resource (service/routes/). The lifespan opens the store and loads the champion policy, so
importing this module does nothing. Every route goes through FastAPI's own routing; the decision
logic lives in the policy (model/), and a handler validates, asks, logs, answers.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from autoresolve.model.domain import load_domain
from autoresolve.model.policy import default_rules
from autoresolve.service import console
from autoresolve.service.domains import complete_domain
from autoresolve.service.errors import BodyLimitMiddleware, install_handlers
from autoresolve.service.examples import domain_rules, request_examples
from autoresolve.service.guard_keeper import GuardKeeper
from autoresolve.service.metrics import Metrics
from autoresolve.service.openapi import install_openapi, problems_router
from autoresolve.service.problems import KINDS
from autoresolve.service.reload import PolicyHolder, PolicySource, RegistrySource
from autoresolve.service.routes import admin, decisions, labels, ops
from autoresolve.service.schemas import ProblemDetail, build_models
from autoresolve.service.settings import Settings, load_settings
from autoresolve.service.state import Service
from autoresolve.service.store import DecisionStore, StoreUnavailable

log = logging.getLogger("autoresolve.service")

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    settings: Settings | None = None,
    policy_source: PolicySource | None = None,
    store: DecisionStore | None = None,
) -> FastAPI:
    """The app for `settings` (default: from the environment). `policy_source` and `store`
    replace the registry and the configured store (tests); a given store is not closed."""
    settings = settings or load_settings()
    domain = complete_domain(load_domain(settings.domain), settings)  # resolutions: see there
    models = build_models(
        domain, max_batch=settings.max_batch_records, max_text_chars=settings.max_text_chars
    )
    examples = request_examples(domain, domain_rules(domain))
    svc = Service(settings, domain, models, Metrics(), examples)
    app = FastAPI(
        title=f"autoresolve — {domain.name}",
        version="1",
        description=(
            f"Decides the resolution of `{domain.name}` exception records: rules first, then a "
            "certified model; everything else is deferred and queued for labelling. "
            + (domain.description or "")
        ),
        lifespan=lifespan(svc, policy_source, store),
        responses={500: {"model": ProblemDetail, "description": KINDS["internal"].title}},
        telemetry=_telemetry(),
    )
    app.state.service = svc
    one_record = min(settings.max_record_bytes, settings.max_body_bytes)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        limits={"/v1/resolve": one_record, "/v1/ping": one_record},
        body_timeout_s=settings.body_timeout_s,
    )
    install_handlers(
        app,
        known_fields(svc),
        unions={"/v1/labels": (models.label.__name__, models.labels.__name__)},
        on_error=lambda kind: svc.metrics.errors.labels(kind).inc(),
    )
    for module in (decisions, labels, admin, ops):  # the scoring routes are matched first
        app.include_router(module.router(svc))
    app.include_router(problems_router())
    console.install(app, svc)
    install_openapi(app)
    return app


def known_fields(svc: Service) -> dict[str, dict[str, list[str]]]:
    """Per URL path, the field names allowed at each body path ('' top level, 'records.N' …):
    what a validation error's "Did you mean …?" chooses from."""
    n = min(svc.settings.max_batch_records, 1000)
    record_fields = svc.record_fields
    label_fields = ["record_id", "resolution"]
    for_records: dict[str, list[str]] = {"": record_fields, "records": []}
    for_records |= {f"records.{i}": record_fields for i in range(n)}
    for_labels = {"": [*label_fields, "labels", "source"]}
    for_labels |= {f"labels.{i}": label_fields for i in range(n)}
    return {"/v1/labels": for_labels, "*": for_records}


def lifespan(
    svc: Service, policy_source: PolicySource | None, store: DecisionStore | None
) -> Lifespan:
    """Start-up: open and migrate the store, load the champion, poll for new ones; shut-down:
    stop polling and close the store (unless the caller gave it)."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        settings = svc.settings
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threadpool_size
        svc.store = store or DecisionStore.from_url(
            settings.store_url,
            busy_timeout_ms=settings.store_busy_timeout_ms,
            synchronous=settings.sqlite_synchronous,
            group_commit=settings.group_commit,
            commit_timeout_s=settings.commit_timeout_s or None,
        )
        try:
            await run_in_threadpool(svc.store.migrate)
        except StoreUnavailable as exc:
            log.error("store not ready at start-up (will answer 503 until it is): %s", exc)
        svc.guard = GuardKeeper(
            svc.domain.name,
            svc.store,
            svc.metrics,
            audit_share=settings.audit_share,
            audit_seed=settings.audit_seed,
        )
        svc.holder = _policy_holder(svc, policy_source)
        log.info("start-up policy check: %s", await run_in_threadpool(svc.holder.check_now))
        _freeze_heap()
        svc.holder.start(settings.reload_interval_s)
        holder = svc.holder
        svc.guard.start(lambda: holder.policy, settings.guard_poll_ms / 1000.0)
        try:
            yield
        finally:
            svc.guard.stop()
            svc.holder.stop()
            svc.metrics.close()
            if store is None:
                svc.store.close()

    return run


def _policy_holder(svc: Service, source: PolicySource | None) -> PolicyHolder:
    domain, settings, metrics = svc.domain, svc.settings, svc.metrics
    source = source or RegistrySource(domain.name, settings.tracking_uri, settings.artifact_root)

    def changed(policy: object, version: str) -> None:
        metrics.set_policy(domain.name, version)
        if svc.guard is not None:
            svc.guard.policy_loaded(policy)
        _freeze_heap()

    return PolicyHolder(
        source,
        domain,
        on_change=changed,
        on_result=lambda result: metrics.reloads.labels(result).inc(),
        served_rules=lambda: default_rules(domain),
    )


def _telemetry() -> dict[str, bool] | None:
    """FastAPI's OpenTelemetry hooks cost a provider check per request; /metrics is Prometheus.

    Left on (FastAPI's defaults) when the environment configures OpenTelemetry (OTEL_*).
    """
    if any(k.startswith("OTEL_") for k in os.environ):
        return None
    return {"tracing": False, "metrics": False, "logs": False}


def _freeze_heap() -> None:
    """Move the long-lived heap (libraries, the policy) out of the collector's sight.

    A full collection otherwise walks hundreds of MB of objects that never die and shows up as
    100 ms+ stalls in the latency tail; frozen objects are skipped by every later collection.
    """
    gc.collect()
    gc.freeze()


SWITCH_INTERVAL_S = 0.001


def app_from_env() -> FastAPI:
    """The uvicorn factory (`autoresolve.service.app:app_from_env`): settings from env.

    The GIL switch interval goes from 5 ms to 1 ms in a serving process: the decision-log thread
    needs the GIL back after each database call, and while the loop is busy it waited up to 5 ms
    each time, holding every answer of its commit (A/B under wrk: p99 -3 ms, +3% req/s).
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    return create_app(load_settings())
