"""train, resolve, label, retrain.

Heavy imports (pandas, the model, mlflow) happen inside the commands, so `autoresolve --help` and
the other commands stay fast. Progress goes to stderr; with `--json`, stdout holds only the JSON.
Exit codes: 0 ok, 1 refused input or a failed gate, 2 usage.

`retrain` is IO around the retraining job of `model.retraining` (the same functions `simulate`
runs): it reads the champion and its training-data summary from the registry, the history file,
the decision store's labels (labelling time = when the label last changed) and the decisions
logged since the champion was registered; the job decides whether to retrain, how (refit or
re-certify), on which training data and gate window (its module docstring defines them), and
whether the gates pass; `retrain` then registers the challenger and promotes it if they did.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from autoresolve.service.cli_common import (
    EXIT_REFUSED,
    emit_json,
    err_console,
    fail,
    offline_settings,
    resolved_domain,
)

if TYPE_CHECKING:
    import pandas as pd

DomainOpt = Annotated[
    Path, typer.Option("--domain", help="domain folder (domain.yaml, rules.yaml)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]

MIN_NEW_LABELS = 200  # the flag's default; model.retraining.JobSettings has the same (tested)


class Engine(StrEnum):
    local = "local"
    spark = "spark"


# ---------------------------------------------------------------------------- plumbing


def _refusals() -> tuple[type[BaseException], ...]:
    """Errors that mean 'this input or store is wrong': one clear line, exit 1, no traceback."""
    kinds: list[type[BaseException]] = [ValueError, OSError, LookupError]
    for mod, name in (
        ("autoresolve.model.registry", "RegistryError"),
        ("autoresolve.service.store", "StoreUnavailable"),
        ("autoresolve.service.settings", "SettingsError"),
    ):
        with contextlib.suppress(ImportError, AttributeError):
            kinds.append(getattr(__import__(mod, fromlist=[name]), name))
    return tuple(kinds)


@contextlib.contextmanager
def _clear_errors() -> Iterator[None]:
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        if os.environ.get("AUTORESOLVE_DEBUG") or not isinstance(exc, _refusals()):
            raise
        fail(_one_line(exc))


def _one_line(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic: the first message, not the "1 validation error" header
        with contextlib.suppress(Exception):
            first = errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            return f"{where}: {first['msg']}" if where else str(first["msg"])
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _quiet_libraries() -> None:
    for name in ("mlflow", "alembic", "py4j", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)  # the cloudpickle notice
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _setup(domain_dir: Path) -> tuple[Any, Any, Any]:
    """(settings, domain, registry) with the registry pointed at the configured store."""
    from autoresolve.model.domain import load_domain

    dom = load_domain(domain_dir)
    settings = offline_settings(domain_dir)
    from autoresolve.model import registry

    _quiet_libraries()  # after importing mlflow, which sets its own levels

    registry.configure(settings.tracking_uri, settings.artifact_root)
    return settings, dom, registry


def _progress() -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


def _fraction_progress(progress: Any, label: str) -> Any:
    task = progress.add_task(label, total=100)

    def update(message: str, frac: float) -> None:
        progress.update(task, description=f"{label}: {message}", completed=round(100 * frac))

    return update


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# ---------------------------------------------------------------------------- train


def train_and_register(
    dom: Any,
    df: pd.DataFrame,
    *,
    seed: int = 0,
    rules: Any = None,
    progress: Any = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    tune_budget: int = 0,
) -> tuple[Any, Any, str]:
    """Train on `df`, log and register with a training-data summary: (policy, report, version)."""
    from autoresolve.model import registry
    from autoresolve.model.drift import summarize
    from autoresolve.model.train import train_policy

    policy, report = train_policy(
        dom, df, seed=seed, rules=rules, progress=progress, tune_budget=tune_budget
    )
    if progress is not None:
        progress("logging to MLflow", 0.97)
    version = registry.log_policy(
        policy,
        report,
        run_name=run_name or f"{dom.name}-train",
        data_summary=summarize(dom.field_types, df),
        params={"seed": seed, "rows": len(df), "tune_budget": tune_budget},
        tags=tags,
    )
    if progress is not None:
        progress("registered", 1.0)
    return policy.with_version(f"{dom.name}:{version}"), report, version


def _train_summary(dom: Any, report: Any, version: str, champion: str | None) -> dict[str, Any]:
    m = report.metrics
    cert = report.certificate
    return {
        "domain": dom.name,
        "version": version,
        "champion": champion == version,
        "champion_version": champion,
        "estimator": report.chosen,
        "why": report.why,
        "threshold": cert.get("threshold"),
        "certificate": {
            k: v for k, v in cert.items() if k not in ("candidates_tested", "p_values")
        },
        "metrics": m,
        "rule_health": getattr(report, "rule_health", None) or {},
        "tuning": getattr(report, "tuning", None) or {},
    }


def _print_train(summary: dict[str, Any], seconds: float) -> None:
    from rich.table import Table

    m = summary["metrics"]
    cert = summary["certificate"]
    t = Table(title=f"{summary['domain']} version {summary['version']}", show_header=False)
    t.add_row(
        "champion",
        "yes" if summary["champion"] else f"no (@champion is {summary['champion_version']})",
    )
    t.add_row("estimator", str(summary["estimator"]))
    t.add_row("certified threshold", _num(summary["threshold"], 4))
    t.add_row(
        "target",
        f"precision ≥ {_num(cert.get('target_precision'), 2)} at confidence "
        f"{_num(cert.get('confidence'), 2)}",
    )
    t.add_row("test coverage (model, rule-free)", _num(m.get("coverage")))
    t.add_row("test realised precision (model)", _num(m.get("realised_precision")))
    t.add_row("test autonomy (rules + model)", _num(m.get("autonomy")))
    t.add_row("calibration error (ECE)", _num(m.get("ece"), 4))
    t.add_row("certificate", str(cert.get("reason", "")))
    tuning = summary.get("tuning") or {}
    if tuning:
        t.add_row(
            "tuning (certified coverage)",
            f"{tuning['best_params']}: {tuning['best_score']:.3f} "
            f"(defaults {tuning['default_score']:.3f}, {len(tuning['candidates'])} candidates)",
        )
    t.add_row("time", f"{seconds:.1f} s")
    err_console.print(t)
    _print_rule_health(summary.get("rule_health") or {})


def _print_rule_health(health: dict[str, Any]) -> None:
    """Rules below their bar on recent labels, each with a few records it got wrong."""
    from autoresolve.model.rule_health import RuleCheck

    for r in health.get("rules") or []:
        if r.get("status") == "below_bar":
            check = RuleCheck(**{**r, "wrong": tuple(r.get("wrong") or ())})
            err_console.print(f"[yellow]rule health:[/] {check.line()}", highlight=False)


def _unhealthy_rules(dom: Any, df: pd.DataFrame) -> list[str]:
    """The domain's rules below their bar on the newest labels of `df` (as lines)."""
    from autoresolve.model.policy import default_rules
    from autoresolve.model.rule_health import recent_labelled, rule_health

    return rule_health(default_rules(dom), recent_labelled(dom, df), dom).lines()


