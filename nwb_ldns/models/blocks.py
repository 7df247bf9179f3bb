"""Building blocks shared by the autoencoder and the denoiser: masked instance norm, S4 blocks."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from .s4 import S4D


def masked_instance_norm(x: torch.Tensor, mask: torch.Tensor | None, eps: float = 1e-5) -> torch.Tensor:
    """Normalise each (trial, channel) over time, using only the bins where ``mask`` is 1.

    ``x`` (batch, channels, time); ``mask`` (batch, 1, time) or None (all bins valid). Statistics
    in fp32 so that bf16 autocast does not lose them.
    """
    xf = x.float()
    if mask is None:  # the fused kernel is several times faster than the masked form
        return F.instance_norm(xf, eps=eps).to(x.dtype)
    else:
        m = mask.float()
        n = m.sum(-1, keepdim=True).clamp(min=1.0)  # (B, 1, 1)
        mean = (xf * m).sum(-1, keepdim=True) / n  # (B, C, 1)
        var = (((xf - mean) * m) ** 2).sum(-1, keepdim=True) / n  # (B, C, 1)
    return ((xf - mean) * torch.rsqrt(var + eps)).to(x.dtype)


class PointwiseMLP(nn.Module):
    """C -> expansion*C -> C over channels at every bin (1x1 convolutions)."""

    def __init__(self, *, channels: int, expansion: int = 2):
        super().__init__()
        self.fc1 = nn.Conv1d(channels, expansion * channels, 1)
        self.fc2 = nn.Conv1d(expansion * channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # (B, C, L)


class S4Block(nn.Module):
    """Autoencoder block: norm -> affine -> S4 -> GELU -> residual; norm -> MLP -> residual."""

    def __init__(self, *, channels: int, state_size: int, bidirectional: bool):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels, 1))
        self.shift = nn.Parameter(torch.zeros(channels, 1))
        self.s4 = S4D(channels=channels, state_size=state_size, bidirectional=bidirectional)
        self.mlp = PointwiseMLP(channels=channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = masked_instance_norm(x, mask) * self.scale + self.shift  # (B, C, L)
        if mask is not None:  # padding must enter the (possibly backward) convolution as zeros
            h = h * mask
        x = x + F.gelu(self.s4(h))  # (B, C, L)
        x = x + self.mlp(masked_instance_norm(x, mask))  # (B, C, L)
        return x if mask is None else x * mask


class AdaLNZeroBlock(nn.Module):
    """Denoiser block (DiT adaLN-Zero around a bidirectional S4).

    A conditioning vector gives shift/scale/gate for the S4 branch and for the MLP branch; the
    projection is zero-initialised so every block starts as the identity. ``extra_cond_dim`` adds
    a second, independent modulation (GNOCCHI's per-trial code) applied after the first.
    """

    def __init__(
        self, *, channels: int, state_size: int, cond_dim: int, bidirectional: bool = True, extra_cond_dim: int = 0
    ):
        super().__init__()
        self.s4 = S4D(channels=channels, state_size=state_size, bidirectional=bidirectional)
        self.mlp = PointwiseMLP(channels=channels)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * channels))
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)
        self.extra = None
        if extra_cond_dim:
            self.extra = nn.Sequential(nn.SiLU(), nn.Linear(extra_cond_dim, 4 * channels))
            nn.init.zeros_(self.extra[1].weight)
            nn.init.zeros_(self.extra[1].bias)

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor | None = None, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x`` (B, C, L), ``cond`` (B, cond_dim), ``mask`` (B, 1, L), ``extra`` (B, extra_cond_dim)."""
        sh1, sc1, g1, sh2, sc2, g2 = self.modulation(cond)[..., None].chunk(6, dim=1)  # each (B, C, 1)
        if self.extra is not None and extra is not None:
            esh1, esc1, esh2, esc2 = self.extra(extra)[..., None].chunk(4, dim=1)  # each (B, C, 1)
        else:
            esh1 = esc1 = esh2 = esc2 = None
        h = masked_instance_norm(x, mask) * (1 + sc1) + sh1  # (B, C, L)
        if esc1 is not None:
            h = h * (1 + esc1) + esh1
        if mask is not None:  # padding must enter the backward convolution as zeros
            h = h * mask
        x = x + g1 * F.gelu(self.s4(h))  # (B, C, L)
        h = masked_instance_norm(x, mask) * (1 + sc2) + sh2  # (B, C, L)
        if esc2 is not None:
            h = h * (1 + esc2) + esh2
        x = x + g2 * self.mlp(h)  # (B, C, L)
        return x if mask is None else x * mask


@contextlib.contextmanager
def compiled_blocks(module: nn.Module, enabled: bool = True):
    """Within the block, every S4 block of ``module`` runs compiled by ``torch.compile``.

    The blocks are compiled in place (``nn.Module.compile``), so parameter names, state dicts,
    DDP and optimisers see the same module; the S4 FFTs stay eager (no code generation for
    complex ops) and the randomness of the losses stays outside the compiled code. Copies
    (``copy.deepcopy``) run eagerly. On leaving, the blocks run eagerly again.
    """
    blocks = [m for m in module.modules() if isinstance(m, (S4Block, AdaLNZeroBlock))] if enabled else []
    for b in blocks:
        b.compile()
    try:
        yield module
    finally:
        for b in blocks:
            b._compiled_call_impl = None  # what nn.Module.compile set: back to the eager call
