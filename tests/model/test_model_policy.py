"""Train → certify → decide on a small synthetic domain; single-record and batch paths agree."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoresolve.model.decision import DECISION_COLUMNS
from autoresolve.model.domain import parse_domain
from autoresolve.model.records import RecordError
from autoresolve.model.train import TrainError, advising_family, train_policy

SYNTH = {
    "name": "synth",
    "id": "rid",
    "label": "res",
    "time": "ts",
    "resolutions": ["a", "b", "c", "d", "never"],
    "fields": {
        "cat": "category",
        "big": {"type": "category", "novelty": False},
        "num": "number",
        "flag": "boolean",
        "note": "text",
        "empty": "number",
        "const": "category",
    },
    "policy": {"target_precision": 0.9, "confidence": 0.9},
}
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_synth(n: int = 3000, seed: int = 0, **policy):
    """A learnable domain: the label follows cat, num and a text cue, with 5% label noise."""
    raw = {**SYNTH, "policy": {**SYNTH["policy"], **policy}}
    rng = np.random.default_rng(seed)
    cat = rng.choice(["x", "y", "z", "w"], n)
    big = np.array([f"v{int(v)}" for v in rng.zipf(1.5, n) % 500])
    num = rng.normal(0, 1, n)
    flag = rng.random(n) < 0.3
    words = np.array(["refund please", "urgent outage", "hello there", "invoice copy", ""])
    note = words[rng.integers(0, 5, n)]
    score = np.where(cat == "x", 0, np.where(cat == "y", 1, 2)) + (num > 1)
    res = np.array(["a", "b", "c", "d"])[np.clip(score, 0, 3)]
    res = np.where(note == "refund please", "d", res)
    res = np.where(rng.random(n) < 0.05, rng.choice(["a", "b", "c", "d"], n), res)
    secs = np.sort(rng.integers(0, 365 * 24 * 3600, n))
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(secs, unit="s")
    df = pd.DataFrame(
        {
            "rid": [f"r{i}" for i in range(n)],
            "ts": ts,
            "cat": cat,
            "big": big,
            "num": np.where(rng.random(n) < 0.1, np.nan, num),
            "flag": flag,
            "note": np.where(note == "", None, note),
            "empty": np.nan,
            "const": "k",
            "res": res,
        }
    )
    return parse_domain(raw), df


def json_record(row: pd.Series) -> dict:
    """A row as a JSON client would send it: None for missing, ISO strings for times."""
    out = {}
    for k, v in row.items():
        if isinstance(v, pd.Timestamp):
            out[k] = v.isoformat()
        elif isinstance(v, float) and math.isnan(v):
            out[k] = None
        else:
            out[k] = v.item() if hasattr(v, "item") else v
    return out


@pytest.fixture(scope="module")
def trained():
    domain, df = make_synth()
    policy, report = train_policy(domain, df, seed=0)
    return domain, df, policy, report


def test_train_certifies_and_reports(trained) -> None:
    _, _, policy, report = trained
    cert = report.certificate
    for key in (
        "target_precision",
        "confidence",
        "n_calibration",
        "threshold",
        "accepted",
        "observed_precision",
        "error_upper_bound",
        "method",
        "candidates_tested",
    ):
        assert key in cert
    assert "MAPIE" in cert["method"]
    assert cert["threshold"] is not None and 0 < cert["threshold"] < 1
    assert cert["error_upper_bound"] <= 1 - 0.9 + 1e-9
    m = report.metrics
    assert m["coverage"] > 0.5 and m["target_held"]
    assert m["realised_precision"] >= 0.9
    assert report.chosen in ("lightgbm", "linear") and report.why
    assert report.dropped["classes_absent"] == ["never"]
    assert "never" not in policy.classes
    assert report.splits["fit"]["time_end"] <= report.splits["test"]["time_start"]
    d = policy.describe()
    assert d["version"].startswith("unregistered-") and d["threshold"] == cert["threshold"]
    assert d["fingerprint"]["rows"] == 3000 and len(d["fingerprint"]["sha256"]) == 64


def test_decide_frame_shape_and_reasons(trained) -> None:
    _, df, policy, _ = trained
    out = policy.decide_frame(df.head(300), now=NOW)
    assert list(out.columns) == list(DECISION_COLUMNS) and len(out) == 300
    assert (out["record_id"] == df["rid"].head(300)).all()
    assert set(out["outcome"]) <= {"resolved", "deferred"}
    resolved = out[out.outcome == "resolved"]
    assert (resolved["confidence"] >= resolved["threshold"]).all()
    assert set(out["defer_reason"].dropna()) <= {"novel", "low_confidence"}
    assert out["decided_at"].iloc[0] == "2026-01-02T03:04:05.000Z"
    deferred = out[out.outcome == "deferred"]
    assert deferred["resolution"].map(lambda v: v is None).all()  # None, not NaN
    assert out["rule_id"].map(lambda v: v is None).all()
    cands = out["candidates"].iloc[0]
    assert len(cands) == 3 and cands[0]["probability"] >= cands[1]["probability"]


def _same(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return a == b


mutations = st.fixed_dictionaries(
    {},
    optional={
        "cat": st.one_of(
            st.none(), st.sampled_from(["x", "y", "w", "zz-new"]), st.text(max_size=8)
        ),
        "big": st.one_of(st.none(), st.sampled_from(["v1", "v499", "nope"])),
        "num": st.one_of(st.none(), st.floats(-1e6, 1e6), st.sampled_from(["3", " 4.5 ", "abc"])),
        "flag": st.one_of(st.none(), st.booleans(), st.sampled_from(["yes", "0", "?"])),
        "note": st.one_of(st.none(), st.text(max_size=30), st.just("refund please")),
        "empty": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    },
)


def _assert_paths_agree(policy, rec: dict) -> None:
    try:
        one = policy.decide_record(rec, now=NOW).to_dict()
    except RecordError:  # a value the schema refuses: the table path must refuse it too
        with pytest.raises(RecordError):
            policy.decide_frame(pd.DataFrame([rec]), now=NOW)
        return
    row = policy.decide_frame(pd.DataFrame([rec]), now=NOW).iloc[0].to_dict()
    for col in DECISION_COLUMNS:
        if col == "candidates":
            assert [c["resolution"] for c in one[col]] == [c["resolution"] for c in row[col]]
            for a, b in zip(one[col], row[col], strict=True):
                assert abs(a["probability"] - b["probability"]) <= 1e-9
        elif col in ("confidence", "threshold") and one[col] is not None:
            assert abs(one[col] - row[col]) <= 1e-9
        else:
            assert _same(one[col], row[col]), (col, one[col], row[col])


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(i=st.integers(0, 2999), change=mutations)
def test_record_and_frame_paths_agree(trained, i: int, change: dict) -> None:
    _, df, policy, _ = trained
    _assert_paths_agree(policy, {**json_record(df.iloc[i]), **change})


@pytest.fixture(scope="module")
def ruled(trained):
    domain, df, policy, _ = trained
    return policy.with_rules(_ruleset(domain), df.iloc[1500:])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(i=st.integers(0, 2999), change=mutations)
def test_record_and_frame_paths_agree_with_rules(trained, ruled, i: int, change: dict) -> None:
    _, df, _, _ = trained
    _assert_paths_agree(ruled, {**json_record(df.iloc[i]), **change})


def test_batch_of_many_rows_matches_records(trained) -> None:
    _, df, policy, _ = trained
    sub = df.sample(200, random_state=3)
    table = policy.decide_frame(sub, now=NOW)
    proba = policy.predict_proba_frame(sub).to_numpy()
    for k in range(0, 200, 17):
        d = policy.decide_record(json_record(sub.iloc[k]), now=NOW)
        assert d.outcome == table["outcome"].iloc[k]
        assert d.defer_reason == table["defer_reason"].iloc[k] or (
            d.defer_reason is None and table["defer_reason"].iloc[k] is None
        )
        assert abs(d.confidence - proba[k].max()) <= 1e-9


def test_unseen_category_in_watched_field_is_novel(trained) -> None:
    _, df, policy, _ = trained
    rec = {**json_record(df.iloc[10]), "cat": "never-seen-before"}
    d = policy.decide_record(rec, now=NOW)
    assert d.outcome == "deferred" and d.defer_reason == "novel"
    far = {**json_record(df.iloc[10]), "num": 1e9}
    assert policy.decide_record(far, now=NOW).defer_reason == "novel"
    # 'big' is marked novelty: false in the domain, so an unseen value there is not novel by itself
    assert (
        policy.novelty.field_stats_["big"]["used"] is False
        if "big" in policy.novelty.field_stats_
        else True
    )


def test_novel_records_are_less_accurate_on_test(trained) -> None:
    _, _, _, report = trained
    nov = report.novelty
    assert "test_novel_share" in nov


def test_no_certified_threshold_defers_everything_with_no_model() -> None:
    domain, df = make_synth(n=600, target_precision=0.999, confidence=0.99)
    policy, report = train_policy(domain, df)
    assert report.certificate["threshold"] is None
    assert "no candidate threshold" in report.certificate["reason"]
    out = policy.decide_frame(df.head(50), now=NOW)
    assert (out["outcome"] == "deferred").all()
    assert set(out["defer_reason"]) <= {"no_model", "novel"}
    assert report.metrics["coverage"] == 0.0


def test_unknown_label_is_refused_with_the_values() -> None:
    domain, df = make_synth(n=400)
    df.loc[5, "res"] = "route_to_mars"
    with pytest.raises(TrainError, match="route_to_mars"):
        train_policy(domain, df)


def test_one_usable_class_is_refused() -> None:
    domain, df = make_synth(n=400)
    df["res"] = "a"
    df.loc[3, "res"] = "b"
    with pytest.raises(TrainError, match="at least two"):
        train_policy(domain, df)


def test_classes_below_min_examples_are_dropped_and_reported() -> None:
    domain, df = make_synth(n=1200, min_class_examples=5)
    df.loc[[10, 20, 30], "res"] = "never"
    policy, report = train_policy(domain, df)
    assert report.dropped["classes_below_min_examples"] == {"never": 3}
    assert "never" not in policy.classes


def test_unlabelled_rows_are_dropped_and_counted() -> None:
    domain, df = make_synth(n=1200)
    df.loc[:9, "res"] = None
    _, report = train_policy(domain, df)
    assert report.dropped["unlabelled_rows"] == 10


def test_too_few_rows_is_refused() -> None:
    domain, df = make_synth(n=50)
    with pytest.raises(TrainError, match="at least"):
        train_policy(domain, df)


def test_figures_are_pngs(trained) -> None:
    _, _, _, report = trained
    figs = report.figures()
    assert set(figs) == {"reliability.png", "coverage_precision.png", "confusion_matrix.png"}
    assert all(b.startswith(b"\x89PNG") for b in figs.values())


def test_progress_callback_and_version_override(trained) -> None:
    domain, df = make_synth(n=800)
    seen = []
    policy, _ = train_policy(domain, df, progress=lambda msg, frac: seen.append((msg, frac)))
    assert seen[0][1] == 0.0 and seen[-1] == ("done", 1.0)
    v2 = policy.with_version("7")
    assert v2.version == "7" and policy.version != "7"
    assert policy.decide_record(json_record(df.iloc[0])).policy_version == policy.version


RULES = """
rules:
  - id: x-is-a
    when: cat == "x"
    then: a
    examples:
      - {record: {cat: x}, expect: a}
  - id: hold-refunds
    when: contains(lower(note), "refund")
    then: defer
    examples:
      - {record: {note: "Refund please"}, expect: defer}