def _cmd_train(
    domain: Path,
    data: Path | None,
    seed: int,
    json_: bool,
    refuse_unhealthy: bool = False,
    tune_budget: int = 0,
) -> None:
    from autoresolve.model.datasets import load_domain_frame

    t0 = time.perf_counter()
    _, dom, registry = _setup(domain)
    with _progress() as progress:
        task = progress.add_task("loading data", total=None)
        df = load_domain_frame(dom, data)
        progress.update(task, description=f"loaded {len(df):,} records", total=1, completed=1)
        unhealthy = _unhealthy_rules(dom, df) if refuse_unhealthy else []
        if unhealthy:
            progress.stop()
            fail(
                f"refused (--refuse-unhealthy-rules): {len(unhealthy)} rule(s) below their bar "
                "on the newest labels; fix or delete them, then train again. "
                + " | ".join(unhealthy)
            )
        update = _fraction_progress(progress, "training")
        _policy, report, version = train_and_register(
            dom,
            df,
            seed=seed,
            progress=update,
            run_name=f"{dom.name}-train",
            tune_budget=tune_budget,
        )
    summary = _train_summary(dom, report, version, registry.champion_version(dom.name))
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    if json_:
        emit_json(summary)
    else:
        _print_train(summary, summary["seconds"])


# ---------------------------------------------------------------------------- resolve


