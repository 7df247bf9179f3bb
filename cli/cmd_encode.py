"""nwb-ldns encode: the latents and rates of recorded trials, as NWB."""

from __future__ import annotations

import click

from nwb_ldns.io.outputs import check_replaceable

from .options import source_options, subject_options


@click.command("encode")
@click.argument("source")
@click.option(
    "--model",
    "model_dir",
    default="ldns-model",
    show_default=True,
    type=click.Path(),
    help="Model dir written by `nwb-ldns fit`, or an output file written with --include-weights.",
)
@click.option("-o", "--output", required=True, type=click.Path(), help="Output .nwb (or .nwb.zarr).")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Trials encoded at once."
)
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda.")
@subject_options("the source's")
@click.option(
    "--include-weights",
    is_flag=True,
    help="Store the model's weights in the file, so the file alone can be loaded as --model.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@source_options
@click.pass_context
def encode_cmd(
    ctx,
    source,
    model_dir,
    output,
    batch_size,
    device,
    subject,
    include_weights,
    overwrite,
    cache_dir,
    dandi_api_url,
    allow_pickle,
):
    """Infer latents and rates for every trial of SOURCE and write them as NWB.

    SOURCE is binned as the model's data were (bin width, alignment, window, units); it may be
    another recording than the one the model was fitted on if it has the same unit ids. The
    output holds a copy of the source's trials table, the latents and rates of each trial in
    processing/misc, and the model's metadata.

    \b
    Examples:
      nwb-ldns encode sim:lorenz --model lorenz-model -o lorenz-latents.nwb
      nwb-ldns encode dandi:000128 -o mc_maze-latents.nwb.zarr
    """
    from nwb_ldns.artifacts import load_model
    from nwb_ldns.encode import encode_source
    from nwb_ldns.io.encoded import encoded_nwbfile
    from nwb_ldns.io.nwbfile import write_nwbfile

    check_replaceable(output, kind="nwb", overwrite=overwrite)  # before any work
    model = load_model(model_dir, device=device)
    quiet = ctx.obj["quiet"]
    enc = encode_source(
        model,
        source,
        batch_size=batch_size,
        progress=not quiet,
        cache_dir=cache_dir,
        allow_pickle=allow_pickle,
        dandi_api_url=dandi_api_url,
        quiet=quiet,
    )
    nwb = encoded_nwbfile(model, enc, subject=subject, include_weights=include_weights)
    write_nwbfile(nwb, output, overwrite=overwrite)
    n, D, L = enc.latents.shape
    click.echo(f"{n} trials x {L} bins -> {D} latents and {enc.rates.shape[1]} rates -> {output}")
