"""nwb-ldns bin: a source binned into a Zarr dataset."""

from __future__ import annotations

import click

from nwb_ldns.io.outputs import check_replaceable

from .options import data_options, source_options, spec_from_options


@click.command("bin")
@click.argument("source")
@click.option("-o", "--output", required=True, type=click.Path(), help="Zarr folder for the SpikeDataset.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@data_options
@source_options
@click.pass_context
def bin_cmd(ctx, source, output, overwrite, cache_dir, dandi_api_url, allow_pickle, **data):
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
        cache_dir=cache_dir,
        allow_pickle=allow_pickle,
        dandi_api_url=dandi_api_url,
        quiet=ctx.obj["quiet"],
    )
    dataset.to_zarr(output, overwrite=overwrite)
    click.echo(f"{dataset} -> {output}")
