"""Fit -> generate -> evaluate on the built-in simulations with the CLI's defaults, in the layout of
LDNS's Table 1, with the diagnostics that say which stage limits realism.

Variants (each fitted, sampled and scored with the same code as `nwb-ldns fit/generate/evaluate`,
at the default settings: preset ``auto`` (quick on a CPU), training by steps with early stopping,
stochastic DDIM with 50 steps):

- ``lorenz``: unconditional LDNS on ``sim:lorenz`` (the paper's 5000 trials), Poisson and
  spike-history observation models; also 16x-length samples;
- ``maze``: ``sim:maze`` (2000 trials) aligned on movement onset (-250..450 ms, hand velocity
  100 ms ahead), unconditional (Poisson and spike history), reach-angle conditioned (angles of
  the 8 targets) and velocity conditioned (the velocity traces of the real test trials);
- ``maze 100``: the same session cut to 100 trials (70 to train): what a small recording gets.

Every statistic is a mean over 5 draws of distinct real training trials against as many distinct
synthetic ones, beside the real data's half-vs-half floor (the same real trials against other ones) and the
autoencoder's ceiling (real trials encoded, decoded and drawn again). The Pearson r of the four
statistics (per neuron, per pair, per population count) compares every real training trial with as
many samples as there are held-out real trials (at least ``--n-synthetic``), next to the r those
held-out real trials reach: r's own sampling noise falls with the number of trials (Lorenz std ISI:
0.970 at 500 held-out real trials, 0.996 at 1500).

Usage:
  python benchmarks/fidelity.py --out /tmp/fidelity
  python benchmarks/fidelity.py --out /tmp/fidelity --only "maze 100 / Poisson"
  python benchmarks/fidelity.py --preset paper --out runs/fid        # on a GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from nwb_ldns import metrics as M
from nwb_ldns.artifacts import load_model
from nwb_ldns.config import DataSpec
from nwb_ldns.dataset import load_dataset
from nwb_ldns.evaluate import evaluate
from nwb_ldns.fit import count_parameters, fit
from nwb_ldns.generate import Synthetic, generate
from nwb_ldns.io.nwbfile import write_nwbfile
from nwb_ldns.io.synthetic import synthetic_nwbfile
from nwb_ldns.metrics import CORE_METRICS
from nwb_ldns.sources.simulation import parse_sim_uri

MAZE_SPEC = DataSpec(align="move_onset_time", window_ms=(-250.0, 450.0), behavior=("hand_vel",), behavior_lag_ms=100.0)
COLUMNS = [
    ("kl_population_count", "KL pop. count"),
    ("rmse_pairwise_correlation", "RMSE corr"),
    ("rmse_mean_isi", "RMSE mean ISI"),
    ("rmse_std_isi", "RMSE std ISI"),
    ("velocity_decoding_r2", "vel. R^2"),
    ("angle_error_deg", "angle err (deg)"),
]


def true_rate_r2(source: str, data, model) -> float:
    """Mean over neurons of the R^2 of the autoencoder's rates against the simulation's true rates
    (test trials, every bin of the window)."""
    _, sim_cls, config = parse_sim_uri(source.partition(":")[2])
    sim = sim_cls(config)
    test = data.select("test")
    truth = sim.rates()  # (trial, unit, time) over whole trials, expected counts per bin
    start = np.rint((test.ds["window_start"].values - sim.trial_starts[test.trial_ids]) / data.bin_s).astype(int)
    idx = start[:, None] + np.arange(data.n_bins)[None]  # (trial, time)
    true = np.take_along_axis(truth[test.trial_ids], idx[:, None, :], axis=2)  # (trial, unit, time)
    _, rates = model.encode(test.counts_bct())
    return mean_unit_r2(true, rates)


def mean_unit_r2(true: np.ndarray, rates: np.ndarray) -> float:
    """Mean over units of the R^2 of ``rates`` against ``true``, both (trial, unit, time); a unit whose
    true rate never varies has none (NaN, skipped)."""
    t = true.transpose(1, 0, 2).reshape(true.shape[1], -1)  # (unit, trial * time)
    r = rates.transpose(1, 0, 2).reshape(rates.shape[1], -1)
    ss_res = ((t - r) ** 2).sum(1)
    ss_tot = ((t - t.mean(1, keepdims=True)) ** 2).sum(1)
    return float(np.nanmean(1 - ss_res / np.where(ss_tot > 0, ss_tot, np.nan)))


def pearson_stats(real: np.ndarray, fake: np.ndarray, bin_s: float) -> dict[str, float]:
    """Pearson r of the four statistics (per-neuron mean/std ISI, pair correlations, population-count density)."""
    mr, sr = M.isi_stats(real, bin_s)
    mf, sf = M.isi_stats(fake, bin_s)
    grid = np.arange(int(np.percentile(real.sum(1), 99.5)) + 1)
    return {
        "r_mean_isi": M.pearson(mr, mf),
        "r_std_isi": M.pearson(sr, sf),
        "r_pairwise_corr": M.pearson(M.pairwise_correlations(real), M.pairwise_correlations(fake)),
        "r_pop_count": M.pearson(M.kde_density(real.sum(1), grid), M.kde_density(fake.sum(1), grid)),
    }


def head(syn: Synthetic, k: int) -> Synthetic:
    """The first ``k`` trials of ``syn`` (the ratio tables compare ``--n-synthetic`` trials a side)."""

    def cut(a):
        return None if a is None else a[:k]

    return dataclasses.replace(
        syn,
        counts=syn.counts[:k],
        rates=syn.rates[:k],
        latents=syn.latents[:k],
        condition=cut(syn.condition),
        codes=cut(syn.codes),
        lengths=cut(syn.lengths),
    )


def long_samples(model, real: np.ndarray, factor: int = 16, n: int = 30) -> dict[str, float]:
    """``factor``x-length samples cut into training-length pieces: per-neuron mean-rate r against the data."""
    L = real.shape[-1]
    syn = generate(model, n_trials=n, length=L * factor, seed=3, batch_size=n)
    c = syn.counts.astype(np.float64)
    pieces = c.reshape(n, c.shape[1], factor, L).transpose(0, 2, 1, 3).reshape(-1, c.shape[1], L)
    q = c.shape[-1] // 4
    return {
        "factor": factor,
        "r_mean_rate": M.pearson(real.mean((0, 2)), pieces.mean((0, 2))),
        "r_mean_rate_last_quarter": M.pearson(real.mean((0, 2)), c[..., -q:].mean((0, 2))),
        "rate_ratio_median": M.rate_ratio(real.mean((0, 2)), pieces.mean((0, 2)))["median"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="work folder (models, files, reports, results.json)")
    ap.add_argument("--preset", default="auto")
    ap.add_argument("--lorenz-trials", type=int, default=5000)
    ap.add_argument("--maze-trials", type=int, default=2000)
    ap.add_argument("--small-maze-trials", type=int, default=100)
    ap.add_argument("--time-budget", type=float, default=None, help="seconds per fit (default: none)")
    ap.add_argument("--n-synthetic", type=int, default=500)
    ap.add_argument("--only", nargs="*", default=None, help="run only these variants")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ddim-steps", type=int, default=None, help="sampling steps (default: generate's)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    lorenz = f"sim:lorenz?n_trials={args.lorenz_trials}"
    maze = f"sim:maze?n_trials={args.maze_trials}"
    small = f"sim:maze?n_trials={args.small_maze_trials}"
    rng = np.random.default_rng(0)
    variants = {
        # name: (source, spec, condition, observation)
        "lorenz / Poisson": (lorenz, DataSpec(), None, "poisson"),
        "lorenz / spike history": (lorenz, DataSpec(), None, "spike_history"),
        "maze / Poisson": (maze, MAZE_SPEC, None, "poisson"),
        "maze / spike history": (maze, MAZE_SPEC, None, "spike_history"),
        "maze / angle": (maze, MAZE_SPEC, "angle", "poisson"),
        "maze / velocity": (maze, MAZE_SPEC, "velocity", "poisson"),
        "maze 100 / Poisson": (small, MAZE_SPEC, None, "poisson"),
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
            if not (model_dir / "config.json").exists() or "diffusion" not in json.loads(
                (model_dir / "config.json").read_text()
            ).get("stages", {}):
                shutil.rmtree(model_dir, ignore_errors=True)
                t = time.perf_counter()
                fit(
                    data,
                    model_dir,
                    preset=args.preset,
                    condition=condition,
                    device="auto",
                    time_budget=args.time_budget,
                )
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
        real = data.select("train").counts_bct(np.float64)
        heldout = np.concatenate([data.select(s).counts_bct(np.float64) for s in ("val", "test")])
        if condition is None:  # Pearson r on as many samples as held-out real trials: r's own noise falls with n
            n = max(n, len(heldout))
        t = time.perf_counter()
        steps = {} if args.ddim_steps is None else {"steps": args.ddim_steps}
        syn = generate(m, n_trials=n, condition=values, observation=observation, seed=1, progress=True, **steps)
        gen_s = time.perf_counter() - t
        path = args.out / f"synthetic-{slug}.nwb"
        write_nwbfile(synthetic_nwbfile(m, head(syn, args.n_synthetic)), path, overwrite=True)
        report = args.out / f"report-{slug}"
        shutil.rmtree(report, ignore_errors=True)
        t = time.perf_counter()
        metrics = evaluate(source, path, report, model_dir=model_dir, n_boot=5, progress=True)
        eval_s = time.perf_counter() - t
        hist = m.info["stages"]
        extra = {"pearson": pearson_stats(real, syn.counts.astype(np.float64), data.bin_s)}
        if len(heldout) >= syn.n_trials:  # what as many real trials, not trained on, reach: the r a perfect model gets
            extra["pearson_real"] = pearson_stats(real, heldout[: syn.n_trials], data.bin_s)
        if source.startswith("sim:maze") and observation == "poisson" and condition is None:
            extra["autoencoder_true_rate_r2"] = true_rate_r2(source, data, m)
        if source.startswith("sim:lorenz") and observation == "poisson":
            extra["long"] = long_samples(m, real)
        results[name] = {
            "metrics": metrics,
            "fit_s": fit_s,
            "generate_s": gen_s,
            "evaluate_s": eval_s,
            "extra": extra,
            "total_s": time.perf_counter() - t0,
            "params": {"autoencoder": count_parameters(m.autoencoder), "denoiser": count_parameters(m.denoiser)},
            "steps": {s: hist[s]["history"].get("steps") for s in hist},
            "stopped": {s: hist[s]["history"].get("stopped") for s in hist},
            "stage_seconds": {s: round(hist[s]["history"].get("seconds", 0.0), 1) for s in hist},
            "n_synthetic": min(syn.n_trials, args.n_synthetic),
            "n_pearson": syn.n_trials,
            "source": source,
            "preset": args.preset,
            "date": time.strftime("%Y-%m-%d"),
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
    """Markdown tables: realism per variant (x floor), the autoencoder ceiling, and the diagnostics."""
    print("| variant | " + " | ".join(c for _, c in COLUMNS) + " |")
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
    print(
        "| variant | autoencoder ceiling (x floor): "
        + " / ".join(c for k, c in COLUMNS if k in CORE_METRICS)
        + " | limiting stage | rate ratio (median) | Pearson r: mean ISI / std ISI / corr / pop. count "
        "(real: as many held-out real trials) |"
    )
    print("|---|---|---|---|---|")
    for name, r in results.items():
        lim = r["metrics"].get("limiting_stage", {})
        ceil = " / ".join(
            f"{(lim['ratios'].get(k) or {}).get('ceiling_x_floor') or float('nan'):.1f}x" for k in CORE_METRICS
        )
        p, pf = r["extra"]["pearson"], r["extra"].get("pearson_real")
        pr = " / ".join(f"{p[k]:.3f}" for k in ("r_mean_isi", "r_std_isi", "r_pairwise_corr", "r_pop_count"))
        if pf:
            pr += (
                " (real: "
                + " / ".join(f"{pf[k]:.3f}" for k in ("r_mean_isi", "r_std_isi", "r_pairwise_corr", "r_pop_count"))
                + ")"
            )
        print(f"| {name} | {ceil} | {lim.get('stage')} | {r['metrics']['rate_ratio']['median']:.2f} | {pr} |")
    print()
    print(
        "| variant | autoencoder / denoiser parameters | steps AE / diffusion / history (why stopped) | fit | "
        "generate | evaluate |"
    )
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        s, why = r["steps"], r["stopped"]
        steps = " / ".join(
            f"{s.get(k, '-')} ({why.get(k, '-')})" for k in ("autoencoder", "diffusion", "spike_history")
        )
        fit_txt = f"{r['fit_s']:.0f} s" if r["fit_s"] else "same model"
        print(
            f"| {name} | {r['params']['autoencoder'] / 1e6:.2f} M / {r['params']['denoiser'] / 1e6:.2f} M | "
            f"{steps} | {fit_txt} | {r['generate_s']:.0f} s | {r['evaluate_s']:.0f} s |"
        )
    print()
    for name, r in results.items():
        e = r["extra"]
        if "autoencoder_true_rate_r2" in e:
            print(
                f"- {name}: autoencoder rates vs the simulation's true rates, mean per-neuron R^2 "
                f"{e['autoencoder_true_rate_r2']:.3f}"
            )
        if "long" in e:
            lg = e["long"]
            print(
                f"- {name}: {lg['factor']}x-length samples: per-neuron mean-rate r {lg['r_mean_rate']:.3f} "
                f"(last quarter {lg['r_mean_rate_last_quarter']:.3f}), rate ratio {lg['rate_ratio_median']:.2f}"
            )


if __name__ == "__main__":
    main()
