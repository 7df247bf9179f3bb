"""torch.compile against eager, side by side in one run: what ``fit --compile`` and
``generate --compile`` buy, and what the compilation costs.

Timed at the sizes of ``benchmarks/vs_reference.py`` (the paper's Lorenz autoencoder: 128
neurons, 256 channels, 4 blocks; the MC_Maze denoiser: 256 channels, 6 blocks):

- **autoencoder training step** and **denoiser training step**, with the S4 blocks compiled in
  place as ``fit --compile`` does (:func:`nwb_ldns.models.blocks.compiled_blocks`);
- **one sampling step** (the denoiser with cached kernels, no gradients), with the whole
  denoiser compiled as ``generate --compile`` does (:meth:`nwb_ldns.fitted.LdnsModel.compile`).

Eager and compiled steps alternate, and each figure is the median of ``--repeats``. The first
compiled call's extra time is the compilation (the inductor's on-disk cache makes a second run
of this script compile faster).

Usage: python benchmarks/compile_speed.py [--batch 64] [--length 256] [--sample-trials 64]
       [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import sys
import time

import torch
from vs_reference import (
    AE_BLOCKS,
    AE_HIDDEN,
    DEN_BLOCKS,
    DEN_HIDDEN,
    LATENT,
    N_NEURONS,
    our_ae_step,  # same sizes, steps
    our_denoiser_step,
    perturb,
)

from nwb_ldns.config import AutoencoderConfig, DenoiserConfig, DiffusionConfig
from nwb_ldns.models import s4
from nwb_ldns.models.autoencoder import Autoencoder
from nwb_ldns.models.blocks import compiled_blocks
from nwb_ldns.models.denoiser import Denoiser
from nwb_ldns.models.diffusion import GaussianDiffusion


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def side_by_side(eager, compiled, repeats: int, device: torch.device) -> tuple[float, float, float]:
    """(eager s, compiled s, compilation s): medians of alternating calls after one warm-up each."""
    eager()
    _sync(device)
    t0 = time.perf_counter()
    compiled()
    _sync(device)
    first = time.perf_counter() - t0
    e, c = [], []
    for _ in range(repeats):
        for fn, out in ((eager, e), (compiled, c)):
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            out.append(time.perf_counter() - t0)
    te, tc = statistics.median(e), statistics.median(c)
    return te, tc, max(first - tc, 0.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64, help="training batch (trials)")
    ap.add_argument("--length", type=int, default=256, help="bins per trial")
    ap.add_argument("--sample-trials", type=int, default=64, help="trials per sampling step")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    B, L = args.batch, args.length
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__} on {name}; batch {B} x {L} bins; fp32")
    torch.manual_seed(0)
    g = torch.Generator(device=dev).manual_seed(0)
    rows = []
    compiled = contextlib.ExitStack()  # the copies' blocks stay compiled until the end

    counts = torch.poisson(torch.full((B, N_NEURONS, L), 0.3, device=dev))  # (B, N, L)
    ae = Autoencoder(
        config=AutoencoderConfig(n_neurons=N_NEURONS, hidden=AE_HIDDEN, latent_dim=LATENT, n_blocks=AE_BLOCKS)
    ).to(dev)
    ae_c = compiled.enter_context(compiled_blocks(copy.deepcopy(ae)))
    rows.append(
        (
            "autoencoder training step (blocks compiled)",
            *side_by_side(our_ae_step(ae, counts, g), our_ae_step(ae_c, counts, g), args.repeats, dev),
        )
    )

    z = torch.randn(B, LATENT, L, device=dev)  # (B, D, L)
    diff = GaussianDiffusion(DiffusionConfig(loss="mse"))
    den = Denoiser(
        config=DenoiserConfig(latent_dim=LATENT, hidden=DEN_HIDDEN, n_blocks=DEN_BLOCKS, embed_dim=DEN_HIDDEN // 4)
    ).to(dev)
    perturb(den)
    den_c = compiled.enter_context(compiled_blocks(copy.deepcopy(den)))
    rows.append(
        (
            "denoiser training step (blocks compiled)",
            *side_by_side(our_denoiser_step(den, diff, z, g), our_denoiser_step(den_c, diff, z, g), args.repeats, dev),
        )
    )

    compiled.close()
    n = args.sample_trials
    den.eval()
    whole = torch.compile(den, dynamic=False)
    x = torch.randn(n, LATENT, L, device=dev)  # (n, D, L)
    t = torch.full((n,), 500, device=dev)
    with s4.cached_kernels(den), torch.no_grad():
        rows.append(
            (
                f"sampling step, {n} trials (denoiser compiled)",
                *side_by_side(lambda: den(x, t), lambda: whole(x, t), args.repeats, dev),
            )
        )
        err = (whole(x, t) - den(x, t)).abs().max().item()

    print("\n| what | eager | compiled | speed-up | compilation |")
    print("|---|---|---|---|---|")
    for what, te, tc, tcomp in rows:
        print(f"| {what} | {te:.3f} s | {tc:.3f} s | {te / tc:.2f}x | {tcomp:.1f} s |")
    print(f"\nsampling step: compiled vs eager max |difference| {err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
