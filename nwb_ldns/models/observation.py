"""Observation models: how spikes are drawn from the autoencoder's rates.

Each follows one interface (lfads-torch's reconstruction slot): ``loss(counts, rates, mask)`` and
``sample(rates, generator)``, plus ``build(n_neurons=, state=)``. :data:`OBSERVATION_MODELS` is the
table the rest of the package reads: a model with ``fitted = True`` gets a fit stage of its own
(its ``name``), trained on the autoencoder's rates of the real trials by its
``loss(..., reduction="trial")`` with the :class:`~nwb_ldns.config.TrainConfig` under
``train_config`` in the model's configs (its ``train_presets`` entry for the preset), saved as
``NAME.safetensors`` and selectable in ``generate --observation``. Adding one is a class here (or
in a module of its own, listed here). Tensors are ``(batch, neurons, time)``, rates in expected counts
per bin.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .losses import poisson_nll, reduce_per_trial


class PoissonObservation(nn.Module):
    """Independent Poisson counts with the given rates (no parameters)."""

    name = "poisson"
    label = "independent Poisson"
    fitted = False

    @classmethod
    def build(cls, *, n_neurons: int, state: dict | None = None) -> PoissonObservation:
        return cls()

    def loss(self, counts: torch.Tensor, rates: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        per = poisson_nll(rates, counts)  # (B, N, L)
        if mask is None:
            return per.mean()
        m = mask.expand_as(per)
        return (per * m).sum() / m.sum().clamp(min=1.0)

    @torch.no_grad()
    def sample(self, rates: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.poisson(rates.float(), generator=generator)


class SpikeHistoryGLM(nn.Module):
    """Per-neuron GLM with its own spike history, no coupling between neurons.

    ``lambda_t = softplus(sum_{k=1..K} w_k s_{t-k} + a log r_t + b)``: ``r`` are the
    autoencoder's (fitting) or the diffusion model's (generation) rates, ``s`` the neuron's own
    counts, capped at ``cap`` in the history. Initialised at ``w = 0, a = 1, b = 0``, where
    ``lambda = log(1 + r)``, close to ``r`` for the small rates of 5 ms bins.
    """

    name = "spike_history"
    label = "spike history"
    fitted = True
    train_config = "history_train"  # the key of its TrainConfig in a model's configs
    #: its stage's TrainConfig per ``--preset`` (over TrainConfig's defaults)
    train_presets: dict = {
        "paper": {"steps": 2_000, "patience": 10, "batch_size": 256, "lr": 1e-2, "warmup": 0.0, "weight_decay": 0.0},
        "quick": {"steps": 500, "patience": 5, "batch_size": 128, "lr": 1e-2, "warmup": 0.0, "weight_decay": 0.0},
    }
    time_share = 0.05  # of a fit's --time-budget, against the autoencoder's 0.25 and the denoiser's 0.7

    @classmethod
    def build(cls, *, n_neurons: int, state: dict | None = None) -> SpikeHistoryGLM:
        """A new GLM, or one shaped for saved weights ``state``."""
        history = 20 if state is None else int(state["w"].shape[1])
        return cls(n_neurons=n_neurons, history=history)

    def __init__(self, *, n_neurons: int, history: int = 20, cap: int = 5):
        super().__init__()
        self.n_neurons, self.history, self.cap = n_neurons, history, cap
        self.w = nn.Parameter(torch.zeros(n_neurons, history))  # w[:, k-1] weighs s_{t-k}
        self.a = nn.Parameter(torch.ones(n_neurons))
        self.b = nn.Parameter(torch.zeros(n_neurons))

    def _drive(self, rates: torch.Tensor) -> torch.Tensor:
        return self.a[:, None] * torch.log(rates.float().clamp(min=1e-6)) + self.b[:, None]  # (B, N, L)

    def history_term(self, counts: torch.Tensor) -> torch.Tensor:
        """``sum_k w_k s_{t-k}`` for every bin, as a depthwise causal convolution (B, N, L)."""
        s = counts.float().clamp(max=self.cap)
        s = F.pad(s, (self.history, 0))[..., :-1]  # (B, N, L + K - 1): s_{t-K} .. s_{t-1}
        kernel = self.w.flip(-1)[:, None, :]  # (N, 1, K) oldest lag first
        return F.conv1d(s, kernel, groups=self.n_neurons)  # (B, N, L)

    def intensity(self, rates: torch.Tensor, counts: torch.Tensor | None = None) -> torch.Tensor:
        """Conditional intensity given the observed ``counts`` (teacher forcing)."""
        h = 0.0 if counts is None else self.history_term(counts)
        return F.softplus(self._drive(rates) + h)  # (B, N, L)

    def loss(
        self, counts: torch.Tensor, rates: torch.Tensor, mask: torch.Tensor | None = None, *, reduction: str = "mean"
    ) -> torch.Tensor:
        """Poisson NLL per valid entry, averaged per trial ((B,) with ``reduction="trial"``) or overall."""
        per = poisson_nll(self.intensity(rates, counts), counts.float())  # (B, N, L)
        return reduce_per_trial(per, mask, reduction=reduction)

    @torch.no_grad()
    def sample(self, rates: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Autoregressive sampling from zero history, bin by bin."""
        B, N, L = rates.shape
        drive = self._drive(rates)  # (B, N, L)
        K = self.history
        hist = torch.zeros(B, N, K, device=rates.device)  # (B, N, K): s_{t-1} .. s_{t-K}
        out = torch.empty(B, N, L, device=rates.device)
        for t in range(L):
            lam = F.softplus(drive[..., t] + (hist * self.w).sum(-1))  # (B, N)
            s = torch.poisson(lam, generator=generator)  # (B, N)
            out[..., t] = s
            hist = torch.cat([s.clamp(max=self.cap)[..., None], hist[..., :-1]], -1)
        return out


#: every observation model, by name
OBSERVATION_MODELS: dict[str, type[nn.Module]] = {m.name: m for m in (PoissonObservation, SpikeHistoryGLM)}
#: those with parameters: each is a fit stage of that name, after the autoencoder and the diffusion model
FITTED_OBSERVATIONS: tuple[str, ...] = tuple(n for n, m in OBSERVATION_MODELS.items() if m.fitted)
