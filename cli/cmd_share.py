"""nwb-ldns share: a dandiset folder of synthetic files, prepared offline."""

from __future__ import annotations

import click

from nwb_ldns.io.outputs import check_replaceable

from .options import overwrite_option


@click.command("share")
@click.argument("synthetic", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(), help="The dandiset folder to create.")
@click.option(
    "--report",
    "reports",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="The `nwb-ldns evaluate` report of a file (its realism metrics and memorization audit); once per file.",
)
@click.option("--dandiset-id", default=None, help="The dandiset's number on the archive (six digits), when it exists.")
@click.option("--force", is_flag=True, help="Share files without a passing memorization audit.")
@overwrite_option("dandiset folder written by share")
@click.pass_context
def share_cmd(ctx, synthetic, output, reports, dandiset_id, force, overwrite):
    """Prepare a dandiset folder of synthetic files for DANDI, offline; it never uploads.

    The folder gets a draft dandiset.yaml (how the data were generated, the source dandiset; the
    license is yours to choose), the files organised by the dandi client into sub-<subject>/, and
    a data card with the model, the training source, the realism metrics and the memorization
    audit; `dandi validate` must accept it. A file whose audit is flagged, or that has no
    report, is refused unless --force.

    \b
    Examples:
      nwb-ldns evaluate --real dandi:000128 --synthetic synth.nwb --model maze-model -o report
      nwb-ldns share synth.nwb --report report -o 000999 --dandiset-id 000999
    """
    from nwb_ldns.share import share

    check_replaceable(output, kind="dandiset", overwrite=overwrite, what=output)  # before any work
    shared = share(synthetic, output, reports=reports, dandiset_id=dandiset_id, force=force, overwrite=overwrite)
    for src, dest in shared.files.items():
        click.echo(f"{src} -> {shared.path / dest}")
    click.echo(f"data card: {shared.card}")
    click.echo(f"dandi validate: {shared.validation}")
    click.echo(
        "Review dandiset.yaml (choose a license), then upload with your DANDI_API_KEY set:\n"
        f"  cd {shared.path} && dandi upload"
    )
