"""A domain with its resolutions, where they are needed before any training data is read.

domain.yaml may leave `resolutions` out: training then takes them from the labels, and the
registered policy carries the domain it was trained with. Checking a rule file, a label file or a
label request needs them earlier, so they come, in this order, from the @champion (what the
service decides with), else from the labels of the domain's data file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoresolve.model.domain import Domain, DomainError


def complete_domain(domain: Domain, settings: Any) -> Domain:
    """`domain` when it lists its resolutions; else the same domain with the champion's, else
    with the labels of its data file; else a DomainError saying what to do."""
    if domain.lists_resolutions:
        return domain
    known = champion_resolutions(domain, settings)
    if known:
        return domain.with_resolutions(known)
    if domain.data_path is not None and domain.data_path.is_file():
        from autoresolve.model.datasets import read_labels

        return domain.with_label_resolutions(read_labels(domain))
    raise DomainError(
        f"domain '{domain.name}' lists no resolutions, and there is neither a trained policy "
        "nor a data file (key 'data') to take them from. List them under `resolutions`, or "
        f"train a policy first (`autoresolve train --domain {domain.directory} --data FILE`).",
        path=domain.file,
        key="resolutions",
    )


def champion_resolutions(domain: Domain, settings: Any) -> tuple[str, ...] | None:
    """The resolutions the domain's @champion was trained with; None without a registry or a
    champion (an absent SQLite registry is not created just to find that out)."""
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None
    from autoresolve.model import registry

    registry.configure(uri, settings.artifact_root)
    if registry.champion_version(domain.name) is None:
        return None
    return registry.trained_resolutions(domain.name)
