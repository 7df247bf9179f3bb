"""How real are synthetic trials? Metrics of real vs synthetic spiking, with bootstrap spreads and
the real data's own half-vs-half floor (``nwb-ldns evaluate``)."""

from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np

from . import memorization
from . import metrics as M
from .config import HELDOUT_CO_BPS_MIN, ConditionSpec, DataSpec
from .dataset import SpikeDataset, load_dataset
from .errors import NwbLdnsError

logger = logging.getLogger("nwb_ldns")


@dataclasses.dataclass
class Pair:
    """Real and synthetic trials binned alike, units in the same order.

    ``real`` / ``synthetic`` counts are (trial, neuron, time); ``*_velocity`` (trial, time, 2)
    or None; ``*_angle`` (trial,) radians or None (reach angle, requested or decoded from the
    velocity at the alignment); ``model_config`` is the model's config.json.
    """

    real: np.ndarray
    synthetic: np.ndarray
    bin_s: float
    real_velocity: np.ndarray | None
    synthetic_velocity: np.ndarray | None
    real_angle: np.ndarray | None
    synthetic_angle: np.ndarray | None
    angle_requested: bool
    model_config: dict
    real_dataset: SpikeDataset
    synthetic_latents: np.ndarray | None = None  # (trial, latent, time), from the file
    synthetic_rates: np.ndarray | None = None  # (trial, neuron, time) expected counts per bin, from the file
    train: np.ndarray | None = None  # (trial, neuron, time) counts of the real training trials
    heldout: np.ndarray | None = None  # (trial, neuron, time) counts of the real val and test trials
    synthetic_identifier: str | None = None  # the synthetic file's NWB identifier
    # (trial,) bins inside each trial when either side has trials of different lengths (both sides
    # then padded with zeros to the longest trial), else None
    real_lengths: np.ndarray | None = None
    synthetic_lengths: np.ndarray | None = None
    # (trial,) the labels of a categorical condition (PSTHs are compared per label), else None
    real_labels: np.ndarray | None = None
    synthetic_labels: np.ndarray | None = None
    # the memorization audit compares this many bins from each trial's start (the shortest trial's,
    # when lengths differ: a synthetic trial drawn at a training trial's exact length would
    # otherwise look closer to the training trials by its padding alone); None: every bin
    audit_bins: int | None = None


def _file_model(synthetic_path: str) -> tuple[dict | None, bool, str]:
    """The model config a file names (None when it names none), whether ``generate`` wrote it, and
    its NWB identifier."""
    from .io.nwbfile import open_nwb

    with open_nwb(synthetic_path) as io:
        try:
            nwb = io.read()
        except Exception as exc:
            raise NwbLdnsError(f"cannot read {synthetic_path}: {type(exc).__name__}: {exc}") from exc
        model = nwb.lab_meta_data.get("ldns_model")
        cfg = json.loads(model.config) if model is not None else None
        return cfg, "ldns_generation" in nwb.lab_meta_data, nwb.identifier


