"""Spike statistics on small cases worked out by hand."""

import numpy as np
import pytest

from nwb_ldns import metrics


def test_isi_spreads_spikes_evenly_within_bins_and_trials():
    # neuron 0: trial 0 has 1 spike in bin 0 and 2 in bin 2; trial 1 has 1 spike in bin 3
    counts = np.zeros((2, 2, 4), dtype=int)
    counts[0, 0, 0], counts[0, 0, 2], counts[1, 0, 3] = 1, 2, 1
    counts[0, 1, 1] = 1  # neuron 1: a single spike, no interval
    mean, std = metrics.isi_stats(counts, 0.01, min_isis=1)
    # times in trial 0: 0.005, 0.0225, 0.0275 -> intervals 0.0175, 0.005; trial 1 contributes none
    assert mean[0] == pytest.approx((0.0175 + 0.005) / 2)
    assert std[0] == pytest.approx(np.std([0.0175, 0.005]))
    assert np.isnan(mean[1]) and np.isnan(std[1])


def test_pairwise_correlations_upper_triangle():
    a = np.array([0, 1, 2, 3, 0, 1])
    counts = np.stack([a, a, 3 - a, np.zeros(6, int)])[None]  # (1 trial, 4 neurons, 6 bins)
    c = metrics.pairwise_correlations(counts)
    assert c.shape == (6,)
    assert c[0] == pytest.approx(1.0) and c[1] == pytest.approx(-1.0) and np.isnan(c[2])


def test_population_count_density():
    counts = np.array([[[1, 0, 2], [0, 0, 1]]])  # population counts per bin: 1, 0, 3
    np.testing.assert_allclose(metrics.population_count_density(counts, 3), [1 / 3, 1 / 3, 0, 1 / 3])
    np.testing.assert_allclose(metrics.population_count_density(counts, 1), [1 / 3, 1 / 3])  # 3 is beyond


def test_psd_peaks_at_the_oscillation():
    t = np.arange(256) * 0.005
    z = np.sin(2 * np.pi * 10 * t)[None, None] * np.ones((3, 2, 1))
    f, p = metrics.latent_psd(z, 0.005)
    assert p.shape == (2, f.size) and abs(f[p[0].argmax()] - 10) < 2


def test_pearson_rmse_r2():
    assert metrics.pearson([1, 2, 3, np.nan], [2, 4, 6, 1]) == pytest.approx(1.0)
    assert metrics.rmse([0, 0], [3, 4]) == pytest.approx(np.sqrt(12.5))
    assert metrics.r2_score([1, 2, 3], [1, 2, 3]) == 1.0
    assert metrics.r2_score([1, 2, 3], [2, 2, 2]) == pytest.approx(0.0)


# ---- metrics of the evaluate report, each on a case worked by hand ----------------------------------------
from nwb_ldns import metrics as M  # noqa: E402


