"""Request and response models, generated from the domain file so OpenAPI shows the real fields.

Every field is optional (missing data is normal for exceptions) except the id; unknown fields are
refused so a misspelt field name is reported instead of silently treated as missing.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    model_validator,
)

from autoresolve.model.domain import Domain

MAX_ID_CHARS = 200
MAX_UNKNOWN_KEYS = 20  # beyond this many unknown keys, one error instead of one per key


def _clean_text(value: str) -> str:
    """Refuse what a database cannot store faithfully: NUL and unpaired surrogates."""
    if "\x00" in value:
        raise ValueError("contains a NUL character (\\u0000); remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"contains an unpaired UTF-16 surrogate at position {exc.start}; send valid Unicode"
        ) from None
    return value


def _id_from_number(value: Any) -> Any:
    """Ids may arrive as JSON integers (CRM object ids); they are stored as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _unknown_keys_cap(allowed: frozenset[str], what: str) -> Any:
    """A before-validator: a mapping with more than MAX_UNKNOWN_KEYS unknown keys is refused
    with one error, before its fields are validated one by one.

    A body of 90,000 unknown keys otherwise makes 90,000 validation errors (half a second of
    event-loop time); a few misspelt names still get one error each, with a suggestion.
    """

    def cap(data: Any) -> Any:
        if isinstance(data, dict) and len(data) > len(allowed) + MAX_UNKNOWN_KEYS:
            unknown = [k for k in itertools.islice(data, 5_000) if k not in allowed]
            if len(unknown) > MAX_UNKNOWN_KEYS:
                shown = ", ".join(repr(str(k))[:40] for k in unknown[:5])
                raise ValueError(
                    f"{what} has {len(data):,} keys, at least {len(unknown):,} of them unknown "
                    f"(first: {shown}); allowed: {', '.join(sorted(allowed))}"
                )
        return data

    return model_validator(mode="before")(cap)


def _batch_cap(record_fields: frozenset[str], max_batch: int) -> Any:
    """The batch's records checked for unknown keys all at once, before any is validated: one
    error for the whole batch, however many records carry them."""

    def cap(data: Any) -> Any:
        records = data.get("records") if isinstance(data, dict) else None
        if not isinstance(records, list) or len(records) > max_batch:
            return data  # the list's own validation says what is wrong
        unknown, first = 0, ""
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                continue
            bad = [k for k in rec if k not in record_fields]
            if bad and not first:
                first = f"records.{i}.{str(bad[0])[:40]}"
            unknown += len(bad)
            if unknown > MAX_UNKNOWN_KEYS:
                raise ValueError(
                    f"the batch's records have more than {MAX_UNKNOWN_KEYS} unknown keys (the "
                    f"first: {first}); allowed: {', '.join(sorted(record_fields))}"
                )
        return data

    return model_validator(mode="before")(cap)


def _text_type(max_chars: int) -> Any:
    return Annotated[str, Field(max_length=max_chars), AfterValidator(_clean_text)]


RecordId = Annotated[
    str,
    BeforeValidator(_id_from_number),
    Field(min_length=1, max_length=MAX_ID_CHARS, pattern=r"\S"),
    AfterValidator(_clean_text),
]


