"""The CLI's defaults on recordings unlike the built-in simulations.

``sim:lorenz`` and ``sim:maze`` are what this project's defaults were measured on; a recording from
another lab is not. This script simulates three others, writes each as an NWB file (units and a
trials table, as a lab would), and runs ``nwb-ldns fit``, ``generate`` (500 trials) and
``evaluate`` on it with no options, as a new user would:

- ``gp``: 300 trials of 1 s; 80 units of 1-8 Hz driven through exp(.) by 4 independent Gaussian
  processes (100 ms length scale): slow, heavy-tailed rates with no trial structure;
- ``cond``: 400 trials of 1.5 s in 8 conditions; 60 units (5 of them at 40-70 Hz) whose log rates
  follow a smooth condition-specific path, times a per-trial gain shared by all units
  (log-normal, sd 0.3);
- ``rhythm``: 150 trials of 0.6 s; 40 units of 5-25 Hz modulated by an 8 Hz rhythm whose phase
  and amplitude change from trial to trial (under 200 training trials: the small-data settings);
- ``varlen``: 300 trials of 0.7-2.0 s (as most trials tables: each trial as long as it took);
  100 sparse units (log-normal rates, median 3 Hz, from 0.1 Hz) with an onset response in the
  first 300 ms and 3 slow shared processes (150 ms);
- ``spont``: 10 minutes with no trials table (spontaneous activity, tiled in the default 1 s
  segments); 120 units (median 4 Hz) driven by 4 shared processes (200 ms) and a slow
  up/down-state gain.

It prints, per recording: the fit's time; the median (10th percentile) synthetic/real mean-rate
ratio over units; the four statistics of LDNS's Table 1 as ratios to the real half-vs-half floor,
for the samples and for the autoencoder's ceiling; the autoencoder's rates against the
simulation's true rates (mean R^2 over units, test trials); and how far the autoencoder's
whole-trial rates were from the data before ``fit`` matched them (median unit).

Usage::

    python benchmarks/other_sims.py --out /tmp/other
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BIN_MS = 5  # the CLI's default bin


def _gp(n: int, length: int, scale_ms: float, rng) -> np.ndarray:
    """n independent unit-variance Gaussian-process paths (n, length) on a 1 ms grid."""
    t = np.arange(length)
    k = np.exp(-0.5 * (t[:, None] - t[None]) ** 2 / scale_ms**2) + 1e-5 * np.eye(length)
    return rng.standard_normal((n, length)) @ np.linalg.cholesky(k).T


def _smooth_noise(n: int, length: int, scale_ms: float, rng) -> np.ndarray:
    """n unit-variance paths (n, length) of white noise smoothed by a Gaussian kernel (any length)."""
    from scipy.ndimage import gaussian_filter1d

    x = gaussian_filter1d(rng.standard_normal((n, length)), scale_ms / np.sqrt(2), axis=1, mode="wrap")
    return x / x.std(axis=1, keepdims=True)


def simulate(name: str, seed: int = 1) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Per-trial rates (units, ms) in Hz, and a condition per trial (or None). ``spont`` is one
    trial: the whole recording, written without a trials table."""
    rng = np.random.default_rng(seed)
    if name == "gp":
        c = rng.normal(0, 0.6, (80, 4))
        b = np.log(rng.uniform(1, 8, 80))
        return [np.exp(b[:, None] + c @ _gp(4, 1000, 100, rng)) for _ in range(300)], None
    if name == "cond":
        base = np.log(rng.uniform(2, 20, 60))
        base[:5] = np.log(rng.uniform(40, 70, 5))
        paths = [base[:, None] + 0.8 * _gp(60, 1500, 150, rng) for _ in range(8)]
        cond = np.repeat(np.arange(8), 50)
        rng.shuffle(cond)
        return [np.exp(paths[k] + rng.normal(0, 0.3)) for k in cond], cond
    if name == "rhythm":
        phase, gain, b = rng.uniform(0, 2 * np.pi, 40), rng.uniform(0.2, 1.0, 40), np.log(rng.uniform(5, 25, 40))
        t = np.arange(600) / 1000
        rates = []
        for _ in range(150):
            a, p = rng.uniform(0.3, 1.2), rng.uniform(0, 2 * np.pi)
            rates.append(np.exp(b[:, None] + a * gain[:, None] * np.sin(2 * np.pi * 8 * t + p + phase[:, None])))
        return rates, None
    if name == "varlen":
        b = np.clip(np.log(3.0) + rng.normal(0, 1.2, 100), np.log(0.1), np.log(40))
        c = rng.normal(0, 0.5, (100, 3))
        onset = rng.normal(0, 0.8, 100)[:, None] * np.exp(-0.5 * ((np.arange(300) - 100) / 50.0) ** 2)
        rates = []
        for n_ms in rng.integers(140, 401, 300) * BIN_MS:
            x = b[:, None] + c @ _gp(3, n_ms, 150, rng)
            x[:, :300] += onset
            rates.append(np.exp(x))
        return rates, None
    if name == "spont":
        n_ms = 600_000
        b = np.clip(np.log(4.0) + rng.normal(0, 1.0, 120), np.log(0.1), np.log(50))
        c = rng.normal(0, 0.5, (120, 4))
        state = 0.4 * np.tanh(2 * _smooth_noise(1, n_ms, 1000, rng))  # slow up/down states, all units
        return [np.exp(b[:, None] + c @ _smooth_noise(4, n_ms, 200, rng) + state)], None
    raise ValueError(name)


