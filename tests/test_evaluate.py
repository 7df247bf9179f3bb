"""`nwb-ldns evaluate`: metrics that tell real from fake, the JSON, the figures, and the page in
headless Chromium."""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from helpers import error_line, run, tiny, tiny_args

from nwb_ldns import artifacts
from nwb_ldns import metrics as M
from nwb_ldns.config import DataSpec
from nwb_ldns.dataset import load_dataset
from nwb_ldns.evaluate import Pair, evaluate, evaluate_pair
from nwb_ldns.fit import fit
from nwb_ldns.generate import generate
from nwb_ldns.io.nwbfile import write_nwbfile
from nwb_ldns.io.synthetic import synthetic_nwbfile
from nwb_ldns.metrics import SET_METRICS

torch.set_num_threads(1)
TINY = tiny(latent_dim=4, ae=2, diffusion=2, history=1)
MAZE = "sim:maze?n_trials=80&n_neurons=12"
MAZE_SPEC = DataSpec(align="move_onset_time", window_ms=(-250.0, 450.0), behavior=("hand_vel",), behavior_lag_ms=100.0)


def _pair(real, synthetic, ds):
    return Pair(
        real=real,
        synthetic=synthetic,
        bin_s=0.005,
        real_velocity=None,
        synthetic_velocity=None,
        real_angle=None,
        synthetic_angle=None,
        angle_requested=False,
        model_config={},
        real_dataset=ds,
    )


def test_metrics_tell_fresh_trials_of_the_simulator_from_distorted_ones():
    ds = load_dataset("sim:lorenz?n_trials=160&n_neurons=20&n_bins=64")
    c = ds.counts_bct(np.float64)
    real, same = c[:80], c[80:]  # two sets of trials of the same simulator: as good as a model can be
    doubled = np.random.default_rng(0).poisson(2 * M.smooth_counts(same, 0.005, 0.01)).astype(float)
    shuffled = same[:, :, np.random.default_rng(1).permutation(same.shape[-1])]  # no temporal structure
    good = evaluate_pair(_pair(real, same, ds), n_boot=3)["metrics"]
    for name, bad in (("rates doubled", doubled), ("time shuffled", shuffled)):
        worse = evaluate_pair(_pair(real, bad, ds), n_boot=3)["metrics"]
        # (Lorenz trials share no time course, so PSTHs say nothing here: see the maze test)
        keys = ["kl_population_count", "rmse_firing_rate"] if name == "rates doubled" else ["rmse_autocorrelation"]
        for k in keys:
            g, w = good[k]["mean"], worse[k]["mean"]
            factor = 1.5 if k == "rmse_autocorrelation" else 3  # 80 trials x 64 bins: a noisy autocorrelation
            assert (w < g) if k == "psth_r2" else (w > factor * g), (name, k, g, w)
    for k in SET_METRICS:
        assert set(good[k]) == {"mean", "sd"} and k in good["half_vs_half"]
    # fresh trials of the simulator sit near the real data's own half-vs-half floor
    for k in ("kl_population_count", "rmse_pairwise_correlation", "rmse_mean_isi", "rmse_std_isi"):
        assert good[k]["mean"] < 4 * good["half_vs_half"][k]["mean"] + 1e-6, k


def test_fresh_trials_of_the_simulator_score_the_floor_itself():
    # two sets of real trials score what the floor says finite data allow: the compared sets carry
    # the floor's sampling noise (drawn with replacement they scored 1.3-1.5x the floor here)
    ds = load_dataset("sim:lorenz?n_trials=600&n_neurons=20&n_bins=64")
    c = ds.counts_bct(np.float64)
    keys = ("kl_population_count", "rmse_pairwise_correlation", "rmse_mean_isi", "rmse_std_isi")
    ratios = []
    for seed in range(8):  # the set called synthetic changes too: one fixed set is itself a draw
        p = np.random.default_rng(seed).permutation(len(c))
        m = evaluate_pair(_pair(c[p[:400]], c[p[400:]], ds), n_boot=5, seed=seed)["metrics"]
        assert m["n_trials"]["per_resample"] == 200
        ratios.append([m[k]["mean"] / m["half_vs_half"][k]["mean"] for k in keys])
    geo = np.exp(np.log(ratios).mean(0))
    assert np.all((geo > 0.7) & (geo < 1.2)), dict(zip(keys, geo.round(2)))


