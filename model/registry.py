"""MLflow tracking and model registry: the only module that imports mlflow.

A registered model (name = domain name) is the whole policy, logged as a `pyfunc` so that the
service, `mlflow models serve` and `mlflow.pyfunc.spark_udf` all run the same `Policy`.

Trust: a policy is a joblib file (pickle underneath), and loading one runs code. We therefore
load policies only from our own registry, and only after the sha256 of the artifact's bytes
matches the hash recorded in the registry (a model-version tag, which lives in the tracking
database, not next to the artifact). A corrupt or tampered artifact is refused before it is
loaded. The pyfunc wrapper, which mlflow loads in `models serve` and Spark, checks the same hash
from its own model config: that catches corruption, while `load_policy` (the service's path) also
catches an artifact swapped in the artifact store. Versions logged before the artifact was written
with joblib (`policy.pkl`, plain pickle, some under the pre-namespace module names) still load.

What the logged model declares: a signature built from the domain's fields (numbers `double`,
free text `string`; ids, categories, booleans and timestamps `Any`, since the service also takes
whole-number codes, 1/0 and ISO-8601 text for them, and MLflow's own types refuse a missing
boolean or an aware timestamp: the policy's schema checks every value), the decision columns as
outputs, `now` as a parameter; an input example made of the rule files' examples; and its
requirements, this package (`autoresolve==<version>`) among them, so `mlflow models serve
--env-manager local` runs in an environment where autoresolve is installed (the requirement tells
any other environment manager what to install).

Pyfunc output: one decision per input row, as JSON-native records (`DECISION_COLUMNS` + `error`):
`candidates` a list of `{resolution, probability}`, missing numbers null (never NaN), the same
types as the HTTP API. A one-row frame (a `models serve` request for one record) takes the
single-record path (`Policy.decide_records`); larger frames `model.batch.decide_chunk`, where a
record that does not fit the schema becomes a deferral with reason `invalid` and the refusal in
`error`. Spark reads the same records through `SPARK_RESULT_TYPE`. Pass `params={"now": ISO}` to
pin `decided_at`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import pickle
import socket
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import joblib
import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import (
    AnyType,
    Array,
    ColSpec,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
)

from autoresolve.model.batch import ERROR_COLUMN, decide_chunk, invalid_row
from autoresolve.model.decision import DECISION_COLUMNS
from autoresolve.model.plots import to_png
from autoresolve.model.promotion import PREVIOUS_TAG
from autoresolve.model.retrain import certified_threshold

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
POLICY_FILE = "policy.joblib"
LEGACY_POLICY_FILE = "policy.pkl"  # versions logged as a plain pickle
SHA_TAG = "policy_sha256"
RESOLUTIONS_FILE = "resolutions.json"
TAG_PREFIX = "autoresolve."
CONNECT_TIMEOUT_S = 3.0

# Spark DDL for spark_udf(result_type=...): every decision field, typed as the pyfunc returns it.
SPARK_RESULT_TYPE = (
    "record_id string, outcome string, resolution string, source string, rule_id string, "
    "confidence double, threshold double, defer_reason string, "
    "candidates array<struct<resolution: string, probability: double>>, "
    "policy_version string, decided_at string, error string"
)
EXAMPLE_RECORDS = 5  # rule examples in the logged input example


class RegistryError(RuntimeError):
    """The registry cannot do what was asked: unreachable store, missing version, bad artifact."""


@dataclass
class _Config:
    tracking_uri: str | None = None
    artifact_root: Path | str | None = None


_config = _Config()


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    aliases: tuple[str, ...]
    run_id: str | None
    created_at: str
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "aliases": list(self.aliases),
            "run_id": self.run_id,
            "created_at": self.created_at,
            "tags": dict(self.tags),
        }


# ---------------------------------------------------------------------------- configuration


def _check_reachable(uri: str) -> None:
    """Fail fast: mlflow's own clients retry an unreachable database or server for minutes."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.split("+")[0]
    if scheme == "sqlite":
        raw = uri.split(":///", 1)[1] if ":///" in uri else ""
        if raw in ("", ":memory:"):
            return
        path = Path(raw)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            probe = path.parent / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise RegistryError(
                f"MLflow store {uri} is not writable ({exc.strerror or exc}). Point "
                "MLFLOW_TRACKING_URI or AUTORESOLVE_HOME at a writable folder."
            ) from exc
        return
    if scheme in ("", "file"):
        path = Path(parsed.path if scheme else uri)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(f"MLflow store {uri} is not writable ({exc}).") from exc
        return
    if scheme in ("databricks", "databricks-uc", "uc"):
        return
    default_ports = {"postgresql": 5432, "mysql": 3306, "mssql": 1433, "http": 80, "https": 443}
    host = parsed.hostname or "localhost"
    try:
        port = parsed.port or default_ports.get(scheme)
    except ValueError as exc:
        raise RegistryError(f"MLflow tracking URI {uri!r} has a bad port: {exc}.") from exc
    if port is None:
        return
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        shown = uri.replace(parsed.password or "\0", "***") if parsed.password else uri
        raise RegistryError(
            f"MLflow store {shown} is unreachable ({host}:{port}: {exc.strerror or exc}). "
            "Start it, or unset MLFLOW_TRACKING_URI to use the embedded SQLite store."
        ) from exc


