"""Operations: liveness, readiness, Prometheus metrics, and the benchmark's two baselines.

`GET /v1/ping` answers a constant. `POST /v1/ping` takes the same body as `POST /v1/resolve`
through the same stack (parsed and validated against the same record model, same key
dependency) and answers a constant: what resolve costs beyond it is the decision and its log.
"""

import contextlib

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from autoresolve.service.errors import NotReady
from autoresolve.service.routes.common import resolve_needs_key
from autoresolve.service.state import Service
from autoresolve.service.store import StoreUnavailable

_PONG = b'{"ok":true}'
_JSON = "application/json"


def router(svc: Service) -> APIRouter:
    Record = svc.models.record
    api = APIRouter(tags=["ops"])

    @api.get("/healthz", summary="The process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", summary="A policy is loaded and the store answers")
    def readyz() -> JSONResponse:
        body = _readiness(svc)
        return JSONResponse(body, status_code=503 if body["problems"] else 200)

    @api.get("/metrics", summary="Prometheus metrics")
    def get_metrics() -> Response:
        if svc.store is not None:
            with contextlib.suppress(StoreUnavailable):
                depth = svc.store.queue_depth(svc.domain)
                svc.metrics.queue_depth.labels(svc.domain.name).set(depth)
        data, ctype = svc.metrics.render()
        return Response(data, media_type=ctype)

    @api.get("/v1/ping", summary="A constant answer (the benchmark's baseline)")
    async def ping() -> Response:
        return Response(_PONG, media_type=_JSON)

    @api.post(
        "/v1/ping",
        dependencies=resolve_needs_key(svc.settings),
        include_in_schema=False,
    )
    async def ping_record(record: Record) -> Response:  # type: ignore[valid-type]
        return Response(_PONG, media_type=_JSON)

    return api


def _readiness(svc: Service) -> dict:
    problems = []
    holder = svc.holder
    if holder is None or not holder.ready:
        problems.append("no policy loaded")
    try:
        svc.the_store().ping()
    except (StoreUnavailable, NotReady) as exc:
        problems.append(str(exc))
    policy = holder.policy if holder and holder.ready else None
    return {
        "ready": not problems,
        "policy_version": getattr(policy, "version", None),
        "registry_version": holder.status.version if holder else None,
        "problems": problems,
    }
