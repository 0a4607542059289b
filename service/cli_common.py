"""Shared CLI plumbing: exit codes, common options, JSON output, errors that name what to do."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

EXIT_OK = 0
EXIT_REFUSED = 1  # a failed gate or refused input
EXIT_USAGE = 2

err_console = Console(stderr=True, soft_wrap=True)  # error lines stay whole for grep and logs

DomainOpt = Annotated[
    Path, typer.Option("--domain", help="domain folder (domain.yaml, rules.yaml)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout only")]


def command_group(**options: Any) -> typer.Typer:
    """A Typer app or sub-command group whose --help is click's plain text: it wraps long lines
    instead of cutting option names to fit 80 columns, as rich's boxed tables did
    (`--min-new-labe…`)."""
    return typer.Typer(rich_markup_mode=None, no_args_is_help=True, **options)


def emit_json(payload: Any) -> None:
    """With --json, stdout holds only this document."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def offline_settings(domain_dir: Path) -> Any:
    """Settings for a command that opens no HTTP endpoint, so the API-key check (which guards
    the service's write endpoints) does not apply to it."""
    from autoresolve.service.settings import SettingsError, load_settings

    try:
        return load_settings(domain=domain_dir)
    except (SettingsError, ValueError) as exc:
        if "API_KEYS" not in str(exc):
            raise
        return load_settings(domain=domain_dir, env="development")


def load_domain_or_fail(path: Path, code: int = EXIT_USAGE) -> Any:
    """The domain in `path`, or the DomainError's message (file, key, what to do) and exit."""
    from autoresolve.model.domain import DomainError, load_domain

    try:
        return load_domain(path)
    except DomainError as exc:
        fail(str(exc), code)


def resolved_domain(domain: Any, settings: Any = None) -> Any:
    """The domain with its resolutions (`service.domains.complete_domain`), or the reason it has
    none and what to do (exit 1)."""
    from autoresolve.model.domain import DomainError
    from autoresolve.service.domains import complete_domain

    try:
        return complete_domain(domain, settings or offline_settings(domain.directory))
    except DomainError as exc:
        fail(str(exc))


def progress_status(message: str) -> Any:
    """A spinner with `message` on stderr while a step runs (`with progress_status(...):`);
    nothing when stderr is not a terminal, so logs and pipes stay clean."""
    return err_console.status(message, spinner="dots")


def wide_console(*, stderr: bool = False) -> Console:
    """Wide enough for tables even when the output is a pipe (rich would assume 80 columns)."""
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=160)
