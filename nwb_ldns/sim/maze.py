"""A simulated centre-out reaching session laid out like MC_Maze (DANDI 000128), for offline
conditional generation and closed-loop checks (``sim:maze``).

Each trial reaches toward one of ``n_targets`` directions. Six latent channels drive the
population:

- preparatory activity (2): [cos a, sin a] times a bump that rises 150 ms before movement onset
  and decays 100 ms after it;
- velocity-tuned activity (2): the hand velocity 100 ms later, divided by the mean peak speed,
  so spikes lead behaviour by 100 ms as in motor cortex (fit with ``--behavior-lag-ms 100``);
- rotational dynamics (2): after onset, a 2 Hz rotation whose phase starts at the reach angle,
  decaying with a 300 ms time constant.

With ``speed_drive`` > 0 a seventh, non-directional channel makes the peak speed a second
strong factor (a two-factor test of disentanglement): ``speed_drive * (s - 1) / speed_jitter``
times the velocity-lead bump, ``s`` the trial's peak speed over the mean, so it spans
``[-speed_drive, speed_drive]`` whatever the jitter (population vigour, as in Churchland et al.'s
speed-tuned activity). 0 (the default) leaves the simulation as it was.

Neurons fire at ``exp(C z + log(base rate))`` per bin (``C`` Gaussian, unit-norm rows times a
gain), Poisson. Hand velocity (mm/s) is a bell-shaped speed profile along the reach angle that
peaks 150 ms after onset, its peak varying from trial to trial (``speed_jitter``). The trials
table has ``move_onset_time``, ``reach_angle`` (radians), ``target_id`` and ``peak_speed``; align with
``--align move_onset_time --window -250 450`` as for MC_Maze.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .base import PoissonSession


@dataclasses.dataclass(frozen=True)
class MazeConfig:
    """Parameters of the simulated reaching session."""

    n_trials: int = 2000
    n_neurons: int = 100
    n_targets: int = 8
    trial_ms: float = 1000.0
    bin_ms: float = 5.0
    onset_min_ms: float = 300.0  # movement onset, uniform in [min, max] after the trial start
    onset_max_ms: float = 450.0
    peak_speed: float = 300.0  # mm/s, on average
    speed_jitter: float = 0.3  # each trial's peak speed is peak_speed * U(1 - jitter, 1 + jitter)
    speed_drive: float = 0.0  # amplitude of the non-directional speed channel (0: none)
    base_rate_hz: float = 12.0
    gain: float = 1.2
    seed: int = 0
    sampling_rate: float = 30000.0

    def __post_init__(self):
        for name in ("n_trials", "n_neurons", "n_targets"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        n = self.trial_ms / self.bin_ms
        if self.bin_ms <= 0 or abs(n - round(n)) > 1e-9:
            raise ValueError("trial_ms must be a whole number of bins")
        if not 0 <= self.onset_min_ms <= self.onset_max_ms <= self.trial_ms:
            raise ValueError("need 0 <= onset_min_ms <= onset_max_ms <= trial_ms")
        if not 0 <= self.speed_jitter < 1:
            raise ValueError("speed_jitter must be in [0, 1)")
        if self.speed_drive < 0 or (self.speed_drive > 0 and self.speed_jitter == 0):
            raise ValueError("speed_drive must be >= 0, and needs speed_jitter > 0")

    @property
    def bin_s(self) -> float:
        return self.bin_ms * 1e-3

    @property
    def n_bins(self) -> int:
        return int(round(self.trial_ms / self.bin_ms))

    @property
    def trial_s(self) -> float:
        return self.n_bins * self.bin_s


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class MazeSimulation(PoissonSession):
    """Ground truth and spikes of one simulated reaching session.

    Attributes
    ----------
    angles : (trial,) reach angle, radians
    targets : (trial,) target index
    speed_factor : (trial,) peak speed / mean peak speed
    onsets : (trial,) movement onset relative to the trial start, s
    latents : (trial, 6, time), (trial, 7, time) with ``speed_drive``
    velocity : (trial, time, 2) hand velocity, mm/s
    weights : (neuron, 6) or (neuron, 7)
    """

    def __init__(self, config: MazeConfig | None = None, **overrides):
        self.config = cfg = dataclasses.replace(config or MazeConfig(), **overrides)
        rng = np.random.default_rng([cfg.seed, 0])
        n, L = cfg.n_trials, cfg.n_bins
        self.targets = rng.integers(0, cfg.n_targets, n)
        self.angles = (2 * np.pi * self.targets / cfg.n_targets + np.pi) % (2 * np.pi) - np.pi  # in [-pi, pi)
        self.onsets = rng.uniform(cfg.onset_min_ms, cfg.onset_max_ms, n) * 1e-3
        self.speed_factor = rng.uniform(1 - cfg.speed_jitter, 1 + cfg.speed_jitter, n)  # (trial,)
        t = (np.arange(L) + 0.5) * cfg.bin_s  # bin centres
        tau = t[None, :] - self.onsets[:, None]  # (trial, time) time from onset, s
        direction = np.stack([np.cos(self.angles), np.sin(self.angles)], 1)[:, :, None]  # (trial, 2, 1)

        speed = lambda s: np.exp(-0.5 * ((s - 0.15) / 0.06) ** 2)  # noqa: E731  peak 150 ms after onset
        gain = self.speed_factor[:, None]  # (trial, 1)
        self.velocity = (cfg.peak_speed * (gain * speed(tau))[:, :, None] * direction.transpose(0, 2, 1)).astype(
            np.float32
        )  # (trial, time, 2)
        prep = _sigmoid((tau + 0.15) / 0.03) * (1.0 - _sigmoid((tau - 0.1) / 0.03))  # (trial, time)
        lead = speed(tau + 0.1)  # velocity 100 ms ahead
        after = np.where(tau > 0, np.exp(-np.clip(tau, 0, None) / 0.3), 0.0)
        phase = 2 * np.pi * 2.0 * np.clip(tau, 0, None) + self.angles[:, None]
        self.latents = np.concatenate(
            [
                prep[:, None] * direction,
                (gain * lead)[:, None] * direction,
                np.stack([after * np.cos(phase), after * np.sin(phase)], 1),
            ],
            axis=1,
        ).astype(np.float32)  # (trial, 6, time)
        w = rng.normal(size=(cfg.n_neurons, 6))
        if cfg.speed_drive > 0:  # drawn after the rest, so the default simulation is unchanged
            vigour = cfg.speed_drive * (self.speed_factor[:, None] - 1) / cfg.speed_jitter * lead  # (trial, time)
            self.latents = np.concatenate([self.latents, vigour[:, None].astype(np.float32)], 1)  # (trial, 7, time)
            w = np.concatenate([w, rng.normal(size=(cfg.n_neurons, 1))], 1)
        self.weights = cfg.gain * w / np.linalg.norm(w, axis=1, keepdims=True)
        self.bias = np.log(cfg.base_rate_hz * cfg.bin_s)
        self.trial_starts = np.arange(n) * cfg.trial_s

    def rates(self, unit: int | None = None) -> np.ndarray:
        """Expected spike counts per bin: (trial, unit, time), or (trial, time) for one unit."""
        if unit is None:
            drive = np.einsum("nc,bct->bnt", self.weights, self.latents)  # (trial, unit, time)
        else:
            drive = np.einsum("c,bct->bt", self.weights[unit], self.latents)  # (trial, time)
        return np.exp(drive + self.bias).astype(np.float32)

    def trials_table(self):
        import pandas as pd

        return pd.DataFrame(
            {
                "start_time": self.trial_starts,
                "stop_time": self.trial_starts + self.config.trial_s,
                "move_onset_time": self.trial_starts + self.onsets,
                "reach_angle": self.angles,
                "target_id": self.targets,
                "peak_speed": self.config.peak_speed * self.speed_factor,
            },
            index=pd.Index(np.arange(self.config.n_trials), name="id"),
        )

    def behavior(self) -> dict[str, tuple[str, np.ndarray, str]]:
        return {"hand_vel": ("processing/behavior/hand_vel", self.velocity.reshape(-1, 2), "mm/s")}
