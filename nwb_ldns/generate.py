"""Generating synthetic trials from a fitted model (the NWB file: :mod:`nwb_ldns.io.synthetic`)."""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import torch

from . import metrics as M
from .errors import NwbLdnsError
from .fitted import LdnsModel, check_categories, condition_features
from .io.nwbfile import write_nwbfile
from .io.outputs import claim
from .io.store import SyntheticStore
from .io.synthetic import synthetic_nwbfile

logger = logging.getLogger("nwb_ldns")

#: the random stream (beside the seed) that draws the lengths of whole trials
LENGTH_STREAM = 0x1E46


@dataclasses.dataclass
class Synthetic:
    """Generated trials, ``(trial, channel, time)`` arrays.

    ``counts`` spikes per bin; ``rates`` the autoencoder's rates (expected counts per bin)
    decoded from the sampled latents; ``latents`` in the autoencoder's units; ``condition`` the
    raw condition values (angle in radians, a column's values, or velocity (trial, time, channel)).
    ``lengths`` (trial,) are the trials' bins when they differ (a model of whole trials of
    different lengths), each trial padded with zeros to ``n_bins``; None when all are ``n_bins``.
    """

    counts: np.ndarray
    rates: np.ndarray
    latents: np.ndarray
    condition: np.ndarray | None
    bin_s: float
    settings: dict
    codes: np.ndarray | None = None  # (trial, code_dim), GNOCCHI
    lengths: np.ndarray | None = None  # (trial,) bins per trial when they differ

    @property
    def n_trials(self) -> int:
        return self.counts.shape[0]

    @property
    def n_bins(self) -> int:
        return self.counts.shape[-1]


