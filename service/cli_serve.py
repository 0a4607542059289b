"""serve."""

from __future__ import annotations

from pathlib import Path

import typer

from service.cli_common import not_built


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        domain: Path = typer.Option(..., "--domain"),
        host: str = "127.0.0.1",
        port: int = 8000,
        workers: int = 1,
        train_if_missing: bool = typer.Option(False, "--train-if-missing"),
    ) -> None:
        """Serve the domain's @champion policy over HTTP."""
        not_built("serve", 5)
