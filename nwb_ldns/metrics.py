"""Spike-train statistics for comparing real and synthetic trials.

Counts are ``(trial, neuron, time)`` integer arrays, the models' layout. Trials of different
lengths come padded to the longest with ``lengths`` (trial,) beside them: statistics over bins
leave the padding out.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np


def valid_bins(lengths: np.ndarray | None, n_bins: int) -> np.ndarray | None:
    """(trial, time) True inside each trial, or None when ``lengths`` is None (no padding)."""
    if lengths is None:
        return None
    return np.arange(n_bins)[None, :] < np.asarray(lengths)[:, None]


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


def pairwise_correlations(counts: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlations between neurons over all (trial, bin) samples inside the trials: the
    upper triangle, flattened.

    Silent neurons give NaN entries; fewer than two neurons give an empty array (no pairs).
    """
    if counts.shape[1] < 2:
        return np.empty(0)
    x = np.asarray(counts, dtype=np.float64).transpose(1, 0, 2)  # (neuron, trial, time)
    valid = valid_bins(lengths, counts.shape[-1])
    x = x.reshape(counts.shape[1], -1) if valid is None else x[:, valid]  # (neuron, samples)
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
    """Pooled coefficient of determination 1 - SS_res / SS_tot over the entries where both are finite."""
    t, p = np.asarray(truth, dtype=np.float64).ravel(), np.asarray(pred, dtype=np.float64).ravel()
    ok = np.isfinite(t) & np.isfinite(p)
    t, p = t[ok], p[ok]
    return float(1 - ((t - p) ** 2).sum() / ((t - t.mean()) ** 2).sum())


