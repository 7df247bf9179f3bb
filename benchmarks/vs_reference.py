"""Side by side with the LDNS reference code (mackelab/LDNS), timed in one process.

The reference is not part of this repo and must never be committed. Put it in a scratch folder
and give it a Python that can import it (its ``ldns`` package needs ``einops``, and
``diffusers==0.3.0`` for its DDPM scheduler)::

    git clone <mackelab/LDNS> /tmp/ldns-ref                   # outside this repo
    python -m venv --system-site-packages /tmp/ldns-ref/venv
    /tmp/ldns-ref/venv/bin/pip install einops "diffusers==0.3.0"
    /tmp/ldns-ref/venv/bin/python benchmarks/vs_reference.py --reference /tmp/ldns-ref

(``--reference`` defaults to ``$LDNS_REFERENCE``.) Without the reference, or without what it
imports, the script says so and exits 0.

What is timed, each side with its own code at the same sizes and the same data:

- **autoencoder training step** (the paper's Lorenz autoencoder: 128 neurons, 256 channels,
  8 latents, 4 blocks, no decoder blocks): coordinated dropout, Poisson NLL on the dropped
  entries, latent L2 + temporal smoothness, backward, clip 2.0, AdamW. The reference uses its
  full S4 (DPLR, Cauchy kernel) as its notebooks do; ours S4D with a real-arithmetic kernel.
- **denoiser training step** (256 channels, 6 blocks: the paper's MC_Maze denoiser size; our
  step embedding set to C/4 = 64 as the reference's): noise at a uniform step, epsilon loss,
  backward, clip 1.0, AdamW, EMA update.
- **sampling N trials**: the reference's loop (``ldns.utils.sampling_utils.sample``: its
  ``DDPMScheduler``, all 1000 steps) against our DDIM (50 and 20 steps) with cached kernels. The
  reference's steps all cost the same, so ``--ref-steps K`` times K of them and scales by
  1000 / K (``--ref-steps 1000`` runs them all). Our own 1000-step DDPM is timed the same way,
  to separate the sampler's gain from the implementation's. That 50 DDIM steps are as realistic
  as 1000 DDPM steps is measured on a trained model by ``benchmarks/lorenz_fidelity.py``.

Both sides run in fp32 on this machine's CPU threads (the reference trains in bf16 on a GPU;
CPU has no bf16 FFT), or on CUDA with ``--device cuda``.

``--compile`` adds rows for ours compiled by ``torch.compile`` as ``fit --compile`` and
``generate --compile`` run it (compilation not counted; ``benchmarks/compile_speed.py`` gives it).

Usage: python benchmarks/vs_reference.py [--reference DIR] [--batch 64] [--sample-trials 16]
       [--ref-steps 20] [--repeats 5] [--device cpu] [--compile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from nwb_ldns.config import AutoencoderConfig, DenoiserConfig, DiffusionConfig
from nwb_ldns.models import s4
from nwb_ldns.models.autoencoder import Autoencoder
from nwb_ldns.models.blocks import compiled_blocks
from nwb_ldns.models.denoiser import Denoiser
from nwb_ldns.models.diffusion import GaussianDiffusion
from nwb_ldns.training import EMA

N_NEURONS, AE_HIDDEN, LATENT, AE_BLOCKS = 128, 256, 8, 4
DEN_HIDDEN, DEN_BLOCKS = 256, 6
P_DROP, BETA, TD_BETA = 0.2, 0.01, 0.01


def load_reference(path: str | None):
    """The reference's modules, or None and the reason it cannot be used."""
    if not path:
        return None, "no reference given (--reference DIR or LDNS_REFERENCE)"
    root = Path(path).expanduser()
    if not (root / "ldns" / "networks" / "blocks.py").is_file():
        return None, f"{root} does not hold the LDNS reference code (ldns/networks/blocks.py)"
    sys.path.insert(0, str(root))
    try:
        from diffusers.schedulers import DDPMScheduler
        from diffusers.training_utils import EMAModel
        from ldns.losses import latent_regularizer
        from ldns.networks import AutoEncoder, CountWrapper
        from ldns.networks import Denoiser as RefDenoiser
        from ldns.utils import sampling_utils
    except ImportError as exc:
        return None, f"the reference cannot be imported here ({exc}); it needs einops and diffusers==0.3.0"
    return SimpleNamespace(
        AutoEncoder=AutoEncoder,
        CountWrapper=CountWrapper,
        Denoiser=RefDenoiser,
        DDPMScheduler=DDPMScheduler,
        EMAModel=EMAModel,
        latent_regularizer=latent_regularizer,
        sampling_utils=sampling_utils,
    ), ""


