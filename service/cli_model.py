"""train, resolve, label, retrain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli_common import not_built

DomainOpt = Annotated[
    Path, typer.Option("--domain", help="domain folder (domain.yaml, rules.yaml)")
]


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        domain: DomainOpt, data: Path | None = None, json_: bool = typer.Option(False, "--json")
    ) -> None:
        """Fit, certify and register a policy; the first version becomes champion."""
        not_built("train", 4)

    @app.command()
    def resolve(
        domain: DomainOpt, input: Path = typer.Option(...), output: Path = typer.Option(...)
    ) -> None:
        """Decide every record of a CSV/Parquet file; one output row per input record."""
        not_built("resolve", 4)

    @app.command()
    def label(domain: DomainOpt, input: Path = typer.Option(...)) -> None:
        """Import true resolutions (record_id, resolution) from a CSV or JSON file."""
        not_built("label", 5)

    @app.command()
    def retrain(domain: DomainOpt, if_needed: bool = typer.Option(False, "--if-needed")) -> None:
        """Train a challenger; promote it only if the gates pass."""
        not_built("retrain", 4)
