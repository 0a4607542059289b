"""Seeded generators of synthetic records, found by the name a domain gives: `generator: crm`.

A generator is registered as an entry point of the group `autoresolve.generators` (name →
`module:attribute`, the attribute a `Generator`): the standard plugin mechanism of Python
packaging, read with `importlib.metadata`. The CRM demo registers itself in this distribution's
`pyproject.toml`; another package adds its own the same way, and `load_domain_frame`, `train` and
`simulate` use it with no special case anywhere.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import numpy as np
import pandas as pd

from autoresolve.model.domain import DomainError
from autoresolve.rules.errors import suggest

GROUP = "autoresolve.generators"


@dataclass(frozen=True)
class Generator:
    """A seeded source of records for a domain with no checked-in data.

    `generate(n, seed)` returns the records (the same arguments always give the same records).
    `with_kinds(n, seed)`, when given, returns the same records plus each one's hidden case kind
    (the scenario that made it), so a replay can show when kinds that arrive late — `new_kinds` —
    stop being deferred. Kinds are never data: nothing trains on them.
    """

    generate: Callable[[int, int], pd.DataFrame]
    default_n: int
    default_seed: int
    with_kinds: Callable[[int, int], tuple[pd.DataFrame, np.ndarray]] | None = None
    new_kinds: tuple[str, ...] = ()

    def records(self, n: int | None = None, seed: int | None = None) -> pd.DataFrame:
        return self.generate(
            self.default_n if n is None else n, self.default_seed if seed is None else seed
        )


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def generator_names() -> list[str]:
    """Names of the installed generators."""
    return sorted(_entry_points())


def load_generator(name: str, *, where: str | Path | None = None) -> Generator:
    """The generator registered as `name`. A DomainError (key `generator`, file `where`: the
    domain file that names it) says when none is installed under that name, and which are."""
    eps = _entry_points()
    if name not in eps:
        hint = suggest(name, eps) if eps else f" No package registers a '{GROUP}' entry point."
        raise DomainError(
            f"no generator named '{name}' is installed.{hint}", path=where, key="generator"
        )
    ep = eps[name]
    try:
        gen = ep.load()
    except Exception as exc:
        raise DomainError(
            f"generator '{name}' ({ep.value}) failed to load: {type(exc).__name__}: {exc}.",
            path=where,
            key="generator",
        ) from exc
    if not isinstance(gen, Generator):
        raise DomainError(
            f"entry point '{name}' = {ep.value} of group {GROUP} is a {type(gen).__name__}, not "
            "an autoresolve.model.generators.Generator.",
            path=where,
            key="generator",
        )
    return gen


def source_digest(gen: Generator) -> str:
    """A hash of the code behind `gen`: every module of the package that defines its `generate`
    (just that module for a top-level one), so data made by an older version is recognised."""
    module = inspect.getmodule(gen.generate)
    if module is None:
        return hashlib.sha256(inspect.getsource(gen.generate).encode()).hexdigest()
    parent = module.__spec__.parent if module.__spec__ is not None else ""
    if not parent:
        return hashlib.sha256(inspect.getsource(module).encode()).hexdigest()
    digest = hashlib.sha256()
    for root in importlib.import_module(parent).__path__:
        for path in sorted(Path(root).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