# mlflow's HTTP client retries an unreachable tracking server 7 times with a backoff factor of
# 2 and a 120 s timeout per try: minutes per call. Bounded here unless the environment says.
HTTP_WAIT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def check_reachable() -> None:
    """Raise RegistryError within seconds when the configured store cannot be reached (a TCP
    connect of at most CONNECT_TIMEOUT_S), before a call that mlflow would retry."""
    if _config.tracking_uri is None:
        raise RegistryError("registry not configured: call model.registry.configure(uri) first.")
    _check_reachable(_config.tracking_uri)


def configure(tracking_uri: str, artifact_root: str | Path | None = None) -> None:
    """Point tracking and registry at one store; check it is reachable before anything waits.

    Also bounds mlflow's HTTP retries and timeouts (HTTP_WAIT_DEFAULTS, unless set in the
    environment), so a tracking server that goes away later costs seconds per call, not minutes.
    """
    _check_reachable(tracking_uri)
    for key, value in HTTP_WAIT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    # mlflow also exports the URIs as environment variables; keep the environment as it was, so
    # a later configure (and the settings that read MLFLOW_TRACKING_URI) is not overridden by us.
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _config.tracking_uri = tracking_uri
    _config.artifact_root = artifact_root


def _client() -> MlflowClient:
    if _config.tracking_uri is None:
        raise RegistryError("registry not configured: call model.registry.configure(uri) first.")
    return MlflowClient(tracking_uri=_config.tracking_uri, registry_uri=_config.tracking_uri)


@contextlib.contextmanager
def _store_errors(what: str) -> Iterator[None]:
    try:
        yield
    except RegistryError:
        raise
    except MlflowException as exc:
        raise RegistryError(f"{what}: {exc.message}") from exc
    except OSError as exc:
        raise RegistryError(f"{what}: {exc}") from exc


def _experiment_id(name: str) -> str:
    exp_name = f"autoresolve-{name}"
    client = _client()
    exp = client.get_experiment_by_name(exp_name)
    if exp is not None:
        return exp.experiment_id
    location = None
    root = _config.artifact_root
    if root is not None:
        root_s = str(root)
        if "://" in root_s:
            location = root_s.rstrip("/") + "/" + exp_name
        else:
            path = Path(root_s).expanduser().resolve() / exp_name
            path.mkdir(parents=True, exist_ok=True)
            location = path.as_uri()
    return client.create_experiment(exp_name, artifact_location=location)


# ---------------------------------------------------------------------------- serialization


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_OLD_PACKAGES = ("rules", "model", "service")
_MOVED = {("autoresolve.rules.ruleset", "_rebuild"): ("autoresolve.rules.loader", "parse_rules")}


class _PolicyUnpickler(pickle.Unpickler):
    """Unpickles a verified policy; classes saved under the pre-namespace names (`model.policy`,
    `rules.ruleset`, …, before the packages moved under `autoresolve.`) load from their new home."""

    def find_class(self, module: str, name: str) -> Any:
        top = module.partition(".")[0]
        if top in _OLD_PACKAGES:
            module = f"autoresolve.{module}"
        module, name = _MOVED.get((module, name), (module, name))
        return super().find_class(module, name)