def _cmd_resolve(
    domain: Path,
    input_path: Path,
    output_path: Path,
    engine: Engine,
    version: str,
    chunk_rows: int,
    spark_master: str,
    log: bool,
    json_: bool,
) -> None:
    from autoresolve.service import batch_io

    batch_io.file_format(input_path)
    batch_io.file_format(output_path)
    if input_path.resolve() == output_path.resolve():
        fail("--output must not be the input file.")
    settings, dom, registry = _setup(domain)
    with _decision_log(settings, dom, log) as (on_decided, logged):
        if engine is Engine.local:
            summary, policy_version = _resolve_local(
                registry, dom, version, input_path, output_path, chunk_rows, on_decided
            )
        else:
            summary, policy_version = _resolve_spark(
                registry, dom, version, input_path, output_path, spark_master, on_decided
            )
    payload = {
        "input": str(input_path),
        "output": str(output_path),
        "policy_version": policy_version,
        **summary.to_dict(),
        "logged": logged[0] if log else None,
    }
    if json_:
        emit_json(payload)
        return
    err_console.print(
        f"{payload['records']:,} records → {output_path} with {policy_version} "
        f"({payload['engine']}): {payload['resolved']:,} resolved, "
        f"{payload['deferred']:,} deferred ({payload['invalid']:,} invalid rows), "
        f"{payload['seconds']} s, {payload['records_per_second'] or 0:,.0f} records/s",
        highlight=False,
    )
    err_console.print(
        f"{logged[0]:,} decisions logged to the decision store (`autoresolve report`, `label`, "
        "`retrain` read them)"
        if log
        else "not logged (--no-log): report and retrain will not see these decisions",
        highlight=False,
    )


@contextlib.contextmanager
def _decision_log(settings: Any, dom: Any, log: bool) -> Iterator[tuple[Any, list[int]]]:
    """(callback for each decided chunk, [decisions logged so far]): the batch's decisions go to
    the decision store like the service's, so `report` and `retrain` see them; none with --no-log.

    Rows refused as invalid are not logged, as the service logs no request it refused (422):
    their record does not fit the schema that `report` and `retrain` read it with; the output
    file holds them with the reason.
    """
    logged = [0]
    if not log:
        yield None, logged
        return
    from autoresolve.service.batch_io import logged_records
    from autoresolve.service.store import DecisionStore, StoreUnavailable

    try:
        store = DecisionStore.from_url(
            settings.store_url,
            busy_timeout_ms=settings.store_busy_timeout_ms,
            synchronous=settings.sqlite_synchronous,
        )
        store.migrate()
    except StoreUnavailable as exc:
        fail(f"decision store {settings.store_url}: {exc} (--no-log decides without logging)")

    def on_decided(records: pd.DataFrame, table: pd.DataFrame) -> None:
        keep = (table["record_id"].notna() & table["error"].isna()).to_numpy()
        rows = table[keep].to_dict("records")
        recs = [r for r, k in zip(logged_records(dom, records), keep, strict=True) if k]
        logged[0] += store.log_decisions(dom, rows, recs)

    try:
        yield on_decided, logged
    finally:
        store.close()


def _resolve_local(
    registry: Any,
    dom: Any,
    version: str,
    input_path: Path,
    output_path: Path,
    chunk_rows: int,
    on_decided: Any,
) -> tuple[Any, str]:
    from autoresolve.service import batch_io

    policy = registry.load_policy(dom.name, version)
    _check_schema(policy, dom)
    total = batch_io.count_rows(input_path)
    with _progress() as progress:
        task = progress.add_task(f"deciding with {policy.version}", total=total)
        summary = batch_io.resolve_local(
            policy,
            input_path,
            output_path,
            chunk_rows=chunk_rows,
            on_chunk=lambda n: progress.advance(task, n),
            on_decided=on_decided,
        )
    return summary, policy.version