@pytest.fixture(scope="module")
def maze_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("evaluate")
    data = load_dataset(MAZE, MAZE_SPEC)
    out = {}
    for cond in ("angle", "velocity"):
        fit(data, d / cond, preset="quick", condition=cond, overrides=TINY, progress=False, device="cpu")
        out[cond] = artifacts.load_model(d / cond, require=("autoencoder", "diffusion"))
    out["dir"] = d
    return out


def test_angle_and_velocity_conditioned_reports(maze_models):
    d = maze_models["dir"]
    m = maze_models["angle"]
    angles = np.linspace(-np.pi, np.pi, 24, endpoint=False)
    write_nwbfile(synthetic_nwbfile(m, generate(m, condition=angles, seed=0)), d / "angle.nwb")
    r = evaluate(MAZE, d / "angle.nwb", d / "angle-report", n_boot=2)  # decoders read smoothed counts
    assert r["angle_error_deg"]["mean"] is not None and 0 <= r["angle_error_deg"]["mean"] <= 180
    assert 0 <= r["half_vs_half"]["angle_error_deg"]["mean"] < 50  # well below chance (90 deg) with 12 neurons
    assert r["psth_r2"]["mean"] is not None  # by reach direction (8 sectors); too few trials here to judge it
    assert r["decoder_features"] == "smoothed counts"
    r = evaluate(MAZE, d / "angle.nwb", d / "angle-report-model", model_dir=d / "angle", n_boot=2)
    assert r["decoder_features"] == "rates"  # the autoencoder's (real) and the file's (synthetic)
    assert r["bits_per_spike"]["mean"] is not None and "rmse_log_latent_psd" in r
    # the autoencoder's ceiling beside the floor, which stage limits, latents and rates compared
    for k in SET_METRICS:
        assert r["autoencoder_ceiling"][k].keys() == {"mean", "sd"}
    assert r["limiting_stage"]["stage"] in ("autoencoder", "diffusion", "none")
    assert set(r["latents"]) == {"encoded", "sampled"}
    assert len(r["latents"]["sampled"]["std"]) == m.latent_dim
    assert r["rate_ratio"]["p10"] <= r["rate_ratio"]["median"] <= r["rate_ratio"]["p90"]
    page = (d / "angle-report-model" / "index.html").read_text()
    assert 'id="limiting-stage"' in page and 'id="latents"' in page and "autoencoder ceiling" in page

    m = maze_models["velocity"]
    sim = load_dataset(MAZE, MAZE_SPEC)
    vel = sim.behavior("hand_vel")[:20]  # (20, 140, 2) velocities of real trials
    write_nwbfile(synthetic_nwbfile(m, generate(m, condition=vel, seed=0)), d / "vel.nwb.zarr")
    r = evaluate(MAZE, d / "vel.nwb.zarr", d / "vel-report", n_boot=2, split="all")
    assert r["velocity_decoding_r2"]["mean"] is not None
    assert r["half_vs_half"]["velocity_decoding_r2"]["mean"] > 0.1  # 12 neurons, 40 trials: some velocity
    assert (d / "vel-report" / "decoded_trajectories.png").stat().st_size > 1000
    assert "bits_per_spike" not in r  # no --model


