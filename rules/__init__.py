"""The rule layer: rules as tested data, a safe expression language, two evaluators, one meaning.

Public API (docs/architecture.md): load_rules, parse_rules, RuleSet, Rule, RuleError, lint.
"""

from rules.errors import RuleError
from rules.lint import LintReport, lint
from rules.loader import load_rules, parse_rules
from rules.ruleset import DEFER, Example, ExampleFailure, Rule, RuleSet

__all__ = [
    "DEFER",
    "Example",
    "ExampleFailure",
    "LintReport",
    "Rule",
    "RuleError",
    "RuleSet",
    "lint",
    "load_rules",
    "parse_rules",
]
