"""The domain file: what a record of one kind looks like and what the policy must promise.

Everything downstream (rules, features, request schemas, certification) reads the schema from here,
so a mistake in `domain.yaml` is refused at load with the file, the key and a suggestion rather than
surfacing later as a confusing model or HTTP error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from autoresolve.rules.errors import suggest

FIELD_TYPES = ("category", "number", "boolean", "text", "datetime")
TOP_KEYS = (
    "name",
    "description",
    "id",
    "label",
    "time",
    "resolutions",
    "fields",
    "policy",
    "data",
    "generator",
    "periods",
)
REQUIRED_KEYS = ("name", "id", "label", "fields")
POLICY_KEYS = ("target_precision", "confidence", "fallback", "novelty", "min_class_examples")
FIELD_KEYS = ("type", "description", "novelty")
RESERVED_RESOLUTIONS = ("defer",)
PERIODS = ("day", "week", "month", "quarter", "year")


class DomainError(ValueError):
    """A domain file or a table that does not match it. The message says where and what to do."""

    def __init__(self, message: str, *, path: str | Path | None = None, key: str | None = None):
        self.path = str(path) if path is not None else None
        self.key = key
        where = ""
        if self.path and key:
            where = f"{self.path}: key '{key}': "
        elif self.path:
            where = f"{self.path}: "
        elif key:
            where = f"key '{key}': "
        super().__init__(where + message)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    description: str = ""
    novelty: bool = True  # whether an unseen value / out-of-range number here marks a record novel


@dataclass(frozen=True)
class PolicySpec:
    target_precision: float = 0.95
    confidence: float = 0.90
    fallback: str = "hold"
    novelty: bool = True
    min_class_examples: int = 5


@dataclass(frozen=True)
class Domain:
    name: str
    id: str
    label: str
    resolutions: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    policy: PolicySpec = field(default_factory=PolicySpec)
    time: str | None = None
    description: str = ""
    directory: Path | None = None
    data: str | None = None
    generator: str | None = None
    periods: str = "month"

    @property
    def lists_resolutions(self) -> bool:
        """False when domain.yaml leaves `resolutions` out: they then come from the labels
        (`with_label_resolutions`), and a trained policy carries the ones it was trained with."""
        return bool(self.resolutions)

    def with_resolutions(self, values: Iterable[str]) -> Domain:
        """The same domain with these resolutions (checked as if listed in the file)."""
        return replace(self, resolutions=_parse_resolutions(list(values), self.file))

    def with_label_resolutions(self, labels: pd.Series) -> Domain:
        """This domain when it lists its resolutions; else the same domain with the values of
        `labels` as its resolutions, the most frequent first."""
        if self.lists_resolutions:
            return self
        found = resolutions_from_labels(labels)
        if not found:
            raise DomainError(
                f"domain '{self.name}' lists no resolutions and the '{self.label}' column "
                "holds no label to take them from; list them under `resolutions` in "
                "domain.yaml or provide labelled records.",
                path=self.file,
                key="resolutions",
            )
        if "defer" in found:
            raise DomainError(
                f"the label '{self.label}' has the value 'defer', which is reserved (a rule's "
                "`then: defer`); rename that value in the data, or list the resolutions "
                "under `resolutions` in domain.yaml without it.",
                path=self.file,
                key="resolutions",
            )
        return self.with_resolutions(found)

    def check_resolution(self, value: str) -> None:
        if value not in self.resolutions:
            raise DomainError(
                f"unknown resolution '{value}' for domain '{self.name}'."
                + suggest(str(value), self.resolutions),
                key=self.label,
            )

    @property
    def file(self) -> Path | None:
        return self.directory / "domain.yaml" if self.directory else None

    @property
    def field_types(self) -> dict[str, str]:
        """name → type for every input field (the time field included, as datetime)."""
        types = {f.name: f.type for f in self.fields}
        if self.time and self.time not in types:
            types[self.time] = "datetime"
        return types

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def fields_of(self, kind: str) -> list[str]:
        return [f.name for f in self.fields if f.type == kind]

    @property
    def rules_path(self) -> Path | None:
        return self.directory / "rules.yaml" if self.directory else None

    @property
    def learned_rules_path(self) -> Path | None:
        """Rules learned from labels (`autoresolve rules suggest --apply`), loaded after
        rules.yaml; the machine writes this file and never the hand-written one."""
        return self.directory / "rules.learned.yaml" if self.directory else None

    @property
    def data_path(self) -> Path | None:
        if self.directory is None or self.data is None:
            return None
        return (self.directory / self.data).resolve()

    def check_table(self, df: pd.DataFrame, *, require_label: bool = True, where: str = "") -> None:
        """Refuse a table that lacks the id (or the label when training) or has no known field."""
        src = where or "the data"
        missing = [self.id] + ([self.label] if require_label else [])
        for col in missing:
            if col not in df.columns:
                raise DomainError(
                    f"column '{col}' named in domain '{self.name}' is missing from {src}."
                    + suggest(col, [str(c) for c in df.columns])
                    + " Fix the domain's key or rename the column.",
                    key="id" if col == self.id else "label",
                )
        if not any(f in df.columns for f in self.field_names):
            raise DomainError(
                f"{src} has none of domain '{self.name}''s fields "
                f"({', '.join(self.field_names[:8])}…); is it the right file for this domain?",
                key="fields",
            )
        if df[self.id].isna().any():
            n = int(df[self.id].isna().sum())
            raise DomainError(f"{n} rows of {src} have no '{self.id}'; every record needs an id.")


def resolutions_from_labels(labels: pd.Series) -> tuple[str, ...]:
    """The distinct labels as text, most frequent first (ties by name); blanks are unlabelled."""
    text = labels.dropna().astype(str).str.strip()
    counts = text[text != ""].value_counts()
    return tuple(sorted(counts.index, key=lambda v: (-int(counts[v]), v)))


def _as_number(value: Any, key: str, path: Path | None, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DomainError(f"expected a number, got {value!r}.", path=path, key=key)
    if not lo < float(value) < hi:
        raise DomainError(f"{value} is outside ({lo}, {hi}).", path=path, key=key)
    return float(value)


def _check_keys(given: Mapping[str, Any], allowed: tuple[str, ...], prefix: str, path) -> None:
    for k in given:
        if k not in allowed:
            raise DomainError(
                "unknown key." + suggest(str(k), allowed), path=path, key=f"{prefix}{k}"
            )


def _parse_field(name: str, spec: Any, path: Path | None) -> FieldSpec:
    key = f"fields.{name}"
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        raise DomainError(
            f"a field is a type name ({', '.join(FIELD_TYPES)}) or a mapping with 'type'; "
            f"got {spec!r}.",
            path=path,
            key=key,
        )
    _check_keys(spec, FIELD_KEYS, key + ".", path)
    ftype = spec.get("type")
    if ftype not in FIELD_TYPES:
        raise DomainError(
            f"unknown field type {ftype!r}." + suggest(str(ftype), FIELD_TYPES),
            path=path,
            key=key,
        )
    return FieldSpec(
        name=name,
        type=ftype,
        description=str(spec.get("description", "")),
        novelty=bool(spec.get("novelty", True)),
    )


def parse_domain(raw: Any, *, path: Path | None = None) -> Domain:
    """Validate a parsed domain mapping. Pure: no file access."""
    if not isinstance(raw, Mapping):
        raise DomainError("a domain file is a YAML mapping (name, id, label, fields …).", path=path)
    _check_keys(raw, TOP_KEYS, "", path)
    for k in REQUIRED_KEYS:
        if k not in raw:
            raise DomainError("required key is missing.", path=path, key=k)
    for k in ("name", "id", "label"):
        if not isinstance(raw[k], str) or not raw[k].strip():
            raise DomainError(f"expected a non-empty string, got {raw[k]!r}.", path=path, key=k)
    fields = _parse_fields(raw, path)
    time = _parse_time(raw.get("time"), fields, path)
    resolutions = (
        _parse_resolutions(raw["resolutions"], path) if raw.get("resolutions") is not None else ()
    )
    policy = _parse_policy(raw.get("policy") or {}, path)
    return Domain(
        name=raw["name"],
        id=raw["id"],
        label=raw["label"],
        resolutions=resolutions,
        fields=fields,
        policy=policy,
        time=time,
        description=str(raw.get("description", "")),
        directory=path.parent.resolve() if path is not None else None,
        data=raw.get("data"),
        generator=raw.get("generator"),
        periods=_parse_periods(raw.get("periods", "month"), path),
    )


def _parse_fields(raw: Mapping[str, Any], path: Path | None) -> tuple[FieldSpec, ...]:
    """The fields, none of which may be the id or the label column."""
    if not isinstance(raw["fields"], Mapping) or not raw["fields"]:
        raise DomainError("expected a mapping of field name → type.", path=path, key="fields")
    fields = tuple(_parse_field(str(n), s, path) for n, s in raw["fields"].items())
    names = [f.name for f in fields]
    for special in ("id", "label"):
        if raw[special] in names:
            raise DomainError(
                f"'{raw[special]}' is the {special} column; it must not also be a field.",
                path=path,
                key=f"fields.{raw[special]}",
            )
    return fields


def _parse_time(time: Any, fields: tuple[FieldSpec, ...], path: Path | None) -> str | None:
    if time is not None and not isinstance(time, str):
        raise DomainError(f"expected a column name, got {time!r}.", path=path, key="time")
    if any(f.name == time and f.type != "datetime" for f in fields):
        raise DomainError(
            "the time column, if listed under fields, must have type datetime.",
            path=path,
            key=f"fields.{time}",
        )
    return time


def _parse_resolutions(res: Any, path: Path | None) -> tuple[str, ...]:
    if not isinstance(res, list) or not res or not all(isinstance(r, str) and r for r in res):
        raise DomainError("expected a non-empty list of names.", path=path, key="resolutions")
    if len(set(res)) != len(res):
        dup = sorted({r for r in res if res.count(r) > 1})
        raise DomainError(f"duplicate resolutions {dup}.", path=path, key="resolutions")
    for r in res:
        if r in RESERVED_RESOLUTIONS:
            raise DomainError(
                f"'{r}' is reserved (a rule's `then: defer`); choose another name.",
                path=path,
                key="resolutions",
            )
    return tuple(res)


def _parse_policy(pol_raw: Any, path: Path | None) -> PolicySpec:
    if not isinstance(pol_raw, Mapping):
        raise DomainError("expected a mapping.", path=path, key="policy")
    _check_keys(pol_raw, POLICY_KEYS, "policy.", path)
    return PolicySpec(
        target_precision=_as_number(
            pol_raw.get("target_precision", 0.95), "policy.target_precision", path, 0.0, 1.0
        ),
        confidence=_as_number(pol_raw.get("confidence", 0.90), "policy.confidence", path, 0.0, 1.0),
        fallback=str(pol_raw.get("fallback", "hold")),
        novelty=bool(pol_raw.get("novelty", True)),
        min_class_examples=int(pol_raw.get("min_class_examples", 5)),
    )


def _parse_periods(value: Any, path: Path | None) -> str:
    periods = str(value)
    if periods not in PERIODS:
        raise DomainError(
            f"unknown period {periods!r}." + suggest(periods, PERIODS), path=path, key="periods"
        )
    return periods


def load_domain(location: str | Path) -> Domain:
    """Load `domain.yaml` from a domain folder (or the file itself)."""
    p = Path(location)
    if p.is_dir():
        p = p / "domain.yaml"
    if not p.is_file():
        raise DomainError(
            "no domain file here. A domain is a folder with domain.yaml and rules.yaml: point "
            "--domain (or AUTORESOLVE_DOMAIN) at one, or copy the demo domain that ships with "
            "autoresolve into this folder with `autoresolve init data/crm --demo`.",
            path=p,
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DomainError(f"not UTF-8 text ({exc.reason}).", path=p) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DomainError(f"invalid YAML{at}: {getattr(exc, 'problem', exc)}.", path=p) from exc
    return parse_domain(raw, path=p)


def bundled_domain_dir(name: str = "crm") -> Path:
    """The folder of a domain that ships inside the package (`autoresolve.domains.<name>`).

    Read-only: copy it out (`autoresolve init DIR --demo`) before using it, since commands write
    generated data beside `domain.yaml`. Located through the import system, so it works from a
    wheel and from an editable checkout alike.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec(f"autoresolve.domains.{name}")
    except (ImportError, ValueError):
        spec = None
    for root in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(root)
        if (folder / "domain.yaml").is_file():
            return folder
    raise DomainError(f"no bundled domain '{name}' in this installation of autoresolve.")