def write_recording(path: Path, rates: list[np.ndarray], cond, trials: bool = True, seed: int = 0) -> None:
    """Poisson spikes of ``rates`` (1 ms grid) as an NWB file with units and trials (0.5 s apart),
    or, with ``trials=False``, units alone."""
    from pynwb import NWBHDF5IO, NWBFile

    rng = np.random.default_rng(seed)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    nwb = NWBFile(session_description=f"other_sims {path.stem}", identifier=path.stem, session_start_time=start)
    if cond is not None:
        nwb.add_trial_column("condition", "condition of the trial")
    spikes = [[] for _ in range(rates[0].shape[0])]
    t0 = 1.0
    for i, r in enumerate(rates):
        n = rng.poisson(r / 1000.0)  # (units, ms)
        for u in range(len(spikes)):
            ms = np.repeat(np.nonzero(n[u])[0], n[u][n[u] > 0])
            spikes[u].append(t0 + (ms + rng.random(len(ms))) / 1000.0)
        trial_s = r.shape[1] / 1000.0
        if trials:
            extra = {} if cond is None else {"condition": int(cond[i])}
            nwb.add_trial(start_time=t0, stop_time=t0 + trial_s, **extra)
        t0 += trial_s + 0.5
    for s in spikes:
        nwb.add_unit(spike_times=np.sort(np.concatenate(s)))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def true_counts(r: np.ndarray) -> np.ndarray:
    """Expected counts per 5 ms bin, (unit, bin), of one trial's rates (units, ms) in Hz."""
    r = r[:, : r.shape[1] // BIN_MS * BIN_MS] / 1000.0  # (unit, ms) expected counts
    return r.reshape(r.shape[0], -1, BIN_MS).sum(-1)


def true_rate_r2(model_dir: Path, nwb: Path, rates: list[np.ndarray]) -> float:
    """Mean over units of the R^2 of the autoencoder's rates against the true ones, on the test
    trials' valid bins (whole trials; segments cut from the one continuous trial)."""
    from nwb_ldns.artifacts import load_model
    from nwb_ldns.dataset import load_dataset

    test = load_dataset(str(nwb)).select("test")
    _, fit = load_model(model_dir).encode(test.counts_bct())  # (trial, unit, bin)
    spec = test.spec
    whole = true_counts(rates[0]) if len(rates) == 1 else None
    true, got = [], []
    for k, trial in enumerate(test.trial_ids):
        n = int(test.lengths[k])
        if len(rates) == 1:  # segments: trial ids are the segments' starts in s from the first spike
            start = int(round((test.ds["start_time"].values[k] - 1.0) * 1000 / spec.bin_ms))
            true.append(whole[:, start : start + n])
        else:
            true.append(true_counts(rates[int(trial)])[:, :n])
        got.append(fit[k, :, :n])
    t, r = np.concatenate(true, axis=1), np.concatenate(got, axis=1)  # (unit, valid bins)
    ss_res = ((t - r) ** 2).sum(1)
    ss_tot = ((t - t.mean(1, keepdims=True)) ** 2).sum(1)
    return float(np.nanmean(1 - ss_res / np.where(ss_tot > 0, ss_tot, np.nan)))


def nwb_ldns(*args) -> None:
    subprocess.run([sys.executable, "-m", "nwb_ldns_cli.main", *map(str, args)], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", nargs="*", default=["gp", "cond", "rhythm", "varlen", "spont"])
    ap.add_argument(
        "--reuse", action="store_true", help="keep the recordings and models already in --out (and their fit times)"
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    old = json.loads((args.out / "results.json").read_text()) if (args.out / "results.json").exists() else {}
    rows = {}
    for name in args.only:
        nwb, model, syn, report = (args.out / f"{name}{s}" for s in (".nwb", "-model", "-synthetic.nwb", "-report"))
        reuse = args.reuse and (model / "config.json").exists() and name in old
        rates, cond = simulate(name)
        if not reuse:
            write_recording(nwb, rates, cond, trials=name != "spont")
        t = time.monotonic()
        if not reuse:
            nwb_ldns("fit", nwb, "-o", model, "--overwrite")
        fit_s = old[name]["fit_s"] if reuse else time.monotonic() - t
        nwb_ldns("generate", "--model", model, "-o", syn, "--n-trials", 500, "--overwrite")
        nwb_ldns("evaluate", "--real", nwb, "--synthetic", syn, "--model", model, "-o", report, "--overwrite")
        m = json.loads((report / "metrics.json").read_text())
        cfg = json.loads((model / "config.json").read_text())
        rows[name] = {
            "fit_s": fit_s,
            "rate_ratio": m["rate_ratio"],
            "ratios": m["limiting_stage"]["ratios"],
            "stage": m["limiting_stage"]["stage"],
            "true_rate_r2": true_rate_r2(model, nwb, rates),
            "rates_before_matching": cfg["stages"]["autoencoder"]["history"]["rate_calibration"][
                "rate_ratio_before_median"
            ],
        }
        (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    print("| recording | fit | rate ratio (p10) | KL / corr / mean ISI / std ISI (x floor) | ceiling (x floor) "
          "| true-rate R² | whole-trial rates before matching |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        syn = " / ".join(f"{v['synthetic_x_floor']:.1f}x" for v in r["ratios"].values())
        ceil = " / ".join(f"{v['ceiling_x_floor']:.1f}x" for v in r["ratios"].values())
        rr = r["rate_ratio"]
        print(
            f"| {name} | {r['fit_s']:.0f} s | {rr['median']:.2f} ({rr['p10']:.2f}) | {syn} | {ceil} "
            f"| {r['true_rate_r2']:.2f} | {r['rates_before_matching']:.2f}x |"
        )


if __name__ == "__main__":
    main()
