"""Write the notebooks of this folder from the cells below, without outputs.

Run `.venv/bin/python notebooks/make_notebooks.py` after editing a cell here; the notebooks are
generated so that what is committed is clean (no outputs, no execution counts) and reviewable as
Python. They import the packages and hold no logic of their own worth reusing: anything a notebook
computes that the service needs belongs in `model/` or `rules/`.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
import os
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

ROOT = Path.cwd() if (Path.cwd() / "data" / "crm").is_dir() else Path.cwd().parent
ROWS = int(os.environ.get("AUTORESOLVE_NOTEBOOK_ROWS", "60000"))  # small under test
pd.set_option("display.width", 140, "display.max_columns", 30)

from autoresolve.model.domain import load_domain
from autoresolve.model.generators.crm import generate_with_meta

domain = load_domain(ROOT / "data" / "crm")
df, meta = generate_with_meta(ROWS)
print(f"{len(df):,} records of domain '{domain.name}', {df[domain.time].min()} … {df[domain.time].max()}")
"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_explore_domain": [
        ("md", "# Exploring a domain's data: the CRM demo\n\nWhat the exception records look "
               "like before any rule or model touches them: field types, missing values, the "
               "resolutions, and how traffic changes month by month (drift and two new kinds of "
               "case arrive late). `AUTORESOLVE_NOTEBOOK_ROWS` sets the sample size."),
        ("code", SETUP),
        ("md", "## Fields: type, missing share, distinct values"),
        ("code", """\
fields = pd.DataFrame(
    {
        "type": pd.Series(domain.field_types),
        "missing": df[list(domain.field_types)].isna().mean().round(3),
        "distinct": df[list(domain.field_types)].nunique(),
    }
)
fields"""),
        ("md", "## Resolutions (the label)"),
        ("code", "df[domain.label].value_counts(normalize=True).round(3).to_frame('share')"),
        ("md", "## Traffic per month, and the resolution mix over time"),
        ("code", """\
from autoresolve.model.datasets import period_index

month = period_index(df, domain).astype(str)
mix = pd.crosstab(month, df[domain.label], normalize="index").round(3)
ax = mix.plot.area(figsize=(9, 4), title="resolution mix per month", legend=False)
ax.set_ylabel("share")
month.value_counts().sort_index().to_frame("records").T"""),
        ("md", "## Kinds of case per month (hidden metadata of the generator)\n\n"
               "`webinar_smb` and `consent_missing` appear only in later months: no rule "
               "covers them and the first model never saw them."),
        ("code", """\
kinds = pd.crosstab(meta["case_kind"], month)
kinds.loc[["webinar_smb", "consent_missing"]]"""),
        ("md", "## Drift of the fields: first month against the last (PSI)"),
        ("code", """\
from autoresolve.model.drift import drift, summarize

first, last = df[month == month.min()], df[month == month.max()]
scores = drift(summarize(domain.field_types, first), last)
pd.Series(scores).sort_values(ascending=False).round(3).to_frame("psi").head(10)"""),
    ],
    "02_rules_coverage": [
        ("md", "# Rule coverage and precision\n\nThe deterministic layer: which rule fires on "
               "how many records, how often it is right (with an interval), and what the lint "
               "finds (shadowed, dead or overlapping rules)."),
        ("code", SETUP),
        ("code", """\
import numpy as np
from autoresolve.rules import lint, load_rules

ruleset = load_rules(domain.rules_path, domain.field_types, domain.resolutions)
hit = ruleset.match_frame(df)
print(f"rule set {ruleset.version[:12]}: {len(ruleset.rules)} rules, "
      f"{(hit >= 0).mean():.1%} of records hit a rule")"""),
        ("md", "## Per rule: fires, coverage, precision with its 95% interval"),
        ("code", """\
report = lint(ruleset, df, domain.label, domain.policy.target_precision)
per_rule = pd.DataFrame(report.to_dict()["rules"])
per_rule[["rule_id", "then", "fires", "coverage", "precision", "ci_low", "ci_high", "status"]]"""),
        ("md", "## Findings"),
        ("code", "pd.DataFrame(report.to_dict()['findings'])"),
        ("md", "## What no rule covers: the model's population, by resolution"),
        ("code", """\
