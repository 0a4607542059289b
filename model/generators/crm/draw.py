"""The record arrays under construction and the sampling helpers every case kind uses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from autoresolve.model.generators.crm.catalogue import (
    CITIES,
    CUES,
    DISPOSABLE_DOMAINS,
    FREE_DOMAINS,
    NEUTRAL_NOTES,
    PARTNER_NAMES,
    WEBINAR_TOPICS,
)


def isin(values: np.ndarray, options) -> np.ndarray:
    """Membership by hashing: numpy's isin sorts object arrays, which is slow on a million rows."""
    return pd.Series(values, dtype=object).isin(list(options)).to_numpy()


class Draw:
    """The record arrays under construction plus the random source; one instance per call."""

    def __init__(self, n: int, seed: int, months: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.n = n
        self.months = months
        self.cols: dict[str, np.ndarray] = {}
        self.label = np.full(n, None, dtype=object)
        self.ambiguous = np.zeros(n, dtype=bool)

    # -- sampling helpers -------------------------------------------------------------------
    def pick(self, options, size: int, p=None) -> np.ndarray:
        opts = np.asarray(options, dtype=object)
        if p is not None:
            p = np.asarray(p, dtype=float)
            p = p / p.sum()
        return opts[self.rng.choice(len(opts), size=size, p=p)]

    def chance(self, p, size: int) -> np.ndarray:
        return self.rng.random(size) < p

    def rows_choice(self, probs: np.ndarray) -> np.ndarray:
        """One categorical draw per row from that row's probability vector."""
        cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
        u = self.rng.random(len(probs))[:, None]
        return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)

    def cue(self, family: str, size: int) -> np.ndarray:
        """Cue notes, some behind a neutral lead-in, placeholders filled."""
        text = self.pick(CUES[family], size)
        if family == "located":
            fill = self.pick(CITIES, size)
            text = np.array([t.format(city=c) for t, c in zip(text, fill, strict=True)], object)
        elif family == "referred":
            fill = self.pick(PARTNER_NAMES, size)
            text = np.array([t.format(partner=c) for t, c in zip(text, fill, strict=True)], object)
        elif family == "webinar":
            fill = self.pick(WEBINAR_TOPICS, size)
            text = np.array([t.format(topic=c) for t, c in zip(text, fill, strict=True)], object)
        lead = self.chance(0.3, size)
        if lead.any():
            text[lead] = self.pick(NEUTRAL_NOTES, int(lead.sum())) + "; " + text[lead]
        return text

    def set(self, name: str, idx: np.ndarray, values) -> None:
        self.cols[name][idx] = values

    def label_as(self, idx: np.ndarray, resolution: str, *, ambiguous: bool = False) -> None:
        self.label[idx] = resolution
        if ambiguous:
            self.ambiguous[idx] = True

    def split(self, idx: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return idx[mask], idx[~mask]

    def coin(self, idx: np.ndarray, p: float, yes: str, no: str, *, ambiguous: bool = True) -> None:
        """A judgement call: the same-looking record goes either way."""
        a, b = self.split(idx, self.chance(p, len(idx)))
        self.label_as(a, yes, ambiguous=ambiguous)
        self.label_as(b, no, ambiguous=ambiguous)

    # -- views of current values ------------------------------------------------------------
    def isnull(self, name: str, idx: np.ndarray) -> np.ndarray:
        col = self.cols[name]
        if col.dtype == object:
            return np.array([v is None for v in col[idx]], dtype=bool)
        return np.isnan(col[idx])

    def free(self, idx: np.ndarray) -> np.ndarray:
        return isin(self.cols["email_domain"][idx], FREE_DOMAINS + DISPOSABLE_DOMAINS)

    def lognormal(self, median: float, sigma: float, size: int) -> np.ndarray:
        return np.exp(self.rng.normal(np.log(median), sigma, size))
