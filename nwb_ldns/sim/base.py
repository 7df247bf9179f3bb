"""What every simulated session shares: Poisson counts per unit and spike times on a sample grid."""

from __future__ import annotations

import numpy as np

from ..io.spikes import spike_times_from_counts


class PoissonSession:
    """Mixin for simulations with ``config`` (``seed``, ``bin_s``, ``n_neurons``, ``sampling_rate``)
    and ``rates(unit)`` -> expected counts per bin (trial, time); trials lie back to back.

    Counts and spike times of a unit depend only on (seed, unit), so units can be drawn one at a
    time, in any order, and re-binning the spike times at ``bin_s`` gives the counts back.
    """

    def counts(self, unit: int) -> np.ndarray:
        """Poisson spike counts of one unit, (trial, time); the same for the same seed and unit."""
        rng = np.random.default_rng([self.config.seed, 1, unit])
        return rng.poisson(self.rates(unit)).astype(np.int64)

    def spike_times(self, unit: int) -> np.ndarray:
        """Sorted spike times (s) of one unit, on the sample grid strictly inside each bin."""
        cfg = self.config
        return spike_times_from_counts(
            self.counts(unit).ravel(), cfg.bin_s, seed=cfg.seed, unit=unit, sampling_rate=cfg.sampling_rate
        )

    def total_counts(self) -> np.ndarray:
        """Spikes per unit over the whole session."""
        return np.array([self.counts(u).sum() for u in range(self.config.n_neurons)])