free = df[hit < 0]
free[domain.label].value_counts(normalize=True).round(3).to_frame(f"share of {len(free):,} rule-free records")"""),
    ],
    "03_calibration_and_certification": [
        ("md", "# Calibration and certification\n\nThe model resolves a record only above a "
               "threshold certified on held-out data: precision of model-resolved records ≥ "
               "target with the domain's confidence (Learn-then-Test). The reliability diagram "
               "shows calibration; the coverage–precision curve shows what each threshold would "
               "give on the test slice, which the certificate never saw."),
        ("code", SETUP),
        ("code", """\
from autoresolve.model.train import train_policy

policy, report = train_policy(domain, df, seed=0)
cert = report.certificate
print(report.why)
{k: cert.get(k) for k in ("threshold", "target_precision", "confidence", "n_calibration", "reason")}"""),
        ("md", "## Test-slice metrics (most recent records; never used for a choice)"),
        ("code", """\
m = report.metrics
pd.Series({k: m.get(k) for k in ("autonomy", "coverage", "realised_precision", "target_held",
                                   "rule_precision", "ece", "ece_uncalibrated")}).to_frame("value")"""),
        ("md", "## Reliability diagram, coverage–precision curve, confusion matrix"),
        ("code", """\
for name, png in report.figures().items():
    print(name)
    display(Image(png))"""),
    ],
    "04_deferred_queue": [
        ("md", "# The deferred queue\n\nWhat the policy sends to people, why, and which groups "
               "of similar deferred records would make a new rule. The policy is trained on the "
               "first half of the history and decides the second half."),
        ("code", SETUP),
        ("code", """\
from autoresolve.model.datasets import sort_by_time
from autoresolve.model.train import train_policy

ordered = sort_by_time(domain, df)
half = len(ordered) // 2
policy, _ = train_policy(domain, ordered.iloc[:half], seed=0)
later = ordered.iloc[half:].reset_index(drop=True)
decisions = policy.decide_frame(later.drop(columns=[domain.label]))
decisions["outcome"].value_counts(normalize=True).round(3).to_frame("share")"""),
        ("md", "## Why records were deferred"),
        ("code", "decisions.loc[decisions.outcome == 'deferred', 'defer_reason'].value_counts().to_frame('records')"),
        ("md", "## Largest clusters of similar deferred records — candidates for a new rule\n\n"
               "Grouped on the categorical fields whose values co-occur most; `common` lists "
               "values shared by ≥ 80% of a cluster; the majority label is known here because "
               "the history is labelled."),
        ("code", """\
from autoresolve.model.report import deferred_clusters

deferred = later[decisions["outcome"].eq("deferred").to_numpy()]
clusters = deferred_clusters(deferred, domain, labels=later[[domain.id, domain.label]])
clusters"""),
        ("md", "## Which kinds of case fill the queue (generator metadata)"),
        ("code", """\
kind = meta.set_index("record_id").loc[deferred[domain.id], "case_kind"]
kind.value_counts().head(10).to_frame("deferred records")"""),
    ],
    "06_tuning_for_certified_coverage": [
        ("md", "# Tuning for certified coverage\n\nThe product lives by one number: the share of "
               "rule-free records the model resolves under a certified threshold (precision ≥ the "
               "domain's target at its confidence). `CertifiedCoverage` is that number as a "
               "scikit-learn scorer, and our feature pipeline and estimators are scikit-learn "
               "estimators, so `GridSearchCV` tunes the model for it. The newest 20% of the "
               "history is held out; the search sees only the earlier records, in time-ordered "
               "folds. `autoresolve train --tune-budget N` runs the same kind of search inside "
               "training (model.tuning)."),
        ("code", SETUP),
        ("code", """\
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import make_pipeline

from autoresolve.model.datasets import sort_by_time
from autoresolve.model.estimators import LightGBMModel
from autoresolve.model.features import FeaturePipeline
from autoresolve.model.records import coerce_frame
from autoresolve.model.scoring import CertifiedCoverage

