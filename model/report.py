"""What an operator needs to see to trust a deployment that runs itself, computed from tables.

Pure: every function takes DataFrames (the decision log, labels, training data, recent traffic) and
returns DataFrames or a `DeploymentReport`; the CLI does the reading (store, registry) and the
writing (terminal; HTML through `model.report_html`). The report's figures are PNG bytes drawn by
`model.plots`, so nothing here touches a display or global plotting state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.binomial import precision_summary
from autoresolve.model.domain import Domain
from autoresolve.model.jsonable import jsonable
from autoresolve.model.plots import bar_plot_png, line_plot_png

# ---------------------------------------------------------------- autonomy from the decision log


def autonomy_over_time(decisions: pd.DataFrame, freq: str = "D") -> pd.DataFrame:
    """Per time bucket of `decided_at`: records, autonomy, deferrals per 1,000, by source."""
    cols = ["period", "records", "autonomy", "rule", "model", "deferred", "deferred_per_1000"]
    if decisions.empty:
        return pd.DataFrame(columns=cols)
    when = pd.to_datetime(decisions["decided_at"], utc=True, errors="coerce", format="ISO8601")
    bucket = when.dt.tz_convert(None).dt.to_period(freq).astype(str)
    resolved = decisions["outcome"].eq("resolved")
    frame = pd.DataFrame(
        {
            "period": bucket,
            "resolved": resolved,
            "rule": resolved & decisions["source"].eq("rule"),
            "model": resolved & decisions["source"].eq("model"),
            "deferred": ~resolved,
        }
    )
    g = frame.groupby("period", sort=True)
    out = pd.DataFrame(
        {
            "records": g.size(),
            "autonomy": g["resolved"].mean(),
            "rule": g["rule"].sum(),
            "model": g["model"].sum(),
            "deferred": g["deferred"].sum(),
        }
    ).reset_index()
    out["deferred_per_1000"] = 1000.0 * out["deferred"] / out["records"]
    return out[cols]


def audited_precision(
    decisions: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    label_column: str = "resolution",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Realised precision of automatic resolutions per source, from the labels that exist.

    Labels of resolved records come from audits (or from the source system later); the interval
    says how much that sample can tell. Deferred records' labels do not count: they measure
    nothing about automatic precision. When the log marks audited decisions (`audit`, the
    service's random sample), only their labels count: labels someone chose to give are not a
    random sample of what was resolved.
    """
    rows = []
    lab = labels[["record_id", label_column]].rename(columns={label_column: "_truth"})
    lab = lab.drop_duplicates("record_id", keep="last")
    resolved = decisions[decisions["outcome"].eq("resolved")]
    sample = resolved
    if "audit" in resolved.columns:
        audited = resolved["audit"].fillna(False).astype(bool)
        sample = resolved[audited] if audited.any() else resolved
    joined = sample.merge(lab, on="record_id", how="inner")
    for source in ("rule", "model"):
        part = joined[joined["source"].eq(source)]
        summary = precision_summary(
            (part["resolution"].astype(str) == part["_truth"].astype(str)).to_numpy(), confidence
        )
        rows.append(
            {
                "source": source,
                "resolved": int(resolved["source"].eq(source).sum()),
                "audited": summary["n"],
                "precision": summary["precision"],
                "low": summary["low"],
                "high": summary["high"],
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- clusters of deferred records


def _grouping_fields(
    df: pd.DataFrame,
    domain: Domain,
    max_fields: int,
    max_values: int,
    min_score: float = 0.05,
) -> list[str]:
    """The categorical/boolean fields that carry the queue's structure.

    A field is informative when its values go together with other fields' values (webinar leads
    that all lack consent): its mean normalised mutual information with the other fields. Fields
    are chosen greedily, each discounted by its overlap with those already chosen (mRMR-style), so
    two fields that say the same thing (country and territory) do not both spend a slot. A field
    independent of everything (a coin-flip boolean) only cuts groups in arbitrary halves, and
    near-unique fields (e-mail domains with hundreds of values) make singleton clusters; both are
    left out. These co-occurring values are where a rule could draw its line.
    """
    from sklearn.metrics import normalized_mutual_info_score

    cols: dict[str, np.ndarray] = {}
    for name in domain.fields_of("category") + domain.fields_of("boolean"):
        if name not in df.columns:
            continue
        col = df[name].astype("string").fillna("<missing>")
        nunique = col.nunique()
        if 2 <= nunique <= max(max_values * 4, 40):
            cols[name] = col.to_numpy(dtype=object)
    names = sorted(cols)
    if len(names) == 1:
        return names
    nmi = {
        (a, b): normalized_mutual_info_score(cols[a], cols[b])
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }

    def pair(a: str, b: str) -> float:
        return nmi.get((a, b), nmi.get((b, a), 0.0))

    relevance = {a: float(np.mean([pair(a, b) for b in names if b != a])) for a in names}
    chosen: list[str] = []
    while len(chosen) < max_fields:
        # relevant to the rest, not a restatement of a field already chosen (country ~ territory)
        best = max(
            (n for n in names if n not in chosen),
            key=lambda n: (relevance[n] - max((pair(n, c) for c in chosen), default=0.0), n),
            default=None,
        )
        if best is None:
            break
        score = relevance[best] - max((pair(best, c) for c in chosen), default=0.0)
        if score < min_score:
            break
        chosen.append(best)
    return chosen


def _folded(values: pd.Series, max_values: int) -> pd.Series:
    col = values.astype("string").fillna("<missing>")
    keep = col.value_counts().index[:max_values]
    return col.where(col.isin(keep), "<other>")


def _label_fields(
    df: pd.DataFrame,
    truth: pd.Series,
    domain: Domain,
    max_fields: int,
    max_values: int,
    min_gain: float = 0.01,
) -> list[str]:
    """Fields chosen greedily by how much they add to the mutual information with the label.

    Adjusted for chance (AMI): plain mutual information on a few dozen labels rewards any field
    with many values, which would cut the queue into singletons.
    """
    from sklearn.metrics import adjusted_mutual_info_score

    known = truth.notna().to_numpy()
    y = truth[known].astype(str).to_numpy()
    cols = {
        name: _folded(df[name], max_values)[known].to_numpy(dtype=object)
        for name in domain.fields_of("category") + domain.fields_of("boolean")
        if name in df.columns and df[name].nunique(dropna=False) >= 2
    }
    chosen: list[str] = []
    key = np.full(len(y), "", dtype=object)
    current = 0.0
    while len(chosen) < max_fields and cols:
        gains = {
            name: adjusted_mutual_info_score(y, key + "|" + values) - current
            for name, values in cols.items()
            if name not in chosen
        }
        if not gains:
            break
        best = max(gains, key=lambda n: (gains[n], n))
        if gains[best] < min_gain:
            break
        chosen.append(best)
        key = key + "|" + cols[best]
        current += gains[best]
    return chosen


def deferred_clusters(
    deferred: pd.DataFrame,
    domain: Domain,
    *,
    labels: pd.DataFrame | None = None,
    label_column: str | None = None,
    max_fields: int = 3,
    max_values: int = 8,
    top: int = 10,
    common_share: float = 0.8,
    min_labels: int = 30,
) -> pd.DataFrame:
    """Largest groups of similar deferred records: candidates for a new rule.

    With at least `min_labels` labelled deferrals, records are grouped on the few categorical
    fields that best explain what people did with them (greedy gain in mutual information with
    the label, adjusted for chance): the groups a rule could resolve. Without labels, on the
    fields whose values co-occur most (see `_grouping_fields`). Each field's rare values are
    folded into `<other>`; this is one pass of k-modes with the modes fixed to the frequent value
    combinations. Each group lists the field values shared by ≥ `common_share` of its records
    (all fields, not only the grouping ones) and, where labels exist, the majority label and how
    pure it is.
    """
    if deferred.empty:
        return pd.DataFrame(columns=CLUSTER_COLUMNS)
    truth = _deferred_truth(deferred, domain, labels, label_column or domain.label)
    if truth is not None and truth.notna().sum() >= min_labels:
        fields = _label_fields(deferred, truth, domain, max_fields, max_values)
    else:
        fields = _grouping_fields(deferred, domain, max_fields, max_values)
    if fields:
        keyed = pd.DataFrame({name: _folded(deferred[name], max_values) for name in fields})
        groups = keyed.groupby(fields, sort=False, dropna=False).groups
    else:
        groups = {(): deferred.index}
    candidates = [
        c for c in domain.fields_of("category") + domain.fields_of("boolean") if c in deferred
    ]
    rows = []
    for key, idx in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:top]:
        values = key if isinstance(key, tuple) else (key,)
        name = " & ".join(f"{f}={v}" for f, v in zip(fields, values, strict=False)) or "all"
        part = deferred.loc[idx]
        rows.append(
            {
                "cluster": name,
                "size": len(idx),
                "share": len(idx) / len(deferred),
                "common": _common_values(part, candidates, common_share),
                **_majority(truth.loc[idx] if truth is not None else None, len(idx)),
            }
        )
    return pd.DataFrame(rows, columns=CLUSTER_COLUMNS)


CLUSTER_COLUMNS = [
    "cluster",
    "size",
    "share",
    "common",
    "labelled",
    "unlabelled",
    "majority_label",
    "purity",
]


def _deferred_truth(
    deferred: pd.DataFrame, domain: Domain, labels: pd.DataFrame | None, label_column: str
) -> pd.Series | None:
    """The known label of each deferred record (NaN where none), or None without labels."""
    if labels is None or labels.empty or label_column not in labels.columns:
        return None
    lab = labels.drop_duplicates(domain.id, keep="last").set_index(domain.id)[label_column]
    return deferred[domain.id].map(lab)


def _common_values(part: pd.DataFrame, fields: list[str], share: float) -> dict[str, str]:
    """The field values shared by at least `share` of a group's records."""
    common = {}
    for name in fields:
        vc = part[name].astype("string").fillna("<missing>").value_counts(normalize=True)
        if not vc.empty and vc.iloc[0] >= share:
            common[name] = str(vc.index[0])
    return common


def _majority(truth: pd.Series | None, size: int) -> dict[str, Any]:
    """How many of a group's records are labelled, and the most common label and its share."""
    labelled, majority, purity = 0, None, None
    if truth is not None:
        t = truth.dropna()
        labelled = int(t.size)
        if labelled:
            vc = t.astype(str).value_counts()
            majority, purity = str(vc.index[0]), float(vc.iloc[0] / labelled)
    return {
        "labelled": labelled,
        "unlabelled": size - labelled,
        "majority_label": majority,
        "purity": purity,
    }


# ---------------------------------------------------------------- the report


@dataclass
class DeploymentReport:
    """Everything `autoresolve report` shows; tables are DataFrames, plots PNG bytes."""

    domain: str
    policy: dict[str, Any] = field(default_factory=dict)
    autonomy: pd.DataFrame = field(default_factory=pd.DataFrame)
    precision: pd.DataFrame = field(default_factory=pd.DataFrame)
    drift: pd.DataFrame = field(default_factory=pd.DataFrame)
    rule_health: pd.DataFrame = field(default_factory=pd.DataFrame)
    queue_depth: int = 0
    clusters: pd.DataFrame = field(default_factory=pd.DataFrame)
    guard: pd.DataFrame = field(default_factory=pd.DataFrame)  # the precision guard per version
    notes: list[str] = field(default_factory=list)
    plots: dict[str, bytes] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "policy": self.policy,
            "autonomy": _records(self.autonomy),
            "precision": _records(self.precision),
            "drift": _records(self.drift),
            "rule_health": _records(self.rule_health),
            "queue_depth": self.queue_depth,
            "clusters": _records(self.clusters),
            "guard": _records(self.guard),
            "notes": list(self.notes),
        }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    if df is None or df.empty:
        return []
    return [jsonable(r) for r in df.to_dict(orient="records")]


