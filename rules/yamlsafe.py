"""Reading a rule file's YAML without trusting it.

`yaml.safe_load` already refuses Python objects, but aliases still let a small file expand into a
huge structure (the "billion laughs"), and deep nesting can exhaust the stack. Rule files never need
anchors, so any alias is refused; size and nesting are bounded before composing. Positions are kept
(the composed node tree) so errors can name a line and column.
"""

from __future__ import annotations

from typing import Any

import yaml

from autoresolve.rules.errors import RuleError

MAX_FILE_BYTES = 512_000  # a large real rule file is ~100 KB; PyYAML reads ~1 MB/s
MAX_YAML_DEPTH = 30


class _Loader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(
                "YAML anchors and aliases (&name / *name) are not allowed in a rule file",
                event.start_mark,
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _Refused(
                    f"YAML nested more than {MAX_YAML_DEPTH} levels deep",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Refused(Exception):
    def __init__(self, message: str, mark: Any) -> None:
        self.message = message
        self.mark = mark


def compose(text: str, source: str) -> tuple[yaml.Node | None, _Loader]:
    """The node tree of one YAML document, or RuleError naming the line and column."""
    if len(text) > MAX_FILE_BYTES:
        raise RuleError(
            f"rule file is {len(text):,} characters; the limit is {MAX_FILE_BYTES:,}", file=source
        )
    if "\x00" in text:
        raise RuleError("this is not a text file (it contains NUL bytes)", file=source)
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
    except _Refused as exc:
        raise RuleError(
            exc.message, file=source, line=exc.mark.line + 1, column=exc.mark.column + 1
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise RuleError(
            f"invalid YAML: {problem}",
            file=source,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line = before.count("\n") + 1
        col = exc.position - (before.rfind("\n") + 1) + 1
        raise RuleError(
            f"invalid YAML: character #x{exc.character:04X} is not allowed in a YAML file "
            "(control character or binary data?)",
            file=source,
            line=line,
            column=col,
        ) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise RuleError(f"invalid YAML: {type(exc).__name__}", file=source) from None
    return node, loader


def construct(loader: _Loader, node: yaml.Node, source: str) -> Any:
    """Plain Python values for one node (aliases were already refused)."""
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or node.start_mark
        raise RuleError(
            f"invalid value: {getattr(exc, 'problem', exc)}",
            file=source,
            line=mark.line + 1,
            column=mark.column + 1,
        ) from None
