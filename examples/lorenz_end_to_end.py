"""Lorenz end to end from Python: fit LDNS (quick preset), sample, compare statistics with the data.

Run: python examples/lorenz_end_to_end.py [MODEL_DIR]   (a few minutes on a laptop CPU)
"""

import sys

import numpy as np

from nwb_ldns import metrics
from nwb_ldns.artifacts import load_model
from nwb_ldns.dataset import load_dataset
from nwb_ldns.fit import fit
from nwb_ldns.generate import generate
from nwb_ldns.io.nwbfile import write_nwbfile
from nwb_ldns.io.synthetic import synthetic_nwbfile

model_dir = sys.argv[1] if len(sys.argv) > 1 else "lorenz-example-model"
data = load_dataset("sim:lorenz?n_trials=1000")
print(data)
fit(data, model_dir, preset="quick", overwrite=True)
model = load_model(model_dir)

train = data.select("train").counts_bct(np.int64)  # (trial, unit, time)
syn = generate(model, n_trials=len(train), seed=0)
real_m, real_s = metrics.isi_stats(train, data.bin_s)
fake_m, fake_s = metrics.isi_stats(syn.counts, data.bin_s)
print(
    f"Pearson r, data vs samples: mean ISI {metrics.pearson(real_m, fake_m):.3f}, "
    f"std ISI {metrics.pearson(real_s, fake_s):.3f}, pairwise correlation "
    f"{metrics.pearson(metrics.pairwise_correlations(train), metrics.pairwise_correlations(syn.counts)):.3f}"
)
write_nwbfile(synthetic_nwbfile(model, syn), "lorenz-example-synthetic.nwb", overwrite=True)
print("wrote lorenz-example-synthetic.nwb")
