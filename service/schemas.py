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
    why: Why | None = Field(None, description="only with explain=true")


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
    total: int
    limit: int
    offset: int
    next_offset: int | None


class Problem(BaseModel):
    """Every error: what went wrong, which field, and what to do."""

    error: str
    message: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


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
