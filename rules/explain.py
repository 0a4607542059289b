"""Why each rule did or did not match one record.

The trace re-evaluates sub-conditions with the same compiled closures as match_record, so an
explanation can never disagree with the decision it explains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from autoresolve.rules.lang import BoolOp, Field, Node, Not, fields_of, unparse
from autoresolve.rules.record import compile_condition

if TYPE_CHECKING:
    from autoresolve.rules.ruleset import RuleSet


@dataclass(frozen=True)
class RuleTrace:
    rule_id: str
    then: str
    matched: bool  # the condition holds on this record
    fired: bool  # the first matching rule: the one that decides
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _show(v: Any) -> str:
    if v is None:
        return "missing"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return repr(v)


def _tf(value: bool) -> str:
    return "true" if value else "false"


def _why(node: Node, r: dict[str, Any]) -> str:
    value = bool(compile_condition(node)(r))
    if isinstance(node, BoolOp):
        results = [(o, bool(compile_condition(o)(r))) for o in node.operands]
        if node.op == "and":
            if value:
                return "all hold: " + "; ".join(_why(o, r) for o, _ in results)
            first_false = next(o for o, v in results if not v)
            return _why(first_false, r)
        if value:
            first_true = next(o for o, v in results if v)
            return _why(first_true, r)
        return "none holds: " + "; ".join(_why(o, r) for o, _ in results)
    if isinstance(node, Not):
        return f"not ({_why(node.operand, r)}) → {_tf(value)}"
    if isinstance(node, Field):
        return f"{unparse(node)} → {_tf(value)} ({node.name} = {_show(r.get(node.name))})"
    names = sorted(fields_of(node))
    values = ", ".join(f"{n} = {_show(r.get(n))}" for n in names)
    return f"{unparse(node)} → {_tf(value)}" + (f" ({values})" if values else "")


def explain_record(ruleset: RuleSet, rec: Mapping[str, Any]) -> list[RuleTrace]:
    r = ruleset.normalise(rec)
    out: list[RuleTrace] = []
    fired_seen = False
    for rule in ruleset.rules:
        assert rule.expr is not None
        matched = bool(compile_condition(rule.expr)(r))
        fired = matched and not fired_seen
        fired_seen = fired_seen or matched
        reason = _why(rule.expr, r)
        if matched and not fired:
            reason = "matches, but an earlier rule already decided: " + reason
        out.append(RuleTrace(rule.id, rule.then, matched, fired, reason))
    return out
