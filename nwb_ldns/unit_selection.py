"""Which units to model: ``--units`` as a filter on the units table's columns.

Sorters label their clusters (Kilosort/Phy ``quality`` or ``KSLabel``: good / mua / noise; IBL
``label``; Allen ``isi_violations``, ``presence_ratio``), and a file usually holds every cluster.
A selection is ``all``, ``heldin`` (units whose ``heldout`` column is False, as the Neural
Latents Benchmark files mark them) or conditions joined by ``&``, each ``COLUMN OP VALUE``:

- ``quality=good``, ``KSLabel=good,mua``: the column's value is one of these;
- ``quality!=noise``: it is none of these;
- ``presence_ratio>=0.9``, ``isi_violations<0.5`` (also ``>`` and ``<=``): numeric comparisons.

Text columns compare as text, numeric ones as numbers, boolean ones accept true/false/1/0.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .errors import NwbLdnsError

#: unit columns in which spike sorters label their clusters (Phy, Kilosort, SpikeInterface curation)
SORTER_LABELS = ("quality", "kslabel", "ks_label", "group", "cluster_group")

_CONDITION = re.compile(r"^\s*([^\s=!<>&]+)\s*(!=|>=|<=|=|>|<)\s*(.*?)\s*$")
_BOOL = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_ORDER = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}
_SHOWN = 8  # distinct values listed in an error


def parse(selection: str) -> list[tuple[str, str, list[str]]]:
    """``[(column, op, values)]`` of a selection (empty for ``all``); a one-line error if malformed.

    Parameters
    ----------
    selection : str
        ``all``, ``heldin`` or ``COLUMN OP VALUE [& COLUMN OP VALUE ...]``.
    """
    text = str(selection).strip()
    if text in ("", "all"):
        return []
    if text == "heldin":
        return [("heldout", "=", ["false"])]
    conditions = []
    for part in text.split("&"):
        m = _CONDITION.match(part)
        if not m or not m.group(3):
            raise NwbLdnsError(
                f"`units` must be all, heldin or COLUMN=VALUE[,VALUE] / COLUMN!=VALUE / COLUMN>=NUMBER "
                f"(conditions joined by &), got {selection!r}"
            )
        column, op, value = m.groups()
        values = [v.strip() for v in value.split(",")] if op in ("=", "!=") else [value]
        if op in _ORDER:
            try:
                float(value)
            except ValueError:
                raise NwbLdnsError(f"`units` {part.strip()!r}: {op} needs a number, got {value!r}") from None
        conditions.append((column, op, values))
    return conditions


def _value_counts(col: pd.Series) -> str:
    counts = col.astype(str).value_counts()
    shown = ", ".join(f"{v} ({n})" for v, n in counts.head(_SHOWN).items())
    return shown + (f" and {len(counts) - _SHOWN} more" if len(counts) > _SHOWN else "")


def _matches(col: pd.Series, column: str, values: list[str]) -> np.ndarray:
    """Rows of ``col`` equal to one of ``values``, compared in the column's own kind."""
    data = col.to_numpy()
    if data.dtype.kind == "b" or (data.dtype.kind in "iuf" and set(np.unique(data[~pd.isna(data)])) <= {0, 1}):
        if all(v.lower() in _BOOL for v in values):
            wanted = {_BOOL[v.lower()] for v in values}
            return np.isin(data.astype(bool), list(wanted)) & ~pd.isna(data)
    if data.dtype.kind in "iufb":
        try:
            numbers = [float(v) for v in values]
        except ValueError:
            raise NwbLdnsError(
                f"`units`: column {column!r} is numeric, got {', '.join(values)}; its values: {_value_counts(col)}"
            ) from None
        return np.isin(data.astype(np.float64), numbers)
    return np.isin(data.astype(str), values)


def select(columns: pd.DataFrame, selection: str) -> np.ndarray:
    """Boolean mask over the rows of ``columns`` (one per unit) of the units a selection keeps.

    Parameters
    ----------
    columns : pandas.DataFrame
        Scalar per-unit columns, as ``Recording.unit_columns`` gives them.
    selection : str
        See the module docstring.

    Raises
    ------
    NwbLdnsError
        A column that is not there (the error lists those that are), a value no unit has for
        ``=`` (the error lists the values there are), a number compared with a text column.
    """
    keep = np.ones(len(columns), dtype=bool)
    for column, op, values in parse(selection):
        if column not in columns.columns:
            have = ", ".join(map(str, columns.columns)) or "none"
            raise NwbLdnsError(f"`units` {selection} needs a {column!r} units column; units columns: {have}")
        col = columns[column]
        if op in _ORDER:
            if col.to_numpy().dtype.kind not in "iufb":
                raise NwbLdnsError(
                    f"`units`: column {column!r} holds text, so {op} cannot compare it; "
                    f"its values: {_value_counts(col)}"
                )
            keep &= _ORDER[op](col.to_numpy(dtype=np.float64), float(values[0]))  # NaN compares False
            continue
        hit = _matches(col, column, values)
        if op == "=" and not hit.any():
            raise NwbLdnsError(
                f"`units`: no unit has {column}={','.join(values)}; the values of {column!r}: {_value_counts(col)}"
            )
        keep &= hit if op == "=" else ~hit
    return keep


def noise_label_count(columns: pd.DataFrame) -> tuple[str, int, int] | None:
    """(column, units labelled noise, units) for the first sorter-label column with noise units, or None."""
    for col in columns.columns:
        if str(col).lower() in SORTER_LABELS:
            noise = int((columns[col].astype(str).str.lower() == "noise").sum())
            if noise:
                return str(col), noise, len(columns)
    return None
