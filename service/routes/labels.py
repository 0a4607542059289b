"""`POST /v1/labels` (one label or `{labels: [...]}`, idempotent) and `GET /v1/deferred` (the
queue a reviewer works through). Both need an API key: labels change what the model learns,
and the queue returns records."""

import time
from typing import Annotated

from fastapi import APIRouter, Query

from autoresolve.service.routes.common import ERRORS, needs_key
from autoresolve.service.schemas import DeferredPage, LabelsOut
from autoresolve.service.state import Service


def router(svc: Service) -> APIRouter:
    Label = svc.models.label
    Labels = svc.models.labels
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
        out = write_labels(svc, pairs, source)
        svc.metrics.latency.labels("labels").observe(time.perf_counter() - t0)
        return out

    @api.get(
        "/v1/deferred",
        response_model=DeferredPage,
        response_model_exclude_unset=True,
        summary="Deferred, unlabelled records; the most instructive first",
    )
    def deferred(
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ) -> dict:
        return deferred_page(svc, limit, offset)

    return api


def write_labels(svc: Service, pairs: list[tuple[str, str]], source: str) -> LabelsOut:
    """Store true resolutions: what `POST /v1/labels` and the console's label buttons call."""
    result = svc.the_store().upsert_labels(svc.domain, pairs, source=source)
    return LabelsOut(**result.to_dict())


def deferred_page(svc: Service, limit: int, offset: int) -> dict:
    """A page of the deferred queue in the order the API ranks it (`GET /v1/deferred` and the
    console's queue page)."""
    store = svc.the_store()
    items = store.deferred(svc.domain, limit=limit, offset=offset)
    total = store.queue_depth(svc.domain)
    nxt = offset + len(items) if offset + len(items) < total else None
    return {"items": items, "total": total, "limit": limit, "offset": offset} | {"next_offset": nxt}
