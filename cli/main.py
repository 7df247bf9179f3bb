"""``nwb-ldns``: parse, call the library, print. Errors are one line and a non-zero exit."""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings

import click

from nwb_ldns import __version__
from nwb_ldns.errors import NwbLdnsError

logger = logging.getLogger("nwb_ldns")


class _OneLine(logging.Formatter):
    def format(self, record):
        msg = record.getMessage()
        return msg if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {msg}"


def _setup_logging(quiet: bool, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    if not verbose:  # pynwb/hdmf chatter about cached namespaces and the like
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)


def _quiet_callback(ctx, _param, value):
    if value:
        ctx.find_root().obj["quiet"] = True
        logger.setLevel(logging.WARNING)
    return value


def source_options(fn):
    """Options every command that opens a SOURCE takes (and --quiet, also accepted after the command)."""
    fn = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_quiet_callback,
                      help="No progress bars or information.")(fn)
    fn = click.option("--dandi-api-url", envvar="NWB_LDNS_DANDI_API_URL", default=None, metavar="URL",
                      help="DANDI API of another instance (default: the DANDI Archive).")(fn)
    fn = click.option("--cache-dir", envvar="NWB_LDNS_CACHE_DIR", default=None, type=click.Path(file_okay=False),
                      help="Download DANDI assets once into this folder; later runs (also offline) read it.")(fn)
    return fn


