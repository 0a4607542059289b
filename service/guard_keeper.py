"""One worker's view of the precision guard: what it serves, kept in step with the store.

Every worker and replica must serve the same guard verdict, and the hot path must not pay a
database round trip for it. So the verdict lives in the store (service/store/guard_store.py) and
each worker keeps a `ServedPolicy` (model/serving.py: the certified policy, its audit sample and
the verdict) behind one reference:

- when the worker loads a policy version, it creates or reads that version's guard row (so a
  restart serves what was in force before it);
- a label that this worker takes is folded into the guard inside the labels' transaction, and
  the worker swaps in the new verdict as soon as it commits;
- a thread polls the row's change counter every `guard_poll_ms` (one integer) and re-reads the
  row only when it moved: another worker's or replica's labels reach this one within that time.

Nothing here changes the verdict on a timer: only labels do.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from autoresolve.model.guard import GuardState, apply, decide
from autoresolve.model.guard_policy import GuardView, guard_for, observe_labelled, rule_thens
from autoresolve.model.serving import ServedPolicy
from autoresolve.service.metrics import Metrics
from autoresolve.service.store import DecisionStore, StoreUnavailable
from autoresolve.service.store.guard_store import audited_decisions, change_guard, ensure_guard
from autoresolve.service.store.label_store import AfterInsert

log = logging.getLogger("autoresolve.service.guard")


def summary(view: GuardView, actions: tuple[Any, ...] = ()) -> dict[str, Any]:
    """The plain columns of a guard row: what the verdict applies, and what it just did."""
    v = view.verdict
    return {
        "status": view.status,
        "threshold": v.threshold,
        "suspended": v.model_suspended,
        "quarantined": sorted(v.quarantined),
        "recertify": view.recertify,
        "actions": [{"kind": a.kind, "subject": a.subject, "reason": a.reason} for a in actions],
    }


def recertify_request(row: Mapping[str, Any] | None) -> str | None:
    """Why the guard row asks for recertification (`retrain --if-needed` reports it), or None."""
    if not row or not row["recertify"]:
        return None
    view = view_of(row)
    why = [w for w in (view.model_reason, *view.rule_reasons.values()) if w]
    since = row.get("recertify_requested_at")
    when = f" since {since:%Y-%m-%d %H:%M} UTC" if since is not None else ""
    return (
        f"the precision guard asks for recertification of {row['policy_version']}{when}: "
        + " ".join(why)
    )


def guard_table(rows: list[Mapping[str, Any]]) -> pd.DataFrame:
    """The guard rows as `report` shows them: one line per policy version, newest change first."""
    out = []
    for row in rows:
        view = view_of(row)
        model = view.state.model[0]
        out.append(
            {
                "policy_version": row["policy_version"],
                "state": view.status,
                "threshold_in_effect": view.verdict.threshold,
                "certified_threshold": view.state.levels[0],
                "quarantined_rules": ", ".join(sorted(view.verdict.quarantined)),
                "audited_model_labels": model.n,
                "audited_model_wrong": model.wrong,
                "recertification_requested": view.recertify,
                "updated_at": row["updated_at"],
                "reason": view.verdict.reason,
            }
        )
    return pd.DataFrame(out)


def view_of(row: Mapping[str, Any]) -> GuardView:
    return GuardView(GuardState.from_dict(row["state"]), seq=int(row["seq"]))


class GuardKeeper:
    """The served policy of one worker, with the guard verdict of the store applied."""

    def __init__(
        self,
        domain_name: str,
        store: DecisionStore,
        metrics: Metrics,
        *,
        audit_share: float,
        audit_seed: int,
    ):
        self.domain_name = domain_name
        self.store = store
        self.metrics = metrics
        self.audit_share = audit_share
        self.audit_seed = audit_seed
        self._served: ServedPolicy | None = None
        self._view: GuardView | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the hot path --------------------------------------------------------------------

    def served(self, policy: Any) -> ServedPolicy:
        """`policy` as served now (the cached object unless the policy or the verdict changed)."""
        served = self._served
        if served is not None and served.policy is policy:
            return served
        with self._lock:
            return self._publish(policy, self._view)

    def _publish(self, policy: Any, view: GuardView | None) -> ServedPolicy:
        served = ServedPolicy(
            policy, view, audit_share=self.audit_share, audit_seed=self.audit_seed
        )
        self._served = served  # the one reference swap
        return served

    # -- following the store -------------------------------------------------------------

    def policy_loaded(self, policy: Any) -> None:
        """A newly served version: create its guard row if missing, and apply what it says."""
        fresh = guard_for(policy)
        try:
            ensure_guard(self.store.engine, self.domain_name, fresh.to_dict(), _fresh(fresh))
            row = self.store.read_guard(self.domain_name, str(policy.version))
        except StoreUnavailable as exc:
            log.error("guard state unreadable for %s (serving without it): %s", policy.version, exc)
            row = None
        self.accept(policy, row)

    def accept(self, policy: Any, row: Mapping[str, Any] | None) -> None:
        """Serve the verdict of `row` if it is newer than the one in force."""
        if row is None or row["policy_version"] != str(policy.version):
            return
        with self._lock:
            current = self._view
            same_version = current is not None and current.state.policy_version == str(
                policy.version
            )
            if same_version and current.seq >= int(row["seq"]):
                return
            view = view_of(row)
            if current is None or current.status != view.status or not same_version:
                log.warning("precision guard for %s: %s", policy.version, view.verdict.reason)
            self._view = view
            self._publish(policy, view)
        self.metrics.set_guard(self.domain_name, view)

    def poll(self, policy: Any) -> None:
        """One look at the change counter; re-read the row only when it moved."""
        if policy is None:
            return
        version = str(policy.version)
        seq = self.store.guard_seq(self.domain_name, version)
        view = self._view
        if seq is None or (view and view.state.policy_version == version and view.seq >= seq):
            return
        self.accept(policy, self.store.read_guard(self.domain_name, version))

    def start(self, policy_of: Any, interval_s: float) -> None:
        if interval_s <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(policy_of, interval_s), name="guard-poll", daemon=True
        )
        self._thread.start()

    def _run(self, policy_of: Any, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.poll(policy_of())
            except StoreUnavailable as exc:
                log.warning("guard poll: %s", exc)
            except Exception:  # a poll must never kill the thread
                log.exception("guard poll: unexpected error")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- labels ----------------------------------------------------------------------------

    def after_labels(self, policy: Any, out: list[dict[str, Any]]) -> AfterInsert:
        """The labels' in-transaction step: fold first labels of audited decisions of the served
        version into its guard (the new row lands in `out`)."""
        version = str(policy.version)
        thens = rule_thens(policy)

        def fresh() -> tuple[dict[str, Any], dict[str, Any]]:
            state = guard_for(policy)
            return state.to_dict(), _fresh(state)

        def step(conn: sa.Connection, inserted: list[tuple[str, str]]) -> None:
            found = audited_decisions(conn, self.domain_name, version, [r for r, _ in inserted])
            if not found:
                return

            def change(stored: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
                state = GuardState.from_dict(stored)
                for rid, label in inserted:
                    if rid in found:
                        state = observe_labelled(state, found[rid], label, thens)
                verdict = decide(state)
                state = apply(state, verdict)
                return state.to_dict(), summary(GuardView(state), verdict.actions)

            out.clear()
            out.append(change_guard(conn, self.domain_name, version, fresh, change))

        return step


def _fresh(state: GuardState) -> dict[str, Any]:
    return summary(GuardView(state))


def worker_id() -> int:
    """Which worker answered (shown beside the guard at /v1/policy)."""
    return os.getpid()
