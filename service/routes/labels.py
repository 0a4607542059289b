"""`POST /v1/labels` (one label or `{labels: [...]}`, idempotent) and `GET /v1/deferred` (the
queue a reviewer works through, paged by cursor). Both need an API key: labels change what the
model learns, and the queue returns records."""

import time
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Query, Request, Response

from autoresolve.service.paging import decode_cursor, encode_cursor
from autoresolve.service.routes.common import KEY_KINDS, needs_key, problems
from autoresolve.service.schemas import DeferredPage, LabelsOut
from autoresolve.service.state import Service
from autoresolve.service.store import key_of

MAX_PAGE = 1000


def router(svc: Service) -> APIRouter:
    Label = svc.models.label
    Labels = svc.models.labels
    domain = svc.domain
    api = APIRouter(tags=["labels"], dependencies=needs_key(svc.settings))

    @api.post(
        "/v1/labels",
        response_model=LabelsOut,
        summary="Send true resolutions (one label, or {labels: [...]}); idempotent",
        responses=problems(
            *KEY_KINDS,
            "payload-too-large",
            "invalid-request",
            "invalid-label",
            "not-ready",
            "store-unavailable",
        ),
    )
    def post_labels(
        body: Annotated[
            Label | Labels,  # type: ignore[valid-type]
            Body(openapi_examples=svc.examples.labels or None),
        ],
    ) -> LabelsOut:
        t0 = time.perf_counter()
        if isinstance(body, Labels):
            pairs = [(lab.record_id, lab.resolution) for lab in body.labels]
            source = body.source
        else:
            pairs, source = [(body.record_id, body.resolution)], "api"
        result = svc.the_store().upsert_labels(domain, pairs, source=source)
        svc.metrics.latency.labels("labels").observe(time.perf_counter() - t0)
        return LabelsOut(**result.to_dict())

    @api.get(
        "/v1/deferred",
        response_model=DeferredPage,
        summary="Deferred, unlabelled records; the most instructive first, paged by cursor",
        description=(
            "Pass the `next` of a page as `cursor` to read the following one (also in the "
            '`Link: <…>; rel="next"` header). Records labelled meanwhile leave the queue '
            "without making the next page skip any."
        ),
        responses=problems(*KEY_KINDS, "invalid-request", "not-ready", "store-unavailable"),
    )
    def deferred(
        request: Request,
        response: Response,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="items per page")] = 50,
        cursor: Annotated[
            str | None, Query(max_length=200, description="the `next` of the previous page")
        ] = None,
    ) -> dict:
        after = decode_cursor(cursor) if cursor is not None else None
        store = svc.the_store()
        items = store.deferred(domain, limit=limit + 1, after=after)
        total = store.queue_depth(domain)
        nxt = encode_cursor(key_of(items[limit - 1])) if len(items) > limit else None
        items = items[:limit]
        if nxt is not None:
            query = urlencode({"limit": limit, "cursor": nxt})
            response.headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
        return {"items": items, "total": total, "limit": limit, "next": nxt}

    return api
