"""Counting spikes, observation masks and behaviour in many trial windows at once.

Every window ``i`` is ``n_bins[i]`` half-open bins ``[e_k, e_{k+1})`` with edges
``e_k = starts[i] + k * bin_s``. Windows are padded to the longest into ``(trial, time)``.
A unit is counted with one ``searchsorted`` of its sorted spike times into all edges of all
windows (when the windows are sorted and do not overlap) or of all edges into its spikes (when
they overlap); both are exact with respect to the edges above and are checked against a per-unit
``np.histogram`` in the tests.
"""

from __future__ import annotations

import numpy as np

EDGE_TOL_S = 1e-9


class WindowBinner:
    """Precomputed edges of many windows, shared by every unit and behaviour series.

    Parameters
    ----------
    starts : array_like, shape (n_windows,)
        Window starts in seconds.
    n_bins : int or array_like of int, shape (n_windows,)
        Bins per window (an int means the same for all).
    bin_s : float
        Bin width in seconds.
    """

    def __init__(self, starts, n_bins, bin_s: float):
        self.starts = np.asarray(starts, dtype=np.float64)
        n = self.starts.size
        self.n_bins = np.broadcast_to(np.asarray(n_bins, dtype=np.int64), (n,)).copy()
        if np.any(self.n_bins < 1):
            raise ValueError("every window needs at least one bin")
        self.bin_s = float(bin_s)
        self.max_bins = int(self.n_bins.max()) if n else 0
        # flat edges: window i owns positions offsets[i] .. offsets[i] + n_bins[i]
        self.offsets = np.concatenate([[0], np.cumsum(self.n_bins + 1)[:-1]]).astype(np.int64)
        window_of_edge = np.repeat(np.arange(n), self.n_bins + 1)
        k = np.arange(self.offsets[-1] + self.n_bins[-1] + 1 if n else 0) - self.offsets[window_of_edge]
        self.edges = self.starts[window_of_edge] + k * self.bin_s  # (n_edges,)
        is_left = k < self.n_bins[window_of_edge]  # edges that open a bin
        self._left = np.flatnonzero(is_left)  # flat edge index of each bin's left edge
        self._slot = window_of_edge[is_left] * self.max_bins + k[is_left]  # padded (trial*time) slot
        self.sorted = bool(n == 0 or np.all(np.diff(self.edges) >= 0))
        self._edge_slot = np.full(self.edges.size, -1, dtype=np.int64)
        self._edge_slot[self._left] = self._slot

    @property
    def shape(self) -> tuple[int, int]:
        return (self.starts.size, self.max_bins)

    @property
    def stops(self) -> np.ndarray:
        return self.starts + self.n_bins * self.bin_s

    def valid(self) -> np.ndarray:
        """Mask (trial, time): True for bins inside each window, False for padding."""
        return np.arange(self.max_bins)[None, :] < self.n_bins[:, None]

    def sparse_counts(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Non-zero counts of one unit as (flat slot in (trial * time), count); ``times`` sorted, in s.

        Costs O(spikes log edges) and never touches the empty bins, which at 5 ms is most of them.
        """
        times = np.asarray(times, dtype=np.float64)
        if self.starts.size == 0 or times.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if self.sorted:
            lo, hi = np.searchsorted(times, [self.edges[0], self.edges[-1]], side="left")
            idx = np.searchsorted(self.edges, times[lo:hi], side="right") - 1  # edge opening the bin
            slot = self._edge_slot[idx]
            slot = slot[slot >= 0]  # drop spikes in the gaps between windows
            if slot.size == 0:
                return slot, slot
            # sorted spikes in sorted windows: slots are non-decreasing, so counts are run lengths
            first = np.flatnonzero(np.diff(slot, prepend=-1))
            return slot[first], np.diff(np.append(first, slot.size))
        cum = np.searchsorted(times, self.edges, side="left")  # spikes before each edge
        c = cum[self._left + 1] - cum[self._left]
        nz = c > 0
        return self._slot[nz], c[nz]

    def counts(self, times: np.ndarray) -> np.ndarray:
        """Spike counts (trial, time) of one unit; ``times`` sorted ascending, in seconds."""
        flat = np.zeros(self.starts.size * self.max_bins, dtype=np.int64)
        slot, c = self.sparse_counts(times)
        flat[slot] = c
        return flat.reshape(self.shape)

    def observed(self, intervals: np.ndarray) -> np.ndarray:
        """Mask (trial, time): True where the whole bin lies inside one observation interval."""
        iv = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
        out = np.zeros(self.starts.size * self.max_bins, dtype=bool)
        if iv.size == 0:
            return out.reshape(self.shape)
        iv = iv[np.argsort(iv[:, 0], kind="stable")]
        left, right = self.edges[self._left], self.edges[self._left + 1]
        j = np.searchsorted(iv[:, 0], left, side="right") - 1
        # intervals may overlap: the furthest stop reached by any interval starting before the bin
        reach = np.maximum.accumulate(iv[:, 1])
        ok = (j >= 0) & (right <= reach[np.maximum(j, 0)])
        out[self._slot] = ok
        return out.reshape(self.shape)

    def mean_in_bins(self, samples: list[tuple[np.ndarray, np.ndarray]], lag_s: float = 0.0) -> np.ndarray:
        """Average a sampled signal in every bin.

        Parameters
        ----------
        samples : list of (timestamps (m,), data (m, channels))
            One pair per window, holding at least the samples in ``[start + lag, stop + lag)``.
        lag_s : float
            The signal at ``t + lag`` is assigned to the bin at ``t`` (behaviour lagging spikes).

        Returns
        -------
        ndarray, shape (trial, time, channels)
            float32; NaN where a bin holds no finite sample, and in the padding.
        """
        n_ch = next((d.shape[1] for _, d in samples if d.ndim == 2), 1)
        out = np.full(self.shape + (n_ch,), np.nan, dtype=np.float32)
        for i, (t, d) in enumerate(samples):
            nb = int(self.n_bins[i])
            edges = self.starts[i] + np.arange(nb + 1) * self.bin_s + lag_s
            # a sample 1 ns before an edge is on it: signals sampled at the bin rate put their
            # samples on the edges, where float rounding would otherwise pick the bin at random
            b = np.searchsorted(edges - EDGE_TOL_S, t, side="right") - 1
            d = np.asarray(d, dtype=np.float64).reshape(len(t), n_ch)
            keep = (b >= 0) & (b < nb)
            b, d = b[keep], d[keep]
            finite = np.isfinite(d)
            for c in range(n_ch):
                total = np.bincount(b[finite[:, c]], weights=d[finite[:, c], c], minlength=nb)
                count = np.bincount(b[finite[:, c]], minlength=nb)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[i, :nb, c] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        return out
