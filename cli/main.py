"""``nwb-ldns``: parse, call the library, print. Errors are one line and a non-zero exit."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sys
import time
import warnings

import click

from nwb_ldns import __version__
from nwb_ldns.errors import Interrupted, MainRankFailed, NwbLdnsError
from nwb_ldns.io.outputs import check_replaceable

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


class Duration(click.ParamType):
    """A wall-clock duration: ``90s``, ``15m``, ``1h30m`` or plain seconds; returns seconds."""

    name = "DURATION"
    _UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            import re

            text = str(value).strip().lower()
            parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", text)
            if not text or parts is None:
                self.fail(f"{value!r} is not a duration such as 90s, 15m or 1h30m", param, ctx)
            h, m, sec = (float(x) if x else 0.0 for x in parts.groups())
            seconds = h * 3600 + m * 60 + sec
        if not seconds > 0:
            self.fail(f"{value!r} is not a positive duration", param, ctx)
        return seconds


class FiniteFloat(click.ParamType):
    """A finite number, optionally bounded below (click's FloatRange lets NaN through)."""

    name = "float"

    def __init__(self, minimum: float | None = None, open_: bool = False):
        self.minimum, self.open = minimum, open_

    def convert(self, value, param, ctx):
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(x):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.minimum is not None and (x < self.minimum or (self.open and x == self.minimum)):
            self.fail(f"{value!r} must be {'>' if self.open else '>='} {self.minimum:g}", param, ctx)
        return x


FINITE = FiniteFloat()
POSITIVE = FiniteFloat(0.0, open_=True)
NON_NEGATIVE = FiniteFloat(0.0)
SEED = click.IntRange(min=0, max=2**32 - 1)  # what numpy and torch both accept


def source_options(fn):
    """Options every command that opens a SOURCE takes (and --quiet, also accepted after the command)."""
    fn = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_quiet_callback,
        help="No progress bars or information.",
    )(fn)
    fn = click.option(
        "--allow-pickle",
        is_flag=True,
        help="Let an si: sorting load pickled files (they can run code): only for sortings you made.",
    )(fn)
    fn = click.option(
        "--dandi-api-url",
        envvar="NWB_LDNS_DANDI_API_URL",
        default=None,
        metavar="URL",
        help="DANDI API of another instance (default: the DANDI Archive).",
    )(fn)
    fn = click.option(
        "--cache-dir",
        envvar="NWB_LDNS_CACHE_DIR",
        default=None,
        type=click.Path(file_okay=False),
        help="Download DANDI assets once into this folder; later runs (also offline) read it.",
    )(fn)
    return fn


