"""``nwb-ldns``: parse, call the library, print. Errors are one line and a non-zero exit.

Each command lives in its own module (``cmd_*.py``); the options they share in ``options.py``.
"""

from __future__ import annotations

import os
import signal
import sys

import click

from nwb_ldns import __version__
from nwb_ldns.errors import Interrupted, MainRankFailed, NwbLdnsError

from .cmd_augment import augment_cmd
from .cmd_bin import bin_cmd
from .cmd_encode import encode_cmd
from .cmd_evaluate import evaluate_cmd
from .cmd_fit import fit_cmd
from .cmd_generate import generate_cmd
from .cmd_inspect import inspect_cmd
from .cmd_share import share_cmd
from .cmd_simulate import simulate
from .options import as_flags, setup_logging


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
    setup_logging(quiet, verbose)
    ctx.obj = {"quiet": quiet}


for command in (
    inspect_cmd,
    bin_cmd,
    simulate,
    fit_cmd,
    generate_cmd,
    encode_cmd,
    evaluate_cmd,
    augment_cmd,
    share_cmd,
):
    app.add_command(command)


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
            click.echo(f"Error: {_rank_prefix()}{as_flags(str(exc))}", err=True)
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
