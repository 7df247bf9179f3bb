"""Local NWB files, HDF5 (``.nwb``) or Zarr (``.nwb.zarr``), read lazily through pynwb."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..binning import EDGE_TOL_S
from ..errors import NwbLdnsError
from ..untrusted import check_complete
from .base import BehaviorSeries, Recording, scalar_values
from .registry import register_source

logger = logging.getLogger("nwb_ldns")

# time series kinds that are recordings, not behaviour: never offered as --behavior
_NOT_BEHAVIOR = (
    "ElectricalSeries",
    "ImageSeries",
    "ImageMaskSeries",
    "OpticalSeries",
    "TwoPhotonSeries",
    "RoiResponseSeries",
    "FluorescenceSeries",
    "SpikeEventSeries",
    "TrialAlignedSeries",
)  # the last: latents and rates nwb-ldns wrote


def _object_path(obj) -> str:
    """``processing/behavior/hand_vel``, ``acquisition/position/x``: where the object sits in the file."""
    from pynwb import ProcessingModule

    parts = []
    while obj is not None and obj.parent is not None:
        parts.append(obj.name)
        if isinstance(obj, ProcessingModule):
            parts.append("processing")
        elif obj.parent.parent is None and obj.name in getattr(obj.parent, "acquisition", {}):
            parts.append("acquisition")
        obj = obj.parent
    return "/".join(reversed(parts))


def _units_tables(nwbfile) -> dict:
    """Units tables with spike times by path: ``units`` (the file's own) first, then any in processing
    modules (NeuroConv writes a second sorting there, e.g. ``processing/ecephys/kilosort``)."""
    from pynwb.misc import Units

    tables = {}
    if nwbfile.units is not None and "spike_times" in nwbfile.units.colnames:
        tables["units"] = nwbfile.units
    for module_name, module in nwbfile.processing.items():
        for name, obj in module.data_interfaces.items():
            if isinstance(obj, Units) and "spike_times" in obj.colnames:
                tables[f"processing/{module_name}/{name}"] = obj
    return tables


def _ragged_reader(column, what: str = "a ragged column"):
    """(flat dataset, end offsets) of a ragged DynamicTable column given its VectorIndex."""
    check_complete(column.data, what + " index")
    check_complete(column.target.data, what)
    ends = np.asarray(column.data[:], dtype=np.int64)
    return column.target.data, ends


class NWBRecording(Recording):
    """A recording read from an open pynwb ``NWBFile``.

    Parameters
    ----------
    io : pynwb.NWBHDF5IO or hdmf_zarr.NWBZarrIO
        The open reader; closed by :meth:`close`.
    uri : str
        The source as the user gave it.
    provenance : dict
        Identification of the data (see :class:`Recording`); ``content_hash`` may be filled
        lazily by ``hash_fn``.
    hash_fn : callable, optional
        Returns the content hash string on first use (hashing a large file costs time, so it is
        done only when a dataset is built, never by ``inspect``).
    closers : list of callables
        Extra things to close (h5py files, streams).
    """

    def __init__(self, *, io, uri: str, provenance: dict, hash_fn=None, closers=()):
        self._io = io
        self.uri = uri
        self._provenance = dict(provenance)
        self._hash_fn = hash_fn
        self._closers = list(closers)
        try:
            self.nwbfile = io.read()
        except Exception as exc:  # pynwb raises many kinds on a damaged file
            self.close()
            raise NwbLdnsError(f"cannot read {uri} as NWB: {type(exc).__name__}: {exc}") from exc
        self._tables = _units_tables(self.nwbfile)
        if not self._tables:
            self.close()
            raise NwbLdnsError(
                f"{uri} has no units table with spike times: nwb-ldns models spike-sorted units "
                "(run spike sorting first, or use si:PATH for a sorting folder)"
            )
        # the file's /units, else its one other units table; with several others, the largest until
        # one is chosen (inspect can still summarise it; binning asks which)
        self._chosen = "units" in self._tables or len(self._tables) == 1
        self._read_units("units" if "units" in self._tables else max(self._tables, key=lambda p: len(self._tables[p])))

    def _read_units(self, path: str) -> None:
        units = self._tables[path]
        self.units_path = path
        self._units = units
        self._flat, self._ends = _ragged_reader(units["spike_times"], f"{self.uri}: {path}/spike_times")
        self._ids = np.asarray(units.id.data[:])
        self.__dict__.pop("_obs", None)  # what was read of the previous table
        self._edges_read = None

    def units_tables(self) -> dict[str, int]:
        return {path: len(table) for path, table in self._tables.items()}

    def _listing(self) -> str:
        return ", ".join(f"{p} ({n} units)" for p, n in self.units_tables().items())

    def use_units_table(self, name: str | None) -> None:
        if name is None:
            if not self._chosen:
                raise NwbLdnsError(
                    f"{self.uri} has no /units but {len(self._tables)} units tables: {self._listing()}; "
                    "choose one with --units-table"
                )
            return
        paths = [p for p in self._tables if name in (p, p.rsplit("/", 1)[-1], "/" + p)]
        if len(paths) != 1:
            what = "no" if not paths else "more than one"
            raise NwbLdnsError(f"{what} units table {name!r} in {self.uri}; units tables: {self._listing()}")
        self._chosen = True
        if paths[0] != self.units_path:
            self._read_units(paths[0])

    # provenance is lazy: hashing is only paid for when a dataset is built
    @property
    def provenance(self) -> dict:
        if self._hash_fn is not None and "content_hash" not in self._provenance:
            self._provenance["content_hash"] = self._hash_fn()
        return self._provenance

    @property
    def unit_ids(self) -> np.ndarray:
        return self._ids

    def _read_spike_times(self, index: int) -> np.ndarray:
        start = int(self._ends[index - 1]) if index > 0 else 0
        return np.asarray(self._flat[start : int(self._ends[index])], dtype=np.float64)

    def spike_counts(self) -> np.ndarray:
        return np.diff(self._ends, prepend=0)

    def _spike_time_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Each non-empty unit's first and last stored spike (two reads, however many spikes)."""
        nonempty = np.flatnonzero(self.spike_counts() > 0)
        if nonempty.size == 0:
            return np.asarray([]), np.asarray([], dtype=np.float64)
        starts = np.concatenate([[0], self._ends[:-1]])[nonempty]
        first_at, first_idx = np.unique(starts, return_inverse=True)  # h5py wants increasing indices
        last_at, last_idx = np.unique(self._ends[nonempty] - 1, return_inverse=True)
        firsts = np.asarray(self._flat[first_at], dtype=np.float64)[first_idx]
        lasts = np.asarray(self._flat[last_at], dtype=np.float64)[last_idx]
        ids = self._ids[nonempty]
        return np.concatenate([ids, ids]), np.concatenate([firsts, lasts])

    def unit_columns(self) -> pd.DataFrame:
        from hdmf.common import DynamicTableRegion, VectorIndex

        cols, left_out = {}, []
        for name in self._units.colnames:
            col = self._units[name]
            if name in ("spike_times", "obs_intervals"):
                continue
            if isinstance(col, VectorIndex) and isinstance(col.target, DynamicTableRegion):
                flat, ends = _ragged_reader(col)
                if len(ends) == len(self._ids) and np.array_equal(np.diff(ends, prepend=0), np.ones(len(ends))):
                    cols[name] = np.asarray(flat[:], dtype=np.int64)  # one electrode per unit: its row index
                    continue
            if isinstance(col, (VectorIndex, DynamicTableRegion)) or len(getattr(col.data, "shape", (0,))) != 1:
                left_out.append(name)  # ragged, per-spike or multi-dimensional: no one value per unit
                continue
            values = scalar_values(col.data[:])
            if values is None:
                left_out.append(name)
            else:
                cols[name] = values
        if left_out and not getattr(self, "_said_left_out", False):
            self._said_left_out = True
            logger.info("units columns without one plain value per unit are not carried over: %s", ", ".join(left_out))
        return pd.DataFrame(cols, index=pd.Index(self._ids, name="unit"))

    @functools.cached_property
    def _obs(self):
        if "obs_intervals" not in self._units.colnames:
            return None
        return _ragged_reader(self._units["obs_intervals"], f"{self.uri}: units/obs_intervals")

    def obs_intervals(self, index: int) -> np.ndarray | None:
        if self._obs is None:
            return None
        flat, ends = self._obs
        start = int(ends[index - 1]) if index > 0 else 0
        return np.asarray(flat[start : int(ends[index])], dtype=np.float64).reshape(-1, 2)

    @functools.cached_property
    def trials(self) -> pd.DataFrame | None:
        return self._table(self.nwbfile.trials)

    @functools.cached_property
    def epochs(self) -> pd.DataFrame | None:
        return self._table(self.nwbfile.epochs)

    def interval_tables(self) -> dict[str, pd.DataFrame]:
        cache = self.__dict__.setdefault("_intervals", {})
        for name, table in self.nwbfile.intervals.items():  # trials, epochs, invalid_times and any other
            if name not in cache:
                cache[name] = (
                    self.trials if name == "trials" else self.epochs if name == "epochs" else self._table(table)
                )
        return dict(cache)

    def _table(self, table) -> pd.DataFrame | None:
        if table is None:
            return None
        for col in table.columns:
            check_complete(col.data, f"{self.uri}: {table.name}/{col.name}")
        check_complete(table.id.data, f"{self.uri}: {table.name}/id")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = table.to_dataframe(exclude={"timeseries"})
        return df

    @functools.cached_property
    def _behavior(self) -> dict[str, object]:
        from pynwb import TimeSeries

        found = {}
        for obj in self.nwbfile.objects.values():
            if isinstance(obj, TimeSeries) and type(obj).__name__ not in _NOT_BEHAVIOR:
                path = _object_path(obj)
                if path.startswith(("processing/", "acquisition/")):
                    found[path] = obj
        return dict(sorted(found.items()))

    def behavior_series(self) -> list[BehaviorSeries]:
        out = []
        for path, ts in self._behavior.items():
            rate = ts.rate
            if rate is None and ts.timestamps is not None and len(ts.timestamps) > 1:
                head = np.asarray(ts.timestamps[: min(len(ts.timestamps), 1001)])
                step = float(np.median(np.diff(head)))
                rate = 1.0 / step if step > 0 else None
            out.append(
                BehaviorSeries(name=ts.name, path=path, shape=tuple(ts.data.shape), rate=rate, unit=str(ts.unit or ""))
            )
        return out

    def _timestamps(self, path: str) -> np.ndarray | None:
        cache = self.__dict__.setdefault("_stamps", {})
        if path not in cache:
            ts = self._behavior[path]
            cache[path] = None if ts.timestamps is None else np.asarray(ts.timestamps[:], dtype=np.float64)
        return cache[path]

    def read_behavior(self, series: BehaviorSeries, windows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        ts = self._behavior[series.path]
        check_complete(ts.data, f"{self.uri}: {series.path}")
        if ts.timestamps is not None:
            check_complete(ts.timestamps, f"{self.uri}: {series.path} timestamps")
        stamps = self._timestamps(series.path)
        n = ts.data.shape[0]
        scale, offset = float(ts.conversion), float(getattr(ts, "offset", 0.0) or 0.0)
        out = []
        for start, stop in np.asarray(windows, dtype=np.float64):
            if stamps is not None:
                lo, hi = np.searchsorted(stamps, [start - EDGE_TOL_S, stop - EDGE_TOL_S], side="left")
                t = stamps[lo:hi]
            else:
                t0, rate = float(ts.starting_time or 0.0), float(ts.rate)
                lo = int(np.clip(np.ceil((start - t0) * rate - 1e-9), 0, n))
                hi = int(np.clip(np.ceil((stop - t0) * rate - 1e-9), 0, n))
                t = t0 + np.arange(lo, hi) / rate
            data = np.asarray(ts.data[lo:hi], dtype=np.float64)
            if data.ndim == 1:
                data = data[:, None]
            out.append((t, data * scale + offset))
        return out

    def session_metadata(self) -> dict:
        f = self.nwbfile
        meta = {
            "identifier": f.identifier,
            "session_description": f.session_description,
            "session_id": f.session_id,
            "session_start_time": f.session_start_time.isoformat() if f.session_start_time else None,
            "institution": f.institution,
            "lab": f.lab,
            "experimenter": list(f.experimenter) if f.experimenter is not None else None,
        }
        if f.subject is not None:
            s = f.subject
            meta["subject"] = {k: getattr(s, k, None) for k in ("subject_id", "species", "sex", "age", "description")}
        return {k: v for k, v in meta.items() if v is not None}

    def close(self) -> None:
        io, self._io = getattr(self, "_io", None), None
        if io is not None:
            try:
                io.close()
            except Exception:  # closing a half-opened reader must not hide the real error
                pass
        for close in self._closers:
            try:
                close()
            except Exception:
                pass
        self._closers = []


def content_hash(path: str | os.PathLike) -> str:
    """``sha256:<hex>`` of a file, or of a directory's files (relative paths and bytes, sorted)."""
    h = hashlib.sha256()
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        if path.is_dir():
            h.update(str(p.relative_to(path)).encode() + b"\0")
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return "sha256:" + h.hexdigest()


def open_nwb_file(path: str, *, uri: str | None = None, provenance: dict | None = None) -> NWBRecording:
    """Open a local ``.nwb`` (HDF5) or ``.nwb.zarr`` (Zarr) file lazily.

    ``uri`` and ``provenance`` replace the defaults (the path, and its sha256 computed on first
    use) when the file is a local copy of something else, such as a cached DANDI asset.
    """
    uri = uri or str(path)
    path = Path(path).expanduser()
    if not path.exists():
        raise NwbLdnsError(f"no such file: {uri}")
    is_zarr = path.is_dir() or path.name.endswith(".zarr")
    try:
        if is_zarr:
            from hdmf_zarr import NWBZarrIO

            io = NWBZarrIO(str(path), mode="r")
        else:
            from pynwb import NWBHDF5IO

            io = NWBHDF5IO(str(path), mode="r")
    except Exception as exc:
        kind = "NWB-Zarr" if is_zarr else "NWB (HDF5)"
        raise NwbLdnsError(f"cannot open {uri} as {kind}: {type(exc).__name__}: {exc}") from exc
    if provenance is not None:
        return NWBRecording(io=io, uri=uri, provenance=provenance)
    return NWBRecording(
        io=io, uri=uri, provenance={"source_uri": uri, "path": str(path.resolve())}, hash_fn=lambda: content_hash(path)
    )


@register_source("file", paths=True)
def open_nwb_uri(rest: str, *, uri: str, **_options) -> NWBRecording:
    """``file:PATH`` or a bare ``PATH``: a local NWB file (HDF5 or Zarr)."""
    return open_nwb_file(rest)
