"""Do synthetic trials copy training trials? A distance-to-closest-record audit (``evaluate``'s
``memorization``).

Each trial becomes a vector of its square-root, 20 ms-smoothed counts averaged over 20 ms
windows (the square root evens out Poisson variance, so busy units do not dominate; smoothing
and averaging keep a trial's shape and drop single-bin noise). For every synthetic trial the
distance to its closest training trial is compared with the same distance for real trials the
model never saw (the val and test splits): a model that generalises makes trials no closer to
its training set than new recordings are, whereas copies of training trials sit far closer.

The test counts synthetic trials closer to the training set than all but ``CLOSE_QUANTILE`` of
the held-out trials; without memorisation at most that fraction is expected, and the audit is
flagged when the fraction is over twice that and a one-sided binomial test gives p below
``FLAG_P``.
"""

from __future__ import annotations

import numpy as np

from . import metrics as M

#: a synthetic trial is "close" when nearer the training set than this quantile of held-out trials
CLOSE_QUANTILE = 0.05
#: flagged when the close fraction is over twice CLOSE_QUANTILE and the binomial p is below this
FLAG_P = 1e-3
#: fewer held-out trials than this give no usable reference distribution
MIN_HELDOUT = 10
#: at most this many synthetic trials are audited (a seeded random subset)
MAX_SYNTHETIC = 2000


def trial_features(counts: np.ndarray, bin_s: float) -> np.ndarray:
    """(trial, features) float64: sqrt of smoothed counts averaged in windows of ``SMOOTH_S``.

    Parameters
    ----------
    counts : (trial, neuron, time) spike counts per bin
    bin_s : bin width, s
    """
    n, N, L = counts.shape
    smooth = M.smooth_counts(np.asarray(counts, dtype=np.float64), bin_s, M.SMOOTH_S)  # (trial, N, L)
    k = max(1, min(L, int(round(M.SMOOTH_S / bin_s))))
    windows = smooth[..., : (L // k) * k].reshape(n, N, L // k, k).mean(axis=-1)  # (trial, N, L // k)
    return np.sqrt(np.clip(windows, 0.0, None)).reshape(n, -1)


def distance_to_closest(x: np.ndarray, reference: np.ndarray, *, block: int = 256) -> np.ndarray:
    """(len(x),) Euclidean distance from each row of ``x`` to its nearest row of ``reference``."""
    ref_sq = np.einsum("ij,ij->i", reference, reference)  # (ref,)
    out = np.empty(len(x))
    for i in range(0, len(x), block):
        xb = x[i : i + block]  # (b, F)
        d2 = np.einsum("ij,ij->i", xb, xb)[:, None] + ref_sq[None, :] - 2.0 * xb @ reference.T  # (b, ref)
        out[i : i + block] = np.sqrt(np.clip(d2.min(axis=1), 0.0, None))
    return out


def _quantiles(d: np.ndarray) -> dict[str, float]:
    return {q: float(np.quantile(d, p)) for q, p in (("p05", 0.05), ("median", 0.5), ("p95", 0.95))}


def audit(train: np.ndarray, heldout: np.ndarray, synthetic: np.ndarray, bin_s: float, *, seed: int = 0) -> dict:
    """Distances to the closest training trial, synthetic against held-out real trials.

    Parameters
    ----------
    train, heldout, synthetic : (trial, neuron, time) counts, binned alike, units in the same order
    bin_s : bin width, s
    seed : picks the synthetic trials audited when there are more than ``MAX_SYNTHETIC``

    Returns
    -------
    dict for ``metrics.json["memorization"]``: both distributions' quantiles, the close
    fraction, its binomial p, a Mann-Whitney p (synthetic closer), the number of exact copies
    and ``flagged``; ``flagged`` is None, with ``not_applicable``, when there are too few
    held-out or training trials.
    """
    from scipy.stats import binomtest, mannwhitneyu

    out = {
        "features": f"sqrt of {M.SMOOTH_S * 1e3:g} ms-smoothed counts, {M.SMOOTH_S * 1e3:g} ms windows",
        "n_train": int(len(train)),
        "n_heldout": int(len(heldout)),
    }
    if len(heldout) < MIN_HELDOUT or len(train) < 2 or len(synthetic) == 0:
        out["flagged"] = None
        out["not_applicable"] = (
            f"needs {MIN_HELDOUT} or more held-out (val/test) real trials and training trials; "
            f"the real data have {len(heldout)} held-out and {len(train)} training trials"
        )
        return out
    if len(synthetic) > MAX_SYNTHETIC:
        synthetic = synthetic[np.sort(np.random.default_rng(seed).choice(len(synthetic), MAX_SYNTHETIC, replace=False))]
    ref = trial_features(train, bin_s)  # (train, F)
    d_heldout = distance_to_closest(trial_features(heldout, bin_s), ref)
    d_synthetic = distance_to_closest(trial_features(synthetic, bin_s), ref)
    threshold = float(np.quantile(d_heldout, CLOSE_QUANTILE))
    close = int((d_synthetic < threshold).sum())
    p_close = float(binomtest(close, len(d_synthetic), CLOSE_QUANTILE, alternative="greater").pvalue)
    fraction = close / len(d_synthetic)
    out.update(
        n_synthetic=int(len(d_synthetic)),
        synthetic_distance=_quantiles(d_synthetic),
        heldout_distance=_quantiles(d_heldout),
        close_threshold=threshold,
        close_fraction=fraction,
        expected_close_fraction=CLOSE_QUANTILE,
        binomial_p=p_close,
        mann_whitney_p=float(mannwhitneyu(d_synthetic, d_heldout, alternative="less").pvalue),
        exact_copies=int((d_synthetic <= 1e-6 * max(float(np.median(d_heldout)), 1e-12)).sum()),
        flagged=bool(fraction > 2 * CLOSE_QUANTILE and p_close < FLAG_P),
        distances={"synthetic": d_synthetic.tolist(), "heldout": d_heldout.tolist()},
    )
    return out
