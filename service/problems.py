"""Every error answer as an RFC 9457 problem detail, from one catalogue of kinds.

A kind names one way a request can fail (`invalid-record`, `store-unavailable` …): its status, its
title and what a caller should do. The answer's `type` is `/problems/<kind>`, a URI the service
itself resolves (`GET /problems/<kind>` describes the kind), so a client branches on `type`, a
person reads `detail`. Our extensions: `field` (the offending field, dotted) and `errors` (every
problem found when there were several).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "/problems/"


@dataclass(frozen=True)
class Kind:
    status: int
    title: str
    about: str  # what it means and what to do (GET /problems/<kind>, the README's table)


KINDS: dict[str, Kind] = {
    "invalid-request": Kind(
        422,
        "Invalid request",
        "The body or a parameter does not fit the endpoint's schema (wrong type, unknown or "
        "missing field, JSON that does not parse or nests too deep). `field` names the first "
        "problem, `errors` lists up to 20; fix them and send again.",
    ),
    "invalid-record": Kind(
        422,
        "Invalid record",
        "A record's value cannot be used by the domain (e.g. an unparseable timestamp). `field` "
        "names it; correct the value.",
    ),
    "invalid-label": Kind(
        422,
        "Invalid label",
        "A label names a resolution the domain does not know. `field` names it; use one of the "
        "domain's resolutions (listed in `detail`).",
    ),
    "unauthorized": Kind(
        401,
        "API key missing",
        "The endpoint needs a key in the X-API-Key header (one of AUTORESOLVE_API_KEYS).",
    ),
    "forbidden": Kind(
        403,
        "API key not valid",
        "The X-API-Key header holds a key the service does not know; check the key.",
    ),
    "not-found": Kind(404, "Not Found", "No endpoint at this path; /docs lists the endpoints."),
    "method-not-allowed": Kind(
        405,
        "Method Not Allowed",
        "The path exists but not for this method; the `Allow` header lists the methods it takes.",
    ),
    "payload-too-large": Kind(
        413,
        "Payload Too Large",
        "The body is larger than the endpoint's limit (AUTORESOLVE_MAX_RECORD_BYTES for one "
        "record, AUTORESOLVE_MAX_BODY_BYTES otherwise) or a batch holds more records than "
        "AUTORESOLVE_MAX_BATCH_RECORDS; send one record, or split the batch.",
    ),
    "request-timeout": Kind(
        408,
        "Request Timeout",
        "The request body did not arrive within AUTORESOLVE_BODY_TIMEOUT_S; send the body at "
        "once (a slow or stalled client), then retry.",
    ),
    "not-ready": Kind(
        503,
        "Not ready",
        "No policy is loaded yet, or the service is starting; retry after `Retry-After` seconds. "
        "`detail` says what to do if it lasts (e.g. train and register a policy).",
    ),
    "store-unavailable": Kind(
        503,
        "Decision store unavailable",
        "The decision store did not answer (locked, down or not migrated); nothing was "
        "acknowledged. Retry after `Retry-After` seconds.",
    ),
    "internal": Kind(
        500,
        "Internal error",
        "An unexpected error; `detail` holds a reference to find it in the server log.",
    ),
    "http-error": Kind(400, "HTTP error", "Another HTTP-level error; `detail` says which."),
}

_KIND_OF_STATUS = {
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    413: "payload-too-large",
}


def kind_for_status(status: int) -> str:
    """The kind of a bare HTTP error (routing, body limits)."""
    return _KIND_OF_STATUS.get(status, "http-error")


class ProblemResponse(JSONResponse):
    """A problem answer; `kind` is kept for the error counter."""

    media_type = PROBLEM_JSON
    kind = "http-error"


def problem(
    kind: str,
    detail: str,
    *,
    status: int | None = None,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> ProblemResponse:
    """The answer for one problem of `kind`; `status` only where a kind spans several."""
    spec = KINDS[kind]
    code = status or spec.status
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind,
        "title": spec.title,
        "status": code,
        "detail": detail,
    }
    extra = {"instance": instance, "field": field, "errors": errors}
    body.update({k: v for k, v in extra.items() if v is not None})
    answer = ProblemResponse(body, status_code=code, headers=headers)
    answer.kind = kind
    return answer


def describe_kind(kind: str) -> dict[str, Any] | None:
    """What `GET /problems/<kind>` answers: the kind's status, title and meaning."""
    spec = KINDS.get(kind)
    if spec is None:
        return None
    return {"type": TYPE_PREFIX + kind, "status": spec.status, "title": spec.title} | {
        "description": spec.about
    }
