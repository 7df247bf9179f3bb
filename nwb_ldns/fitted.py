"""A fitted LDNS model: autoencoder, latent diffusion and observation model, used from Python.

``LdnsModel`` is what :func:`nwb_ldns.artifacts.load_model` returns and what ``generate`` and
``encode`` use; it holds no training state.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import ConditionSpec, DataSpec, DiffusionConfig
from .errors import NwbLdnsError
from .models.autoencoder import Autoencoder
from .models.denoiser import Denoiser
from .models.diffusion import GaussianDiffusion
from .models.observation import OBSERVATION_MODELS
from .models.s4 import cached_kernels


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise NwbLdnsError("`device` cuda asked for, but torch sees no CUDA device")
    return torch.device(device)


# on a CPU, large batches spill out of the caches: 256 trials through the denoiser or the
# autoencoder cost ~1.8x more per trial than pieces of 64 (measured on 2 cores), so CPU work runs
# in pieces of this many trials (the gradient of a training batch is accumulated over them)
CPU_MICRO_BATCH = 64


def micro_batch(size: int, device: torch.device) -> int:
    """Trials per forward pass: ``size`` on CUDA, at most ``CPU_MICRO_BATCH`` elsewhere."""
    return size if device.type == "cuda" else min(size, CPU_MICRO_BATCH)


def autocast(device: torch.device):
    """bf16 autocast on CUDA (S4 kernels and FFTs opt out and run in fp32); nothing on CPU."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def condition_features(spec: ConditionSpec, values: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Raw condition values -> the network's normalised input.

    angle: (B,) radians -> (B, 2) [cos, sin]; column: (B,) -> (B, 1) z-scored; category: (B,)
    labels -> (B, K) one-hot over the model's categories; velocity: (B, L, C) -> (B, C, L)
    z-scored per channel.
    """
    if spec.kind == "category":
        return torch.as_tensor(np.asarray(values).astype(str)[:, None] == np.array(spec.categories)[None]).float()
    v = torch.as_tensor(np.asarray(values, dtype=np.float32))
    if spec.kind == "angle":
        return torch.stack([v.cos(), v.sin()], -1)  # (B, 2)
    mean = torch.tensor(spec.mean, dtype=torch.float32)
    std = torch.tensor(spec.std, dtype=torch.float32)
    if spec.kind == "column":
        return ((v - mean) / std)[:, None]  # (B, 1)
    if spec.kind == "velocity":
        return ((v - mean) / std).permute(0, 2, 1).contiguous()  # (B, C, L)
    raise NwbLdnsError(f"model has no condition (kind {spec.kind!r})")


def check_categories(spec: ConditionSpec, values: np.ndarray, what: str) -> np.ndarray:
    """``values`` as labels (n,) of a categorical condition, or a one-line error naming those the
    model does not know."""
    labels = np.asarray(values).astype(str)
    unknown = sorted(set(labels.tolist()) - set(spec.categories))
    if unknown:
        raise NwbLdnsError(
            f"{what} {spec.name!r} has label(s) {', '.join(map(repr, unknown[:5]))} that no training trial has; "
            f"the model knows {', '.join(map(repr, spec.categories))}"
        )
    return labels


@dataclasses.dataclass
class LdnsModel:
    """Fitted components and what they were fitted on.

    Attributes
    ----------
    autoencoder : Autoencoder
    denoiser : Denoiser or None
        EMA weights; None until the diffusion stage has run.
    diffusion : DiffusionConfig
    latent_mean, latent_std : torch.Tensor (latent_dim,)
        Per-channel statistics of the training latents; the denoiser works on z-scored latents.
    condition : ConditionSpec
    observations : dict
        The fitted observation models by name (``spike_history``), each from its own stage.
    data : dict
        ``spec`` (DataSpec), ``unit_ids``, ``n_bins``, ``bin_s``, ``variable_length``.
    info : dict
        The rest of ``config.json`` (provenance, training history, versions).
    path : Path or None
        The model dir it was loaded from.
    code_encoder : CodeEncoder or None
        GNOCCHI's per-trial code encoder (EMA weights); None for LDNS.
    code_prior : CodePrior or None
        GNOCCHI's diffusion model over the codes (:meth:`sample_codes`); None for LDNS and for
        GNOCCHI models saved without one.
    sample_rate_offset : torch.Tensor (neurons,) or None
        Per-unit log-rate offsets that match sampled trials' mean rates to the training data's
        (:func:`nwb_ldns.generate.rate_calibration`, made when the diffusion stage is fitted);
        :meth:`sampled_rates` applies them. None for models saved before it.
    """

    autoencoder: Autoencoder
    denoiser: Denoiser | None
    diffusion: DiffusionConfig
    latent_mean: torch.Tensor
    latent_std: torch.Tensor
    condition: ConditionSpec
    observations: dict[str, torch.nn.Module]
    data: dict[str, Any]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    device: torch.device = torch.device("cpu")
    path: Path | None = None
    code_encoder: torch.nn.Module | None = None
    code_prior: torch.nn.Module | None = None
    sample_rate_offset: torch.Tensor | None = None
    compiled_denoiser: Any = dataclasses.field(default=None, repr=False)

    @property
    def spec(self) -> DataSpec:
        return self.data["spec"]

    @property
    def n_neurons(self) -> int:
        return self.autoencoder.config.n_neurons

    @property
    def latent_dim(self) -> int:
        return self.autoencoder.config.latent_dim

    @property
    def method(self) -> str:
        return str(self.info.get("method", "ldns"))

    @property
    def code_dim(self) -> int:
        return self.denoiser.config.code_dim if self.denoiser is not None else 0

    def to(self, device: torch.device | str) -> LdnsModel:
        self.device = torch.device(device)
        for m in (self.autoencoder, self.denoiser, self.code_encoder, self.code_prior, *self.observations.values()):
            if m is not None:
                m.to(self.device).eval()
        self.latent_mean = self.latent_mean.to(self.device)
        self.latent_std = self.latent_std.to(self.device)
        if self.sample_rate_offset is not None:
            self.sample_rate_offset = self.sample_rate_offset.to(self.device)
        return self

    def compile(self) -> LdnsModel:
        """Sample with the denoiser compiled by ``torch.compile`` (its FFTs stay eager).

        The same draws, faster steps once compiled; compilation takes seconds to a minute per
        batch shape, so it pays off for many trials (``benchmarks/compile_speed.py``).
        """
        if self.denoiser is not None:
            self.compiled_denoiser = torch.compile(self.denoiser, dynamic=False)
        return self

    # ---- autoencoder ---------------------------------------------------------------------------
    @torch.no_grad()
    def encode(
        self, counts: np.ndarray | torch.Tensor, lengths: np.ndarray | None = None, *, batch_size: int = 256
    ) -> tuple[np.ndarray, np.ndarray]:
        """Counts (trial, neuron, time) -> (latents (trial, latent, time), rates (trial, neuron, time))."""
        counts = torch.as_tensor(np.asarray(counts, dtype=np.float32))
        B, N, L = counts.shape
        if N != self.n_neurons:
            raise NwbLdnsError(f"the model was fitted on {self.n_neurons} units; these data have {N}")
        zs, rs = [], []
        batch_size = micro_batch(batch_size, self.device)
        for i in range(0, B, batch_size):
            x = counts[i : i + batch_size].to(self.device)
            mask = None
            if lengths is not None and np.min(lengths[i : i + batch_size]) < L:  # no padding: the fused norm
                mask = (torch.arange(L)[None] < torch.as_tensor(lengths[i : i + batch_size])[:, None]).float()
                mask = mask[:, None].to(self.device)  # (b, 1, L)
            with autocast(self.device):
                r, z = self.autoencoder(x, mask)
            zs.append(z.float().cpu())
            rs.append(r.float().cpu())
        return torch.cat(zs).numpy(), torch.cat(rs).numpy()

    @torch.no_grad()
    def codes(self, counts: np.ndarray, lengths: np.ndarray | None = None, *, batch_size: int = 256) -> np.ndarray:
        """GNOCCHI: each trial's code (trial, code_dim) from its counts (trial, neuron, time)."""
        if self.code_encoder is None:
            raise NwbLdnsError("the model has no per-trial codes: fit it with `method` gnocchi")
        enc = self.code_encoder
        if enc.reads_counts:
            x = enc.inputs(None, torch.as_tensor(counts))  # (n, N, L)
        else:
            z, _ = self.encode(counts, lengths, batch_size=batch_size)  # (n, D, L)
            x = (torch.as_tensor(z) - self.latent_mean.cpu()[:, None]) / self.latent_std.cpu()[:, None]
        L = x.shape[-1]
        out = []
        batch_size = micro_batch(batch_size, self.device)
        for i in range(0, len(x), batch_size):
            mask = None
            if lengths is not None and np.min(lengths[i : i + batch_size]) < L:
                mask = (torch.arange(L)[None] < torch.as_tensor(lengths[i : i + batch_size])[:, None]).float()[:, None]
                mask = mask.to(self.device)  # (b, 1, L)
            with autocast(self.device):
                out.append(enc(x[i : i + batch_size].to(self.device), mask).float().cpu())
        return torch.cat(out).numpy()

    @torch.no_grad()
    def invert(self, counts: np.ndarray, *, steps: int = 50) -> tuple[np.ndarray, np.ndarray]:
        """GNOCCHI: each trial's code and the x_T that DDIM (``steps`` steps) maps back to its latents.

        The inversion runs with the trial's own code fixed, so generating from (code', x_T) with
        ``generate(..., codes=code', noise=x_T)`` changes only what the code changes (traversals).
        Returns codes (trial, code_dim) and noise (trial, latent, time), z-scored latent units.
        """
        codes = self.codes(counts)
        z, _ = self.encode(counts)  # (n, D, L)
        zn = (torch.as_tensor(z).to(self.device) - self.latent_mean[:, None]) / self.latent_std[:, None]
        code = torch.as_tensor(codes).to(self.device)
        fn = self._model_fn(cond=None, series=None, mask=None, guidance=1.0, code=code)
        with cached_kernels(self.denoiser):
            x_T = GaussianDiffusion(self.diffusion).ddim_invert(fn, zn.float(), steps=steps)
        return codes, x_T.float().cpu().numpy()

    @torch.no_grad()
    def sample_codes(self, n: int, *, generator: torch.Generator | None = None, steps: int = 50) -> np.ndarray:
        """GNOCCHI: ``n`` codes (n, code_dim) from the code prior (DPM-Solver++(2M) SDE, ``steps``
        steps, as :meth:`sample_latents`; 50 stochastic DDIM steps drew codes of 0.97x the training
        codes' std on the quick two-factor maze model, 50 DPM-Solver++ steps 0.99-1.00x), or from
        N(0, I), the distribution the MMD term pulls the codes toward, for a model without one."""
        if not self.code_dim:
            raise NwbLdnsError("the model has no per-trial codes: fit it with `method` gnocchi")
        gen_device = generator.device if generator is not None else torch.device("cpu")
        x = torch.randn(n, self.code_dim, 1, generator=generator, device=gen_device)  # (n, K, 1)
        if self.code_prior is None:
            return x[..., 0].cpu().numpy()
        prior = self.code_prior
        z = GaussianDiffusion(prior.diffusion).dpmpp_sample(
            lambda x, t: prior(x, t).float(),
            x.to(self.device),
            steps=steps,
            generator=_device_generator(generator, self.device),
        )  # (n, K, 1)
        return prior.unstandardise(z).float().cpu().numpy()

    # ---- diffusion -----------------------------------------------------------------------------
    def training_lengths(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(lengths, probabilities) of the whole training trials when they differ in length, else
        None (fixed windows, or a model saved before the lengths were recorded)."""
        hist = self.data.get("train_lengths")
        if not self.data.get("variable_length") or not hist:
            return None
        lengths = np.array([int(k) for k in hist], dtype=np.int64)
        counts = np.array(list(hist.values()), dtype=np.float64)
        return lengths, counts / counts.sum()

    @property
    def trained_length(self) -> int:
        """Bins of the longest training trials: the denoiser never sees a longer input (see :meth:`_model_fn`)."""
        return int(self.data.get("max_length") or self.data["n_bins"])

    def _model_fn(self, *, cond, series, mask, guidance: float, code=None):
        """Denoiser closure with classifier-free guidance: uncond + w (cond - uncond).

        On a CPU the batch is evaluated in pieces of ``CPU_MICRO_BATCH`` trials (trials do not
        interact in the denoiser, so the result is the same; only the cost per trial falls).
        Latents longer than the training trials are denoised in overlapping windows of the training
        length (see :func:`denoise_in_windows`), so the denoiser only ever sees inputs like those it
        was trained on.
        """
        den = self.compiled_denoiser if self.compiled_denoiser is not None else self.denoiser
        conditional = cond is not None or series is not None or code is not None

        def one(x, t, m, c, s, k):
            with autocast(self.device):
                if not conditional or guidance == 1.0:
                    return den(x, t, mask=m, cond=c, series=s, code=k).float()
                B = x.shape[0]
                drop = torch.cat([torch.zeros(B, dtype=torch.bool), torch.ones(B, dtype=torch.bool)]).to(x.device)
                two = lambda a: None if a is None else torch.cat([a, a])  # noqa: E731
                out = den(two(x), two(t), mask=two(m), cond=two(c), series=two(s), drop=drop, code=two(k)).float()
            c_out, u_out = out[:B], out[B:]
            return u_out + guidance * (c_out - u_out)

        def batched(x, t, m, c, s, k):
            B = x.shape[0]
            piece = micro_batch(B, self.device)
            if B <= piece:
                return one(x, t, m, c, s, k)
            cut = lambda a, i: None if a is None else a[i : i + piece]  # noqa: E731
            return torch.cat([one(*(cut(a, i) for a in (x, t, m, c, s, k))) for i in range(0, B, piece)])  # (B, D, L)

        def fn(x, t):
            return denoise_in_windows(
                batched, x, t, size=self.trained_length, per_bin=(mask, series), per_trial=(cond, code)
            )

        return fn

    @torch.no_grad()
    def sample_latents(
        self,
        n: int,
        length: int,
        *,
        cond: torch.Tensor | None = None,
        series: torch.Tensor | None = None,
        guidance: float = 1.0,
        sampler: str = "dpmpp",
        steps: int = 50,
        generator: torch.Generator | None = None,
        progress=None,
        code: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        eta: float = 0.0,
        lengths: np.ndarray | None = None,
    ) -> torch.Tensor:
        """Draw ``n`` latent trajectories (n, latent, length) in the autoencoder's units.

        ``cond`` (n, cond_dim) and ``series`` (n, channels, length) are normalised features
        (see :func:`condition_features`); None samples the unconditional branch. ``code``
        (n, code_dim) conditions a GNOCCHI model, and ``guidance`` then weighs the code against
        the learned null code; ``noise`` (n, latent, length) fixes x_T.
        ``sampler`` is ``dpmpp``, ``ddim`` or ``ddpm`` (see :func:`nwb_ldns.generate.generate`);
        ``eta`` is DDIM's stochasticity: 0 deterministic, 1 as much fresh noise per step as DDPM.
        ``lengths`` (n,) draws trials of these lengths, each padded to ``length`` as the denoiser
        was trained on whole trials of different lengths; the padding holds zeros.
        """
        if self.denoiser is None:
            raise NwbLdnsError("the model has no diffusion stage yet; fit it (`stages` diffusion)")
        D = self.latent_dim
        gen_device = generator.device if generator is not None else torch.device("cpu")
        if noise is None:
            x = torch.randn(n, D, length, generator=generator, device=gen_device).to(self.device)  # (n, D, L)
        else:
            x = noise.to(self.device, torch.float32)  # (n, D, L)
        if self.code_dim and code is None:
            raise NwbLdnsError("a GNOCCHI model samples from codes: give code (n, code_dim)")
        if code is not None and guidance != 1.0 and not self.denoiser.config.null_code:
            raise NwbLdnsError("the model was fitted without code dropout: it cannot guide by its codes (guidance 1)")
        code = None if code is None else torch.as_tensor(code, dtype=torch.float32).to(self.device)
        mask = None  # every trial is `length` long: no padding, so the fused instance norm applies
        if lengths is not None and (np.asarray(lengths) < length).any():
            mask = (torch.arange(length)[None] < torch.as_tensor(np.asarray(lengths))[:, None]).float()
            mask = mask[:, None].to(self.device)  # (n, 1, L)
            x = x * mask
        cond = None if cond is None else cond.to(self.device)
        series = None if series is None else series.to(self.device)
        diff = GaussianDiffusion(self.diffusion)
        fn = self._model_fn(cond=cond, series=series, mask=mask, guidance=guidance, code=code)
        with cached_kernels(self.denoiser):
            if sampler == "ddpm":
                z = diff.ddpm_sample(fn, x, generator=_device_generator(generator, self.device), progress=progress)
            elif sampler == "dpmpp":
                z = diff.dpmpp_sample(
                    fn, x, steps=steps, progress=progress, generator=_device_generator(generator, self.device)
                )
            else:
                z = diff.ddim_sample(
                    fn,
                    x,
                    steps=steps,
                    eta=eta,
                    progress=progress,
                    generator=_device_generator(generator, self.device) if eta > 0 else None,
                )
        z = z * self.latent_std[:, None] + self.latent_mean[:, None]
        return z if mask is None else z * mask

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (n, latent, L) -> Poisson rates (n, neurons, L), expected counts per bin."""
        with cached_kernels(self.autoencoder), autocast(self.device):
            return self.autoencoder.decode(latents.to(self.device)).float()

    @torch.no_grad()
    def sampled_rates(self, latents: torch.Tensor) -> torch.Tensor:
        """Sampled latents (n, latent, L) -> Poisson rates (n, neurons, L): :meth:`decode`, with each
        unit's rate scaled by the calibration made when the diffusion stage was fitted (a
        denoiser fitted on few trials draws latents whose decoded mean rates are a few percent off
        the data's, most for the highest-rate and sparsest units)."""
        rates = self.decode(latents)  # (n, N, L)
        if self.sample_rate_offset is None:
            return rates
        return rates * self.sample_rate_offset.exp()[:, None]

    def observation(self, name: str):
        """The observation model ``name`` (see :data:`~nwb_ldns.models.observation.OBSERVATION_MODELS`)."""
        if name not in OBSERVATION_MODELS:
            raise NwbLdnsError(f"unknown observation model {name!r}; use {' or '.join(OBSERVATION_MODELS)}")
        if not OBSERVATION_MODELS[name].fitted:
            return OBSERVATION_MODELS[name].build(n_neurons=self.n_neurons)
        if name not in self.observations:
            raise NwbLdnsError(
                f"the model has no {name.replace('_', '-')} stage; fit it (`stages` {name.replace('_', '-')}) "
                "or generate with `observation` poisson"
            )
        return self.observations[name]


def _device_generator(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """A generator on ``device`` seeded from ``generator`` (torch needs them on the same device)."""
    if generator is None or generator.device == device:
        return generator
    g = torch.Generator(device=device)
    g.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
    return g


def latent_stats(latents: np.ndarray, lengths: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of (trial, latent, time) over the valid bins."""
    z = np.asarray(latents, dtype=np.float64)
    if lengths is None:
        flat = z.transpose(1, 0, 2).reshape(z.shape[1], -1)
    else:
        valid = np.arange(z.shape[-1])[None] < np.asarray(lengths)[:, None]  # (B, L)
        flat = z.transpose(1, 0, 2)[:, valid]  # (D, n_valid)
    mean, std = flat.mean(1), flat.std(1)
    std = np.where(std > 1e-8, std, 1.0)
    return torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)


def window_starts(length: int, size: int) -> list[int]:
    """Starts of the windows of ``size`` bins, half a window apart, that cover ``length`` bins (the
    last one ends at ``length``)."""
    hop = max(1, size // 2)
    starts = list(range(0, length - size + 1, hop))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def denoise_in_windows(call, x: torch.Tensor, t: torch.Tensor, *, size: int, per_bin=(), per_trial=()) -> torch.Tensor:
    """``call(x, t, mask, cond, series, code)`` on ``x`` (B, D, L), in overlapping windows when L > ``size``.

    Each window of ``size`` bins (half a window apart) is denoised as a trial of its own and the
    outputs are blended with triangular weights, highest at a window's centre, so that every bin
    is predicted mostly from windows in which it sits far from an edge. ``per_bin`` are
    ``(mask, series)`` (cut into the same windows), ``per_trial`` ``(cond, code)`` (repeated per
    window). A denoiser trained on L-bin trials but run on a whole 16L-bin sequence saw contexts
    it had never seen and its samples drifted (per-neuron mean rates of 16x-length Lorenz samples
    against the data: r 0.74-0.80, rate ratio 1.1-1.2); in windows, r 0.98 and rate ratio 0.97,
    as at the training length, with no step at the windows' joins (docs/fitting.md).
    """
    mask, series = per_bin
    cond, code = per_trial
    B, D, L = x.shape
    if L <= size:
        return call(x, t, mask, cond, series, code)
    starts = window_starts(L, size)
    n = len(starts)
    win = lambda a: None if a is None else torch.stack([a[..., i : i + size] for i in starts], 1).flatten(0, 1)  # noqa: E731
    rep = lambda a: None if a is None else a.repeat_interleave(n, 0)  # noqa: E731
    out = call(win(x), rep(t), win(mask), rep(cond), win(series), rep(code)).unflatten(0, (B, n))  # (B, n, D, size)
    pos = torch.arange(size, device=x.device, dtype=out.dtype)
    w = torch.minimum(pos + 1, size - pos)  # (size,) triangular, > 0 everywhere
    acc = torch.zeros(B, D, L, device=x.device, dtype=out.dtype)
    total = torch.zeros(L, device=x.device, dtype=out.dtype)
    for j, i in enumerate(starts):
        acc[..., i : i + size] += out[:, j] * w
        total[i : i + size] += w
    return acc / total  # (B, D, L)
