"""GNOCCHI's code prior: a small diffusion model over the per-trial codes (InfoDiffusion's latent
prior), so trials generated without given codes start from codes distributed like the data's.

The MMD term only pulls the codes' aggregate toward N(0, I) (at a weight of 0.1 beside the
denoising and reconstruction terms), so codes drawn from N(0, I) need not look like any trial's.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import DiffusionConfig
from .denoiser import timestep_embedding


class CodePrior(nn.Module):
    """Predicts the noise (or v) of noisy, standardised codes ``(batch, code_dim, 1)``.

    An MLP with residual layers; the step embedding is added to the hidden state. ``code_mean``
    and ``code_std`` (buffers, saved with the weights) standardise the codes it models. Its own
    diffusion objective (:attr:`diffusion`): v targets with an MSE loss, the default schedule; on
    two tight clusters of 2-d codes (1500 steps) 98 % of samples fell within 3 sd of a cluster,
    against 81 % for epsilon targets with the smooth-L1 loss of the latent denoiser.
    """

    def __init__(self, *, code_dim: int, hidden: int = 256, n_layers: int = 3, embed_dim: int = 64):
        super().__init__()
        self.embed_dim = embed_dim
        self.diffusion = DiffusionConfig(prediction="v", loss="mse")
        self.inp = nn.Linear(code_dim, hidden)
        self.step = nn.Sequential(nn.Linear(embed_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.layers = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
            for _ in range(n_layers)
        )
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, code_dim))
        self.register_buffer("code_mean", torch.zeros(code_dim))
        self.register_buffer("code_std", torch.ones(code_dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x`` (B, code_dim, 1) noisy standardised codes, ``t`` (B,) steps -> (B, code_dim, 1)."""
        h = self.inp(x[..., 0]) + self.step(timestep_embedding(t, self.embed_dim))  # (B, H)
        for layer in self.layers:
            h = h + layer(h)  # (B, H)
        return self.out(h)[..., None]  # (B, K, 1)

    def standardise(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, K) -> the (B, K, 1) standardised form the model works in."""
        return ((codes - self.code_mean) / self.code_std)[..., None]

    def unstandardise(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K, 1) standardised -> codes (B, K)."""
        return x[..., 0] * self.code_std + self.code_mean