"""


def _ruleset(domain):
    from autoresolve.rules import parse_rules

    return parse_rules(RULES, domain.field_types, domain.resolutions)


def test_rules_first_then_model_and_recertification(trained) -> None:
    domain, df, policy, _ = trained
    rs = _ruleset(domain)
    new = policy.with_rules(rs, df.iloc[1500:])
    assert new.rules is rs and policy.rules is not rs
    assert new.version != policy.version
    assert new.certificate["recertified_for_rules"] == rs.version
    out = new.decide_frame(df.head(400), now=NOW)
    x = (df["cat"].head(400) == "x").to_numpy()
    refund = df["note"].head(400).fillna("").str.contains("refund").to_numpy()
    assert (out.loc[x, "source"] == "rule").all() and (out.loc[x, "rule_id"] == "x-is-a").all()
    deferred = out[refund & ~x]
    assert (deferred["defer_reason"] == "rule").all() and (deferred["outcome"] == "deferred").all()
    rec = json_record(df.iloc[int(np.flatnonzero(refund & ~x)[0])])
    d = new.decide_record(rec, now=NOW)
    assert d.outcome == "deferred" and d.defer_reason == "rule" and d.rule_id == "hold-refunds"
    assert new.describe()["rules_version"] == rs.version


def test_train_with_rules_certifies_on_rule_free_records() -> None:
    domain, df = make_synth(n=1500)
    _, report = train_policy(domain, df, rules=_ruleset(domain))
    m = report.metrics
    assert m["rule_resolved"] > 0 and m["test_rule_free"] < m["test_records"]
    assert report.certificate["n_calibration"] < report.splits["cert"]["rows"]


def test_policy_survives_pickle_with_identical_decisions(trained) -> None:
    import pickle

    _, df, policy, _ = trained
    rec = json_record(df.iloc[42])
    before = policy.decide_record(rec, now=NOW)  # builds the per-thread fast predictor
    clone = pickle.loads(pickle.dumps(policy))
    assert clone.decide_record(rec, now=NOW) == before
    pd.testing.assert_frame_equal(
        clone.decide_frame(df.head(50), now=NOW), policy.decide_frame(df.head(50), now=NOW)
    )


def test_novelty_can_be_switched_off_by_the_domain() -> None:
    domain, df = make_synth(n=800, novelty=False)
    policy, report = train_policy(domain, df)
    assert policy.novelty is None and report.novelty.get("disabled")
    rec = {**json_record(df.iloc[3]), "cat": "never-seen-before"}
    assert policy.decide_record(rec, now=NOW).defer_reason != "novel"


def test_confusion_matrix_rows_and_columns_share_the_order(trained) -> None:
    _, _, policy, report = trained
    cm = report.evaluation["confusion"]
    assert list(cm.columns) == list(policy.classes)
    assert list(cm.index)[: len(policy.classes)] == list(policy.classes)
    diag = sum(int(cm.iat[i, i]) for i in range(len(policy.classes)))
    assert diag / cm.to_numpy().sum() == pytest.approx(report.metrics["accuracy_rule_free"])


def test_all_missing_and_constant_columns_train_and_are_inert(trained) -> None:
    _, df, policy, _ = trained
    assert df["empty"].isna().all() and df["const"].nunique() == 1
    names = list(policy.pipeline.get_feature_names_out())
    X = policy.pipeline.transform(df.head(100))
    assert np.isnan(X[:, names.index("empty")]).all()
    assert (X[:, names.index("const")] == 0).all()
    # a value where training saw none is accepted (the field carried no information)
    rec = {**json_record(df.iloc[5]), "empty": 12.5}
    assert policy.decide_record(rec, now=NOW).outcome in ("resolved", "deferred")


def test_domain_without_time_field_splits_in_given_order() -> None:
    raw = {k: v for k, v in SYNTH.items() if k != "time"}
    domain = parse_domain(raw)
    _, df = make_synth(n=800)
    policy, report = train_policy(domain, df.drop(columns=["ts"]))
    assert report.splits["test"]["time_start"] is None
    assert policy.fingerprint["time_start"] is None and policy.fingerprint["rows"] == 800


@pytest.mark.parametrize(
    ("per_class", "mode"), [(True, "class_curves"), ("bonferroni", "per_class")]
)
def test_per_class_thresholds_are_certified_and_used_by_both_paths(per_class, mode) -> None:
    domain, df = make_synth(n=12000)  # each class needs its own certification sample
    policy, report = train_policy(domain, df, per_class=per_class)
    cert = report.certificate
    assert cert["mode"] == mode and cert["threshold"] is None
    certified = {
        c: v["threshold"] for c, v in cert["per_class"].items() if v["threshold"] is not None
    }
    assert certified, cert["reason"]
    if mode == "per_class":  # each class certified alone
        for c, v in cert["per_class"].items():
            if v["threshold"] is not None:
                assert v["error_upper_bound"] <= 1 - 0.9 + 1e-9, c
    else:  # one test over the path of vectors: the bound is on everything accepted
        assert cert["error_upper_bound"] <= 1 - 0.9 + 1e-9
        assert cert["level"] is not None
    assert policy.thresholds == {c: certified.get(c) for c in policy.classes}
    out = policy.decide_frame(df.tail(300), now=NOW)
    by_model = out[out.source == "model"]
    assert len(by_model) > 0
    for _, row in by_model.iterrows():
        assert row["threshold"] == certified[row["resolution"]]
        assert row["confidence"] >= row["threshold"]
    for i in range(11000, 11060):
        _assert_paths_agree(policy, json_record(df.iloc[i]))
    described = policy.describe()
    assert described["thresholds"] == policy.thresholds
    assert set(described["per_class"]) == set(policy.classes)
    assert "never" in described["never_resolved"]  # no training example: not a model class
    for c, why in described["never_resolved"].items():
        assert why and (c not in policy.classes or policy.thresholds[c] is None)


def test_auto_threshold_mode_explains_its_choice() -> None:
    domain, df = make_synth(n=1500)
    _, report = train_policy(domain, df, per_class="auto")
    assert "Thresholds:" in report.why


def test_label_column_missing_is_a_domain_error_and_labels_are_stripped() -> None:
    from autoresolve.model.domain import DomainError

    domain, df = make_synth(n=400)
    with pytest.raises(DomainError, match="res"):
        train_policy(domain, df.drop(columns=["res"]))
    df["res"] = " " + df["res"] + " "
    _, report = train_policy(domain, df)
    assert report.dropped["unlabelled_rows"] == 0


def test_decide_records_is_decide_record_for_each(trained) -> None:
    """The server decides one loop turn's records together; each must get its lone decision."""
    _, df, policy, _ = trained
    records = [json_record(df.iloc[i]) for i in range(0, 3000, 97)]
    records.insert(5, {**records[5], "num": "not a number"})
    together = policy.decide_records(records, now=NOW)
    for rec, got in zip(records, together, strict=True):
        try:
            alone = policy.decide_record(rec, now=NOW)
        except RecordError as exc:
            assert isinstance(got, RecordError) and str(got) == str(exc)
            continue
        assert got == alone
    assert sum(isinstance(g, RecordError) for g in together) == 1
    assert {g.source for g in together if not isinstance(g, RecordError)} >= {"model", None}


