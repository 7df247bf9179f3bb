"""The S4 denoiser of latent diffusion, conditioned through adaLN-Zero."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import DenoiserConfig
from .blocks import AdaLNZeroBlock


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of diffusion steps ``t`` (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half
    )  # (half,)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([args.cos(), args.sin()], -1)  # (B, 2 * half)
    return torch.nn.functional.pad(emb, (0, dim % 2))


class Denoiser(nn.Module):
    """Predicts the noise (or v) of noisy latents ``(batch, latent_dim, time)``.

    Inputs to the first 1x1 convolution: the noisy latents, the time-series conditions
    (``series_dim`` channels, zeroed when dropped), a "series present" channel and the mask
    channel (1 inside the trial). The conditioning vector is the step embedding's MLP plus the
    MLP of the trial-level condition, or a learned null vector where the condition is dropped
    (classifier-free guidance). A GNOCCHI code is dropped the same way, to a learned null code
    (``null_code``). The output convolution is scaled by 0.1 at init.
    """

    def __init__(self, *, config: DenoiserConfig):
        super().__init__()
        self.config = c = config
        n_in = c.latent_dim + c.series_dim + (1 if c.series_dim else 0) + 1
        self.inp = nn.Conv1d(n_in, c.hidden, 1)
        self.step_mlp = nn.Sequential(
            nn.Linear(c.embed_dim, c.embed_dim), nn.SiLU(), nn.Linear(c.embed_dim, c.embed_dim)
        )
        self.cond_mlp = None
        if c.cond_dim:
            self.cond_mlp = nn.Sequential(
                nn.Linear(c.cond_dim, c.embed_dim), nn.SiLU(), nn.Linear(c.embed_dim, c.embed_dim)
            )
            self.null_cond = nn.Parameter(torch.zeros(c.embed_dim))
        self.null_code = nn.Parameter(torch.zeros(c.code_dim)) if c.code_dim and c.null_code else None
        self.blocks = nn.ModuleList(
            AdaLNZeroBlock(channels=c.hidden, state_size=c.state_size, cond_dim=c.embed_dim, extra_cond_dim=c.code_dim)
            for _ in range(c.n_blocks)
        )
        self.out = nn.Conv1d(c.hidden, c.latent_dim, 1)
        with torch.no_grad():
            self.out.weight.mul_(0.1)
            self.out.bias.mul_(0.1)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
        series: torch.Tensor | None = None,
        drop: torch.Tensor | None = None,
        code: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Denoiser output (B, latent_dim, L).

        Parameters
        ----------
        x : (B, latent_dim, L) noisy latents.
        t : (B,) integer diffusion steps.
        mask : (B, 1, L) 1 inside each trial; None for all ones.
        cond : (B, cond_dim) trial-level conditions.
        series : (B, series_dim, L) time-series conditions.
        drop : (B,) bool, True where the conditions (and the code, given ``null_code``) are dropped.
        code : (B, code_dim) per-trial code (GNOCCHI).
        """
        c = self.config
        B, _, L = x.shape
        ones = torch.ones(B, 1, L, device=x.device, dtype=x.dtype)
        m = ones if mask is None else mask.to(x.dtype)  # (B, 1, L)
        keep = ones[:, 0, :1] if drop is None else (~drop).to(x.dtype)[:, None]  # (B, 1)
        parts = [x]
        if c.series_dim:
            if series is None:  # no time-series condition given: the unconditional branch
                series = torch.zeros(B, c.series_dim, L, device=x.device, dtype=x.dtype)
                keep_s = torch.zeros(B, 1, 1, device=x.device, dtype=x.dtype)
            else:
                keep_s = keep[..., None]  # (B, 1, 1)
            parts += [series.to(x.dtype) * keep_s, ones * keep_s]
        parts.append(m)
        h = self.inp(torch.cat(parts, 1))  # (B, C, L)
        if mask is not None:
            h = h * m
        emb = self.step_mlp(timestep_embedding(t, c.embed_dim))  # (B, E)
        if self.cond_mlp is not None:
            if cond is None:
                emb = emb + self.null_cond
            else:
                emb = emb + keep * self.cond_mlp(cond.to(emb.dtype)) + (1 - keep) * self.null_cond  # (B, E)
        if code is not None and drop is not None and self.null_code is not None:
            code = torch.where(drop[:, None], self.null_code.to(code.dtype), code)  # (B, K)
        for block in self.blocks:
            h = block(h, emb, None if mask is None else m, code)  # (B, C, L)
        out = self.out(h)  # (B, D, L)
        return out if mask is None else out * m
