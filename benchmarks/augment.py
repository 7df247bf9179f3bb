"""Held-out velocity decoding with and without synthetic trials on sim:maze, as a Markdown table.

Runs ``nwb-ldns augment``'s library function at its defaults (sizes 25, 50, 100, 200 and all,
3 draws each, synthetic:real 1 and 4, each fit until its validation loss stops improving) on a simulated
reaching session aligned as MC_Maze, and prints the rows with their spreads.

Run: python benchmarks/augment.py --out /tmp/aug [--source "sim:maze?n_trials=1000"] [--ratio 1 --ratio 4]
     [--n-train 25 --n-train 100] [--repeats 2] [--time-budget 120]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="report folder")
    parser.add_argument("--source", default="sim:maze?n_trials=1000")
    parser.add_argument("--ratio", type=float, action="append", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-budget", type=float, default=None, help="seconds per fit (default: none)")
    parser.add_argument("--n-train", action="append", default=None, help="a size or all (repeat; default: augment's)")
    args = parser.parse_args()

    from nwb_ldns.augment import augment
    from nwb_ldns.config import DataSpec
    from nwb_ldns.dataset import load_dataset

    spec = DataSpec(align="move_onset_time", window_ms=(-250.0, 450.0), behavior=("hand_vel",), behavior_lag_ms=100.0)
    dataset = load_dataset(args.source, spec)
    t = time.perf_counter()
    m = augment(
        dataset,
        args.out,
        **({"ratios": tuple(args.ratio)} if args.ratio else {}),
        **({"n_train": tuple(args.n_train)} if args.n_train else {}),
        repeats=args.repeats,
        time_budget=args.time_budget,
        source=args.source,
        overwrite=True,
    )
    print(
        f"{args.source}: {m['n_pool']} train+val trials, {m['n_test']} test trials; {m['repeats']} draws per size; "
        f"{time.perf_counter() - t:.0f} s\n"
    )
    print(
        "| decoder | N real | synthetic:real | R² real only | R² with synthetic | gain [95% CI] | verdict "
        "| synthetic vs condition R² | R² with resampled real (control) | synthetic over control [95% CI] |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in m["rows"]:
        a, b, f, (lo, hi) = r["r2_real"], r["r2_augmented"], r["r2_synthetic_follows"], r["gain_ci95"]
        print(
            f"| {r['decoder']} | {r['n_train']} | {r['ratio']:g} | {a['mean']:.3f} ± {a['sd']:.3f} | "
            f"{b['mean']:.3f} ± {b['sd']:.3f} | {r['gain']['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}] | {r['verdict']} "
            f"| {f['mean']:.3f} ± {f['sd']:.3f} | {r['r2_resampled']['mean']:.3f} ± {r['r2_resampled']['sd']:.3f} "
            f"| {r['gain_over_resampled']['mean']:+.3f} [{r['gain_over_resampled_ci95'][0]:+.3f}, "
            f"{r['gain_over_resampled_ci95'][1]:+.3f}] |"
        )


if __name__ == "__main__":
    main()
