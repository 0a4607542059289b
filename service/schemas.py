"""Request and response models, generated from the domain file so OpenAPI shows the real fields.

Every field is optional (missing data is normal for exceptions) except the id; unknown fields are
refused so a misspelt field name is reported instead of silently treated as missing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from autoresolve.model.domain import Domain

MAX_ID_CHARS = 200


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


def _text_type(max_chars: int) -> Any:
    return Annotated[str, Field(max_length=max_chars), AfterValidator(_clean_text)]


RecordId = Annotated[
    str,
    BeforeValidator(_id_from_number),
    Field(min_length=1, max_length=MAX_ID_CHARS, pattern=r"\S"),
    AfterValidator(_clean_text),
]


def _field_type(kind: str, max_chars: int) -> Any:
    if kind == "number":
        return Annotated[float, Field(allow_inf_nan=False)]
    if kind == "boolean":
        return bool
    if kind == "datetime":
        return datetime
    return _text_type(max_chars)


class Candidate(BaseModel):
    resolution: str
    probability: float


class DecisionOut(BaseModel):
    """The Decision of DESIGN.md: the same fields as the batch output and the decision log."""

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


class BatchOut(BaseModel):
    decisions: list[DecisionOut]


class LabelsOut(BaseModel):
    inserted: int
    updated: int
    unchanged: int


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
    record = create_model(
        f"{title}Record", __config__=ConfigDict(extra="forbid", json_schema_extra=about), **fields
    )
    batch = create_model(
        f"{title}Batch",
        __config__=strict,
        records=(list[record], Field(min_length=1, max_length=max_batch)),
    )
    resolution = Literal[tuple(domain.resolutions)]  # type: ignore[valid-type]
    label = create_model(
        f"{title}Label",
        __config__=strict,
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
