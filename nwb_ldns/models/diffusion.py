"""Gaussian diffusion: noise schedules, the DDPM training loss, DDIM and ancestral DDPM sampling.

``model_fn(x_t, t) -> output`` is any callable returning the denoiser's prediction (epsilon or
v, per the config); conditioning and guidance are closed over by the caller.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from ..config import DiffusionConfig
from .batch_random import BatchRandom
from .losses import reduce_per_trial

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_betas(config: DiffusionConfig) -> torch.Tensor:
    """Noise schedule ``beta_1..beta_T`` (float64): linear (DDPM) or cosine (Nichol & Dhariwal)."""
    T = config.n_steps
    if config.schedule == "linear":
        return torch.linspace(config.beta_start, config.beta_end, T, dtype=torch.float64)
    s = 0.008
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=0.999)


class GaussianDiffusion:
    """DDPM forward process and samplers for one :class:`DiffusionConfig`."""

    def __init__(self, config: DiffusionConfig):
        self.config = config
        betas = make_betas(config)
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1 - betas, 0)  # (T,) float64
        self._tables: dict = {}

    def _abar(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """alpha-bar at integer steps ``t`` (B,) broadcast to ``like`` (B, ...), -1 means 1.0."""
        table = self._tables.get(like.device)
        if table is None:  # one copy per device, so indexing never syncs with the host
            table = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod]).float().to(like.device)
            self._tables[like.device] = table
        return table[t.to(like.device) + 1].view(-1, *([1] * (like.ndim - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise."""
        a = self._abar(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the denoiser is trained to output: epsilon, or v = sqrt(abar) eps - sqrt(1-abar) x0."""
        if self.config.prediction == "epsilon":
            return noise
        a = self._abar(t, x0)
        return a.sqrt() * noise - (1 - a).sqrt() * x0

    def split(self, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Model output -> (predicted x0, predicted epsilon)."""
        a = self._abar(t, x_t)
        out = out.float()
        if self.config.prediction == "epsilon":
            eps = out
            x0 = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
        else:
            x0 = a.sqrt() * x_t - (1 - a).sqrt() * out
            eps = (1 - a).sqrt() * x_t + a.sqrt() * out
        return x0, eps

    def loss(
        self,
        model_fn: ModelFn,
        x0: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        rng: BatchRandom | torch.Generator | None = None,
        reduction: str = "mean",
    ) -> torch.Tensor:
        """DDPM loss at uniformly drawn steps, averaged over each trial's valid (mask = 1) entries.

        Returns the per-trial losses (B,) with ``reduction="trial"``, else their mean.
        """
        B = x0.shape[0]
        rng = BatchRandom.of(rng, B, x0.device)
        t = rng.randint(self.config.n_steps, B)  # (B,)
        noise = rng.randn(*x0.shape)  # (B, D, L)
        if mask is not None:
            noise = noise * mask
        out = model_fn(self.q_sample(x0, t, noise), t).float()
        target = self.target(x0, noise, t)
        if self.config.loss == "mse":
            per = F.mse_loss(out, target, reduction="none")
        else:
            per = F.smooth_l1_loss(out, target, reduction="none", beta=self.config.smooth_l1_beta)
        return reduce_per_trial(per, mask, reduction=reduction)

    # ---- sampling ------------------------------------------------------------------------------
    def ddim_steps(self, n: int) -> list[int]:
        """``n`` evenly spaced steps from T-1 down to 0."""
        n = max(1, min(n, self.config.n_steps))
        return sorted({int(round(x)) for x in torch.linspace(0, self.config.n_steps - 1, n).tolist()}, reverse=True)

    def logsnr_steps(self, n: int) -> list[int]:
        """About ``n`` steps from T-1 down to 0, evenly spaced in log-SNR (distinct integer steps, so
        a few fewer where the low-noise end packs several into one). Evenly spaced steps leave the
        low-noise end, where the latents' fine structure is drawn, to two or three steps."""
        a = self.alphas_cumprod
        lam = 0.5 * torch.log(a / (1 - a))  # (T,) decreasing
        grid = torch.linspace(float(lam[-1]), float(lam[0]), max(2, n))
        idx = torch.searchsorted(-lam, -grid).clamp(max=self.config.n_steps - 1)
        return sorted({int(i) for i in idx.tolist()} | {0, self.config.n_steps - 1}, reverse=True)

    def ddim_step(
        self,
        out: torch.Tensor,
        x_t: torch.Tensor,
        t: int,
        t_prev: int,
        *,
        eta: float = 0.0,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One DDIM update from step ``t`` to ``t_prev`` (-1 for the clean sample)."""
        B = x_t.shape[0]
        tt = torch.full((B,), t, dtype=torch.long)
        x0, eps = self.split(out, x_t, tt)
        a_t = self._abar(tt, x_t)
        a_p = self._abar(torch.full((B,), t_prev, dtype=torch.long), x_t)
        sigma = eta * ((1 - a_p) / (1 - a_t) * (1 - a_t / a_p)).clamp(min=0).sqrt()
        x = a_p.sqrt() * x0 + (1 - a_p - sigma**2).clamp(min=0).sqrt() * eps
        if eta > 0 and noise is not None:
            x = x + sigma * noise
        return x

    @torch.no_grad()
    def ddim_sample(
        self,
        model_fn: ModelFn,
        x_T: torch.Tensor,
        *,
        steps: int = 50,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        progress: Callable | None = None,
    ) -> torch.Tensor:
        """Deterministic (eta = 0) or stochastic DDIM from ``x_T`` (B, D, L)."""
        x = x_T
        seq = self.ddim_steps(steps)
        for i, t in enumerate(seq):
            t_prev = seq[i + 1] if i + 1 < len(seq) else -1
            out = model_fn(x, torch.full((x.shape[0],), t, device=x.device, dtype=torch.long))
            noise = torch.randn(x.shape, device=x.device, generator=generator) if eta > 0 else None
            x = self.ddim_step(out, x, t, t_prev, eta=eta, noise=noise)
            if progress is not None:
                progress()
        return x

    @torch.no_grad()
    def dpmpp_sample(
        self,
        model_fn: ModelFn,
        x_T: torch.Tensor,
        *,
        steps: int = 50,
        generator: torch.Generator | None = None,
        progress: Callable | None = None,
    ) -> torch.Tensor:
        """DPM-Solver++(2M) SDE (Lu et al. 2022) from ``x_T`` (B, D, L): the reverse SDE that DDPM
        follows, on about ``steps`` of its steps evenly spaced in log-SNR (:meth:`logsnr_steps`),
        second order in the x0 predictions.

        With ``h = lambda_p - lambda_t`` (``lambda = log(alpha / sigma)``), one step from t to the
        less noisy p is ``x_p = (sigma_p / sigma_t) e^-h x_t + alpha_p (1 - e^-2h) D
        + sigma_p sqrt(1 - e^-2h) z``; ``D`` is the x0 prediction (then DDIM with eta 1) plus
        ``(x0_t - x0_prev) / 2r`` from the previous step (``r = h_prev / h``). The last step, to
        the clean sample, returns ``D``.
        """
        x = x_T
        seq = self.logsnr_steps(steps)
        x0_prev, h_prev = None, None
        for i, t in enumerate(seq):
            tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
            x0, _ = self.split(model_fn(x, tt), x, tt)  # (B, D, L)
            if i + 1 == len(seq):
                x = x0  # sigma 0: the prediction itself
            else:
                d = x0
                a_t, a_p = float(self.alphas_cumprod[t]), float(self.alphas_cumprod[seq[i + 1]])
                lam_t, lam_p = 0.5 * math.log(a_t / (1 - a_t)), 0.5 * math.log(a_p / (1 - a_p))
                h = lam_p - lam_t
                if x0_prev is not None:
                    d = x0 + (x0 - x0_prev) * (h / (2 * h_prev))
                em2h = math.exp(-2 * h)
                x = (
                    math.sqrt((1 - a_p) / (1 - a_t)) * math.exp(-h) * x
                    + math.sqrt(a_p) * (1 - em2h) * d
                    + math.sqrt((1 - a_p) * (1 - em2h)) * torch.randn(x.shape, device=x.device, generator=generator)
                )
                x0_prev, h_prev = x0, h
            if progress is not None:
                progress()
        return x

    @torch.no_grad()
    def ddpm_sample(
        self,
        model_fn: ModelFn,
        x_T: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        progress: Callable | None = None,
    ) -> torch.Tensor:
        """Full ancestral DDPM sampling over all T steps (the paper's sampler)."""
        x = x_T
        for t in range(self.config.n_steps - 1, -1, -1):
            tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
            x0, eps = self.split(model_fn(x, tt), x, tt)
            a_t = self._abar(tt, x)
            a_p = self._abar(tt - 1, x)
            beta = float(self.betas[t])
            # posterior q(x_{t-1} | x_t, x0)
            mean = (a_p.sqrt() * beta / (1 - a_t)) * x0 + ((1 - beta) ** 0.5 * (1 - a_p) / (1 - a_t)) * x
            if t > 0:
                var = beta * (1 - a_p) / (1 - a_t)
                x = mean + var.sqrt() * torch.randn(x.shape, device=x.device, generator=generator)
            else:
                x = mean
            if progress is not None:
                progress()
        return x

    @torch.no_grad()
    def ddim_invert(self, model_fn: ModelFn, x0: torch.Tensor, *, steps: int = 50) -> torch.Tensor:
        """Run deterministic DDIM backwards: clean latents -> x_T that DDIM maps back to them."""
        seq = list(reversed(self.ddim_steps(steps)))  # 0 .. T-1 ascending
        x = x0
        prev = -1
        for t in seq:
            # predict eps at the current (less noisy) point, then step up to t
            tp = max(prev, 0)
            out = model_fn(x, torch.full((x.shape[0],), tp, device=x.device, dtype=torch.long))
            x0_hat, eps = self.split(out, x, torch.full((x.shape[0],), tp, dtype=torch.long))
            a_t = self._abar(torch.full((x.shape[0],), t, dtype=torch.long), x)
            x = a_t.sqrt() * x0_hat + (1 - a_t).sqrt() * eps
            prev = t
        return x
