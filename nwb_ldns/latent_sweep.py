"""``fit --latent-dim auto``: the autoencoder's latent size chosen by held-out likelihood.

Each candidate size trains an autoencoder on the train split (the fit's own settings; with a
time budget, together at most ``SWEEP_SHARE`` of it). Each is scored on the validation trials
by co-bps on held-out entries: a random fifth of the (unit, bin) entries is hidden from the
encoder, as coordinated dropout hides them in training, and the bits per spike of the predicted
rates over each unit's mean rate are counted on the hidden entries only (the NLB co-bps, over
held-out entries rather than held-out units, so it needs no unit split). The spread of each
score is a bootstrap over validation trials; the smallest size whose score is within one
spread of the best is chosen, so a larger model must earn its size.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch

from .errors import NwbLdnsError
from .models.losses import poisson_nll

logger = logging.getLogger("nwb_ldns")

#: latent sizes tried (those at most half the number of units, and at least two of them)
CANDIDATES = (2, 4, 8, 16, 32)
#: at most this share of the fit's time budget goes to the sweep
SWEEP_SHARE = 0.35
#: hidden entries per score, as a fraction (coordinated dropout's rate) and the masks averaged
HIDDEN_FRACTION = 0.2
N_MASKS = 4
N_BOOT = 200


def candidates(n_units: int) -> list[int]:
    """The sizes tried for ``n_units`` units."""
    out = [d for d in CANDIDATES if d <= max(2, n_units // 2)]
    return out if len(out) >= 2 else list(CANDIDATES[:2])


@torch.no_grad()
def heldout_entry_nll(
    ae, counts: torch.Tensor, mask: torch.Tensor | None, *, seed: int, batch_size: int = 256
) -> tuple[np.ndarray, ...]:
    """Per trial: the model's and the mean-rate Poisson NLL summed over hidden entries, and their spikes.

    counts : (trial, N, L); mask : (trial, 1, L) valid bins or None. Returns three (trial,) arrays.
    """
    g = torch.Generator(device=counts.device).manual_seed(int(seed))
    valid = torch.ones_like(counts[:, :1]) if mask is None else mask.float()  # (B, 1, L)
    mean = (counts * valid).sum((0, 2)) / (valid.sum() if mask is not None else counts.shape[0] * counts.shape[2])
    null_rates = mean.clamp(min=1e-6)[None, :, None].expand_as(counts)  # (B, N, L)
    model_nll = torch.zeros(counts.shape[0], device=counts.device)
    null_nll = torch.zeros_like(model_nll)
    spikes = torch.zeros_like(model_nll)
    ae.eval()
    for _ in range(N_MASKS):
        hidden = (torch.rand(counts.shape, generator=g, device=counts.device) < HIDDEN_FRACTION).float() * valid
        for i in range(0, counts.shape[0], batch_size):  # in batches: a large validation split fits in memory
            b = slice(i, i + batch_size)
            rates, _ = ae(counts[b] * (1 - hidden[b]) / (1 - HIDDEN_FRACTION), None if mask is None else mask[b])
            model_nll[b] += (poisson_nll(rates.float(), counts[b]) * hidden[b]).sum((1, 2))  # rates: (b, N, L)
        null_nll += (poisson_nll(null_rates, counts) * hidden).sum((1, 2))
        spikes += (counts * hidden).sum((1, 2))
    return model_nll.cpu().numpy(), null_nll.cpu().numpy(), spikes.cpu().numpy()


def co_bps(model_nll: np.ndarray, null_nll: np.ndarray, spikes: np.ndarray) -> float:
    """Bits per spike of the model over the mean rate, from per-trial sums."""
    return float((null_nll.sum() - model_nll.sum()) / max(float(spikes.sum()), 1.0) / math.log(2))


def heldout_co_bps(ae, trials, *, device, seed: int = 0) -> tuple[float, float]:
    """An autoencoder's co-bps on held-out entries of ``trials`` (a SpikeDataset the model did not
    train on, e.g. the val split) and its bootstrap sd over trials.

    Zero or less: its rates predict hidden spikes no better than each unit's mean rate.
    """
    counts = torch.as_tensor(trials.counts_bct(), dtype=torch.float32, device=device)  # (trial, N, L)
    mask = None
    if (trials.lengths < trials.n_bins).any():
        mask = torch.as_tensor(trials.mask()[:, None, :], dtype=torch.float32, device=device)  # (trial, 1, L)
    sums = heldout_entry_nll(ae, counts, mask, seed=seed)
    rng = np.random.default_rng(seed)
    boots = [rng.integers(0, trials.n_trials, trials.n_trials) for _ in range(N_BOOT)]
    sd = float(np.std([co_bps(*(s[b] for s in sums)) for b in boots], ddof=1)) if trials.n_trials > 1 else math.nan
    return co_bps(*sums), sd


def choose_latent_dim(dataset, build_autoencoder_stage, *, device, deadline=None, progress=False, seed=0) -> dict:
    """Train one autoencoder per candidate size and pick the size.

    Parameters
    ----------
    dataset : SpikeDataset with train and val trials
    build_autoencoder_stage : ``latent_dim -> (autoencoder, Stage)`` with the fit's settings
    device : torch.device
    deadline : ``time.monotonic()`` by which the whole sweep ends (None: each candidate trains
        until its validation loss stops improving)
    seed : seeds the hidden entries and the bootstrap

    Returns
    -------
    dict for config.json's ``latent_dim_sweep``: ``candidates``, ``co_bps`` and ``sd`` per
    candidate, ``steps``, ``chosen``, ``rule`` and ``seconds``.
    """
    from .training import train

    sizes = candidates(dataset.n_units)
    val = dataset.select("val")
    if val.n_trials < 2:
        raise NwbLdnsError("`latent_dim` auto scores sizes on validation trials: it needs at least 2")
    start = time.monotonic()
    scores, sds, steps = [], [], []
    for i, d in enumerate(sizes):
        cand_deadline = None
        if deadline is not None:
            cand_deadline = time.monotonic() + max(0.0, deadline - time.monotonic()) / (len(sizes) - i)
        ae, stage = build_autoencoder_stage(d)
        history = train(stage, device=device, checkpoint=None, progress=progress, deadline=cand_deadline)
        score, sd = heldout_co_bps(ae, val, device=device, seed=seed)
        scores.append(score)
        sds.append(sd)
        steps.append(int(history["steps"]))
        logger.info("latent size %d: held-out co-bps %.4f +- %.4f (%d steps)", d, scores[-1], sds[-1], steps[-1])
    best = int(np.argmax(scores))
    chosen = next(d for d, s in zip(sizes, scores) if s >= scores[best] - sds[best])
    logger.info("`latent_dim` auto: %d (best co-bps at %d; the smallest within its spread)", chosen, sizes[best])
    return {
        "candidates": sizes,
        "co_bps": scores,
        "sd": sds,
        "steps": steps,
        "chosen": int(chosen),
        "rule": "the smallest size whose held-out co-bps is within one bootstrap sd of the best",
        "seconds": time.monotonic() - start,
    }
