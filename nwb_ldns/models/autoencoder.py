"""The LDNS autoencoder: binned spikes -> smooth low-dimensional latents -> Poisson rates."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import AutoencoderConfig
from .batch_random import BatchRandom
from .blocks import S4Block
from .losses import poisson_nll


class Autoencoder(nn.Module):
    """S4 encoder and pointwise decoder, ``(batch, neurons, time)`` counts in and rates out.

    The encoder is a 1x1 convolution to ``hidden`` channels, ``n_blocks`` S4 blocks and a 1x1
    bottleneck to ``latent_dim``; the decoder is pointwise in time (latent -> hidden -> GELU ->
    neurons -> softplus), so all temporal structure lives in the latents. Causal encoders
    (``bidirectional=False``) make the latents of a bin depend only on the past, which
    variable-length trials need.
    """

    def __init__(self, *, config: AutoencoderConfig):
        super().__init__()
        self.config = c = config
        self.inp = nn.Conv1d(c.n_neurons, c.hidden, 1)
        self.blocks = nn.ModuleList(
            S4Block(channels=c.hidden, state_size=c.state_size, bidirectional=c.bidirectional)
            for _ in range(c.n_blocks)
        )
        self.bottleneck = nn.Conv1d(c.hidden, c.latent_dim, 1)
        self.dec1 = nn.Conv1d(c.latent_dim, c.hidden, 1)
        self.dec2 = nn.Conv1d(c.hidden, c.n_neurons, 1)

    def encode(self, counts: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``counts`` (B, N, L), ``mask`` (B, 1, L) -> latents (B, latent_dim, L)."""
        h = self.inp(counts)  # (B, C, L)
        if mask is not None:
            h = h * mask
        for block in self.blocks:
            h = block(h, mask)  # (B, C, L)
        z = self.bottleneck(h)  # (B, D, L)
        return z if mask is None else z * mask

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (B, D, L) -> expected counts per bin (B, N, L), positive."""
        return F.softplus(self._activation(latents)).float()  # (B, N, L)

    def _activation(self, latents: torch.Tensor) -> torch.Tensor:
        """The decoder before its softplus: (B, D, L) -> (B, N, L)."""
        return self.dec2(F.gelu(self.dec1(latents)))

    def forward(self, counts: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(counts, mask)
        return self.decode(z), z

    def loss(
        self,
        counts: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        rng: BatchRandom | torch.Generator | None = None,
        reduction: str = "mean",
    ) -> torch.Tensor:
        """Coordinated-dropout training loss, per trial (``reduction="trial"``, (B,)) or its mean.

        Entries are dropped with probability ``p``; the kept ones are scaled by 1/(1-p) and fed
        in; the Poisson NLL is averaged over the trial's dropped entries only (so the model
        cannot copy its input), plus ``beta * sum z^2 + td_beta * sum_i sum_t (z_t - z_{t+i})^2 / (1+i)``
        over the trial, divided by ``N * L``.
        """
        c = self.config
        B, N, L = counts.shape
        rng = BatchRandom.of(rng, B, counts.device)
        valid = torch.ones(B, 1, L, device=counts.device) if mask is None else mask.float()  # (B, 1, L)
        keep = (rng.rand(B, N, L) > c.dropout).float()  # (B, N, L)
        rates, z = self(counts * keep / (1 - c.dropout), mask)
        dropped = (1 - keep) * valid  # (B, N, L)
        nll = (poisson_nll(rates, counts) * dropped).sum((1, 2)) / dropped.sum((1, 2)).clamp(min=1.0)  # (B,)
        zf = z.float()
        reg = c.beta * (zf**2 * valid).sum((1, 2))  # (B,)
        for i in range(1, c.td_lags + 1):
            if i >= L:
                break
            both = valid[..., i:] * valid[..., :-i]  # (B, 1, L - i)
            reg = reg + c.td_beta * (((zf[..., i:] - zf[..., :-i]) ** 2) * both).sum((1, 2)) / (1 + i)
        per = nll + reg / (N * L)  # (B,)
        return per if reduction == "trial" else per.mean()

    @torch.no_grad()
    def calibrate_rates(
        self, counts: torch.Tensor, mask: torch.Tensor | None = None, *, batch_size: int = 256, iters: int = 30
    ) -> dict:
        """Shift each neuron's output bias so that its mean rate over ``counts``, encoded whole,
        equals its mean count; return the offsets' summary and the rate ratios before.

        Coordinated dropout trains the encoder on thinned, rescaled counts, but latents are
        encoded from whole trials, and that mismatch biases the rates: on simulations unlike
        the built-in ones, whole-trial rates ran 4-15% under the data while thinned inputs
        matched it to 1%. One offset per neuron inside the softplus, found by Newton's method
        (the mean rate is increasing and convex in it), removes the bias and leaves everything
        else, including held-out likelihood, as it was.

        counts : (B, N, L) the training trials; mask : (B, 1, L) valid bins, or None.
        """
        self.eval()
        # the decoder's activations once (one float32 copy of the counts); each Newton step then
        # costs a softplus, not a decoder pass, and sums run in float64 without a float64 copy
        chunks = []
        for i in range(0, counts.shape[0], batch_size):
            m = None if mask is None else mask[i : i + batch_size].float()  # (b, 1, L)
            chunks.append((self._activation(self.encode(counts[i : i + batch_size], m)), m))  # (b, N, L)
        target = sum(
            (counts[i : i + batch_size] * (1.0 if m is None else m)).sum((0, 2), dtype=torch.float64)
            for i, (_, m) in zip(range(0, counts.shape[0], batch_size), chunks)
        )  # (N,)
        active = target > 0  # a unit with no training spikes keeps its bias: its rate is already near zero
        offset = torch.zeros_like(target)  # (N,)
        before, n_steps = None, 0
        for _ in range(iters):
            total = torch.zeros_like(target)
            slope = torch.zeros_like(target)
            for a, m in chunks:
                x = a + offset.to(a.dtype)[None, :, None]  # (b, N, L)
                sp, sg = F.softplus(x), torch.sigmoid(x)
                if m is not None:
                    sp, sg = sp * m, sg * m
                total += sp.sum((0, 2), dtype=torch.float64)
                slope += sg.sum((0, 2), dtype=torch.float64)
            if before is None:
                before = total[active] / target[active]
            gap = torch.where(active, total - target, torch.zeros_like(target))
            if float(gap.abs().max()) <= 1e-6 * max(float(target.max()), 1.0):
                break
            # Newton's step on log(total): exact where the softplus is exponential (low rates), and
            # Newton's own step where it is linear, so a few steps do from any start
            ratio = torch.where(active, target / total.clamp(min=1e-300), torch.ones_like(target))
            offset += torch.log(ratio) * total / slope.clamp(min=1e-12)
            n_steps += 1
        self.dec2.bias += offset.to(self.dec2.bias.dtype)
        ratio = before.cpu().numpy()
        return {
            "offset_median": float(offset.median()),
            "offset_max_abs": float(offset.abs().max()),
            "rate_ratio_before_median": float(np.median(ratio)) if ratio.size else 1.0,
            "newton_steps": n_steps,
        }

    @torch.no_grad()
    def validation_nll(self, counts: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Poisson NLL per valid entry with no dropout (sum and count, for averaging over batches)."""
        rates, _ = self(counts, mask)
        valid = torch.ones_like(counts[:, :1]) if mask is None else mask.float()
        return torch.stack([(poisson_nll(rates, counts) * valid).sum(), valid.sum() * counts.shape[1]])