def test_a_policy_that_certifies_nothing_shows_the_more_accurate_models_candidates() -> None:
    results = {"linear": {"calib_accuracy": 0.17}, "lightgbm": {"calib_accuracy": 0.31}}
    failed = {"threshold": None, "per_class": {"a": {"threshold": None}}}
    assert advising_family(results, "linear", failed) == "lightgbm"
    assert advising_family(results, "linear", {"threshold": 0.8}) == "linear"
    assert (
        advising_family(
            results, "linear", {"threshold": None, "per_class": {"a": {"threshold": 0.7}}}
        )
        == "linear"
    )
    results["lightgbm"]["calib_accuracy"] = float("nan")
    assert advising_family(results, "linear", failed) == "linear"

    domain, df = make_synth(target_precision=0.9999)  # nothing can certify
    policy, report = train_policy(domain, df, seed=0)
    assert policy.resolves_nothing
    accuracy = {f: c["calib_accuracy"] for f, c in report.candidates.items()}
    assert report.chosen == max(accuracy, key=accuracy.get)
    assert policy.estimator.describe()["family"] == report.chosen


def test_train_reports_a_rule_below_its_bar_with_the_records_it_gets_wrong() -> None:
    from autoresolve.rules import parse_rules

    domain, df = make_synth(n=3000)
    text = (
        "rules:\n"
        '  - id: wrong-way\n    when: cat == "x"\n    then: d\n'  # cat x is mostly a
        '  - id: right-way\n    when: note == "refund please"\n    then: d\n'
    )
    rules = parse_rules(text, domain.field_types, domain.resolutions)
    _, report = train_policy(domain, df, rules=rules)
    health = report.rule_health
    assert health["unhealthy"] == ["wrong-way"]
    bad = next(r for r in health["rules"] if r["rule_id"] == "wrong-way")
    assert bad["status"] == "below_bar" and bad["ci_high"] < 0.9 and not bad["learned"]
    assert len(bad["wrong"]) == 3
    for w in bad["wrong"]:
        assert w["fields"] == {"cat": "x"} and w["label"] != "d"
        assert df.loc[df["rid"] == w["id"], "cat"].item() == "x"
    good = next(r for r in health["rules"] if r["rule_id"] == "right-way")
    assert good["status"] == "ok" and good["wrong"] == []


def test_target_held_says_nothing_when_the_model_resolved_nothing() -> None:
    domain, df = make_synth(target_precision=0.9999)
    policy, report = train_policy(domain, df, seed=0)
    assert policy.resolves_nothing and report.metrics["model_resolved"] == 0
    assert report.metrics["target_held"] is None


def test_recertifying_for_new_rules_keeps_the_per_class_mode() -> None:
    from autoresolve.rules import parse_rules

    domain, df = make_synth(n=12000)
    policy, _ = train_policy(domain, df.head(8000), per_class=True)
    rules = parse_rules(
        'rules:\n  - id: refunds\n    when: note == "refund please"\n    then: d\n',
        domain.field_types,
        domain.resolutions,
    )
    again = policy.with_rules(rules, df.tail(4000))
    cert = again.certificate
    assert cert["mode"] == "class_curves" and cert["recertified_for_rules"] == rules.version
    assert again.rules is rules and again.version != policy.version
    assert set(cert["per_class"]) == set(policy.classes)
    assert again.thresholds == {c: cert["per_class"][c]["threshold"] for c in policy.classes}