def test_kl_divergence_by_hand():
    assert M.kl_divergence([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.5 * np.log(2) + 0.5 * np.log(2 / 3), abs=1e-8)
    assert M.kl_divergence([1, 3], [1, 3]) == pytest.approx(0.0, abs=1e-12)


def test_kde_density_is_scotts_gaussian_kde():
    v = np.array([0.0, 1.0, 3.0])
    grid = np.arange(5.0)
    bw = v.std(ddof=1) * len(v) ** (-1 / 5)  # Scott's factor times the sample std
    p = np.exp(-0.5 * ((grid[:, None] - v[None]) / bw) ** 2).sum(1)
    np.testing.assert_allclose(M.kde_density(v, grid), p / p.sum(), rtol=1e-10)
    np.testing.assert_array_equal(M.kde_density(np.array([2, 2, 2]), grid), [0, 0, 1, 0, 0])


def test_kde_over_distinct_values_matches_scipy():
    from scipy.stats import gaussian_kde

    v = np.random.default_rng(3).poisson(7.0, size=3000).astype(float)  # counts: few distinct values
    grid = np.arange(30.0)
    p = gaussian_kde(v)(grid)
    np.testing.assert_allclose(M.kde_density(v, grid), p / p.sum(), rtol=1e-9, atol=1e-15)


def test_autocorrelation_by_fft_matches_the_lag_loop():
    x = np.random.default_rng(4).poisson(0.7, size=(7, 5, 40)).astype(float)
    x[:, 2] = 0.0  # a silent neuron: NaN
    c = x - x.mean(axis=(0, 2), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        naive = (
            np.stack([(c[:, :, : 40 - k] * c[:, :, k:]).mean(axis=(0, 2)) for k in range(13)], 1)
            / (c**2).mean(axis=(0, 2))[:, None]
        )
    np.testing.assert_allclose(M.autocorrelation(x, 12), naive, rtol=1e-5, atol=1e-6)
    short = M.autocorrelation(x[..., :5], 12)  # lags past the trial length stay NaN
    assert np.isnan(short[:, 5:]).all() and np.isfinite(short[[0, 1, 3, 4], :5]).all()


def test_population_count_kl_is_zero_for_the_same_counts_and_grows_with_a_shift():
    c = np.random.default_rng(0).poisson(1.0, size=(20, 5, 10))
    assert M.population_count_kl(c, c) == pytest.approx(0.0, abs=1e-8)
    assert M.population_count_kl(c, c + 1) > 0.1


def test_rates_fano_and_autocorrelation_by_hand():
    c = np.array([[[1, 0, 0, 1]], [[2, 0, 0, 0]]])  # 2 trials, 1 neuron, 4 bins of 5 ms
    assert M.firing_rates(c, 0.005)[0] == pytest.approx(4 / 8 / 0.005)
    assert M.fano_factors(c)[0] == pytest.approx(0.0)  # 2 spikes in each trial
    assert M.fano_factors(np.array([[[1, 0]], [[3, 0]]]))[0] == pytest.approx(0.5)  # mean 2, variance 1
    alt = np.array([[[1, 0, 1, 0, 1, 0]]])
    ac = M.autocorrelation(alt, max_lag=2)[0]
    np.testing.assert_allclose(ac, [1.0, -1.0, 1.0])


def test_bits_per_spike_by_hand():
    c = np.array([[[2, 0]]])  # null rate: 1 per bin
    assert M.bits_per_spike(c, np.ones_like(c, dtype=float)) == pytest.approx(0.0)
    # model rates (2, ~0): NLL 2 - 2 ln 2 against the null's 2 -> 2 ln 2 / 2 spikes / ln 2 = 1 bit per spike
    assert M.bits_per_spike(c, np.array([[[2.0, 1e-12]]])) == pytest.approx(1.0, abs=1e-6)


def test_psth_r2_and_angle_helpers():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3, 8))
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert M.psth_r2(x, x, labels, labels) == pytest.approx(1.0)
    assert M.psth_r2(x, x + 10, labels, labels) < 0
    np.testing.assert_array_equal(M.angle_sectors(np.array([0, np.pi / 4, -np.pi / 4, np.pi, 0.3])), [0, 1, 7, 4, 0])
    assert M.angular_error_deg(np.radians([350.0, 90.0]), np.radians([10.0, 60.0])) == pytest.approx(25.0)


def test_ridge_recovers_a_linear_map_and_cross_validates_alpha():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 4))
    w = np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0], [2.0, 1.0]])
    y = x @ w + np.array([5.0, -1.0])
    fitted, alpha = M.ridge_fit(x, y)
    assert alpha == 1e-2  # noiseless: the smallest penalty wins
    np.testing.assert_allclose(fitted[:4], w, atol=1e-3)
    np.testing.assert_allclose(fitted[4], [5.0, -1.0], atol=1e-3)
    np.testing.assert_allclose(M.ridge_predict(fitted, x), y, atol=1e-2)
    noisy = rng.normal(size=(40, 30))  # pure noise targets: a large penalty wins
    assert M.ridge_fit(noisy, rng.normal(size=(40, 1)))[1] >= 100


def test_mutual_information_and_mig_by_hand():
    a = np.array([0, 0, 1, 1])
    assert M.mutual_information(a, a) == pytest.approx(np.log(2))  # the entropy of a fair bit
    assert M.mutual_information(a, np.array([0, 1, 0, 1])) == pytest.approx(0.0)
    rng = np.random.default_rng(0)
    f = rng.integers(0, 4, size=(4000, 2))  # two independent factors
    noise = rng.normal(size=4000) * 1e-3
    disentangled = np.stack([f[:, 0] + noise, f[:, 1] + noise], 1)
    entangled = np.stack([f[:, 0] + 4 * f[:, 1] + noise, f[:, 0] + 4 * f[:, 1] + noise[::-1]], 1)
    assert M.mig(disentangled, f, bins=4) == pytest.approx(1.0, abs=0.02)  # one code per factor
    assert M.mig(entangled, f, bins=16) == pytest.approx(0.0, abs=0.02)  # both codes carry both factors


def test_cross_validated_r2():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 3))
    assert M.cross_validated_r2(x, x @ np.array([1.0, 2.0, -1.0])) > 0.999
    assert M.cross_validated_r2(x, rng.normal(size=300)) < 0.05


def test_psth_of_smoothed_trials_equals_smoothed_condition_means():
    rng = np.random.default_rng(5)
    a, b = rng.poisson(0.5, (30, 4, 50)).astype(float), rng.poisson(0.6, (20, 4, 50)).astype(float)
    la, lb = rng.integers(0, 3, 30), rng.integers(0, 3, 20)
    slow = M.psth_r2(M.smooth_counts(a, 0.005, 0.02), M.smooth_counts(b, 0.005, 0.02), la, lb)
    assert M.TrialSets(a, b, 0.005, la, lb).psth_r2() == pytest.approx(slow, rel=1e-10)


