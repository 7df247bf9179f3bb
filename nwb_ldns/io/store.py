"""Generated trials batch by batch, so that any number of trials is written with flat memory.

Every synthetic file is written from a :class:`SyntheticStore`: ``generate_to_file`` appends
each sampled batch to one in a scratch folder beside the output; trials already in memory (a
:class:`~nwb_ldns.generate.Synthetic`) are added to one held in memory, batch by batch as they
were sampled, so both give the same file. The store keeps latents and rates time-first and
spikes as times sorted by unit within each batch; the NWB writer reads them back through
:class:`Pieces`, an hdmf chunk iterator, one batch (or one unit's spike train) at a time. Scratch
files are read with plain reads, not memory maps, so pages already written out do not stay
resident.
"""

from __future__ import annotations

import bisect
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
from hdmf.data_utils import AbstractDataChunkIterator, DataChunk

from .spikes import spike_times_from_counts

CHUNK_BYTES = 1 << 20  # ~1 MiB chunks in the written datasets


class Pieces(AbstractDataChunkIterator):
    """A dataset written piece by piece along its first axis.

    Parameters
    ----------
    pieces : list of (rows, read) pairs; ``read()`` returns the piece, shaped (rows, *tail)
    dtype : numpy dtype of the dataset
    tail : shape after the first axis
    """

    def __init__(self, pieces: list[tuple[int, Callable[[], np.ndarray]]], *, dtype, tail: tuple[int, ...] = ()):
        self._pieces = [p for p in pieces if p[0] > 0]
        self._dtype, self._tail = np.dtype(dtype), tuple(tail)
        self._rows = int(sum(p[0] for p in self._pieces))
        self._next, self._start = 0, 0

    def __iter__(self):
        return self

    def __next__(self) -> DataChunk:
        if self._next >= len(self._pieces):
            raise StopIteration
        rows, read = self._pieces[self._next]
        self._next += 1
        data = np.ascontiguousarray(read(), dtype=self._dtype)
        if data.shape != (rows, *self._tail):
            raise ValueError(f"a piece of {data.shape}, expected {(rows, *self._tail)}")
        # every axis bounded: hdmf sizes the dataset from the selection's stops
        sel = (slice(self._start, self._start + rows), *(slice(0, n) for n in self._tail))
        self._start += rows
        return DataChunk(data=data, selection=sel)

    next = __next__

    def map(self, fn: Callable[[np.ndarray], np.ndarray]) -> Pieces:
        """The same pieces, each passed through ``fn`` as it is read."""
        return Pieces(
            [(rows, lambda r=read: fn(r())) for rows, read in self._pieces], dtype=self._dtype, tail=self._tail
        )

    def recommended_chunk_shape(self) -> tuple[int, ...]:
        per_row = self._dtype.itemsize * int(np.prod(self._tail, dtype=np.int64))
        return (max(1, min(self._rows, CHUNK_BYTES // max(per_row, 1))), *self._tail)

    def recommended_data_shape(self) -> tuple[int, ...]:
        return (self._rows, *self._tail)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def maxshape(self) -> tuple[int, ...]:
        return (self._rows, *self._tail)

    @property
    def shape(self) -> tuple[int, ...]:
        # hdmf measures columns (a VectorIndex's target, a table's length) by ``shape[0]``
        return (self._rows, *self._tail)

    def __len__(self) -> int:
        return self._rows


class _Appendable:
    """Rows (dtype, width) appended and read back by row ranges: a raw binary file, or in memory
    when ``path`` is None."""

    def __init__(self, path: Path | None, dtype, width: int | None):
        self.path, self.dtype, self.width = path, np.dtype(dtype), width
        self.rows = 0
        self._fh = None if path is None else open(path, "wb")
        self._parts: list[np.ndarray] = []  # in memory
        self._starts: list[int] = []

    def append(self, a: np.ndarray) -> int:
        """Append rows; return the first row's index."""
        start = self.rows
        a = np.ascontiguousarray(a, dtype=self.dtype)
        if self._fh is None:
            self._parts.append(a)
            self._starts.append(start)
        else:
            self._fh.write(a.tobytes())
        self.rows += a.shape[0]
        return start

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()

    def read(self, start: int, stop: int) -> np.ndarray:
        if self._fh is None:
            first = max(bisect.bisect_right(self._starts, start) - 1, 0)
            last = bisect.bisect_left(self._starts, stop)
            a = np.concatenate(self._parts[first:last]) if last > first else self._parts[0][:0]
            return a[start - self._starts[first] : stop - self._starts[first]]
        per = self.dtype.itemsize * (self.width or 1)
        with open(self.path, "rb") as fh:
            fh.seek(start * per)
            a = np.fromfile(fh, dtype=self.dtype, count=(stop - start) * (self.width or 1))
        return a if self.width is None else a.reshape(stop - start, self.width)


class SyntheticStore:
    """Generated trials, added one batch at a time, in a scratch folder or (``scratch=None``) in memory.

    Attributes mirror :class:`nwb_ldns.generate.Synthetic` where the NWB writer needs them
    (``n_trials``, ``n_bins``, ``n_units``, ``latent_dim``, ``bin_s``, ``settings``,
    ``condition``, ``codes``); ``n_bins`` is the longest trial's bins, ``lengths`` every trial's.
    Only the bins inside each trial are kept: trials of different lengths follow each other
    without padding.
    """

    def __init__(
        self,
        scratch: str | Path | None,
        *,
        n_units: int,
        latent_dim: int,
        n_bins: int,
        bin_s: float,
        seed: int,
    ):
        self.scratch = None if scratch is None else Path(scratch)
        if self.scratch is not None:
            self.scratch.mkdir(parents=True)
        where = (lambda name: None) if self.scratch is None else (lambda name: self.scratch / name)
        self.n_units, self.latent_dim, self.n_bins, self.bin_s, self.seed = n_units, latent_dim, n_bins, bin_s, seed
        self._latents = _Appendable(where("latents.f32"), np.float32, latent_dim)
        self._rates = _Appendable(where("rates.f32"), np.float32, n_units)
        self._spikes = _Appendable(where("spikes.f64"), np.float64, None)
        self._batches: list[tuple[int, int, np.ndarray]] = []  # (first row, rows, per-unit spike offsets (N + 1,))
        self._lengths: list[np.ndarray] = []
        self.n_trials = 0
        self.settings: dict = {}
        self.condition: np.ndarray | None = None
        self.codes: np.ndarray | None = None

    @classmethod
    def holding(cls, syn) -> SyntheticStore:
        """An in-memory store of a :class:`~nwb_ldns.generate.Synthetic`, batch by batch as it was sampled."""
        n, N, L = syn.counts.shape
        store = cls(
            None, n_units=N, latent_dim=syn.latents.shape[1], n_bins=L, bin_s=syn.bin_s, seed=syn.settings["seed"]
        )
        b = int(syn.settings.get("batch_size") or n or 1)
        for i in range(0, n, b):
            lengths = None if syn.lengths is None else syn.lengths[i : i + b]
            store.add(syn.counts[i : i + b], syn.rates[i : i + b], syn.latents[i : i + b], lengths)
        store.close()
        store.settings, store.condition, store.codes = syn.settings, syn.condition, syn.codes
        return store

    def add(
        self, counts: np.ndarray, rates: np.ndarray, latents: np.ndarray, lengths: np.ndarray | None = None
    ) -> None:
        """Append a batch: counts and rates (b, N, L), latents (b, D, L), the next trials in time;
        ``lengths`` (b,) the bins inside each trial (None: all ``L``), the rest padding."""
        b, N, L = counts.shape
        lengths = np.full(b, L, dtype=np.int64) if lengths is None else np.asarray(lengths, dtype=np.int64)
        valid = np.arange(L)[None] < lengths[:, None]  # (b, L)
        k = len(self._batches)
        row = self._latents.append(latents.transpose(0, 2, 1)[valid])  # (bins, D)
        self._rates.append(rates.transpose(0, 2, 1)[valid])  # (bins, N)
        flat = counts.transpose(1, 0, 2)[:, valid]  # (N, bins)
        offsets = np.full(N + 1, self._spikes.rows, dtype=np.int64)  # unit u: rows offsets[u]:offsets[u + 1]
        for u in range(N):  # this batch's spikes, unit after unit; the batch is the placement's part
            times = spike_times_from_counts(flat[u], self.bin_s, seed=self.seed, unit=u, part=k, offset_bins=row)
            self._spikes.append(times)
            offsets[u + 1] = self._spikes.rows
        self._batches.append((row, int(lengths.sum()), offsets))
        self._lengths.append(lengths)
        self.n_trials += b

    def close(self) -> None:
        for f in (self._latents, self._rates, self._spikes):
            f.close()

    def remove(self) -> None:
        self.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    # ---- reading back -------------------------------------------------------------------------
    @property
    def lengths(self) -> np.ndarray:
        """(trial,) bins inside each trial."""
        return np.concatenate(self._lengths) if self._lengths else np.zeros(0, dtype=np.int64)

    @property
    def variable_length(self) -> bool:
        return bool((self.lengths < self.n_bins).any())

    def spike_counts(self) -> np.ndarray:
        """(N,) spikes per unit over all trials."""
        return sum((np.diff(o) for _, _, o in self._batches), np.zeros(self.n_units, dtype=np.int64))

    def spike_pieces(self) -> Pieces:
        """Every unit's spike train after the other: the Units table's ``spike_times`` column.

        A piece is a run of (unit, batch) segments of about ``CHUNK_BYTES``, so one unit's train
        over many trials is never held whole.
        """
        per = CHUNK_BYTES // 8
        pieces, group, rows = [], [], 0
        for u in range(self.n_units):
            for _, _, o in self._batches:
                if o[u + 1] > o[u]:
                    group.append((int(o[u]), int(o[u + 1])))
                    rows += int(o[u + 1] - o[u])
                if rows >= per:
                    pieces.append((rows, lambda g=tuple(group): self._read_segments(g)))
                    group, rows = [], 0
        if rows:
            pieces.append((rows, lambda g=tuple(group): self._read_segments(g)))
        return Pieces(pieces, dtype=np.float64)

    def _read_segments(self, segments) -> np.ndarray:
        return np.concatenate([self._spikes.read(a, b) for a, b in segments])

    def series_pieces(self, name: str, scale: float = 1.0) -> Pieces:
        """``latents`` or ``rates`` time-first (bins, channel), one batch per piece, times ``scale``."""
        f = {"latents": self._latents, "rates": self._rates}[name]
        return Pieces(
            [(rows, lambda s=start, r=rows: f.read(s, s + r) * np.float32(scale)) for start, rows, _ in self._batches],
            dtype=np.float32,
            tail=(f.width,),
        )
