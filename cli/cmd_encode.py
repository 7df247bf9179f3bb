"""nwb-ldns encode: the latents and rates of recorded trials, as NWB."""

from __future__ import annotations

import click

from nwb_ldns.io.outputs import check_replaceable

from .options import (
    compression_option,
    device_option,
    include_weights_option,
    model_option,
    output_option,
    overwrite_option,
    source_options,
    subject_options,
)


@click.command("encode")
@click.argument("source")
@model_option
@output_option()
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Trials encoded at once."
)
@device_option
@subject_options("the source's")
@include_weights_option
@overwrite_option()
@compression_option
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
    compression,
    reader,
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
        **reader,
        quiet=quiet,
    )
    nwb = encoded_nwbfile(model, enc, subject=subject, include_weights=include_weights)
    write_nwbfile(nwb, output, overwrite=overwrite, compression=compression)
    n, D, L = enc.latents.shape
    click.echo(f"{n} trials x {L} bins -> {D} latents and {enc.rates.shape[1]} rates -> {output}")
