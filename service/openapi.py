"""The OpenAPI document as the service really answers: problems as `application/problem+json`.

FastAPI documents every `responses=` model under the route's own media type (JSON); error
answers are sent as `application/problem+json` (RFC 9457), so their content is moved there.
Beside it, `GET /problems/<kind>` resolves the `type` of every problem answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from autoresolve.service.errors import ProblemError
from autoresolve.service.problems import KINDS, PROBLEM_JSON, describe_kind
from autoresolve.service.routes.common import problems

_PROBLEM_REF = "#/components/schemas/ProblemDetail"


def install_openapi(app: FastAPI) -> None:
    """Serve the corrected document at /openapi.json (built once, like FastAPI's own)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            app.openapi_schema = problems_as_problem_json(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def problems_as_problem_json(schema: dict[str, Any]) -> dict[str, Any]:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                body = content.get("application/json", {})
                if status.isdigit() and body.get("schema", {}).get("$ref") == _PROBLEM_REF:
                    content[PROBLEM_JSON] = content.pop("application/json")
    return schema


def problems_router() -> APIRouter:
    """`GET /problems/<kind>`: what a problem answer's `type` means."""
    api = APIRouter(tags=["ops"])

    @api.get(
        "/problems/{kind}",
        summary="What a problem answer's `type` means and what to do",
        responses=problems("not-found"),
    )
    def problem_kind(kind: str) -> dict[str, Any]:
        about = describe_kind(kind)
        if about is None:
            raise ProblemError(
                "not-found",
                f"no problem kind '{kind}'; the kinds are: {', '.join(KINDS)}.",
                field="kind",
            )
        return about

    return api
