"""NWB outputs: the file skeleton, ndx-ldns objects, atomic writes (HDF5 or Zarr), and reading latents back.

What goes where (see ``extensions/ndx-ldns/README.md``): spikes in a standard ``Units`` table,
conditions in ``trials``, covariates in ``processing/behavior``, latents and rates as
``TrialAlignedSeries`` in ``processing/misc``, the model in ``/general/ldns_model``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import re
import uuid
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from .._version import __version__
from ..errors import NwbLdnsError

logger = logging.getLogger("nwb_ldns")


def is_zarr_path(path: str | os.PathLike) -> bool:
    """True for ``.zarr`` outputs (``OUT.nwb.zarr``), False for HDF5 (``OUT.nwb``)."""
    return str(path).rstrip("/").endswith(".zarr")


SYNTHETIC_SPECIES = "http://purl.obolibrary.org/obo/NCBITaxon_32630"  # "synthetic construct"
_SUBJECT_FIELDS = ("subject_id", "species", "sex", "age", "description")


def synthetic_subject(*, subject_id: str, description: str, overrides: dict | None = None):
    """A DANDI-ready ``Subject`` for generated data: species synthetic construct, sex U, age P0D,
    each replaced by a non-None value of ``overrides`` (subject_id, species, sex, age)."""
    from pynwb.file import Subject

    fields = {
        "subject_id": subject_id,
        "species": SYNTHETIC_SPECIES,
        "sex": "U",
        "age": "P0D",
        "description": description,
    }
    fields.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return Subject(**fields)


def subject_from(source: dict | None, *, options: dict | None = None, synthetic_id: str | None = None):
    """The ``Subject`` of an output file: the source's subject where known, options over it.

    Without a source subject, ``synthetic_id`` gives the synthetic-construct defaults
    (:func:`synthetic_subject`); without either, only the options are used, and a file with
    no subject id or species gets a warning (DANDI needs both).
    """
    from pynwb.file import Subject

    options = {k: v for k, v in (options or {}).items() if v is not None}
    known = {k: v for k, v in (source or {}).items() if k in _SUBJECT_FIELDS and v not in (None, "")}
    if not known and synthetic_id is not None:
        return synthetic_subject(
            subject_id=synthetic_id,
            overrides=options,
            description="Synthetic data from a generative model (NCBI taxon 32630, synthetic construct).",
        )
    fields = {**known, **options}
    if known and "sex" not in fields:
        fields["sex"] = "U"
    missing = [k for k in ("subject_id", "species", "sex", "age") if k not in fields]
    if missing:
        logger.warning(
            "the output has no subject %s; pass %s to make it ready for DANDI",
            ", ".join(missing),
            " ".join(f"--{k.replace('_', '-')}" for k in missing),
        )
    return Subject(**fields) if fields else None


def new_nwbfile(
    *,
    session_description: str,
    session: dict | None = None,
    session_id: str,
    start_time: datetime.datetime | str | None = None,
    source_script: str,
    experiment_description: str | None = None,
    keywords: tuple[str, ...] = (),
):
    """An ``NWBFile`` with a fresh identifier, lab/institution/experimenter copied from ``session``."""
    from pynwb import NWBFile

    session = session or {}
    if isinstance(start_time, str):
        start_time = datetime.datetime.fromisoformat(start_time)
    if start_time is None:
        start_time = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    if start_time.tzinfo is None:
        start_time = start_time.replace(tzinfo=datetime.timezone.utc)
    extra = {k: session[k] for k in ("lab", "institution", "experimenter") if session.get(k)}
    keywords = ("latent diffusion", "nwb-ldns", *keywords)
    return NWBFile(
        session_description=session_description,
        identifier=str(uuid.uuid4()),
        session_start_time=start_time,
        session_id=re.sub(r"[/\\\s]+", "-", session_id),
        experiment_description=experiment_description,
        source_script=source_script,
        source_script_file_name=source_script.split()[0],
        keywords=list(keywords),
        **extra,
    )


# ---- ndx-ldns objects -----------------------------------------------------------------------------
def data_source(provenance: dict, spec: dict, *, name: str):
    """An ``LdnsDataSource`` from a provenance dict and a data spec dict."""
    from ndx_ldns import LdnsDataSource

    optional = {
        "dandiset": provenance.get("dandiset"),
        "dandiset_version": provenance.get("version"),
        "asset_path": provenance.get("asset_path"),
        "content_hash": provenance.get("content_hash"),
    }
    return LdnsDataSource(
        name=name,
        source_uri=str(provenance.get("source_uri", "unknown")),
        data_spec=json.dumps(spec, sort_keys=True, default=str),
        **{k: str(v) for k, v in optional.items() if v is not None},
    )


def model_metadata(model, *, include_weights: bool = False):
    """``LdnsModelMetadata`` (``/general/ldns_model``) for a loaded model.

    ``include_weights`` stores the safetensors files of the model dir in the NWB file, so the
    file alone is enough to load the model again (:func:`nwb_ldns.artifacts.load_model`).
    """
    from ndx_ldns import LdnsModelMetadata

    cfg = dict(model.info)
    stages = cfg.pop("stages", {})
    sizes = f"{model.n_neurons} units -> {model.latent_dim} latents"
    weights = {}
    if include_weights:
        if model.path is None:
            raise NwbLdnsError("the model was not loaded from a model dir; its weights cannot be included")
        sums = {}
        for stage in stages:
            path = Path(model.path) / f"{stage}.safetensors"
            if path.is_file():
                data = path.read_bytes()
                weights[f"{stage}_weights"] = np.frombuffer(data, dtype=np.uint8)
                sums[stage] = hashlib.sha256(data).hexdigest()
        cfg["weights_sha256"] = sums  # loading checks them: altered or damaged weights are refused
    return LdnsModelMetadata(
        name="ldns_model",
        method=str(cfg.get("method", "ldns")),
        package_version=str(cfg.get("versions", {}).get("nwb_ldns", __version__)),
        description=f"{str(cfg.get('method', 'ldns')).upper()} model ({sizes}; stages {', '.join(stages)}), "
        f"fitted with nwb-ldns",
        config=json.dumps(cfg, sort_keys=True),
        training_history=json.dumps(stages, sort_keys=True),
        training_data=data_source(cfg.get("provenance", {}), cfg.get("data", {}).get("spec", {}), name="training_data"),
        **weights,
    )


def trial_aligned_series(
    *,
    name: str,
    values: np.ndarray | None = None,
    lengths: np.ndarray,
    bin_s: float,
    unit: str,
    description: str,
    event_times: np.ndarray,
    offset_s: float,
    trials_region,
    channel_names,
    window_starts: np.ndarray | None = None,
    data=None,
):
    """A ``TrialAlignedSeries``: (trial, channel, time) values -> time-first, ragged by trial.

    Parameters
    ----------
    values : (trial, channel, time) array; bins at or past ``lengths[i]`` are padding and dropped
    data : instead of ``values``, the valid bins already time-first, (bins, channel): an array or
        an hdmf chunk iterator (written piece by piece)
    lengths : (trial,) valid bins per trial
    event_times : (trial,) time of each trial's alignment event, s
    offset_s : time from the event to the start of the first bin, s
    trials_region : DynamicTableRegion of the trials table, one row per trial
    window_starts : (trial,) start of each trial's first bin, s; None when trials are back to
        back from t = 0. Contiguous bins get starting_time and rate, others timestamps.
    """
    from ndx_ldns import TrialAlignedSeries

    lengths = np.asarray(lengths, dtype=np.int64)
    n, L = lengths.size, int(lengths.max(initial=0))
    valid = np.arange(L)[None, :] < lengths[:, None]  # (trial, time)
    if data is None:
        data = np.ascontiguousarray(values.transpose(0, 2, 1)[valid], dtype=np.float32)  # (bins, channel)
    timing = {"starting_time": 0.0, "rate": 1.0 / bin_s}
    if window_starts is not None:
        k = np.broadcast_to(np.arange(L)[None, :], (n, L))[valid]
        t = np.repeat(np.asarray(window_starts, dtype=np.float64), lengths) + k * bin_s
        regular = t.size > 1 and np.allclose(np.diff(t), bin_s, rtol=0, atol=1e-9)  # contiguous trials
        timing = {"starting_time": float(t[0]), "rate": 1.0 / bin_s} if regular else {"timestamps": t}
    return TrialAlignedSeries(
        name=name,
        description=description,
        data=data,
        unit=unit,
        **timing,
        bin_width_in_milliseconds=float(bin_s * 1e3),
        milliseconds_from_event_to_first_bin=float(offset_s * 1e3),
        bins_per_trial=lengths,
        event_timestamps=np.asarray(event_times, dtype=np.float64),
        trials=trials_region,
        channel_names=[str(c) for c in channel_names],
    )


#: set when an HDF5 write failed: the HDF5 library may then crash while Python exits, so the CLI
#: leaves with os._exit after its error line (see cli/main.py)
HDF5_WRITE_FAILED = False


#: ``compression`` choices of :func:`write_nwbfile`
COMPRESSIONS = ("compact", "gzip", "none")
#: datasets smaller than this stay uncompressed (the NWB Inspector asks for compression from 10 MiB)
COMPRESS_MIN_BYTES = 64 * 1024
#: ``compact`` keeps this many leading mantissa bits of model outputs (rates, latents): relative
#: error at most 2**-9 (0.2%), far below what spikes can tell apart, and the zeroed low bits compress
MODEL_OUTPUT_BITS = 8
#: ``compact`` rounds spike times to within this fraction of their units table's ``resolution``,
#: so every spike stays on its sampling frame (re-binning and SpikeInterface's frames are exact)
SPIKE_TIME_TOLERANCE = 1 / 20


def _nbytes(data) -> int:
    """Bytes of an array, a chunk iterator or a long list of numbers; 0 for anything else."""
    from hdmf.data_utils import AbstractDataChunkIterator

    if isinstance(data, np.ndarray):
        return int(data.nbytes)
    if isinstance(data, AbstractDataChunkIterator):
        shape = data.maxshape if all(n is not None for n in data.maxshape) else data.recommended_data_shape()
        return int(np.dtype(data.dtype).itemsize * np.prod(shape, dtype=np.int64))
    if isinstance(data, list) and len(data) > 1000:  # e.g. a Units table's spike times from add_unit
        try:
            values = np.asarray(data)
        except ValueError:  # ragged
            return 0
        return int(values.nbytes) if values.dtype.kind in "biuf" else 0
    return 0


def round_mantissa(x: np.ndarray, *, bits: int | None = None, atol: float | None = None) -> np.ndarray:
    """Floats rounded to fewer mantissa bits (to nearest), the rest zeroed so that compressors shrink them.

    Parameters
    ----------
    x : float32 or float64 array
    bits : keep this many leading mantissa bits: relative error at most ``2 ** -(bits + 1)``
    atol : instead, keep per value the fewest bits with absolute error at most ``atol``

    NaN and infinities are kept as they are.
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"round_mantissa takes float32 or float64, not {x.dtype}")
    uint, mantissa = (np.uint32, 23) if x.dtype == np.float32 else (np.uint64, 52)
    if bits is not None:
        drop = np.full(x.shape, mantissa - int(bits))
    else:  # |x| in [2**(e - 1), 2**e): dropping d bits errs by at most 2**(e - mantissa + d - 2)
        e = np.frexp(x)[1]
        drop = np.floor(np.log2(atol)).astype(np.int64) - e + mantissa + 2
    drop = np.clip(drop, 0, mantissa).astype(np.int64)
    half = np.left_shift(1, np.maximum(drop - 1, 0)) * (drop > 0)  # int64: drop <= 52
    mask = ~(np.left_shift(1, drop) - 1)  # wraps to the unsigned mask below
    b = np.ascontiguousarray(x).view(uint)
    rounded = ((b + half.astype(uint)) & mask.astype(uint)).view(x.dtype)
    return np.where(np.isfinite(x), rounded, x)


