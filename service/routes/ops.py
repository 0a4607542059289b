"""Operations: liveness, readiness and Prometheus metrics."""

import contextlib

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from autoresolve.service.errors import NotReady
from autoresolve.service.metrics import CachedReading
from autoresolve.service.state import Service
from autoresolve.service.store import StoreUnavailable


def router(svc: Service) -> APIRouter:
    api = APIRouter(tags=["ops"])

    @api.get("/healthz", summary="The process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get(
        "/readyz",
        summary="A policy is loaded and the store can make decisions durable (its file is in "
        "place, its commits succeed and none is stalled)",
    )
    def readyz() -> JSONResponse:
        body = _readiness(svc)
        return JSONResponse(body, status_code=503 if body["problems"] else 200)

    depth = CachedReading(lambda: svc.the_store().queue_depth(svc.domain))
    audit_depth = CachedReading(lambda: svc.the_store().audit_depth(svc.domain))

    @api.get("/metrics", summary="Prometheus metrics")
    def get_metrics() -> Response:
        if svc.store is not None:
            with contextlib.suppress(StoreUnavailable):
                value = depth.get()
                if value is not None:
                    svc.metrics.queue_depth.labels(svc.domain.name).set(value)
                audits = audit_depth.get()
                if audits is not None:
                    svc.metrics.audit_depth.labels(svc.domain.name).set(audits)
        data, ctype = svc.metrics.render()
        return Response(data, media_type=ctype)

    return api


def _readiness(svc: Service) -> dict:
    problems = []
    holder = svc.holder
    if holder is None or not holder.ready:
        problems.append("no policy loaded")
    try:
        problems += svc.the_store().problems()
    except NotReady as exc:
        problems.append(str(exc))
    policy = holder.policy if holder and holder.ready else None
    return {
        "ready": not problems,
        "policy_version": getattr(policy, "version", None),
        "registry_version": holder.status.version if holder else None,
        "problems": problems,
    }