def timed(fn, repeats: int, warmup: int = 1, device: torch.device | None = None) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls."""
    sync = torch.cuda.synchronize if device is not None and device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def n_params(m: torch.nn.Module) -> float:
    return sum(p.numel() for p in m.parameters()) / 1e6


# ---- the reference, driven the way its notebooks train and sample ------------------------------
def ref_ae_step(ref, ae, counts):
    opt = torch.optim.AdamW(ae.parameters(), lr=1e-3)
    cfg = SimpleNamespace(training=SimpleNamespace(latent_beta=BETA, latent_td_beta=TD_BETA, get=lambda k, d: d))
    nll = torch.nn.PoissonNLLLoss(log_input=False, full=True, reduction="none")

    def step():
        opt.zero_grad()
        keep = (torch.rand_like(counts) > P_DROP).float()  # (B, N, L)
        rates, z = ae(counts * keep / (1 - P_DROP))  # (B, N, L), (B, D, L)
        rec = (nll(rates, counts) * (1 - keep)).mean()
        loss = rec + BETA * ref.latent_regularizer(z, cfg) / counts.numel()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ae.parameters(), 2.0)
        opt.step()

    return step


def ref_denoiser_step(ref, den, z):
    opt = torch.optim.AdamW(den.parameters(), lr=1e-3)
    sched = ref.DDPMScheduler(num_train_timesteps=1000, clip_sample=False, beta_schedule="linear")
    ema = ref.EMAModel(den)

    def step():
        opt.zero_grad()
        t = torch.randint(0, 1000, (z.shape[0],)).to(z.device)
        noise = torch.randn_like(z)  # (B, D, L)
        loss = F.mse_loss(noise, den(sched.add_noise(z, noise, t), t))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(den.parameters(), 1.0)
        opt.step()
        ema.step(den)

    return step


def ref_sample_steps(ref, den, n: int, length: int, steps: int, device) -> float:
    """Seconds for ``steps`` of the reference's 1000-step DDPM loop on ``n`` trials."""
    sched = ref.DDPMScheduler(num_train_timesteps=1000, clip_sample=False, beta_schedule="linear")
    sched.set_timesteps(1000)
    z = torch.randn(n, LATENT, length, device=device)  # (n, D, L)
    with torch.no_grad():  # warm-up step
        den(z, torch.full((n,), 999, device=device, dtype=torch.long))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for t in list(sched.timesteps)[:steps]:  # the body of ldns.utils.sampling_utils.sample
        with torch.no_grad():
            out = den(z, torch.tensor([t] * n).to(device).long())
        z = sched.step(out, t, z, return_dict=False)[0]
    sync()
    return time.perf_counter() - t0


