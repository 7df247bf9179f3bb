"""nwb-ldns simulate: the built-in simulated sessions as NWB files."""

from __future__ import annotations

import click

from nwb_ldns.errors import NwbLdnsError
from nwb_ldns.io.outputs import check_replaceable

from .options import POSITIVE, compression_option, logger, output_option, overwrite_option, seed_option, subject_options


@click.group("simulate")
def simulate():
    """Write a built-in simulated session as an NWB file."""


@simulate.command("lorenz")
@output_option()
@click.option("--n-trials", type=click.IntRange(min=1), default=5000, show_default=True)
@click.option("--n-neurons", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--n-bins", type=click.IntRange(min=2), default=256, show_default=True, help="Bins per trial.")
@click.option("--bin-ms", type=POSITIVE, default=5.0, show_default=True)
@seed_option
@subject_options("sim-lorenz-SEED")
@overwrite_option()
@compression_option
def simulate_lorenz(output, n_trials, n_neurons, n_bins, bin_ms, seed, subject, overwrite, compression):
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
    write_nwbfile(nwb, output, overwrite=overwrite, compression=compression)
    logger.info("wrote %s: %d trials x %d units", output, n_trials, n_neurons)
