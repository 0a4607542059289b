"""The rule layer: rules as tested data, a safe expression language, two evaluators, one meaning.

Public API (docs/architecture.md): load_rules, parse_rules, load_domain_rules (rules.yaml, then
rules.learned.yaml), RuleSet, Rule, RuleError, lint, explain_record; rule suggestions from labels
live in autoresolve.rules.mine and autoresolve.rules.learned.
"""

from autoresolve.rules.errors import RuleError
from autoresolve.rules.explain import RuleTrace, explain_record
from autoresolve.rules.lint import LintReport, lint
from autoresolve.rules.loader import (
    LEARNED_FILE,
    load_domain_rules,
    load_rules,
    parse_rule_layers,
    parse_rules,
)
from autoresolve.rules.ruleset import DEFER, Example, ExampleFailure, Rule, RuleSet

__all__ = [
    "DEFER",
    "LEARNED_FILE",
    "Example",
    "ExampleFailure",
    "LintReport",
    "Rule",
    "RuleError",
    "RuleSet",
    "RuleTrace",
    "explain_record",
    "lint",
    "load_domain_rules",
    "load_rules",
    "parse_rule_layers",
    "parse_rules",
]
