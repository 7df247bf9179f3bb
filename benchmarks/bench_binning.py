"""Binning speed at MC_Maze scale: ours vs a dense 1 ms histogram + 5 ms resample (nlb_tools' way).

MC_Maze (DANDI 000128): 182 units, ~3.6 M spikes over ~2 h, 2869 trials of 140 x 5 ms bins.
Both pipelines run in this process on the same spikes, and their counts are checked equal.
Then a local NWB file of that size (with 1 kHz hand velocity) is written and timed into a
SpikeDataset. Prints a Markdown table. Run: python benchmarks/bench_binning.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_session(n_units=182, n_spikes=3_600_000, duration=7200.0, n_trials=2869, seed=0):
    rng = np.random.default_rng(seed)
    per_unit = rng.multinomial(n_spikes, rng.dirichlet(np.ones(n_units) * 2))
    # half a sample off the 30 kHz grid, so no spike sits on a 5 ms edge where the two pipelines'
    # float rounding differs (edge semantics are tested against np.histogram in tests/test_binning.py)
    spikes = [(np.sort(rng.integers(0, int(duration * 30000), k)) + 0.5) / 30000.0 for k in per_unit]
    spacing = (duration - 2.0) / n_trials  # ~2.5 s, as MC_Maze
    onsets = 1.1 + np.arange(n_trials) * spacing + rng.uniform(0, spacing - 2.2, n_trials)
    onsets = np.round(onsets / 0.005) * 0.005  # on the 5 ms grid so the dense baseline can slice exactly
    return spikes, onsets, duration


def ours(spikes, starts, n_bins=140, bin_s=0.005):
    from nwb_ldns.binning import WindowBinner

    binner = WindowBinner(starts, n_bins, bin_s)
    out = np.zeros(binner.shape + (len(spikes),), dtype=np.uint16)
    flat = out.reshape(-1, len(spikes))  # a view: (trial * time, unit)
    for u, t in enumerate(spikes):
        slot, c = binner.sparse_counts(t)
        flat[slot, u] = c
    return out


def dense_baseline(spikes, starts, duration, n_bins=140):
    """1 ms histogram of the whole session per unit, summed into 5 ms, then trial windows sliced."""
    n_ms = int(np.ceil(duration * 1000 / 5) * 5)
    dense = np.zeros((n_ms, len(spikes)), dtype=np.uint8)
    for u, t in enumerate(spikes):
        dense[:, u] = np.histogram(t, bins=n_ms, range=(0.0, n_ms / 1000))[0]
    five = dense.reshape(n_ms // 5, 5, len(spikes)).sum(axis=1, dtype=np.uint16)  # the 5 ms resample
    first = np.round(starts / 0.005).astype(int)
    return five[first[:, None] + np.arange(n_bins)[None, :]]  # (trial, time, unit)


def timed(fn, *args, repeat=3):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def nwb_to_dataset(spikes, onsets, duration, folder):
    import datetime

    from pynwb import NWBFile, TimeSeries

    from nwb_ldns.config import DataSpec
    from nwb_ldns.dataset import load_dataset
    from nwb_ldns.io.nwbfile import write_nwbfile

    nwb = NWBFile(
        session_description="benchmark",
        identifier="bench",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )
    for t in spikes:
        nwb.add_unit(spike_times=t)
    nwb.units.resolution = 1 / 30000
    nwb.add_trial_column("move_onset_time", "movement onset")
    for a, b, m in zip(onsets - 1.0, onsets + 1.0, onsets):
        nwb.add_trial(start_time=a, stop_time=b, move_onset_time=m)
    ts = np.arange(0, duration, 1e-3)
    beh = nwb.create_processing_module("behavior", "kinematics")
    beh.add(
        TimeSeries(
            name="hand_vel",
            description="velocity",
            unit="mm/s",
            timestamps=ts,
            data=np.stack([np.sin(ts), np.cos(ts)], 1).astype(np.float32),
        )
    )
    path = Path(folder) / "session.nwb"
    write_nwbfile(nwb, path)
    spec = DataSpec(align="move_onset_time", window_ms=(-250, 450), behavior=("hand_vel",), behavior_lag_ms=100)
    t0 = time.perf_counter()
    ds = load_dataset(str(path), spec)
    return time.perf_counter() - t0, ds, path.stat().st_size


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="1/10 scale, for a smoke run")
    args = p.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    n_trials = int(2869 * scale)
    spikes, onsets, duration = make_session(n_spikes=int(3_600_000 * scale), duration=7200.0 * scale, n_trials=n_trials)
    starts = onsets - 0.25
    t_ours, a = timed(ours, spikes, starts)
    t_dense, b = timed(dense_baseline, spikes, starts, duration, repeat=1)
    assert np.array_equal(a, b), "ours and the dense baseline disagree"
    with tempfile.TemporaryDirectory() as tmp:
        t_file, ds, size = nwb_to_dataset(spikes, onsets, duration, tmp)
    n_sp = sum(len(s) for s in spikes)
    print(
        f"# binning benchmark: {len(spikes)} units, {n_sp:,} spikes, {duration:.0f} s, {n_trials} trials x 140 x 5 ms"
        f" (python {sys.version.split()[0]}, numpy {np.__version__})\n"
    )
    print("| step | time | ratio |")
    print("|---|---|---|")
    print(f"| dense 1 ms histogram + 5 ms resample (nlb_tools' way) | {t_dense:.2f} s | 1x |")
    print(f"| nwb-ldns WindowBinner (same counts, checked equal) | {t_ours:.3f} s | {t_dense / t_ours:.0f}x faster |")
    print(f"| local NWB file ({size / 1e6:.0f} MB) -> SpikeDataset, with 1 kHz hand_vel | {t_file:.2f} s | |")
    print(f"\nSpikeDataset: {ds}")


if __name__ == "__main__":
    main()
