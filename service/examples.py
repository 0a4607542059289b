"""Request examples for OpenAPI, taken from the served domain's rule examples.

Each rule in rules.yaml carries example records that `autoresolve rules test` checks; the first
one where the rule fires becomes an example body of the resolve endpoints (named after the rule),
so /docs shows records that really exist in this domain, with the decision each one gets. The
same records, with the resolution their rule gives, are the label examples.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from autoresolve.model.domain import Domain
from autoresolve.service.decision_codec import jsonable

log = logging.getLogger(__name__)

MAX_EXAMPLES = 8
BATCH_RECORDS = 3


@dataclass(frozen=True)
class RequestExamples:
    """`openapi_examples` for each request body: name → {summary, description, value}."""

    record: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)


def domain_rules(domain: Domain) -> Any:
    """The domain's rules as `train` reads them; none (logged) when they do not load, so a
    broken rule file never stops the service's documentation from being built."""
    from autoresolve.model.policy import default_rules

    try:
        return default_rules(domain)
    except (OSError, ValueError) as exc:
        log.warning("no request examples from the rule file: %s", exc)
        return ()


def request_examples(domain: Domain, rules: Any) -> RequestExamples:
    """Examples from the first firing example of each rule (at most MAX_EXAMPLES rules)."""
    picked: list[tuple[str, str, str, dict[str, Any]]] = []
    for rule in rules:
        fired = next((ex for ex in rule.examples if ex.expect is not None), None)
        if fired is None:
            continue
        record = {domain.id: f"example-{rule.id}", **jsonable(dict(fired.record))}
        picked.append((rule.id, str(fired.expect), rule.note, record))
        if len(picked) == MAX_EXAMPLES:
            break
    if not picked:
        return RequestExamples()
    record = {
        rid: {"summary": f"rule {rid} → {expect}", "description": note, "value": value}
        for rid, expect, note, value in picked
    }
    batch_values = [value for *_, value in picked[:BATCH_RECORDS]]
    batch = {
        "records": {
            "summary": f"{len(batch_values)} records from the rule examples",
            "value": {"records": batch_values},
        }
    }
    return RequestExamples(record, batch, _label_examples(domain, picked))


def _label_examples(
    domain: Domain, picked: list[tuple[str, str, str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    known = set(domain.resolutions)
    labels = [
        {"record_id": value[domain.id], "resolution": expect}
        for _, expect, _, value in picked
        if expect in known
    ]
    if not labels:
        return {}
    return {
        "one": {"summary": "one label", "value": labels[0]},
        "many": {
            "summary": "several labels from one review",
            "value": {"labels": labels[:BATCH_RECORDS], "source": "review"},
        },
    }
