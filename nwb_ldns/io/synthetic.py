"""The NWB file of synthetic trials: spikes, trials, the condition, latents, rates and the draw."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from .._version import __version__
from .nwbfile import model_metadata, new_nwbfile, subject_from, trial_aligned_series
from .spikes import SAMPLING_RATE
from .store import SyntheticStore

if TYPE_CHECKING:
    from ..fitted import LdnsModel
    from ..generate import Synthetic


def _units_table(spike_times, per_unit: np.ndarray, *, span: float, unit_ids: list):
    """A standard ``Units`` table from every unit's spike times one after the other (an array or
    a :class:`~nwb_ldns.io.store.Pieces`) and the spike count of each unit."""
    from hdmf.common import VectorData, VectorIndex
    from pynwb.misc import Units

    n = len(unit_ids)
    times = VectorData(name="spike_times", description="the spike times for each unit in seconds", data=spike_times)
    obs = VectorData(
        name="obs_intervals", description="the observation intervals for each unit", data=np.tile([[0.0, span]], (n, 1))
    )
    # each index before its target: hdmf drops a chunk-iterator column from its length check
    # before it looks for the index's target, and would then not find it
    return Units(
        name="units",
        id=list(range(n)),
        resolution=1.0 / SAMPLING_RATE,
        columns=[
            VectorIndex(name="spike_times_index", data=np.cumsum(per_unit).tolist(), target=times),
            times,
            obs,
            VectorIndex(name="obs_intervals_index", data=list(range(1, n + 1)), target=obs),
            VectorData(
                name="source_unit_id", description="id of the unit in the data the model was fitted on", data=unit_ids
            ),
        ],
    )


def synthetic_nwbfile(
    model: LdnsModel, syn: Synthetic | SyntheticStore, *, subject: dict | None = None, include_weights: bool = False
):
    """An in-memory NWBFile of synthetic trials.

    Trials are laid back to back from t = 0 (trials of different lengths each as long as it was
    drawn, ``syn.lengths``).

    - ``units``: standard ``Units``, one row per model unit, spike times on a 30 kHz grid
      (``resolution`` 1/30 kHz), ``obs_intervals`` the whole span, the source's unit id in
      ``source_unit_id`` (integers or text, as in the source);
    - ``trials``: a ``synthetic`` column, the trial-level condition, and the alignment column of
      the training data (e.g. ``move_onset_time``) so the file bins like the source;
    - ``processing/behavior``: a velocity condition as a time-first TimeSeries;
    - ``processing/misc``: ``latents`` and ``rates`` (Hz) as ``TrialAlignedSeries``;
    - ``/general/ldns_model`` and ``/general/ldns_generation`` (ndx-ldns): the model and the draw.

    Subject and session fields come from the source where known, ``subject`` options over them.
    Trials in memory (a :class:`~nwb_ldns.generate.Synthetic`) are written through an in-memory
    :class:`SyntheticStore`, batch by batch as they were sampled, so they give the same file as
    :func:`~nwb_ldns.generate.generate_to_file` with the same seed and batch size.
    """
    if not isinstance(syn, SyntheticStore):
        syn = SyntheticStore.holding(syn)
    N = syn.n_units  # every large dataset is written piece by piece
    edges = np.concatenate([[0], np.cumsum(syn.lengths)]) * syn.bin_s  # (trial + 1,) back to back
    nwb = _session(model, syn, subject)
    unit_ids = model.data.get("unit_ids") or list(range(N))
    nwb.units = _units_table(syn.spike_pieces(), syn.spike_counts(), span=float(edges[-1]), unit_ids=list(unit_ids[:N]))
    offset = float(model.data.get("time_start_s", 0.0))  # window start relative to the alignment event
    events = edges[:-1] - offset  # (trial,) the alignment event of each trial
    nwb.trials = _trials_table(model, syn, edges, events, offset)
    series = _condition_series(model, syn, nwb)
    _model_outputs(nwb, syn, events, offset, unit_ids)
    meta = model_metadata(model, include_weights=include_weights)
    nwb.add_lab_meta_data(meta)
    nwb.add_lab_meta_data(_generation(model, syn, meta, series))
    return nwb


def _session(model: LdnsModel, syn: SyntheticStore, subject: dict | None):
    """A new NWBFile describing the draw, with the source's session and subject fields (``subject`` over them)."""
    n, N, L, bin_s = syn.n_trials, syn.n_units, syn.n_bins, syn.bin_s
    prov = model.info.get("provenance", {})
    session = model.data.get("session", {})
    lengths = syn.lengths
    size = f"{lengths.min()}-{L}" if syn.variable_length else f"{L}"
    nwb = new_nwbfile(
        session_description=(
            f"Synthetic spiking data: {n} trials x {size} bins of {bin_s * 1e3:g} ms x {N} units, "
            f"sampled from an LDNS model fitted on {prov.get('source_uri', 'unknown data')}."
        ),
        session=session,
        session_id=f"ldns-synthetic-seed{syn.settings['seed']}",
        experiment_description=f"Generated by nwb-ldns {__version__} from a model of: "
        f"{session.get('session_description', prov.get('source_uri', 'unknown data'))}",
        source_script=f"nwb-ldns generate (nwb-ldns {__version__})",
        keywords=("synthetic data",),
    )
    nwb.subject = subject_from(session.get("subject"), options=subject, synthetic_id="ldns-synthetic")
    return nwb


