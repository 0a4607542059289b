"""`GET /v1/policy` (what is serving: version, rules, thresholds, certificate, reload status)
and `POST /v1/admin/reload` (check the registry's @champion now; needs an API key)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from autoresolve.service.decision_codec import jsonable
from autoresolve.service.errors import NotReady
from autoresolve.service.routes.common import ERRORS, needs_key
from autoresolve.service.state import Service

ADMIN_WAIT_S = 5.0  # for a check already running (the poller's) before answering "busy"


def router(svc: Service) -> APIRouter:
    api = APIRouter(responses=ERRORS)

    @api.get(
        "/v1/policy",
        summary="What is serving: version, rules, thresholds, certificate",
        tags=["policy"],
    )
    def get_policy() -> JSONResponse:
        policy = svc.policy()
        status = svc.holder.status.to_dict() if svc.holder else {}
        return JSONResponse({"policy": jsonable(policy.describe()), "reload": status})

    @api.post(
        "/v1/admin/reload",
        dependencies=needs_key(svc.settings),
        summary="Check the registry's @champion now (retrying a refused version)",
        tags=["admin"],
    )
    def admin_reload() -> JSONResponse:
        if svc.holder is None:
            raise NotReady("the service is starting.")
        result = svc.holder.check_now(force=True, wait_s=ADMIN_WAIT_S)
        return JSONResponse({"result": result, "reload": svc.holder.status.to_dict()})

    return api