def data_options(fn):
    """Options that turn a recording into binned trials (``bin`` and ``fit``)."""
    opts = [
        click.option("--bin-ms", type=float, default=5.0, show_default=True, help="Bin width."),
        click.option("--align", default=None, metavar="COLUMN",
                     help="Trials column to align on (e.g. move_onset_time); needs --window."),
        click.option("--window", nargs=2, type=float, default=None, metavar="START_MS STOP_MS",
                     help="Window around the alignment (default: whole trials, variable length)."),
        click.option("--segment-ms", type=float, default=1000.0, show_default=True,
                     help="Window length tiled over the recording when it has no trials table."),
        click.option("--units", "units", type=click.Choice(["all", "heldin"]), default="all", show_default=True,
                     help="heldin: only units whose 'heldout' column is False."),
        click.option("--behavior", multiple=True, metavar="NAME",
                     help="Behavioural TimeSeries to bin (repeatable), e.g. hand_vel."),
        click.option("--behavior-lag-ms", type=float, default=0.0, show_default=True,
                     help="Pair behaviour at t + lag with spikes at t."),
        click.option("--split-seed", type=int, default=0, show_default=True,
                     help="Seed of the 70/10/20 split used when the trials have no 'split' column."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def spec_from_options(o: dict):
    from nwb_ldns.config import DataSpec

    return DataSpec(bin_ms=o["bin_ms"], align=o["align"], window_ms=tuple(o["window"]) if o["window"] else None,
                    segment_ms=o["segment_ms"], units=o["units"], behavior=tuple(o["behavior"]),
                    behavior_lag_ms=o["behavior_lag_ms"], split_seed=o["split_seed"])


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="nwb-ldns")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or information, only warnings and errors.")
@click.option("-v", "--verbose", is_flag=True, help="Debug messages and library warnings.")
@click.pass_context
def app(ctx, quiet, verbose):
    """Latent diffusion models (LDNS, GNOCCHI) of spiking data from NWB, DANDI and SpikeInterface.

    SOURCE is a path (.nwb, .nwb.zarr), dandi:DANDISET[/ASSET_PATH][@VERSION], si:PATH (a sorting
    SpikeInterface can load) or sim:lorenz (built in, offline).

    \b
    Example:
      nwb-ldns inspect sim:lorenz
      nwb-ldns simulate lorenz -o lorenz.nwb --n-trials 200
    """
    _setup_logging(quiet, verbose)
    ctx.obj = {"quiet": quiet}


@app.command("inspect")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@source_options
def inspect_cmd(source, as_json, cache_dir, dandi_api_url):
    """Summarise SOURCE: units, trials, behaviour, splits, and suggested options.

    \b
    Example:
      nwb-ldns inspect dandi:000128 --json
    """
    from nwb_ldns.sources import open_source
    from nwb_ldns.summary import format_summary, summarize

    with open_source(source, cache_dir=cache_dir, dandi_api_url=dandi_api_url) as rec:
        summary = summarize(rec)
    click.echo(json.dumps(summary, indent=2, default=str) if as_json else format_summary(summary))


@app.command("bin")
@click.argument("source")
@click.option("-o", "--output", required=True, type=click.Path(), help="Zarr folder for the SpikeDataset.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@data_options
@source_options
@click.pass_context
def bin_cmd(ctx, source, output, overwrite, cache_dir, dandi_api_url, **data):
    """Bin SOURCE into aligned trials and save the SpikeDataset (xarray, Zarr).

    \b
    Example:
      nwb-ldns bin mc_maze.nwb -o maze.zarr --align move_onset_time --window -250 450 \\
          --behavior hand_vel --behavior-lag-ms 100
    Open it with nwb_ldns.dataset.SpikeDataset.from_zarr("maze.zarr") or xarray.open_zarr.
    """
    from nwb_ldns.dataset import load_dataset

    spec = spec_from_options(data)
    if os.path.exists(output) and not overwrite:
        raise NwbLdnsError(f"{output} already exists; pass --overwrite to replace it")
    dataset = load_dataset(source, spec, progress=not ctx.obj["quiet"], cache_dir=cache_dir,
                           dandi_api_url=dandi_api_url, quiet=ctx.obj["quiet"])
    dataset.to_zarr(output, overwrite=overwrite)
    click.echo(f"{dataset} -> {output}")


@app.group("simulate")
def simulate():
    """Write a built-in simulated session as an NWB file."""


@simulate.command("lorenz")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output .nwb (or .nwb.zarr).")
@click.option("--n-trials", type=int, default=5000, show_default=True)
@click.option("--n-neurons", type=int, default=128, show_default=True)
@click.option("--n-bins", type=int, default=256, show_default=True, help="Bins per trial.")
@click.option("--bin-ms", type=float, default=5.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--subject-id", default=None, help="Subject id (default sim-lorenz-SEED).")
@click.option("--species", default=None, help="Latin binomial or NCBI taxon URL (default: synthetic construct).")
@click.option("--sex", default=None, type=click.Choice(["M", "F", "U", "O"]), help="Default U.")
@click.option("--age", default=None, help="ISO 8601 duration, e.g. P90D (default P0D).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
def simulate_lorenz(output, n_trials, n_neurons, n_bins, bin_ms, seed, subject_id, species, sex, age, overwrite):
    """The LDNS Lorenz benchmark: Poisson neurons driven by a Lorenz attractor, ground truth kept.

    The same parameters give the same spikes as the in-process source
    sim:lorenz?n_trials=N&n_neurons=N&n_bins=N&bin_ms=B&seed=S.

    \b
    Example:
      nwb-ldns simulate lorenz -o lorenz.nwb --n-trials 200
    """
    from nwb_ldns.nwb_io import write_nwbfile
    from nwb_ldns.sim.lorenz import LorenzConfig, LorenzSimulation, lorenz_nwbfile

    if os.path.exists(output) and not overwrite:
        raise NwbLdnsError(f"{output} already exists; pass --overwrite to replace it")
    try:
        config = LorenzConfig(n_trials=n_trials, n_neurons=n_neurons, n_bins=n_bins, bin_ms=bin_ms, seed=seed)
    except ValueError as exc:
        raise NwbLdnsError(str(exc)) from None
    nwb = lorenz_nwbfile(LorenzSimulation(config),
                         subject={"subject_id": subject_id, "species": species, "sex": sex, "age": age})
    write_nwbfile(nwb, output, overwrite=overwrite)
    logger.info("wrote %s: %d trials x %d units", output, n_trials, n_neurons)


def main(argv=None) -> None:
    """Entry point: run the app and turn library errors into one line and exit status 1."""
    debug = bool(os.environ.get("NWB_LDNS_DEBUG"))
    try:
        app.main(args=argv, prog_name="nwb-ldns", standalone_mode=False)
    except NwbLdnsError as exc:
        if debug:
            raise
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug or an unexpected library failure: still one line
        if debug:
            raise
        msg = " ".join(str(exc).split())
        click.echo(f"Error: {type(exc).__name__}: {msg} (set NWB_LDNS_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
