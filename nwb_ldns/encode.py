"""Encoding recorded trials with a fitted model's autoencoder, and writing the latents as NWB."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from . import __version__
from .dataset import SpikeDataset, load_dataset
from .errors import NwbLdnsError
from .model import LdnsModel
from .nwb_io import data_source, model_metadata, new_nwbfile, subject_from, trial_aligned_series

_RESERVED_TRIAL_COLUMNS = {"id", "start_time", "stop_time", "tags", "timeseries"}


@dataclasses.dataclass
class Encoded:
    """Inferred latents (trial, latent, time) and rates (trial, unit, time; expected counts per bin)
    of the trials of ``dataset``; bins past ``dataset.lengths`` are padding."""

    dataset: SpikeDataset
    latents: np.ndarray
    rates: np.ndarray
    codes: np.ndarray | None = None  # (trial, code_dim), GNOCCHI models


def select_units(dataset: SpikeDataset, unit_ids: list, *, what: str = "the model") -> SpikeDataset:
    """The units ``unit_ids`` of ``dataset`` (matched by id as text), in that order.

    A one-line error names the ids the dataset lacks.
    """
    want = [str(u) for u in unit_ids]
    pos = {u: i for i, u in enumerate(str(u) for u in dataset.unit_ids)}
    missing = [u for u in want if u not in pos]
    if missing:
        raise NwbLdnsError(
            f"{what} was fitted on {len(want)} units; the source lacks {len(missing)} of them "
            f"(ids {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}): use a recording "
            f"with the same units"
        )
    return SpikeDataset(dataset.ds.isel(unit=[pos[u] for u in want]))


def match_units(model: LdnsModel, dataset: SpikeDataset) -> SpikeDataset:
    """The units of ``dataset`` the model was fitted on, in the model's order.

    Units are matched by id; a recording the model was not fitted on is fine when it has them all.
    """
    if not model.data.get("unit_ids"):
        raise NwbLdnsError("the model dir does not list its unit ids (config.json data.unit_ids)")
    return select_units(dataset, model.data["unit_ids"])


def encode(model: LdnsModel, dataset: SpikeDataset, *, batch_size: int = 256) -> Encoded:
    """Latents and rates of every trial of ``dataset`` (all splits), by the model's encoder.

    ``dataset`` must be binned as the model's data spec says (:func:`encode_source` does that).
    """
    spec = model.spec
    if abs(dataset.bin_s - spec.bin_s) > 1e-12:
        raise NwbLdnsError(f"the data are binned at {dataset.bin_s * 1e3:g} ms; the model at {spec.bin_ms:g} ms")
    ds = match_units(model, dataset)
    latents, rates = model.encode(ds.counts_bct(), ds.lengths, batch_size=batch_size)  # (n, D, L), (n, N, L)
    codes = model.codes(ds.counts_bct(), ds.lengths, batch_size=batch_size) if model.code_dim else None  # (n, K)
    return Encoded(dataset=ds, latents=latents, rates=rates, codes=codes)


def encode_source(
    model: LdnsModel, source: str, *, batch_size: int = 256, progress: bool = False, **source_options
) -> Encoded:
    """Bin ``source`` with the model's data spec (bin width, alignment, window, units) and encode it."""
    spec = dataclasses.replace(model.spec, behavior=())  # behaviour is not needed to encode
    dataset = load_dataset(source, spec, progress=progress, drop_empty_units=False, **source_options)
    return encode(model, dataset, batch_size=batch_size)


