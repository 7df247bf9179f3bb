"""Fit -> generate -> evaluate on the built-in simulations, printed in the layout of LDNS's Table 1.

Variants (each fitted, sampled and scored with the same code as `nwb-ldns fit/generate/evaluate`):

- ``lorenz``: unconditional LDNS on ``sim:lorenz``, Poisson and spike-history observation models;
- ``maze``: ``sim:maze`` aligned on movement onset (-250..450 ms, hand velocity 100 ms ahead),
  unconditional (Poisson and spike history), reach-angle conditioned (angles of the 8 targets)
  and velocity conditioned (the velocity traces of the real test trials).

Every statistic is a bootstrap mean over 5 resamples of the real training trials against the
synthetic ones, beside the real data's half-vs-half floor at the same number of trials. The
goal (issue 5): each statistic within 2x of the floor, decoded angle error < 20 degrees.

Usage:
  python benchmarks/fidelity.py --out /tmp/fidelity            # quick preset, CPU sizes
  python benchmarks/fidelity.py --preset paper --lorenz-trials 5000 --maze-trials 2295 --out runs/fid
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from nwb_ldns.artifacts import load_model
from nwb_ldns.config import DataSpec
from nwb_ldns.dataset import load_dataset
from nwb_ldns.evaluate import evaluate
from nwb_ldns.fit import count_parameters, fit
from nwb_ldns.generate import generate, synthetic_nwbfile
from nwb_ldns.nwb_io import write_nwbfile

MAZE_SPEC = DataSpec(align="move_onset_time", window_ms=(-250.0, 450.0), behavior=("hand_vel",), behavior_lag_ms=100.0)
COLUMNS = [("kl_population_count", "KL pop. count"), ("rmse_pairwise_correlation", "RMSE corr"),
           ("rmse_mean_isi", "RMSE mean ISI"), ("rmse_std_isi", "RMSE std ISI"),
           ("velocity_decoding_r2", "vel. R^2"), ("angle_error_deg", "angle err (deg)")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="work folder (models, files, reports, results.json)")
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--lorenz-trials", type=int, default=2000)
    ap.add_argument("--maze-trials", type=int, default=2000)
    ap.add_argument("--epochs-ae", type=int, default=None)
    ap.add_argument("--epochs-diffusion", type=int, default=None)
    ap.add_argument("--n-synthetic", type=int, default=500)
    ap.add_argument("--only", nargs="*", default=None, help="run only these variants")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    overrides = {"ae_train": {"epochs": args.epochs_ae}, "diffusion_train": {"epochs": args.epochs_diffusion}}

    lorenz = f"sim:lorenz?n_trials={args.lorenz_trials}"
    maze = f"sim:maze?n_trials={args.maze_trials}"
    rng = np.random.default_rng(0)
    variants = {
        # name: (source, spec, condition, observation, condition values or None)
        "lorenz / Poisson": (lorenz, DataSpec(), None, "poisson"),
        "lorenz / spike history": (lorenz, DataSpec(), None, "spike_history"),
        "maze / Poisson": (maze, MAZE_SPEC, None, "poisson"),
        "maze / spike history": (maze, MAZE_SPEC, None, "spike_history"),
        "maze / angle": (maze, MAZE_SPEC, "angle", "poisson"),
        "maze / velocity": (maze, MAZE_SPEC, "velocity", "poisson"),
    }
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    datasets, models = {}, {}
    for name, (source, spec, condition, observation) in variants.items():
        if args.only and name not in args.only:
            continue
        key = (source, spec.to_json(), condition)
        slug = name.replace(" / ", "-").replace(" ", "_")
        t0 = time.perf_counter()
        if key not in datasets:
            datasets[key] = load_dataset(source, spec)
        data = datasets[key]
        model_dir = args.out / f"model-{slug.split('-')[0]}-{condition or 'none'}"
        fit_s = results.get(name, {}).get("fit_s", 0.0)  # a model fitted in an earlier run keeps its time
        if key not in models:
            if not (model_dir / "config.json").exists():
                t = time.perf_counter()
                fit(data, model_dir, preset=args.preset, condition=condition, overrides=overrides, device="auto")
                fit_s = time.perf_counter() - t
            models[key] = load_model(model_dir, device="auto")
        m = models[key]
        values, n = None, args.n_synthetic
        if condition == "angle":
            targets = np.unique(np.round(data.covariates()["reach_angle"].to_numpy(), 6))
            values = rng.choice(targets, n)
        elif condition == "velocity":
            values = data.select("test").behavior("hand_vel")[:n]
            n = None
        t = time.perf_counter()
        syn = generate(m, n_trials=n, condition=values, observation=observation, seed=1, progress=True)
        gen_s = time.perf_counter() - t
        path = args.out / f"synthetic-{slug}.nwb"
        write_nwbfile(synthetic_nwbfile(m, syn), path, overwrite=True)
        report = args.out / f"report-{slug}"
        shutil.rmtree(report, ignore_errors=True)
        t = time.perf_counter()
        metrics = evaluate(source, path, report, model_dir=model_dir, n_boot=5, progress=True)
        eval_s = time.perf_counter() - t
        hist = m.info["stages"]
        results[name] = {
            "metrics": metrics, "fit_s": fit_s, "generate_s": gen_s, "evaluate_s": eval_s,
            "total_s": time.perf_counter() - t0,
            "params": {"autoencoder": count_parameters(m.autoencoder), "denoiser": count_parameters(m.denoiser)},
            "epochs": {s: hist[s]["history"]["epochs"] for s in hist},
            "stage_seconds": {s: round(hist[s]["history"].get("seconds", 0.0), 1) for s in hist},
            "n_synthetic": syn.n_trials, "source": source, "preset": args.preset,
        }
        results_path.write_text(json.dumps(results, indent=1, default=str))
        print(f"{name}: fit {fit_s:.0f} s, generate {gen_s:.0f} s, evaluate {eval_s:.0f} s", flush=True)
    print_table(results)


def _cell(m: dict, key: str) -> str:
    v = m.get(key)
    if not v or v.get("mean") is None:
        return "-"
    return f"{v['mean']:.3g} ± {v['sd']:.1g}" if v.get("sd") else f"{v['mean']:.3g}"


def print_table(results: dict) -> None:
    """Markdown table: one row per variant, one floor row per dataset; x(floor) after each value."""
    head = "| variant | " + " | ".join(c for _, c in COLUMNS) + " |"
    print(head)
    print("|" + "---|" * (len(COLUMNS) + 1))
    floors = {}
    for name, r in results.items():
        m = r["metrics"]
        cells = []
        for key, _ in COLUMNS:
            cell = _cell(m, key)
            f = m["half_vs_half"].get(key, {}).get("mean")
            if cell != "-" and f and key not in ("velocity_decoding_r2", "angle_error_deg"):
                cell += f" ({m[key]['mean'] / f:.1f}x)"
            cells.append(cell)
        print(f"| {name} | " + " | ".join(cells) + " |")
        floors.setdefault(name.split(" / ")[0], {}).update(m["half_vs_half"])
    for data, f in floors.items():
        print(f"| {data}: real half vs half | " + " | ".join(_cell(f, k) for k, _ in COLUMNS) + " |")
    print()
    print("| variant | autoencoder / denoiser parameters | epochs AE / diffusion / history | fit | generate | evaluate |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        e = r["epochs"]
        fit_txt = f"{r['fit_s']:.0f} s" if r["fit_s"] else "same model"
        print(f"| {name} | {r['params']['autoencoder'] / 1e6:.2f} M / {r['params']['denoiser'] / 1e6:.2f} M | "
              f"{e.get('autoencoder', '-')} / {e.get('diffusion', '-')} / {e.get('spike_history', '-')} | "
              f"{fit_txt} | {r['generate_s']:.0f} s | {r['evaluate_s']:.0f} s |")

if __name__ == "__main__":
    main()
