"""Spike-train statistics for comparing real and synthetic trials.

Counts are ``(trial, neuron, time)`` integer arrays, the models' layout.
"""

from __future__ import annotations

import numpy as np


def isi_stats(counts: np.ndarray, bin_s: float, *, min_isis: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of inter-spike intervals per neuron, in seconds.

    Spikes are spread evenly inside their bin (``k`` spikes in ``[t, t + dt)`` sit at
    ``t + (j + 1/2) dt / k``); intervals are taken within trials only. Neurons with fewer than
    ``min_isis`` intervals get NaN.
    """
    counts = np.asarray(counts)
    n_trials, n_neurons, n_bins = counts.shape
    means, stds = np.full(n_neurons, np.nan), np.full(n_neurons, np.nan)
    for i in range(n_neurons):
        c = counts[:, i, :].astype(np.int64)  # (trial, time)
        flat = c.ravel()
        if flat.sum() < 2:
            continue
        idx = np.repeat(np.arange(flat.size), flat)  # global bin of each spike
        k = flat[idx]  # spikes in that bin
        first = np.concatenate([[0], np.cumsum(flat)[:-1]])[idx]  # position of the bin's first spike
        j = np.arange(idx.size) - first
        trial, b = np.divmod(idx, n_bins)
        t = (b + (j + 0.5) / k) * bin_s  # (n_spikes,) within-trial time
        same = trial[1:] == trial[:-1]
        isi = np.diff(t)[same]
        if isi.size >= min_isis:
            means[i], stds[i] = isi.mean(), isi.std()
    return means, stds


def pairwise_correlations(counts: np.ndarray) -> np.ndarray:
    """Pearson correlations between neurons over all (trial, bin) samples: the upper triangle, flattened.

    Silent neurons give NaN entries.
    """
    x = np.asarray(counts, dtype=np.float64).transpose(1, 0, 2).reshape(counts.shape[1], -1)  # (neuron, samples)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.corrcoef(x)
    iu = np.triu_indices(c.shape[0], k=1)
    return c[iu]


def population_count_density(counts: np.ndarray, max_count: int) -> np.ndarray:
    """Histogram (normalised) of the population spike count per (trial, bin) at 0..max_count."""
    pop = np.asarray(counts).sum(1).ravel()  # (trial * time,)
    h = np.bincount(np.clip(pop, 0, max_count + 1), minlength=max_count + 2)[: max_count + 1].astype(np.float64)
    return h / max(pop.size, 1)


def latent_psd(latents: np.ndarray, bin_s: float, nperseg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density per latent channel, averaged over trials: (freqs, (channel, freq))."""
    from scipy.signal import welch

    z = np.asarray(latents, dtype=np.float64)
    f, p = welch(z, fs=1.0 / bin_s, nperseg=nperseg or min(z.shape[-1], 128), axis=-1)  # p (trial, channel, freq)
    return f, p.mean(0)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r over the entries where both are finite."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    """Root mean squared difference over the entries where both are finite."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2))) if ok.any() else float("nan")


def r2_score(truth: np.ndarray, pred: np.ndarray) -> float:
    """Pooled coefficient of determination 1 - SS_res / SS_tot."""
    t, p = np.asarray(truth, dtype=np.float64).ravel(), np.asarray(pred, dtype=np.float64).ravel()
    return float(1 - ((t - p) ** 2).sum() / ((t - t.mean()) ** 2).sum())