def test_co_bps_on_held_out_units(maze_h5, tmp_path):
    path, _ = maze_h5
    spec = DataSpec(align="move_onset_time", window_ms=(-250.0, 450.0))
    fit(load_dataset(path, spec), tmp_path / "m", preset="quick", overrides=TINY, progress=False, device="cpu")
    m = artifacts.load_model(tmp_path / "m")
    write_nwbfile(synthetic_nwbfile(m, generate(m, n_trials=10, seed=0)), tmp_path / "s.nwb")
    r = evaluate(path, tmp_path / "s.nwb", tmp_path / "rep", model_dir=tmp_path / "m", n_boot=2, split="all")
    assert np.isfinite(r["co_bps"]["mean"]) and np.isfinite(r["bits_per_spike"]["mean"])


# ---- the command and the page ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def lorenz_report(tmp_path_factory):
    d = tmp_path_factory.mktemp("lorenz-report")
    src = "sim:lorenz?n_trials=60&n_neurons=12&n_bins=32"
    run("fit", src, "-o", d / "m", "--epochs-ae", 1, "--epochs-diffusion", 1, "--epochs-history", 1, *tiny_args())
    run("generate", "--model", d / "m", "-o", d / "s.nwb", "--n-trials", 20, "-q")
    p = run(
        "evaluate",
        "--real",
        src,
        "--synthetic",
        d / "s.nwb",
        "--model",
        d / "m",
        "-o",
        d / "report",
        "--resamples",
        2,
        "-q",
    )
    return d, src, p


def test_evaluate_command_writes_json_figures_and_page(lorenz_report):
    d, src, p = lorenz_report
    assert "kl_population_count" in p.stdout and "report ->" in p.stdout
    m = json.loads((d / "report" / "metrics.json").read_text())
    for key in ("kl_population_count", "rmse_pairwise_correlation", "rmse_mean_isi", "rmse_std_isi", "half_vs_half"):
        assert key in m
    assert m["kl_population_count"]["mean"] >= 0 and m["n_trials"] == {"real": 42, "synthetic": 20, "per_resample": 20}
    pngs = sorted(f.name for f in (d / "report").glob("*.png"))
    assert {
        "population_count.png",
        "correlation_isi.png",
        "rasters.png",
        "autocorrelation.png",
        "latent_psd.png",
    } <= set(pngs)
    mem = m["memorization"]  # a tiny model's samples copy nothing
    assert mem["flagged"] is False and mem["n_train"] == 42 and mem["n_heldout"] == 18 and mem["n_synthetic"] == 20
    assert "memorization.png" in pngs and 'data-flagged="false"' in (d / "report" / "index.html").read_text()
    again = run("evaluate", "--real", src, "--synthetic", d / "s.nwb", "-o", d / "report", ok=False)
    assert "already exists" in error_line(again)
    bad = run("evaluate", "--real", src, "--synthetic", d / "m" / "config.json", "-o", d / "r2", ok=False)
    assert error_line(bad) and not (d / "r2").exists()


def test_a_recording_evaluated_against_itself_is_flagged_as_memorized(tmp_path):
    """Any NWB file can be --synthetic when --model gives the binning; the recording's own training
    trials are exact copies."""
    rec = tmp_path / "rec.nwb"
    run("simulate", "lorenz", "-o", rec, "--n-trials", 60, "--n-neurons", 12, "--n-bins", 32)
    run(
        "fit", rec, "-o", tmp_path / "m", "--epochs-ae", 1, "--epochs-diffusion", 1, "--epochs-history", 1, *tiny_args()
    )
    args = ["evaluate", "--real", rec, "--synthetic", rec, "-o", tmp_path / "report", "--resamples", 2, "-q"]
    p = run(*args, "--model", tmp_path / "m")
    assert "memorization" in p.stderr and "do not share" in p.stderr
    mem = json.loads((tmp_path / "report" / "metrics.json").read_text())["memorization"]
    assert mem["flagged"] is True and mem["exact_copies"] == mem["n_train"] == 42
    assert 'data-flagged="true"' in (tmp_path / "report" / "index.html").read_text()
    # without a model a file generate did not write says what to give
    bad = run(*args[:-1], "--overwrite", ok=False)
    assert "--model" in error_line(bad)


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