def load_pair(
    real_source: str,
    synthetic_path: str,
    *,
    split: str = "train",
    model_config: dict | None = None,
    progress: bool = False,
    **source_options,
) -> Pair:
    """Bin the real source and the synthetic file with the model's data spec and pair their units.

    A file written by ``generate`` names its model (``/general/ldns_model``), whose data spec (bin
    width, alignment, window, units, behaviour) bins both. Any other NWB file (a recording, say)
    is binned with ``model_config``'s spec, as the real source is. Real trials of ``split``
    (``all`` for every trial) are compared with every synthetic trial; the training and held-out
    (val, test) trials are kept for the memorization audit.
    """
    from .encode import select_units
    from .io.nwbfile import open_latents

    file_cfg, generated, identifier = _file_model(synthetic_path)
    cfg = file_cfg if generated else (model_config or file_cfg)
    if cfg is None:
        raise NwbLdnsError(
            f"{synthetic_path} was not written by nwb-ldns generate: give the model whose binning to use "
            "with `model_dir`"
        )
    spec = DataSpec.from_dict(cfg["data"]["spec"])
    cond = ConditionSpec.from_dict(cfg.get("condition", {}))
    unit_ids = [str(u) for u in cfg["data"]["unit_ids"]]
    velocity_name = cond.name if cond.series else (spec.behavior[0] if spec.behavior else None)

    real = load_dataset(real_source, spec, progress=progress, drop_empty_units=False, **source_options)
    real = select_units(real, unit_ids, what="the synthetic file's model")
    train, heldout = real.select("train").counts_bct(np.float32), real.select(("val", "test")).counts_bct(np.float32)
    audit_lengths = real.lengths.copy()  # every real trial's bins, for the memorization audit
    if split != "all":
        real = real.select(split)
        if real.n_trials == 0:
            raise NwbLdnsError(f"the real data have no {split!r} trials")

    # the synthetic file: same window around the alignment column generate wrote; its behaviour is
    # the condition, already paired with the spikes (no lag)
    syn_spec = dataclasses.replace(
        spec,
        units="all",
        behavior=(cond.name,) if cond.series else (),
        trials_table=None,
        units_table=None,
        behavior_lag_ms=0.0,
    )
    syn = load_dataset(synthetic_path, syn_spec if generated else spec, drop_empty_units=False)
    if "unit_source_unit_id" in syn.ds.coords:
        syn = SpikeDataset(syn.ds.assign_coords(unit=syn.ds["unit_source_unit_id"].values.astype(str)))
    syn = select_units(syn, unit_ids, what="its model")
    variable = bool((real.lengths < real.n_bins).any() or (syn.lengths < syn.n_bins).any())
    if syn.n_bins != real.n_bins and not (variable and spec.window_ms is None):
        raise NwbLdnsError(
            f"synthetic trials have {syn.n_bins} bins and real ones {real.n_bins}: evaluate samples "
            "generated at the training length"
        )
    n_bins = max(syn.n_bins, real.n_bins)  # whole trials of different lengths: both padded to the longest

    def velocity(ds, name):
        if name is None or f"behavior_{name}" not in ds.ds:
            return None
        v = ds.behavior(name)
        return v if v.shape[-1] >= 2 and np.isfinite(v).all() else None

    rv = velocity(real, velocity_name)
    sv = velocity(syn, cond.name if cond.series else None)
    cov_r, cov_s = real.covariates(), syn.covariates()
    ra = sa = None
    requested = cond.kind == "angle" and "reach_angle" in cov_s
    if requested:
        sa = cov_s["reach_angle"].to_numpy(dtype=float)
        ra = (
            cov_r["reach_angle"].to_numpy(dtype=float)
            if "reach_angle" in cov_r
            else (
                real.with_reach_angle(velocity_name).covariates()["reach_angle"].to_numpy() if rv is not None else None
            )
        )
    elif rv is not None and sv is not None:  # label trials by the direction of their velocity at the alignment
        ra = real.with_reach_angle(velocity_name).covariates()["reach_angle"].to_numpy()
        sa = syn.with_reach_angle(cond.name).covariates()["reach_angle"].to_numpy()
    labels = (None, None)
    if cond.kind == "category" and cond.name in cov_r and cond.name in cov_s:
        labels = (cov_r[cond.name].to_numpy().astype(str), cov_s[cond.name].to_numpy().astype(str))
    latents = rates = None
    try:
        if not generated:
            raise KeyError("a file generate did not write has no sampled latents")
        outputs = open_latents(synthetic_path)
        latents = _pad(outputs["latents"].values.transpose(0, 2, 1), n_bins, np.nan)  # (trial, latent, time)
        if "rates" in outputs:
            pos = {str(u): i for i, u in enumerate(outputs["unit"].values)}  # ids as text: the file's keep their type
            by_id = outputs["rates"].isel(unit=[pos[u] for u in unit_ids]).values  # (trial, time, unit), Hz
            rates = by_id.transpose(0, 2, 1) * spec.bin_s  # (trial, unit, time), expected counts per bin
            rates = np.nan_to_num(_pad(rates, n_bins, 0.0), nan=0.0)  # no rate past a trial's end
    except (NwbLdnsError, KeyError):
        pass
    return Pair(
        audit_bins=int(min(audit_lengths.min(), syn.lengths.min())) if variable else None,
        real_labels=labels[0],
        synthetic_labels=labels[1],
        real_lengths=real.lengths.copy() if variable else None,
        synthetic_lengths=syn.lengths.copy() if variable else None,
        real=_pad(real.counts_bct(np.float64), n_bins),
        synthetic=_pad(syn.counts_bct(np.float64), n_bins),
        bin_s=real.bin_s,
        real_velocity=rv,
        synthetic_velocity=sv,
        real_angle=ra,
        synthetic_angle=sa,
        angle_requested=requested,
        model_config=cfg,
        real_dataset=real,
        synthetic_latents=latents,
        synthetic_rates=rates,
        train=_pad(train, n_bins),
        heldout=_pad(heldout, n_bins),
        synthetic_identifier=identifier,
    )


