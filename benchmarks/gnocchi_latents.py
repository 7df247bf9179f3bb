"""GNOCCHI's codes against a static-latent VAE's, on sim:maze (or an MC_Maze-layout file).

Protocol (REFERENCE.md section 2):

0. (sim:maze) Which space to diffuse in: R^2 of the autoencoder's rates and of smoothed counts
   against the simulation's true rates.
1. Fit GNOCCHI (``--method gnocchi``) and, on the same autoencoder latents, a VAE whose static
   per-trial latent has the code's size and whose encoder reads what GNOCCHI's reads (spike
   counts or latents; ``nwb_ldns.models.static_vae``).
2. Per-trial codes (GNOCCHI: the code encoder; VAE: the posterior mean) of every trial:
   5-fold cross-validated ridge R^2 to the reach angle (cos, sin) and to the peak speed, and the
   mutual information gap (MIG) against the discretised factors (target, peak speed), and DCI
   disentanglement (linear importances; the angle as [cos, sin]).
3. Codes control generation: trials generated from fresh noise with the codes of the held-out
   (test) real trials, at each ``--guidance`` weight (classifier-free guidance by the code), read
   by a ridge decoder fitted on the training trials' autoencoder rates (mean over 0-300 ms after
   movement onset): angular error to their own trials' reach angle, beside the same decoder on
   the real held-out trials (the VAE: its decoder applied to the same trials' posterior means).
4. Held-out directions: refit both without the trials of the ``--withhold`` targets (one: a
   direction halfway between two trained ones; two adjacent ones: each between neighbours at
   unequal distances); map (cos, sin) of the angle linearly to the code on the remaining
   trials, go to each withheld angle, generate
   (GNOCCHI: 50 samples from that code; VAE: decode it), and read the reach angle of the
   generated rates with a ridge decoder fitted on real trials of every direction (their
   autoencoder rates, mean over 0-300 ms after movement onset). Reported: the angular error to the
   withheld direction, per generated trial and of the generated trials' mean response (the VAE's
   decoded code is one noise-free trajectory, so both are the same for it), beside the decoder's
   own error on real withheld trials and the distance to the nearest trained direction (what
   copying a neighbour would give). GNOCCHI at each ``--guidance``. ``--parts withheld`` alone
   fits only the models without that direction.
5. Unconditional samples: GNOCCHI with codes from its code prior and from N(0, I), and LDNS
   fitted on the same data with the same autoencoder settings, each scored by ``evaluate``:
   ratios to the half-vs-half floor.

``--source "sim:maze?n_trials=2000&speed_jitter=0.5&speed_drive=1"`` makes the peak speed a
second strong factor (see ``nwb_ldns.sim.maze``) for the disentanglement scores.

Usage:
  python benchmarks/gnocchi_latents.py --out /tmp/gnocchi            # sim:maze, quick preset
  python benchmarks/gnocchi_latents.py --out /tmp/g0 --cond-drop 0 --parts fresh   # without code dropout
  python benchmarks/gnocchi_latents.py --out /tmp/g1 --parts withheld --withhold 2 3   # two adjacent directions
  python benchmarks/gnocchi_latents.py --out /tmp/g2 --gnocchi-set recon_weight=4 encoder_input=latents
  python benchmarks/gnocchi_latents.py --source mc_maze.nwb --out runs/g --preset paper
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from nwb_ldns import metrics as M
from nwb_ldns.artifacts import load_model
from nwb_ldns.config import DataSpec, GnocchiConfig, TrainConfig
from nwb_ldns.dataset import SpikeDataset, load_dataset
from nwb_ldns.evaluate import evaluate
from nwb_ldns.fit import fit
from nwb_ldns.generate import generate
from nwb_ldns.io.nwbfile import write_nwbfile
from nwb_ldns.io.synthetic import synthetic_nwbfile
from nwb_ldns.models.static_vae import StaticVAE
from nwb_ldns.training import Stage, train

RATIO_KEYS = ("kl_population_count", "rmse_pairwise_correlation", "rmse_mean_isi", "rmse_std_isi")
SPEC = DataSpec(align="move_onset_time", window_ms=(-250.0, 450.0), behavior=("hand_vel",), behavior_lag_ms=100.0)


def factors(data: SpikeDataset) -> dict[str, np.ndarray]:
    cov = data.covariates()
    angle = (
        cov["reach_angle"].to_numpy(float)
        if "reach_angle" in cov
        else data.with_reach_angle("hand_vel").covariates()["reach_angle"].to_numpy()
    )
    if "peak_speed" in cov:
        speed = cov["peak_speed"].to_numpy(float)
    else:
        speed = np.linalg.norm(data.behavior("hand_vel"), axis=-1).max(1)
    target = cov["target_id"].to_numpy() if "target_id" in cov else M.angle_sectors(angle)
    return {"angle": angle, "speed": speed, "target": np.asarray(target).astype(int)}


def fit_vae(model, data: SpikeDataset, *, epochs: int, config: GnocchiConfig, seed: int = 0) -> StaticVAE:
    """The VAE baseline on the (z-scored) autoencoder latents of the training trials."""

    def latents(split):
        counts = data.select(split).counts_bct()
        z, _ = model.encode(counts)
        z = (torch.as_tensor(z) - model.latent_mean.cpu()[:, None]) / model.latent_std.cpu()[:, None]
        return {"z": z.float(), "counts": torch.as_tensor(counts, dtype=torch.float32)}

    torch.manual_seed(seed)
    # its encoder reads what GNOCCHI's reads (config.encoder_input): the latents or the spike counts
    vae = StaticVAE(latent_dim=model.latent_dim, n_bins=data.n_bins, config=config, n_neurons=model.n_neurons)
    stage = Stage(
        name="vae",
        model=vae,
        config=TrainConfig(epochs=epochs, batch_size=64, lr=2e-3, warmup=0.05, seed=seed),
        train=latents("train"),
        val=latents("val"),
        loss_fn=lambda m, b, r: m.loss(b["z"], r, counts=b["counts"], reduction="trial"),
        val_fn=lambda m, b, r: torch.stack(
            [m.loss(b["z"], r, counts=b["counts"]) * len(b["z"]), torch.tensor(float(len(b["z"])))]
        ),
        select="best",
    )
    train(stage, device=torch.device("cpu"), checkpoint=None, progress=True)
    return vae.eval()


@torch.no_grad()
def vae_codes(vae: StaticVAE, model, counts: np.ndarray) -> np.ndarray:
    z, _ = model.encode(counts)
    z = (torch.as_tensor(z) - model.latent_mean.cpu()[:, None]) / model.latent_std.cpu()[:, None]
    return vae.encode(z.float(), torch.as_tensor(counts, dtype=torch.float32))[0].numpy()


@torch.no_grad()
def vae_rates(vae: StaticVAE, model, codes: np.ndarray) -> np.ndarray:
    zn = vae.decode(torch.as_tensor(codes, dtype=torch.float32))  # (n, D, L)
    z = zn * model.latent_std.cpu()[:, None] + model.latent_mean.cpu()[:, None]
    return model.decode(z).cpu().numpy()  # (n, N, L) expected counts per bin


def diffusion_space(source: str, data: SpikeDataset, model) -> dict[str, float]:
    """Why diffuse in the autoencoder's latents: how well each candidate space carries the
    simulation's true firing rates (R^2 over trials, units and bins of the test split)."""
    from nwb_ldns.sources.simulation import parse_sim_uri

    _, sim_cls, config = parse_sim_uri(source.partition(":")[2])
    sim = sim_cls(config)
    test = data.select("test")
    truth = sim.rates()  # (trial, unit, time) over whole trials
    start = np.rint((test.ds["window_start"].values - sim.trial_starts[test.trial_ids]) / data.bin_s).astype(int)
    idx = start[:, None] + np.arange(data.n_bins)[None]  # (trial, time) bins of each window
    true = np.take_along_axis(truth[test.trial_ids], idx[:, None, :], axis=2)  # (trial, unit, time)
    counts = test.counts_bct()
    _, ae_rates = model.encode(counts)
    return {
        "r2_autoencoder_rates": M.r2_score(true, ae_rates),
        "r2_smoothed_counts_20ms": M.r2_score(true, M.smooth_counts(counts, data.bin_s, 0.02)),
        "r2_smoothed_counts_50ms": M.r2_score(true, M.smooth_counts(counts, data.bin_s, 0.05)),
        "latent_channels": model.latent_dim,
        "count_channels": int(counts.shape[1]),
    }