def test_report_page_in_headless_chromium(lorenz_report, tmp_path):
    d, _, _ = lorenz_report
    page = d / "report" / "index.html"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
    ]
    p = subprocess.run([_chromium(), *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    dom = p.stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, p.stderr[-2000:]
    n_png = len(list((d / "report").glob("*.png")))
    assert f'data-images="{n_png}"' in body.group(1) and 'data-missing-images="0"' in body.group(1), body.group(1)
    m = json.loads((d / "report" / "metrics.json").read_text())
    from nwb_ldns.report import _fmt

    for key in ("kl_population_count", "rmse_pairwise_correlation", "rmse_mean_isi", "rmse_std_isi"):
        row = re.search(rf'<tr data-metric="{key}">(.*?)</tr>', dom, re.S).group(1)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert cells[1].startswith(_fmt(m[key]["mean"])), (key, cells)
        assert cells[2].startswith(_fmt(m["autoencoder_ceiling"][key]["mean"])), (key, cells)
        assert cells[3].startswith(_fmt(m["half_vs_half"][key]["mean"])), (key, cells)
    stage = re.search(r'<p id="limiting-stage" data-stage="(\w+)"', dom)
    assert stage and stage.group(1) == m["limiting_stage"]["stage"]
    shot = tmp_path / "page.png"
    subprocess.run(
        [_chromium(), *flags[:-1], "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 10_000  # something was drawn


@pytest.mark.parametrize(
    "ceiling, synthetic, stage",
    [
        ((5.0, 4.0, 3.0, 1.0), (6.0, 5.0, 4.0, 1.5), "autoencoder"),  # the ceiling is already far from the floor
        ((1.2, 1.1, 1.5, 1.0), (9.0, 3.0, 4.0, 1.2), "diffusion"),  # samples far beyond a good ceiling
        ((1.2, 1.1, 1.5, 1.0), (1.5, 1.2, 1.6, 1.1), "none"),
    ],
)
def test_limiting_stage(ceiling, synthetic, stage):
    from nwb_ldns.evaluate import limiting_stage
    from nwb_ldns.metrics import CORE_METRICS

    report = {
        "half_vs_half": {k: {"mean": 2.0} for k in CORE_METRICS},
        "autoencoder_ceiling": {k: {"mean": 2.0 * c} for k, c in zip(CORE_METRICS, ceiling)},
    }
    report.update({k: {"mean": 2.0 * v} for k, v in zip(CORE_METRICS, synthetic)})
    out = limiting_stage(report)
    assert out["stage"] == stage
    assert out["ratios"]["kl_population_count"] == {"synthetic_x_floor": synthetic[0], "ceiling_x_floor": ceiling[0]}
    del report["autoencoder_ceiling"]
    assert limiting_stage(report)["stage"] is None  # no model: no ceiling to compare with


def test_rate_ratio_and_its_warning():
    r = M.rate_ratio(np.array([1.0, 2.0, 0.0, 4.0]), np.array([2.0, 4.0, 5.0, 8.0]))
    assert r["median"] == pytest.approx(2.0)  # the silent real unit is left out
    assert M.rate_warning(2.0) and "2.00x" in M.rate_warning(2.0)
    assert M.rate_warning(1.2) is None and M.rate_warning(None) is None


def test_generate_warns_when_rates_are_far_from_the_training_data(maze_models, caplog):
    import copy
    import logging

    m = copy.copy(maze_models["angle"])
    m.data = {**m.data, "unit_rates_hz": [r * 50 for r in m.data["unit_rates_hz"]]}  # as if the data fired 50x more
    with caplog.at_level(logging.WARNING, logger="nwb_ldns"):
        generate(m, condition=np.zeros(4), seed=0)
    assert any("firing rates are" in rec.getMessage() for rec in caplog.records)
