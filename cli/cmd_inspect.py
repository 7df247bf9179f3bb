"""nwb-ldns inspect: what a source holds, and the options to bin it."""

from __future__ import annotations

import json

import click

from .options import as_flags, source_options


@click.command("inspect")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@source_options
def inspect_cmd(source, as_json, reader):
    """Summarise SOURCE: units, trials, behaviour, splits, and suggested options.

    \b
    Example:
      nwb-ldns inspect dandi:000128 --json
    """
    from nwb_ldns.sources import open_source
    from nwb_ldns.summary import format_summary, summarize

    with open_source(source, **reader) as rec:
        summary = summarize(rec)
    summary["problems"] = [as_flags(p) for p in summary["problems"]]  # the library names arguments, the CLI flags
    click.echo(json.dumps(summary, indent=2, default=str) if as_json else format_summary(summary))