def _unpickle_verified(
    data: bytes, expected: str | None, where: str, *, legacy: bool = True
) -> Any:
    """The policy in `data` once its sha256 matches `expected`: a joblib file, or (`legacy`) a
    plain pickle of a version logged before joblib, old module names mapped."""
    if not expected:
        raise RegistryError(
            f"{where} has no recorded sha256; refusing to unpickle an unverified policy. "
            "Retrain with `autoresolve train` to register a verifiable version."
        )
    actual = _sha256(data)
    if actual != expected:
        raise RegistryError(
            f"{where}: policy artifact is corrupt or was tampered with (sha256 {actual[:12]}… "
            f"!= recorded {expected[:12]}…); refusing to load it. Promote another version "
            "(`autoresolve models promote`) or retrain with `autoresolve train`."
        )
    try:
        if legacy:
            return _PolicyUnpickler(io.BytesIO(data)).load()
        return joblib.load(io.BytesIO(data))
    except (
        AttributeError,
        ImportError,
        pickle.UnpicklingError,
        EOFError,
        TypeError,
        ValueError,
    ) as exc:
        raise RegistryError(
            f"{where}: the policy was saved by an incompatible version of autoresolve and "
            f"cannot be loaded ({type(exc).__name__}: {exc}). Retrain with `autoresolve train` "
            "(or promote a newer version)."
        ) from exc


def _dump(policy: Any) -> bytes:
    buf = io.BytesIO()
    joblib.dump(policy, buf)
    return buf.getvalue()


def _set_version(policy: Any, version: str) -> Any:
    with_version = getattr(policy, "with_version", None)
    if callable(with_version):
        return with_version(version)
    try:
        policy.version = version
    except AttributeError:
        object.__setattr__(policy, "version", version)
    return policy


class PolicyModel(mlflow.pyfunc.PythonModel):
    """The pyfunc face of a Policy: predict(records) -> decision records (see module doc)."""

    def load_context(self, context: Any) -> None:
        artifact = context.artifacts.get("policy") or context.artifacts["policy_pickle"]
        path = Path(artifact)
        expected = (context.model_config or {}).get(SHA_TAG)
        self._policy = _unpickle_verified(
            path.read_bytes(),
            expected,
            f"pyfunc artifact {path}",
            legacy=path.name == LEGACY_POLICY_FILE,
        )

    def predict(self, context, model_input: pd.DataFrame, params=None) -> list[dict[str, Any]]:
        df = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        now = (params or {}).get("now")
        if len(df) == 1:
            return [decide_one(self._policy, df, now)]
        return decision_records(decide_chunk(self._policy, df.reset_index(drop=True), now=now))


def _plain(value: Any) -> Any:
    """A cell as a plain Python value, every kind of missing as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    return value.item() if hasattr(value, "item") and not isinstance(value, pd.Timestamp) else value


def decide_one(policy: Any, df: pd.DataFrame, now: Any = None) -> dict[str, Any]:
    """The decision for a one-row frame, on the single-record path (`decide_records`)."""
    from autoresolve.model.batch import parse_now

    record = {str(k): _plain(v) for k, v in df.iloc[0].items()}
    when = parse_now(now)
    out = policy.decide_records([record], when)[0]
    if isinstance(out, Exception):
        return invalid_row(record.get(policy.domain.id), str(out), str(policy.version), when)
    return {**out.to_dict(), ERROR_COLUMN: None}


def decision_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """`decide_chunk`'s flat table as JSON-native records: candidates a list, null not NaN."""
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    for row in rows:
        row["candidates"] = json.loads(row["candidates"] or "[]")
    return rows


def _pip_requirements() -> list[str]:
    """Pinned to what trained the policy; autoresolve itself, whose classes the artifact holds."""
    reqs = []
    for dist in (
        "autoresolve",
        "numpy",
        "pandas",
        "scipy",
        "scikit-learn",
        "joblib",
        "lightgbm",
        "mapie",
        "pyyaml",
        "google-re2",
        "pyarrow",
        "mlflow",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            reqs.append(f"{dist}=={metadata.version(dist)}")
    return reqs


# ---------------------------------------------------------------------------- logging


def _flat_numbers(prefix: str, value: Any, out: dict[str, float]) -> None:
    if isinstance(value, bool):
        out[prefix] = float(value)
    elif isinstance(value, int | float):
        if math.isfinite(float(value)):
            out[prefix] = float(value)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            _flat_numbers(_metric_name(key), v, out)


def _metric_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)


