"""What every reader returns: a lazily read recording of sorted units, trials and behaviour."""

from __future__ import annotations

import abc
import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd

from ..errors import NwbLdnsError

logger = logging.getLogger("nwb_ldns")


@dataclasses.dataclass(frozen=True)
class BehaviorSeries:
    """A behavioural time series found in a recording (not yet read).

    Attributes
    ----------
    name : str
        The TimeSeries name, e.g. ``hand_vel``.
    path : str
        Where it lives, e.g. ``processing/behavior/hand_vel``.
    shape : tuple of int
        ``(n_samples,)`` or ``(n_samples, n_channels)``, time first.
    rate : float or None
        Sampling rate in Hz (estimated from timestamps when there is no fixed rate).
    unit : str
        The unit of the data, as written in the file.
    """

    name: str
    path: str
    shape: tuple[int, ...]
    rate: float | None
    unit: str = ""


def scalar_values(data) -> np.ndarray | None:
    """One plain value per row (numbers, booleans, text) from a column's data, or None.

    References to other objects (an ``electrode_group`` column holds ElectrodeGroup objects)
    become their names; anything else that is not a number or text gives None.
    """
    arr = np.asarray(data) if not isinstance(data, list) else np.empty(len(data), dtype=object)
    if isinstance(data, list):
        arr[:] = data
    if arr.dtype != object:
        return arr.astype(str) if arr.dtype.kind == "S" else arr
    if all(hasattr(v, "name") and hasattr(v, "object_id") for v in arr):  # hdmf containers
        return np.array([str(v.name) for v in arr], dtype=str)
    if all(isinstance(v, (str, bytes)) for v in arr):
        return np.array([v.decode() if isinstance(v, bytes) else v for v in arr], dtype=str)
    if all(isinstance(v, (bool, int, float, np.number, np.bool_)) for v in arr):
        return arr.astype(np.float64)
    return None


def check_spike_times(times: np.ndarray, unit_id: Any) -> np.ndarray:
    """Return ``times`` as sorted float64 after checking they are finite.

    Spike times out of order (some converters write them so) are sorted, which loses nothing,
    with a one-line warning that names the unit and how many were out of order. Negative times
    are kept: they are times before the file's reference time (files aligned to a task event or
    to a later clock write them), on the same axis as the trials, and only the windows are binned.

    Raises
    ------
    NwbLdnsError
        Naming the unit, when a spike time is NaN or infinite.
    """
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        return times
    if not np.all(np.isfinite(times)):
        raise NwbLdnsError(f"unit {unit_id} has {int(np.sum(~np.isfinite(times)))} NaN or infinite spike times")
    n_bad = int(np.count_nonzero(np.diff(times) < 0))
    if n_bad:
        logger.warning("unit %s has %d spike time(s) out of order; sorted them", unit_id, n_bad)
        times = np.sort(times, kind="stable")
    return times


