"""LDNS on the Lorenz benchmark: autoencoder rate R^2, realism of samples, PSDs, 16x-length samples.

Fits (or reuses) a model on ``sim:lorenz``, then reports:
- autoencoder rate R^2 against the simulation's ground-truth rates on held-out (test) trials;
- Pearson r (data vs samples) of mean ISI, std ISI, pairwise correlation and population-count
  density (the reference reaches >= 0.99 on all four), for 50-step DDIM and 1000-step DDPM
  samples (the realism side of the sampling speed-up in bench_model.py);
- PSD of sampled vs autoencoder latents (Pearson r of log power);
- 16x-length samples: the same statistics, and the drift of firing rate from the first to
  the last quarter of the trial.

Usage:
  python benchmarks/lorenz_fidelity.py --preset quick --n-trials 1000 --model-dir /tmp/lorenz-model
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from nwb_ldns import metrics
from nwb_ldns.artifacts import load_model
from nwb_ldns.dataset import build_dataset
from nwb_ldns.fit import count_parameters, fit
from nwb_ldns.generate import generate
from nwb_ldns.sources import open_source


def realism(real: np.ndarray, fake: np.ndarray, bin_s: float) -> dict[str, float]:
    """Pearson r of the four statistics between real and generated counts (trial, neuron, time)."""
    mr, sr = metrics.isi_stats(real, bin_s)
    mf, sf = metrics.isi_stats(fake, bin_s)
    top = int(np.percentile(real.sum(1), 99.5)) + 1
    return {
        "r_mean_isi": metrics.pearson(mr, mf),
        "r_std_isi": metrics.pearson(sr, sf),
        "r_pairwise_corr": metrics.pearson(metrics.pairwise_correlations(real), metrics.pairwise_correlations(fake)),
        "r_pop_count": metrics.pearson(
            metrics.population_count_density(real, top), metrics.population_count_density(fake, top)
        ),
        "rmse_mean_isi_s": metrics.rmse(mr, mf),
        "rmse_pairwise_corr": metrics.rmse(metrics.pairwise_correlations(real), metrics.pairwise_correlations(fake)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-trials", type=int, default=5000, help="simulated trials (paper: 5000)")
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--epochs-ae", type=int, default=None)
    ap.add_argument("--epochs-diffusion", type=int, default=None)
    ap.add_argument("--model-dir", default="lorenz-fidelity-model")
    ap.add_argument("--reuse", action="store_true", help="use an existing --model-dir instead of fitting")
    ap.add_argument("--n-samples", type=int, default=1000, help="DDIM samples compared with the training trials")
    ap.add_argument("--n-ddpm", type=int, default=200, help="1000-step DDPM samples (slow on a CPU)")
    ap.add_argument("--n-long", type=int, default=50, help="16x-length samples")
    ap.add_argument(
        "--sweep",
        type=int,
        nargs="*",
        default=[],
        help="also sample --n-samples trials with these DDIM step counts (same noise as DDIM 50)",
    )
    ap.add_argument("--no-long", action="store_true", help="skip the 16x-length samples")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()

    rec = open_source(f"sim:lorenz?n_trials={args.n_trials}")
    sim = rec.simulation
    data = build_dataset(rec)
    t0 = time.perf_counter()
    if not args.reuse:
        over = {
            "ae_train": {"epochs": args.epochs_ae},
            "diffusion_train": {"epochs": args.epochs_diffusion},
            "history_train": {},
        }
        fit(
            data,
            args.model_dir,
            preset=args.preset,
            overwrite=True,
            overrides=over,
            stages=("autoencoder", "diffusion"),
        )
    fit_s = time.perf_counter() - t0
    model = load_model(args.model_dir, require=("autoencoder", "diffusion"))
    bin_s = data.bin_s
    out: dict = {
        "n_trials": args.n_trials,
        "preset": args.preset,
        "fit_seconds": round(fit_s, 1),
        "ae_params": count_parameters(model.autoencoder),
        "denoiser_params": count_parameters(model.denoiser),
        "epochs": {k: len(v["history"]["train_loss"]) for k, v in model.info["stages"].items()},
        "stage_seconds": {k: round(v["history"]["seconds"], 1) for k, v in model.info["stages"].items()},
    }

    # autoencoder rates vs ground truth on held-out trials
    test = data.select("test")
    truth = sim.rates()[np.isin(data.trial_ids, test.trial_ids)]  # (trial, neuron, time) expected counts
    z_test, rates_test = model.encode(test.counts_bct())
    out["ae_rate_r2_test"] = metrics.r2_score(truth, rates_test)

    train = data.select("train")
    real = train.counts_bct(np.int64)
    z_train, _ = model.encode(train.counts_bct())
    t = time.perf_counter()
    ddim = generate(model, n_trials=args.n_samples, seed=1, batch_size=250)
    out["ddim50_seconds"] = round(time.perf_counter() - t, 1)
    out["ddim50"] = realism(real, ddim.counts.astype(np.int64), bin_s)
    if args.n_ddpm:
        t = time.perf_counter()
        ddpm = generate(model, n_trials=args.n_ddpm, seed=2, sampler="ddpm", batch_size=250)
        out["ddpm1000_seconds"] = round(time.perf_counter() - t, 1)
        out["ddpm1000"] = realism(real, ddpm.counts.astype(np.int64), bin_s)
        out["ddim50_same_n"] = realism(real, ddim.counts[: args.n_ddpm].astype(np.int64), bin_s)

    for k in args.sweep:  # fewer DDIM steps: where realism starts to drop
        t = time.perf_counter()
        few = generate(model, n_trials=args.n_samples, seed=1, batch_size=250, steps=k)
        out[f"ddim{k}_seconds"] = round(time.perf_counter() - t, 1)
        out[f"ddim{k}"] = realism(real, few.counts.astype(np.int64), bin_s)
        if args.n_ddpm:
            out[f"ddim{k}_same_n"] = realism(real, few.counts[: args.n_ddpm].astype(np.int64), bin_s)

    f, p_ae = metrics.latent_psd(z_train, bin_s)
    _, p_s = metrics.latent_psd(ddim.latents, bin_s)
    out["psd_logpower_r"] = metrics.pearson(np.log(p_ae), np.log(p_s))
    out["psd_power_ratio_median"] = float(np.median(p_s / p_ae))

    out["torch_threads"] = torch.get_num_threads()
    rows = [("DDIM 50", out["ddim50"])]
    rows += [(f"DDIM {k}", out[f"ddim{k}"]) for k in args.sweep]
    if args.n_ddpm:
        rows += [(f"DDIM 50 (first {args.n_ddpm})", out["ddim50_same_n"])]
        rows += [(f"DDIM {k} (first {args.n_ddpm})", out[f"ddim{k}_same_n"]) for k in args.sweep]
        rows += [("DDPM 1000", out["ddpm1000"])]
    if not args.no_long:
        long16x(model, data, real, args.n_long, out)
        rows.append(("16x length (cut)", out["long16x"]))

    print(json.dumps(out, indent=2))
    print("\n| samples | r mean ISI | r std ISI | r pairwise corr | r pop. count |\n|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['r_mean_isi']:.3f} | {r['r_std_isi']:.3f} "
            f"| {r['r_pairwise_corr']:.3f} | {r['r_pop_count']:.3f} |"
        )
    print(
        f"\nAE rate R^2 (test trials vs ground truth): {out['ae_rate_r2_test']:.3f}; PSD log-power r: "
        f"{out['psd_logpower_r']:.3f}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


def long16x(model, data, real: np.ndarray, n_long: int, out: dict) -> None:
    """16x-length samples cut to the training length: realism and drift along the trial."""
    bin_s = data.bin_s
    L = data.n_bins * 16
    long = generate(model, n_trials=n_long, length=L, seed=3, batch_size=25)
    chunks = long.counts.reshape(n_long, data.n_units, 16, data.n_bins).transpose(0, 2, 1, 3)
    chunks = chunks.reshape(-1, data.n_units, data.n_bins).astype(np.int64)  # 16x trials cut to training length
    out["long16x"] = realism(real, chunks, bin_s)
    q = L // 4
    first, last = long.counts[..., :q].mean((0, 2)), long.counts[..., -q:].mean((0, 2))
    out["long16x_rate_first_vs_last_quarter_r"] = metrics.pearson(first, last)
    out["long16x_mean_rate_ratio_last_first"] = float(last.mean() / first.mean())
    out["long16x_latent_std_first_last"] = [float(long.latents[..., :q].std()), float(long.latents[..., -q:].std())]


if __name__ == "__main__":
    main()
