"""The memorization audit: distances to the closest training trial, checked by brute force, and a
test that flags copies of training trials and passes fresh draws of the same process."""

import numpy as np
import pytest

from nwb_ldns import memorization


@pytest.fixture
def process():
    """Trials of one Poisson process whose rates vary from trial to trial (a gain and a phase)."""
    rng = np.random.default_rng(0)
    t = np.arange(64) * 0.005

    def draw(n):
        gain = rng.uniform(0.5, 1.5, size=(n, 1, 1))
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
        rates = 0.1 * gain * (1.2 + np.sin(2 * np.pi * 3 * t[None, None, :] + phase + np.arange(8)[None, :, None]))
        return rng.poisson(rates).astype(np.float64)  # (trial, 8, 64)

    return draw


def test_distance_to_closest_matches_brute_force():
    rng = np.random.default_rng(1)
    x, ref = rng.normal(size=(37, 20)), rng.normal(size=(300, 20))
    naive = np.array([min(np.linalg.norm(a - r) for r in ref) for a in x])
    np.testing.assert_allclose(memorization.distance_to_closest(x, ref, block=8), naive, rtol=1e-9, atol=1e-9)
    assert memorization.distance_to_closest(ref[:5], ref).max() < 1e-6  # a copy is at distance 0


def test_trial_features_are_sqrt_smoothed_window_means():
    counts = np.zeros((1, 2, 8))
    counts[0, 0, :] = 4.0  # constant: smoothing keeps it, the square root is 2
    f = memorization.trial_features(counts, 0.005)  # 20 ms windows of 4 bins: 2 per unit
    assert f.shape == (1, 4)
    np.testing.assert_allclose(f[0, :2], 2.0, rtol=1e-6)
    np.testing.assert_allclose(f[0, 2:], 0.0)


def test_copies_of_training_trials_are_flagged_and_fresh_trials_are_not(process):
    train, heldout = process(200), process(60)
    fresh = memorization.audit(train, heldout, process(150), 0.005)
    assert fresh["flagged"] is False and fresh["exact_copies"] == 0
    assert fresh["close_fraction"] <= 0.1 and fresh["binomial_p"] > 1e-3
    copies = memorization.audit(train, heldout, train[:150], 0.005)
    assert copies["flagged"] is True and copies["exact_copies"] == 150 and copies["close_fraction"] == 1.0
    # a partial copy (a third of the trials copied, the rest fresh) is flagged too
    mixed = np.concatenate([train[:50], process(100)])
    assert memorization.audit(train, heldout, mixed, 0.005)["flagged"] is True


def test_too_few_held_out_trials_is_not_applicable(process):
    out = memorization.audit(process(50), process(5), process(20), 0.005)
    assert out["flagged"] is None and "held-out" in out["not_applicable"]
