"""Plain JSON values from what pandas and numpy hand back: the model side's one converter.

Reports and replays are printed with `--json` and logged to MLflow; numpy scalars, NaN, infinities,
`pd.NA` and `NaT` are not JSON, so they become Python numbers or null here, once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def jsonable(value: Any) -> Any:
    """`value` with numpy scalars as Python ones and missing or non-finite numbers as None,
    recursively through dicts (keys as strings), lists and tuples."""
    if isinstance(value, dict):
        return {str(k): jsonable(x) for k, x in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(x) for x in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value