def _resolve_spark(
    registry: Any,
    dom: Any,
    version: str,
    input_path: Path,
    output_path: Path,
    spark_master: str,
    on_decided: Any,
) -> tuple[Any, str]:
    from autoresolve.service import batch_io

    try:
        import pyspark  # noqa: F401
    except ImportError:
        fail("--engine spark needs pyspark: pip install 'autoresolve[spark]'.")
    with _progress() as progress:
        task = progress.add_task("starting Spark (local mode)", total=None)
        spark = batch_io.spark_session(spark_master)
        try:
            progress.update(task, description="loading the policy UDF")
            udf = registry.spark_udf(spark, dom.name, version)
            progress.update(task, description="deciding with Spark")
            summary = batch_io.resolve_spark(
                spark, udf, dom, input_path, output_path, on_decided=on_decided
            )
            progress.update(task, description="done", total=1, completed=1)
        finally:
            spark.stop()
    return summary, f"{dom.name}:{registry.version_info(dom.name, version).version}"


def _check_schema(policy: Any, dom: Any) -> None:
    theirs = getattr(getattr(policy, "domain", None), "field_types", None)
    if theirs is not None and theirs != dom.field_types:
        diff = sorted(set(theirs.items()) ^ set(dom.field_types.items()))[:5]
        fail(
            f"the registered policy {policy.version} was trained on other fields than "
            f"{dom.directory}/domain.yaml ({diff}); retrain with `autoresolve train`."
        )


# ---------------------------------------------------------------------------- retrain


def _open_store(settings: Any) -> Any:
    """The decision store, migrated to the current schema; a clean refusal when unreachable."""
    from autoresolve.service.store import DecisionStore, StoreUnavailable

    try:
        store = DecisionStore.from_url(settings.store_url)
        if not store.is_current():
            store.migrate()
        return store
    except StoreUnavailable as exc:
        fail(f"decision store {settings.store_url}: {exc}")


def _labelled(store: Any, dom: Any) -> pd.DataFrame:
    """The store's labelled records in schema types, with their labelling time."""
    import pandas as pd

    from autoresolve.model.records import coerce_frame
    from autoresolve.model.retraining import LABELLED_AT

    empty = pd.DataFrame(columns=[dom.id, dom.label, LABELLED_AT])
    if store is None:
        return empty
    raw = store.labelled_frame(dom)
    if raw.empty:
        return empty
    keep = [c for c in [dom.id, *dom.field_types, dom.label, LABELLED_AT] if c in raw.columns]
    frame = raw[keep].copy()
    when = frame.pop(LABELLED_AT)
    frame = coerce_frame(dom, frame)
    frame[LABELLED_AT] = pd.to_datetime(when, utc=True).to_numpy()
    return frame.reset_index(drop=True)


def _recent(store: Any, dom: Any, since: Any) -> pd.DataFrame | None:
    """The records decided since `since` (fields only, schema types); None without a store."""
    from autoresolve.model.records import coerce_frame

    if store is None:
        return None
    raw = store.decisions_frame(dom, since=since)
    keep = [c for c in [dom.id, *dom.field_types] if c in raw.columns]
    return coerce_frame(dom, raw[keep]).reset_index(drop=True)


def _history(dom: Any, data: Path | None) -> pd.DataFrame:
    from autoresolve.model.datasets import load_domain_frame

    history = load_domain_frame(dom, data)
    return history[[c for c in [dom.id, *dom.field_types, dom.label] if c in history.columns]]


@dataclass(frozen=True)
class _Deployment:
    """What `retrain` reads before the job runs: the champion, and what happened since it."""

    champion: Any
    version: str
    rules: Any  # the domain's rule set now
    inputs: Any  # model.retraining.JobInputs
    guard_request: str | None = None  # the precision guard's request for recertification


