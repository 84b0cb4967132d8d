"""Indicator values as the JSON object text stored in ``bars_processed.indicators``.

``{"SMA(20)": 101.25, "SMA(100)": null}``: keys in the strategy's registration order, numbers
in their shortest exact form (orjson's; Python's ``repr`` but for tiny exponents, ``0.00001``
for ``1e-05``), null for NaN and infinities. A block of bars is formatted in one orjson call
and one template pass, a few times faster than ``repr`` per value; single events use the same
formatting, so both give the same text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache

import numpy as np
import orjson


@cache
def _template(keys: tuple[str, ...]) -> str:
    return "{" + ", ".join(f"{json.dumps(k)}: %s" for k in keys) + "}"


def _number_rows(values: np.ndarray) -> list[list[str]]:
    """The numbers of an (n, k) float matrix as JSON texts, row by row."""
    text = orjson.dumps(values.tolist()).decode()  # "[[1.5,null],[2.0,3.25]]"
    if values.shape[1] == 1:
        return [[number] for number in text[2:-2].split("],[")]
    return [row.split(",") for row in text[2:-2].split("],[")]


def indicator_texts(names: Sequence[str], values: np.ndarray) -> list[str]:
    """The JSON object of ``names`` -> each row of ``values`` (an n x len(names) matrix)."""
    count = len(values)
    if not names:
        return ["{}"] * count
    if not count:
        return []
    matrix = np.asarray(values, dtype=np.float64).reshape(count, len(names))
    return list(map(_template(tuple(names)).__mod__, map(tuple, _number_rows(matrix))))


def indicators_json(values: Mapping[str, object]) -> str:
    """The JSON object text of one bar's indicator values (anything not a number: null)."""
    names = tuple(values)
    if not names:
        return "{}"
    row = np.array([_as_float(v) for v in values.values()], dtype=np.float64)
    return indicator_texts(names, row.reshape(1, -1))[0]


def _as_float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
