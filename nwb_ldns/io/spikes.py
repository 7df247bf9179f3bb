"""Spike times from spike counts: the one placement every writer and simulator uses."""

from __future__ import annotations

import numpy as np

#: grid of written spike times (Units.resolution = 1 / SAMPLING_RATE)
SAMPLING_RATE = 30000.0


def spike_times_from_counts(
    counts: np.ndarray,
    bin_s: float,
    *,
    seed: int,
    unit: int,
    part: int = 0,
    offset_bins: int = 0,
    sampling_rate: float = SAMPLING_RATE,
) -> np.ndarray:
    """Sorted spike times (s) of one unit from its counts per bin (flattened over trials).

    Spikes fall on a ``sampling_rate`` grid strictly inside their bin, never on a bin edge, so
    re-binning the times at ``bin_s`` gives the counts back. Where in its bin a spike falls is
    drawn from a generator seeded by ``(seed, unit, part)`` alone, so units and parts (batches of
    trials written one after the other) can be placed in any order.

    Parameters
    ----------
    counts : (n_bins,) spikes per bin, non-negative integers
    bin_s : bin width in seconds
    seed, unit, part : the placement's seed; ``part`` numbers the pieces of a long train
    offset_bins : global index of ``counts``' first bin (time 0 is bin 0's start)
    sampling_rate : the grid, Hz
    """
    spb = int(round(bin_s * sampling_rate))
    bins = np.repeat(np.arange(counts.size) + offset_bins, np.asarray(counts).astype(np.int64))  # bin per spike
    rng = np.random.default_rng([int(seed), 2, int(unit), int(part)])
    samples = bins * spb + rng.integers(1, max(spb, 2), size=bins.size)  # never on a bin edge
    return np.sort(samples) / sampling_rate
