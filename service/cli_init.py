"""init: a domain folder to start from.

`init DIR --demo` copies the CRM demo domain that ships with the package (domain.yaml and
rules.yaml; its records are generated on first use), so an installed autoresolve can train and
serve without a checkout of the repository.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from autoresolve.service.cli_common import EXIT_USAGE, emit_json, err_console, fail

DOMAIN_FILES = ("domain.yaml", "rules.yaml")


def copy_demo(target: Path) -> Path:
    """Copy the bundled demo domain's files into `target`, refusing to overwrite a domain."""
    from autoresolve.model.domain import bundled_domain_dir

    source = bundled_domain_dir("crm")
    clash = [name for name in DOMAIN_FILES if (target / name).exists()]
    if clash:
        fail(
            f"{target} already holds {', '.join(clash)}; choose an empty folder (nothing was "
            "overwritten)."
        )
    target.mkdir(parents=True, exist_ok=True)
    for name in DOMAIN_FILES:
        shutil.copyfile(source / name, target / name)
    return target


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        directory: Annotated[Path, typer.Argument(help="the domain folder to write")],
        demo: Annotated[
            bool,
            typer.Option("--demo", help="copy the CRM demo domain that ships with autoresolve"),
        ] = False,
        json_: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Write a domain folder (domain.yaml, rules.yaml) to start from."""
        if not demo:
            fail("say what to start from: --demo copies the CRM demo domain.", EXIT_USAGE)
        target = copy_demo(directory)
        if json_:
            emit_json({"domain": str(target), "files": list(DOMAIN_FILES)})
            return
        err_console.print(
            f"wrote the demo domain to {target}. Next:\n"
            f"  autoresolve train --domain {target}     (generates its records on first use)\n"
            f"  autoresolve serve --domain {target}",
            highlight=False,
        )
