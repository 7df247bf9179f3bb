"""Model speed: autoencoder and denoiser training steps, and sampling, ours vs the reference configuration.

The reference configuration is the same network (same weights, same sizes: the paper's Lorenz
autoencoder 128/256/8 with 4 blocks, and a 6-block 256-channel denoiser) run the way the
LDNS reference code runs S4: the kernel built with complex ``exp`` over every (channel, mode,
position) and applied by FFT at every call, nothing cached while sampling, and 1000 ancestral
DDPM steps. Ours: the kernel in real arithmetic with the position factorisation (one batched
matmul), Toeplitz matmul for short sequences, kernels cached across denoising steps, DDIM.
Both run side by side in this process, on this machine's threads.

Whether 50 DDIM steps are as realistic as 1000 DDPM steps is measured on a trained model by
``benchmarks/lorenz_fidelity.py``.

Usage: python benchmarks/bench_model.py [--batch 64] [--sample-trials 16] [--ref-steps 20]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from nwb_ldns.config import AutoencoderConfig, DenoiserConfig, DiffusionConfig
from nwb_ldns.models import s4
from nwb_ldns.models.autoencoder import Autoencoder
from nwb_ldns.models.denoiser import Denoiser
from nwb_ldns.models.diffusion import GaussianDiffusion


class ReferenceS4D(s4.S4D):
    """S4D as the reference runs it: complex Vandermonde kernel, FFT always, no cache."""

    def kernel(self, length: int) -> torch.Tensor:
        dt = self.log_dt.float().exp()[:, None]  # (H, 1)
        A = torch.complex(-self.log_a.float().exp(), self.a_imag.float())  # (H, N)
        dtA = A * dt  # (H, N)
        C = torch.complex(self.c[..., 0].float(), self.c[..., 1].float()) * (torch.exp(dtA) - 1) / A  # (H, N)
        pos = torch.arange(length, device=dt.device, dtype=torch.float32)  # (L,)
        vander = torch.exp(dtA[..., None] * pos)  # (H, N, L) complex
        return 2 * torch.einsum("hn,hnl->hl", C, vander).real  # (H, L)

    def _operator(self, length, device):
        k = self.kernel(length)
        H = self.channels
        if self.bidirectional:
            k = F.pad(k[:H], (0, length)) + F.pad(k[H:].flip(-1), (length, 0))
        return "fft", torch.fft.rfft(k, n=2 * length)


def as_reference(model: torch.nn.Module) -> torch.nn.Module:
    ref = copy.deepcopy(model)
    for m in ref.modules():
        if isinstance(m, s4.S4D):
            m.__class__ = ReferenceS4D
    return ref


def timed(fn, repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def train_step(model, loss_fn):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model).backward()
        opt.step()

    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=256)
    ap.add_argument("--sample-trials", type=int, default=16)
    ap.add_argument("--ref-steps", type=int, default=20, help="reference DDPM steps actually timed (x1000 / this)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    B, L = args.batch, args.length
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {B} x {L} bins")

    ae = Autoencoder(config=AutoencoderConfig())
    counts = torch.poisson(torch.full((B, 128, L), 0.3))
    g = torch.Generator().manual_seed(0)
    ae_loss = lambda m: m.loss(counts, rng=g)  # noqa: E731
    n_ae = sum(p.numel() for p in ae.parameters())
    t_ref_ae = timed(train_step(as_reference(ae), ae_loss), args.repeats)
    t_ae = timed(train_step(ae, ae_loss), args.repeats)

    den = Denoiser(config=DenoiserConfig())
    diff = GaussianDiffusion(DiffusionConfig())
    z = torch.randn(B, 8, L)
    den_loss = lambda m: diff.loss(lambda x, t: m(x, t), z, rng=g)  # noqa: E731
    n_den = sum(p.numel() for p in den.parameters())
    t_ref_den = timed(train_step(as_reference(den), den_loss), args.repeats)
    t_den = timed(train_step(den, den_loss), args.repeats)

    # sampling: perturb the zero-initialised adaLN so that every block does work
    with torch.no_grad():
        for p in den.parameters():
            if p.ndim > 1:
                p.add_(torch.randn_like(p) * 0.01)
    den.eval()
    ref = as_reference(den).eval()
    n = args.sample_trials
    xT = torch.randn(n, 8, L)
    fn_ref = lambda x, t: ref(x, t)  # noqa: E731
    fn = lambda x, t: den(x, t)  # noqa: E731
    with torch.no_grad():
        fn_ref(xT, torch.zeros(n, dtype=torch.long))  # warm-up
        t0 = time.perf_counter()
        x = xT
        for step in range(args.ref_steps):  # the reference's ancestral step, kernels recomputed each time
            x = fn_ref(x, torch.full((n,), 999 - step, dtype=torch.long))
        t_ref_step = (time.perf_counter() - t0) / args.ref_steps
    t_ref_sample = t_ref_step * 1000
    with s4.cached_kernels(den):
        diff.ddim_sample(fn, xT, steps=2)  # warm-up, fills the kernel cache
        t0 = time.perf_counter()
        diff.ddim_sample(fn, xT, steps=50)
        t_ours_sample = time.perf_counter() - t0

    rows = [
        ("autoencoder training step", f"{n_ae / 1e6:.2f} M", t_ref_ae, t_ae),
        ("denoiser training step", f"{n_den / 1e6:.2f} M", t_ref_den, t_den),
        (f"sample {n} trials (1000 DDPM vs 50 DDIM)", f"{n_den / 1e6:.2f} M", t_ref_sample, t_ours_sample),
    ]
    print("\n| what | params | reference config (s) | ours (s) | speed-up |\n|---|---|---|---|---|")
    for name, params, a, b in rows:
        print(f"| {name} | {params} | {a:.3f} | {b:.3f} | {a / b:.1f}x |")
    print(
        f"\nreference sampling: {args.ref_steps} steps timed ({t_ref_step:.3f} s/step) x 1000; "
        f"ours: 50 DDIM steps timed end to end ({t_ours_sample / 50:.3f} s/step with cached kernels)"
    )


if __name__ == "__main__":
    main()