def _no_bool(value: Any) -> Any:
    """JSON true/false is not a number (pydantic would take it as 1.0/0.0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


def _no_bare_number_text(value: Any) -> Any:
    """A datetime is ISO-8601 text or a JSON number (a Unix timestamp); text that is only a
    number ("0") is neither, and pydantic would read it as seconds since 1970."""
    if isinstance(value, bool):
        raise ValueError(f"expected a datetime, got {str(value).lower()}")
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError(
            f"'{value[:40]}' is not an ISO-8601 datetime (e.g. 2026-01-31T12:00:00Z); send a "
            "Unix timestamp as a JSON number"
        )
    return value


def _field_type(kind: str, max_chars: int) -> Any:
    if kind == "number":
        return Annotated[float, BeforeValidator(_no_bool), Field(allow_inf_nan=False)]
    if kind == "boolean":
        return bool
    if kind == "datetime":
        return Annotated[datetime, BeforeValidator(_no_bare_number_text)]
    return _text_type(max_chars)


class Candidate(BaseModel):
    resolution: str
    probability: float


class FieldWeight(BaseModel):
    field: str
    value: Any = None
    weight: float = Field(description="answer's score minus runner-up's, from this field")


class Why(BaseModel):
    """Why a decision came out as it did (`explain=true`): the rule with its condition, or the
    fields that pushed the model toward its answer and toward the runner-up."""

    kind: Literal["rule", "model", "invalid", "none"]
    rule_id: str | None = None
    condition: str | None = None
    then: str | None = None
    note: str | None = None
    answer: str | None = None
    runner_up: str | None = None
    toward_answer: list[FieldWeight] = []
    toward_runner_up: list[FieldWeight] = []
    unavailable: str | None = None
    error: str | None = None


class DecisionOut(BaseModel):
    """The Decision of DESIGN.md: the same fields as the batch output and the decision log.

    `why` is there only when asked (`explain=true`); the routes leave unset fields out."""

    record_id: str
    outcome: Literal["resolved", "deferred"]
    resolution: str | None
    source: Literal["rule", "model"] | None
    rule_id: str | None
    confidence: float | None
    threshold: float | None
    defer_reason: str | None
    candidates: list[Candidate]
    policy_version: str
    decided_at: str
    audit: bool = Field(
        description="sampled for audit: label it (GET /v1/audits) so the precision guard sees "
        "how automatic decisions fare"
    )
    guard_reason: str | None = Field(
        description="why the precision guard deferred a decision the certified policy would "
        "have resolved (defer_reason `guard`)"
    )
    why: Why | None = Field(None, description="only with explain=true")


class BatchOut(BaseModel):
    decisions: list[DecisionOut]


class LabelsOut(BaseModel):
    inserted: int
    updated: int
    unchanged: int
    unknown: int = Field(
        0,
        description="labels for record ids never decided (kept; they train "
        "on the first decision logged for the id)",
    )
    unknown_record_ids: list[str] = Field(default_factory=list, description="the first 100")
    repeated: int = Field(0, description="record ids given more than once: the last one counts")
    repeated_record_ids: list[str] = Field(default_factory=list, description="the first 100")


class DeferredItem(DecisionOut):
    priority: float | None
    record: dict[str, Any]


class DeferredPage(BaseModel):
    items: list[DeferredItem]
    total: int = Field(description="records in the queue now")
    limit: int
    next: str | None = Field(
        description="opaque cursor of the next page (pass it as `cursor`); null on the last page"
    )


class ProblemItem(BaseModel):
    """One of several problems found in one request."""

    field: str | None = Field(
        None, description="the offending field, dotted (`records.3.employees`)"
    )
    detail: str = Field(description="what is wrong and what to do")
    code: str | None = Field(
        None, description="the validator's code (`missing`, `extra_forbidden` …)"
    )


class ProblemDetail(BaseModel):
    """Every error answer (RFC 9457, `application/problem+json`): what went wrong, which field,
    and what to do. `type` is `/problems/<kind>`; GET it for the kind's meaning."""

    type: str = Field(description="the kind of problem, a URI reference: /problems/<kind>")
    title: str = Field(description="the kind's short, fixed summary")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="this occurrence: what was wrong, where, and what to do")
    instance: str | None = Field(None, description="the request path")
    field: str | None = Field(None, description="the offending field or header, when there is one")
    errors: list[ProblemItem] | None = Field(None, description="every problem found (up to 20)")


class RequestModels(BaseModel):
    """The generated models for one domain (a holder, not a request body)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    record: Any
    batch: Any
    label: Any
    labels: Any


def build_models(domain: Domain, *, max_batch: int, max_text_chars: int) -> RequestModels:
    strict = ConfigDict(extra="forbid", title=None)
    title = domain.name.title().replace("_", "").replace("-", "")

    fields: dict[str, Any] = {
        domain.id: (RecordId, Field(description=f"the record's id ({domain.id})"))
    }
    for name, kind in domain.field_types.items():
        spec = next((f for f in domain.fields if f.name == name), None)
        desc = f"{kind}" + (f": {spec.description}" if spec and spec.description else "")
        fields[name] = (
            _field_type(kind, max_chars=max_text_chars) | None,
            Field(None, description=desc),
        )
    about = {"description": domain.description}
    names = frozenset(fields)
    record = create_model(
        f"{title}Record",
        __config__=ConfigDict(extra="forbid", json_schema_extra=about),
        __validators__={"_cap": _unknown_keys_cap(names, "the record")},
        **fields,
    )
    batch = create_model(
        f"{title}Batch",
        __config__=strict,
        __validators__={"_cap": _batch_cap(names, max_batch)},
        records=(list[record], Field(min_length=1, max_length=max_batch)),
    )
    resolution = Literal[tuple(domain.resolutions)]  # type: ignore[valid-type]
    label = create_model(
        f"{title}Label",
        __config__=strict,
        __validators__={
            "_cap": _unknown_keys_cap(frozenset(("record_id", "resolution")), "a label")
        },
        record_id=(RecordId, Field(description=f"the labelled record's id ({domain.id})")),
        resolution=(resolution, Field(description="the true resolution")),
    )
    labels = create_model(
        f"{title}Labels",
        __config__=strict,
        labels=(list[label], Field(min_length=1, max_length=max_batch)),
        source=(
            Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_clean_text)],
            Field("api", description="where the labels come from (audit, review, sync …)"),
        ),
    )
    return RequestModels(record=record, batch=batch, label=label, labels=labels)