def test_the_metrics_table_drives_set_metrics():
    rng = np.random.default_rng(6)
    a, b = rng.poisson(0.5, (12, 5, 40)), rng.poisson(0.9, (10, 5, 40))
    vals = M.set_metrics(a, b, 0.005)
    assert tuple(vals) == M.SET_METRICS and M.CORE_METRICS == M.SET_METRICS[:4]
    (mean_a, std_a), (mean_b, std_b) = M.isi_stats(a, 0.005), M.isi_stats(b, 0.005)
    assert vals["rmse_mean_isi"] == M.rmse(mean_a, mean_b) and vals["rmse_std_isi"] == M.rmse(std_a, std_b)
    assert vals["kl_population_count"] == M.population_count_kl(a, b)
    assert M.set_metrics(a, a, 0.005)["rmse_firing_rate"] == 0.0
    assert len(M.BY_NAME) == len(M.METRICS)  # one row per name


def test_dci_disentanglement_separated_mixed_and_by_hand():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.normal(size=500)
    noise = 0.05 * rng.normal(size=(500, 3))
    separated = np.stack([a, b, rng.normal(size=500)], 1) + noise  # one factor per dimension, one unused
    mixed = np.stack([a + b, a - b, rng.normal(size=500)], 1) + noise  # every used dimension serves both
    assert M.dci_disentanglement(separated, [a, b]) > 0.95
    assert M.dci_disentanglement(mixed, [a, b]) < 0.1
    # by hand: codes c0 = a, c1 = (a + 3b) / sqrt(10); then a = c0 and b = (sqrt(10) c1 - c0) / 3, so the
    # importances (code dim x factor) are [[1, 1/3], [0, sqrt(10)/3]]: dim 1 serves b alone (D = 1),
    # dim 0 serves a and b at 3:1 (D = 1 - H(3/4, 1/4) in bits)
    codes = np.stack([a, (a + 3 * b) / np.sqrt(10)], 1)
    imp = np.array([[1.0, 1 / 3], [0.0, np.sqrt(10) / 3]])
    d = np.array([1 + 0.75 * np.log2(0.75) + 0.25 * np.log2(0.25), 1.0])
    expected = (d * imp.sum(1)).sum() / imp.sum()
    assert M.dci_disentanglement(codes, [a, b]) == pytest.approx(expected, abs=0.02)
    # a circular factor as [cos, sin] columns counts as one factor
    ang = rng.uniform(-np.pi, np.pi, 500)
    circ = np.stack([np.cos(ang), np.sin(ang), b], 1) + noise
    assert M.dci_disentanglement(circ, [np.stack([np.cos(ang), np.sin(ang)], 1), b]) > 0.95


def test_trials_of_different_lengths_are_scored_over_the_bins_inside_them():
    rng = np.random.default_rng(7)

    def padded(n):
        lengths = rng.integers(5, 40, n)
        x = np.zeros((n, 4, 40))
        for i, k in enumerate(lengths):
            x[i, :, :k] = rng.poisson(0.6, (4, k))
        return x, lengths

    def inside(x, lengths):  # the reference: one long trial of the bins inside the trials
        return np.concatenate([x[i, :, :k] for i, k in enumerate(lengths)], axis=1)[None]  # (1, N, bins)

    (a, la), (b, lb) = padded(12), padded(9)
    assert M.population_count_kl(a, b, la, lb) == pytest.approx(M.population_count_kl(inside(a, la), inside(b, lb)))
    np.testing.assert_allclose(M.pairwise_correlations(a, la), M.pairwise_correlations(inside(a, la)))
    np.testing.assert_allclose(M.firing_rates(a, 0.005, la), M.firing_rates(inside(a, la), 0.005))
    rates = rng.uniform(0.2, 1.0, a.shape)
    assert M.bits_per_spike(a, rates, la) == pytest.approx(M.bits_per_spike(inside(a, la), inside(rates, la)))
    # autocorrelation: every pair of bins inside one trial, by a loop
    ac, mean = M.autocorrelation(a, 5, la), inside(a, la)[0].mean(1)
    for n in range(4):
        x = [a[i, n, :k] - mean[n] for i, k in enumerate(la)]
        ref = [np.concatenate([t[: t.size - lag] * t[lag:] for t in x]).mean() for lag in range(6)]
        np.testing.assert_allclose(ac[n], np.array(ref) / ref[0], rtol=1e-5)
    # the PSTH of a set against itself, over the bins half its trials reach
    assert M.TrialSets(a, a, 0.005, lengths_a=la, lengths_b=la).psth_r2() == pytest.approx(1.0)
    assert set(M.set_metrics(a, b, 0.005, lengths_a=la, lengths_b=lb)) == set(M.SET_METRICS)