def _read_deployment(registry: Any, store: Any, dom: Any) -> _Deployment:
    import json

    import pandas as pd

    from autoresolve.model.policy import default_rules
    from autoresolve.model.retraining import JobInputs

    info = registry.version_info(dom.name, "champion")
    since = pd.Timestamp(info.tags.get("autoresolve.registered_at") or info.created_at)
    summary = registry.load_artifact_text(dom.name, info.version, "data_summary.json")
    from autoresolve.service.guard_keeper import recertify_request

    labels = _labelled(store, dom)
    champion = registry.load_policy(dom.name, info.version)
    return _Deployment(
        guard_request=recertify_request(
            store.read_guard(dom, str(champion.version)) if store is not None else None
        ),
        champion=champion,
        version=info.version,
        rules=default_rules(resolved_domain(dom)),  # the champion's, if domain.yaml lists none
        inputs=JobInputs(
            history=pd.DataFrame(),  # the history file is read only when retraining
            labels=labels,
            since=since,
            reference=json.loads(summary) if summary else None,
            recent=_recent(store, dom, since),
        ),
    )


def _print_gate(payload: dict[str, Any]) -> None:
    gate = payload.get("gate") or {}
    head = (
        f"[green]promoted {payload['domain']} version {payload['challenger_version']}[/]"
        if payload.get("promoted")
        else f"[yellow]champion {payload['champion_version']} stays[/]"
    )
    err_console.print(head)
    for line in gate.get("reasons", []):
        err_console.print(f"  • {line}", highlight=False)


def _register_challenger(registry: Any, dom: Any, result: Any, seed: int, tolerance: float) -> str:
    version = registry.log_policy(
        result.challenger,
        result.report,
        run_name=f"{dom.name}-{result.mode}",
        data_summary=result.reference,
        params={
            "seed": seed,
            "rows": result.training_records or 0,
            "tolerance": tolerance,
            "mode": result.mode,
        },
        tags={"autoresolve.gate": "passed" if result.passed else "failed"},
    )
    registry.tag_version(dom.name, version, "gate_reasons", " | ".join(result.gate.reasons))
    registry.set_alias(dom.name, registry.CHALLENGER, version)
    return version


def _challenge_and_register(
    registry: Any,
    dom: Any,
    dep: _Deployment,
    data: Path | None,
    need: Any,
    job: Any,
    seed: int,
    retired: list[str] | tuple[str, ...] = (),
) -> tuple[Any, str]:
    """Run the retraining job (model.retraining) on the history and the store; register."""
    import dataclasses

    from autoresolve.model.retraining import challenge

    with _progress() as progress:
        task = progress.add_task("loading history", total=None)
        history = dep.inputs.history if len(dep.inputs.history) else _history(dom, data)
        inputs = dataclasses.replace(dep.inputs, history=history)
        progress.update(
            task,
            description=f"loaded {len(inputs.history):,} + {len(inputs.labels):,} labelled",
            total=1,
            completed=1,
        )
        update = _fraction_progress(progress, "retraining")
        result = challenge(
            domain=dom,
            champion=dep.champion,
            rules=dep.rules,
            inputs=inputs,
            need=need,
            settings=job,
            seed=seed,
            progress=update,
            retired=tuple(retired),
        )
        for note in result.notes:
            err_console.print(note, highlight=False)
        update("registering", 0.97)
        version = _register_challenger(registry, dom, result, seed, job.tolerance)
        update("done", 1.0)
    return result, version


