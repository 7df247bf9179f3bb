"""nwb-ldns augment: does training a decoder on synthetic trials help?"""

from __future__ import annotations

import click

from nwb_ldns.config import AUGMENT_RATIOS
from nwb_ldns.io.outputs import check_replaceable

from .options import (
    Duration,
    IntOrWord,
    data_options,
    device_option,
    overwrite_option,
    preset_option,
    seed_option,
    source_options,
    spec_from_options,
)


@click.command("augment")
@click.argument("source")
@click.option("-o", "--output", required=True, type=click.Path(), help="Report folder.")
@data_options
@click.option(
    "--n-train",
    "n_train",
    type=IntOrWord("all", 2, "training trials"),
    multiple=True,
    default=("25", "50", "100", "200", "all"),
    show_default=True,
    help="Real training-set sizes (repeat the option); all = every train and val trial.",
)
@click.option(
    "--ratio",
    "ratios",
    type=click.FloatRange(min=0, min_open=True),
    multiple=True,
    default=AUGMENT_RATIOS,
    show_default=True,
    help="Synthetic:real ratios (repeat the option).",
)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True, help="Draws of N trials per size.")
@click.option(
    "--time-budget",
    type=Duration(),
    default=None,
    metavar="DURATION",
    help="Wall-clock limit of each fit, e.g. 2m (default: none; each fit stops when validation stops "
    "improving, as `fit` does).",
)
@preset_option("Of each fit. ")
@device_option
@seed_option
@overwrite_option("report folder")
@source_options
@click.pass_context
def augment_cmd(
    ctx, source, output, n_train, ratios, repeats, time_budget, preset, device, seed, overwrite, reader, **data
):
    """Train velocity decoders on N real trials with and without synthetic ones, scored on held-out trials.

    For each N, a velocity-conditioned model is fitted on N real training trials and generates
    ratio x N trials conditioned on their velocities; a ridge and a GRU decoder are trained on
    the real trials alone and with the synthetic ones, and scored on the test split (never seen
    by a model or a decoder). Writes metrics.json, augment.png and index.html.

    \b
    Examples:
      nwb-ldns augment sim:maze --align move_onset_time --window -250 450 --behavior hand_vel -o aug
      nwb-ldns augment dandi:000128 --align move_onset_time --window -250 450 --behavior hand_vel \\
          --behavior-lag-ms 100 --n-train 50 --n-train 100 --ratio 1 --ratio 4 -o aug
    """
    from nwb_ldns.augment import augment
    from nwb_ldns.dataset import load_dataset

    check_replaceable(output, kind="report", overwrite=overwrite)  # before any work
    quiet = ctx.obj["quiet"]
    dataset = load_dataset(source, spec_from_options(data), progress=not quiet, quiet=quiet, **reader)
    m = augment(
        dataset,
        output,
        n_train=n_train,
        ratios=ratios,
        repeats=repeats,
        preset=preset,
        time_budget=time_budget,
        seed=seed,
        device=device,
        overwrite=overwrite,
        progress=not quiet,
        source=source,
    )
    click.echo(
        f"{'decoder':8} {'N':>6} {'ratio':>6} {'R2 real':>16} {'R2 + synthetic':>16} {'gain [95% CI]':>26}  "
        "verdict; R2 of synthetic trials vs their condition; gain over resampled real trials [95% CI]"
    )
    for r in m["rows"]:
        real, aug, (lo, hi) = r["r2_real"], r["r2_augmented"], r["gain_ci95"]
        click.echo(
            f"{r['decoder']:8} {r['n_train']:>6} {r['ratio']:>6g} {real['mean']:>8.3f} +- {real['sd']:<5.3f} "
            f"{aug['mean']:>8.3f} +- {aug['sd']:<5.3f} {r['gain']['mean']:>+8.3f} [{lo:+.3f}, {hi:+.3f}]  "
            f"{r['verdict']}; {r['r2_synthetic_follows']['mean']:.3f}; {r['gain_over_resampled']['mean']:+.3f} "
            f"[{r['gain_over_resampled_ci95'][0]:+.3f}, {r['gain_over_resampled_ci95'][1]:+.3f}]"
        )
    click.echo(f"report -> {output}/index.html")
