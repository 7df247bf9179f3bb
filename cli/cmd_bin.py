"""nwb-ldns bin: a source binned into a Zarr dataset."""

from __future__ import annotations

import click

from nwb_ldns.io.outputs import check_replaceable

from .options import data_options, overwrite_option, source_options, spec_from_options


@click.command("bin")
@click.argument("source")
@click.option("-o", "--output", required=True, type=click.Path(), help="Zarr folder for the SpikeDataset.")
@overwrite_option()
@data_options
@source_options
@click.pass_context
def bin_cmd(ctx, source, output, overwrite, reader, **data):
    """Bin SOURCE into aligned trials and save the SpikeDataset (xarray, Zarr).

    \b
    Example:
      nwb-ldns bin mc_maze.nwb -o maze.zarr --align move_onset_time --window -250 450 \\
          --behavior hand_vel --behavior-lag-ms 100
    Open it with nwb_ldns.dataset.SpikeDataset.from_zarr("maze.zarr") or xarray.open_zarr.
    """
    from nwb_ldns.dataset import load_dataset

    spec = spec_from_options(data)
    check_replaceable(output, kind="dataset", overwrite=overwrite)  # before any work
    dataset = load_dataset(
        source,
        spec,
        progress=not ctx.obj["quiet"],
        **reader,
        quiet=ctx.obj["quiet"],
    )
    dataset.to_zarr(output, overwrite=overwrite)
    click.echo(f"{dataset} -> {output}")
