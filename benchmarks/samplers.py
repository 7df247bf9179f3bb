"""Samplers side by side on fitted models: how close the sampled latents and spikes come to the data.

For each model (a dir written by ``nwb-ldns fit``) and the recording it was fitted on, every
sampler draws trials from the same model with the same seed; printed per sampler:

- the sampled latents' per-channel std and lag-1 autocorrelation against the encoded training
  trials' (a perfect sampler of a perfect model gives 1.00 and the same autocorrelation);
- the median and 10th-percentile per-neuron rate ratio, synthetic / real;
- the four LDNS statistics as ratios to the half-vs-half floor (both sides ``n`` training
  trials, 20 real halves for the floor, 8 draws for the samples) and their Pearson r.

Example::

    python benchmarks/samplers.py lorenz-model "sim:lorenz?n_trials=5000" maze-model "sim:maze?n_trials=2000"
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from fidelity import pearson_stats  # noqa: E402

from nwb_ldns import metrics as M  # noqa: E402
from nwb_ldns.artifacts import load_model  # noqa: E402
from nwb_ldns.encode import load_for_model  # noqa: E402
from nwb_ldns.evaluate import latent_channel_stats  # noqa: E402
from nwb_ldns.generate import generate  # noqa: E402

SAMPLERS = {
    "dpmpp 50": {"sampler": "dpmpp", "steps": 50},
    "ddim 50 (eta 1)": {"sampler": "ddim", "steps": 50, "eta": 1.0},
    "ddim 50 (eta 0)": {"sampler": "ddim", "steps": 50, "eta": 0.0},
    "dpmpp 200": {"sampler": "dpmpp", "steps": 200},
    "ddpm 1000": {"sampler": "ddpm"},
}


def floor_ratios(real: np.ndarray, fake: np.ndarray, n: int, bin_s: float, floor: dict, draws: int = 8) -> dict:
    """The four statistics of ``n`` synthetic against ``n`` real trials, as ratios to ``floor``."""
    rng, out = np.random.default_rng(1), {}
    for _ in range(draws):
        a, b = real[rng.permutation(len(real))[:n]], fake[rng.permutation(len(fake))[:n]]
        for k, v in M.set_metrics(a, b, bin_s).items():
            out.setdefault(k, []).append(v)
    return {k: float(np.mean(out[k]) / floor[k]) for k in M.CORE_METRICS}


def compare(model_dir: str, source: str, samplers: list[str], seed: int = 1) -> dict:
    """Score each sampler on one model; returns {sampler: scores}."""
    model = load_model(model_dir)
    data = load_for_model(model, source)
    real = data.select("train").counts_bct(np.float64)  # (trial, unit, time)
    n = min(500, len(real) // 2)
    encoded = latent_channel_stats(model.encode(real[:1000])[0])
    rng, halves = np.random.default_rng(0), {}
    for _ in range(20):
        p = rng.permutation(len(real))
        for k, v in M.set_metrics(real[p[:n]], real[p[n : 2 * n]], data.bin_s).items():
            halves.setdefault(k, []).append(v)
    floor = {k: float(np.mean(v)) for k, v in halves.items()}
    out = {}
    for name in samplers:
        t = time.perf_counter()
        syn = generate(model, n_trials=max(3 * n, 600), seed=seed, **SAMPLERS[name])
        seconds = time.perf_counter() - t
        fake = syn.counts.astype(np.float64)
        sampled = latent_channel_stats(syn.latents)
        ratio = fake.mean((0, 2)) / np.maximum(real.mean((0, 2)), 1e-12)
        out[name] = {
            "seconds": seconds,
            "latent_std_ratio": float(np.mean(np.array(sampled["std"]) / np.array(encoded["std"]))),
            "lag1_encoded": float(np.mean(encoded["lag1_autocorrelation"])),
            "lag1_sampled": float(np.mean(sampled["lag1_autocorrelation"])),
            "rate_ratio_median": float(np.median(ratio)),
            "rate_ratio_p10": float(np.percentile(ratio, 10)),
            "x_floor": floor_ratios(real, fake, n, data.bin_s, floor),
            "pearson": pearson_stats(real, fake, data.bin_s),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs", nargs="+", metavar="MODEL SOURCE", help="model dirs, each followed by its source")
    ap.add_argument(
        "--samplers",
        default="dpmpp 50,ddim 50 (eta 1)",
        help=f"comma-separated, of: {', '.join(SAMPLERS)}",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the scores here")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if len(args.pairs) % 2:
        ap.error("give a SOURCE after each MODEL")
    args.samplers = [x.strip() for x in args.samplers.split(",")]
    if set(args.samplers) - set(SAMPLERS):
        ap.error(f"unknown samplers: {', '.join(sorted(set(args.samplers) - set(SAMPLERS)))}")
    torch.set_num_threads(args.threads)
    results = {}
    print(
        "| model | sampler | latent std ratio | lag-1 sampled (encoded) | rate ratio median (p10) | "
        "KL / corr / mean ISI / std ISI (x floor) | Pearson r (same order) | s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for model_dir, source in zip(args.pairs[::2], args.pairs[1::2]):
        results[model_dir] = compare(model_dir, source, args.samplers)
        for name, r in results[model_dir].items():
            x, p = r["x_floor"], r["pearson"]
            print(
                f"| {Path(model_dir).name} | {name} | {r['latent_std_ratio']:.3f} | {r['lag1_sampled']:.4f} "
                f"({r['lag1_encoded']:.4f}) | {r['rate_ratio_median']:.3f} ({r['rate_ratio_p10']:.2f}) | "
                + " / ".join(f"{x[k]:.2f}" for k in M.CORE_METRICS)
                + " | "
                + " / ".join(f"{p[k]:.3f}" for k in ("r_pop_count", "r_pairwise_corr", "r_mean_isi", "r_std_isi"))
                + f" | {r['seconds']:.0f} |",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
