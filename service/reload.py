"""Hot reload: follow the registry's `@champion`, swapping in only a policy that passed its checks.

A new version is loaded into a complete new object, then checked (it is for the domain served, its
rule examples hold, a smoke decision comes back as a Decision) and only then published with one
reference assignment. A version that fails is remembered as refused (not retried every poll),
logged, and the previous policy keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from autoresolve.model.decision import Decision
from autoresolve.model.domain import Domain
from autoresolve.model.rule_changes import rule_changes

log = logging.getLogger(__name__)


class PolicySource(Protocol):
    """Where policies come from: the registry in production, anything in tests."""

    def champion_version(self) -> str | None: ...

    def load_champion(self) -> Any: ...


class RegistrySource:
    """The MLflow registry's `@champion` for one domain (model.registry is the only mlflow user)."""

    def __init__(self, name: str, tracking_uri: str, artifact_root: Any = None):
        self.name = name
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self._configured = False

    def _registry(self):
        from autoresolve.model import registry

        if not self._configured:
            registry.configure(self.tracking_uri, self.artifact_root)
            self._configured = True
        return registry

    def champion_version(self) -> str | None:
        registry = self._registry()
        registry.check_reachable()  # seconds, where mlflow's own retries would take minutes
        return registry.champion_version(self.name)

    def load_champion(self) -> Any:
        return self._registry().load_policy(self.name, "champion")

    def versions(self, rules_version: str) -> list[dict[str, object]]:
        """Every registered version as `autoresolve models list` shows it."""
        from autoresolve.model.promotion import describe_versions, tags_of

        registry = self._registry()
        rows = [(v.version, v.aliases, tags_of(v)) for v in registry.list_versions(self.name)]
        return describe_versions(rows, rules_version)

    def data_summary(self) -> dict[str, Any] | None:
        """The champion's training data summary (what drift is measured against)."""
        import json

        text = self._registry().load_artifact_text(self.name, "champion", "data_summary.json")
        return json.loads(text) if text else None


class PolicyCheckError(RuntimeError):
    """A loaded policy that must not serve; the message says which check failed."""


def smoke_record(domain: Domain) -> dict[str, Any]:
    """A record with every field missing: the policy must still answer (defer, most likely)."""
    rec: dict[str, Any] = {name: None for name in domain.field_types}
    rec[domain.id] = "__autoresolve_smoke__"
    return rec


def check_served_rules(policy: Any, served: Any, where: str) -> None:
    """Refuse a policy whose rules are not the served rule file's, naming the difference.

    A policy carries its own rule set; serving one whose rules differ from the domain folder's
    would silently serve rules nobody sees in the folder (a truncated file promoted elsewhere).
    """
    ours = getattr(policy, "rules", None)
    if ours is None or served is None:
        return
    if getattr(ours, "version", None) == getattr(served, "version", None):
        return
    diff = rule_changes(served, ours)
    raise PolicyCheckError(
        f"the policy's rules differ from the served rule file {where} ({diff.describe()}; "
        f"policy rules {getattr(ours, 'version', '?')}, file {getattr(served, 'version', '?')}). "
        "Retrain (`autoresolve retrain`) so a policy carries the file's rules, or serve the "
        "domain folder the policy was trained with."
    )