def _rounded(data, *, round_fn):
    """``data`` (an array, a list or :class:`~nwb_ldns.io.store.Pieces`) as Pieces through ``round_fn``
    (hdmf's ``data_chunk_iterator_class`` hook: called with ``data=``)."""
    from .store import CHUNK_BYTES, Pieces

    if isinstance(data, Pieces):
        return data.map(round_fn)
    a = np.asarray(data)
    step = max(1, CHUNK_BYTES // max(a[:1].nbytes, 1))
    pieces = [(min(step, len(a) - i), lambda i=i: round_fn(a[i : i + step])) for i in range(0, len(a), step)]
    return Pieces(pieces, dtype=a.dtype, tail=a.shape[1:])


def _compact_rounding(nwbfile) -> dict[int, Callable]:
    """id of each dataset ``compact`` rounds (TrialAlignedSeries data, Units spike times) -> its rounding."""
    from pynwb.misc import Units

    rounding = {}
    for obj in nwbfile.objects.values():
        if type(obj).__name__ == "TrialAlignedSeries" and np.dtype(getattr(obj.data, "dtype", "O")).kind == "f":
            rounding[id(obj)] = partial(round_mantissa, bits=MODEL_OUTPUT_BITS)
        elif isinstance(obj, Units) and obj.resolution and obj.resolution > 0 and "spike_times" in obj:
            times = obj.get("spike_times")
            times = getattr(times, "target", times)  # the column behind the ragged index
            atol = float(obj.resolution) * SPIKE_TIME_TOLERANCE
            rounding[id(times)] = partial(round_mantissa, atol=atol)
    return rounding


def compress_datasets(nwbfile, *, zarr: bool, compression: str = "compact") -> int:
    """Wrap every dataset of at least :data:`COMPRESS_MIN_BYTES` in its backend's compressing DataIO.

    HDF5 gets gzip (level 4) with the shuffle filter, which every HDF5 reader can decode; Zarr an
    explicit Blosc codec (zstd, level 5, byte shuffle). ``compact`` (the default) also rounds
    what the model computed: rates and latents (``TrialAlignedSeries``) keep
    :data:`MODEL_OUTPUT_BITS` mantissa bits, spike times are kept to within
    :data:`SPIKE_TIME_TOLERANCE` of the units' ``resolution``; ``gzip`` is lossless; ``none``
    writes everything raw. Rounding applies to those datasets whatever their size. Datasets
    already wrapped keep their settings. Returns how many datasets were compressed.
    """
    if compression not in COMPRESSIONS:
        raise NwbLdnsError(f"unknown `compression` {compression!r}; choose from {', '.join(COMPRESSIONS)}")
    if compression == "none":
        return 0
    from hdmf.container import Container, Data
    from hdmf.data_utils import DataIO

    if zarr:
        import numcodecs
        from hdmf_zarr.utils import ZarrDataIO

        io_class = ZarrDataIO
        kwargs = {"compressor": numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)}
    else:
        from hdmf.backends.hdf5.h5_utils import H5DataIO

        io_class, kwargs = H5DataIO, {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    rounding = _compact_rounding(nwbfile) if compression == "compact" else {}

    wrapped = 0
    for obj in nwbfile.objects.values():
        if isinstance(obj, Data):
            fields = {None: obj.data}
        elif isinstance(obj, Container):
            fields = dict(obj.fields)
        else:
            continue
        for name, value in fields.items():
            rounds = id(obj) in rounding and name in (None, "data")
            big = _nbytes(value) >= COMPRESS_MIN_BYTES
            if isinstance(value, DataIO) or not (big or rounds):
                continue
            how = (dict(kwargs) if big else {},) + ((_rounded, {"round_fn": rounding[id(obj)]}) if rounds else ())
            obj.set_data_io(*(() if name is None else (name,)), io_class, *how)
            wrapped += big
    return wrapped


def write_nwbfile(nwbfile, path: str | os.PathLike, *, overwrite: bool = False, compression: str = "compact") -> Path:
    """Write an in-memory NWBFile to ``path`` (HDF5, or Zarr when it ends in ``.zarr``).

    Datasets of 64 KiB or more are compressed (gzip and shuffle in HDF5, Blosc zstd in Zarr);
    ``compression="compact"`` (the default) also rounds rates, latents and spike times to what
    they can tell, ``"gzip"`` is lossless, ``"none"`` writes them raw (see :func:`compress_datasets`).

    The file is written under a hidden temporary name beside the target and renamed into place
    (see :mod:`nwb_ldns.outputs`), so a failure or a kill leaves the old output as it was and
    readers never see a half-written file. ``source_script`` names nwb-ldns, which is how a later
    ``--overwrite`` recognises the file as one nwb-ldns may replace.

    Raises
    ------
    NwbLdnsError
        When ``path`` exists and ``overwrite`` is False, when it holds something nwb-ldns did not
        write, when another process writes it, or when the write fails (one line; a full disk says so).
    """
    global HDF5_WRITE_FAILED
    from .outputs import claim, describe_os_error

    path = Path(path)
    if nwbfile.source_script is None:
        nwbfile.source_script = f"nwb-ldns {__version__}"
        nwbfile.source_script_file_name = "nwb-ldns"
    zarr_out = is_zarr_path(path)
    compress_datasets(nwbfile, zarr=zarr_out, compression=compression)
    with claim(path, kind="nwb", overwrite=overwrite) as out:
        try:
            if zarr_out:
                from hdmf_zarr import NWBZarrIO

                with NWBZarrIO(str(out.tmp), mode="w") as io:
                    io.write(nwbfile)
            else:
                import sys

                from pynwb import NWBHDF5IO

                # when a write fails (a full disk), h5py prints a traceback for every id it cannot free,
                # during the write and when they are collected later; the one-line error says it all
                hooks = sys.unraisablehook, sys.excepthook
                sys.unraisablehook = sys.excepthook = lambda *_: None
                try:
                    with NWBHDF5IO(str(out.tmp), mode="w") as io:
                        io.write(nwbfile)
                except BaseException:
                    HDF5_WRITE_FAILED = True
                    raise
                sys.unraisablehook, sys.excepthook = hooks
            out.commit()
        except BaseException as exc:
            if isinstance(exc, (NwbLdnsError, KeyboardInterrupt)):
                raise
            reason = describe_os_error(exc) or f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            raise NwbLdnsError(f"writing {path} failed: {reason}; nothing was replaced") from exc
    return path


# ---- reading outputs back ------------------------------------------------------------------------------
def open_nwb(path: str | os.PathLike):
    """An open pynwb IO for an HDF5 or Zarr NWB file (read-only); use as a context manager."""
    path = Path(path)
    if not path.exists():
        raise NwbLdnsError(f"{path} does not exist")
    try:
        if is_zarr_path(path):
            from hdmf_zarr import NWBZarrIO

            return NWBZarrIO(str(path), mode="r")
        from pynwb import NWBHDF5IO

        return NWBHDF5IO(str(path), mode="r")
    except Exception as exc:
        raise NwbLdnsError(f"cannot open {path} as NWB: {type(exc).__name__}: {exc}") from exc


def read_ldns_model(io, path):
    """The ``/general/ldns_model`` of an open NWB file; one-line errors when unreadable or absent."""
    try:
        meta = io.read().lab_meta_data.get("ldns_model")
    except Exception as exc:
        raise NwbLdnsError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
    if meta is None:
        raise NwbLdnsError(f"{path} has no ldns_model: not a file written by nwb-ldns generate or encode")
    return meta


def _unit_ids(names, meta, n: int) -> np.ndarray:
    """The rates' unit ids with the type they had in the source (the model's ``unit_ids``): text in
    the file, integers again for an NWB units table, as ``bin`` and SpikeInterface give them."""
    names = [str(u) for u in names[:]] if names is not None else [str(u) for u in range(n)]
    if "ldns_model" in meta:
        ids = json.loads(meta["ldns_model"].config).get("data", {}).get("unit_ids")
        if ids is not None and [str(u) for u in ids[: len(names)]] == names:
            return np.asarray(ids[: len(names)])
    return np.asarray([int(u) for u in names]) if all(re.fullmatch(r"-?\d+", u) for u in names) else np.asarray(names)


def _ragged(series) -> tuple[np.ndarray, np.ndarray]:
    """(trial, time, channel) NaN-padded values and (trial,) lengths of a TrialAlignedSeries."""
    lengths = np.asarray(series.bins_per_trial[:], dtype=np.int64)
    data = np.asarray(series.data[:], dtype=np.float32)  # (bins, channel)
    if lengths.sum() != data.shape[0]:
        raise NwbLdnsError(f"{series.name}: bins_per_trial sums to {lengths.sum()} but data has {data.shape[0]} bins")
    L = int(lengths.max(initial=0))
    out = np.full((lengths.size, L, data.shape[1]), np.nan, dtype=np.float32)
    out[np.arange(L)[None, :] < lengths[:, None]] = data
    return out, lengths


def open_latents(path: str | os.PathLike):
    """Latents (and rates) of an nwb-ldns output file as an ``xarray.Dataset``.

    Works on the ``.nwb`` and ``.nwb.zarr`` files that ``nwb-ldns generate`` and
    ``nwb-ldns encode`` write.

    Returns
    -------
    xarray.Dataset
        ``latents`` (trial, time, latent) and ``rates`` (trial, time, unit; Hz), NaN past each
        trial's ``length``; ``event_time`` (trial, s); the trials table's scalar columns
        (``synthetic``, conditions, ``start_time`` ...); for velocity-conditioned samples
        ``behavior_<name>`` (trial, time, channel). Coordinates: ``trial`` (trials table ids),
        ``time`` (bin centres relative to the alignment event, s), ``latent``, ``unit`` (the
        source's unit ids). ``attrs``: ``bin_s``, ``method``, ``source_uri``, ``kind``
        (generated or encoded), ``model_config`` and, for generated files, ``generation`` (JSON).
    """
    import xarray as xr

    with open_nwb(path) as io:
        try:
            nwb = io.read()
        except Exception as exc:
            raise NwbLdnsError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
        misc = nwb.processing.get("misc")
        if misc is None or "latents" not in misc.data_interfaces:
            raise NwbLdnsError(f"{path} has no processing/misc/latents: not an nwb-ldns generate or encode output")
        lat = misc["latents"]
        z, lengths = _ragged(lat)
        bin_s = float(lat.bin_width_in_milliseconds) * 1e-3
        offset = float(lat.milliseconds_from_event_to_first_bin or 0.0) * 1e-3
        time = offset + (np.arange(z.shape[1]) + 0.5) * bin_s
        rows = np.asarray(lat.trials.data[:], dtype=np.int64) if lat.trials is not None else np.arange(len(lengths))
        trials = nwb.trials.to_dataframe() if nwb.trials is not None else None
        ids = trials.index.to_numpy()[rows] if trials is not None else rows
        ds = xr.Dataset(
            {
                "latents": (("trial", "time", "latent"), z),
                "length": ("trial", lengths.astype(np.int32)),
                "event_time": ("trial", np.asarray(lat.event_timestamps[:], dtype=np.float64)),
            },
            coords={
                "trial": ids,
                "time": time,
                "latent": list(lat.channel_names[:]) if lat.channel_names is not None else np.arange(z.shape[2]),
            },
        )
        if "rates" in misc.data_interfaces:
            r, _ = _ragged(misc["rates"])
            names = misc["rates"].channel_names
            ds["rates"] = (("trial", "time", "unit"), r)
            ds = ds.assign_coords(unit=_unit_ids(names, nwb.lab_meta_data, r.shape[2]))
            ds["rates"].attrs["units"] = misc["rates"].unit
        if trials is not None:
            for col in trials.columns:
                values = trials[col].iloc[rows]
                if values.map(lambda v: np.ndim(v) == 0).all():
                    ds[col] = ("trial", values.to_numpy())
                elif len(values) and values.map(lambda v: np.shape(v) == np.shape(values.iloc[0])).all():
                    ds[col] = (("trial", f"{col}_dim"), np.stack(values.to_numpy()))  # e.g. GNOCCHI's code
        meta = nwb.lab_meta_data
        attrs = {"bin_s": bin_s, "file": str(path), "kind": "encoded" if "ldns_encoding" in meta else "generated"}
        if "ldns_model" in meta:
            m = meta["ldns_model"]
            attrs.update(method=m.method, model_config=m.config, source_uri=m.training_data.source_uri)
        if "ldns_encoding" in meta:
            attrs["source_uri"] = meta["ldns_encoding"].source.source_uri
        if "ldns_generation" in meta:
            g = meta["ldns_generation"]
            attrs["generation"] = g.settings
            series = g.condition_series
            if series is not None:
                v = np.asarray(series.data[:], dtype=np.float32)  # (bins, channel), trials back to back
                if v.shape[0] == lengths.sum():
                    out = np.full(z.shape[:2] + v.shape[1:], np.nan, dtype=np.float32)
                    out[np.arange(z.shape[1])[None, :] < lengths[:, None]] = v
                    ds[f"behavior_{series.name}"] = (("trial", "time", f"{series.name}_channel"), out)
        ds.attrs.update(attrs)
        ds["time"].attrs.update(units="s", description="bin centre relative to the alignment event")
        ds["latents"].attrs["units"] = lat.unit
    return ds