def _figure_png(fig: Any) -> bytes:
    """A report's figure as PNG bytes: already bytes, or a matplotlib Figure to draw."""
    return bytes(fig) if isinstance(fig, bytes | bytearray) else to_png(fig)


def _figures(report: Any) -> dict[str, Any]:
    figs = getattr(report, "figures", None)
    if callable(figs):
        try:
            figs = figs()
        except Exception as exc:  # a figure that fails to draw must not block registration
            log.warning("could not draw the training figures: %s", exc)
            return {}
    return dict(figs or {})


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "__dict__"):
        return vars(o)
    return str(o)


def _describe(policy: Any) -> dict[str, Any]:
    try:
        return dict(policy.describe())
    except Exception:  # describe is informative only; never block registration on it
        return {}


def _next_version(client: MlflowClient, name: str) -> int:
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return 1
    return max((int(v.version) for v in versions), default=0) + 1


def log_policy(
    policy: Any,
    report: Any = None,
    *,
    run_name: str | None = None,
    data_summary: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log a trained policy (pyfunc, metrics, figures, certificate, domain files) and register it.

    Returns the registered version number as a string. The first version of a name becomes
    `@champion`; later ones wait for `promote` (the retrain gates decide). The policy object is
    stamped `version = "<name>:<n>"` before pickling, so decisions from every path carry it.
    """
    domain = policy.domain
    name = domain.name
    client = _client()
    with _store_errors(f"registering policy '{name}' in {_config.tracking_uri}"):
        experiment_id = _experiment_id(name)
        number = _next_version(client, name)
        policy = _set_version(policy, f"{name}:{number}")
        blob = _dump(policy)
        sha = _sha256(blob)
        described = _describe(policy)
        cert = _certificate_of(described, report)
        rules_version = str(getattr(getattr(policy, "rules", None), "version", "") or "")
        all_tags = {**_version_tags(policy, report, sha, rules_version), **dict(tags or {})}
        all_params: dict[str, Any] = {
            "domain": name,
            "target_precision": domain.policy.target_precision,
            "confidence": domain.policy.confidence,
            "rules_version": rules_version,
            **dict(getattr(report, "params", None) or {}),
            **dict(params or {}),
        }
        with tempfile.TemporaryDirectory(prefix="autoresolve-log-") as tmp:
            tmpdir = Path(tmp)
            pkl = tmpdir / POLICY_FILE
            pkl.write_bytes(blob)
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
                mlflow.log_params({k: str(v)[:500] for k, v in all_params.items()})
                metrics = _run_metrics(report, cert)
                if metrics:
                    mlflow.log_metrics(metrics)
                mlflow.set_tags(all_tags)
                _log_documents(cert, described, data_summary, domain.resolutions)
                _log_figures(report, tmpdir)
                _log_domain_files(domain)
                info = _log_pyfunc(pkl, sha, policy)
            mv = mlflow.register_model(info.model_uri, name, tags=all_tags)
        if int(mv.version) != number:
            log.warning(
                "registered %s as version %s but stamped %s:%s (concurrent registration); "
                "load_policy reports the registered number",
                name,
                mv.version,
                name,
                number,
            )
        with contextlib.suppress(MlflowException):
            client.set_model_version_tag(name, mv.version, "run_id", run.info.run_id)
        if champion_version(name) is None:
            client.set_registered_model_alias(name, CHAMPION, mv.version)
            client.set_model_version_tag(name, mv.version, f"{TAG_PREFIX}promoted", "first")
        return str(mv.version)


def _certificate_of(described: Mapping[str, Any], report: Any) -> Mapping[str, Any]:
    cert = described.get("certificate") or getattr(report, "certificate", None) or {}
    if not isinstance(cert, Mapping):
        cert = vars(cert) if hasattr(cert, "__dict__") else {"value": str(cert)}
    return cert


def _run_metrics(report: Any, cert: Mapping[str, Any]) -> dict[str, float]:
    """The report's metrics and the certificate's numbers, flattened to MLflow metric names."""
    metrics: dict[str, float] = {}
    _flat_numbers("", dict(getattr(report, "metrics", None) or {}), metrics)
    _flat_numbers("certificate", dict(cert), metrics)
    return metrics


def _version_tags(policy: Any, report: Any, sha: str, rules_version: str) -> dict[str, str]:
    """What a registered version says about itself: the pickle's hash (checked before loading),
    the data it was trained on, the rule set, when."""
    fp = getattr(policy, "fingerprint", None) or getattr(report, "fingerprint", None) or ""
    fingerprint = str(fp.get("sha256", "")) if isinstance(fp, Mapping) else str(fp)
    now = datetime.now(UTC)
    threshold, _ = certified_threshold(policy)
    tags = {
        SHA_TAG: sha,
        f"{TAG_PREFIX}threshold": "none" if threshold is None else f"{threshold:.4f}",
        f"{TAG_PREFIX}domain": policy.domain.name,
        f"{TAG_PREFIX}data_fingerprint": fingerprint,
        f"{TAG_PREFIX}rules_version": rules_version,
        f"{TAG_PREFIX}trained_at": str(
            getattr(policy, "trained_at", "") or now.isoformat(timespec="seconds")
        ),
        # to the microsecond: the retraining job counts the labels given after this instant
        f"{TAG_PREFIX}registered_at": now.isoformat(timespec="microseconds"),
    }
    if isinstance(fp, Mapping):
        for k in ("rows", "time_start", "time_end"):
            if fp.get(k) is not None:
                tags[f"{TAG_PREFIX}data_{k}"] = str(fp[k])
    return tags


def _log_documents(
    cert: Mapping[str, Any],
    described: Mapping[str, Any],
    data_summary: Mapping[str, Any] | None,
    resolutions: tuple[str, ...],
) -> None:
    mlflow.log_text(json.dumps(dict(cert), indent=2, default=_json_default), "certificate.json")
    mlflow.log_text(json.dumps(described, indent=2, default=_json_default), "policy.json")
    mlflow.log_text(json.dumps(list(resolutions)), RESOLUTIONS_FILE)
    if data_summary is not None:
        mlflow.log_text(json.dumps(data_summary, default=_json_default), "data_summary.json")


def _log_figures(report: Any, tmpdir: Path) -> None:
    for fname, fig in _figures(report).items():
        png = tmpdir / (Path(str(fname)).stem + ".png")
        png.write_bytes(_figure_png(fig))
        mlflow.log_artifact(str(png), artifact_path="figures")


def _log_domain_files(domain: Any) -> None:
    """The domain.yaml and rules.yaml the policy was trained with, beside it."""
    if domain.directory is None:
        return
    for fname in ("domain.yaml", "rules.yaml"):
        src = Path(domain.directory) / fname
        if src.is_file():
            mlflow.log_artifact(str(src), artifact_path="domain")


def _log_pyfunc(artifact: Path, sha: str, policy: Any) -> Any:
    def logged(example: pd.DataFrame | None) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return mlflow.pyfunc.log_model(
                name="policy",
                python_model=PolicyModel(),
                artifacts={"policy": str(artifact)},
                model_config={SHA_TAG: sha},
                pip_requirements=_pip_requirements(),
                signature=signature(policy.domain),
                input_example=example,
            )

    try:
        return logged(input_example(policy))
    except MlflowException as exc:  # an example MLflow will not take must not block a policy
        log.warning("logging the policy without its input example: %s", exc.message[:300])
        return logged(None)


_INPUT_TYPES = {"number": "double", "text": "string"}


def signature(domain: Any) -> ModelSignature:
    """Inputs from the domain's fields (see the module doc), outputs the decision's columns."""
    inputs = [ColSpec(AnyType(), domain.id, required=False)] + [
        ColSpec(_INPUT_TYPES[kind], name, required=False)
        if kind in _INPUT_TYPES
        else ColSpec(AnyType(), name, required=False)
        for name, kind in domain.field_types.items()
    ]
    candidate = Object([Property("resolution", "string"), Property("probability", "double")])
    outputs = [
        ColSpec(Array(candidate), c)
        if c == "candidates"
        else ColSpec("double" if c in ("confidence", "threshold") else "string", c, required=False)
        for c in (*DECISION_COLUMNS, ERROR_COLUMN)
    ]
    return ModelSignature(
        inputs=Schema(inputs),
        outputs=Schema(outputs),
        params=ParamSchema([ParamSpec("now", "string", None)]),
    )


def input_example(policy: Any) -> pd.DataFrame:
    """A few records from the rule files' examples (else one record with only an id): what a
    caller sends, in the domain's own words."""
    domain = policy.domain
    examples = [
        ex.record
        for rule in getattr(getattr(policy, "rules", None), "rules", ()) or ()
        for ex in getattr(rule, "examples", ())
    ][:EXAMPLE_RECORDS] or [{}]
    known = [domain.id, *domain.field_types]
    rows = [
        {domain.id: f"example-{i + 1}", **{k: v for k, v in rec.items() if k in known}}
        for i, rec in enumerate(examples)
    ]
    cols = [c for c in known if any(c in r for r in rows)]  # fields no example uses stay out
    frame = pd.DataFrame(rows, columns=cols).astype(object)
    frame = frame.where(frame.notna(), None)
    for name in cols:
        kind = domain.field_types.get(name)
        if kind == "number":  # the signature's double
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif kind == "text":
            frame[name] = [None if v is None else str(v) for v in frame[name]]
    return frame


# ---------------------------------------------------------------------------- reading


def _model_version(name: str, version_or_alias: str | int) -> Any:
    client = _client()
    ref = str(version_or_alias)
    where = f"'{name}' {'version ' + ref if ref.isdigit() else '@' + ref}"
    try:
        if ref.isdigit():
            return client.get_model_version(name, ref)
        return client.get_model_version_by_alias(name, ref)
    except MlflowException as exc:
        raise RegistryError(
            f"no registered policy {where} in {_config.tracking_uri} ({exc.error_code}). "
            f"Train one with `autoresolve train --domain data/{name}`, or see the versions "
            "with `autoresolve models list`."
        ) from exc


def champion_version(name: str) -> str | None:
    """The version behind `@champion`, or None when the name or the alias does not exist."""
    client = _client()
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise RegistryError(f"reading @champion of '{name}': {exc.message}") from exc


def version_info(name: str, version_or_alias: str | int = CHAMPION) -> VersionInfo:
    mv = _model_version(name, version_or_alias)
    return _info(mv)


def _info(mv: Any) -> VersionInfo:
    created = datetime.fromtimestamp((mv.creation_timestamp or 0) / 1000, UTC)
    return VersionInfo(
        name=mv.name,
        version=str(mv.version),
        aliases=tuple(getattr(mv, "aliases", ()) or ()),
        run_id=mv.run_id or mv.tags.get("run_id"),
        created_at=created.isoformat(timespec="seconds"),
        tags=dict(mv.tags or {}),
    )


def list_versions(name: str) -> list[VersionInfo]:
    """Every registered version of a policy, oldest first, with its aliases."""
    with _store_errors(f"listing versions of '{name}'"):
        client = _client()
        found = client.search_model_versions(f"name = '{name}'")
        aliases: dict[str, list[str]] = {}
        with contextlib.suppress(MlflowException):  # search results may lack the aliases
            for alias, version in (client.get_registered_model(name).aliases or {}).items():
                aliases.setdefault(str(version), []).append(alias)
        infos = []
        for mv in found:
            info = _info(mv)
            extra = [a for a in sorted(aliases.get(info.version, [])) if a not in info.aliases]
            if extra:
                info = VersionInfo(**{**info.__dict__, "aliases": (*info.aliases, *extra)})
            infos.append(info)
        return sorted(infos, key=lambda v: int(v.version))


def load_policy(name: str, version_or_alias: str | int = CHAMPION) -> Any:
    """Load a policy from our registry after checking its bytes against the recorded sha256."""
    mv = _model_version(name, version_or_alias)
    where = f"policy '{name}' version {mv.version}"
    with (
        _store_errors(f"downloading {where}"),
        tempfile.TemporaryDirectory(prefix="autoresolve-load-") as tmp,
    ):
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{name}/{mv.version}", dst_path=tmp
            )
        )
        found = [local / "artifacts" / f for f in (POLICY_FILE, LEGACY_POLICY_FILE)]
        artifact = next((p for p in found if p.is_file()), None)
        if artifact is None:
            raise RegistryError(
                f"{where}: the model has no artifacts/{POLICY_FILE}; it was not logged by "
                "autoresolve. Retrain with `autoresolve train`."
            )
        data = artifact.read_bytes()
    policy = _unpickle_verified(
        data, (mv.tags or {}).get(SHA_TAG), where, legacy=artifact.name == LEGACY_POLICY_FILE
    )
    return _set_version(policy, f"{name}:{mv.version}")