def check_policy(policy: Any, domain: Domain, served_rules: Any = None) -> None:
    """Refuse a policy for another schema, other rules than the served file's, failing rule
    examples, or that cannot decide."""
    pdomain = getattr(policy, "domain", None)
    if pdomain is not None and getattr(pdomain, "name", domain.name) != domain.name:
        raise PolicyCheckError(
            f"policy is for domain '{pdomain.name}', this service serves '{domain.name}'."
        )
    if pdomain is not None and hasattr(pdomain, "field_types"):
        ours, theirs = domain.field_types, pdomain.field_types
        if ours != theirs:
            diff = sorted(set(ours.items()) ^ set(theirs.items()))
            raise PolicyCheckError(
                f"policy's fields differ from the served domain file ({diff[:5]}); "
                "restart the service with the domain file the policy was trained on."
            )
    if served_rules is not None:
        check_served_rules(policy, served_rules, str(domain.rules_path or domain.name))
    rules = getattr(policy, "rules", None)
    run_examples = getattr(rules, "run_examples", None)
    if callable(run_examples):
        try:
            failures = run_examples()
        except Exception as exc:
            raise PolicyCheckError(f"rule examples could not run: {exc}") from exc
        failures = [f for f in (failures or []) if not getattr(f, "ok", False)]
        if failures:
            shown = "; ".join(str(f) for f in failures[:3])
            raise PolicyCheckError(f"{len(failures)} rule example(s) fail: {shown}")
    try:
        decision = policy.decide_record(smoke_record(domain))
    except Exception as exc:
        raise PolicyCheckError(f"smoke decision failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(decision, Decision) or decision.outcome not in ("resolved", "deferred"):
        raise PolicyCheckError(f"smoke decision returned {decision!r}, not a Decision.")


@dataclass
class ReloadStatus:
    version: str | None = None
    loaded_at: float | None = None
    last_check_at: float | None = None
    last_result: str = "never checked"
    refused: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "loaded_at": self.loaded_at,
            "last_check_at": self.last_check_at,
            "last_result": self.last_result,
            "refused": dict(self.refused),
        }


class PolicyHolder:
    """The serving policy behind one reference, and the thread that keeps it current."""

    def __init__(
        self,
        source: PolicySource,
        domain: Domain,
        *,
        on_change=None,
        on_result=None,
        served_rules: Callable[[], Any] | None = None,
    ):
        self.source = source
        self.domain = domain
        self._served_rules = served_rules  # the domain folder's rule set, read at each load
        self.policy: Any = None
        self.status = ReloadStatus()
        self._on_change = on_change
        self._on_result = on_result
        self._lock = threading.Lock()
        self._check_started: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self.policy is not None

    def check_now(self, *, force: bool = False, wait_s: float | None = None) -> str:
        """Look at `@champion` once; load, check and swap if it changed. Returns what happened.

        `wait_s`: how long to wait for a check already running (the poller's, say, stuck on an
        unreachable registry); past it, the answer says so instead of waiting.
        """
        if not self._lock.acquire(timeout=-1 if wait_s is None else wait_s):
            running = time.time() - (self._check_started or time.time())
            return (
                f"busy: a registry check has been running for {running:.0f}s; last result: "
                f"{self.status.last_result}"
            )
        try:
            self._check_started = time.time()
            result = self._check(force=force)
            self.status.last_check_at = time.time()
            self.status.last_result = result
        finally:
            self._check_started = None
            self._lock.release()
        if self._on_result:
            self._on_result(result.split(":", 1)[0])
        return result

    def _check(self, *, force: bool) -> str:
        try:
            version = self.source.champion_version()
        except Exception as exc:
            log.warning("policy reload: registry unreachable: %s", exc)
            return f"error: registry unreachable: {exc}"
        if version is None:
            return "unchanged: no @champion registered yet"
        version = str(version)
        if version == self.status.version:
            return f"unchanged: version {version}"
        if version in self.status.refused and not force:
            return f"refused: version {version} ({self.status.refused[version]})"
        try:
            candidate = self.source.load_champion()
            served = self._served_rules() if self._served_rules else None
            check_policy(candidate, self.domain, served)
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            self.status.refused[version] = reason
            log.error(
                "policy reload: refused version %s of '%s', keeping %s: %s",
                version,
                self.domain.name,
                self.status.version or "none",
                reason,
            )
            return f"refused: version {version} ({reason})"
        self.policy = candidate  # the one atomic swap
        self.status.version = version
        self.status.loaded_at = time.time()
        self.status.refused.pop(version, None)
        log.info("policy reload: now serving version %s of '%s'", version, self.domain.name)
        if self._on_change:
            self._on_change(candidate, version)
        return f"loaded: version {version}"

    def start(self, interval_s: float) -> None:
        if interval_s <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(interval_s,), name="policy-reload", daemon=True
        )
        self._thread.start()

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.check_now()
            except Exception:  # a poll must never kill the thread
                log.exception("policy reload: unexpected error")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
