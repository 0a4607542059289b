"""What several routers share: the documented problem answers and the API-key dependencies."""

from typing import Any

from fastapi import Security
from fastapi.params import Depends

from autoresolve.service.auth import api_key_dependency
from autoresolve.service.problems import KINDS, TYPE_PREFIX
from autoresolve.service.schemas import ProblemDetail
from autoresolve.service.settings import Settings

KEY_KINDS = ("unauthorized", "forbidden")


def problems(*kinds: str) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that can answer with these problem kinds: one entry per
    status, naming each kind's `type` (service/openapi.py serves them as problem+json)."""
    by_status: dict[int, list[str]] = {}
    for kind in kinds:
        by_status.setdefault(KINDS[kind].status, []).append(kind)
    return {
        status: {
            "model": ProblemDetail,
            "description": "; ".join(
                f"`{TYPE_PREFIX}{k}`: {KINDS[k].title}" for k in by_status[status]
            ),
        }
        for status in sorted(by_status)
    }


def needs_key(settings: Settings) -> list[Depends]:
    """For write and admin routes."""
    return [Security(api_key_dependency(settings.keys))]


def resolve_needs_key(settings: Settings) -> list[Depends]:
    """For the scoring routes: a key only when AUTORESOLVE_RESOLVE_REQUIRES_KEY is set."""
    return needs_key(settings) if settings.resolve_requires_key else []


def key_kinds(required: bool) -> tuple[str, ...]:
    """The problems an API-key dependency adds to a route (none when no key is asked)."""
    return KEY_KINDS if required else ()