def load_artifact_text(name: str, version_or_alias: str | int, path: str) -> str | None:
    """A text artifact of the run behind a version (e.g. data_summary.json), or None."""
    mv = _model_version(name, version_or_alias)
    run_id = mv.run_id or (mv.tags or {}).get("run_id")
    if not run_id:
        return None
    with tempfile.TemporaryDirectory(prefix="autoresolve-art-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=tmp
            )
        except (MlflowException, OSError):
            return None
        return Path(local).read_text(encoding="utf-8")


def trained_resolutions(name: str, version_or_alias: str | int = CHAMPION) -> tuple[str, ...]:
    """The resolutions a registered policy was trained with (its domain's, taken from the labels
    when domain.yaml lists none); read from the run, else from the policy itself."""
    text = load_artifact_text(name, version_or_alias, RESOLUTIONS_FILE)
    if text:
        return tuple(json.loads(text))
    return tuple(load_policy(name, version_or_alias).domain.resolutions)


class PromotionConflict(RegistryError):
    """@champion moved between the comparison and the promotion (another retrain promoted)."""


@contextlib.contextmanager
def _promotion_lock(name: str) -> Iterator[None]:
    """One promotion of `name` at a time on this machine (a lock file beside the artifacts);
    with a remote registry and no artifact root, the compare-and-swap check alone."""
    root = _config.artifact_root
    if root is None:
        yield
        return
    import fcntl

    path = Path(root).parent / f".promote-{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def promote(
    name: str, version: str | int, reason: str, *, expected: str | object | None = ...
) -> None:
    """Point `@champion` at a version and record why on it, and which version it replaced (where
    `autoresolve models rollback` returns).

    `expected`: the champion the caller compared against (None: there was none). Compare and
    swap: if @champion is another version now, PromotionConflict and nothing changes (two
    `retrain` runs at once both beat the same champion; only the first promotes)."""
    mv = _model_version(name, version)
    client = _client()
    with _promotion_lock(name):
        previous = champion_version(name)
        if expected is not ... and previous != (None if expected is None else str(expected)):
            raise PromotionConflict(
                f"@champion of '{name}' is version {previous} now, not {expected} as when "
                f"version {mv.version} was compared against it: another promotion came first. "
                "Nothing was changed; run `autoresolve retrain` again to compare with it."
            )
        _set_champion(client, name, mv, previous, reason)


