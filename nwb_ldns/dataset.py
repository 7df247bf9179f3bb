"""SpikeDataset: binned trials x time x units with behaviour, covariates, splits and provenance."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ._version import __version__
from .binning import WindowBinner
from .config import DataSpec
from .errors import NwbLdnsError
from .sources import Recording, open_source
from .sources.base import scalar_values

logger = logging.getLogger("nwb_ldns")

SPLITS = ("train", "val", "test")
#: whole trials are padded to the longest, so one trial this many times the median length (a
#: stop_time at the session's end, a rest block in the trials table) would multiply the memory and
#: time of everything after binning: it stops with advice instead
LONG_TRIAL_FACTOR = 10.0
_SPLIT_SYNONYMS = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}


class SpikeDataset:
    """Binned spiking trials, backed by an ``xarray.Dataset``.

    Variables of ``ds``: ``counts`` (trial, time, unit; integer), ``length`` (trial; bins in
    each trial, the rest is padding), ``split`` (trial; train/val/test), ``window_start`` and
    ``align_time`` (trial; absolute seconds), ``start_time`` and ``stop_time`` (trial; the source
    trial the window lies in, or the window itself without a trials table), optionally
    ``observed`` (trial, time, unit; False where a unit was not observed), ``behavior_<name>``
    (trial, time, channel) and trial covariates ``trial_<column>`` (trial). Coordinates:
    ``trial`` (trial ids), ``time`` (bin centres relative to the alignment, s), ``unit`` (unit
    ids). ``attrs`` hold the data spec, provenance and the source's session/subject fields as JSON.

    Models take ``(batch, channels, time)``: see :meth:`counts_bct`.
    """

    def __init__(self, ds: xr.Dataset):
        self.ds = ds

    # ---- shape and metadata ------------------------------------------------------------
    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={int((self.split == s).sum())}" for s in SPLITS)
        return (
            f"SpikeDataset({self.n_trials} trials x {self.n_bins} bins of {self.spec.bin_ms:g} ms x "
            f"{self.n_units} units; {sizes}; from {self.provenance.get('source_uri')})"
        )

    @property
    def n_trials(self) -> int:
        return self.ds.sizes["trial"]

    @property
    def n_bins(self) -> int:
        return self.ds.sizes["time"]

    @property
    def n_units(self) -> int:
        return self.ds.sizes["unit"]

    @property
    def spec(self) -> DataSpec:
        return DataSpec.from_dict(json.loads(self.ds.attrs["spec"]))

    @property
    def provenance(self) -> dict:
        return json.loads(self.ds.attrs["provenance"])

    @property
    def session(self) -> dict:
        """Session and subject fields of the source (``subject`` a dict), as far as known."""
        return json.loads(self.ds.attrs.get("session", "{}"))

    @property
    def bin_s(self) -> float:
        return float(self.ds.attrs["bin_s"])

    @property
    def counts(self) -> np.ndarray:
        """Counts (trial, time, unit)."""
        return self.ds["counts"].values

    def counts_bct(self, dtype=np.float32) -> np.ndarray:
        """Counts in the models' layout (batch=trial, channels=unit, time)."""
        return np.ascontiguousarray(self.counts.transpose(0, 2, 1), dtype=dtype)

    @property
    def lengths(self) -> np.ndarray:
        return self.ds["length"].values

    @property
    def split(self) -> np.ndarray:
        return self.ds["split"].values.astype(str)

    @property
    def unit_ids(self) -> np.ndarray:
        return self.ds["unit"].values

    @property
    def trial_ids(self) -> np.ndarray:
        return self.ds["trial"].values

    def mask(self) -> np.ndarray:
        """(trial, time) True inside each trial's length, False in the padding."""
        return np.arange(self.n_bins)[None, :] < self.lengths[:, None]

    def behavior(self, name: str) -> np.ndarray:
        """Binned behaviour (trial, time, channel)."""
        key = f"behavior_{name}"
        if key not in self.ds:
            have = [k[9:] for k in self.ds.data_vars if k.startswith("behavior_")]
            raise NwbLdnsError(f"no behaviour {name!r} in the dataset; binned: {', '.join(have) or 'none'}")
        return self.ds[key].values

    def covariates(self) -> pd.DataFrame:
        """Trial-level covariates, one column per ``trial_<column>`` variable, indexed by trial id."""
        cols = {k[6:]: self.ds[k].values for k in self.ds.data_vars if k.startswith("trial_")}
        return pd.DataFrame(cols, index=pd.Index(self.trial_ids, name="trial"))

    def select(self, split: str | tuple[str, ...]) -> SpikeDataset:
        """The trials of one split (or several)."""
        wanted = (split,) if isinstance(split, str) else tuple(split)
        return SpikeDataset(self.ds.isel(trial=np.flatnonzero(np.isin(self.split, wanted))))

    def with_reach_angle(self, behavior: str, at_s: float = 0.0) -> SpikeDataset:
        """Add ``trial_reach_angle`` = atan2(vy, vx) of a velocity series at the bin holding ``at_s``.

        ``at_s`` is relative to the alignment (MC_Maze: move onset, bin 50 of -250..450 ms; with a
        100 ms behaviour lag this is the velocity 100 ms after onset, as in LDNS).
        """
        vel = self.behavior(behavior)
        if vel.shape[-1] < 2:
            raise NwbLdnsError(f"behaviour {behavior!r} has {vel.shape[-1]} channel(s); a reach angle needs (vx, vy)")
        edges = self.ds["time"].values - self.bin_s / 2
        b = int(np.searchsorted(edges, at_s, side="right") - 1)
        if not 0 <= b < self.n_bins:
            raise NwbLdnsError(f"time {at_s:g} s is outside the window of the dataset")
        angle = np.arctan2(vel[:, b, 1], vel[:, b, 0]).astype(np.float32)
        ds = self.ds.assign(trial_reach_angle=("trial", angle))
        ds["trial_reach_angle"].attrs.update(units="rad", description=f"atan2 of {behavior} at {at_s:g} s")
        return SpikeDataset(ds)

    # ---- storage -------------------------------------------------------------------------
    def to_zarr(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save to a Zarr folder (written under a hidden temporary name, then moved into place).

        ``overwrite`` replaces only a dataset that nwb-ldns wrote (see :mod:`nwb_ldns.io.outputs`).
        """
        from .io.outputs import claim

        with claim(path, kind="dataset", overwrite=overwrite) as out:
            self.ds.to_zarr(out.tmp, mode="w", consolidated=True)
            return out.commit()

    @classmethod
    def from_zarr(cls, path: str | os.PathLike) -> SpikeDataset:
        """Load a dataset saved by :meth:`to_zarr` into memory."""
        try:
            ds = xr.open_zarr(path, consolidated=True).load()
        except Exception as exc:
            raise NwbLdnsError(f"cannot read {path} as a SpikeDataset: {type(exc).__name__}: {exc}") from exc
        if "counts" not in ds or "spec" not in ds.attrs:
            raise NwbLdnsError(f"{path} is a Zarr store but not a SpikeDataset (no counts or spec)")
        return cls(ds)


# ---- building ------------------------------------------------------------------------------
def _trial_windows(rec: Recording, spec: DataSpec):
    """Window starts, bins per window, alignment times, trial ids and the trials table used."""
    bin_s = spec.bin_s
    trials = rec.trials_table(spec.trials_table)
    if spec.trials_table not in (None, "trials") and (trials is None or len(trials) == 0):
        raise NwbLdnsError(f"interval table {spec.trials_table!r} has no rows")
    if trials is None or len(trials) == 0:
        return _segment_windows(rec, spec) + (None,)
    trials = trials.sort_values("start_time", kind="stable")
    if spec.window_ms is None:  # whole trials, variable length
        start = trials["start_time"].to_numpy(dtype=np.float64)
        stop = trials["stop_time"].to_numpy(dtype=np.float64)
        no_stop = ~np.isfinite(stop) | ~np.isfinite(start)
        if no_stop.all():
            raise NwbLdnsError(
                f"the {len(trials)} trials have no stop_time (NaN), so whole trials cannot be binned; "
                f"use fixed windows, e.g. `align` start_time `window_ms` 0 {suggest_window_ms(trials, spec.bin_ms):g}"
            )
        if no_stop.any():
            logger.warning("dropping %d trial(s) with no stop_time (NaN)", int(no_stop.sum()))
        n_bins = np.floor(np.where(no_stop, 0.0, stop - start) / bin_s + 1e-9)
        keep = n_bins >= 1
        if not keep.all() and not keep.any():
            raise NwbLdnsError(f"no trial is as long as one {spec.bin_ms:g} ms bin")
        if (~keep & ~no_stop).any():
            logger.warning(
                "dropping %d trial(s) shorter than one %g ms bin", int((~keep & ~no_stop).sum()), spec.bin_ms
            )
        trials = trials[keep]
        problem = long_trial_problem(trials, spec.bin_ms)
        if problem:
            raise NwbLdnsError(problem)
        starts = trials["start_time"].to_numpy(dtype=np.float64)
        return starts, n_bins[keep].astype(np.int64), starts, trials.index.to_numpy(), trials

    align = spec.align or "start_time"
    if align not in trials.columns:
        raise NwbLdnsError(f"no trials column {align!r} to align on; columns: {', '.join(map(str, trials.columns))}")
    try:
        t_align = trials[align].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise NwbLdnsError(f"trials column {align!r} is not a time (numbers in seconds)") from None
    nan = ~np.isfinite(t_align)
    if nan.any():
        logger.warning("dropping %d trial(s) with no %s", int(nan.sum()), align)
        trials, t_align = trials[~nan], t_align[~nan]
    a, b = spec.window_ms
    n = (b - a) / spec.bin_ms
    if abs(n - round(n)) > 1e-6:
        raise NwbLdnsError(f"window {a:g}..{b:g} ms is not a whole number of {spec.bin_ms:g} ms bins")
    n_bins = int(round(n))
    starts = t_align + a * 1e-3
    stops = starts + n_bins * bin_s
    tol = 1e-9
    outside = (starts < trials["start_time"].to_numpy() - tol) | (stops > trials["stop_time"].to_numpy() + tol)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise NwbLdnsError(
            f"window {a:g}..{b:g} ms around {align} falls outside {int(outside.sum())} of {len(trials)} trials "
            f"(first: trial {trials.index[i]}, {trials['start_time'].iloc[i]:.3f}-{trials['stop_time'].iloc[i]:.3f} s, "
            f"{align} at {t_align[i]:.3f} s); choose a window inside the trials"
        )
    return starts, np.full(len(trials), n_bins), t_align, trials.index.to_numpy(), trials


def long_trial_problem(trials: pd.DataFrame, bin_ms: float = 5.0) -> str | None:
    """Why whole-trial mode cannot bin ``trials`` sensibly: trials longer than
    :data:`LONG_TRIAL_FACTOR` times the median, named with the fixes (the suggested window is the
    median length in whole ``bin_ms`` bins); None when there are none."""
    length = (trials["stop_time"] - trials["start_time"]).to_numpy(dtype=np.float64)
    ok = np.isfinite(length) & (length > 0)
    if ok.sum() < 2:
        return None
    median = float(np.median(length[ok]))
    long = np.flatnonzero(ok & (length > LONG_TRIAL_FACTOR * median))
    if long.size == 0:
        return None
    worst = long[np.argsort(-length[long])]
    names = ", ".join(f"{trials.index[i]} ({length[i]:.4g} s)" for i in worst[:3]) + (" ..." if long.size > 3 else "")
    return (
        f"{long.size} trial(s) are over {LONG_TRIAL_FACTOR:g}x the median trial ({median:.4g} s): {names}; "
        "whole trials are padded to the longest, so fix their stop_time, use another `trials_table`, or bin fixed "
        f"windows, e.g. `align` start_time `window_ms` 0 {max(1.0, np.floor(median * 1e3 / bin_ms)) * bin_ms:g}"
    )


def suggest_window_ms(trials: pd.DataFrame, bin_ms: float) -> float:
    """A window after each trial start that stays clear of the next start: the shortest gap between
    consecutive starts, rounded down to whole bins (at least one bin)."""
    starts = np.sort(trials["start_time"].to_numpy(dtype=np.float64))
    starts = starts[np.isfinite(starts)]
    gaps = np.diff(starts)
    gaps = gaps[gaps > 0]
    gap_ms = float(gaps.min()) * 1e3 if gaps.size else 1000.0
    return max(bin_ms, np.floor(gap_ms / bin_ms + 1e-9) * bin_ms)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``, else free physical
    pages), or None where neither can be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(n_windows: int, n_bins: int, n_units: int, what: str) -> None:
    """Refuse, before any allocation, counts (window x bin x unit, 2 bytes each) larger than the
    memory available: a stray spike time far out (sample indices read as seconds) would otherwise
    tile billions of segments and end in a MemoryError or the kernel's OOM killer minutes later."""
    need = 2 * n_windows * n_bins * n_units
    free = available_memory()
    if free is None or need <= free:
        return
    raise NwbLdnsError(
        f"binning {n_windows:,} windows of {n_bins:,} bins x {n_units:,} units ({what}) needs "
        f"{need / 2**30:,.1f} GiB for the counts alone, {free / 2**30:,.1f} GiB are available: check the "
        "spike times' and trials' range with `nwb-ldns inspect`, or bin less (--window, --bin-ms, "
        "--segment-ms, --units)"
    )


def _segment_windows(rec: Recording, spec: DataSpec):
    """Fixed windows tiling the epochs (or the whole recording) when there is no trials table."""
    n_bins = int(round(spec.segment_ms / spec.bin_ms))
    if n_bins < 1 or abs(spec.segment_ms / spec.bin_ms - n_bins) > 1e-6:
        raise NwbLdnsError(f"`segment_ms` {spec.segment_ms:g} is not a whole number of {spec.bin_ms:g} ms bins")
    seg_s = n_bins * spec.bin_s
    epochs = rec.epochs
    if epochs is not None and len(epochs):
        spans = epochs[["start_time", "stop_time"]].to_numpy(dtype=np.float64)
        what = "epochs"
    else:
        bounds = rec.spike_time_bounds()
        if bounds is None:
            raise NwbLdnsError(f"{rec.uri} has no spikes")
        spans = np.array([bounds], dtype=np.float64)
        what = "the recording"
    per_span = [int(np.floor((e - s) / seg_s + 1e-9)) if np.isfinite(e - s) else 0 for s, e in spans]
    check_memory(sum(per_span), n_bins, len(rec.unit_ids), f"{spec.segment_ms:g} ms segments over {what}")
    starts = np.concatenate([s + seg_s * np.arange(n) for (s, _), n in zip(spans, per_span)])
    if starts.size == 0:
        raise NwbLdnsError(f"no {spec.segment_ms:g} ms segment fits in {what}; use a shorter `segment_ms`")
    starts = np.sort(starts)
    logger.info("no trials table: %d segments of %g ms over %s", starts.size, spec.segment_ms, what)
    return starts, np.full(starts.size, n_bins), starts, np.arange(starts.size)


def _splits(trials: pd.DataFrame | None, n: int, seed: int) -> np.ndarray:
    if trials is not None and "split" in trials.columns:
        raw = trials["split"].astype(str).str.strip().str.lower()
        mapped = raw.map(_SPLIT_SYNONYMS)
        if mapped.isna().any():
            bad = sorted(set(raw[mapped.isna()]))
            raise NwbLdnsError(f"trials column 'split' has values {bad}; expected train/val/test")
        return mapped.to_numpy().astype("<U5")
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_val = int(round(0.7 * n)), int(round(0.1 * n))
    split = np.empty(n, dtype="<U5")
    split[order[:n_train]] = "train"
    split[order[n_train : n_train + n_val]] = "val"
    split[order[n_train + n_val :]] = "test"
    return split


def _scalar_columns(trials: pd.DataFrame) -> dict[str, np.ndarray]:
    out = {}
    for col in trials.columns:
        if col in ("start_time", "stop_time", "split"):
            continue
        values = trials[col]
        if values.map(lambda v: np.ndim(v) == 0).all():
            arr = values.to_numpy()
            if arr.dtype == object or pd.api.types.is_string_dtype(values):
                arr = values.astype(str).to_numpy().astype(str)
            out[str(col)] = arr
    return out


def build_dataset(
    recording: Recording, spec: DataSpec | None = None, *, progress: bool = False, drop_empty_units: bool = True
) -> SpikeDataset:
    """Bin a recording into a :class:`SpikeDataset`.

    Parameters
    ----------
    recording : Recording
        From :func:`nwb_ldns.open_source`.
    spec : DataSpec
        Binning, alignment, units and behaviour (defaults: 5 ms bins, whole trials).
    progress : bool
        Show a progress bar over units.
    drop_empty_units : bool
        Drop units without a spike in the windows (fitting); keep them to encode with a model
        that expects them.

    Returns
    -------
    SpikeDataset
    """
    spec = spec or DataSpec()
    recording.use_units_table(spec.units_table)  # first: the segments tile the chosen units' span
    starts, n_bins, t_align, trial_ids, trials = _trial_windows(recording, spec)
    behavior = [recording.find_behavior(name) for name in spec.behavior]  # fail before any work
    unit_cols = recording.unit_columns()  # read once: the selection, the noise warning, the coordinates
    index = _modelled_units(recording, spec, unit_cols)
    check_memory(len(starts), int(np.max(n_bins, initial=0)), index.size, "the windows")
    binner = WindowBinner(starts, n_bins, spec.bin_s)
    counts, observed, total = _bin_units(recording, binner, index, progress=progress)
    if drop_empty_units:
        counts, observed, index = _drop_empty_units(recording, counts, observed, index, n_windows=starts.size)
        _warn_few_spikes_in_windows(recording, counts, total, binner)

    data_vars = {
        "counts": (("trial", "time", "unit"), counts),
        "length": ("trial", binner.n_bins.astype(np.int32)),
        "split": ("trial", _splits(trials, starts.size, spec.split_seed)),
        "window_start": ("trial", starts),
        "align_time": ("trial", np.asarray(t_align, dtype=np.float64)),
    }
    # the source trial each window came from (segments without a trials table: the window itself)
    data_vars["start_time"] = ("trial", starts if trials is None else trials["start_time"].to_numpy(dtype=np.float64))
    data_vars["stop_time"] = (
        "trial",
        binner.stops if trials is None else trials["stop_time"].to_numpy(dtype=np.float64),
    )
    if observed is not None:
        data_vars["observed"] = (("trial", "time", "unit"), observed)
    for series in behavior:
        data_vars[f"behavior_{series.name}"] = _binned_behavior(recording, series, binner, spec)
    if trials is not None:
        for col, values in _scalar_columns(trials).items():
            data_vars[f"trial_{col}"] = ("trial", values)

    offset = starts - t_align  # window start relative to the alignment, per trial
    rel0 = float(np.median(offset)) if offset.size else 0.0
    time = rel0 + (np.arange(binner.max_bins) + 0.5) * spec.bin_s
    unit_ids = np.asarray(recording.unit_ids)
    coords = {"trial": trial_ids, "time": time, "unit": unit_ids[index]}
    for col in unit_cols.columns:
        values = scalar_values(unit_cols[col].to_numpy()[index])
        if values is not None:  # readers give plain values; anything else would break the Zarr write
            coords[f"unit_{col}"] = ("unit", values)
    ds = xr.Dataset(
        data_vars,
        coords=coords,
        attrs={
            "spec": spec.to_json(),
            "provenance": json.dumps(recording.provenance, sort_keys=True, default=str),
            "session": json.dumps(recording.session_metadata(), sort_keys=True, default=str),
            "bin_s": spec.bin_s,
            "nwb_ldns_version": __version__,
        },
    )
    ds["time"].attrs.update(units="s", description="bin centre relative to the alignment")
    return SpikeDataset(ds)


def _warn_noise_units(unit_cols: pd.DataFrame) -> None:
    """Sorted files often keep every cluster: name those a sorter's labels call noise."""
    from .unit_selection import noise_label_count

    found = noise_label_count(unit_cols)
    if found:
        col, noise, total = found
        logger.warning(
            "%d of %d units are labelled noise in the units column %r and are modelled with the others; "
            "--units %s!=noise leaves them out",
            noise,
            total,
            col,
            col,
        )


def _modelled_units(recording: Recording, spec: DataSpec, unit_cols: pd.DataFrame) -> np.ndarray:
    """Indices of the units to model: those ``spec.units`` selects (:mod:`~nwb_ldns.unit_selection`)."""
    from .unit_selection import select

    keep = select(unit_cols, spec.units)
    if spec.units == "all":
        _warn_noise_units(unit_cols)
    index = np.flatnonzero(keep)
    if index.size == 0:
        which = "" if spec.units == "all" else f" selected by --units {spec.units!r}"
        raise NwbLdnsError(f"{recording.uri} has no units{which} to model (of {len(keep)})")
    if spec.units != "all":
        logger.info("modelling %d of %d units (--units %s)", index.size, len(keep), spec.units)
    return index


def _bin_units(recording: Recording, binner: WindowBinner, index: np.ndarray, *, progress: bool):
    """Counts (trial, time, unit) of the units ``index``, one unit at a time, where each was
    observed (None when every unit was observed in every valid bin), and how many spikes the
    units have in all, inside the windows or not."""
    from tqdm.auto import tqdm

    counts = np.zeros(binner.shape + (index.size,), dtype=np.uint16)  # (trial, time, unit)
    observed = None
    valid = binner.valid()
    total = 0
    for j, i in enumerate(
        tqdm(index, desc="binning units", unit="unit", disable=None if progress else True, leave=False)
    ):
        times = recording.spike_times(int(i))
        total += times.size
        slot, c = binner.sparse_counts(times)
        if c.max(initial=0) > np.iinfo(counts.dtype).max:
            counts = counts.astype(np.uint32)
        counts.reshape(-1, index.size)[slot, j] = c  # a view: (trial * time, unit)
        iv = recording.obs_intervals(int(i))
        if iv is not None:
            obs = binner.observed(iv)
            if not obs[valid].all():
                if observed is None:
                    observed = np.ones(counts.shape, dtype=bool)
                observed[:, :, j] = obs | ~valid
    return counts, observed, total


def _drop_empty_units(recording: Recording, counts, observed, index, *, n_windows: int):
    """Leave out units without a spike in the windows (with a warning); an error when none has one."""
    empty = counts.sum(axis=(0, 1), dtype=np.int64) == 0
    if empty.all():
        raise NwbLdnsError(f"no unit of {recording.uri} has a spike inside the {n_windows} windows")
    if empty.any():
        unit_ids = np.asarray(recording.unit_ids)
        logger.warning(
            "dropping %d unit(s) with no spikes in the windows: %s",
            int(empty.sum()),
            ", ".join(map(str, unit_ids[index[empty]][:10])) + (" ..." if empty.sum() > 10 else ""),
        )
        counts = counts[:, :, ~empty]
        observed = observed[:, :, ~empty] if observed is not None else None
        index = index[~empty]
    return counts, observed, index


#: ``bin`` and ``fit`` warn when the windows hold less than this fraction of the modelled units' spikes
FEW_SPIKES_IN_WINDOWS = 0.01


def _warn_few_spikes_in_windows(recording: Recording, counts, total: int, binner: WindowBinner) -> None:
    """Warn when the windows hold under :data:`FEW_SPIKES_IN_WINDOWS` of the units' ``total`` spikes:
    a short task in a long recording does that, and so do spike times and trials written in
    different units (spikes in ms, trials in s), which would otherwise fit a model of near-empty
    windows."""
    inside = int(counts.sum(dtype=np.int64))
    bounds = recording.spike_time_bounds()
    if total == 0 or inside >= FEW_SPIKES_IN_WINDOWS * total or bounds is None:
        return
    window_s = float(binner.n_bins.sum() * binner.bin_s)
    logger.warning(
        "the windows hold %.2g%% of the spikes (%.4g s of windows; the spikes span %.4g s; median unit "
        "%.3g Hz in the windows): if that is not intended, spike times and trials may be in different "
        "units (ms vs s) or on different clocks",
        100 * inside / total,
        window_s,
        bounds[1] - bounds[0],
        float(np.median(counts.sum(axis=(0, 1), dtype=np.int64))) / window_s,
    )


def _binned_behavior(recording: Recording, series, binner: WindowBinner, spec: DataSpec):
    """One behaviour series averaged in the bins (read ``behavior_lag_ms`` later), as an xarray variable."""
    lag = spec.behavior_lag_ms * 1e-3
    samples = recording.read_behavior(series, np.stack([binner.starts + lag, binner.stops + lag], axis=1))
    values = binner.mean_in_bins(samples, lag_s=lag)
    missing = np.isnan(values[binner.valid()]).any(axis=-1).mean()
    if missing > 0:
        logger.warning("behaviour %s has no samples in %.1f%% of bins (NaN there)", series.name, 100 * missing)
    return (
        ("trial", "time", f"{series.name}_channel"),
        values,
        {"path": series.path, "unit": series.unit, "lag_s": lag},
    )


def load_dataset(
    source: str,
    spec: DataSpec | None = None,
    *,
    progress: bool = False,
    drop_empty_units: bool = True,
    **source_options,
) -> SpikeDataset:
    """Open a source, bin it and close it: ``load_dataset("dandi:000128", DataSpec(...))``."""
    with open_source(source, **source_options) as rec:
        return build_dataset(rec, spec, progress=progress, drop_empty_units=drop_empty_units)
