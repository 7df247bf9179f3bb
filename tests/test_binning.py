"""WindowBinner against naive per-unit np.histogram, and behaviour averaging against a loop."""

import numpy as np
import pytest

from nwb_ldns.binning import WindowBinner

BIN = 0.005


def naive_counts(times, starts, n_bins, bin_s):
    """Per window, np.histogram over the same edges, half-open on the right."""
    n_bins = np.broadcast_to(n_bins, (len(starts),))
    out = np.zeros((len(starts), int(max(n_bins))), dtype=np.int64)
    for i, (s, n) in enumerate(zip(starts, n_bins)):
        edges = s + np.arange(n + 1) * bin_s
        # np.histogram closes its last bin on the right: add one bin and drop it
        counts, _ = np.histogram(times, bins=np.append(edges, edges[-1] + bin_s))
        out[i, :n] = counts[:-1]
    return out


def edge_spikes(starts, n_bins):
    """Spikes exactly on every bin edge and window edge, plus a few inside bins."""
    edges = np.concatenate(
        [s + np.arange(n + 1) * BIN for s, n in zip(starts, np.broadcast_to(n_bins, (len(starts),)))]
    )
    return np.sort(np.concatenate([edges, edges[:-1] + BIN / 3]))


CASES = [
    # (name, starts, n_bins, spikes)
    ("disjoint, spikes on every edge", np.array([0.1, 1.0, 2.0]), 20, None),
    ("touching windows", np.array([0.0, 0.1, 0.2]), 20, None),
    ("overlapping windows", np.array([0.0, 0.05, 0.07, 1.0]), 30, None),
    ("unsorted windows", np.array([2.0, 0.5, 1.0]), 10, None),
    ("variable length", np.array([0.0, 0.3, 1.0]), np.array([5, 40, 12]), None),
    ("empty unit", np.array([0.0, 1.0]), 10, np.array([])),
    ("spikes only outside", np.array([1.0, 2.0]), 10, np.array([0.2, 0.5, 3.0, 9.0])),
    (
        "random",
        np.sort(np.random.default_rng(0).uniform(0, 50, 40)),
        100,
        np.sort(np.random.default_rng(1).uniform(-1, 60, 5000)),
    ),
]


@pytest.mark.parametrize("name,starts,n_bins,spikes", CASES, ids=[c[0] for c in CASES])
def test_counts_equal_naive_histogram(name, starts, n_bins, spikes):
    times = edge_spikes(starts, n_bins) if spikes is None else spikes
    binner = WindowBinner(starts, n_bins, BIN)
    got = binner.counts(times)
    want = naive_counts(times, starts, n_bins, BIN)
    np.testing.assert_array_equal(got, want)
    assert got[~binner.valid()].sum() == 0


def test_fast_and_general_paths_agree():
    starts = np.arange(50) * 0.75
    times = np.sort(np.random.default_rng(3).uniform(0, 40, 20000))
    fast = WindowBinner(starts, 140, BIN)
    assert fast.sorted
    general = WindowBinner(starts[::-1], 140, BIN)
    assert not general.sorted
    np.testing.assert_array_equal(fast.counts(times), general.counts(times)[::-1])


def test_observed_mask():
    binner = WindowBinner([0.0, 1.0], 10, 0.1)
    obs = binner.observed(np.array([[0.0, 0.45], [1.2, 5.0]]))
    # window 0: bins [0,.1) .. [.3,.4) fully inside; [.4,.5) is cut at .45
    np.testing.assert_array_equal(obs[0], [1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(obs[1], [0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    assert not binner.observed(np.zeros((0, 2))).any()


def test_mean_in_bins_matches_loop():
    rng = np.random.default_rng(0)
    t = np.arange(0, 10, 1e-3)
    d = rng.normal(size=(t.size, 2))
    d[100:130, 0] = np.nan
    starts, lag = np.array([0.05, 2.0, 5.0]), 0.1
    binner = WindowBinner(starts, 30, BIN)
    got = binner.mean_in_bins([(t, d)] * 3, lag_s=lag)
    for i, s in enumerate(starts):
        for k in range(30):
            lo, hi = s + k * BIN + lag, s + (k + 1) * BIN + lag
            sel = (t >= lo - 1e-9) & (t < hi - 1e-9)  # edges with the 1 ns tolerance
            for c in range(2):
                x = d[sel, c]
                x = x[np.isfinite(x)]
                want = x.mean() if x.size else np.nan
                np.testing.assert_allclose(got[i, k, c], want, rtol=1e-5, equal_nan=True)


def test_signal_sampled_at_the_bin_rate_fills_every_bin():
    """Samples on bin edges (behaviour at the bin rate) must land one per bin despite float rounding."""
    rate, bin_s = 200.0, 0.005
    t = np.arange(0, 256 * 7) / rate
    d = np.arange(t.size, dtype=float)[:, None]
    starts = np.arange(7) * 256 * bin_s
    got = WindowBinner(starts, 256, bin_s).mean_in_bins([(t, d)] * 7)
    np.testing.assert_array_equal(got[..., 0], d[:, 0].reshape(7, 256))


@pytest.mark.parametrize("name,starts,n_bins,spikes", CASES, ids=[c[0] for c in CASES])
def test_sparse_counts_scatter_to_dense(name, starts, n_bins, spikes):
    times = edge_spikes(starts, n_bins) if spikes is None else spikes
    binner = WindowBinner(starts, n_bins, BIN)
    slot, c = binner.sparse_counts(times)
    assert np.all(c > 0) and np.unique(slot).size == slot.size
    dense = np.zeros(binner.shape, dtype=np.int64).ravel()
    dense[slot] = c
    np.testing.assert_array_equal(dense.reshape(binner.shape), naive_counts(times, starts, n_bins, BIN))
