"""models list | promote | rollback: the registered versions of a domain's policy, by hand.

The registry's aliases, as users of MLflow expect: `@champion` serves (the service picks a new one
up without a restart), `@challenger` is the last candidate `retrain` registered. `promote` and
`rollback` refuse what the gates would refuse (`model.promotion`: a failed gate, no certified
threshold, a rule set other than the domain's rule files, other fields), with the reasons, unless
`--force`; a forced promotion records them on the version. IO only: the rules live in
`model.promotion`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from autoresolve.service.cli_common import (
    DomainOpt,
    JsonOpt,
    command_group,
    emit_json,
    err_console,
    fail,
    load_domain_or_fail,
    offline_settings,
    progress_status,
    resolved_domain,
    wide_console,
)
from autoresolve.service.cli_model import _clear_errors

ForceOpt = Annotated[
    bool, typer.Option("--force", help="promote even what the gates refuse (reasons recorded)")
]


def _open(domain_dir: Path) -> tuple[Any, Any]:
    """(domain with its resolutions, registry) or a clear refusal."""
    from autoresolve.model import registry
    from autoresolve.service.cli_model import _quiet_libraries

    dom = load_domain_or_fail(domain_dir)
    settings = offline_settings(domain_dir)
    try:
        with progress_status("opening the registry"):
            registry.configure(settings.tracking_uri, settings.artifact_root)
            _quiet_libraries()
            champion = registry.champion_version(dom.name)
    except registry.RegistryError as exc:
        fail(str(exc))
    if champion is None:
        fail(f"no registered policy for '{dom.name}': train one with "
             f"`autoresolve train --domain {domain_dir}`.")  # fmt: skip
    return resolved_domain(dom, settings), registry


def _rules_version(dom: Any) -> str:
    from autoresolve.model.policy import default_rules
    from autoresolve.rules import RuleError

    try:
        return str(default_rules(dom).version)
    except RuleError as exc:
        fail(f"the domain's rule files do not load: {exc}")


def _tags(info: Any) -> dict[str, str]:
    from autoresolve.model.promotion import tags_of

    return tags_of(info)


def _facts(registry: Any, dom: Any, version: str) -> Any:
    """What the refusals look at: the registry's record, and the verified policy itself."""
    from autoresolve.model.promotion import VersionFacts
    from autoresolve.model.retrain import certified_threshold

    info = registry.version_info(dom.name, version)
    tags = _tags(info)
    try:
        with progress_status(f"loading and checking version {info.version}"):
            policy = registry.load_policy(dom.name, info.version)
    except registry.RegistryError as exc:
        fail(f"version {info.version} cannot be promoted: {exc}")
    threshold, why = certified_threshold(policy)
    return VersionFacts(
        version=info.version,
        gate=tags.get("gate"),
        gate_reasons=tags.get("gate_reasons", ""),
        rules_version=tags.get("rules_version") or str(getattr(policy.rules, "version", "")),
        threshold=threshold,
        certificate_reason=why,
        field_types=getattr(policy.domain, "field_types", None),
    )


def _move(domain_dir: Path, version: str, force: bool, how: str, json_: bool) -> None:
    from autoresolve.model.promotion import promotion_refusals

    dom, registry = _open(domain_dir)
    before = registry.champion_version(dom.name)
    facts = _facts(registry, dom, version)
    if facts.version == before:
        same = f"version {before} of '{dom.name}' is already @champion; nothing to do."
        _report({"domain": dom.name, "champion": before, "changed": False}, json_, same)
        return
    refusals = promotion_refusals(
        facts, rules_version=_rules_version(dom), field_types=dom.field_types
    )
    if refusals and not force:
        if json_:
            emit_json({"domain": dom.name, "version": facts.version, "refused": refusals})
        for line in refusals:
            err_console.print(f"  • {line}", highlight=False)
        fail(f"not promoting version {facts.version} of '{dom.name}' ({how}); "
             "pass --force to promote it anyway (the reasons are recorded on it).")  # fmt: skip
    reason = f"{how}: by hand" + (f", forced past: {' | '.join(refusals)}" if refusals else "")
    registry.promote(dom.name, facts.version, reason)
    _report(
        {"domain": dom.name, "champion": facts.version, "previous": before, "changed": True,
         "forced_past": refusals},
        json_,
        f"@champion of '{dom.name}' is now version {facts.version} (was {before}); a running "
        "service picks it up at its next registry check.",
    )  # fmt: skip


def _report(payload: dict[str, Any], json_: bool, line: str) -> None:
    if json_:
        emit_json(payload)
    else:
        err_console.print(line, highlight=False)


def list_(domain: DomainOpt, json_: JsonOpt = False) -> None:
    """Every registered version: aliases, gate verdict, threshold, whether its rules are current."""
    with _clear_errors():
        _list(domain, json_)


def _list(domain: Path, json_: bool) -> None:
    from rich.table import Table

    from autoresolve.model.promotion import describe_versions

    dom, registry = _open(domain)
    versions = [(v.version, v.aliases, _tags(v)) for v in registry.list_versions(dom.name)]
    rows = describe_versions(versions, _rules_version(dom))
    if json_:
        emit_json({"domain": dom.name, "versions": rows})
        return
    table = Table(title=f"'{dom.name}' versions (rules 'current' = the domain's rule files now)")
    for col in ("version", "aliases", "gate", "threshold", "rules", "registered_at", "promoted"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["version"], ", ".join(f"@{a}" for a in r["aliases"]), r["gate"], r["threshold"],
            r["rules"], r["registered_at"][:19], r["promoted"][:60],
        )  # fmt: skip
    wide_console(stderr=True).print(table)


def promote(
    version: Annotated[str, typer.Argument(help="the version number to serve")],
    domain: DomainOpt,
    force: ForceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Point @champion at VERSION, unless the gates would refuse it (then exit 1, saying why)."""
    if not version.isdigit():
        fail(f"VERSION is a version number (see `autoresolve models list`), got {version!r}.", 2)
    with _clear_errors():
        _move(domain, version, force, "models promote", json_)


def rollback(domain: DomainOpt, force: ForceOpt = False, json_: JsonOpt = False) -> None:
    """Point @champion back at the version it replaced, with the same refusals as promote."""
    with _clear_errors():
        _rollback(domain, force, json_)


def _rollback(domain: Path, force: bool, json_: bool) -> None:
    from autoresolve.model.promotion import rollback_target

    dom, registry = _open(domain)
    champion = registry.champion_version(dom.name)
    tags = {v.version: _tags(v) for v in registry.list_versions(dom.name)}
    target = rollback_target(champion, tags)
    if target is None:
        fail(f"version {champion} of '{dom.name}' replaced no earlier champion: nothing to roll "
             "back to (`autoresolve models list` shows the versions).")  # fmt: skip
    _move(domain, target, force, f"models rollback from version {champion}", json_)


def register(app: typer.Typer) -> None:
    models = command_group(help="List the registered versions; promote one or roll back, by hand.")
    models.command("list")(list_)
    models.command()(promote)
    models.command()(rollback)
    app.add_typer(models, name="models")