def _pick(values: np.ndarray | None, index) -> np.ndarray | None:
    """``values[index]``, or None for None (per-trial labels or lengths a pair may not have)."""
    return None if values is None else values[index]


def _pad(x: np.ndarray, n_bins: int, value: float = 0.0) -> np.ndarray:
    """(trial, channel, time) padded with ``value`` along time to ``n_bins``."""
    if x.shape[-1] >= n_bins:
        return x
    return np.pad(x, ((0, 0), (0, 0), (0, n_bins - x.shape[-1])), constant_values=value)


def _velocity_r2(w, features, velocity):
    pred = M.decode_velocity(w, features)  # (trial, time, C)
    return M.r2_score(velocity.reshape(-1, velocity.shape[-1]), pred.reshape(-1, pred.shape[-1]))


def _angle_features(features, bin_s, start_bin):
    """Mean per neuron from the alignment to 300 ms after it (the reach)."""
    stop = start_bin + max(1, int(round(0.3 / bin_s)))
    return features[:, :, start_bin:stop].mean(-1)  # (trial, N)


def _angle_decoder(features, angles, bin_s, start_bin):
    return M.ridge_fit(_angle_features(features, bin_s, start_bin), np.stack([np.cos(angles), np.sin(angles)], 1))[0]


def _angle_error(w, features, angles, bin_s, start_bin):
    p = M.ridge_predict(w, _angle_features(features, bin_s, start_bin))
    return M.angular_error_deg(np.arctan2(p[:, 1], p[:, 0]), angles)


def latent_channel_stats(latents: np.ndarray) -> dict[str, list[float]]:
    """Per latent channel of (trial, channel, time): mean, std and lag-1 autocorrelation over all
    bins inside the trials (NaN marks the padding after a shorter trial)."""
    z = np.asarray(latents, dtype=np.float64)
    mean = np.nanmean(z, axis=(0, 2), keepdims=True)
    c = z - mean
    var = np.nanmean(c**2, axis=(0, 2))
    lag1 = np.nanmean(c[..., 1:] * c[..., :-1], axis=(0, 2)) / np.where(var > 0, var, np.nan)
    return {"mean": mean.ravel().tolist(), "std": np.sqrt(var).tolist(), "lag1_autocorrelation": lag1.tolist()}


def limiting_stage(report: dict) -> dict:
    """Which stage limits realism: per core statistic, synthetic and autoencoder-ceiling ratios to the floor.

    ``stage`` is ``autoencoder`` when the ceiling itself is more than 2x the floor on most core
    statistics, or when the autoencoder's held-out co-bps from its fit is at most
    :data:`~nwb_ldns.config.HELDOUT_CO_BPS_MIN` (``unlearned``: its rates carry nothing beyond each
    unit's mean rate, which spike statistics alone need not show); ``diffusion`` when the samples
    are more than 1.5x the ceiling on most; else ``none``.
    """
    floor, ceil = report.get("half_vs_half", {}), report.get("autoencoder_ceiling")
    rows = {}
    for k in M.CORE_METRICS:
        f = (floor.get(k) or {}).get("mean")
        v = (report.get(k) or {}).get("mean")
        c = (ceil or {}).get(k, {}).get("mean")
        if f and v is not None:
            rows[k] = {"synthetic_x_floor": v / f, "ceiling_x_floor": None if c is None else c / f}
    if ceil is None or not rows:
        return {"stage": None, "ratios": rows}
    ae = sum(r["ceiling_x_floor"] > 2 for r in rows.values())
    dif = sum(r["synthetic_x_floor"] > 1.5 * max(r["ceiling_x_floor"], 1.0) for r in rows.values())
    co_bps = (report.get("autoencoder_heldout_co_bps") or {}).get("mean")
    unlearned = co_bps is not None and co_bps <= HELDOUT_CO_BPS_MIN
    stage = "autoencoder" if ae * 2 > len(rows) or unlearned else "diffusion" if dif * 2 > len(rows) else "none"
    return {"stage": stage, "ratios": rows, "unlearned": unlearned}


