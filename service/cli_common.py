"""Shared CLI plumbing: exit codes, JSON output, errors that name what to do."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

EXIT_OK = 0
EXIT_REFUSED = 1  # a failed gate or refused input
EXIT_USAGE = 2

err_console = Console(stderr=True, soft_wrap=True)  # error lines stay whole for grep and logs


def emit_json(payload: Any) -> None:
    """With --json, stdout holds only this document."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)
