"""GNOCCHI: InfoDiffusion on LDNS latents. A code encoder maps each trial to a static code that
conditions the denoiser; an MMD term pulls the codes' aggregate distribution to N(0, I)."""

from __future__ import annotations

import torch
from torch import nn

from ..config import DenoiserConfig, GnocchiConfig
from .blocks import S4Block
from .code_prior import CodePrior
from .denoiser import Denoiser


class CodeEncoder(nn.Module):
    """Trial (batch, channels, time) -> deterministic code (batch, code_dim).

    A 1x1 convolution, bidirectional S4 blocks, a mean over the valid bins and a linear map. The
    channels are the z-scored latents (``latent_dim``), or with ``config.encoder_input`` counts
    the log1p spike counts (``n_neurons``): :meth:`inputs` picks them.
    """

    def __init__(self, *, latent_dim: int, config: GnocchiConfig, n_neurons: int | None = None):
        super().__init__()
        c = config
        self.reads_counts = c.encoder_input == "counts"
        if self.reads_counts and not n_neurons:
            raise ValueError("a code encoder that reads counts needs n_neurons")
        self.inp = nn.Conv1d((n_neurons if self.reads_counts else latent_dim) + 1, c.encoder_hidden, 1)
        self.blocks = nn.ModuleList(
            S4Block(channels=c.encoder_hidden, state_size=c.encoder_state_size, bidirectional=True)
            for _ in range(c.encoder_blocks)
        )
        self.norm = nn.LayerNorm(c.encoder_hidden)
        self.out = nn.Linear(c.encoder_hidden, c.code_dim)

    def inputs(self, z: torch.Tensor | None, counts: torch.Tensor | None) -> torch.Tensor:
        """What the encoder reads: z-scored latents z (B, D, L), or log1p of counts (B, N, L)."""
        return torch.log1p(counts.float()) if self.reads_counts else z

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: what :meth:`inputs` gives (B, D or N, L); mask (B, 1, L) of valid bins or None."""
        B, _, L = x.shape
        m = torch.ones(B, 1, L, device=x.device, dtype=x.dtype) if mask is None else mask.to(x.dtype)  # (B, 1, L)
        h = self.inp(torch.cat([x * m, m], 1))  # (B, C, L)
        for block in self.blocks:
            h = block(h, None if mask is None else m)  # (B, C, L)
        pooled = (h * m).sum(-1) / m.sum(-1).clamp(min=1.0)  # (B, C) mean over the valid bins
        return self.out(self.norm(pooled))  # (B, code_dim)


class InfoDiffusion(nn.Module):
    """The trained pair: ``encoder`` (codes) and ``denoiser`` (conditioned on them), and with
    ``prior`` the code prior, fitted after them on their codes (None in models saved without one)."""

    def __init__(
        self, *, denoiser: DenoiserConfig, config: GnocchiConfig, n_neurons: int | None = None, prior: bool = False
    ):
        super().__init__()
        self.config = config
        self.encoder = CodeEncoder(latent_dim=denoiser.latent_dim, config=config, n_neurons=n_neurons)
        self.denoiser = Denoiser(config=denoiser)
        self.prior = (
            CodePrior(code_dim=config.code_dim, hidden=config.prior_hidden, n_layers=config.prior_layers)
            if prior
            else None
        )


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, sigma2: float | None = None) -> torch.Tensor:
    """Biased estimate of MMD^2 between samples ``x`` (n, d) and ``y`` (m, d).

    Kernel exp(-|a - b|^2 / (2 sigma2)), sigma2 = d by default (InfoVAE's choice), so the
    kernel's reach grows with the code size.
    """
    s2 = float(x.shape[1]) if sigma2 is None else sigma2

    def k(a, b):
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * s2))  # (n, m)

    return k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()
