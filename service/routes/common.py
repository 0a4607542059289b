"""What several routers share: the documented error answers and the API-key dependencies."""

from typing import Any

from fastapi import Security
from fastapi.params import Depends

from autoresolve.service.auth import api_key_dependency
from autoresolve.service.schemas import Problem
from autoresolve.service.settings import Settings

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


def needs_key(settings: Settings) -> list[Depends]:
    """For write and admin routes."""
    return [Security(api_key_dependency(settings.keys))]


def resolve_needs_key(settings: Settings) -> list[Depends]:
    """For the scoring routes: a key only when AUTORESOLVE_RESOLVE_REQUIRES_KEY is set."""
    return needs_key(settings) if settings.resolve_requires_key else []
