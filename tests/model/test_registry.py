"""The MLflow registry: register, @champion, verified loading, refusals, unreachable stores."""

from __future__ import annotations

import os
import pickle
import socket
import time
import types
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from autoresolve.model import registry
from autoresolve.model.batch import decide_chunk, decision_table, parse_now
from autoresolve.model.decision import DECISION_COLUMNS, Decision
from autoresolve.model.domain import load_domain
from tests.support import CRM_DIR


class _Rules:
    version = "rules-v1"


class StandIn:
    """Just enough of a Policy for the registry: the registry never looks inside."""

    def __init__(self, resolution: str = "merge_duplicate") -> None:
        self.domain = load_domain(CRM_DIR)
        self.rules = _Rules()
        self.version = "unregistered"
        self.fingerprint = "sha256:data-fp"
        self.resolution = resolution

    def decide_frame(self, df: pd.DataFrame, now: Any = None) -> pd.DataFrame:
        n = len(df)
        return pd.DataFrame(
            {
                "record_id": df["record_id"].astype(str).tolist(),
                "outcome": ["resolved"] * n,
                "resolution": [self.resolution] * n,
                "source": ["model"] * n,
                "rule_id": [None] * n,
                "confidence": [0.97] * n,
                "threshold": [0.9] * n,
                "defer_reason": [None] * n,
                "candidates": [[{"resolution": self.resolution, "probability": 0.97}]] * n,
                "policy_version": [self.version] * n,
                "decided_at": [now or "2026-01-01T00:00:00+00:00"] * n,
            },
            columns=list(DECISION_COLUMNS),
        )

    def decide_records(self, records: list[dict], now: Any = None) -> list[Decision]:
        """The single-record path, told apart from `decide_frame` by its source."""
        return [
            Decision(str(r["record_id"]), "resolved", self.resolution, "rule", "r1", None, None,
                     None, (), self.version, "2026-01-01T00:00:00Z")
            for r in records
        ]  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "certificate": {"threshold": 0.9, "n_calibration": 500}}


