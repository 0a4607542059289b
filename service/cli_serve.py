"""serve: migrate the store, train a first policy if asked and none exists, then run uvicorn.

Workers are separate processes started by uvicorn from the factory `service.app:app_from_env`, so
the settings travel as AUTORESOLVE_* environment variables. The store is migrated once here, before
any worker starts; each worker loads the champion in its lifespan and polls for new ones.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import typer

from autoresolve.service.cli_common import EXIT_REFUSED, err_console, fail, resolved_domain


def _env_for_workers(settings, domain_dir: Path, workers: int) -> None:
    os.environ["AUTORESOLVE_DOMAIN"] = str(domain_dir)
    os.environ["AUTORESOLVE_HOME"] = str(settings.home)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # PERFORMANCE.md: OpenMP spinning stalls workers
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(instance_metrics_dir(settings.home))


def instance_metrics_dir(home: Path) -> Path:
    """This `serve` process's own multiprocess metrics folder, `<home>/prometheus/<pid>`.

    Two instances sharing a home each get their own (neither counts nor deletes the other's
    samples); folders of instances that are gone are removed.
    """
    from autoresolve.service.metrics import process_alive

    root = home / "prometheus"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.is_dir() and old.name.isdigit() and not process_alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    mine = root / str(os.getpid())
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir()
    return mine


def train_first_policy(settings, domain, *, replacing: str | None = None) -> str:
    """Train on the domain's data and register; the version becomes @champion.

    `replacing` names a champion this code cannot load (stored policies are pickles of the code
    that made them); the replacement is certified like any other policy and promoted with that
    reason recorded on it.
    """
    from autoresolve.model import registry
    from autoresolve.model.datasets import load_domain_frame
    from autoresolve.service.cli_model import _fraction_progress, _progress, train_and_register

    what = "a replacement" if replacing else "a first policy"
    err_console.print(f"training {what} for '{domain.name}' …")
    with _progress() as progress:  # on stderr, step by step: this is most of a first start
        task = progress.add_task("loading data", total=None)
        df = load_domain_frame(domain)
        progress.update(task, description=f"loaded {len(df):,} records", total=1, completed=1)
        _, _, version = train_and_register(
            domain,
            df,
            run_name=f"{domain.name}-serve",
            progress=_fraction_progress(progress, "training"),
        )
    if replacing:
        registry.promote(
            domain.name, version, f"serve --train-if-missing: champion {replacing} unloadable"
        )
    err_console.print(f"registered '{domain.name}' version {version} as @champion")
    return str(version)


def ensure_champion(settings, domain) -> None:
    """A loadable @champion, trained if there is none or if this code cannot load it."""
    from autoresolve.model import registry

    registry.configure(settings.tracking_uri, settings.artifact_root)
    current = registry.champion_version(domain.name)
    if current is None:
        train_first_policy(settings, domain)
        return
    try:
        registry.load_policy(domain.name, "champion")
    except registry.RegistryError as exc:
        err_console.print(
            f"[yellow]@champion version {current} of '{domain.name}' cannot be loaded:[/] {exc}",
            highlight=False,
        )
        train_first_policy(settings, domain, replacing=str(current))


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        domain: Path = typer.Option(
            ..., "--domain", help="domain folder (domain.yaml, rules.yaml)"
        ),
        host: str = typer.Option("127.0.0.1", help="interface to listen on"),
        port: int = typer.Option(8000, min=1, max=65535),
        workers: int = typer.Option(1, min=1, max=64, help="uvicorn worker processes"),
        train_if_missing: bool = typer.Option(
            False,
            "--train-if-missing",
            help="train and register a policy if no loadable one is champion",
        ),
        log_level: str = typer.Option("info", help="uvicorn log level"),
    ) -> None:
        """Serve the domain's @champion policy over HTTP (POST /v1/resolve; OpenAPI at /docs)."""
        import uvicorn

        from autoresolve.model.domain import DomainError, load_domain
        from autoresolve.service.settings import SettingsError, load_settings
        from autoresolve.service.store import DecisionStore, StoreUnavailable

        try:
            settings = load_settings(domain=domain)
            dom = load_domain(settings.domain)
        except (SettingsError, DomainError, ValueError) as exc:
            fail(str(exc))
        try:
            store = DecisionStore.from_url(
                settings.store_url,
                busy_timeout_ms=settings.store_busy_timeout_ms,
                synchronous=settings.sqlite_synchronous,
            )
            store.migrate()
            shown_url = store.url
            store.close()
        except StoreUnavailable as exc:
            fail(f"{exc} Check AUTORESOLVE_DATABASE_URL.")
        if train_if_missing:
            try:
                ensure_champion(settings, dom)
            except Exception as exc:
                fail(f"could not train a first policy: {exc}", EXIT_REFUSED)
        resolved_domain(dom, settings)  # the request schemas need them; refuse here, clearly
        _env_for_workers(settings, settings.domain, workers)
        err_console.print(
            f"serving '{dom.name}' on http://{host}:{port} ({workers} worker(s)); "
            f"store {shown_url}; docs at /docs"
        )
        sys.stdout.flush()
        uvicorn.run(
            "autoresolve.service.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=10,
            limit_concurrency=settings.max_connections,
        )
