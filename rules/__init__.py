"""The rule layer: rules as tested data, a safe expression language, two evaluators, one meaning.

Public API (docs/architecture.md): load_rules, parse_rules, RuleSet, Rule, RuleError, lint,
explain_record.
"""

from autoresolve.rules.errors import RuleError
from autoresolve.rules.explain import RuleTrace, explain_record
from autoresolve.rules.lint import LintReport, lint
from autoresolve.rules.loader import load_rules, parse_rules
from autoresolve.rules.ruleset import DEFER, Example, ExampleFailure, Rule, RuleSet

__all__ = [
    "DEFER",
    "Example",
    "ExampleFailure",
    "LintReport",
    "Rule",
    "RuleError",
    "RuleSet",
    "RuleTrace",
    "explain_record",
    "lint",
    "load_rules",
    "parse_rules",
]