def _summary(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    ok = v[np.isfinite(v)]
    if ok.size == 0:
        return {"mean": None, "sd": None}
    return {"mean": float(ok.mean()), "sd": float(ok.std(ddof=1)) if ok.size > 1 else 0.0}


#: the half-vs-half floor is drawn this many times as often as the samples are compared
FLOOR_DRAWS = 4


def evaluate_pair(
    pair: Pair, *, model=None, n_boot: int = 5, seed: int = 0, max_trials: int = 2000, progress: bool = False
) -> dict:
    """All metrics as bootstrap mean and sd, the half-vs-half floor, and what the figures need.

    Each resample compares ``n`` distinct real trials with ``n`` distinct synthetic ones, and
    the same real trials with ``n`` other real trials (the half-vs-half floor) and with the
    autoencoder's ceiling of those other trials; ``n`` is half the real trials, at most the
    synthetic count and ``max_trials``. Every set is drawn without replacement so the samples,
    the floor and the ceiling carry the same sampling noise: drawing the compared sets with
    replacement, as a bootstrap does, repeats trials, and two sets of real trials then scored
    1.2-1.3x the floor on correlations and ISI statistics and 1.75x on the population-count KL
    (sim:maze, 500 trials a side), a gap no model could close. The floor, which divides every
    ratio, is the mean of ``FLOOR_DRAWS`` times as many draws: its KL is heavy-tailed, and over 5
    draws the same Lorenz data gave floors of 0.00024 and 0.00047 in two runs.

    Returns
    -------
    dict with ``metrics`` (the JSON report) and ``arrays`` (for the figures).
    """
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    a, b, bin_s = pair.real, pair.synthetic, pair.bin_s
    len_a, len_b = pair.real_lengths, pair.synthetic_lengths  # None: every trial fills every bin

    n = min(len(a) // 2, len(b), max_trials)
    if len(a) < 4 or len(b) < 2:
        raise NwbLdnsError(f"too few trials to evaluate ({len(a)} real, {len(b)} synthetic)")
    la = None if pair.real_angle is None else M.angle_sectors(pair.real_angle)
    lb = None if pair.synthetic_angle is None else M.angle_sectors(pair.synthetic_angle)
    if pair.real_labels is not None and pair.synthetic_labels is not None:  # a categorical condition's labels
        la, lb = pair.real_labels, pair.synthetic_labels
    align_bin = int(
        np.clip(
            np.searchsorted(pair.real_dataset.ds["time"].values - bin_s / 2, 0.0, side="right") - 1, 0, a.shape[-1] - 1
        )
    )

    # decoders read rates: the autoencoder's on real trials and the file's decoded rates on synthetic
    # ones when a model is given (as LDNS), else 20 ms-smoothed counts of both
    encoded = real_rates = ceiling = None
    if model is not None:
        encoded = model.encode(
            pair.real_dataset.counts_bct(), pair.real_dataset.lengths
        )  # (trial, D, L), (trial, N, L)
        if len_a is not None:  # nothing past a trial's end: no rate (so no ceiling spikes), no latent
            valid = M.valid_bins(len_a, a.shape[-1])[:, None]  # (trial, 1, L)
            z, r = (_pad(x, a.shape[-1]) for x in encoded)
            encoded = (np.where(valid, z, np.nan), r * valid)
        real_rates = encoded[1]
        # the autoencoder's ceiling: the real trials encoded, decoded and drawn again (Poisson); samples
        # of the diffusion model can be no more realistic than this
        ceiling = rng.poisson(np.clip(real_rates.astype(np.float64), 0.0, None)).astype(np.float64)
    if real_rates is not None and pair.synthetic_rates is not None:
        fa, fb, features = real_rates.astype(np.float64), pair.synthetic_rates.astype(np.float64), "rates"
    else:
        fa, fb, features = (
            M.smooth_counts(a, bin_s, M.SMOOTH_S),
            M.smooth_counts(b, bin_s, M.SMOOTH_S),
            "smoothed counts",
        )
    vel_w = ang_w = None
    if pair.real_velocity is not None and pair.synthetic_velocity is not None:
        vel_w = M.velocity_decoder(fa, pair.real_velocity)
    if pair.angle_requested and pair.real_angle is not None:
        ang_w = _angle_decoder(fa, pair.real_angle, bin_s, align_bin)

    boot: dict[str, list[float]] = {}
    floor: dict[str, list[float]] = {}
    ceil: dict[str, list[float]] = {}
    for i in tqdm(range(FLOOR_DRAWS * n_boot), desc="draws", disable=not progress, leave=False):
        perm = rng.permutation(len(a))
        ia, ih = perm[:n], perm[n : 2 * n]  # the real trials compared, and as many other real trials
        # the floor: real trials against other real ones
        vals = M.set_metrics(a[ia], a[ih], bin_s, _pick(la, ia), _pick(la, ih), _pick(len_a, ia), _pick(len_a, ih))
        if vel_w is not None:  # decoder fitted on one half, tested on the other
            w = M.velocity_decoder(fa[ia], pair.real_velocity[ia])
            vals["velocity_decoding_r2"] = _velocity_r2(w, fa[ih], pair.real_velocity[ih])
        if ang_w is not None:
            w = _angle_decoder(fa[ia], pair.real_angle[ia], bin_s, align_bin)
            vals["angle_error_deg"] = _angle_error(w, fa[ih], pair.real_angle[ih], bin_s, align_bin)
        for k, v in vals.items():
            floor.setdefault(k, []).append(v)
        if i >= n_boot:
            continue

        ib = rng.choice(len(b), n, replace=False)
        vals = M.set_metrics(a[ia], b[ib], bin_s, _pick(la, ia), _pick(lb, ib), _pick(len_a, ia), _pick(len_b, ib))
        if vel_w is not None:
            vals["velocity_decoding_r2"] = _velocity_r2(vel_w, fb[ib], pair.synthetic_velocity[ib])
        if ang_w is not None:
            vals["angle_error_deg"] = _angle_error(ang_w, fb[ib], pair.synthetic_angle[ib], bin_s, align_bin)
        for k, v in vals.items():
            boot.setdefault(k, []).append(v)

        if ceiling is not None:  # the other real trials encoded, decoded and drawn again
            vals = M.set_metrics(
                a[ia], ceiling[ih], bin_s, _pick(la, ia), _pick(la, ih), _pick(len_a, ia), _pick(len_a, ih)
            )
            for k, v in vals.items():
                ceil.setdefault(k, []).append(v)

    report = {k: _summary(v) for k, v in boot.items()}
    report["half_vs_half"] = {k: _summary(v) for k, v in floor.items()}
    if ceil:
        report["autoencoder_ceiling"] = {k: _summary(v) for k, v in ceil.items()}
    report["rate_ratio"] = M.rate_ratio(M.firing_rates(a, bin_s, len_a), M.firing_rates(b, bin_s, len_b))
    report["decoder_features"] = features
    arrays = {
        "real": a,
        "synthetic": b,
        "real_lengths": len_a,
        "synthetic_lengths": len_b,
        "bin_s": bin_s,
        "real_velocity": pair.real_velocity,
        "synthetic_velocity": pair.synthetic_velocity,
        "velocity_decoder": vel_w,
        "synthetic_features": fb,
        "synthetic_latents": pair.synthetic_latents,
    }

    if model is not None:
        report.update(_model_metrics(pair, model, encoded, rng, n_boot, arrays))
    report["limiting_stage"] = limiting_stage(report)
    if pair.train is not None and pair.heldout is not None:
        k = pair.audit_bins or b.shape[-1]
        report["memorization"] = memorization.audit(
            pair.train[..., :k], pair.heldout[..., :k], b[..., :k], bin_s, seed=seed
        )
        if pair.audit_bins is not None:
            report["memorization"]["compared_bins"] = k
        arrays["memorization"] = report["memorization"].pop("distances", None)
    report["n_trials"] = {"real": int(len(a)), "synthetic": int(len(b)), "per_resample": int(n)}
    report["n_units"] = int(a.shape[1])
    if a.shape[1] < 2:  # one unit: there are no pairs; the rest of the report stands
        report["not_applicable"] = {"rmse_pairwise_correlation": "needs two or more units"}
    report["bin_ms"] = bin_s * 1e3
    report["bootstrap_resamples"] = int(n_boot)
    report["floor_draws"] = int(FLOOR_DRAWS * n_boot)
    return {"metrics": report, "arrays": arrays}


def _model_metrics(pair: Pair, model, encoded, rng, n_boot: int, arrays: dict) -> dict:
    """bits/spike of the autoencoder on the real trials, co-bps on held-out units, latent PSDs, the
    held-out co-bps ``fit`` scored on the validation trials, and the latent-size sweep of a
    ``latent_dim`` auto fit."""
    out = {}
    fitted = model.info.get("stages", {}).get("autoencoder", {}).get("history", {})
    if fitted.get("heldout_co_bps") is not None:  # scored by fit on the validation trials
        out["autoencoder_heldout_co_bps"] = {"mean": fitted["heldout_co_bps"], "sd": fitted.get("heldout_co_bps_sd")}
    sweep = model.info.get("latent_dim_sweep")
    if sweep:
        out["latent_dim_sweep"] = sweep
        arrays["latent_dim_sweep"] = sweep
    ds = pair.real_dataset
    latents, rates = encoded  # (trial, D, L), (trial, N, L); NaN latents and no rate past a trial's end
    counts, lengths = pair.real, pair.real_lengths

    bps = [
        M.bits_per_spike(counts[i], rates[i], _pick(lengths, i))
        for i in (rng.integers(0, len(counts), len(counts)) for _ in range(n_boot))
    ]
    out["bits_per_spike"] = _summary(bps)
    if "unit_heldout" in ds.ds.coords:
        held = ds.ds["unit_heldout"].values.astype(bool)
        if held.any() and not held.all():
            x = ds.counts_bct().copy()
            x[:, held] = 0.0  # held-out units unseen: the encoder predicts them, as coordinated dropout trains it to
            _, r = model.encode(x, ds.lengths)
            r = _pad(r, counts.shape[-1])
            out["co_bps"] = _summary(
                [
                    M.bits_per_spike(counts[i][:, held], r[i][:, held], _pick(lengths, i))
                    for i in (rng.integers(0, len(counts), len(counts)) for _ in range(n_boot))
                ]
            )
    if pair.synthetic_latents is not None and pair.synthetic_latents.shape[1] == latents.shape[1]:
        # spectra over the bins every trial has (the shortest trial's, when they differ)
        crop = latents.shape[-1] if lengths is None else int(min(lengths.min(), pair.synthetic_lengths.min()))
        f, p_real = M.latent_psd(latents[..., :crop], pair.bin_s)
        _, p_syn = M.latent_psd(pair.synthetic_latents[..., :crop], pair.bin_s)
        out["rmse_log_latent_psd"] = {"mean": M.rmse(np.log10(p_real + 1e-12), np.log10(p_syn + 1e-12)), "sd": None}
        arrays["psd"] = (f, p_real, p_syn)
        out["latents"] = {
            "encoded": latent_channel_stats(latents),
            "sampled": latent_channel_stats(pair.synthetic_latents),
        }
    return out


def evaluate(
    real_source: str,
    synthetic_path: str,
    output_dir,
    *,
    model_dir=None,
    split: str = "train",
    n_boot: int = 5,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = False,
    **source_options,
):
    """Compare real and synthetic trials and write ``metrics.json``, PNG figures and ``index.html``.

    Parameters
    ----------
    real_source : SOURCE of the real data (any scheme ``fit`` takes)
    synthetic_path : a file written by ``nwb-ldns generate`` (HDF5 or Zarr), or with ``model_dir``
        any NWB file with the model's units and trials (a recording: binned with the model's spec)
    output_dir : report folder (written under a temporary name, then renamed)
    model_dir : optional model (dir or file with weights): adds bits/spike, co-bps and latent PSDs
    split : real trials to compare with (``train`` as the paper, ``val``, ``test`` or ``all``)

    Returns
    -------
    dict, the content of metrics.json
    """
    from .artifacts import load_model
    from .report import write_report

    model = load_model(model_dir) if model_dir is not None else None
    pair = load_pair(
        real_source,
        synthetic_path,
        split=split,
        model_config=None if model is None else model.info,
        progress=progress,
        **source_options,
    )
    result = evaluate_pair(pair, model=model, n_boot=n_boot, seed=seed, progress=progress)
    metrics = result["metrics"]
    metrics["real"] = real_source
    metrics["synthetic"] = str(synthetic_path)
    metrics["synthetic_identifier"] = pair.synthetic_identifier  # how `share` finds this report
    metrics["split"] = split
    warning = M.rate_warning(metrics["rate_ratio"]["median"])
    if warning:
        logger.warning("%s", warning)
    if metrics["limiting_stage"].get("unlearned"):
        logger.warning(
            "the autoencoder predicted held-out spikes no better than each unit's mean rate when it was fitted "
            "(co-bps %.4f): the samples carry nothing of the recording beyond firing rates",
            metrics["autoencoder_heldout_co_bps"]["mean"],
        )
    if (metrics.get("memorization") or {}).get("flagged"):
        mem = metrics["memorization"]
        logger.warning(
            "memorization: %.0f%% of synthetic trials are closer to a training trial than 95%% of held-out real "
            "trials are (%d exact copies): they may copy training data; do not share them",
            100 * mem["close_fraction"],
            mem["exact_copies"],
        )
    write_report(output_dir, metrics, result["arrays"], overwrite=overwrite)
    return metrics
