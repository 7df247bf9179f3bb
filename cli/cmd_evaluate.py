"""nwb-ldns evaluate: real against synthetic trials, a report."""

from __future__ import annotations

import os

import click

from nwb_ldns.io.outputs import check_replaceable

from .options import overwrite_option, seed_option, source_options


@click.command("evaluate")
@click.option("--real", "real_source", required=True, metavar="SOURCE", help="The real data (any SOURCE fit takes).")
@click.option(
    "--synthetic",
    "synthetic_path",
    required=True,
    type=click.Path(exists=True),
    help="A file written by `nwb-ldns generate` (.nwb or .nwb.zarr); with --model, any NWB file with the "
    "model's units and trials, binned as the real data (e.g. a recording, to see the audit flag copies).",
)
@click.option(
    "--model",
    "model_dir",
    default=None,
    type=click.Path(exists=True),
    help="The model (dir or file with weights): adds bits/spike, co-bps and latent PSDs.",
)
@click.option("-o", "--output", required=True, type=click.Path(), help="Report folder.")
@click.option(
    "--split",
    type=click.Choice(["train", "val", "test", "all"]),
    default="train",
    show_default=True,
    help="Real trials to compare with.",
)
@click.option("--resamples", type=click.IntRange(min=1), default=5, show_default=True, help="Bootstrap resamples.")
@seed_option
@overwrite_option("report folder")
@source_options
@click.pass_context
def evaluate_cmd(
    ctx,
    real_source,
    synthetic_path,
    model_dir,
    output,
    split,
    resamples,
    seed,
    overwrite,
    reader,
):
    """Compare synthetic trials with real ones: metrics.json, figures and index.html.

    Both are binned with the model's data spec (named in the synthetic file). Every metric is a
    bootstrap mean and sd, beside the floor of real half vs half. A memorization audit compares
    each synthetic trial's distance to its closest training trial with held-out real trials'
    and warns when synthetic trials copy training data.

    \b
    Examples:
      nwb-ldns evaluate --real sim:lorenz --synthetic synth.nwb -o report
      nwb-ldns evaluate --real sim:maze --synthetic synth.nwb --model maze-model -o report
    """
    from nwb_ldns.evaluate import evaluate

    check_replaceable(output, kind="report", overwrite=overwrite)  # before any work
    quiet = ctx.obj["quiet"]
    m = evaluate(
        real_source,
        synthetic_path,
        output,
        model_dir=model_dir,
        split=split,
        n_boot=resamples,
        seed=seed,
        overwrite=overwrite,
        progress=not quiet,
        quiet=quiet,
        **reader,
    )
    floor, ceiling = m["half_vs_half"], m.get("autoencoder_ceiling", {})
    from nwb_ldns.metrics import METRICS

    for key in (metric.name for metric in METRICS if metric.headline):
        if key in m and m[key]["mean"] is not None:
            f = floor.get(key, {}).get("mean")
            c = ceiling.get(key, {}).get("mean")
            click.echo(
                f"{key:28s} {m[key]['mean']:.4g} +- {m[key]['sd'] or 0:.2g}"
                + (f"   (autoencoder ceiling {c:.4g})" if c is not None else "")
                + (f"   (half vs half {f:.4g})" if f is not None else "")
            )
    if m["rate_ratio"]["median"] is not None:
        click.echo(f"{'rate ratio (synthetic/real)':28s} {m['rate_ratio']['median']:.3g} (median over neurons)")
    stage = (m.get("limiting_stage") or {}).get("stage")
    if stage is not None:
        click.echo(f"{'limiting stage':28s} {stage}")
    click.echo(f"report -> {os.path.join(output, 'index.html')}")
