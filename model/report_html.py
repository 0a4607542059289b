"""The deployment report as one self-contained HTML page, and its cells as text.

Rendering only: `model.report` computes the tables and figures; this module turns a
`DeploymentReport` into a page (inline CSS, PNGs as data URIs, no external links, so the file can
be mailed or archived) and gives the terminal view the same cell formatting.
"""

from __future__ import annotations

import base64
import html
from typing import Any

import pandas as pd

from autoresolve.model.jsonable import jsonable
from autoresolve.model.report import DeploymentReport


def cell_text(v: Any) -> str:
    v = jsonable(v)
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={x}" for k, x in v.items()) or "—"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return str(v)


def table_html(df: pd.DataFrame) -> str:
    if df is None or df.empty:
        return "<p class='empty'>nothing to show</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell_text(v))}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def img_html(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:.9em}
th{background:#f3f3f3} .empty{color:#888} .note{background:#fff6d6;padding:.4em .8em}
img{max-width:100%}
"""


def render_html(rep: DeploymentReport, title: str | None = None) -> str:
    """One self-contained HTML page: inline CSS, PNGs as data URIs, no external links."""
    title = title or f"autoresolve report — {rep.domain}"
    return "\n".join(
        [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            report_sections(rep),
            "</body></html>",
        ]
    )


def report_sections(rep: DeploymentReport, level: int = 2) -> str:
    """The report's sections (headings at `level`): the file's body, and the service console's
    report page inside its own layout."""
    h = f"h{level}"

    def head(text: str) -> str:
        return f"<{h}>{text}</{h}>"

    parts = []
    if rep.policy:
        pol = pd.DataFrame([{"key": k, "value": cell_text(v)} for k, v in rep.policy.items()])
        parts += [head("Policy"), table_html(pol)]
    if rep.notes:
        parts += [head("Attention")] + [f"<p class='note'>{html.escape(n)}</p>" for n in rep.notes]
    parts += [head("Autonomy over time")]
    if "autonomy" in rep.plots:
        parts.append(img_html(rep.plots["autonomy"], "autonomy over time"))
    parts += [table_html(rep.autonomy)]
    parts += [head("Realised precision (audit labels)"), table_html(rep.precision)]
    parts += [head("Drift per field")]
    if "drift" in rep.plots:
        parts.append(img_html(rep.plots["drift"], "drift per field"))
    parts += [table_html(rep.drift)]
    parts += [head("Rule health"), table_html(rep.rule_health)]
    parts += [
        head(f"Deferred queue: {rep.queue_depth} records"),
        "<p>Largest groups of similar deferred records — candidates for a new rule.</p>",
        table_html(rep.clusters),
    ]
    return "\n".join(parts)
