"""`POST /v1/labels` (one label or `{labels: [...]}`, idempotent), `GET /v1/deferred` (the
queue a reviewer works through) and `GET /v1/audits` (automatic decisions sampled for audit,
oldest first). All need an API key: labels change what the model learns, the queues return
records. A record's first label, when its decision was audited, is evidence for the precision
guard: it is folded into the served version's guard in the labels' own transaction
(service/guard_keeper.py), and this worker serves the new verdict as soon as it commits."""

import time
from typing import Annotated

from fastapi import APIRouter, Query

from autoresolve.service.routes.common import ERRORS, needs_key
from autoresolve.service.schemas import DeferredPage, LabelsOut
from autoresolve.service.state import Service


def router(svc: Service) -> APIRouter:
    Label = svc.models.label
    Labels = svc.models.labels
    domain = svc.domain
    api = APIRouter(tags=["labels"], responses=ERRORS, dependencies=needs_key(svc.settings))

    @api.post(
        "/v1/labels",
        response_model=LabelsOut,
        summary="Send true resolutions (one label, or {labels: [...]}); idempotent",
    )
    def post_labels(body: Label | Labels) -> LabelsOut:  # type: ignore[valid-type]
        t0 = time.perf_counter()
        if isinstance(body, Labels):
            pairs = [(lab.record_id, lab.resolution) for lab in body.labels]
            source = body.source
        else:
            pairs, source = [(body.record_id, body.resolution)], "api"
        policy = svc.holder.policy if svc.holder else None
        guard = svc.guard if policy is not None else None
        changed: list[dict] = []
        after = guard.after_labels(policy, changed) if guard is not None else None
        result = svc.the_store().upsert_labels(domain, pairs, source=source, after=after)
        if guard is not None and changed:
            guard.accept(policy, changed[0])
        svc.metrics.latency.labels("labels").observe(time.perf_counter() - t0)
        return LabelsOut(**result.to_dict())

    @api.get(
        "/v1/deferred",
        response_model=DeferredPage,
        summary="Deferred, unlabelled records; the most instructive first",
    )
    def deferred(
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ) -> dict:
        store = svc.the_store()
        items = store.deferred(domain, limit=limit, offset=offset)
        total = store.queue_depth(domain)
        return _page(items, total, limit, offset)

    @api.get(
        "/v1/audits",
        response_model=DeferredPage,
        summary="Automatic decisions sampled for audit, unlabelled; the oldest first",
        description="Label these like deferrals (POST /v1/labels): their labels are the "
        "precision guard's evidence. Labelling them in this order keeps its test valid.",
    )
    def audits(
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ) -> dict:
        store = svc.the_store()
        items = store.audits(domain, limit=limit, offset=offset)
        return _page(items, store.audit_depth(domain), limit, offset)

    return api


def _page(items: list[dict], total: int, limit: int, offset: int) -> dict:
    nxt = offset + len(items) if offset + len(items) < total else None
    return {"items": items, "total": total, "limit": limit, "offset": offset, "next_offset": nxt}