def _trials_table(model: LdnsModel, syn: SyntheticStore, edges: np.ndarray, events: np.ndarray, offset: float):
    """Back-to-back trials: ``synthetic``, the trial-level condition, the alignment event, GNOCCHI codes."""
    from hdmf.common import VectorData
    from pynwb.epoch import TimeIntervals

    n, spec, align = syn.n_trials, model.condition, model.spec.align
    starts, stops = edges[:-1], edges[1:]  # one trial's stop is the next one's start, to the bit
    # the trials table built column by column: add_trial row by row grows slow with 100k trials
    cols = [
        VectorData(
            name="synthetic",
            description="True: the trial was generated by a model, not recorded",
            data=np.ones(n, dtype=bool),
        )
    ]
    if spec.trial_level:
        cols.append(
            VectorData(
                name=spec.name,
                description=f"condition the trial was generated with ({spec.kind})",
                data=_trial_condition(spec, syn.condition, n),
            )
        )
    if align and align not in ("start_time", "stop_time"):
        cols.append(
            VectorData(
                name=align,
                description=f"the alignment event of the training data ({align}): "
                f"the trial's first bin starts {offset * 1e3:g} ms from it",
                data=events.astype(np.float64),
            )
        )
    if syn.codes is not None:
        cols.append(
            VectorData(
                name="code",
                description=f"GNOCCHI code the trial was generated from "
                f"({syn.settings.get('codes')}; one "
                f"{syn.codes.shape[1]}-vector per trial)",
                data=np.asarray(syn.codes),
            )
        )
    return TimeIntervals(
        name="trials",
        description="synthetic trials, back to back from t = 0",
        id=np.arange(n),
        columns=[
            VectorData(name="start_time", description="start of the trial (s)", data=starts),
            VectorData(name="stop_time", description="end of the trial (s)", data=stops),
            *cols,
        ],
    )


def _trial_condition(spec, values, n: int) -> np.ndarray:
    """The trials column of a trial-level condition: labels as text (empty where none was given),
    numbers as float (NaN where none was given)."""
    if spec.kind == "category":
        return np.asarray(values).astype(str).reshape(n) if values is not None else np.full(n, "")
    return np.asarray(values, dtype=np.float64).reshape(n) if values is not None else np.full(n, np.nan)


def _condition_series(model: LdnsModel, syn: SyntheticStore, nwb):
    """A velocity-like condition as a time-first TimeSeries in ``processing/behavior`` (None for others)."""
    from pynwb import TimeSeries

    spec = model.condition
    if not (spec.series and syn.condition is not None):
        return None
    beh = nwb.create_processing_module("behavior", "Behaviour the synthetic trials were conditioned on")
    series = TimeSeries(
        name=spec.name,
        description=f"condition {spec.name} per bin (time x channel), trials back to back",
        data=syn.condition.reshape(-1, syn.condition.shape[-1]),
        unit=spec.unit or "a.u.",
        starting_time=0.0,
        rate=1.0 / syn.bin_s,
    )
    beh.add(series)
    return series


def _model_outputs(nwb, syn: SyntheticStore, events: np.ndarray, offset: float, unit_ids) -> None:
    """``processing/misc``: the sampled latents and the decoded rates (Hz), trial-aligned."""
    n, bin_s = syn.n_trials, syn.bin_s
    misc = nwb.create_processing_module("misc", "Model outputs behind the synthetic spikes")
    common = dict(lengths=syn.lengths, bin_s=bin_s, event_times=events, offset_s=offset)
    misc.add(
        trial_aligned_series(
            name="latents",
            data=syn.series_pieces("latents"),
            unit="a.u.",
            channel_names=[f"latent_{d}" for d in range(syn.latent_dim)],
            description="sampled latents per bin (bins x latent) in the autoencoder's units, trials back to back",
            trials_region=nwb.trials.create_region("trials", list(range(n)), "the synthetic trials"),
            **common,
        )
    )
    misc.add(
        trial_aligned_series(
            name="rates",
            data=syn.series_pieces("rates", scale=1.0 / bin_s),
            unit="Hz",
            channel_names=[str(u) for u in unit_ids],
            description="firing rates decoded from the sampled latents (bins x unit), trials back to back",
            trials_region=nwb.trials.create_region("trials", list(range(n)), "the synthetic trials"),
            **common,
        )
    )


def _generation(model: LdnsModel, syn: SyntheticStore, meta, series):
    """``/general/ldns_generation``: how the trials were drawn, linked to the model's metadata."""
    from ndx_ldns import LdnsGeneration

    st, spec = syn.settings, model.condition
    extra = {"condition_name": spec.name} if spec.kind != "none" else {}
    if series is not None:
        extra["condition_series"] = series
    return LdnsGeneration(
        name="ldns_generation",
        seed=np.int64(st["seed"]),
        observation_model=st["observation"],
        guidance=float(st["guidance"]),
        sampler=st["sampler"],
        sampling_steps=int(st["steps"]),
        condition_kind=spec.kind,
        settings=json.dumps(st, sort_keys=True, default=str),
        model=meta,
        **extra,
    )
