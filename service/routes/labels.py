"""`POST /v1/labels` (one label or `{labels: [...]}`, idempotent), `GET /v1/deferred` (the
queue a reviewer works through) and `GET /v1/audits` (automatic decisions sampled for audit,
oldest first), both paged by cursor. All need an API key: labels change what the model learns,
the queues return records. A record's first label, when its decision was audited, is evidence
for the precision guard: it is folded into the served version's guard in the labels' own
transaction (service/guard_keeper.py), and this worker serves the new verdict as soon as it
commits."""

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
        out = write_labels(svc, pairs, source)
        svc.metrics.latency.labels("labels").observe(time.perf_counter() - t0)
        return out

    @api.get(
        "/v1/deferred",
        response_model=DeferredPage,
        response_model_exclude_unset=True,
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
        page = queue_page(svc, "deferred", limit, cursor)
        _link(request, response, page)
        return page

    @api.get(
        "/v1/audits",
        response_model=DeferredPage,
        response_model_exclude_unset=True,
        summary="Automatic decisions sampled for audit, unlabelled; the oldest first",
        description="Label these like deferrals (POST /v1/labels): their labels are the "
        "precision guard's evidence. Labelling them in this order keeps its test valid. Pass "
        "the `next` of a page as `cursor` to read the following one.",
        responses=problems(*KEY_KINDS, "invalid-request", "not-ready", "store-unavailable"),
    )
    def audits(
        request: Request,
        response: Response,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="items per page")] = 50,
        cursor: Annotated[
            str | None, Query(max_length=200, description="the `next` of the previous page")
        ] = None,
    ) -> dict:
        page = queue_page(svc, "audits", limit, cursor)
        _link(request, response, page)
        return page

    return api


def write_labels(svc: Service, pairs: list[tuple[str, str]], source: str) -> LabelsOut:
    """Store true resolutions: what `POST /v1/labels` and the console's label buttons call.

    A record's first label, when its decision was audited, is folded into the served version's
    guard in the same transaction, and this worker serves the new verdict once it commits."""
    policy = svc.holder.policy if svc.holder else None
    guard = svc.guard if policy is not None else None
    changed: list[dict] = []
    after = guard.after_labels(policy, changed) if guard is not None else None
    result = svc.the_store().upsert_labels(svc.domain, pairs, source=source, after=after)
    if guard is not None and changed:
        guard.accept(policy, changed[0])
    return LabelsOut(**result.to_dict())


def queue_page(svc: Service, queue: str, limit: int, cursor: str | None) -> dict:
    """A page of a labelling queue (`deferred` in the order the API ranks it, or `audits` oldest
    first) after `cursor`: `GET /v1/deferred`, `GET /v1/audits` and the console's pages.

    Read as `limit + 1` items: the extra one says a next page exists."""
    after = decode_cursor(cursor) if cursor is not None else None
    store = svc.the_store()
    if queue == "audits":
        items, total = store.audits(svc.domain, limit + 1, after), store.audit_depth(svc.domain)
    else:
        items, total = store.deferred(svc.domain, limit + 1, after), store.queue_depth(svc.domain)
    nxt = encode_cursor(key_of(items[limit - 1])) if len(items) > limit else None
    return {"items": items[:limit], "total": total, "limit": limit, "next": nxt}


def _link(request: Request, response: Response, page: dict) -> None:
    if page["next"] is not None:
        query = urlencode({"limit": page["limit"], "cursor": page["next"]})
        response.headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