class Recording(abc.ABC):
    """A recording as the binning step needs it, read lazily.

    Readers subclass this; ``open_source`` returns one. Use it as a context manager so the
    underlying file or stream is closed.

    Attributes
    ----------
    uri : str
        The source as the user gave it.
    provenance : dict
        ``source_uri`` plus whatever identifies the data: ``dandiset``, ``version``,
        ``asset_path``, ``content_hash`` (``sha256:...``, ``dandi-etag:...``), ...
    units_path : str
        The units table read: ``units``, or a path such as ``processing/ecephys/kilosort``.
    """

    uri: str
    provenance: dict
    units_path: str = "units"

    def source_info(self) -> dict:
        """Provenance without the content hash, which can cost a pass over a large file."""
        prov = getattr(self, "_provenance", None)
        return {k: v for k, v in (prov if prov is not None else self.provenance).items() if k != "content_hash"}

    # ---- units -------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def unit_ids(self) -> np.ndarray:
        """Unit identifiers, in file order."""

    @abc.abstractmethod
    def _read_spike_times(self, index: int) -> np.ndarray:
        """Spike times (s) of the unit at position ``index``, as stored."""

    def spike_times(self, index: int) -> np.ndarray:
        """Checked spike times (s) of the unit at position ``index`` (finite, sorted)."""
        return check_spike_times(self._read_spike_times(index), self.unit_ids[index])

    def spike_counts(self) -> np.ndarray:
        """Total number of spikes per unit (readers override with a cheaper path)."""
        return np.array([self._read_spike_times(i).size for i in range(len(self.unit_ids))])

    def unit_columns(self) -> pd.DataFrame:
        """Scalar per-unit columns (e.g. ``heldout``), indexed by unit id."""
        return pd.DataFrame(index=pd.Index(self.unit_ids, name="unit"))

    def obs_intervals(self, index: int) -> np.ndarray | None:
        """Observation intervals ``(n, 2)`` of a unit, or None when it was observed throughout."""
        return None

    def units_tables(self) -> dict[str, int]:
        """Every table of units with spike times, by path, with its number of units (one here)."""
        return {"units": len(self.unit_ids)}

    def use_units_table(self, name: str | None) -> None:
        """Read the units of table ``name`` (a path of :meth:`units_tables`); None keeps the default.

        Raises
        ------
        NwbLdnsError
            When the recording has no such table, or several and none is the default.
        """
        if name not in (None, "units"):
            raise NwbLdnsError(f"{self.uri} has one set of units: `units_table` {name!r} applies to NWB files")

    def _spike_time_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit ids and each non-empty unit's smallest and largest spike time (NaN if it has a NaN).
        Readers override it with a cheaper path: each unit's first and last stored spike."""
        ids, edges = [], []
        for i in range(len(self.unit_ids)):
            t = self._read_spike_times(i)
            if t.size:
                ids += [self.unit_ids[i]] * 2
                edges += [np.min(t), np.max(t)]
        return np.asarray(ids), np.asarray(edges, dtype=np.float64)

    def _edges(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_spike_time_edges`, read once (``inspect`` asks for the bounds and the problems)."""
        if getattr(self, "_edges_read", None) is None:
            self._edges_read = self._spike_time_edges()
        return self._edges_read

    def spike_time_bounds(self) -> tuple[float, float] | None:
        """(first, last) finite spike time over all units, or None without spikes."""
        _, edges = self._edges()
        edges = edges[np.isfinite(edges)]
        return (float(edges.min()), float(edges.max())) if edges.size else None

    def spike_time_problems(self) -> list[str]:
        """What :meth:`spike_times` will refuse (NaN or infinite times), found cheaply for
        ``inspect``; readers may look only at each unit's first and last stored spike."""
        ids, edges = self._edges()
        units = list(dict.fromkeys(str(u) for u in ids[~np.isfinite(edges)]))
        if not units:
            return []
        named = ", ".join(units[:5]) + (f" and {len(units) - 5} more" if len(units) > 5 else "")
        return [f"NaN or infinite spike times in {len(units)} unit(s) ({named}): fit and bin refuse them"]

    # ---- intervals -----------------------------------------------------------------------
    @property
    def trials(self) -> pd.DataFrame | None:
        """The trials table (``start_time``, ``stop_time``, other columns), or None."""
        return None

    @property
    def epochs(self) -> pd.DataFrame | None:
        """The epochs table, or None."""
        return None

    def interval_tables(self) -> dict[str, pd.DataFrame]:
        """Every interval table by name (``trials``, ``epochs`` and any other TimeIntervals)."""
        return {name: t for name, t in (("trials", self.trials), ("epochs", self.epochs)) if t is not None}

    def trials_table(self, name: str | None = None) -> pd.DataFrame | None:
        """The table whose rows are the trials: ``trials`` by default, or the interval table ``name``.

        Raises
        ------
        NwbLdnsError
            When ``name`` is not an interval table of the recording (the message lists them).
        """
        if name in (None, "trials"):
            return self.trials
        tables = self.interval_tables()
        if name not in tables:
            raise NwbLdnsError(f"no interval table {name!r} in {self.uri}; tables: {', '.join(tables) or 'none'}")
        table = tables[name]
        missing = [c for c in ("start_time", "stop_time") if c not in table.columns]
        if missing:
            raise NwbLdnsError(f"interval table {name!r} has no {' or '.join(missing)} column")
        return table

    # ---- behaviour -----------------------------------------------------------------------
    def behavior_series(self) -> list[BehaviorSeries]:
        """Behavioural time series available (nothing is read)."""
        return []

    def find_behavior(self, name: str) -> BehaviorSeries:
        """Look a series up by name or path; a one-line error lists what exists."""
        found = self.behavior_series()
        matches = [s for s in found if name in (s.name, s.path) or s.path.endswith("/" + name)]
        if not matches:
            have = ", ".join(s.path for s in found) or "none"
            raise NwbLdnsError(f"no behaviour time series named {name!r} in {self.uri}; available: {have}")
        if len(matches) > 1:
            raise NwbLdnsError(
                f"behaviour name {name!r} is ambiguous in {self.uri}: "
                + ", ".join(s.path for s in matches)
                + "; pass the full path"
            )
        return matches[0]

    def read_behavior(self, series: BehaviorSeries, windows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Read a series only inside the given windows.

        Parameters
        ----------
        series : BehaviorSeries
        windows : ndarray, shape (n, 2)
            ``[start, stop]`` in seconds.

        Returns
        -------
        list of (timestamps, data)
            One pair per window: timestamps ``(m,)`` and data ``(m, n_channels)`` of the samples
            with ``start <= t < stop``.
        """
        raise NwbLdnsError(f"{self.uri} has no behaviour time series")

    # ---- session -------------------------------------------------------------------------
    def session_metadata(self) -> dict:
        """Subject and session fields known for the recording (may be empty)."""
        return {}

    def duration_s(self) -> float:
        """Span of the recording in seconds, from its earliest to its latest event."""
        lo, hi = [], []
        bounds = self.spike_time_bounds()
        if bounds is not None:
            lo.append(bounds[0])
            hi.append(bounds[1])
        for table in (self.trials, self.epochs):
            if table is not None and len(table):
                times = table[["start_time", "stop_time"]].to_numpy(dtype=np.float64)
                times = times[np.isfinite(times)]  # some files leave stop_time NaN
                if times.size:
                    lo.append(float(times.min()))
                    hi.append(float(times.max()))
        return float(max(hi) - min(lo)) if lo else 0.0

    def close(self) -> None:
        """Release files and streams."""

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
