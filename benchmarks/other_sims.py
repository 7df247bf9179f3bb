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
  and amplitude change from trial to trial (under 200 training trials: the small-data settings).

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


def simulate(name: str, seed: int = 1) -> tuple[list[np.ndarray], float, np.ndarray | None]:
    """Per-trial rates (units, ms) in Hz, the trial length in s, and a condition per trial (or None)."""
    rng = np.random.default_rng(seed)
    if name == "gp":
        c = rng.normal(0, 0.6, (80, 4))
        b = np.log(rng.uniform(1, 8, 80))
        return [np.exp(b[:, None] + c @ _gp(4, 1000, 100, rng)) for _ in range(300)], 1.0, None
    if name == "cond":
        base = np.log(rng.uniform(2, 20, 60))
        base[:5] = np.log(rng.uniform(40, 70, 5))
        paths = [base[:, None] + 0.8 * _gp(60, 1500, 150, rng) for _ in range(8)]
        cond = np.repeat(np.arange(8), 50)
        rng.shuffle(cond)
        return [np.exp(paths[k] + rng.normal(0, 0.3)) for k in cond], 1.5, cond
    if name == "rhythm":
        phase, gain, b = rng.uniform(0, 2 * np.pi, 40), rng.uniform(0.2, 1.0, 40), np.log(rng.uniform(5, 25, 40))
        t = np.arange(600) / 1000
        rates = []
        for _ in range(150):
            a, p = rng.uniform(0.3, 1.2), rng.uniform(0, 2 * np.pi)
            rates.append(np.exp(b[:, None] + a * gain[:, None] * np.sin(2 * np.pi * 8 * t + p + phase[:, None])))
        return rates, 0.6, None
    raise ValueError(name)


def write_recording(path: Path, rates: list[np.ndarray], trial_s: float, cond, seed: int = 0) -> np.ndarray:
    """Poisson spikes of ``rates`` (1 ms grid) as an NWB file with units and trials (0.5 s apart);
    returns the true expected counts per 5 ms bin, (trial, unit, bin)."""
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
        nwb.add_trial(start_time=t0, stop_time=t0 + trial_s, **({} if cond is None else {"condition": int(cond[i])}))
        t0 += trial_s + 0.5
    for s in spikes:
        nwb.add_unit(spike_times=np.sort(np.concatenate(s)))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return true_counts(rates)


def true_counts(rates: list[np.ndarray]) -> np.ndarray:
    """Expected counts per 5 ms bin, (trial, unit, bin), of per-trial rates (units, ms) in Hz."""
    r = np.stack(rates) / 1000.0  # (trial, unit, ms) expected counts
    return r.reshape(r.shape[0], r.shape[1], -1, BIN_MS).sum(-1)


def true_rate_r2(model_dir: Path, nwb: Path, truth: np.ndarray) -> float:
    """Mean over units of the R^2 of the autoencoder's rates against the true ones, on the test trials."""
    from nwb_ldns.artifacts import load_model
    from nwb_ldns.dataset import load_dataset

    test = load_dataset(str(nwb)).select("test")
    _, rates = load_model(model_dir).encode(test.counts_bct())
    from fidelity import mean_unit_r2  # this folder's fidelity benchmark

    return mean_unit_r2(truth[test.trial_ids][..., : rates.shape[-1]], rates)  # (trial, unit, bin)


def nwb_ldns(*args) -> None:
    subprocess.run([sys.executable, "-m", "nwb_ldns_cli.main", *map(str, args)], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", nargs="*", default=["gp", "cond", "rhythm"])
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
        rates, trial_s, cond = simulate(name)
        truth = true_counts(rates) if reuse else write_recording(nwb, rates, trial_s, cond)
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
            "true_rate_r2": true_rate_r2(model, nwb, truth),
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
