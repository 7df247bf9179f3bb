"""The baseline GNOCCHI is measured against: a VAE with one static latent per trial (the size of
GNOCCHI's code) that reconstructs the trial's autoencoder latents, encoding what GNOCCHI's code
encoder reads (the latents, or the spike counts)."""

from __future__ import annotations

import torch
from torch import nn

from ..config import GnocchiConfig
from .batch_random import BatchRandom
from .blocks import S4Block
from .infodiffusion import CodeEncoder


class StaticVAE(nn.Module):
    """Encoder: the GNOCCHI code encoder with 2 x code_dim outputs (mean, log variance).
    Decoder: the code -> a hidden state added to a learned per-bin embedding -> bidirectional S4
    blocks -> latent trajectory ``(batch, latent_dim, n_bins)``."""

    def __init__(
        self, *, latent_dim: int, n_bins: int, config: GnocchiConfig, beta: float = 1.0, n_neurons: int | None = None
    ):
        super().__init__()
        self.code_dim, self.beta = config.code_dim, beta
        c = config.replace(code_dim=2 * config.code_dim)
        self.encoder = CodeEncoder(latent_dim=latent_dim, config=c, n_neurons=n_neurons)
        self.lift = nn.Linear(config.code_dim, config.encoder_hidden)
        self.position = nn.Parameter(torch.randn(config.encoder_hidden, n_bins) * 0.1)
        self.blocks = nn.ModuleList(
            S4Block(channels=config.encoder_hidden, state_size=config.encoder_state_size, bidirectional=True)
            for _ in range(config.encoder_blocks)
        )
        self.out = nn.Conv1d(config.encoder_hidden, latent_dim, 1)

    def encode(self, z: torch.Tensor, counts: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents (B, D, L) (and counts (B, N, L) for an encoder that reads them) -> mean and log
        variance of the code, each (B, code_dim)."""
        h = self.encoder(self.encoder.inputs(z, counts))  # (B, 2K)
        return h[:, : self.code_dim], h[:, self.code_dim :].clamp(-10, 10)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """(B, code_dim) -> latent trajectory (B, D, L)."""
        h = self.lift(code)[:, :, None] + self.position[None]  # (B, C, L)
        for block in self.blocks:
            h = block(h)  # (B, C, L)
        return self.out(h)  # (B, D, L)

    def loss(
        self,
        z: torch.Tensor,
        rng: BatchRandom | torch.Generator | None = None,
        *,
        counts: torch.Tensor | None = None,
        reduction: str = "mean",
    ) -> torch.Tensor:
        """Negative ELBO per latent entry: MSE reconstruction + beta KL(q(code | z) || N(0, I)).

        Per trial ((B,)) with ``reduction="trial"``, else the mean over trials.
        """
        mu, logvar = self.encode(z, counts)
        eps = BatchRandom.of(rng, z.shape[0], z.device).randn(*mu.shape)  # (B, K)
        rec = self.decode(mu + (0.5 * logvar).exp() * eps)  # (B, D, L)
        mse = ((rec - z) ** 2).mean((1, 2))  # (B,)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1) / (z.shape[1] * z.shape[2])  # (B,)
        per = mse + self.beta * kl
        return per if reduction == "trial" else per.mean()
