"""Random numbers for a training batch, handed out by rows, so that a batch trains alike however it is split.

Training losses draw their noise (coordinated-dropout masks, diffusion steps and noise, cond
drop-out) through :class:`BatchRandom` instead of a bare ``torch.Generator``. The k-th draw of a
step is made once, for the whole global batch, and each piece of the batch (a CPU micro-batch,
one process's share under torchrun) takes its own rows of it. Every trial therefore sees the
same noise whether the step runs in one process or several, in one piece or many; only the
order of floating-point sums differs.
"""

from __future__ import annotations

import torch


class BatchRandom:
    """The random draws of one global batch of ``n`` trials, seen through ``rows`` of it.

    Parameters
    ----------
    generator : torch.Generator or None
        Source of the draws (the global RNG when None); on the device the draws are made on.
    n : int
        Trials in the global batch.
    device : torch.device
    rows : (b,) long tensor of positions in the global batch, or None for all ``n``.
    """

    def __init__(
        self,
        generator: torch.Generator | None,
        n: int,
        device: torch.device | str,
        rows: torch.Tensor | None = None,
        _draws: list | None = None,
    ):
        self.generator, self.n, self.device = generator, n, torch.device(device)
        self.rows = rows
        self._draws = [] if _draws is None else _draws  # shared by every view of this batch
        self._calls = 0

    @classmethod
    def of(cls, rng: "BatchRandom | torch.Generator | None", n: int, device) -> "BatchRandom":
        """``rng`` itself, or a BatchRandom over ``n`` trials drawing from a generator (or the global RNG)."""
        if isinstance(rng, BatchRandom):
            return rng
        return cls(rng, n, device)

    def take(self, rows: torch.Tensor) -> "BatchRandom":
        """A view for the trials at ``rows`` of the global batch; views share the draws."""
        return BatchRandom(self.generator, self.n, self.device, rows.to(self.device), self._draws)

    def _draw(self, kind: str, shape: tuple[int, ...], make) -> torch.Tensor:
        b = self.n if self.rows is None else len(self.rows)
        if shape[0] != b:
            raise ValueError(f"a draw of {shape[0]} rows from a view of {b} trials")
        k, self._calls = self._calls, self._calls + 1
        full = (self.n, *shape[1:])
        if k == len(self._draws):
            self._draws.append((kind, full, make(full)))
        kind0, full0, values = self._draws[k]
        if (kind0, full0) != (kind, full):  # every piece must make the same draws in the same order
            raise RuntimeError(f"draw {k} of this batch was {kind0}{full0} in another piece, {kind}{full} here")
        return values if self.rows is None else values.index_select(0, self.rows)

    def rand(self, *shape: int) -> torch.Tensor:
        """Uniform [0, 1) of ``shape`` (first axis: trials)."""
        return self._draw("rand", shape, lambda s: torch.rand(s, device=self.device, generator=self.generator))

    def randn(self, *shape: int) -> torch.Tensor:
        """Standard normal of ``shape`` (first axis: trials)."""
        return self._draw("randn", shape, lambda s: torch.randn(s, device=self.device, generator=self.generator))

    def randint(self, high: int, *shape: int) -> torch.Tensor:
        """Integers in [0, high) of ``shape`` (first axis: trials)."""
        return self._draw(
            f"randint{high}", shape, lambda s: torch.randint(0, high, s, device=self.device, generator=self.generator)
        )
