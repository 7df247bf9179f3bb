"""Per-entry losses and their masked reduction, shared by the autoencoder, the denoiser and the observation models."""

from __future__ import annotations

import torch


def poisson_nll(rates: torch.Tensor, counts: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Full Poisson negative log-likelihood per entry, ``r - k log r + log k!``."""
    return rates - counts * torch.log(rates + eps) + torch.lgamma(counts + 1)


def reduce_per_trial(per: torch.Tensor, mask: torch.Tensor | None, *, reduction: str = "mean") -> torch.Tensor:
    """Mean of ``per`` (B, C, L) over each trial's valid entries ((B,) with ``reduction="trial"``), or over
    the trials' means; ``mask`` (B, 1 or C, L) marks the valid bins, None all."""
    if mask is None:
        out = per.mean((1, 2))  # (B,)
    else:
        m = mask.expand_as(per)
        out = (per * m).sum((1, 2)) / m.sum((1, 2)).clamp(min=1.0)  # (B,)
    return out if reduction == "trial" else out.mean()
