"""What the commands share: logging, option types and option groups."""

from __future__ import annotations

import functools
import logging
import math
import re
import sys
import warnings

import click

from nwb_ldns.errors import NwbLdnsError

logger = logging.getLogger("nwb_ldns")


#: library arguments whose flag is not ``--`` + the name with dashes
_FLAG_OF = {"codes": "--code", "model_dir": "--model", "stages": "--stage", "window_ms": "--window"}


def as_flags(message: str) -> str:
    """The library names arguments in backticks (`n_trials`); on the command line they are flags (--n-trials)."""
    return re.sub(
        r"`([a-z][a-z0-9_]*)`", lambda m: _FLAG_OF.get(m.group(1), "--" + m.group(1).replace("_", "-")), message
    )


class _OneLine(logging.Formatter):
    def format(self, record):
        msg = as_flags(record.getMessage())
        return msg if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {msg}"


def setup_logging(quiet: bool, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    if not verbose:  # pynwb/hdmf chatter about cached namespaces and the like
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)


def quiet_callback(ctx, _param, value):
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


class IntOrWord(click.ParamType):
    """An integer of at least ``minimum``, or the one ``word`` (``auto``, ``all``) returned as it is."""

    def __init__(self, word: str, minimum: int, what: str):
        self.word, self.minimum, self.what = word, minimum, what
        self.name = f"N|{word}"

    def convert(self, value, param, ctx):
        if str(value).strip().lower() == self.word:
            return self.word
        try:
            n = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of {self.what} or {self.word!r}", param, ctx)
        if n < self.minimum:
            self.fail(f"{value!r}: at least {self.minimum} {self.what}", param, ctx)
        return n


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


class TableChoice(click.ParamType):
    """One of the names of a library table, read when a value is given (so ``--help`` imports no torch).

    ``names`` returns the table's names as the library spells them (``spike_history``); the
    command line takes them with dashes (``spike-history``) and hands them back with underscores.
    """

    def __init__(self, names, *, extra: tuple[str, ...] = (), metavar: str = "NAME"):
        self._names, self._extra, self.name = names, extra, metavar

    def choices(self) -> list[str]:
        return [*self._extra, *(n.replace("_", "-") for n in self._names())]

    def convert(self, value, param, ctx):
        given = str(value).replace("_", "-")
        if given not in self.choices():
            self.fail(f"{value!r} is not one of {', '.join(self.choices())}", param, ctx)
        return given.replace("-", "_")


def _stages() -> tuple[str, ...]:
    from nwb_ldns.artifacts import STAGES

    return STAGES


def _observations() -> tuple[str, ...]:
    from nwb_ldns.models.observation import OBSERVATION_MODELS

    return tuple(OBSERVATION_MODELS)


STAGE = TableChoice(_stages, extra=("all",), metavar="STAGE")
OBSERVATION = TableChoice(_observations, metavar="MODEL")


class NpyArray(click.ParamType):
    """A ``.npy`` file (``numpy.save``) read as an array; pickled object arrays are refused.

    A file that cannot be read is a data error (status 1), as in the library, not a usage error.
    """

    name = "FILE.npy"

    def convert(self, value, param, ctx):
        import numpy as np

        if value is None or isinstance(value, np.ndarray):
            return value
        try:
            return np.load(value, allow_pickle=False)
        except EOFError:  # numpy's answer to an empty file
            raise NwbLdnsError(f"{value} is empty; expected a .npy array (numpy.save)") from None
        except (OSError, ValueError) as exc:
            raise NwbLdnsError(f"cannot read {value} as a .npy array: {' '.join(str(exc).split())}") from None


NPY = NpyArray()


def source_options(fn):
    """Options every command that opens a SOURCE takes (and --quiet, also accepted after the command).

    The reader's options reach the command as one dict, ``reader`` (``cache_dir``,
    ``dandi_api_url``, ``allow_pickle``), to hand on as ``**reader``.
    """

    @functools.wraps(fn)
    def command(*args, cache_dir, dandi_api_url, allow_pickle, **kwargs):
        reader = {"cache_dir": cache_dir, "dandi_api_url": dandi_api_url, "allow_pickle": allow_pickle}
        return fn(*args, reader=reader, **kwargs)

    command = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=quiet_callback,
        help="No progress bars or information.",
    )(command)
    command = click.option(
        "--allow-pickle",
        is_flag=True,
        help="Let an si: sorting load pickled files (they can run code): only for sortings you made.",
    )(command)
    command = click.option(
        "--dandi-api-url",
        envvar="NWB_LDNS_DANDI_API_URL",
        default=None,
        metavar="URL",
        help="DANDI API of another instance (default: the DANDI Archive).",
    )(command)
    return click.option(
        "--cache-dir",
        envvar="NWB_LDNS_CACHE_DIR",
        default=None,
        type=click.Path(file_okay=False),
        help="Download DANDI assets once into this folder; later runs (also offline) read it.",
    )(command)


def output_option(what: str = "Output .nwb (or .nwb.zarr)."):
    return click.option("-o", "--output", required=True, type=click.Path(), help=what)


def overwrite_option(what: str = "output"):
    return click.option("--overwrite", is_flag=True, help=f"Replace an existing {what}.")


def model_option(fn):
    """``--model``: the model a command reads (a model dir, or a file written with --include-weights)."""
    return click.option(
        "--model",
        "model_dir",
        default="ldns-model",
        show_default=True,
        type=click.Path(),
        help="Model dir written by `nwb-ldns fit`, or an output file written with --include-weights.",
    )(fn)


def device_option(fn):
    return click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda.")(
        fn
    )


def seed_option(fn):
    return click.option("--seed", type=SEED, default=0, show_default=True)(fn)


def compression_option(fn):
    return click.option(
        "--compression",
        type=click.Choice(["compact", "gzip", "none"]),
        default="compact",
        show_default=True,
        help="Datasets of 64 KiB or more: gzip + shuffle in HDF5 (every reader decodes it), Blosc zstd in Zarr. "
        "compact also rounds rates and latents to 8 significant bits (within 0.2%) and spike times to 1/20 of "
        "the units' time resolution (a 30 kHz frame); gzip is lossless; none writes them raw.",
    )(fn)


def preset_option(what: str = ""):
    return click.option(
        "--preset",
        type=click.Choice(["auto", "paper", "quick"]),
        default="auto",
        show_default=True,
        help=what + "paper: the LDNS sizes and epochs (for a GPU); quick: minutes on a laptop CPU; "
        "auto: paper on a GPU, quick on a CPU.",
    )


def include_weights_option(fn):
    return click.option(
        "--include-weights",
        is_flag=True,
        help="Store the model's weights in the file, so the file alone can be loaded as --model.",
    )(fn)


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
            default="all",
            show_default=True,
            metavar="SELECTION",
            help="Units to model: all; heldin (those whose 'heldout' column is False); or conditions on the "
            "units' columns joined by &, e.g. quality=good, KSLabel=good,mua, quality!=noise, "
            "'presence_ratio>=0.9' (`inspect` lists the columns and their values).",
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
            "--units-table",
            default=None,
            metavar="NAME",
            help="Units table to read, by path or name, e.g. processing/ecephys/kilosort (default: the file's "
            "units, else its only units table; see `inspect`).",
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
        units_table=o["units_table"],
    )
