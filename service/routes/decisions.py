"""`POST /v1/resolve` and `POST /v1/resolve/batch`: records in, decisions out, logged first.

One record runs on the event loop (a thread-pool hop costs more than its decision), with the
records of one loop turn decided and logged together (service/turns.py). A batch runs in the
thread pool on the table path of the policy and is logged in one transaction. Either way the
answer leaves only after the commit holding its rows, and FastAPI serialises it through the
declared response model.

Beside resolve sit the HTTP benchmark's two baselines, so that their requests take the same path
through the router: `GET /v1/ping` answers a constant; `POST /v1/ping` takes the same body
through the same stack (parsed and validated against the same record model, same dependencies)
and answers a constant. What resolve costs beyond it is the decision and its log.
"""

import time
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from autoresolve.service.decision_codec import decision_json, log_row
from autoresolve.service.errors import ProblemError
from autoresolve.service.routes.common import key_kinds, problems, resolve_needs_key
from autoresolve.service.schemas import BatchOut, DecisionOut
from autoresolve.service.state import Service
from autoresolve.service.turns import TurnBatcher

_PONG = b'{"ok":true}'
MAX_EXPLAINED = 100  # explaining costs ~25 ms a record (LightGBM contributions of every tree)

Explain = Annotated[
    bool,
    Query(
        description="also say why: the rule and its condition, or the fields that moved the "
        "model (computed only when asked)"
    ),
]


def explained(policy: Any, records: list[dict], outs: list[dict]) -> list[dict]:
    """`Policy.explain_records` for decisions just made; a decision by a policy that has been
    replaced since (hot reload between deciding and explaining) is not explained by the new one."""
    whys = policy.explain_records(records, outs)
    stale = {"kind": "none", "unavailable": "the policy that decided was replaced meanwhile"}
    return [
        why if out["policy_version"] == policy.version else stale
        for why, out in zip(whys, outs, strict=True)
    ]


_JSON = "application/json"


def router(svc: Service) -> APIRouter:
    Record = svc.models.record
    Batch = svc.models.batch
    name = svc.domain.name
    columns = svc.record_fields
    metrics = svc.metrics
    latency = metrics.latency.labels("resolve")
    turns = TurnBatcher(name, svc.served, svc.the_store)
    examples = svc.examples
    api = APIRouter(tags=["decisions"], dependencies=resolve_needs_key(svc.settings))
    refusals = problems(
        *key_kinds(svc.settings.resolve_requires_key),
        "payload-too-large",
        "invalid-request",
        "invalid-record",
        "not-ready",
        "store-unavailable",
    )

    @api.post(
        "/v1/resolve",
        response_model=DecisionOut,
        response_model_exclude_unset=True,
        summary="Decide one record",
        responses=refusals,
    )
    async def resolve(
        record: Annotated[Record, Body(openapi_examples=examples.record or None)],  # type: ignore[valid-type]
        explain: Explain = False,
    ) -> dict:
        t0 = time.perf_counter()
        body = record.model_dump(mode="json")  # type: ignore[attr-defined]
        out = await turns.resolve(body)
        metrics.count((out,))
        latency.observe(time.perf_counter() - t0)
        if explain:
            out["why"] = explained(svc.policy(), [body], [out])[0]
        return out

    @api.get(
        "/v1/ping",
        summary="A constant answer (the benchmark's baseline)",
        tags=["ops"],
        responses=problems(*key_kinds(svc.settings.resolve_requires_key)),
    )
    async def ping() -> Response:
        return Response(_PONG, media_type=_JSON)

    @api.post("/v1/ping", include_in_schema=False)
    async def ping_record(record: Record) -> Response:  # type: ignore[valid-type]
        return Response(_PONG, media_type=_JSON)

    @api.post(
        "/v1/resolve/batch",
        response_model=BatchOut,
        response_model_exclude_unset=True,
        summary="Decide many records (one transaction in the log)",
        responses=refusals,
    )
    def resolve_batch(
        batch: Annotated[Batch, Body(openapi_examples=examples.batch or None)],  # type: ignore[valid-type]
        explain: Explain = False,
    ) -> dict:
        t0 = time.perf_counter()
        if explain and len(batch.records) > MAX_EXPLAINED:  # type: ignore[attr-defined]
            raise ProblemError(
                "invalid-request",
                f"explain=true is answered for at most {MAX_EXPLAINED} records per call "
                f"(this batch has {len(batch.records):,}); send the records to explain in "  # type: ignore[attr-defined]
                "smaller batches, or leave explain out.",
                field="explain",
            )
        policy = svc.served()
        store = svc.the_store()
        records = [r.model_dump(mode="json") for r in batch.records]  # type: ignore[attr-defined]
        decided = policy.decide_frame(pd.DataFrame.from_records(records, columns=columns))
        outs = [decision_json(row) for row in decided.to_dict("records")]
        store.log_rows([log_row(name, o, r) for o, r in zip(outs, records, strict=True)])
        metrics.count(outs)
        metrics.latency.labels("resolve_batch").observe(time.perf_counter() - t0)
        if explain:
            for out, why in zip(outs, explained(policy.policy, records, outs), strict=True):
                out["why"] = why
        return {"decisions": outs}

    return api