def _real_float32(v: np.ndarray, what: str) -> np.ndarray:
    """``v`` as finite float32, or a one-line error (complex, text, NaN, inf, beyond float32's range)."""
    if np.iscomplexobj(v) or not (np.issubdtype(v.dtype, np.number) or v.dtype == bool):
        raise NwbLdnsError(f"{what} must be real numbers, got dtype {v.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values become inf: reported below
        out = v.astype(np.float32)
    if not np.isfinite(out).all():
        raise NwbLdnsError(f"{what} has NaN, infinite or out-of-range values (beyond +-3.4e38)")
    return out


def check_condition(
    model: LdnsModel, values: np.ndarray | None, *, n_trials: int | None, length: int | None
) -> tuple[np.ndarray | None, int, int]:
    """Validate condition values against what the model was trained on.

    Returns (values, n_trials, length); values are (n,) for trial-level conditions and
    (n, length, channels) for velocity. Raises a one-line NwbLdnsError on any mismatch.
    """
    spec = model.condition
    default_len = model.trained_length
    if values is None:
        n = 1 if n_trials is None else n_trials
        return None, n, length or default_len
    v = np.asarray(values)
    if spec.kind == "none":
        raise NwbLdnsError("the model was fitted without a condition; drop `condition`")
    if spec.kind == "category":
        if v.ndim != 1:
            raise NwbLdnsError(
                f"the model is conditioned on the labels of {spec.name!r}: the condition must be shaped (n_trials,) "
                f"(one of {', '.join(map(repr, spec.categories))} per trial), got {v.shape}"
            )
        v = check_categories(spec, v, "the condition")
        if n_trials is not None and n_trials != v.shape[0]:
            raise NwbLdnsError(f"`n_trials` {n_trials} but the condition has {v.shape[0]} trials")
        return v, v.shape[0], length or default_len
    v = _real_float32(v, "the condition")
    if spec.trial_level:
        what = "angles in radians" if spec.kind == "angle" else f"values of {spec.name!r}"
        if v.ndim != 1:
            raise NwbLdnsError(
                f"the model is conditioned on {spec.kind} ({spec.name}): the condition must be "
                f"shaped (n_trials,) ({what}), got {v.shape}"
            )
        if n_trials is not None and n_trials != v.shape[0]:
            raise NwbLdnsError(f"`n_trials` {n_trials} but the condition has {v.shape[0]} trials")
        return v, v.shape[0], length or default_len
    C = spec.channels
    if v.ndim == 2 and v.shape[1] == C:
        v = np.broadcast_to(v, (n_trials or 1, *v.shape)).copy()
    elif not (v.ndim == 3 and v.shape[2] == C):
        raise NwbLdnsError(
            f"the model is conditioned on {spec.name} with {C} channels: the condition must be shaped "
            f"(n_trials, n_bins, {C}) or (n_bins, {C}), got {v.shape}"
        )
    if n_trials is not None and n_trials != v.shape[0]:
        raise NwbLdnsError(f"`n_trials` {n_trials} but the condition has {v.shape[0]} trials")
    if length is not None and length != v.shape[1]:
        raise NwbLdnsError(f"`length` {length} but the condition has {v.shape[1]} bins")
    if v.shape[1] < 1:
        raise NwbLdnsError("the condition has no bins")
    return v, v.shape[0], v.shape[1]


def generate(
    model: LdnsModel,
    *,
    n_trials: int | None = None,
    length: int | None = None,
    condition: np.ndarray | None = None,
    observation: str = "poisson",
    seed: int = 0,
    guidance: float = 1.0,
    sampler: str = "dpmpp",
    steps: int = 50,
    batch_size: int = 256,
    progress: bool = False,
    codes: np.ndarray | None = None,
    fixed_noise: bool = False,
    noise: np.ndarray | None = None,
    eta: float = 1.0,
) -> Synthetic:
    """Sample synthetic trials.

    Parameters
    ----------
    model : LdnsModel (with a diffusion stage)
    n_trials : number of trials (default: the condition's, else 1)
    length : bins per trial (default: the training length; any length works, e.g. 16x). A model
        of whole trials of different lengths draws each trial's length from the training
        trials' lengths unless ``length`` is given
    condition : raw condition values, see :func:`check_condition`; None samples unconditionally
    observation : ``poisson`` or ``spike_history``
    seed : the whole draw is a function of the seed
    guidance : classifier-free guidance weight on the condition, or on a GNOCCHI model's code
        (1 = plain conditional; > 1 follows it more closely)
    sampler : ``dpmpp`` (DPM-Solver++(2M) SDE on about ``steps`` steps evenly spaced in log-SNR,
        the default), ``ddim`` (``steps`` evenly spaced steps) or ``ddpm`` (all steps, as the
        paper). At 50 steps dpmpp costs what DDIM does; DDIM's latents came out smoother and
        narrower than the encoded ones (see docs/fitting.md). A given ``noise`` or
        ``fixed_noise`` samples with deterministic DDIM, so that only the code changes
    eta : DDIM's stochasticity, 0 (deterministic) to 1 (fresh noise at each step as DDPM, the
        default: deterministic DDIM draws latents whose spread is ~10 % too small)
    batch_size : trials per sampling batch
    codes : GNOCCHI only: (n_trials, code_dim) or (code_dim,) codes to generate from; None draws
        them from the model's code prior (N(0, I) for a model saved without one)
    fixed_noise : one x_T for every trial (code traversals: only the code changes)
    noise : x_T to start from, (n_trials or 1, latent_dim, length) z-scored, e.g. from
        :meth:`LdnsModel.invert` (DDIM only)

    Returns
    -------
    Synthetic
    """
    plan = _plan(
        model,
        n_trials=n_trials,
        length=length,
        condition=condition,
        observation=observation,
        seed=seed,
        guidance=guidance,
        sampler=sampler,
        steps=steps,
        codes=codes,
        fixed_noise=fixed_noise,
        noise=noise,
        eta=eta,
        batch_size=batch_size,
    )
    counts, rates, latents = [], [], []
    for c, r, z, _ in _sample_batches(model, plan, batch_size=batch_size, progress=progress):
        counts.append(c)
        rates.append(r)
        latents.append(z)
    return Synthetic(
        counts=np.concatenate(counts),
        rates=np.concatenate(rates),
        latents=np.concatenate(latents),
        condition=plan.values,
        bin_s=float(model.data["bin_s"]),
        settings=plan.settings,
        codes=plan.codes,
        lengths=plan.lengths,
    )


def generate_to_file(
    model: LdnsModel,
    path,
    *,
    subject: dict | None = None,
    include_weights: bool = False,
    overwrite: bool = False,
    batch_size: int = 256,
    progress: bool = False,
    compression: str = "compact",
    **kwargs,
):
    """Sample synthetic trials straight into an NWB file (HDF5, or Zarr for ``.zarr``) with flat memory.

    Each batch of ``batch_size`` trials goes to scratch files beside ``path`` as it is sampled;
    the file is then written from them one batch (or one unit's spike train) at a time, and the
    scratch folder removed. Memory therefore depends on the batch size, not on the trial count.
    ``compression`` is :func:`~nwb_ldns.io.nwbfile.write_nwbfile`'s. Takes :func:`generate`'s
    keyword arguments.

    Returns
    -------
    (path, n_trials, n_bins, n_units); ``n_bins`` is ``"shortest-longest"`` (text) for trials of
    different lengths
    """
    path = Path(path)
    plan = _plan(model, batch_size=batch_size, **kwargs)
    # held from the first batch to the rename: a second writer of the same file fails at once
    with claim(path, kind="nwb", overwrite=overwrite) as out:
        store = SyntheticStore(
            out.scratch,
            n_units=model.n_neurons,
            latent_dim=model.latent_dim,
            n_bins=plan.length,
            bin_s=float(model.data["bin_s"]),
            seed=plan.settings["seed"],
        )
        try:
            for c, r, z, lengths in _sample_batches(model, plan, batch_size=batch_size, progress=progress):
                store.add(c, r, z, lengths)
            store.close()
            store.settings, store.condition, store.codes = plan.settings, plan.values, plan.codes
            nwb = synthetic_nwbfile(model, store, subject=subject, include_weights=include_weights)
            write_nwbfile(nwb, path, overwrite=overwrite, compression=compression)
        finally:
            store.remove()
    n_bins = f"{store.lengths.min()}-{store.n_bins}" if store.variable_length else store.n_bins
    return path, store.n_trials, n_bins, store.n_units


@dataclasses.dataclass
class _Plan:
    """A validated draw: what to sample, before any sampling."""

    values: np.ndarray | None
    n: int
    length: int
    lengths: np.ndarray | None  # (n,) each trial's bins when they differ (padded to ``length``)
    feats: torch.Tensor | None
    codes: np.ndarray | None
    noise: torch.Tensor | None
    observation: str
    guidance: float
    sampler: str
    steps: int
    eta: float
    gen: torch.Generator
    settings: dict


def _plan(
    model: LdnsModel,
    *,
    n_trials: int | None = None,
    length: int | None = None,
    condition: np.ndarray | None = None,
    observation: str = "poisson",
    seed: int = 0,
    guidance: float = 1.0,
    sampler: str = "dpmpp",
    steps: int = 50,
    codes: np.ndarray | None = None,
    fixed_noise: bool = False,
    noise: np.ndarray | None = None,
    eta: float = 1.0,
    batch_size: int = 256,
) -> _Plan:
    if codes is not None and not model.code_dim:
        raise NwbLdnsError("`codes` need a model fitted with `method` gnocchi")
    if codes is not None:
        codes = _real_float32(np.asarray(codes), "the codes")
        if codes.ndim == 1:
            codes = np.broadcast_to(codes, (n_trials or 1, codes.size)).copy()
        if codes.ndim != 2 or codes.shape[1] != model.code_dim:
            raise NwbLdnsError(
                f"codes must be shaped (n_trials, {model.code_dim}) or ({model.code_dim},), got {codes.shape}"
            )
        if n_trials is not None and n_trials != len(codes):
            raise NwbLdnsError(f"`n_trials` {n_trials} but {len(codes)} codes")
        n_trials = len(codes)
    values, n, L = check_condition(model, condition, n_trials=n_trials, length=length)
    if n < 1 or L < 1:
        raise NwbLdnsError("`n_trials` and `length` must be at least 1")
    if sampler not in ("ddim", "ddpm", "dpmpp"):
        raise NwbLdnsError(f"unknown sampler {sampler!r}; use dpmpp, ddim or ddpm")
    if not 0.0 <= eta <= 1.0:
        raise NwbLdnsError(f"eta must be between 0 and 1, got {eta}")
    if batch_size < 1:
        raise NwbLdnsError(f"the batch size must be at least 1, got {batch_size}")
    if noise is not None or fixed_noise:
        # a fixed x_T: the same deterministic path for every trial, only the code differs
        sampler, eta = "ddim", 0.0
    model.observation(observation)  # fails now, not after sampling, when the model lacks it
    gen = torch.Generator().manual_seed(seed)
    feats = None if values is None else condition_features(model.condition, values)
    code_source = None
    if model.code_dim:
        code_source = "given" if codes is not None else "code prior" if model.code_prior is not None else "N(0, I)"
        if codes is None:
            codes = model.sample_codes(n, generator=gen)
    if noise is not None:
        noise = torch.as_tensor(np.asarray(noise, dtype=np.float32))
        if noise.ndim != 3 or noise.shape[1:] != (model.latent_dim, L) or noise.shape[0] not in (1, n):
            raise NwbLdnsError(f"noise must be shaped ({n} or 1, {model.latent_dim}, {L}), got {tuple(noise.shape)}")
    elif fixed_noise:
        noise = torch.randn(1, model.latent_dim, L, generator=gen)  # (1, D, L)
    lengths = None
    drawn = model.training_lengths()
    if drawn is not None and length is None and noise is None and not model.condition.series:
        # whole trials of different lengths: each synthetic trial as long as a training trial, drawn
        # on a stream of its own so that models of fixed windows keep their draws
        lengths = np.random.default_rng([seed, LENGTH_STREAM]).choice(drawn[0], size=n, p=drawn[1])
        L = int(lengths.max())
    settings = {
        "seed": seed,
        "observation": observation,
        "guidance": guidance,
        "sampler": sampler,
        "steps": steps if sampler != "ddpm" else model.diffusion.n_steps,
        "eta": eta if sampler == "ddim" else 1.0,
        "n_trials": n,
        "length": L,
        **({} if lengths is None else {"lengths": "drawn from the training trials'"}),
        "batch_size": batch_size,  # the draw (and where spikes fall in their bins) depends on it
        "condition": model.condition.to_dict(),
    }
    if code_source is not None:
        settings.update(method="gnocchi", codes=code_source, fixed_noise=fixed_noise or noise is not None)
    return _Plan(
        values=values,
        n=n,
        length=L,
        lengths=lengths,
        feats=feats,
        noise=noise,
        observation=observation,
        guidance=guidance,
        sampler=sampler,
        steps=steps,
        eta=eta,
        gen=gen,
        settings=settings,
        codes=None if codes is None else np.asarray(codes, dtype=np.float32),
    )


def _sample_batches(model: LdnsModel, plan: _Plan, *, batch_size: int, progress: bool, check: bool = True):
    """Yield (counts uint16, rates, latents, lengths or None) per batch of ``batch_size`` trials, in order;
    ``check`` warns at the end when the synthetic rates are far from the training data's."""
    n, L, feats, codes, noise, gen = plan.n, plan.length, plan.feats, plan.codes, plan.noise, plan.gen
    sampler, steps = plan.sampler, plan.steps
    obs_cpu = copy.deepcopy(model.observation(plan.observation)).cpu()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        per = steps if sampler == "ddim" else model.diffusion.n_steps
        bar = tqdm(total=per * ((n + batch_size - 1) // batch_size), desc="sampling", unit="step", leave=False)
    spikes = np.zeros(model.n_neurons)  # per neuron, for the check against the training data's rates
    try:
        for i in range(0, n, batch_size):
            b = min(batch_size, n - i)
            f = None if feats is None else feats[i : i + b]
            z = model.sample_latents(
                b,
                L,
                cond=f if model.condition.trial_level else None,
                series=f if model.condition.series else None,
                guidance=plan.guidance,
                sampler=sampler,
                steps=steps,
                generator=gen,
                eta=plan.eta,
                progress=bar.update if bar is not None else None,
                code=None if codes is None else torch.as_tensor(codes[i : i + b]),
                noise=None if noise is None else (noise.expand(b, -1, -1) if len(noise) == 1 else noise[i : i + b]),
                lengths=None if plan.lengths is None else plan.lengths[i : i + b],
            )  # (b, D, L)
            r = model.sampled_rates(z).float().cpu()  # (b, N, L)
            s = obs_cpu.sample(r, generator=gen)  # (b, N, L) drawn on the CPU generator: seeded anywhere
            if plan.lengths is not None:  # the padding after each trial: no rate and no spikes
                valid = torch.as_tensor(M.valid_bins(plan.lengths[i : i + b], L))[:, None]  # (b, 1, L)
                r, s = r * valid, s * valid  # (b, N, L)
            spikes += s.sum((0, 2)).double().numpy()
            lengths = None if plan.lengths is None else plan.lengths[i : i + b]
            yield s.numpy().astype(np.uint16), r.numpy(), z.float().cpu().numpy(), lengths
        bins = n * L if plan.lengths is None else int(plan.lengths.sum())
        if check:
            _check_rates(model, spikes / (bins * float(model.data["bin_s"])))
    finally:
        if bar is not None:
            bar.close()


#: a unit's rate calibration moves its rate by at most this factor either way
MAX_RATE_CALIBRATION = 3.0
#: the random stream (beside the seed) of the trials drawn for the rate calibration
CALIBRATION_STREAM = 0xCA1B
#: folds of the calibration's trials whose spread estimates its noise
CALIBRATION_FOLDS = 8


def rate_calibration(
    model: LdnsModel,
    target: np.ndarray,
    *,
    n_trials: int,
    condition: np.ndarray | None = None,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = False,
    deadline: float | None = None,
) -> tuple[np.ndarray, dict]:
    """Per-unit log-rate offsets that match the mean rates of sampled trials to ``target``.

    Draws ``n_trials`` trials as :func:`generate` does by default (the model's own
    sampler and lengths, GNOCCHI codes from the code prior; ``condition``, the raw condition
    values of the training trials, is drawn from with replacement), decodes them without any
    calibration, and compares each unit's mean rate over the bins inside trials with
    ``target`` (expected counts per bin, the training trials' mean counts). The offsets,
    ``log(target / sampled)``, are shrunk towards 0 by the share of their mean square that the
    draw's own noise accounts for (estimated from :data:`CALIBRATION_FOLDS` interleaved folds of
    the trials; on a recording whose sampled rates are already right they would only add that
    noise), and clipped to :data:`MAX_RATE_CALIBRATION` either way. With a
    ``deadline`` (``time.monotonic()``) trials are drawn 64 at a time and drawing stops at the
    deadline, once 64 are drawn.

    Returns
    -------
    (offsets (neurons,) float32, a record: trials drawn, the shrinkage factor kept, the noise
    and offsets' rms before it, the sampled/target rate ratio before calibration (median, 10th
    and 90th percentile over units), the largest offset). A unit without training spikes keeps
    offset 0.
    """
    target = np.asarray(target, dtype=np.float64)
    if target.shape != (model.n_neurons,) or not np.isfinite(target).all():
        raise NwbLdnsError(f"the calibration target must be {model.n_neurons} finite mean rates")
    n = int(n_trials)
    rng = np.random.default_rng([seed, CALIBRATION_STREAM])
    values = None if condition is None else condition[rng.integers(0, len(condition), n)]
    if deadline is not None:
        batch_size = min(batch_size, 64)
    saved, model.sample_rate_offset = model.sample_rate_offset, None
    try:
        plan = _plan(model, n_trials=n, condition=values, seed=seed, batch_size=batch_size)
        sums, bins, drawn = [], [], 0  # per trial: summed rates (N,) and bins inside the trial
        for _, r, _, lengths in _sample_batches(model, plan, batch_size=batch_size, progress=progress, check=False):
            sums.append(r.sum(2, dtype=np.float64))  # (b, N); the padding after a trial holds no rate
            bins.append(np.full(r.shape[0], r.shape[2]) if lengths is None else np.asarray(lengths))
            drawn += r.shape[0]
            if deadline is not None and time.monotonic() > deadline and drawn >= 64:
                break
    finally:
        model.sample_rate_offset = saved
    sums, bins = np.concatenate(sums), np.concatenate(bins)  # (n, N), (n,)
    sampled = sums.sum(0) / bins.sum()
    seen = target > 0  # a unit silent in every training trial (its spikes all in held-out ones) keeps its rates
    with np.errstate(divide="ignore"):
        raw = np.where(seen, np.log(np.where(seen, target, 1.0)) - np.log(sampled), 0.0)
    # the draw's own noise: the spread of the mean rate between CALIBRATION_FOLDS interleaved folds of
    # the trials, as a share of the offsets' mean square (James-Stein); offsets shrink by it
    folds = np.stack(
        [sums[f::CALIBRATION_FOLDS].sum(0) / bins[f::CALIBRATION_FOLDS].sum() for f in range(CALIBRATION_FOLDS)]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_var = folds.var(0, ddof=1) / folds.mean(0) ** 2 / CALIBRATION_FOLDS  # (N,) of the log mean rate
    finite = seen & np.isfinite(raw) & np.isfinite(rel_var)
    noise = float(np.mean(rel_var[finite])) if finite.any() else 0.0
    spread = float(np.mean(raw[finite] ** 2)) if finite.any() else 0.0
    keep = 0.0 if spread <= 0 else max(0.0, 1.0 - noise / spread)
    bound = np.log(MAX_RATE_CALIBRATION)
    offsets = np.clip(np.where(np.isfinite(raw), keep * raw, bound), -bound, bound)  # a unit never sampled: bound
    ratio = sampled[seen] / target[seen] if seen.any() else np.ones(1)
    record = {
        "trials": drawn,
        "shrinkage": keep,
        "noise_rms": noise**0.5,
        "offset_rms_before_shrinkage": spread**0.5,
        "rate_ratio_before": {
            "median": float(np.median(ratio)),
            "p10": float(np.percentile(ratio, 10)),
            "p90": float(np.percentile(ratio, 90)),
        },
        "offset_max_abs": float(np.abs(offsets).max()),
        "clipped_units": int((np.abs(offsets) >= bound).sum()),
        "sampler": f"{plan.sampler}, {plan.steps} steps",
    }
    return offsets.astype(np.float32), record


def _check_rates(model: LdnsModel, rates_hz: np.ndarray) -> None:
    """Warn when per-neuron synthetic rates are far from the training data's (older models lack them)."""
    train = model.data.get("unit_rates_hz")
    if train is None or len(train) != len(rates_hz):
        return
    warning = M.rate_warning(M.rate_ratio(np.asarray(train), rates_hz)["median"])
    if warning:
        logger.warning("%s", warning)


def traverse_codes(base: np.ndarray, dim: int, lo: float, hi: float, steps: int) -> np.ndarray:
    """``steps`` copies of ``base`` (code_dim,) with dimension ``dim`` swept evenly from lo to hi."""
    base = np.asarray(base, dtype=np.float32).ravel()
    if not 0 <= dim < base.size:
        raise NwbLdnsError(f"`traverse` {dim}: the codes have dimensions 0..{base.size - 1}")
    if steps < 2:
        raise NwbLdnsError("a traversal needs at least 2 points")
    out = np.repeat(base[None], steps, axis=0)
    out[:, dim] = np.linspace(lo, hi, steps, dtype=np.float32)
    return out


def trial_traversal(
    model: LdnsModel,
    source: str,
    trial_id,
    dim: int,
    lo: float,
    hi: float,
    points: int,
    *,
    steps: int = 50,
    progress: bool = False,
    **source_options,
) -> tuple[np.ndarray, np.ndarray]:
    """InfoDiffusion's traversal around a real trial: its code with dimension ``dim`` swept from
    ``lo`` to ``hi`` (``points`` values), and the x_T that DDIM inversion (``steps`` steps, the
    trial's own code fixed) maps back to the trial's latents.

    ``source`` is binned with the model's data spec and its units matched to the model's, as
    ``encode`` does; ``trial_id`` is a trial id of that binned source (an alignment window).
    Generating from the returned codes and noise (``generate(model, codes=codes, noise=noise,
    steps=steps)``) reproduces the trial where the sweep passes its own value and changes only
    what the code dimension changes elsewhere.

    Returns
    -------
    codes (points, code_dim), noise (1, latent_dim, n_bins)
    """
    from .encode import load_for_model

    if not model.code_dim:
        raise NwbLdnsError("a traversal from a trial needs a model fitted with `method` gnocchi")
    ds = load_for_model(model, source, progress=progress, **source_options)
    ids = [str(t) for t in ds.trial_ids]
    if str(trial_id) not in ids:
        shown = ", ".join(ids[:8]) + (" ..." if len(ids) > 8 else "")
        raise NwbLdnsError(f"trial {trial_id} is not among the {len(ids)} trials of {source} ({shown})")
    i = ids.index(str(trial_id))
    if ds.lengths[i] < ds.n_bins:
        raise NwbLdnsError(f"trial {trial_id} is shorter than the window ({ds.lengths[i]} of {ds.n_bins} bins)")
    codes, noise = model.invert(ds.counts_bct()[i : i + 1], steps=steps)  # (1, K), (1, D, L)
    return traverse_codes(codes[0], dim, lo, hi, points), noise
