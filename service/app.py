"""The HTTP service: one record in, one decision out, logged before the answer leaves.

`create_app(settings)` builds everything from the domain file (request models, OpenAPI); the
lifespan opens the store and loads the champion policy, so importing this module does nothing.
`POST /v1/resolve` runs on the event loop (a thread hop costs more than one decision), in front
of the middleware stack (service/fastlane.py), with the records of one loop turn decided and
logged together (service/turns.py); the other handlers are plain `def` in the thread pool.
The decision logic itself lives in the policy (model/); a handler validates, asks, logs, answers.
"""

import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import sys
import time
from collections.abc import Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio.to_thread
import pandas as pd
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.routing import Route

from autoresolve.model.decision import DECISION_COLUMNS, Decision
from autoresolve.model.domain import Domain, load_domain
from autoresolve.service import store as store_mod
from autoresolve.service.auth import API_KEY_HEADER, check_api_key
from autoresolve.service.domains import complete_domain
from autoresolve.service.errors import (
    BodyLimitMiddleware,
    NotReady,
    as_body_errors,
    install_handlers,
)
from autoresolve.service.fastlane import FastLaneApp
from autoresolve.service.metrics import Metrics
from autoresolve.service.reload import PolicyHolder, PolicySource, RegistrySource
from autoresolve.service.schemas import (
    BatchOut,
    DecisionOut,
    DeferredPage,
    LabelsOut,
    Problem,
    build_models,
)
from autoresolve.service.settings import Settings, load_settings
from autoresolve.service.turns import TurnBatcher

log = logging.getLogger("autoresolve.service")

_JSON = "application/json"
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": desc}
    for code, desc in {
        401: "API key missing",
        403: "API key not valid",
        413: "body or batch too large",
        422: "invalid input; `field` names it",
        503: "no policy loaded yet, or the decision store is unavailable",
    }.items()
}


# One encoder, made once: json.dumps with non-default options builds a new one per call.
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _dumps(payload: Any) -> bytes:
    return _encode(payload).encode("utf-8")


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return _clean(value.item())
    if value is pd.NaT:
        return None
    return value


def decision_dict(row: Mapping[str, Any] | Decision) -> dict[str, Any]:
    """A Decision or a decide_frame row as the JSON shape of DecisionOut."""
    if isinstance(row, Decision):  # the hot path: no dataclasses.asdict deep copy
        at = row.decided_at
        return {
            "record_id": str(row.record_id),
            "outcome": row.outcome,
            "resolution": row.resolution,
            "source": row.source,
            "rule_id": row.rule_id,
            "confidence": _clean(row.confidence),
            "threshold": _clean(row.threshold),
            "defer_reason": row.defer_reason,
            "candidates": [
                {"resolution": c.resolution, "probability": float(c.probability)}
                for c in row.candidates
            ],
            "policy_version": str(row.policy_version or ""),
            "decided_at": at.isoformat() if hasattr(at, "isoformat") else str(at or ""),
        }
    d = dict(row)
    out = {c: _clean(d.get(c)) for c in DECISION_COLUMNS}
    out["record_id"] = str(out["record_id"])
    out["candidates"] = store_mod._candidates(d.get("candidates"))
    out["policy_version"] = str(out["policy_version"] or "")
    at = d.get("decided_at")
    out["decided_at"] = at.isoformat() if hasattr(at, "isoformat") else str(at or "")
    return out


class Service:
    """What the handlers share: settings, domain, store, policy holder, metrics."""

    def __init__(self, settings: Settings, domain: Domain, metrics: Metrics):
        self.settings = settings
        self.domain = domain
        self.metrics = metrics
        self.store: store_mod.DecisionStore | None = None
        self.holder: PolicyHolder | None = None

    def policy(self) -> Any:
        policy = self.holder.policy if self.holder else None
        if policy is None:
            raise NotReady(
                f"no policy loaded yet for domain '{self.domain.name}': register one "
                f"(`autoresolve train --domain {self.settings.domain}`); it is picked up within "
                f"{self.settings.reload_interval_s:g}s."
            )
        return policy

    def the_store(self) -> store_mod.DecisionStore:
        if self.store is None:
            raise NotReady("the decision store is not open yet; the service is starting.")
        return self.store