def _set_champion(
    client: MlflowClient, name: str, mv: Any, previous: str | None, reason: str
) -> None:
    with _store_errors(f"promoting '{name}' version {mv.version}"):
        client.set_registered_model_alias(name, CHAMPION, mv.version)
        if previous is not None and previous != str(mv.version):
            client.set_model_version_tag(name, mv.version, f"{TAG_PREFIX}{PREVIOUS_TAG}", previous)
        client.set_model_version_tag(name, mv.version, f"{TAG_PREFIX}promoted", reason[:5000])
        client.set_model_version_tag(
            name,
            mv.version,
            f"{TAG_PREFIX}promoted_at",
            datetime.now(UTC).isoformat(timespec="seconds"),
        )


def set_alias(name: str, alias: str, version: str | int) -> None:
    """Point `@alias` at a version (`@challenger`: the last candidate `retrain` registered)."""
    with _store_errors(f"setting @{alias} of '{name}'"):
        _client().set_registered_model_alias(name, alias, str(version))


def tag_version(name: str, version: str | int, key: str, value: str) -> None:
    with _store_errors(f"tagging '{name}' version {version}"):
        _client().set_model_version_tag(name, str(version), f"{TAG_PREFIX}{key}", value[:5000])


def model_uri(name: str, version_or_alias: str | int = CHAMPION) -> str:
    ref = str(version_or_alias)
    return f"models:/{name}/{ref}" if ref.isdigit() else f"models:/{name}@{ref}"


def spark_udf(spark: Any, name: str, version_or_alias: str | int = CHAMPION) -> Any:
    """A Spark pandas UDF deciding records with a registered policy (struct of decision fields).

    The pyfunc wrapper checks the pickled policy against the hash in its model config before
    unpickling; we also check it against the registry here once, on the driver.
    """
    load_policy(name, version_or_alias)
    with _store_errors(f"building the Spark UDF for '{name}'"):
        return mlflow.pyfunc.spark_udf(
            spark,
            model_uri(name, version_or_alias),
            result_type=SPARK_RESULT_TYPE,
            env_manager="local",
        )
