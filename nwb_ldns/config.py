"""Frozen dataclass configurations, saved as JSON beside what they configure."""

from __future__ import annotations

import dataclasses
import json
from typing import Any


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """How a recording becomes trials x bins x units.

    Attributes
    ----------
    bin_ms : float
        Bin width.
    align : str or None
        Trials-table column to align on (e.g. ``move_onset_time``). With ``window_ms`` and no
        ``align``, windows are relative to ``start_time``.
    window_ms : (float, float) or None
        Window around the alignment, e.g. ``(-250, 450)``. None: whole trials at variable length.
    segment_ms : float
        Length of the fixed windows tiled over the recording when it has no trials table.
    units : str
        Which units to model: ``all``, ``heldin`` (units whose ``heldout`` column is False) or
        a filter on the units' columns such as ``quality=good`` or
        ``quality!=noise & presence_ratio>=0.9`` (see :mod:`nwb_ldns.unit_selection`).
    behavior : tuple of str
        Behavioural time series to bin (names or paths).
    behavior_lag_ms : float
        Behaviour at ``t + lag`` is paired with spikes at ``t``.
    split_seed : int
        Seed of the 70/10/20 split used when the trials table has no ``split`` column.
    trials_table : str or None
        The interval table whose rows are the trials (e.g. ``encoding_table``); None: ``trials``.
    units_table : str or None
        The units table to read, by path or name (``processing/ecephys/kilosort`` or ``kilosort``);
        None: the file's ``units``, else its only units table.
    """

    bin_ms: float = 5.0
    align: str | None = None
    window_ms: tuple[float, float] | None = None
    segment_ms: float = 1000.0
    units: str = "all"
    behavior: tuple[str, ...] = ()
    behavior_lag_ms: float = 0.0
    split_seed: int = 0
    trials_table: str | None = None
    units_table: str | None = None

    def __post_init__(self):
        from .errors import NwbLdnsError

        if not self.bin_ms > 0:
            raise NwbLdnsError(f"`bin_ms` must be positive, got {self.bin_ms}")
        from .unit_selection import parse

        parse(self.units)  # a malformed selection fails here, before any file is read
        if self.window_ms is not None:
            a, b = (float(x) for x in self.window_ms)
            object.__setattr__(self, "window_ms", (a, b))
            if not b > a:
                raise NwbLdnsError(f"`window_ms` stop must be after start, got {a:g} {b:g} ms")
        if self.align is not None and self.window_ms is None:
            raise NwbLdnsError(f"`align` {self.align} needs `window_ms` START_MS STOP_MS")
        if not self.segment_ms > 0:
            raise NwbLdnsError(f"`segment_ms` must be positive, got {self.segment_ms}")
        object.__setattr__(self, "behavior", tuple(self.behavior))

    @property
    def bin_s(self) -> float:
        return self.bin_ms * 1e-3

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        d = dict(d)
        if d.get("window_ms") is not None:
            d["window_ms"] = tuple(d["window_ms"])
        d["behavior"] = tuple(d.get("behavior", ()))
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


