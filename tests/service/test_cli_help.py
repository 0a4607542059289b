"""Every command's --help at 80 columns shows each option name whole (rich's boxed help used to
cut them: `--min-new-labe…`)."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from autoresolve.service.cli import app


def _commands() -> list[tuple[list[str], Any]]:
    root = typer.main.get_command(app)
    out: list[tuple[list[str], Any]] = []

    def walk(path: list[str], cmd: Any) -> None:
        out.append((path, cmd))
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
            for name, sub in cmd.commands.items():
                walk([*path, name], sub)

    walk([], root)
    return out


COMMANDS = _commands()


@pytest.mark.parametrize(
    "path,cmd", COMMANDS, ids=[" ".join(p) or "autoresolve" for p, _ in COMMANDS]
)
def test_help_shows_every_option_whole_at_80_columns(path: list[str], cmd: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    for param in cmd.params:
        for name in [*param.opts, *param.secondary_opts]:
            if name.startswith("-"):
                assert name in result.output.split() or f"{name}," in result.output, name
    assert max(len(line) for line in result.output.splitlines()) <= 80