# ---- distributions ---------------------------------------------------------------------------------
def kde_density(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE (Scott's bandwidth, as scipy) of ``values`` at ``grid``, normalised to sum 1.

    Constant values (no spread) fall back to a point mass at the grid point nearest them.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    grid = np.asarray(grid, dtype=np.float64)
    if v.size < 2 or np.ptp(v) == 0:
        p = np.zeros(grid.size)
        p[np.argmin(np.abs(grid - (v[0] if v.size else 0.0)))] = 1.0
        return p
    # scipy's gaussian_kde, summed over distinct values (counts take few), so the cost is
    # (distinct values x grid) instead of (samples x grid)
    bandwidth2 = np.var(v, ddof=1) * v.size ** (-2 / 5)  # Scott's factor squared times the variance
    u, c = np.unique(v, return_counts=True)
    p = np.exp(-0.5 * (grid[:, None] - u[None]) ** 2 / bandwidth2) @ c  # (grid,)
    return p / p.sum()


def kl_divergence(p: np.ndarray, q: np.ndarray, eps: float = 1e-10) -> float:
    """KL(p || q) = sum p log(p / q) in nats, both normalised first; ``eps`` keeps log finite."""
    p = np.asarray(p, dtype=np.float64) + eps
    q = np.asarray(q, dtype=np.float64) + eps
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def population_counts(counts: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """The population spike count of every (trial, bin) inside the trials, flattened."""
    pop = np.asarray(counts).sum(1)  # (trial, time)
    valid = valid_bins(lengths, pop.shape[-1])
    return pop.ravel() if valid is None else pop[valid]


def population_count_kl(
    real: np.ndarray,
    synthetic: np.ndarray,
    lengths_real: np.ndarray | None = None,
    lengths_syn: np.ndarray | None = None,
) -> float:
    """KL(synthetic || real) of the population spike count per (trial, bin), KDEs at 0..max (as LDNS)."""
    a, b = population_counts(real, lengths_real), population_counts(synthetic, lengths_syn)
    grid = np.arange(int(max(a.max(initial=0), b.max(initial=0))) + 1)
    return kl_divergence(kde_density(b, grid), kde_density(a, grid))


# ---- per neuron -------------------------------------------------------------------------------------------
def firing_rates(counts: np.ndarray, bin_s: float, lengths: np.ndarray | None = None) -> np.ndarray:
    """Mean firing rate per neuron (Hz) over all trials and the bins inside them."""
    c = np.asarray(counts, dtype=np.float64)
    bins = c.shape[0] * c.shape[2] if lengths is None else max(int(np.sum(lengths)), 1)
    return c.sum(axis=(0, 2)) / bins / bin_s


def fano_factors(counts: np.ndarray) -> np.ndarray:
    """Fano factor per neuron: variance / mean of the spike count per trial (NaN for silent neurons)."""
    per_trial = np.asarray(counts, dtype=np.float64).sum(-1)  # (trial, neuron)
    m = per_trial.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m > 0, per_trial.var(0) / m, np.nan)


def autocorrelation(counts: np.ndarray, max_lag: int = 30, lengths: np.ndarray | None = None) -> np.ndarray:
    """Autocorrelation per neuron at lags 0..max_lag, (neuron, lag), within trials.

    Counts are centred on the neuron's mean over all bins inside the trials and normalised by
    its variance; lag k averages x_t x_{t+k} over every pair inside a trial. Silent neurons give
    NaN.
    """
    from scipy.fft import irfft, next_fast_len, rfft

    x = np.asarray(counts, dtype=np.float32)  # (trial, neuron, time); float32 halves the memory traffic
    T, N, L = x.shape
    valid = valid_bins(lengths, L)
    if valid is None:
        x = x - x.mean(axis=(0, 2), keepdims=True, dtype=np.float64).astype(np.float32)
        pairs = T * (L - np.arange(L))  # (lag,) pairs inside the trials at each lag
    else:
        mean = x.sum(axis=(0, 2), dtype=np.float64) / max(int(valid.sum()), 1)  # (neuron,)
        x = (x - mean.astype(np.float32)[None, :, None]) * valid[:, None]  # the padding stays out of every pair
        pairs = np.clip(np.asarray(lengths)[:, None] - np.arange(L)[None], 0, None).sum(0)
    K = min(max_lag, L - 1) + 1
    # sum_t x_t x_{t+k} for every k at once: the inverse FFT of the power, zero-padded so that
    # lags do not wrap around; summed over trials (in float64) before the inverse (it is linear)
    n = next_fast_len(L + K)
    f = rfft(x, n=n, axis=-1, workers=-1)  # (trial, neuron, freq)
    power = (f.real.astype(np.float64) ** 2 + f.imag.astype(np.float64) ** 2).sum(0)  # (neuron, freq)
    lagged = irfft(power, n=n, axis=-1)[:, :K]  # (neuron, K)
    out = np.full((N, max_lag + 1), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, :K] = lagged / np.where(pairs[:K] > 0, pairs[:K], np.nan)[None]
    var = out[:, 0].copy()  # lag 0: the variance
    with np.errstate(invalid="ignore", divide="ignore"):
        return out / var[:, None]


def _summed_poisson_nll(counts: np.ndarray, rates: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Summed Poisson negative log likelihood (without the log k! term, which cancels in bits/spike)
    over the bins inside the trials."""
    r = np.clip(np.asarray(rates, dtype=np.float64), 1e-9, None)
    nll = r - np.asarray(counts, dtype=np.float64) * np.log(r)  # (trial, neuron, time)
    return float(np.sum(nll if valid is None else nll * valid[:, None]))


def bits_per_spike(counts: np.ndarray, rates: np.ndarray, lengths: np.ndarray | None = None) -> float:
    """(NLL_null - NLL_model) / n_spikes / ln 2, null = each neuron's mean rate (as the NLB).

    counts, rates : (trial, neuron, time); rates are expected counts per bin. ``lengths``
    (trial,) leaves out the padding after trials of different lengths.
    """
    c = np.asarray(counts, dtype=np.float64)
    valid = valid_bins(lengths, c.shape[-1])
    mean = c.sum(axis=(0, 2), keepdims=True) / (c.shape[0] * c.shape[2] if valid is None else max(valid.sum(), 1))
    null = np.broadcast_to(mean, c.shape)
    n = c.sum()
    if n == 0:
        return float("nan")
    return (_summed_poisson_nll(c, null, valid) - _summed_poisson_nll(c, rates, valid)) / n / np.log(2)


# ---- conditions and behaviour ------------------------------------------------------------------------------
def smooth_counts(counts: np.ndarray, bin_s: float, sigma_s: float = 0.02) -> np.ndarray:
    """Counts smoothed along time by a Gaussian of ``sigma_s`` (expected counts per bin)."""
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(np.asarray(counts, dtype=np.float64), sigma_s / bin_s, axis=-1, mode="nearest")


def psth_r2(real: np.ndarray, synthetic: np.ndarray, real_labels: np.ndarray, synthetic_labels: np.ndarray) -> float:
    """R^2 of synthetic against real PSTHs (trial averages per condition), pooled over conditions,
    neurons and bins; only conditions present in both sets count.

    real, synthetic : (trial, neuron, time) rates or smoothed counts
    """
    real_labels, synthetic_labels = np.asarray(real_labels), np.asarray(synthetic_labels)
    a, b = [], []
    for c in np.unique(real_labels):
        if (synthetic_labels == c).any():
            a.append(real[real_labels == c].mean(0))
            b.append(synthetic[synthetic_labels == c].mean(0))
    if not a:
        return float("nan")
    return r2_score(np.stack(a), np.stack(b))


def condition_means(
    x: np.ndarray, labels: np.ndarray, lengths: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Trial averages per condition: ((condition, ...), the conditions). With ``lengths``, ``x``
    is (trial, channel, time) and each bin averages the trials that reach it (NaN where none does)."""
    labels = np.asarray(labels)
    u = np.unique(labels)
    if lengths is None:
        return np.stack([x[labels == c].mean(0) for c in u]), u
    valid = valid_bins(lengths, x.shape[-1])[:, None]  # (trial, 1, time)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([(x * valid)[labels == c].sum(0) / valid[labels == c].sum(0) for c in u]), u


def angle_sectors(angles: np.ndarray, n: int = 8) -> np.ndarray:
    """Sector index 0..n-1 of each angle (radians), sectors centred on 0, 2pi/n, ..."""
    width = 2 * np.pi / n
    return (np.floor((np.asarray(angles) + width / 2) / width) % n).astype(int)


def ridge_fit(
    x: np.ndarray,
    y: np.ndarray,
    *,
    alphas=(1e-2, 1e-1, 1, 10, 100, 1e3, 1e4),
    folds: int = 5,
    groups: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """Ridge regression y ~ [x, 1] with alpha chosen by k-fold cross-validation.

    x : (samples, features); y : (samples, outputs); ``groups`` keeps samples of one group (e.g.
    a trial's bins) in the same fold. Returns (weights (features + 1, outputs), alpha).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(x), -1)
    X = np.hstack([x, np.ones((len(x), 1))])
    groups = np.arange(len(x)) if groups is None else np.asarray(groups)
    uniq = np.unique(groups)
    fold_of = dict(zip(uniq, np.random.default_rng(seed).permutation(uniq.size) % folds))
    fold = np.array([fold_of[g] for g in groups])

    def solve(Xa, ya, alpha):
        reg = alpha * np.eye(Xa.shape[1])
        reg[-1, -1] = 0.0  # no penalty on the intercept
        return np.linalg.solve(Xa.T @ Xa + reg, Xa.T @ ya)

    best, best_err = alphas[0], np.inf
    for alpha in alphas:
        err = 0.0
        for k in range(min(folds, uniq.size)):
            tr, te = fold != k, fold == k
            err += ((X[te] @ solve(X[tr], y[tr], alpha) - y[te]) ** 2).sum()
        if err < best_err:
            best, best_err = alpha, err
    return solve(X, y, best), float(best)


def ridge_predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.hstack([x, np.ones((len(x), 1))]) @ w


def velocity_decoder(features: np.ndarray, velocity: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Ridge weights from features per bin to velocity, alpha by CV with each trial's bins in one fold.

    features : (trial, N, time); velocity : (trial, time, C).
    """
    x = features.transpose(0, 2, 1).reshape(-1, features.shape[1])  # (trial * time, N)
    groups = np.repeat(np.arange(len(features)), features.shape[-1])
    return ridge_fit(x, velocity.reshape(-1, velocity.shape[-1]), groups=groups, seed=seed)[0]


def decode_velocity(w: np.ndarray, features: np.ndarray) -> np.ndarray:
    """(trial, time, C) velocities that :func:`velocity_decoder`'s weights read from (trial, N, time) features."""
    n, N, L = features.shape
    return ridge_predict(w, features.transpose(0, 2, 1).reshape(-1, N)).reshape(n, L, -1)


def angular_error_deg(predicted: np.ndarray, requested: np.ndarray) -> float:
    """Mean absolute angular difference in degrees, wrapped to [0, 180]."""
    d = np.angle(np.exp(1j * (np.asarray(predicted) - np.asarray(requested))))
    return float(np.degrees(np.abs(d)).mean())


# ---- latent codes ---------------------------------------------------------------------------------------
def _discretise(x: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins over the range of a continuous variable (as disentanglement_lib);
    integers pass through."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        return x
    edges = np.linspace(x.min(), x.max(), bins + 1)[1:-1]
    return np.digitize(x, edges)


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats of two discrete variables, from their joint histogram."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1.0)
    p = joint / joint.sum()
    pa, pb = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / (pa @ pb)[nz])).sum())


def mig(codes: np.ndarray, factors: np.ndarray, *, bins: int = 20) -> float:
    """Mutual information gap (Chen et al. 2018): for each factor, the gap between the two code
    dimensions most informative about it, over the factor's entropy; averaged over factors.

    codes : (n, code_dim) continuous; factors : (n, n_factors), integer factors are used as they are,
    continuous ones are cut into ``bins`` equal-width bins (as are the codes).
    """
    codes, factors = np.asarray(codes), np.asarray(factors)
    c = [_discretise(codes[:, j], bins) for j in range(codes.shape[1])]
    gaps = []
    for k in range(factors.shape[1]):
        v = _discretise(factors[:, k], bins)
        h = mutual_information(v, v)  # entropy
        if h <= 0 or len(c) < 2:
            continue
        mi = np.sort([mutual_information(cj, v) for cj in c])[::-1]
        gaps.append((mi[0] - mi[1]) / h)
    return float(np.mean(gaps)) if gaps else float("nan")


def dci_disentanglement(codes: np.ndarray, factors: list[np.ndarray]) -> float:
    """DCI disentanglement (Eastwood & Williams 2018) with linear importances.

    Each factor (n,) or (n, k) (e.g. a reach angle as [cos, sin]) is predicted from the
    standardised codes by ridge regression; code dimension j's importance for the factor is the
    sum of its absolute weights over the factor's standardised columns. A dimension's
    disentanglement is 1 minus the entropy (base = number of factors) of its importances
    normalised over factors; the score is their mean weighted by each dimension's share of all
    importance: 1 when every dimension serves one factor, 0 when each serves all equally.
    """
    x = np.asarray(codes, dtype=np.float64)
    x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    if len(factors) < 2:
        raise ValueError("disentanglement needs at least two factors")
    imp = []
    for f in factors:
        y = np.asarray(f, dtype=np.float64).reshape(len(x), -1)
        y = (y - y.mean(0)) / np.where(y.std(0) > 0, y.std(0), 1.0)
        w, _ = ridge_fit(x, y)  # (code_dim + 1, k), the last row the intercept
        imp.append(np.abs(w[: x.shape[1]]).sum(1))  # (code_dim,)
    r = np.stack(imp, 1)  # (code_dim, n_factors)
    total = r.sum(1)
    p = r / np.where(total > 0, total, 1.0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(1) / np.log(len(factors))
    return float(((1 - h) * total).sum() / total.sum()) if total.sum() > 0 else float("nan")


def cross_validated_r2(x: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0) -> float:
    """R^2 of ridge predictions of ``y`` from ``x`` on held-out folds (alpha chosen inside each fold)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(x), -1)
    fold = np.random.default_rng(seed).permutation(len(x)) % folds
    pred = np.zeros_like(y)
    for k in range(folds):
        tr, te = fold != k, fold == k
        w, _ = ridge_fit(x[tr], y[tr], seed=seed)
        pred[te] = ridge_predict(w, x[te])
    return r2_score(y, pred)


def rate_ratio(real_rates: np.ndarray, synthetic_rates: np.ndarray) -> dict:
    """Per-neuron synthetic / real mean rate, over neurons that fire in the real data: median and 10-90 %."""
    r, s = np.asarray(real_rates, dtype=np.float64), np.asarray(synthetic_rates, dtype=np.float64)
    ok = r > 0
    if not ok.any():
        return {"median": None, "p10": None, "p90": None}
    q = np.percentile(s[ok] / r[ok], [50, 10, 90])
    return {"median": float(q[0]), "p10": float(q[1]), "p90": float(q[2])}


RATE_RATIO_OK = (0.67, 1.5)  # outside: warn that synthetic rates are far from the data's


def rate_warning(ratio: float | None, *, what: str = "synthetic") -> str | None:
    """A one-line warning when the median per-neuron rate ratio is outside ``RATE_RATIO_OK``."""
    if ratio is None or RATE_RATIO_OK[0] <= ratio <= RATE_RATIO_OK[1]:
        return None
    return (
        f"{what} firing rates are {ratio:.2f}x the training data's (median over neurons): the model does not "
        "match the data yet; see `nwb-ldns evaluate` for which stage limits it"
    )


# ---- the table of reported metrics ------------------------------------------------------------------
SMOOTH_S = 0.02  # Gaussian smoothing of counts for PSTHs and decoders


class TrialSets:
    """Reference trials ``a`` and compared trials ``b`` ((trial, neuron, time) counts), with the
    statistics several metrics share computed once; ``labels_*`` group trials by condition;
    ``lengths_*`` (trial,) are the bins inside trials of different lengths (None: all)."""

    def __init__(
        self, a: np.ndarray, b: np.ndarray, bin_s: float, labels_a=None, labels_b=None, lengths_a=None, lengths_b=None
    ):
        self.a, self.b, self.bin_s = a, b, bin_s
        self.labels_a = np.zeros(len(a), int) if labels_a is None else labels_a
        self.labels_b = np.zeros(len(b), int) if labels_b is None else labels_b
        self.lengths_a, self.lengths_b = lengths_a, lengths_b

    @functools.cached_property
    def isi(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        return isi_stats(self.a, self.bin_s), isi_stats(self.b, self.bin_s)

    def psth_r2(self) -> float:
        """PSTH R^2 of smoothed counts; smoothing is linear, so the trial averages are smoothed, not
        every trial. Trials of different lengths are compared over the bins half of them reach."""
        a, b, la, lb = self.a, self.b, self.lengths_a, self.lengths_b
        if la is not None or lb is not None:
            la = np.full(len(a), a.shape[-1]) if la is None else np.asarray(la)
            lb = np.full(len(b), b.shape[-1]) if lb is None else np.asarray(lb)
            crop = max(1, int(min(np.median(la), np.median(lb))))
            a, b, la, lb = a[..., :crop], b[..., :crop], np.minimum(la, crop), np.minimum(lb, crop)
        (ma, ua), (mb, ub) = condition_means(a, self.labels_a, la), condition_means(b, self.labels_b, lb)
        return psth_r2(smooth_counts(ma, self.bin_s, SMOOTH_S), smooth_counts(mb, self.bin_s, SMOOTH_S), ua, ub)


@dataclasses.dataclass(frozen=True)
class Metric:
    """One reported metric: its key in ``metrics.json``, its label in the report and the CLI.

    ``compare`` scores compared trials against reference trials (then the metric has a
    half-vs-half floor and an autoencoder ceiling); metrics without it are computed by
    ``evaluate`` from decoders or the model. ``core`` metrics decide which stage limits realism;
    ``headline`` ones are printed by ``nwb-ldns evaluate``.
    """

    name: str
    label: str
    compare: Callable[[TrialSets], float] | None = None
    higher_is_better: bool = False
    core: bool = False
    headline: bool = False


def _ac(x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    return autocorrelation(x, 30, lengths)[:, 1:]


METRICS: tuple[Metric, ...] = (
    Metric(
        "kl_population_count",
        "KL population spike count (synthetic || real)",
        lambda s: population_count_kl(s.a, s.b, s.lengths_a, s.lengths_b),
        core=True,
        headline=True,
    ),
    Metric(
        "rmse_pairwise_correlation",
        "RMSE pairwise correlation",
        lambda s: rmse(pairwise_correlations(s.a, s.lengths_a), pairwise_correlations(s.b, s.lengths_b)),
        core=True,
        headline=True,
    ),
    Metric("rmse_mean_isi", "RMSE mean ISI (s)", lambda s: rmse(s.isi[0][0], s.isi[1][0]), core=True, headline=True),
    Metric("rmse_std_isi", "RMSE std ISI (s)", lambda s: rmse(s.isi[0][1], s.isi[1][1]), core=True, headline=True),
    Metric(
        "rmse_firing_rate",
        "RMSE firing rate (Hz)",
        lambda s: rmse(firing_rates(s.a, s.bin_s, s.lengths_a), firing_rates(s.b, s.bin_s, s.lengths_b)),
    ),
    Metric("rmse_fano_factor", "RMSE Fano factor", lambda s: rmse(fano_factors(s.a), fano_factors(s.b))),
    Metric(
        "rmse_autocorrelation",
        "RMSE autocorrelation (lags 1-30)",
        lambda s: rmse(_ac(s.a, s.lengths_a), _ac(s.b, s.lengths_b)),
    ),
    Metric("psth_r2", "PSTH R^2 by condition", TrialSets.psth_r2, higher_is_better=True),
    Metric(
        "velocity_decoding_r2",
        "velocity decoding R^2 (decoder fitted on real trials)",
        higher_is_better=True,
        headline=True,
    ),
    Metric("angle_error_deg", "decoded vs requested reach angle (deg)", headline=True),
    Metric("bits_per_spike", "autoencoder bits/spike (real trials)", higher_is_better=True),
    Metric("co_bps", "co-bps (held-out units)", higher_is_better=True, headline=True),
    Metric("rmse_log_latent_psd", "RMSE log10 latent PSD"),
)
BY_NAME = {m.name: m for m in METRICS}
#: metrics that compare two sets of trials; each has a half-vs-half floor
SET_METRICS = tuple(m.name for m in METRICS if m.compare is not None)
#: the statistics whose ratio to the floor decides which stage limits realism
CORE_METRICS = tuple(m.name for m in METRICS if m.core)


def set_metrics(
    a: np.ndarray, b: np.ndarray, bin_s: float, labels_a=None, labels_b=None, lengths_a=None, lengths_b=None
) -> dict[str, float]:
    """Every set metric of ``b`` against reference ``a`` (both (trial, neuron, time) counts;
    ``lengths_*`` the bins inside trials of different lengths, None when every bin is)."""
    sets = TrialSets(a, b, bin_s, labels_a, labels_b, lengths_a, lengths_b)
    return {m.name: m.compare(sets) for m in METRICS if m.compare is not None}