def data_options(fn):
    """Options that turn a recording into binned trials (``bin`` and ``fit``)."""
    opts = [
        click.option("--bin-ms", type=POSITIVE, default=5.0, show_default=True, help="Bin width."),
        click.option(
            "--align",
            default=None,
            metavar="COLUMN",
            help="Trials column to align on (e.g. move_onset_time); needs --window.",
        ),
        click.option(
            "--window",
            nargs=2,
            type=FINITE,
            default=None,
            metavar="START_MS STOP_MS",
            help="Window around the alignment (default: whole trials, variable length).",
        ),
        click.option(
            "--segment-ms",
            type=POSITIVE,
            default=1000.0,
            show_default=True,
            help="Window length tiled over the recording when it has no trials table.",
        ),
        click.option(
            "--units",
            "units",
            type=click.Choice(["all", "heldin"]),
            default="all",
            show_default=True,
            help="heldin: only units whose 'heldout' column is False.",
        ),
        click.option(
            "--behavior",
            multiple=True,
            metavar="NAME",
            help="Behavioural TimeSeries to bin (repeatable), e.g. hand_vel.",
        ),
        click.option(
            "--behavior-lag-ms",
            type=FINITE,
            default=0.0,
            show_default=True,
            help="Pair behaviour at t + lag with spikes at t.",
        ),
        click.option(
            "--split-seed",
            type=SEED,
            default=0,
            show_default=True,
            help="Seed of the 70/10/20 split used when the trials have no 'split' column.",
        ),
        click.option(
            "--trials-table",
            default=None,
            metavar="NAME",
            help="Interval table whose rows are the trials (default: trials; see `inspect`).",
        ),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def subject_options(default_id: str):
    """--subject-id/--species/--sex/--age for commands that write a new NWB file; passed on as ``subject``."""

    def deco(fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, subject_id, species, sex, age, **kwargs):
            return fn(*args, subject={"subject_id": subject_id, "species": species, "sex": sex, "age": age}, **kwargs)

        opts = [
            click.option("--subject-id", default=None, help=f"Subject id (default {default_id})."),
            click.option(
                "--species",
                default=None,
                help="Latin binomial or NCBI taxon URL (default: the source's; synthetic construct for "
                "simulated and generated data without one).",
            ),
            click.option(
                "--sex", default=None, type=click.Choice(["M", "F", "U", "O"]), help="Default: the source's, else U."
            ),
            click.option(
                "--age",
                default=None,
                help="ISO 8601 duration, e.g. P8Y (default: the source's; P0D for synthetic subjects).",
            ),
        ]
        for opt in reversed(opts):
            wrapper = opt(wrapper)
        return wrapper

    return deco


def spec_from_options(o: dict):
    from nwb_ldns.config import DataSpec

    return DataSpec(
        bin_ms=o["bin_ms"],
        align=o["align"],
        window_ms=tuple(o["window"]) if o["window"] else None,
        segment_ms=o["segment_ms"],
        units=o["units"],
        behavior=tuple(o["behavior"]),
        behavior_lag_ms=o["behavior_lag_ms"],
        split_seed=o["split_seed"],
        trials_table=o["trials_table"],
    )


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
def inspect_cmd(source, as_json, cache_dir, dandi_api_url, allow_pickle):
    """Summarise SOURCE: units, trials, behaviour, splits, and suggested options.

    \b
    Example:
      nwb-ldns inspect dandi:000128 --json
    """
    from nwb_ldns.sources import open_source
    from nwb_ldns.summary import format_summary, summarize

    with open_source(source, cache_dir=cache_dir, dandi_api_url=dandi_api_url, allow_pickle=allow_pickle) as rec:
        summary = summarize(rec)
    click.echo(json.dumps(summary, indent=2, default=str) if as_json else format_summary(summary))


@app.command("bin")
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


@app.group("simulate")
def simulate():
    """Write a built-in simulated session as an NWB file."""


@simulate.command("lorenz")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output .nwb (or .nwb.zarr).")
@click.option("--n-trials", type=click.IntRange(min=1), default=5000, show_default=True)
@click.option("--n-neurons", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--n-bins", type=click.IntRange(min=2), default=256, show_default=True, help="Bins per trial.")
@click.option("--bin-ms", type=POSITIVE, default=5.0, show_default=True)
@click.option("--seed", type=SEED, default=0, show_default=True)
@subject_options("sim-lorenz-SEED")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
def simulate_lorenz(output, n_trials, n_neurons, n_bins, bin_ms, seed, subject, overwrite):
    """The LDNS Lorenz benchmark: Poisson neurons driven by a Lorenz attractor, ground truth kept.

    The same parameters give the same spikes as the in-process source
    sim:lorenz?n_trials=N&n_neurons=N&n_bins=N&bin_ms=B&seed=S.

    \b
    Example:
      nwb-ldns simulate lorenz -o lorenz.nwb --n-trials 200
    """
    from nwb_ldns.io.nwbfile import write_nwbfile
    from nwb_ldns.io.simulated import lorenz_nwbfile
    from nwb_ldns.sim.lorenz import LorenzConfig, LorenzSimulation

    check_replaceable(output, kind="nwb", overwrite=overwrite)  # before any work
    try:
        config = LorenzConfig(n_trials=n_trials, n_neurons=n_neurons, n_bins=n_bins, bin_ms=bin_ms, seed=seed)
    except ValueError as exc:
        raise NwbLdnsError(str(exc)) from None
    nwb = lorenz_nwbfile(LorenzSimulation(config), subject=subject)
    write_nwbfile(nwb, output, overwrite=overwrite)
    logger.info("wrote %s: %d trials x %d units", output, n_trials, n_neurons)


@app.command("fit")
@click.argument("source")
@click.option(
    "-o",
    "--output",
    default="ldns-model",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Model dir (config.json + safetensors weights).",
)
@click.option(
    "--method",
    type=click.Choice(["ldns", "gnocchi"]),
    default="ldns",
    show_default=True,
    help="gnocchi: the diffusion stage also learns a per-trial code (InfoDiffusion) that conditions it.",
)
@click.option("--code-dim", type=click.IntRange(min=1), default=None, help="GNOCCHI code size (default 8).")
@data_options
@click.option(
    "--condition",
    default=None,
    metavar="angle|velocity|COLUMN",
    help="Condition the diffusion model on the reach angle, the first --behavior series, or a trials column.",
)
@click.option(
    "--preset",
    type=click.Choice(["auto", "paper", "quick"]),
    default="auto",
    show_default=True,
    help="paper: the LDNS sizes and epochs (for a GPU); quick: minutes on a laptop CPU; "
    "auto: paper on a GPU, quick on a CPU.",
)
@click.option(
    "--time-budget",
    type=Duration(),
    default=None,
    metavar="DURATION",
    help="Wall-clock limit of the whole fit, e.g. 15m or 1h: shared between the stages, each planning "
    "its schedule to end in time (default: none; stages stop when validation stops improving).",
)
@click.option(
    "--epochs-ae",
    type=click.IntRange(min=1),
    default=None,
    help="Train the autoencoder for exactly this many passes over the data (default: by steps, with early stopping).",
)
@click.option(
    "--epochs-diffusion",
    type=click.IntRange(min=1),
    default=None,
    help="Train the denoiser for exactly this many passes (default: by steps, with early stopping).",
)
@click.option(
    "--epochs-history",
    type=click.IntRange(min=1),
    default=None,
    help="Train the spike-history GLM for exactly this many passes (default: by steps).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Batch size of every stage (default from the preset).",
)
@click.option(
    "--latent-dim",
    type=click.IntRange(min=1),
    default=None,
    help="Autoencoder latent channels (paper: 8 Lorenz, 16 MC_Maze).",
)
@click.option("--hidden", type=click.IntRange(min=1), default=None, help="Autoencoder channels.")
@click.option(
    "--beta",
    "ae_beta",
    type=NON_NEGATIVE,
    default=None,
    help="Autoencoder latent L2 weight (default 0.01, Lorenz; the paper's MC_Maze: 0.001).",
)
@click.option(
    "--td-beta",
    "ae_td_beta",
    type=NON_NEGATIVE,
    default=None,
    help="Autoencoder temporal-smoothness weight (default 0.01, Lorenz; the paper's MC_Maze: 0.2).",
)
@click.option("--denoiser-hidden", type=click.IntRange(min=1), default=None, help="Denoiser channels.")
@click.option(
    "--causal/--bidirectional",
    default=None,
    help="Autoencoder direction (default bidirectional; causal for variable-length trials).",
)
@click.option(
    "--prediction",
    type=click.Choice(["epsilon", "v"]),
    default=None,
    help="Denoiser target (default: v with --preset quick, epsilon as the paper with paper).",
)
@click.option(
    "--schedule", type=click.Choice(["linear", "cosine"]), default=None, help="Noise schedule (default linear)."
)
@click.option(
    "--stage",
    type=click.Choice(["all", "autoencoder", "diffusion", "spike-history"]),
    default="all",
    show_default=True,
    help="Run one stage (the later ones need the earlier ones in the model dir).",
)
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted fit from its last checkpoint.")
@click.option(
    "--compile",
    "compile_",
    is_flag=True,
    help="Train with the S4 blocks compiled by torch.compile: faster steps after seconds to a minute of compiling.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing model dir.")
@source_options
@click.pass_context
def fit_cmd(
    ctx,
    source,
    output,
    method,
    code_dim,
    condition,
    preset,
    time_budget,
    epochs_ae,
    epochs_diffusion,
    epochs_history,
    batch_size,
    latent_dim,
    hidden,
    ae_beta,
    ae_td_beta,
    denoiser_hidden,
    causal,
    prediction,
    schedule,
    stage,
    device,
    seed,
    resume,
    compile_,
    overwrite,
    cache_dir,
    dandi_api_url,
    allow_pickle,
    **data,
):
    """Fit LDNS on SOURCE: autoencoder -> latent diffusion -> spike-history GLM.

    With --method gnocchi the diffusion stage also learns a per-trial code (GNOCCHI).

    Uses the train split for fitting and the val split to pick the best autoencoder epoch.
    Interrupted fits continue with --resume.

    \b
    Examples:
      nwb-ldns fit sim:lorenz -o lorenz-model --preset quick
      nwb-ldns fit dandi:000128 --align move_onset_time --window -250 450 \\
          --behavior hand_vel --behavior-lag-ms 100 --condition velocity --causal --beta 0.001 --td-beta 0.2
      nwb-ldns fit sim:maze --method gnocchi --align move_onset_time --window -250 450
    """
    from nwb_ldns import distributed
    from nwb_ldns.dataset import load_dataset
    from nwb_ldns.fit import describe, fit
    from nwb_ldns.model import resolve_device

    started = time.monotonic()  # the budget counts from here: reading the data is part of the fit
    if method != "gnocchi" and code_dim is not None:
        raise NwbLdnsError("--code-dim needs --method gnocchi")
    spec = spec_from_options(data)
    distributed.init(resolve_device(device))  # under torchrun: join the other processes

    def check_output():
        if resume or stage != "all":
            return
        if os.path.isfile(os.path.join(output, "config.json")) and not overwrite:
            raise NwbLdnsError(f"{output} already exists; pass --resume to continue it or --overwrite")
        check_replaceable(output, kind="model", overwrite=overwrite)

    distributed.on_main(check_output)
    quiet = ctx.obj["quiet"] or not distributed.is_main()
    with distributed.main_first():  # rank 0 downloads and caches; the others then read its copy
        dataset = load_dataset(
            source,
            spec,
            progress=not quiet,
            cache_dir=cache_dir,
            dandi_api_url=dandi_api_url,
            allow_pickle=allow_pickle,
            quiet=quiet,
        )
    bs = {"batch_size": batch_size}
    overrides = {
        "autoencoder": {
            "latent_dim": latent_dim,
            "hidden": hidden,
            "beta": ae_beta,
            "td_beta": ae_td_beta,
            "bidirectional": None if causal is None else not causal,
        },
        "denoiser": {"hidden": denoiser_hidden},
        "gnocchi": {"code_dim": code_dim},
        "diffusion": {"prediction": prediction, "schedule": schedule},
        "ae_train": {"epochs": epochs_ae, **bs},
        "diffusion_train": {"epochs": epochs_diffusion, **bs},
        "history_train": {"epochs": epochs_history, **bs},
    }
    stages = None if stage == "all" else (stage.replace("-", "_"),)
    fit(
        dataset,
        output,
        preset=preset,
        condition=condition,
        method=method,
        stages=stages,
        device=device,
        seed=seed,
        resume=resume,
        overwrite=overwrite,
        progress=not quiet,
        overrides=overrides,
        compile=compile_,
        time_budget=time_budget,
        started=started,
    )
    if distributed.is_main():
        click.echo(f"model -> {output} ({describe(output)})")
    distributed.shutdown()


@app.command("generate")
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
    "--n-trials",
    type=click.IntRange(min=1),
    default=None,
    help="Trials to generate (default: the condition's, else 100).",
)
@click.option(
    "--length", type=click.IntRange(min=2), default=None, help="Bins per trial (default: the training length)."
)
@click.option(
    "--condition",
    "condition_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="FILE.npy: angles (n_trials,) in radians, column values (n_trials,), or velocity "
    "(n_trials, n_bins, channels) / (n_bins, channels), as the model was fitted.",
)
@click.option(
    "--spike-history/--poisson",
    default=False,
    show_default=True,
    help="Observation model: spike-history GLM or independent Poisson.",
)
@click.option(
    "--guidance",
    type=FINITE,
    default=1.0,
    show_default=True,
    help="Classifier-free guidance weight (1: plain conditional; >1: stronger).",
)
@click.option(
    "--sampler",
    type=click.Choice(["ddim", "ddpm"]),
    default="ddim",
    show_default=True,
    help="ddim: --ddim-steps steps; ddpm: all 1000 ancestral steps (the paper).",
)
@click.option("--ddim-steps", type=click.IntRange(min=1), default=50, show_default=True, help="DDIM steps.")
@click.option(
    "--eta",
    type=click.FloatRange(0.0, 1.0),
    default=1.0,
    show_default=True,
    help="DDIM's fresh noise per step: 1 as DDPM (realistic spread), 0 deterministic (latents ~10% "
    "too narrow). --traverse samples deterministically.",
)
@click.option(
    "--code",
    "code_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="GNOCCHI: FILE.npy of codes (n_trials, code_dim) or (code_dim,), e.g. from `encode`.",
)
@click.option(
    "--traverse",
    type=click.IntRange(min=0),
    default=None,
    metavar="DIM",
    help="GNOCCHI: sweep code dimension DIM (from --code's first row, else zeros) with the noise fixed.",
)
@click.option(
    "--range",
    "code_range",
    nargs=2,
    type=FINITE,
    default=(-1.5, 1.5),
    show_default=True,
    metavar="LO HI",
    help="Values --traverse sweeps.",
)
@click.option("--steps", type=click.IntRange(min=2), default=11, show_default=True, help="Points of --traverse.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Trials sampled at once."
)
@click.option(
    "--compile",
    "compile_",
    is_flag=True,
    help="Sample with the denoiser compiled by torch.compile: faster steps after seconds of compiling "
    "per batch shape (for many trials).",
)
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@subject_options("the source's, else ldns-synthetic")
@click.option(
    "--include-weights",
    is_flag=True,
    help="Store the model's weights in the file, so the file alone can be loaded as --model.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_quiet_callback, help="No progress bars.")
@click.pass_context
def generate_cmd(
    ctx,
    model_dir,
    output,
    n_trials,
    length,
    condition_file,
    spike_history,
    guidance,
    sampler,
    ddim_steps,
    eta,
    code_file,
    traverse,
    code_range,
    steps,
    batch_size,
    compile_,
    device,
    seed,
    subject,
    include_weights,
    overwrite,
):
    """Generate synthetic trials from a fitted model and write them as NWB.

    Spikes go in a standard Units table, the conditions in the trials table, decoded rates and
    latents in processing/misc.

    \b
    Examples:
      nwb-ldns generate --model lorenz-model -o synth.nwb --n-trials 100
      nwb-ldns generate -o synth.nwb --condition velocity.npy --length 140
      nwb-ldns generate --model gnocchi-model -o sweep.nwb --traverse 0 --range -1.5 1.5 --steps 11
    """
    import numpy as np

    from nwb_ldns.artifacts import load_model
    from nwb_ldns.generate import generate_to_file

    check_replaceable(output, kind="nwb", overwrite=overwrite)  # before any work

    def load_npy(path):
        if path is None:
            return None
        try:
            return np.load(path, allow_pickle=False)
        except EOFError:  # numpy's answer to an empty file
            raise NwbLdnsError(f"{path} is empty; expected a .npy array (numpy.save)") from None
        except (OSError, ValueError) as exc:
            raise NwbLdnsError(f"cannot read {path} as a .npy array: {' '.join(str(exc).split())}") from None

    values, codes = load_npy(condition_file), load_npy(code_file)
    require = ("autoencoder", "diffusion") + (("spike_history",) if spike_history else ())
    model = load_model(model_dir, device=device, require=require)
    if compile_:
        model.compile()
    if traverse is not None:
        from nwb_ldns.generate import traverse_codes

        if not model.code_dim:
            raise NwbLdnsError("--traverse needs a model fitted with --method gnocchi")
        base = (
            np.zeros(model.code_dim)
            if codes is None
            else np.asarray(codes, dtype=float).reshape(-1, codes.shape[-1])[0]
        )
        if base.size != model.code_dim:
            raise NwbLdnsError(f"the model's codes have {model.code_dim} dimensions; {code_file} has {base.size}")
        codes = traverse_codes(base, traverse, code_range[0], code_range[1], steps)
        n_trials = None
    if values is None and n_trials is None and codes is None:
        n_trials = 100
    # batch by batch through scratch files beside the output: memory does not grow with --n-trials
    _, n, n_bins, n_units = generate_to_file(
        model,
        output,
        subject=subject,
        include_weights=include_weights,
        overwrite=overwrite,
        batch_size=batch_size,
        progress=not ctx.obj["quiet"],
        n_trials=n_trials,
        length=length,
        condition=values,
        observation="spike_history" if spike_history else "poisson",
        seed=seed,
        guidance=guidance,
        sampler=sampler,
        steps=ddim_steps,
        eta=eta,
        codes=codes,
        fixed_noise=traverse is not None,
    )
    click.echo(f"{n} synthetic trials x {n_bins} bins x {n_units} units -> {output}")


@app.command("encode")
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


@app.command("evaluate")
@click.option("--real", "real_source", required=True, metavar="SOURCE", help="The real data (any SOURCE fit takes).")
@click.option(
    "--synthetic",
    "synthetic_path",
    required=True,
    type=click.Path(exists=True),
    help="A file written by `nwb-ldns generate` (.nwb or .nwb.zarr).",
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
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
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
    cache_dir,
    dandi_api_url,
    allow_pickle,
):
    """Compare synthetic trials with real ones: metrics.json, figures and index.html.

    Both are binned with the model's data spec (named in the synthetic file). Every metric is a
    bootstrap mean and sd, beside the floor of real half vs half.

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
        cache_dir=cache_dir,
        dandi_api_url=dandi_api_url,
        quiet=quiet,
        allow_pickle=allow_pickle,
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


def _rank_prefix() -> str:
    """``rank R: `` for the processes after the first under torchrun (their errors repeat rank 0's or add to it)."""
    rank = int(os.environ.get("RANK", "0"))
    return f"rank {rank}: " if int(os.environ.get("WORLD_SIZE", "1")) > 1 and rank else ""


_signalled: list[int] = []


def _on_signal(signum, _frame):
    """SIGINT/SIGTERM: raise where the program is, so cleanups run; remember it so success is never reported."""
    _signalled.append(signum)
    raise Interrupted(signum)


def _exit(code: int) -> None:
    """Exit with ``code``; after a failed HDF5 write skip interpreter teardown, where the HDF5 library
    can crash on the ids it could not close (a full disk ended in a segfault after the error line)."""
    nwb_io = sys.modules.get("nwb_ldns.io.nwbfile")
    if nwb_io is not None and getattr(nwb_io, "HDF5_WRITE_FAILED", False):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _interrupted(signum: int) -> int:
    click.echo("Terminated." if signum == signal.SIGTERM else "Interrupted.", err=True)
    return 128 + int(signum)


def main(argv=None) -> None:
    """Entry point: run the app and turn library errors into one line and exit status 1.

    SIGINT and SIGTERM end with "Interrupted."/"Terminated." and status 130/143 after every
    cleanup ran, never with success.
    """
    debug = bool(os.environ.get("NWB_LDNS_DEBUG"))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    code = 0
    try:
        try:
            app.main(args=argv, prog_name="nwb-ldns", standalone_mode=False)
        finally:
            if "nwb_ldns.distributed" in sys.modules:  # leave a torchrun process group cleanly, even on errors
                sys.modules["nwb_ldns.distributed"].shutdown()
    except NwbLdnsError as exc:
        if debug:
            raise
        if not isinstance(exc, MainRankFailed):  # rank 0 says why; the others only stop
            click.echo(f"Error: {_rank_prefix()}{exc}", err=True)
        code = 1
    except click.exceptions.Abort as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, KeyboardInterrupt) or cause is None:  # click turns Ctrl-C into Abort
            code = _interrupted(getattr(cause, "signum", signal.SIGINT))
        else:  # click also turns an EOFError (an empty file read) into Abort: that is an error, not Ctrl-C
            msg = " ".join(str(cause).split()) or "unexpected end of file"
            click.echo(f"Error: {_rank_prefix()}{type(cause).__name__}: {msg}", err=True)
            code = 1
    except click.UsageError as exc:  # a bad option or value: one line, with where to look, status 2
        where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        click.echo(f"Error: {' '.join(exc.format_message().split())}{where}", err=True)
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except KeyboardInterrupt as exc:
        code = _interrupted(getattr(exc, "signum", signal.SIGINT))
    except Exception as exc:  # a bug or an unexpected library failure: still one line
        if debug:
            raise
        from nwb_ldns.io.outputs import describe_os_error

        reason = describe_os_error(exc)
        msg = reason or f"{type(exc).__name__}: {' '.join(str(exc).split())} (set NWB_LDNS_DEBUG=1 for the traceback)"
        click.echo(f"Error: {_rank_prefix()}{msg}", err=True)
        code = 1
    if _signalled and code == 0:  # a signal that landed where nothing raised (a cleanup, a C library)
        code = _interrupted(_signalled[0])
    _exit(code)


if __name__ == "__main__":
    main()
