"""simulate, report."""

from __future__ import annotations

import typer

from service.cli_common import not_built


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate() -> None:
        """Replay a time-ordered dataset: the autonomy curve."""
        not_built("simulate", 6)

    @app.command()
    def report() -> None:
        """Autonomy, realised precision, drift and rule health of a live deployment."""
        not_built("report", 6)