def build_report(
    domain: Domain,
    *,
    decisions: pd.DataFrame,
    labels: pd.DataFrame | None = None,
    deferred: pd.DataFrame | None = None,
    drift: pd.DataFrame | None = None,
    rule_health: pd.DataFrame | None = None,
    queue_depth: int | None = None,
    policy: Mapping[str, Any] | None = None,
    guard: pd.DataFrame | None = None,
    freq: str = "D",
    confidence: float = 0.95,
    drift_alarm: float = 0.2,
) -> DeploymentReport:
    """Assemble the report from tables the CLI has already read; add plots."""
    label_col = domain.label if labels is None or domain.label in labels.columns else "resolution"
    if labels is None or "record_id" not in labels.columns or label_col not in labels.columns:
        labels = pd.DataFrame(columns=["record_id", label_col])  # nothing labelled yet
    rep = DeploymentReport(domain=domain.name, policy=dict(policy or {}))
    rep.autonomy = autonomy_over_time(decisions, freq)
    rep.precision = audited_precision(
        decisions, labels, label_column=label_col, confidence=confidence
    )
    rep.drift = drift if drift is not None else pd.DataFrame()
    rep.rule_health = rule_health if rule_health is not None else pd.DataFrame()
    rep.guard = guard if guard is not None else pd.DataFrame()
    for row in rep.guard.to_dict("records"):
        if row.get("recertification_requested"):
            rep.notes.append(
                f"the precision guard of {row['policy_version']} is {row['state']} and asks for "
                "recertification (`autoresolve retrain --if-needed` acts on it)."
            )
    deferred = deferred if deferred is not None else pd.DataFrame()
    rep.queue_depth = int(queue_depth if queue_depth is not None else len(deferred))
    if not deferred.empty:
        rep.clusters = deferred_clusters(
            deferred,
            domain,
            labels=labels.rename(columns={"record_id": domain.id}),
            label_column=label_col,
        )
    target = domain.policy.target_precision
    for row in rep.precision.itertuples():
        if row.high is not None and not pd.isna(row.high) and row.high < target:
            rep.notes.append(
                f"{row.source} precision from audits is below the target {target:.0%} "
                f"even at the top of its interval ({row.high:.1%}); review the "
                f"{'rules' if row.source == 'rule' else 'certificate'}."
            )
        if row.audited == 0 and row.resolved > 0:
            rep.notes.append(
                f"no audit labels for {row.resolved} {row.source}-resolved records: their "
                "precision is unmeasured. Label a random sample (autoresolve label)."
            )
    if not rep.drift.empty and "psi" in rep.drift.columns:
        hot = rep.drift[rep.drift["psi"] >= drift_alarm]
        if not hot.empty:
            rep.notes.append(
                "drift above PSI "
                f"{drift_alarm}: {', '.join(map(str, hot['field']))}; "
                "`autoresolve retrain --if-needed` will retrain."
            )
    if not rep.autonomy.empty:
        a = rep.autonomy
        rep.plots["autonomy"] = line_plot_png(
            a["period"],
            {"autonomy": a["autonomy"]},
            title="Autonomy over time",
            ylabel="share resolved without deferral",
        )
    if not rep.drift.empty and "psi" in rep.drift.columns:
        d = rep.drift.sort_values("psi", ascending=False)
        rep.plots["drift"] = bar_plot_png(
            [str(f) for f in d["field"]],
            d["psi"].tolist(),
            title="Drift per field (training → recent)",
            xlabel="PSI",
            threshold=drift_alarm,
        )
    return rep