# ---- ours ----------------------------------------------------------------------------------------
def our_ae_step(ae, counts, g):
    opt = torch.optim.AdamW(ae.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        ae.loss(counts, rng=g).backward()
        torch.nn.utils.clip_grad_norm_(ae.parameters(), 2.0)
        opt.step()

    return step


def our_denoiser_step(den, diff, z, g):
    opt = torch.optim.AdamW(den.parameters(), lr=1e-3)
    ema = EMA(den, 0.999)

    def step():
        opt.zero_grad(set_to_none=True)
        diff.loss(lambda x, t: den(x, t), z, rng=g).backward()
        torch.nn.utils.clip_grad_norm_(den.parameters(), 1.0)
        opt.step()
        ema.update(den)

    return step


class _Enough(Exception):
    pass


def perturb(model: torch.nn.Module) -> None:
    """Move zero-initialised (adaLN-Zero) weights off zero, so that every block does its work."""
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim > 1:
                p.add_(torch.randn_like(p) * 0.01)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--reference",
        default=os.environ.get("LDNS_REFERENCE"),
        help="folder holding the mackelab/LDNS code (default $LDNS_REFERENCE)",
    )
    ap.add_argument("--batch", type=int, default=64, help="training batch (trials)")
    ap.add_argument("--length", type=int, default=256, help="bins per trial")
    ap.add_argument("--sample-trials", type=int, default=16)
    ap.add_argument("--ref-steps", type=int, default=20, help="DDPM steps timed, scaled to 1000")
    ap.add_argument(
        "--ddim-steps",
        type=int,
        nargs="+",
        default=[50, 20],
        help="our DDIM step counts to time (realism of each: benchmarks/lorenz_fidelity.py --sweep)",
    )
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--compile", action="store_true", help="also time ours compiled, as fit --compile and generate --compile run"
    )
    args = ap.parse_args(argv)
    ref, why = load_reference(args.reference)
    if ref is None:
        print(f"vs_reference: skipped: {why}")
        return 0
    dev = torch.device(args.device)
    torch.manual_seed(0)
    B, L, n, K = args.batch, args.length, args.sample_trials, args.ref_steps
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__} on {name}; batch {B} x {L} bins; fp32")

    counts = torch.poisson(torch.full((B, N_NEURONS, L), 0.3, device=dev))  # (B, N, L)
    g = torch.Generator(device=dev).manual_seed(0)
    r_ae = ref.CountWrapper(
        ref.AutoEncoder(C_in=N_NEURONS, C=AE_HIDDEN, C_latent=LATENT, L=L, num_blocks=AE_BLOCKS, num_blocks_decoder=0)
    ).to(dev)
    o_ae = Autoencoder(
        config=AutoencoderConfig(
            n_neurons=N_NEURONS,
            hidden=AE_HIDDEN,
            latent_dim=LATENT,
            n_blocks=AE_BLOCKS,
            dropout=P_DROP,
            beta=BETA,
            td_beta=TD_BETA,
        )
    ).to(dev)
    t_ae = (
        timed(ref_ae_step(ref, r_ae, counts), args.repeats, device=dev),
        timed(our_ae_step(o_ae, counts, g), args.repeats, device=dev),
    )
    if args.compile:
        with compiled_blocks(o_ae):  # the warm-up call compiles
            t_ae_c = timed(our_ae_step(o_ae, counts, g), args.repeats, device=dev)

    z = torch.randn(B, LATENT, L, device=dev)  # (B, D, L)
    r_den = ref.Denoiser(C_in=LATENT, C=DEN_HIDDEN, L=L, num_blocks=DEN_BLOCKS).to(dev)
    o_den = Denoiser(
        config=DenoiserConfig(latent_dim=LATENT, hidden=DEN_HIDDEN, n_blocks=DEN_BLOCKS, embed_dim=DEN_HIDDEN // 4)
    ).to(dev)
    diff = GaussianDiffusion(DiffusionConfig(loss="mse"))
    t_den = (
        timed(ref_denoiser_step(ref, r_den, z), args.repeats, device=dev),
        timed(our_denoiser_step(o_den, diff, z, g), args.repeats, device=dev),
    )
    if args.compile:
        with compiled_blocks(o_den):
            t_den_c = timed(our_denoiser_step(o_den, diff, z, g), args.repeats, device=dev)

    perturb(r_den)
    perturb(o_den)
    r_den.eval()
    o_den.eval()
    t_ref_k = ref_sample_steps(ref, r_den, n, L, K, dev)
    xT = torch.randn(n, LATENT, L, device=dev)  # (n, D, L)
    fn = lambda x, t: o_den(x, t)  # noqa: E731
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def ddim_times(model_fn) -> dict[int, float]:
        diff.ddim_sample(model_fn, xT, steps=2)  # warm-up: fills the kernel cache (and compiles)
        out = {}
        for k in args.ddim_steps:
            sync()
            t0 = time.perf_counter()
            diff.ddim_sample(model_fn, xT, steps=k)
            sync()
            out[k] = time.perf_counter() - t0
        return out

    with s4.cached_kernels(o_den):
        t_ddim = ddim_times(fn)
        if args.compile:
            whole = torch.compile(o_den, dynamic=False)
            t_ddim_c = ddim_times(lambda x, t: whole(x, t))
        t0 = time.perf_counter()
        done = [0]

        def stop_after_k():  # ddpm_sample's progress hook: leave after K of its steps
            done[0] += 1
            if done[0] >= K:
                raise _Enough

        try:
            diff.ddpm_sample(fn, xT, generator=g, progress=stop_after_k)
        except _Enough:
            pass
        sync()
        t_ddpm_k = time.perf_counter() - t0

    scale = 1000 / K
    rows = [
        ("autoencoder training step", f"{n_params(r_ae):.2f} M / {n_params(o_ae):.2f} M", *t_ae, ">= 3x"),
        ("denoiser training step", f"{n_params(r_den):.2f} M / {n_params(o_den):.2f} M", *t_den, ""),
        *(
            (
                f"sample {n} trials x {L} bins: its 1000 DDPM steps vs our {k} DDIM",
                "",
                t_ref_k * scale,
                t_ddim[k],
                ">= 50x",
            )
            for k in args.ddim_steps
        ),
        (f"sample {n} trials: its 1000 DDPM steps vs our 1000 DDPM steps", "", t_ref_k * scale, t_ddpm_k * scale, ""),
    ]
    if args.compile:
        rows += [
            ("autoencoder training step, ours compiled (fit --compile)", "", t_ae[0], t_ae_c, ">= 3x"),
            ("denoiser training step, ours compiled (fit --compile)", "", t_den[0], t_den_c, ""),
            *(
                (
                    f"sample {n} trials: its 1000 DDPM steps vs our {k} DDIM compiled (generate --compile)",
                    "",
                    t_ref_k * scale,
                    t_ddim_c[k],
                    ">= 50x",
                )
                for k in args.ddim_steps
            ),
        ]
    print("\n| what | params (reference / ours) | reference | ours | speed-up | target |")
    print("|---|---|---|---|---|---|")
    for what, params, a, b, target in rows:
        verdict = ""
        if target:
            verdict = ": met" if a / b >= float(target.split()[1].rstrip("x")) else ": **not met**"
        print(f"| {what} | {params} | {a:.3f} s | {b:.3f} s | {a / b:.1f}x | {target}{verdict} |")
    timed_note = "all 1000 timed" if K >= 1000 else f"{K} steps timed, x {scale:g}"
    print(
        f"\nDDPM sampling: {timed_note}; reference {t_ref_k / K:.3f} s/step, ours {t_ddpm_k / K:.3f} s/step "
        f"(cached kernels); our DDIM {', '.join(f'{t_ddim[k] / k:.3f}' for k in args.ddim_steps)} s/step"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