class _Config:
    """to_dict / from_dict for the frozen model and training configs (unknown keys are ignored)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name: f for f in dataclasses.fields(cls)}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names}
        return cls(**kw)

    def replace(self, **changes):
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclasses.dataclass(frozen=True)
class AutoencoderConfig(_Config):
    """The LDNS S4 autoencoder (spikes -> latents -> Poisson rates) and its loss.

    Defaults are the paper's Lorenz settings except the coordinated dropout, which is its MC_Maze
    (real data) setting; ``n_neurons`` comes from the data.
    """

    n_neurons: int = 128
    hidden: int = 256
    latent_dim: int = 8
    n_blocks: int = 4
    state_size: int = 32  # complex modes (S4's d_state = 64)
    bidirectional: bool = True
    # coordinated dropout probability. 0.5 as the paper's MC_Maze fit, not 0.2 as its Lorenz one: at 0.2
    # the autoencoder of a 100-trial sim:maze session (quick preset) overfitted from step 100 and decoded
    # nothing (test NLL above the per-neuron mean rate's, velocity R^2 0.03 from its rates); at 0.5 it
    # reached R^2 0.82 (800 trials: 0.90 -> 0.92; sim:lorenz 100 and 800 trials: equal or better)
    dropout: float = 0.5
    beta: float = 0.01  # latent L2
    td_beta: float = 0.01  # temporal smoothness
    td_lags: int = 5


@dataclasses.dataclass(frozen=True)
class DenoiserConfig(_Config):
    """The S4 denoiser with adaLN-Zero conditioning.

    ``cond_dim``: trial-level condition features (e.g. 2 for [cos, sin] of a reach angle);
    ``series_dim``: time-series condition channels (e.g. 2 for hand velocity), fed as inputs.
    """

    latent_dim: int = 8
    hidden: int = 256
    n_blocks: int = 6
    state_size: int = 32  # complex modes (S4's d_state = 64)
    embed_dim: int = 128
    cond_dim: int = 0
    series_dim: int = 0
    code_dim: int = 0  # GNOCCHI per-trial code (second modulation); 0 for LDNS
    null_code: bool = False  # GNOCCHI: a learned code stands in for dropped codes (guidance by the code)


@dataclasses.dataclass(frozen=True)
class GnocchiConfig(_Config):
    """GNOCCHI (InfoDiffusion on LDNS latents): the code encoder and the extra loss terms.

    Loss = denoising + ``recon_weight`` * reconstruction + ``mmd_weight`` * MMD(codes, N(0, I)).
    The reconstruction is the Poisson NLL of the trial's spikes under the frozen autoencoder
    decoder applied to the denoiser's estimate of the clean latents at the sampled step: at high
    noise only the code can carry the trial, so the term makes the denoiser use it.
    ``encoder_input``: what the code encoder reads, the trial's spike counts (log1p), which carry
    what the autoencoder's latents smooth away, or its z-scored latents (the data the diffusion
    models, as InfoDiffusion). Counts and a reconstruction weight of 16 (InfoDiffusion's 1 with
    latents before) are what made the codes carry the two-factor simulated maze's second factor
    (peak speed R² 0.61 -> 0.82, docs/benchmarks.md).
    ``prior_*`` size the code prior, a diffusion model over the codes that ``generate`` draws
    codes from when none are given.
    """

    code_dim: int = 8
    encoder_input: str = "counts"  # counts (the trial's spikes) | latents (InfoDiffusion's: the diffused data)
    encoder_hidden: int = 128
    encoder_blocks: int = 2
    encoder_state_size: int = 32
    mmd_weight: float = 0.1  # InfoDiffusion's
    recon_weight: float = 16.0
    # the code prior (models/code_prior.py), fitted on the final codes once the diffusion stage ends
    prior_hidden: int = 256
    prior_layers: int = 3
    prior_steps: int = 4000

    def __post_init__(self):
        from .errors import NwbLdnsError

        if self.encoder_input not in ("latents", "counts"):
            raise NwbLdnsError(f"encoder_input must be latents or counts, got {self.encoder_input!r}")


@dataclasses.dataclass(frozen=True)
class DiffusionConfig(_Config):
    """DDPM training objective and schedule.

    ``rate_calibration_bins``: after the diffusion stage, about this many bins of sampled trials
    set each unit's rate calibration (:func:`nwb_ldns.generate.rate_calibration`), but no more
    trials than 4x the training trials (the estimate need not be much more precise than the
    training trials' own mean rates) and from 64 to 2000 trials; 0 leaves sampled rates as
    decoded.
    """

    n_steps: int = 1000
    schedule: str = "linear"  # linear | cosine
    beta_start: float = 1e-4
    beta_end: float = 0.02
    prediction: str = "epsilon"  # epsilon | v
    loss: str = "smooth_l1"  # smooth_l1 | mse
    smooth_l1_beta: float = 0.04
    cond_drop: float = 0.1  # condition dropout for classifier-free guidance
    rate_calibration_bins: int = 131_072

    def __post_init__(self):
        from .errors import NwbLdnsError

        if self.schedule not in ("linear", "cosine"):
            raise NwbLdnsError(f"schedule must be linear or cosine, got {self.schedule!r}")
        if self.prediction not in ("epsilon", "v"):
            raise NwbLdnsError(f"prediction must be epsilon or v, got {self.prediction!r}")
        if self.loss not in ("smooth_l1", "mse"):
            raise NwbLdnsError(f"loss must be smooth_l1 or mse, got {self.loss!r}")


@dataclasses.dataclass(frozen=True)
class TrainConfig(_Config):
    """One training stage, sized by optimizer steps (see :mod:`nwb_ldns.training`).

    The stage runs at most ``steps`` optimizer steps and stops early once the validation loss
    has not improved (by a relative ``min_delta``) for ``patience`` validations, after a
    ``cooldown``: the learning rate decays from its value at that point to zero over a further
    ``cooldown`` x the steps done (0 stops at once); ``epochs`` > 0 instead runs exactly that
    many passes over the training trials, with no early stop. The weights kept are those of the
    last validation within ``select_tolerance`` (relative) of the best loss.
    ``eval_every`` 0 validates about once per pass (see :func:`~nwb_ldns.training.plan_steps`).
    ``warmup`` is the fraction of the planned steps over which the learning rate warms up.
    """

    steps: int = 10_000
    epochs: int = 0
    patience: int = 20
    min_delta: float = 1e-4
    # a plateau at a high learning rate is not the end: on sim:lorenz (2000 trials, quick autoencoder)
    # stopping at once left the decoded rates 2.7% too high (autoencoder ceiling KL 5.8x the floor);
    # the full cosine decay over the same 750 steps gave 0.4% and 2.1x, at the same validation NLL
    cooldown: float = 0.5
    # the selected weights are the last within this (relative) of the best validation loss: the cooldown's
    # weights fit as well as the plateau's by the loss (within +-0.1%) and better by every spike statistic
    select_tolerance: float = 1e-3
    eval_every: int = 0
    batch_size: int = 512
    lr: float = 1e-3
    ssm_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05
    grad_clip: float = 2.0
    ema_decay: float = 0.0  # 0: no EMA
    seed: int = 0


#: under this many training trials, ``fit`` (and ``inspect``) warn that samples will be less realistic,
#: and ``fit`` regularises the autoencoder more (:data:`SMALL_DATA_AE_DROPOUT`)
SMALL_TRAIN_TRIALS = 200

#: the autoencoder's coordinated dropout under :data:`SMALL_TRAIN_TRIALS` training trials (unless set
#: explicitly). Quick autoencoders of sim:maze sessions, velocity R^2 from the rates of held-out
#: trials at dropout 0.5 -> 0.7 (true rates' R^2): 45 training trials 0.05 -> 0.81 (-0.10 -> 0.32),
#: 90: 0.82 -> 0.87 (0.37 -> 0.59), 180: 0.85 -> 0.90 (0.51 -> 0.66); 720: 0.92 -> 0.93 (0.80 -> 0.78).
#: sim:lorenz: 90 trials 0.954 -> 0.956, 720 trials 0.985 -> 0.977 (true rates' R^2), so 0.5 stays above.
SMALL_DATA_AE_DROPOUT = 0.7

#: from this many training trials on, ``fit`` widens a denoiser narrower than :data:`LARGE_DATA_DENOISER`
#: (the quick preset's 64 channels) to it, unless its size is set explicitly: the small denoiser
#: underfits large training sets. sim:lorenz 5000 trials (3500 training; 2026-12-03, denoiser-only
#: refits on one autoencoder, 500 samples against the half-vs-half floor, 50 DPM-Solver++ steps):
#: 64 -> 128 channels, population-count KL 7.3x -> 2.2x, mean ISI 1.80x -> 1.38x, std ISI 1.29x ->
#: 0.96x, correlations 1.47x -> 1.34x, std-ISI Pearson r 0.975 -> 0.991; the denoiser took 3x longer
LARGE_TRAIN_TRIALS = 2000
LARGE_DATA_DENOISER = {"hidden": 128, "embed_dim": 128}
#: the widened denoiser's step limit (unless set): its steps cost 3x the small one's on a CPU, and
#: 3000 of them took the 5000-trial Lorenz fit to 21 minutes on 2 cores
LARGE_DATA_DENOISER_STEPS = 2500

#: from :data:`SMALL_TRAIN_TRIALS` training trials on, unless the dropout is set explicitly, ``fit``
#: trains the autoencoder with each of these coordinated dropouts and keeps the one of lowest
#: validation Poisson NLL. Which one is better depends on the data, and the validation NLL picked
#: it in each case measured (quick autoencoders alone, 2026-12-02; 0.2 vs 0.5): sim:lorenz 280 /
#: 700 / 3500 training trials, ceiling population-count KL 1.9x / 1.2x / 3.7x the floor against
#: 3.4x / 6.7x / 35x (true-rate R^2 equal within 0.007); sim:maze 280 / 700 / 1400, true-rate R^2
#: 0.40 / 0.70 / 0.80 against 0.65 / 0.81 / 0.82 (co-bps 0.054 / 0.091 / 0.097 vs 0.078 / 0.103 / 0.100)
AE_DROPOUT_CHOICES = (0.2, 0.5)

#: ``fit`` warns when the autoencoder's held-out co-bps on the validation trials (bits per spike over
#: each unit's mean rate, on entries hidden from its encoder) is at most this: its rates then carry
#: nothing the mean rates do not, and the samples cannot either
HELDOUT_CO_BPS_MIN = 0.0

#: ``augment``'s synthetic:real ratios by default. On sim:maze at the defaults (2 draws per size,
#: 2026-12-02), the GRU decoder's gain in held-out velocity R^2 at ratio 1 -> 4: 50 real trials
#: -0.005 -> +0.038, 100: +0.009 -> +0.118, 25: -0.035 -> -0.069 (more synthetic trials regularise
#: a GRU that overfits a few real ones); the ridge decoder's +0.004..-0.010 -> -0.008..-0.017
AUGMENT_RATIOS = (1.0, 4.0)

#: ``--preset``: "paper" sizes the models as the LDNS paper (for a GPU); "quick" finishes in
#: minutes on a laptop CPU. Each entry holds overrides of the config dataclasses' defaults;
#: observation models with a fit stage carry their own entries (``train_presets``).
#: Stages are sized in optimizer steps with early stopping on the validation loss, so one
#: preset serves 50 trials and 50,000 alike; ``fit --time-budget`` shortens them further.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {  # the dataclasses' defaults are the paper's; only the denoiser trains longer, with EMA
        "autoencoder": {},
        "ae_train": {},
        "denoiser": {},
        "gnocchi": {},
        "diffusion_train": {"steps": 20_000, "patience": 40, "grad_clip": 1.0, "ema_decay": 0.999},
    },
    "quick": {
        "autoencoder": {"hidden": 64, "n_blocks": 2, "state_size": 16},
        "ae_train": {"steps": 1_500, "patience": 10, "batch_size": 64, "lr": 3e-3, "warmup": 0.05, "grad_clip": 2.0},
        "denoiser": {"hidden": 64, "n_blocks": 3, "state_size": 16, "embed_dim": 64},
        # v targets (Salimans & Ho 2022) where the paper predicts epsilon: with the few hundred denoiser
        # steps a CPU budget allows, epsilon-trained models sampled latents ~15% too narrow and too smooth.
        # 3-minute fits (2026-12-01), ratios to the half-vs-half floor, epsilon -> v: sim:lorenz 1000 trials
        # KL 55x -> 6.0x, correlations 4.0x -> 1.5x, mean ISI 7.1x -> 1.5x, std ISI 3.1x -> 1.2x;
        # sim:maze 2000 KL 3.0x -> 1.5x, the rest equal; sim:maze 100 (no budget) equal or better
        "diffusion": {"prediction": "v"},
        "gnocchi": {"encoder_hidden": 64, "encoder_blocks": 1, "encoder_state_size": 16},
        # lr 5e-3: on a 1000-trial Lorenz fit, 600 steps at 2e-3 sampled latents 1.26x too wide (KL 367x
        # the floor), at 5e-3 0.85x (KL 91x); 1e-2 was no better than 5e-3
        "diffusion_train": {
            "steps": 3_000,
            "patience": 20,
            "batch_size": 64,
            "lr": 5e-3,
            "warmup": 0.05,
            "grad_clip": 1.0,
            "ema_decay": 0.995,
        },
    },
}


@dataclasses.dataclass(frozen=True)
class ConditionSpec(_Config):
    """What a conditional model was trained on, and how the condition is normalised.

    ``kind``: ``none``; ``angle`` (a trial column or reach angle in radians, fed as [cos, sin]);
    ``column`` (any numeric trials column, z-scored); ``category`` (a trials column of labels,
    e.g. ``trial_type``, fed one-hot over ``categories``, the training trials' labels);
    ``velocity`` (a binned behaviour series, z-scored per channel, fed as input channels).
    ``name`` is the column or behaviour, ``unit`` its unit where the source says (e.g. mm/s).
    """

    kind: str = "none"
    name: str | None = None
    channels: int = 0
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    unit: str = ""
    categories: tuple[str, ...] = ()

    @property
    def trial_level(self) -> bool:
        return self.kind in ("angle", "column", "category")

    @property
    def series(self) -> bool:
        return self.kind == "velocity"


def split_size_adaptations(
    n_train: int, overrides: dict | None = None, preset: str = "quick"
) -> dict[str, dict[str, Any]]:
    """Config changes for the train split's size (those ``overrides`` set explicitly are left alone).

    Under :data:`SMALL_TRAIN_TRIALS` training trials the autoencoder's coordinated
    dropout rises to :data:`SMALL_DATA_AE_DROPOUT`: with fewer trials it learns
    to reproduce each trial's noise before it learns the shared structure. From
    :data:`LARGE_TRAIN_TRIALS` on, a denoiser narrower than
    :data:`LARGE_DATA_DENOISER` is widened to it: a small one underfits; its
    step limit drops to :data:`LARGE_DATA_DENOISER_STEPS`, as its steps cost more.
    """
    if n_train < SMALL_TRAIN_TRIALS:
        return {} if dropout_is_set(overrides) else {"autoencoder": {"dropout": SMALL_DATA_AE_DROPOUT}}
    set_ = (overrides or {}).get("denoiser", {})
    size = {**DenoiserConfig().to_dict(), **PRESETS[preset]["denoiser"]}
    if n_train < LARGE_TRAIN_TRIALS or any(set_.get(k) is not None for k in LARGE_DATA_DENOISER):
        return {}
    wider = {k: v for k, v in LARGE_DATA_DENOISER.items() if size[k] < v}
    if not wider:
        return {}
    out = {"denoiser": wider}
    steps = PRESETS[preset]["diffusion_train"].get("steps", TrainConfig().steps)
    if steps > LARGE_DATA_DENOISER_STEPS and (overrides or {}).get("diffusion_train", {}).get("steps") is None:
        out["diffusion_train"] = {"steps": LARGE_DATA_DENOISER_STEPS}  # the fit's time stays about the same
    return out


def dropout_is_set(overrides: dict | None) -> bool:
    return (overrides or {}).get("autoencoder", {}).get("dropout") is not None
