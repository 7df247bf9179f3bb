"""The NWB file of encoded trials: the source's trials with their inferred latents and rates."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from .._version import __version__
from .nwbfile import data_source, model_metadata, new_nwbfile, subject_from, trial_aligned_series

if TYPE_CHECKING:
    from ..encode import Encoded
    from ..fitted import LdnsModel

_RESERVED_TRIAL_COLUMNS = {"id", "start_time", "stop_time", "tags", "timeseries"}


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
