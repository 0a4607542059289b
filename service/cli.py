"""The `autoresolve` command: thin commands over the packages, one module per group."""

from __future__ import annotations

from autoresolve.service import (
    cli_config,
    cli_init,
    cli_model,
    cli_models,
    cli_report,
    cli_rules,
    cli_serve,
    cli_sim,
)
from autoresolve.service.cli_common import command_group

app = command_group(
    name="autoresolve",
    help="Rules-plus-ML exception handler: resolve what is known, certify what is learned, "
    "defer the rest and learn from it.",
    add_completion=False,
    pretty_exceptions_enable=False,
)

cli_init.register(app)
cli_model.register(app)
cli_models.register(app)
cli_serve.register(app)
cli_rules.register(app)
cli_sim.register(app)
cli_report.register(app)
cli_config.register(app)