def _retire_learned(dom: Any, dep: _Deployment, data: Path | None) -> tuple[_Deployment, dict]:
    """Rule health of the domain's rules on the newest labels (history and store); learned
    rules below their bar leave rules.learned.yaml with a record of why (never rules.yaml), so
    the job then sees a changed rule set and the gates decide."""
    import dataclasses
    from datetime import UTC, datetime

    from autoresolve.model.policy import default_rules
    from autoresolve.model.retraining import check_rules
    from autoresolve.rules.learned import retire_learned

    try:
        history = _history(dom, data)
    except Exception as exc:  # no history file: the store's labels alone
        err_console.print(f"[yellow]rule health on the store's labels only ({exc})[/]")
        history = dep.inputs.history
    inputs = dataclasses.replace(dep.inputs, history=history)
    health = check_rules(dom, dep.rules, inputs)
    out: dict[str, Any] = {"rule_health": health.to_dict(), "retired": []}
    rules = dep.rules
    if health.to_retire:
        at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        retire_learned(
            dom.rules_path,
            dom.learned_rules_path,
            dom.field_types,
            dom.resolutions,
            [rules.get(r.rule_id) for r in health.to_retire],
            {r.rule_id: r.line() for r in health.to_retire},
            at=at,
        )
        rules = default_rules(dom)
        out["retired"] = [r.rule_id for r in health.to_retire]
    return dataclasses.replace(dep, rules=rules, inputs=inputs), out


def _print_retired(health_out: dict[str, Any]) -> None:
    _print_rule_health(health_out.get("rule_health") or {})
    for rid in health_out.get("retired") or []:
        err_console.print(
            f"[yellow]retired[/] learned rule '{rid}' from rules.learned.yaml (below its bar on "
            "recent labels; recorded under `retired:`)",
            highlight=False,
        )


def _assess(dep: _Deployment, job: Any) -> Any:
    from autoresolve.model.retraining import assess_need

    return assess_need(
        champion=dep.champion,
        rules=dep.rules,
        inputs=dep.inputs,
        settings=job,
        guard_request=dep.guard_request,
    ).need


def _cmd_retrain(
    domain: Path,
    data: Path | None,
    if_needed: bool,
    tolerance: float,
    min_new_labels: int,
    psi_bar: float,
    seed: int,
    json_: bool,
    allow_removed_rules: bool = False,
) -> None:
    from autoresolve.model.retraining import JobSettings

    t0 = time.perf_counter()
    settings, dom, registry = _setup(domain)
    if registry.champion_version(dom.name) is None:
        fail(f"no @champion for '{dom.name}' yet: run `autoresolve train --domain {domain}` first.")
    job = JobSettings(
        min_new_labels=min_new_labels,
        psi_bar=psi_bar,
        tolerance=tolerance,
        allow_removed_rules=allow_removed_rules,
    )
    dep = _read_deployment(registry, _open_store(settings), dom)
    dep, health_out = _retire_learned(dom, dep, data)
    payload: dict[str, Any] = {
        "domain": dom.name,
        "champion_version": dep.version,
        "challenger_version": None,
        "retrained": False,
        "promoted": False,
        **health_out,
    }
    if not json_:
        _print_retired(health_out)
    need = _assess(dep, job) if if_needed else None
    if need is not None:
        payload["need"] = need.to_dict()
        if not need.needed:
            payload["reasons"] = list(need.reasons)
            if json_:
                emit_json(payload)
            else:
                err_console.print(need.reasons[0], highlight=False)
            return
        err_console.print("retraining: " + " ".join(need.reasons), highlight=False)
    result, version = _challenge_and_register(
        registry, dom, dep, data, need, job, seed, health_out["retired"]
    )
    payload.update(result.summary())
    payload.update(retrained=True, challenger_version=version, gate=result.gate.to_dict())
    if result.passed:
        try:
            registry.promote(
                dom.name,
                version,
                "gates passed: " + " | ".join(result.gate.reasons),
                expected=dep.version,
            )
            payload["promoted"] = True
        except registry.PromotionConflict as exc:
            payload["reasons"] = [str(exc)]
            err_console.print(f"[yellow]not promoted:[/] {exc}", highlight=False)
            if json_:
                emit_json(payload | {"seconds": round(time.perf_counter() - t0, 2)})
            raise typer.Exit(EXIT_REFUSED) from exc
    payload["seconds"] = round(time.perf_counter() - t0, 2)
    if json_:
        emit_json(payload)
    else:
        _print_gate(payload)
    if not result.passed:
        raise typer.Exit(EXIT_REFUSED)