def encoded_nwbfile(model: LdnsModel, enc: Encoded, *, subject: dict | None = None, include_weights: bool = False):
    """An in-memory NWBFile with the inferred latents and rates of every trial.

    - ``trials``: the source's trials (their ids, start/stop and scalar columns, ``split``);
    - ``processing/misc``: ``latents`` and ``rates`` (Hz) as ``TrialAlignedSeries`` on the
      source's clock (timestamps = bin starts), aligned as the model's data spec says;
    - ``/general/ldns_model`` and ``/general/ldns_encoding`` (ndx-ldns).

    Session start, subject, lab and institution are the source's, ``subject`` options over them.
    """
    from ndx_ldns import LdnsEncoding

    ds = enc.dataset
    n, D, L = enc.latents.shape
    session = ds.session
    prov = ds.provenance
    nwb = new_nwbfile(
        session_description=(
            f"Latents and rates inferred by an LDNS model (nwb-ldns) from {n} trials of "
            f"{prov.get('source_uri')}: {session.get('session_description', '')}".rstrip(": ")
        ),
        session=session,
        session_id=f"{session.get('session_id') or 'session'}-ldns-encoded",
        start_time=session.get("session_start_time"),
        experiment_description="Encoded with nwb-ldns",
        source_script=f"nwb-ldns encode (nwb-ldns {__version__})",
        keywords=("latent variables",),
    )
    nwb.subject = subject_from(session.get("subject"), options=subject)

    cov = ds.covariates()
    split = ds.split
    columns = [c for c in cov.columns if c not in _RESERVED_TRIAL_COLUMNS and c != "split"]
    for col in columns:
        nwb.add_trial_column(name=col, description=f"{col}, copied from the source's trials table")
    nwb.add_trial_column(
        name="split",
        description="train/val/test: the source's split column, or the seeded 70/10/20 split nwb-ldns fits with",
    )
    if enc.codes is not None:
        nwb.add_trial_column(
            name="code",
            description=f"GNOCCHI code of the trial (one {enc.codes.shape[1]}-vector "
            "per trial), from the model's code encoder",
        )
    start, stop = ds.ds["start_time"].values, ds.ds["stop_time"].values
    for i, tid in enumerate(ds.trial_ids):
        row = {c: _scalar(cov[c].iloc[i]) for c in columns}
        if enc.codes is not None:
            row["code"] = enc.codes[i]
        nwb.add_trial(id=int(tid), start_time=float(start[i]), stop_time=float(stop[i]), split=str(split[i]), **row)

    window_start = ds.ds["window_start"].values
    align = ds.ds["align_time"].values
    offset = float(np.median(window_start - align)) if n else 0.0
    common = dict(lengths=ds.lengths, bin_s=ds.bin_s, event_times=align, offset_s=offset, window_starts=window_start)
    region = lambda: nwb.trials.create_region("trials", list(range(n)), "the encoded trials")  # noqa: E731
    misc = nwb.create_processing_module("misc", "Latents and rates inferred by nwb-ldns")
    misc.add(
        trial_aligned_series(
            name="latents",
            values=enc.latents,
            unit="a.u.",
            channel_names=[f"latent_{d}" for d in range(D)],
            description="inferred latents per bin (bins x latent), the trials one after the other; timestamps are bin "
            "starts",
            trials_region=region(),
            **common,
        )
    )
    misc.add(
        trial_aligned_series(
            name="rates",
            values=enc.rates / ds.bin_s,
            unit="Hz",
            channel_names=[str(u) for u in ds.unit_ids],
            description="firing rates inferred by the autoencoder (bins x unit), the trials one after the other; "
            "timestamps are bin starts",
            trials_region=region(),
            **common,
        )
    )

    meta = model_metadata(model, include_weights=include_weights)
    nwb.add_lab_meta_data(meta)
    nwb.add_lab_meta_data(
        LdnsEncoding(
            name="ldns_encoding",
            model=meta,
            description=f"{n} trials of {prov.get('source_uri')} encoded by the model in ldns_model",
            source=data_source(prov, json.loads(ds.ds.attrs["spec"]), name="source"),
        )
    )
    return nwb


def _scalar(v):
    """numpy scalars -> Python ones (pynwb column types)."""
    if isinstance(v, np.generic):
        return v.item()
    return v
