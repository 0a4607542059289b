"""PNG figures without a display: one way to make a figure and one way to turn it into bytes.

Figures are built on matplotlib's object API (`Figure` + the Agg canvas), never pyplot, so nothing
here touches global plotting state or needs closing; a worker thread or a server can draw safely.
The training report, the deployment report, the replay and the registry all use these helpers.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def figure(width: float = 7.0, height: float = 3.6) -> Any:
    """A matplotlib Figure on the Agg canvas (matplotlib is imported only when drawing)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes, cropped to its contents."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def line_plot_png(
    x: Sequence[Any],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    ylabel: str,
    ylim: tuple[float, float] | None = (0.0, 1.0),
    bands: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    hline: tuple[float, str] | None = None,
    xlabel: str = "period",
    styles: Mapping[str, str] | None = None,
) -> bytes:
    """Several named series over the same x; optional shaded intervals and a target line."""
    fig = figure()
    ax = fig.add_subplot(1, 1, 1)
    xs = [str(v) for v in x]
    pos = np.arange(len(xs))
    for name, ys in series.items():
        ls = (styles or {}).get(name, "-")
        ax.plot(pos, np.asarray(ys, dtype=float), ls=ls, marker="o", ms=3, label=name)
        if bands and name in bands:
            lo, hi = bands[name]
            ax.fill_between(
                pos, np.asarray(lo, dtype=float), np.asarray(hi, dtype=float), alpha=0.2
            )
    if hline is not None:
        ax.axhline(hline[0], ls="--", color="grey", lw=1, label=hline[1])
    ax.set_xticks(pos)
    step = max(1, len(xs) // 12)
    ax.set_xticklabels([s if i % step == 0 else "" for i, s in enumerate(xs)], rotation=45)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return to_png(fig)


def bar_plot_png(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    xlabel: str,
    threshold: float | None = None,
) -> bytes:
    """Horizontal bars (e.g. drift per field), with an optional alarm line."""
    fig = figure(7.0, max(2.0, 0.3 * len(labels) + 1))
    ax = fig.add_subplot(1, 1, 1)
    pos = np.arange(len(labels))
    vals = np.asarray(values, dtype=float)
    colors = ["tab:red" if threshold is not None and v >= threshold else "tab:blue" for v in vals]
    ax.barh(pos, vals, color=colors)
    ax.set_yticks(pos)
    ax.set_yticklabels(list(labels))
    ax.invert_yaxis()
    if threshold is not None:
        ax.axvline(threshold, ls="--", color="grey", lw=1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return to_png(fig)
