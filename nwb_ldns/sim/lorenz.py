"""The LDNS Lorenz benchmark: Poisson spiking driven by a 3-D Lorenz attractor.

Kapoor et al. 2024: 3-D Lorenz, 256 steps after burn-in, z-scored per dimension; 128 neurons
with expected counts per bin ``softplus_2(C z + log 0.3)``, ``C`` Gaussian with unit-norm rows.
Trials are laid back to back in time so the session can be written as an ordinary NWB file;
spike times fall on a 30 kHz sample grid strictly inside their bin, so binning the written file
at the simulation's bin width gives back exactly the simulated counts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .base import PoissonSession


@dataclasses.dataclass(frozen=True)
class LorenzConfig:
    """Parameters of the simulated Lorenz session (defaults follow the paper)."""

    n_trials: int = 5000
    n_neurons: int = 128
    n_bins: int = 256
    bin_ms: float = 5.0
    seed: int = 0
    dt: float = 0.01  # Lorenz time units per bin
    burn_in: int = 500  # integration steps discarded before each trial
    log_baseline: float = float(np.log(0.3))
    sampling_rate: float = 30000.0  # grid of the written spike times (Units.resolution = 1/rate)

    def __post_init__(self):
        for name in ("n_trials", "n_neurons", "n_bins"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        samples = self.bin_ms * 1e-3 * self.sampling_rate
        if self.bin_ms <= 0 or abs(samples - round(samples)) > 1e-9 or round(samples) < 3:
            raise ValueError("bin_ms must be a positive multiple of the sample period (>= 3 samples)")

    @property
    def bin_s(self) -> float:
        return self.bin_ms * 1e-3

    @property
    def trial_s(self) -> float:
        return self.n_bins * self.bin_s


def softplus_beta(x: np.ndarray, beta: float = 2.0) -> np.ndarray:
    """``log(1 + exp(beta x)) / beta``, computed without overflow."""
    return np.logaddexp(0.0, beta * x) / beta


def _lorenz_rk4(x: np.ndarray, dt: float, n_steps: int, sigma=10.0, rho=28.0, beta=8.0 / 3.0) -> np.ndarray:
    """Integrate many Lorenz systems at once. x: (batch, 3) -> trajectory (batch, 3, n_steps)."""

    def f(s):
        return np.stack(
            [sigma * (s[:, 1] - s[:, 0]), s[:, 0] * (rho - s[:, 2]) - s[:, 1], s[:, 0] * s[:, 1] - beta * s[:, 2]],
            axis=1,
        )

    out = np.empty((x.shape[0], 3, n_steps))
    for t in range(n_steps):
        k1 = f(x)
        k2 = f(x + 0.5 * dt * k1)
        k3 = f(x + 0.5 * dt * k2)
        k4 = f(x + dt * k3)
        x = x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        out[:, :, t] = x
    return out


class LorenzSimulation(PoissonSession):
    """Ground truth and spikes of one simulated session; spikes are drawn per unit on demand.

    Parameters
    ----------
    config : LorenzConfig

    Attributes
    ----------
    latents : ndarray, shape (n_trials, 3, n_bins)
        z-scored Lorenz state per bin.
    weights : ndarray, shape (n_neurons, 3)
        Readout ``C`` with unit-norm rows.
    bias : float
        ``log 0.3``, added to every neuron's drive.
    """

    def __init__(self, config: LorenzConfig | None = None, **overrides):
        self.config = config = dataclasses.replace(config or LorenzConfig(), **overrides)
        rng = np.random.default_rng([config.seed, 0])
        x0 = rng.normal(size=(config.n_trials, 3)) * 10.0 + np.array([0.0, 0.0, 25.0])
        traj = _lorenz_rk4(x0, config.dt, config.burn_in + config.n_bins)[:, :, config.burn_in :]
        mean = traj.mean(axis=(0, 2), keepdims=True)
        std = traj.std(axis=(0, 2), keepdims=True)
        self.latents = ((traj - mean) / std).astype(np.float32)  # (trial, 3, time)
        w = rng.normal(size=(config.n_neurons, 3))
        self.weights = w / np.linalg.norm(w, axis=1, keepdims=True)  # (unit, 3)
        self.bias = config.log_baseline
        self.trial_starts = np.arange(config.n_trials) * config.trial_s

    def rates(self, unit: int | None = None) -> np.ndarray:
        """Expected spike counts per bin: (trial, unit, time), or (trial, time) for one unit."""
        if unit is None:
            drive = np.einsum("nc,bct->bnt", self.weights, self.latents) + self.bias  # (trial, unit, time)
        else:
            drive = np.einsum("c,bct->bt", self.weights[unit], self.latents) + self.bias  # (trial, time)
        return softplus_beta(drive).astype(np.float32)

    def trials_table(self):
        """One trial per simulated trial, back to back."""
        import pandas as pd

        return pd.DataFrame(
            {"start_time": self.trial_starts, "stop_time": self.trial_starts + self.config.trial_s},
            index=pd.Index(np.arange(self.config.n_trials), name="id"),
        )

    def behavior(self) -> dict[str, tuple[str, np.ndarray, str]]:
        """name -> (NWB path, values per bin (trial * time, channel), unit)."""
        return {
            "lorenz_latents": ("processing/misc/lorenz_latents", self.latents.transpose(0, 2, 1).reshape(-1, 3), "a.u.")
        }