# ---------------------------------------------------------------------------- commands


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        domain: DomainOpt,
        data: Annotated[
            Path | None, typer.Option("--data", help="CSV/Parquet history (default: domain's)")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
        refuse_unhealthy_rules: Annotated[
            bool,
            typer.Option(
                "--refuse-unhealthy-rules",
                help="exit 1 without training when a rule is below its bar on the newest labels",
            ),
        ] = False,
        tune_budget: Annotated[
            int,
            typer.Option(
                "--tune-budget",
                min=0,
                help="search LightGBM's learning rate, leaves and leaf size over N candidates "
                "(the defaults first) by certified coverage, on the slices before "
                "certification; 0 (default) trains the defaults",
            ),
        ] = 0,
        json_: JsonOpt = False,
    ) -> None:
        """Fit, certify and register a policy; the first version becomes champion."""
        with _clear_errors():
            _cmd_train(domain, data, seed, json_, refuse_unhealthy_rules, tune_budget)

    @app.command()
    def resolve(
        domain: DomainOpt,
        input: Annotated[Path, typer.Option("--input", help="CSV or Parquet records")],
        output: Annotated[Path, typer.Option("--output", help="CSV or Parquet decisions")],
        engine: Annotated[Engine, typer.Option("--engine", help="local or spark")] = Engine.local,
        version: Annotated[
            str, typer.Option("--version", help="'champion' or a version number")
        ] = "champion",
        chunk_rows: Annotated[
            int, typer.Option("--chunk-rows", min=1, help="records per chunk (local engine)")
        ] = 100_000,
        spark_master: Annotated[
            str, typer.Option("--spark-master", help="Spark master (local mode)")
        ] = "local[2]",
        log: Annotated[
            bool,
            typer.Option(
                "--log/--no-log",
                help="log the decisions to the decision store, as the service does (report, "
                "label and retrain see them); --no-log for a dry run",
            ),
        ] = True,
        json_: JsonOpt = False,
    ) -> None:
        """Decide every record of a CSV/Parquet file; one output row per input record."""
        with _clear_errors():
            _cmd_resolve(
                domain, input, output, engine, version, chunk_rows, spark_master, log, json_
            )

    @app.command()
    def label(
        domain: DomainOpt,
        input: Path = typer.Option(..., help="CSV or JSON with record_id and resolution"),
        json_: bool = typer.Option(False, "--json"),
    ) -> None:
        """Import true resolutions (record_id, resolution) from a CSV or JSON file."""
        from autoresolve.service.cli_label import run_label

        run_label(domain, input, json_)

    @app.command()
    def retrain(
        domain: DomainOpt,
        if_needed: Annotated[
            bool,
            typer.Option("--if-needed", help="only on enough new labels, drift or new rules"),
        ] = False,
        tolerance: Annotated[
            float,
            typer.Option("--tolerance", min=0.0, max=1.0, help="coverage the challenger may lose"),
        ] = 0.02,
        min_new_labels: Annotated[
            int, typer.Option("--min-new-labels", min=1, help="labels that trigger --if-needed")
        ] = MIN_NEW_LABELS,
        psi_bar: Annotated[
            float, typer.Option("--psi-bar", min=0.0, help="PSI above which a field drifted")
        ] = 0.2,
        data: Annotated[
            Path | None, typer.Option("--data", help="CSV/Parquet history (default: domain's)")
        ] = None,
        seed: Annotated[int, typer.Option("--seed")] = 0,
        allow_removed_rules: Annotated[
            bool,
            typer.Option(
                "--allow-removed-rules",
                help="the champion's rules missing from rules.yaml are removed on purpose "
                "(else the rules gate fails and names them)",
            ),
        ] = False,
        json_: JsonOpt = False,
    ) -> None:
        """Train a challenger; promote it only if the gates pass (else exit 1, saying why)."""
        with _clear_errors():
            _cmd_retrain(
                domain,
                data,
                if_needed,
                tolerance,
                min_new_labels,
                psi_bar,
                seed,
                json_,
                allow_removed_rules,
            )
