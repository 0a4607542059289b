"""rules test | lint | explain."""

from __future__ import annotations

import typer

from service.cli_common import not_built


def register(app: typer.Typer) -> None:
    rules_app = typer.Typer(
        help="Test, lint and explain a domain's rule file.", no_args_is_help=True
    )
    app.add_typer(rules_app, name="rules")

    @rules_app.command("test")
    def test_() -> None:
        """Run every rule's examples."""
        not_built("rules test", 3)

    @rules_app.command()
    def lint() -> None:
        """Shadowed, dead and overlapping rules; per-rule precision where labels exist."""
        not_built("rules lint", 3)