def code_quality(codes: np.ndarray, f: dict) -> dict[str, float]:
    return {
        "r2_angle": M.cross_validated_r2(codes, np.stack([np.cos(f["angle"]), np.sin(f["angle"])], 1)),
        "r2_peak_speed": M.cross_validated_r2(codes, f["speed"]),
        "mig": M.mig(codes, np.stack([f["target"], f["speed"]], 1).astype(float), bins=20),
        "dci": M.dci_disentanglement(codes, [np.stack([np.cos(f["angle"]), np.sin(f["angle"])], 1), f["speed"]]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--source", default=None, help="default sim:maze?n_trials=N")
    ap.add_argument("--n-trials", type=int, default=2000)
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--code-dim", type=int, default=8)
    ap.add_argument("--epochs-ae", type=int, default=40)
    ap.add_argument("--beta", type=float, default=1e-3, help="autoencoder latent L2 (LDNS's MC_Maze setting)")
    ap.add_argument("--td-beta", type=float, default=0.2, help="autoencoder smoothness (LDNS's MC_Maze setting)")
    ap.add_argument("--epochs-diffusion", type=int, default=None)
    ap.add_argument("--epochs-vae", type=int, default=60)
    ap.add_argument(
        "--withhold",
        type=int,
        nargs="+",
        default=[2],
        help="target ids withheld from training (sim:maze: 8 targets, 0 at 0 deg, 45 deg apart)",
    )
    ap.add_argument("--guidance", type=float, nargs="+", default=[1.0, 2.0, 4.0], help="code guidance weights")
    ap.add_argument("--cond-drop", type=float, default=None, help="code dropout in training (default: the config's)")
    ap.add_argument("--prediction", default=None, help="GNOCCHI's denoiser target: epsilon (default) or v")
    ap.add_argument(
        "--parts",
        nargs="+",
        default=["fresh", "withheld", "unconditional"],
        help="what to run besides the code quality: fresh, withheld, unconditional",
    )
    ap.add_argument("--n-synthetic", type=int, default=500, help="unconditional samples per model")
    ap.add_argument(
        "--ae-defaults",
        action="store_true",
        help="the autoencoder as fit's defaults train it (by steps, no latent penalties) instead of "
        "--epochs-ae/--beta/--td-beta",
    )
    ap.add_argument(
        "--encoder-size",
        nargs=2,
        type=int,
        default=None,
        metavar=("HIDDEN", "BLOCKS"),
        help="the code encoder's channels and S4 blocks (default: the preset's)",
    )
    ap.add_argument(
        "--gnocchi-set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="other GnocchiConfig fields, e.g. recon_weight=4 mmd_weight=1",
    )
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    source = args.source or f"sim:maze?n_trials={args.n_trials}"
    overrides = {
        "gnocchi": {"code_dim": args.code_dim},
        "ae_train": {"epochs": args.epochs_ae},
        "autoencoder": {"beta": args.beta, "td_beta": args.td_beta},
        "diffusion_train": {"epochs": args.epochs_diffusion},
        "diffusion": {"cond_drop": args.cond_drop, "prediction": args.prediction},
    }
    for item in args.gnocchi_set:
        key, _, value = item.partition("=")
        overrides["gnocchi"][key] = type(getattr(GnocchiConfig(), key))(value)
    if args.encoder_size:
        overrides["gnocchi"].update(encoder_hidden=args.encoder_size[0], encoder_blocks=args.encoder_size[1])
    if args.ae_defaults:
        overrides["ae_train"], overrides["autoencoder"] = {}, {}
    data = load_dataset(source, SPEC)
    f = factors(data)
    out: dict = {"source": source, "code_dim": args.code_dim, "preset": args.preset, "n_trials": data.n_trials}

    counts = data.counts_bct()
    onset = int(round(0.25 / data.bin_s))  # window starts 250 ms before movement onset
    window = slice(onset, onset + int(round(0.3 / data.bin_s)))
    if args.parts == ["withheld"]:  # the withheld direction needs only the models fitted without it
        return withheld_direction(args, data, f, counts, window, overrides, out)

    # 1-2: codes of every trial, both methods
    t = time.perf_counter()
    if not (args.out / "gnocchi" / "config.json").exists():
        fit(data, args.out / "gnocchi", preset=args.preset, method="gnocchi", overrides=overrides, device="auto")
    model = load_model(args.out / "gnocchi", device="auto")
    out["fit_gnocchi_s"] = time.perf_counter() - t
    g_cfg = GnocchiConfig.from_dict(model.info["configs"]["gnocchi"])
    t = time.perf_counter()
    vae = fit_vae(model, data, epochs=args.epochs_vae, config=g_cfg)
    out["fit_vae_s"] = time.perf_counter() - t
    if source.startswith("sim:maze"):
        out["diffusion_space"] = diffusion_space(source, data, model)
    out["gnocchi"] = code_quality(model.codes(counts), f)
    out["vae"] = code_quality(vae_codes(vae, model, counts), f)
    out["ldns_latent_mean"] = code_quality(model.encode(counts)[0].mean(-1), f)  # the autoencoder's latents, per trial
    print(json.dumps(out, indent=1), flush=True)
    if "unconditional" in args.parts:
        out["unconditional"] = unconditional(args, source, data, model, overrides)
        print(json.dumps(out["unconditional"], indent=1), flush=True)

    # 3: do the codes control generation from fresh noise?
    if "fresh" not in args.parts and "withheld" not in args.parts:
        return finish(args, out)
    train, test = data.select("train"), data.select("test")
    ang = {s: factors(d)["angle"] for s, d in (("train", train), ("test", test))}
    dec_all, _ = M.ridge_fit(
        model.encode(train.counts_bct())[1][:, :, window].mean(-1),
        np.stack([np.cos(ang["train"]), np.sin(ang["train"])], 1),
    )

    def angle_error(rates, angles):
        p = M.ridge_predict(dec_all, rates[:, :, window].mean(-1))
        return M.angular_error_deg(np.arctan2(p[:, 1], p[:, 0]), angles)

    test_codes = model.codes(test.counts_bct())
    out["fresh_noise"] = {
        "decoder_on_real_test_deg": angle_error(model.encode(test.counts_bct())[1], ang["test"]),
        "vae_deg": angle_error(vae_rates(vae, model, vae_codes(vae, model, test.counts_bct())), ang["test"]),
        "n_test": int(test.n_trials),
    }
    for w in args.guidance:
        if w != 1.0 and not model.denoiser.config.null_code:
            continue
        syn = generate(model, codes=test_codes, seed=1, guidance=w)
        out["fresh_noise"][f"gnocchi_w{w:g}_deg"] = angle_error(syn.rates, ang["test"])
    print(json.dumps(out["fresh_noise"], indent=1), flush=True)
    if "withheld" not in args.parts:
        return finish(args, out)
    withheld_direction(args, data, f, counts, window, overrides, out)


def withheld_direction(args, data: SpikeDataset, f: dict, counts: np.ndarray, window: slice, overrides, out) -> None:
    """4: refit both models without the withheld targets' trials and generate each withheld direction
    from code space. One target (the default) has trained neighbours on both sides at equal distance;
    two adjacent targets leave each of them between neighbours at unequal distances."""
    withheld = np.isin(f["target"], args.withhold)
    thetas = {t: float(np.angle(np.exp(1j * f["angle"][f["target"] == t]).mean())) for t in args.withhold}
    kept = SpikeDataset(data.ds.isel(trial=np.flatnonzero(~withheld)))
    d2 = args.out / ("gnocchi-without-" + "-".join(map(str, args.withhold)))
    if not (d2 / "config.json").exists():
        fit(kept, d2, preset=args.preset, method="gnocchi", overrides=overrides, device="auto")
    m2 = load_model(d2, device="auto")
    vae2 = fit_vae(m2, kept, epochs=args.epochs_vae, config=GnocchiConfig.from_dict(m2.info["configs"]["gnocchi"]))
    # the decoder reads rates in the space generated trials live in: the (withheld-free) autoencoder's
    # rates of real trials of every direction (as evaluate does with --model); smoothed counts
    # would confound direction with the small overall rate offsets of generated trials
    real_feat = m2.encode(counts)[1][:, :, window].mean(-1)  # (trial, N)
    cs = np.stack([np.cos(f["angle"]), np.sin(f["angle"])], 1)
    dec, _ = M.ridge_fit(real_feat, cs)  # fitted on real trials of every direction

    def decoded_error(rates, theta, *, mean=False):
        # mean: the direction of the generated condition's mean response (GNOCCHI's 50 trials vary as
        # real trials do, and so does each one's decoded angle; the VAE's decoded code is already a mean)
        feat = rates[:, :, window].mean(-1)  # (n, N)
        p = M.ridge_predict(dec, feat.mean(0, keepdims=True) if mean else feat)
        return M.angular_error_deg(np.arctan2(p[:, 1], p[:, 0]), np.full(len(p), theta))

    kept_f = {k: v[~withheld] for k, v in f.items()}
    weights = [w for w in args.guidance if w == 1.0 or m2.denoiser.config.null_code]
    for name, codes_kept, make_rates in (
        (
            "gnocchi",
            m2.codes(kept.counts_bct()),
            lambda c: {w: generate(m2, codes=np.repeat(c, 50, 0), seed=0, guidance=w).rates for w in weights},
        ),
        ("vae", vae_codes(vae2, m2, kept.counts_bct()), lambda c: {1.0: vae_rates(vae2, m2, c)}),
    ):
        w, _ = M.ridge_fit(np.stack([np.cos(kept_f["angle"]), np.sin(kept_f["angle"])], 1), codes_kept)
        x = out.setdefault(name, {})
        per = {}
        for t, theta in thetas.items():
            code = M.ridge_predict(w, np.array([[np.cos(theta), np.sin(theta)]]))  # (1, K): where the angle map points
            rates = make_rates(code)
            per[t] = {
                "per_trial_deg": decoded_error(rates[1.0], theta),
                "mean_response_deg": decoded_error(rates[1.0], theta, mean=True),
                "by_guidance_deg": {f"{g:g}": decoded_error(r, theta) for g, r in rates.items()},
            }
        x["withheld_by_target"] = per
        x["withheld_angle_error_deg"] = float(np.mean([v["per_trial_deg"] for v in per.values()]))
        x["withheld_mean_response_error_deg"] = float(np.mean([v["mean_response_deg"] for v in per.values()]))
        x["withheld_by_guidance_deg"] = {
            g: float(np.mean([v["by_guidance_deg"][g] for v in per.values()]))
            for g in per[args.withhold[0]]["by_guidance_deg"]
        }
    trained = np.unique(np.round(f["angle"][~withheld], 6))
    out["withheld_directions"] = {}
    for t, theta in thetas.items():
        gap = np.degrees(np.angle(np.exp(1j * (trained - theta))))  # signed distance to each trained direction
        p = M.ridge_predict(dec, real_feat[f["target"] == t])  # the evaluation decoder on the real trials
        out["withheld_directions"][t] = {
            "angle_deg": float(np.degrees(theta)),
            "decoder_error_on_real_deg": M.angular_error_deg(
                np.arctan2(p[:, 1], p[:, 0]), f["angle"][f["target"] == t]
            ),
            "trained_neighbours_deg": [float(gap[gap > 0].min()), float(-gap[gap < 0].max())],
        }
    finish(args, out)


def finish(args, out: dict) -> None:
    (args.out / "results.json").write_text(json.dumps(out, indent=1))
    print_table(out)


def unconditional(args, source: str, data: SpikeDataset, model, overrides: dict) -> dict:
    """Ratios to the half-vs-half floor (KL, corr, mean ISI, std ISI) of GNOCCHI samples with codes
    from the code prior and from N(0, I), and of LDNS samples of the same data and autoencoder settings."""
    ldns_dir = args.out / "ldns"
    if not (ldns_dir / "config.json").exists():
        o = {k: v for k, v in overrides.items() if k not in ("gnocchi", "diffusion")}
        fit(data, ldns_dir, preset=args.preset, overrides=o, device="auto")
    ldns = load_model(ldns_dir, device="auto")
    n = args.n_synthetic
    draws = {
        "gnocchi_code_prior": (model, args.out / "gnocchi", {}),
        "gnocchi_n01_codes": (
            model,
            args.out / "gnocchi",
            {"codes": np.random.default_rng(0).normal(size=(n, model.code_dim))},
        ),
        "ldns": (ldns, ldns_dir, {}),
    }
    res = {}
    for name, (m, d, kw) in draws.items():
        syn = generate(m, n_trials=None if kw else n, seed=1, **kw)
        path = args.out / f"synthetic-{name}.nwb"
        write_nwbfile(synthetic_nwbfile(m, syn), path, overwrite=True)
        report = args.out / f"report-{name}"
        shutil.rmtree(report, ignore_errors=True)
        met = evaluate(source, path, report, model_dir=d, n_boot=5)
        res[name] = {k: met[k]["mean"] / met["half_vs_half"][k]["mean"] for k in RATIO_KEYS}
        res[name]["rate_ratio_median"] = met.get("rate_ratio", {}).get("median")
    return res


def print_table(r: dict) -> None:
    print(
        "| codes | R^2 reach angle (cos, sin) | R^2 peak speed | MIG (target, speed) | DCI disentanglement | "
        "withheld direction: decoded angle error, per trial / of the mean response |"
    )
    print("|---|---|---|---|---|---|")
    nan = float("nan")
    labels = {"gnocchi": "GNOCCHI", "vae": "static VAE", "ldns_latent_mean": "LDNS latents, trial mean"}
    for name, label in labels.items():
        x = r.get(name)
        if x is None:
            continue
        print(
            f"| {label} ({r['code_dim'] if name != 'ldns_latent_mean' else 'latent'}-d) | "
            f"{x.get('r2_angle', nan):.3f} | "
            f"{x.get('r2_peak_speed', nan):.3f} | {x.get('mig', nan):.3f} | {x.get('dci', nan):.3f} | "
            f"{x.get('withheld_angle_error_deg', nan):.1f} / {x.get('withheld_mean_response_error_deg', nan):.1f} deg |"
        )
    for name, x in r.get("unconditional", {}).items():
        print(
            f"unconditional {name}: " + " / ".join(f"{x[k]:.1f}x" for k in RATIO_KEYS) + f" the floor (KL / corr / "
            f"mean ISI / std ISI), rate ratio {x['rate_ratio_median']}"
        )
    fresh = r.get("fresh_noise", {})
    if fresh:
        ws = ", ".join(f"w {k[9:-4]}: {v:.1f}" for k, v in fresh.items() if k.startswith("gnocchi_w"))
        print(
            f"\nfresh noise, codes of {fresh['n_test']} held-out trials: decoded angle error (deg) GNOCCHI {ws}; "
            f"VAE {fresh['vae_deg']:.1f}; the decoder on the real trials {fresh['decoder_on_real_test_deg']:.1f}"
        )
    byg = r.get("gnocchi", {}).get("withheld_by_guidance_deg", {})
    if byg:
        print("withheld direction by guidance (deg): " + ", ".join(f"w {k}: {v:.1f}" for k, v in byg.items()))
    for t, d in r.get("withheld_directions", {}).items():
        per = {k: r[k]["withheld_by_target"][t] for k in ("gnocchi", "vae") if "withheld_by_target" in r.get(k, {})}
        print(
            f"withheld direction {d['angle_deg']:.0f} deg (trained neighbours {d['trained_neighbours_deg'][0]:.0f} and "
            f"{d['trained_neighbours_deg'][1]:.0f} deg away): "
            + "; ".join(f"{k} {v['per_trial_deg']:.1f} / {v['mean_response_deg']:.1f} deg" for k, v in per.items())
            + f"; the decoder on real trials {d['decoder_error_on_real_deg']:.1f} deg"
        )
    if "diffusion_space" in r:
        d = r["diffusion_space"]
        print(
            f"diffusion space: true-rate R^2 of the autoencoder's rates {d['r2_autoencoder_rates']:.3f} "
            f"({d['latent_channels']} latent channels) vs 20 ms-smoothed counts {d['r2_smoothed_counts_20ms']:.3f}, "
            f"50 ms {d['r2_smoothed_counts_50ms']:.3f} ({d['count_channels']} channels)"
        )


if __name__ == "__main__":
    main()
