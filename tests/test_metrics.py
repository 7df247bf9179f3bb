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