history = sort_by_time(domain, coerce_frame(domain, df)).iloc[-min(len(df), 20000):]
history = history.reset_index(drop=True)  # at most 20,000 records: the search stays quick
cut = int(0.8 * len(history))
past, newest = history.iloc[:cut], history.iloc[cut:]
y_past, y_newest = past[domain.label].astype(str), newest[domain.label].astype(str)
scorer = CertifiedCoverage(domain)  # the domain's rules.yaml: scores the records no rule takes
model = make_pipeline(
    FeaturePipeline(domain).set_output(transform="pandas"),  # category dtype → native splits
    LightGBMModel(validation_fraction=0.15),  # early stopping on the later 15% of each fold
)
print(f"search on {len(past):,} records, held out: the newest {len(newest):,}")"""),
        ("md", "## The search: 4 candidates × 3 time-ordered folds, scored by certified coverage"),
        ("code", """\
search = GridSearchCV(
    model,
    {"lightgbmmodel__learning_rate": [0.05, 0.15], "lightgbmmodel__num_leaves": [15, 31]},
    scoring=scorer,
    cv=TimeSeriesSplit(3),
).fit(past, y_past)
results = pd.DataFrame(search.cv_results_)
results[["param_lightgbmmodel__learning_rate", "param_lightgbmmodel__num_leaves",
         "mean_test_score", "std_test_score", "rank_test_score"]].sort_values("rank_test_score")"""),
        ("md", "## Tuned against the defaults on the newest records (never seen by the search)"),
        ("code", """\
from sklearn.base import clone

rows = {}
for name, candidate in {"defaults": clone(model), "tuned": search.best_estimator_}.items():
    fitted = candidate if name == "tuned" else candidate.fit(past, y_past)
    rows[name] = {"certified coverage": scorer(fitted, newest, y_newest),
                  "certificate": scorer.last_certificate["reason"]}
print(search.best_params_)
pd.DataFrame(rows).T"""),
        ("md", "## Another classifier behind the same features, scored the same way"),
        ("code", """\
from sklearn.ensemble import HistGradientBoostingClassifier

hgb = make_pipeline(FeaturePipeline(domain).set_output(transform="pandas"),
                    HistGradientBoostingClassifier(max_iter=100, random_state=0))
hgb.fit(past, y_past)
print(f"HistGradientBoosting: certified coverage {scorer(hgb, newest, y_newest):.3f}")"""),
    ],
    "05_autonomy_curve": [
        ("md", "# The autonomy curve\n\nA replay of the history in periods: the first period "
               "trains the policy; each later one is decided by the champion, only deferred "
               "records and a 2% audit sample reveal their labels, and the retraining job runs "
               "with the real promotion gates. Baselines of the same run: rules only, and the "
               "first model never retrained. `autoresolve simulate` is the same code."),
        ("code", SETUP),
        ("md", "The demo's default year (~5,000 records a month; `docs/autonomy.md` explains "
               "why fewer records a month would only show the rules)."),
        ("code", """\
from autoresolve.model.simulate import precision_plot_png, simulate

PERIODS = 12 if ROWS >= 24000 else 4
result = simulate(domain, df, PERIODS, audit_rate=0.02, seed=0,
                  kinds=meta["case_kind"].to_numpy(), new_kinds=["webinar_smb", "consent_missing"])
out = result.to_dict()
table = pd.DataFrame(
    [
        {
            "period": p["period"],
            "records": p["records"],
            "autonomy": p["autonomy"],
            "model precision": p.get("model_precision", {}).get("precision"),
            "low": p.get("model_precision", {}).get("low"),
            "deferred per 1k": p.get("deferred_per_1000"),
            "promoted": p["promoted"],
        }
        for p in out["periods"]
    ]
)
table"""),
        ("code", "display(Image(result.plot_png()))\ndisplay(Image(precision_plot_png(result)))"),
        ("md", "## Why each retrain was or was not promoted"),
        ("code", """\
for p in out["periods"][1:]:
    r = p["retrain"]
    print(p["period"], "promoted" if p["promoted"] else "", r.get("reasons"))
    for g in r.get("gate_reasons", []):
        print("    ", g)"""),
        ("md", "## New kinds of case: deferral rate per period, labels seen before"),
        ("code", """\
pd.DataFrame(
    [{"kind": k, **row} for k, info in out["new_kinds"].items() for row in info["periods"]]
).pivot(index="period", columns="kind", values="deferred_rate")"""),
    ],
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, src) in enumerate(cells):
        cell = new_markdown_cell(src) if kind == "md" else new_code_cell(src)
        cell["id"] = f"{name[:2]}-{i:02d}"
        nb.cells.append(cell)
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(name, cells), HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
