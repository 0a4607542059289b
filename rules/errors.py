"""The one error type of the rule layer.

An operations person edits `rules.yaml`; when it is wrong they need the file, the rule, the line and
the column, and a hint about what to write instead, not a traceback from inside the parser.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RuleError(ValueError):
    """A rule file (or one expression in it) that cannot be used. Nothing was loaded."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        rule_id: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.file = file
        self.rule_id = rule_id
        self.line = line
        self.column = column
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file or "<rules>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        rule = f" rule '{self.rule_id}':" if self.rule_id else ""
        return f"{where}:{rule} {self.detail}"

    def located(
        self,
        *,
        file: str | None = None,
        rule_id: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> RuleError:
        """The same error with the location filled in where it was unknown."""
        return RuleError(
            self.detail,
            file=self.file or file,
            rule_id=self.rule_id or rule_id,
            line=self.line if self.line is not None else line,
            column=self.column if self.column is not None else column,
        )


class ExprError(Exception):
    """An error inside one `when` expression, at a character offset; the loader adds the file."""

    def __init__(self, message: str, pos: int) -> None:
        self.message = message
        self.pos = pos
        super().__init__(f"{message} (at offset {pos})")


def suggest(name: str, options: Iterable[str]) -> str:
    """' Did you mean ...?' when a close option exists, else the first allowed values."""
    opts = sorted(set(options))
    close = difflib.get_close_matches(name, opts, n=1, cutoff=0.6)
    if not close:
        lowered = {o.lower(): o for o in opts}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    if close:
        return f" Did you mean '{close[0]}'?"
    if not opts:
        return ""
    shown = ", ".join(opts[:12])
    return f" Known: {shown}{' …' if len(opts) > 12 else ''}."
