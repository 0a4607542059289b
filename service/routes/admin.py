"""`GET /v1/policy` (what is serving: version, rules, thresholds, certificate, reload status)
and `POST /v1/admin/reload` (check the registry's @champion now; needs an API key).

`/v1/policy` answers anyone what a caller needs to trust a decision (version, rule set,
thresholds, certificate); the training data's fingerprint and time range, the model's
internals and the reload log (refusal messages name files and errors) only with a key.
"""

from typing import Annotated

from fastapi import APIRouter, Security
from fastapi.responses import JSONResponse

from autoresolve.service.auth import api_key_header, check_api_key
from autoresolve.service.decision_codec import jsonable
from autoresolve.service.errors import NotReady
from autoresolve.service.guard_keeper import worker_id
from autoresolve.service.routes.common import KEY_KINDS, needs_key, problems
from autoresolve.service.state import Service

PUBLIC_POLICY = (
    "domain",
    "version",
    "rules_version",
    "n_rules",
    "threshold",
    "thresholds",
    "certificate",
    "classes",
)
PUBLIC_RELOAD = ("version", "loaded_at")
ADMIN_WAIT_S = 5.0  # for a check already running (the poller's) before answering "busy"


def router(svc: Service) -> APIRouter:
    api = APIRouter()

    @api.get(
        "/v1/policy",
        summary="What is serving: version, rules, thresholds, certificate, the precision guard",
        tags=["policy"],
        responses=problems("forbidden", "not-ready"),
    )
    def get_policy(
        given: Annotated[str | None, Security(api_key_header)] = None,
    ) -> JSONResponse:
        served = svc.served()
        status = svc.holder.status.to_dict() if svc.holder else {}
        described = served.policy.describe()
        if given or not svc.settings.keys:
            check_api_key(given, svc.settings.keys)  # a wrong key is refused, not ignored
        else:
            described = {k: described[k] for k in PUBLIC_POLICY if k in described}
            status = {k: status[k] for k in PUBLIC_RELOAD if k in status}
        guard = served.describe() | {"worker": worker_id()}  # what any caller's decisions obey
        return JSONResponse(
            {"policy": jsonable(described), "reload": status, "guard": jsonable(guard)}
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
        result = svc.holder.check_now(force=True, wait_s=ADMIN_WAIT_S)
        return JSONResponse({"result": result, "reload": svc.holder.status.to_dict()})

    return api
