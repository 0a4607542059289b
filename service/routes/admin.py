"""`GET /v1/policy` (what is serving: version, rules, thresholds, certificate, reload status)
and `POST /v1/admin/reload` (check the registry's @champion now; needs an API key)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from autoresolve.service.decision_codec import jsonable
from autoresolve.service.errors import NotReady
from autoresolve.service.guard_keeper import worker_id
from autoresolve.service.routes.common import KEY_KINDS, needs_key, problems
from autoresolve.service.state import Service


def router(svc: Service) -> APIRouter:
    api = APIRouter()

    @api.get(
        "/v1/policy",
        summary="What is serving: version, rules, thresholds, certificate, the precision guard",
        tags=["policy"],
        responses=problems("not-ready"),
    )
    def get_policy() -> JSONResponse:
        served = svc.served()
        status = svc.holder.status.to_dict() if svc.holder else {}
        guard = served.describe() | {"worker": worker_id()}
        return JSONResponse(
            {
                "policy": jsonable(served.policy.describe()),
                "reload": status,
                "guard": jsonable(guard),
            }
        )

    @api.post(
        "/v1/admin/reload",
        dependencies=needs_key(svc.settings),
        summary="Check the registry's @champion now (retrying a refused version)",
        tags=["admin"],
        responses=problems(*KEY_KINDS, "not-ready"),
    )
    def admin_reload() -> JSONResponse:
        if svc.holder is None:
            raise NotReady("the service is starting.")
        result = svc.holder.check_now(force=True)
        return JSONResponse({"result": result, "reload": svc.holder.status.to_dict()})

    return api
