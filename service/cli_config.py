"""config reference: the configuration reference (docs/configuration.md) from the settings model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from autoresolve.service.cli_common import EXIT_OK, command_group, err_console, fail


def register(app: typer.Typer) -> None:
    group = command_group(name="config", help="The service's settings.")
    app.add_typer(group)

    @group.command("reference")
    def reference(
        output: Annotated[
            Path | None,
            typer.Option("--output", help="write the Markdown here instead of stdout"),
        ] = None,
        check: Annotated[
            bool,
            typer.Option("--check", help="exit 1 when --output differs from the generated text"),
        ] = False,
    ) -> None:
        """Every setting (environment variable, type, default, meaning) as a Markdown table."""
        from autoresolve.service.config_reference import check_reference, reference_markdown

        if check:
            if output is None:
                fail("--check compares a file: give it with --output.", 2)
            problem = check_reference(output)
            if problem:
                fail(problem)
            err_console.print(f"{output} is up to date")
            raise typer.Exit(EXIT_OK)
        text = reference_markdown()
        if output is None:
            sys.stdout.write(text)
            return
        output.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {output}")