class Report:
    metrics: ClassVar[dict] = {
        "coverage": 0.61,
        "precision": 0.97,
        "per_class_precision": {"merge_duplicate": 1},
    }
    figures: ClassVar[dict] = {
        "reliability_diagram": b"\x89PNG\r\n\x1a\n fake",
        "confusion_matrix": b"\x89PNG",
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("mlflow")
    registry.configure(f"sqlite:///{home / 'mlflow.db'}", home / "artifacts")
    registry.log_policy(StandIn(), Report(), run_name="first")
    return home


def test_first_version_is_champion_and_later_ones_wait(store: Path) -> None:
    assert registry.champion_version("crm") == "1"
    v2 = registry.log_policy(StandIn("route_smb_queue"), Report(), run_name="second")
    assert v2 == "2"
    assert registry.champion_version("crm") == "1"
    versions = registry.list_versions("crm")
    assert [v.version for v in versions][:2] == ["1", "2"]
    assert "champion" in versions[0].aliases
    registry.promote("crm", "2", "gates passed: test")
    assert registry.champion_version("crm") == "2"
    assert registry.load_policy("crm").resolution == "route_smb_queue"
    registry.promote("crm", "1", "back")
    assert registry.version_info("crm", "1").tags["autoresolve.promoted"] == "back"


def test_load_sets_version_and_decides(store: Path) -> None:
    policy = registry.load_policy("crm", "1")
    assert policy.version == "crm:1"
    out = policy.decide_frame(pd.DataFrame({"record_id": ["a", "b"]}))
    assert out["policy_version"].tolist() == ["crm:1", "crm:1"]


def test_run_has_metrics_params_tags_and_artifacts(store: Path) -> None:
    import mlflow

    info = registry.version_info("crm", "1")
    run = mlflow.get_run(info.run_id)
    assert run.data.metrics["coverage"] == pytest.approx(0.61)
    assert run.data.metrics["per_class_precision.merge_duplicate"] == 1.0
    assert run.data.metrics["certificate.threshold"] == pytest.approx(0.9)
    assert run.data.params["target_precision"] == "0.95"
    assert run.data.tags["autoresolve.data_fingerprint"] == "sha256:data-fp"
    assert info.tags["autoresolve.rules_version"] == "rules-v1"
    client = mlflow.MlflowClient()
    names = {a.path for a in client.list_artifacts(info.run_id)}
    assert {"certificate.json", "figures", "domain", "policy.json"} <= names
    figs = {a.path for a in client.list_artifacts(info.run_id, "figures")}
    assert figs == {"figures/reliability_diagram.png", "figures/confusion_matrix.png"}


def test_pyfunc_predict_matches_policy(store: Path) -> None:
    import json

    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(registry.model_uri("crm", "1"))
    records = pd.DataFrame({"record_id": ["x1", "x2", "x3"]})
    now = "2026-02-02T00:00:00+00:00"
    got = model.predict(records, params={"now": now})
    policy = registry.load_policy("crm", "1")
    want = registry.decision_records(decide_chunk(policy, records, now=parse_now(now)))
    assert got == want
    assert got[0]["candidates"] == [{"resolution": "merge_duplicate", "probability": 0.97}]
    assert list(got[0]) == [*DECISION_COLUMNS, "error"]
    json.dumps(got, allow_nan=False)  # valid JSON for strict parsers: no NaN anywhere


def test_a_one_row_frame_takes_the_single_record_path(store: Path) -> None:
    import json

    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(registry.model_uri("crm", "1"))
    got = model.predict(pd.DataFrame({"record_id": ["x1"]}))
    assert len(got) == 1 and got[0]["source"] == "rule" and got[0]["rule_id"] == "r1"
    assert got[0]["confidence"] is None and got[0]["candidates"] == []
    json.dumps(got, allow_nan=False)


def _policy_artifact(store: Path, version: str) -> Path:
    info = registry.version_info("crm", version)
    found = list((store / "artifacts").rglob(f"artifacts/{registry.POLICY_FILE}"))
    for path in found:
        if path.read_bytes() and info.tags["policy_sha256"]:
            import hashlib

            if hashlib.sha256(path.read_bytes()).hexdigest() == info.tags["policy_sha256"]:
                return path
    raise AssertionError(f"no artifact for version {version} among {found}")


def test_tampered_artifact_is_refused(store: Path) -> None:
    v = registry.log_policy(StandIn(), Report(), run_name="to-tamper")
    path = _policy_artifact(store, v)
    path.write_bytes(path.read_bytes() + b"\x00evil")
    with pytest.raises(registry.RegistryError, match=rf"version {v}.*tampered.*refusing"):
        registry.load_policy("crm", v)


def test_artifact_without_recorded_hash_is_refused(store: Path) -> None:
    import mlflow

    v = registry.log_policy(StandIn(), Report(), run_name="no-hash")
    mlflow.MlflowClient().delete_model_version_tag("crm", v, registry.SHA_TAG)
    with pytest.raises(registry.RegistryError, match="no recorded sha256"):
        registry.load_policy("crm", v)


def test_unknown_name_or_version_says_what_to_do(store: Path) -> None:
    with pytest.raises(registry.RegistryError, match="autoresolve train"):
        registry.load_policy("nosuchdomain")
    with pytest.raises(registry.RegistryError, match="version 999"):
        registry.load_policy("crm", "999")
    assert registry.champion_version("nosuchdomain") is None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_store_is_a_clear_fast_error(store: Path) -> None:
    port = _closed_port()
    t0 = time.perf_counter()
    with pytest.raises(registry.RegistryError, match=rf"unreachable \(127.0.0.1:{port}") as exc:
        registry.configure(f"postgresql://bob:s3cret@127.0.0.1:{port}/mlflow")
    assert time.perf_counter() - t0 < 5
    assert "s3cret" not in str(exc.value)
    with pytest.raises(registry.RegistryError, match="not writable"):
        registry.configure("sqlite:////proc/autoresolve-nope/mlflow.db")
    # the failed calls left the working configuration alone
    assert registry.champion_version("crm") is not None


def test_a_real_policy_round_trips_with_its_figures(store: Path) -> None:
    import mlflow

    from autoresolve.model.generators.crm import generate
    from autoresolve.model.train import train_policy

    domain = load_domain(CRM_DIR)
    df = generate(3_000, seed=2)
    policy, report = train_policy(domain, df, seed=0)
    v = registry.log_policy(policy, report, run_name="real")
    loaded = registry.load_policy("crm", v)
    assert loaded.version == f"crm:{v}" and type(loaded) is type(policy)
    records = df.tail(200).drop(columns=[domain.label])
    a = decision_table(policy.decide_frame(records)).drop(columns=["policy_version", "decided_at"])
    b = decision_table(loaded.decide_frame(records)).drop(columns=["policy_version", "decided_at"])
    pd.testing.assert_frame_equal(a, b)
    run_id = registry.version_info("crm", v).run_id
    client = mlflow.MlflowClient()
    figs = {Path(a.path).name for a in client.list_artifacts(run_id, "figures")}
    assert len(figs) >= 3 and all(f.endswith(".png") for f in figs), figs
    files = {Path(a.path).name for a in client.list_artifacts(run_id, "domain")}
    assert files == {"domain.yaml", "rules.yaml"}
    metrics = mlflow.get_run(run_id).data.metrics
    assert {"coverage", "ece", "certificate.n_calibration"} <= set(metrics)

    from mlflow.models import Model

    logged = Model.load(registry.model_uri("crm", v))
    inputs = {c["name"]: c["type"] for c in logged.signature.inputs.to_dict()}
    assert set(inputs) == {domain.id, *domain.field_types}
    assert inputs["employees"] == "double" and inputs["is_free_email"] == "any"
    assert inputs["notes"] == "string"
    example = logged.load_input_example(
        mlflow.artifacts.download_artifacts(registry.model_uri("crm", v))
    )
    rule_records = [e.record for r in policy.rules.rules for e in r.examples]
    assert example.drop(columns=[domain.id]).iloc[0].dropna().to_dict() == rule_records[0]
    reqs = Path(
        mlflow.artifacts.download_artifacts(registry.model_uri("crm", v) + "/requirements.txt")
    ).read_text()
    assert "autoresolve==" in reqs and "joblib==" in reqs


def test_policy_pickled_by_other_code_is_a_clear_error(store: Path) -> None:
    import hashlib
    import pickle

    blob = pickle.dumps(StandIn())
    stale = blob.replace(b"StandIn", b"GoneNow")  # a class that no longer exists
    with pytest.raises(registry.RegistryError, match=r"incompatible version.*Retrain"):
        registry._unpickle_verified(stale, hashlib.sha256(stale).hexdigest(), "policy 'crm' v9")


class _OldNamesPickler(pickle._Pickler):
    """Pickles as the code did before the namespace move: `model.policy.Policy`, and a rule set
    rebuilt through `rules.ruleset._rebuild` (now `rules.loader.parse_rules`)."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)  # functions skip an override
    dispatch[types.FunctionType] = lambda self, obj: self.save_global(obj)

    def save_global(self, obj: Any, name: str | None = None) -> None:
        module = getattr(obj, "__module__", "") or ""
        qual = name or obj.__qualname__
        if not module.startswith("autoresolve."):
            super().save_global(obj, name)
            return
        old = module.removeprefix("autoresolve.")
        if (old, qual) == ("rules.loader", "parse_rules"):
            old, qual = "rules.ruleset", "_rebuild"
        self.save(old)
        self.save(qual)
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)


def test_a_policy_pickled_under_the_old_package_names_still_loads() -> None:
    import hashlib
    import io

    from autoresolve.model.generators.crm import generate
    from autoresolve.model.train import train_policy

    domain = load_domain(CRM_DIR)
    df = generate(2_000, seed=5)
    policy, _ = train_policy(domain, df, seed=0)
    buf = io.BytesIO()
    _OldNamesPickler(buf, protocol=5).dump(policy)
    blob = buf.getvalue()
    assert b"model.policy" in blob and b"autoresolve." not in blob
    assert b"rules.ruleset" in blob and b"_rebuild" in blob
    loaded = registry._unpickle_verified(blob, hashlib.sha256(blob).hexdigest(), "old policy")
    # the same classes, not second copies imported under the bare names
    assert type(loaded) is type(policy) and loaded.rules.version == policy.rules.version
    records = df.tail(300).drop(columns=[domain.label])
    drop = ["policy_version", "decided_at"]
    pd.testing.assert_frame_equal(
        decision_table(policy.decide_frame(records)).drop(columns=drop),
        decision_table(loaded.decide_frame(records)).drop(columns=drop),
    )


def test_promotion_is_compare_and_swap_on_the_champion(store: Path) -> None:
    a = registry.log_policy(StandIn(), Report(), run_name="retrain-a")
    b = registry.log_policy(StandIn(), Report(), run_name="retrain-b")
    seen = registry.champion_version("crm")  # both retrains compared against this one
    registry.promote("crm", a, "gates passed", expected=seen)
    with pytest.raises(registry.PromotionConflict, match=f"version {a} now, not {seen}"):
        registry.promote("crm", b, "gates passed", expected=seen)
    assert registry.champion_version("crm") == a
    registry.promote("crm", seen, "back")  # without `expected`: by hand, unconditional
