"""Simulate the LDNS Lorenz benchmark as an NWB file, read it back and bin it, from Python.

Run: python examples/lorenz_dataset.py [OUT_DIR]
"""

import sys
from pathlib import Path

import numpy as np

from nwb_ldns import open_source
from nwb_ldns.config import DataSpec
from nwb_ldns.dataset import SpikeDataset, build_dataset
from nwb_ldns.io.nwbfile import write_nwbfile
from nwb_ldns.io.simulated import lorenz_nwbfile
from nwb_ldns.sim.lorenz import LorenzConfig, LorenzSimulation

out = Path(sys.argv[1] if len(sys.argv) > 1 else "lorenz-example")
out.mkdir(exist_ok=True)

sim = LorenzSimulation(LorenzConfig(n_trials=200))
write_nwbfile(lorenz_nwbfile(sim), out / "lorenz.nwb", overwrite=True)

with open_source(str(out / "lorenz.nwb")) as rec:
    dataset = build_dataset(rec, DataSpec(bin_ms=5, behavior=("lorenz_latents",)), progress=True)
print(dataset)

# the binned file gives back the simulated counts exactly; latents ride along as behaviour
counts = dataset.counts  # (trial, time, unit)
truth = np.stack([sim.counts(u) for u in range(sim.config.n_neurons)], axis=-1)
print("counts equal the simulation:", np.array_equal(counts, truth))
print("latents (trial, time, 3):", dataset.behavior("lorenz_latents").shape)
print("train trials:", dataset.select("train").n_trials)

dataset.to_zarr(out / "lorenz.zarr", overwrite=True)
print("reloaded:", SpikeDataset.from_zarr(out / "lorenz.zarr"))