def create_app(
    settings: Settings | None = None,
    policy_source: PolicySource | None = None,
    store: store_mod.DecisionStore | None = None,
) -> FastAPI:
    settings = settings or load_settings()
    domain = complete_domain(load_domain(settings.domain), settings)  # resolutions: see there
    models = build_models(
        domain, max_batch=settings.max_batch_records, max_text_chars=settings.max_text_chars
    )
    metrics = Metrics()
    svc = Service(settings, domain, metrics)
    own_store = store is None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        svc.store = store or store_mod.DecisionStore.from_url(
            settings.store_url,
            busy_timeout_ms=settings.store_busy_timeout_ms,
            synchronous=settings.sqlite_synchronous,
            group_commit=settings.group_commit,
            writer_process=settings.group_commit and settings.log_writer_process,
        )
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threadpool_size
        try:
            await run_in_threadpool(svc.store.migrate)
        except store_mod.StoreUnavailable as exc:
            log.error("store not ready at start-up (will answer 503 until it is): %s", exc)
        svc.store.start_log_writer(asyncio.get_running_loop())
        source = policy_source or RegistrySource(
            domain.name, settings.tracking_uri, settings.artifact_root
        )
        svc.holder = PolicyHolder(
            source,
            domain,
            on_change=lambda p, v: (metrics.set_policy(domain.name, v), _freeze_heap()),
            on_result=lambda r: metrics.reloads.labels(r).inc(),
        )
        result = await run_in_threadpool(svc.holder.check_now)
        log.info("start-up policy check: %s", result)
        _freeze_heap()
        svc.holder.start(settings.reload_interval_s)
        try:
            yield
        finally:
            svc.holder.stop()
            if own_store:
                svc.store.close()

    app = FastLaneApp(
        max_body_bytes=settings.max_body_bytes,
        title=f"autoresolve — {domain.name}",
        version="1",
        description=(
            f"Decides the resolution of `{domain.name}` exception records: rules first, then a "
            "certified model; everything else is deferred and queued for labelling. "
            + (domain.description or "")
        ),
        lifespan=lifespan,
        responses={500: {"model": Problem, "description": "unexpected error (reference only)"}},
        telemetry=_telemetry(),
    )
    app.state.service = svc
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    record_fields = [domain.id, *domain.field_types]
    label_fields = ["record_id", "resolution"]
    for_records = {"": record_fields, "records": []}
    for i in range(min(settings.max_batch_records, 1000)):
        for_records[f"records.{i}"] = record_fields
    for_labels = {"": [*label_fields, "labels", "source"]}
    for i in range(min(settings.max_batch_records, 1000)):
        for_labels[f"labels.{i}"] = label_fields
    install_handlers(
        app,
        {"/v1/labels": for_labels, "*": for_records},
        unions={"/v1/labels": (models.label.__name__, models.labels.__name__)},
        on_error=lambda k: metrics.errors.labels(k).inc(),
    )

    # async: a sync dependency would cost a thread-pool hop per request
    async def api_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        check_api_key(x_api_key, settings.keys)

    async def resolve_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if settings.resolve_requires_key:
            check_api_key(x_api_key, settings.keys)

    # for OpenAPI only (the header is checked in the handler, see the plain route below)
    resolve_deps = [Depends(resolve_key)] if settings.resolve_requires_key else []
    needs_key = settings.resolve_requires_key
    key_header = API_KEY_HEADER.lower()
    resolve_latency = metrics.latency.labels("resolve")
    RecordModel = models.record
    RecordFromJson = models.record_json
    BatchModel = models.batch
    LabelModel = models.label
    LabelsModel = models.labels

    def _record(body: Any) -> dict[str, Any]:
        return body.model_dump(mode="json")

    record_ref = {"$ref": f"#/components/schemas/{RecordModel.__name__}"}

    @app.post(
        "/v1/resolve",
        response_model=DecisionOut,
        responses=ERRORS,
        dependencies=resolve_deps,
        summary="Decide one record",
        tags=["decisions"],
        openapi_extra={
            "requestBody": {"required": True, "content": {_JSON: {"schema": record_ref}}}
        },
    )
    async def resolve(request: Request) -> Response:
        return Response(await resolve_bytes(request.scope, await request.body()), media_type=_JSON)

    key_bytes = key_header.encode()
    turns = TurnBatcher(domain.name, svc.policy, svc.the_store, decision_dict)

    async def resolve_bytes(scope: Any, body: bytes) -> bytes:
        # The hot path (served by the fast lane, see service/fastlane.py): pydantic parses and
        # validates the JSON bytes in one pass; the records of one loop turn are decided on the
        # loop (cheaper than a thread hop) and logged together (service/turns.py); the commit is
        # awaited, not blocked on, and is the last step that can fail (the fast lane replays a
        # failed request through the full stack).
        t0 = time.perf_counter()
        if needs_key:
            given = next((v for k, v in scope["headers"] if k == key_bytes), None)
            check_api_key(given.decode("latin-1") if given is not None else None, settings.keys)
        model = RecordModel if b"\\u0000" in body else RecordFromJson
        try:
            record = model.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(as_body_errors(exc), body=body) from None
        out = await turns.resolve(_record(record), record.model_dump_json())
        metrics.count([out])
        resolve_latency.observe(time.perf_counter() - t0)
        return _dumps(out)

    # The documented APIRoute above gives OpenAPI the request and Decision shapes. Requests are
    # answered by the fast lane; the plain route (matched before the APIRoute: FastAPI's
    # per-request dependency solving and exit stack cost ~30 µs the handler does not use) serves
    # what the fast lane hands over (errors, chunked bodies), through the same exception handlers.
    app.router.routes.insert(0, Route("/v1/resolve", resolve, methods=["POST"]))
    app.fast_route("POST", "/v1/resolve", resolve_bytes)

    @app.post(
        "/v1/resolve/batch",
        response_model=BatchOut,
        responses=ERRORS,
        dependencies=resolve_deps,
        summary="Decide many records (one transaction in the log)",
        tags=["decisions"],
    )
    def resolve_batch(batch: BatchModel) -> Response:  # type: ignore[valid-type]
        t0 = time.perf_counter()
        policy = svc.policy()
        store = svc.the_store()
        recs = [_record(r) for r in batch.records]
        frame = pd.DataFrame.from_records(recs, columns=record_fields)
        decided = policy.decide_frame(frame)
        outs = [decision_dict(row) for row in decided.to_dict("records")]
        store.log_decisions(domain, outs, recs)
        metrics.count(outs)
        metrics.latency.labels("resolve_batch").observe(time.perf_counter() - t0)
        return Response(_dumps({"decisions": outs}), media_type=_JSON)

    @app.post(
        "/v1/labels",
        response_model=LabelsOut,
        responses=ERRORS,
        dependencies=[Depends(api_key)],
        summary="Send true resolutions (one label, or {labels: [...]}); idempotent",
        tags=["labels"],
    )
    def post_labels(body: LabelModel | LabelsModel) -> LabelsOut:  # type: ignore[valid-type]
        t0 = time.perf_counter()
        if isinstance(body, LabelsModel):
            pairs = [(lab.record_id, lab.resolution) for lab in body.labels]
            source = body.source
        else:
            pairs, source = [(body.record_id, body.resolution)], "api"
        result = svc.the_store().upsert_labels(domain, pairs, source=source)
        metrics.latency.labels("labels").observe(time.perf_counter() - t0)
        return LabelsOut(**result.to_dict())

    @app.get(
        "/v1/deferred",
        response_model=DeferredPage,
        responses=ERRORS,
        dependencies=[Depends(api_key)],
        summary="Deferred, unlabelled records; the most instructive first",
        tags=["labels"],
    )
    def deferred(
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ) -> Response:
        store = svc.the_store()
        items = store.deferred(domain, limit=limit, offset=offset)
        total = store.queue_depth(domain)
        nxt = offset + len(items) if offset + len(items) < total else None
        page = {"items": items, "total": total, "limit": limit, "offset": offset}
        return Response(_dumps(page | {"next_offset": nxt}), media_type=_JSON)

    @app.get("/v1/policy", summary="What is serving: version, rules, thresholds, certificate")
    def get_policy() -> JSONResponse:
        policy = svc.policy()
        described = json.loads(json.dumps(policy.describe(), default=_jsonable_default))
        status = svc.holder.status.to_dict() if svc.holder else {}
        return JSONResponse({"policy": described, "reload": status})

    @app.post(
        "/v1/admin/reload",
        dependencies=[Depends(api_key)],
        responses=ERRORS,
        summary="Check the registry's @champion now (retrying a refused version)",
        tags=["admin"],
    )
    def admin_reload() -> JSONResponse:
        if svc.holder is None:
            raise NotReady("the service is starting.")
        result = svc.holder.check_now(force=True)
        return JSONResponse({"result": result, "reload": svc.holder.status.to_dict()})

    @app.get("/healthz", summary="The process is alive", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="A policy is loaded and the store answers", tags=["ops"])
    def readyz() -> JSONResponse:
        problems = []
        if svc.holder is None or not svc.holder.ready:
            problems.append("no policy loaded")
        try:
            svc.the_store().ping()
        except (store_mod.StoreUnavailable, NotReady) as exc:
            problems.append(str(exc))
        policy = svc.holder.policy if svc.holder and svc.holder.ready else None
        body = {
            "ready": not problems,
            "policy_version": getattr(policy, "version", None),
            "registry_version": svc.holder.status.version if svc.holder else None,
            "problems": problems,
        }
        return JSONResponse(body, status_code=503 if problems else 200)

    @app.get("/metrics", summary="Prometheus metrics", tags=["ops"])
    def get_metrics() -> Response:
        if svc.store is not None:
            with contextlib.suppress(store_mod.StoreUnavailable):
                metrics.queue_depth.labels(domain.name).set(svc.store.queue_depth(domain))
        data, ctype = metrics.render()
        return Response(data, media_type=ctype)

    @app.get("/v1/ping", summary="A constant answer (the benchmark's baseline)", tags=["ops"])
    async def ping() -> Response:
        return Response(b'{"ok":true}', media_type=_JSON)

    async def ping_body(request: Request) -> Response:
        return Response(await ping_bytes(request.scope, await request.body()), media_type=_JSON)

    async def ping_bytes(scope: Any, body: bytes) -> bytes:
        return b'{"ok":true}'

    # The benchmark's strict baseline for resolve: served the same way (fast lane, plain route
    # behind it), reads a body of the same size, answers a constant (nothing validated, decided
    # or logged).
    app.router.routes.insert(0, Route("/v1/ping", ping_body, methods=["POST"]))
    app.fast_route("POST", "/v1/ping", ping_bytes)

    return app


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


def _jsonable_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if isinstance(o, set | tuple | frozenset):
        return list(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return str(o)


SWITCH_INTERVAL_S = 0.001


def app_from_env() -> FastAPI:
    """The uvicorn factory (`uvicorn --factory service.app:app_from_env`): settings from env.

    The GIL switch interval goes from 5 ms to 1 ms in a serving process: the decision-log thread
    needs the GIL back after each SQLite call, and while the loop is busy it waited up to 5 ms
    each time, holding every answer of its batch (A/B under wrk: p99 -3 ms, +3% req/s).
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    return create_app(load_settings())
