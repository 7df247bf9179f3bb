"""Synthetic NWB files with and without compression: size, write time, read time, side by side.

The same draw of synthetic trials from one model is written six ways (HDF5 and Zarr, each with
``--compression compact``, the default, ``gzip`` and ``none``), and each file's rates and spike
times are read back; for ``compact`` the largest error against the exact values is printed.
Prints a Markdown table and the raw size of the largest datasets.

Run: python benchmarks/compression.py MODEL_DIR [--n-trials 500]
(for example the README main job's ``lorenz-model``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--n-trials", type=int, default=500)
    args = parser.parse_args()

    from nwb_ldns.artifacts import load_model
    from nwb_ldns.generate import generate
    from nwb_ldns.io.nwbfile import open_nwb, write_nwbfile
    from nwb_ldns.io.spikes import SAMPLING_RATE
    from nwb_ldns.io.synthetic import synthetic_nwbfile

    model = load_model(args.model_dir)
    syn = generate(model, n_trials=args.n_trials, seed=0)
    rows, exact, errors = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".nwb", ".nwb.zarr"):
            for compression in ("none", "gzip", "compact"):
                path = Path(tmp) / f"{compression}{suffix}"
                t = time.perf_counter()
                write_nwbfile(synthetic_nwbfile(model, syn), path, compression=compression)
                write_s = time.perf_counter() - t
                t = time.perf_counter()
                with open_nwb(path) as io:
                    nwb = io.read()
                    rates = nwb.processing["misc"]["rates"].data[:]
                    spikes = nwb.units["spike_times"].target.data[:]  # every unit's spike times
                read_s = time.perf_counter() - t
                assert rates.shape[0] == args.n_trials * syn.n_bins and spikes.size == int(syn.counts.sum())
                rows.append((suffix, compression, _size(path), write_s, read_s))
                if compression == "none":
                    exact[suffix] = (rates, spikes)
                elif compression == "compact":
                    r0, s0 = exact[suffix]
                    errors[suffix] = (
                        float(np.max(np.abs(rates - r0) / np.maximum(np.abs(r0), 1e-30))),
                        float(np.max(np.abs(spikes - s0)) * SAMPLING_RATE),
                        bool(np.array_equal(np.round(spikes * SAMPLING_RATE), np.round(s0 * SAMPLING_RATE))),
                    )
    print(f"{args.n_trials} synthetic trials x {syn.n_bins} bins x {syn.counts.shape[1]} units\n")
    print("| format | compression | size (MB) | smaller by | write (s) | read rates + spikes (s) |")
    print("|---|---|---|---|---|---|")
    for suffix, compression, size, write_s, read_s in rows:
        base = next(r[2] for r in rows if r[0] == suffix and r[1] == "none")
        print(f"| {suffix} | {compression} | {size / 1e6:.1f} | {base / size:.2f}x | {write_s:.2f} | {read_s:.2f} |")
    n_bins_total = args.n_trials * syn.n_bins
    print(
        f"\nraw bytes: rates {n_bins_total * syn.counts.shape[1] * 4 / 1e6:.1f} MB (float32), "
        f"spike times {int(syn.counts.sum()) * 8 / 1e6:.1f} MB (float64), "
        f"latents {n_bins_total * syn.latents.shape[1] * 4 / 1e6:.1f} MB"
    )
    for suffix, (rate_err, frame_err, frames_same) in errors.items():
        print(
            f"{suffix} compact against none: rates within {rate_err:.2%} (relative), spike times within "
            f"{frame_err:.3f} of a frame, every spike on its frame: {frames_same}"
        )


if __name__ == "__main__":
    main()
