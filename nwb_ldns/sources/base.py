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


def check_spike_times(times: np.ndarray, unit_id: Any) -> np.ndarray:
    """Return ``times`` as float64 after checking they are finite, >= 0 and sorted.

    Raises
    ------
    NwbLdnsError
        Naming the unit, when a spike time is NaN/inf, negative, or out of order.
    """
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        return times
    if not np.all(np.isfinite(times)):
        raise NwbLdnsError(f"unit {unit_id} has {int(np.sum(~np.isfinite(times)))} NaN or infinite spike times")
    if times[0] < 0:
        raise NwbLdnsError(f"unit {unit_id} has negative spike times (first: {times[0]:.6g} s)")
    bad = np.flatnonzero(np.diff(times) < 0)
    if bad.size:
        i = int(bad[0])
        raise NwbLdnsError(
            f"unit {unit_id} has unsorted spike times ({bad.size} out of order, first at index {i + 1}: "
            f"{times[i + 1]:.6g} s after {times[i]:.6g} s)"
        )
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
    """

    uri: str
    provenance: dict

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
        """Checked spike times (s) of the unit at position ``index`` (finite, >= 0, sorted)."""
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

    def spike_time_bounds(self) -> tuple[float, float] | None:
        """(first, last) spike time over all units, or None without spikes."""
        lo, hi = np.inf, -np.inf
        for i in range(len(self.unit_ids)):
            t = self._read_spike_times(i)
            if t.size:
                lo, hi = min(lo, float(np.min(t))), max(hi, float(np.max(t)))
        return None if lo > hi else (lo, hi)

    # ---- intervals -----------------------------------------------------------------------
    @property
    def trials(self) -> pd.DataFrame | None:
        """The trials table (``start_time``, ``stop_time``, other columns), or None."""
        return None

    @property
    def epochs(self) -> pd.DataFrame | None:
        """The epochs table, or None."""
        return None

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
                + ", ".join(s.path for s in matches) + "; pass the full path"
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
                lo.append(float(np.nanmin(table["start_time"])))
                hi.append(float(np.nanmax(table["stop_time"])))
        return float(max(hi) - min(lo)) if lo else 0.0

    def close(self) -> None:
        """Release files and streams."""

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
