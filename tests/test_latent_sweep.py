"""`fit --latent-dim auto`: the held-out entry co-bps by hand, the sweep recorded in the model
dir and shown by evaluate, and the command line."""

import json

import numpy as np
import pytest
import torch
from helpers import run, tiny, tiny_args

from nwb_ldns import artifacts, latent_sweep
from nwb_ldns.config import DataSpec
from nwb_ldns.dataset import load_dataset
from nwb_ldns.fit import fit

torch.set_num_threads(1)
LORENZ = "sim:lorenz?n_trials=60&n_neurons=12&n_bins=32"


class _Rates(torch.nn.Module):
    """Stands in for an autoencoder whose rates are given (the score only calls forward)."""

    def __init__(self, rates):
        super().__init__()
        self.rates = rates

    def forward(self, counts, mask=None):
        return self.rates, None


def test_heldout_entry_co_bps_by_hand():
    rng = np.random.default_rng(0)
    rates = torch.as_tensor(rng.gamma(2.0, 0.5, size=(40, 6, 50)), dtype=torch.float32)
    counts = torch.poisson(rates, generator=torch.Generator().manual_seed(1))
    model, null, spikes = latent_sweep.heldout_entry_nll(_Rates(rates), counts, None, seed=0)
    # by hand: the same hidden entries, the full Poisson NLL (log k! cancels in co-bps)
    g = torch.Generator().manual_seed(0)
    mean = counts.mean((0, 2))[None, :, None]
    want_model = want_null = want_spikes = 0.0
    for _ in range(latent_sweep.N_MASKS):
        hidden = (torch.rand(counts.shape, generator=g) < latent_sweep.HIDDEN_FRACTION).float()
        log_fact = torch.lgamma(counts + 1)
        want_model += ((rates - counts * torch.log(rates) + log_fact) * hidden).sum().item()
        want_null += ((mean - counts * torch.log(mean) + log_fact) * hidden).sum().item()
        want_spikes += (counts * hidden).sum().item()
    np.testing.assert_allclose([model.sum(), null.sum(), spikes.sum()], [want_model, want_null, want_spikes], rtol=1e-4)
    assert latent_sweep.co_bps(model, null, spikes) > 0.1  # the true rates beat the mean rate
    flat = latent_sweep.heldout_entry_nll(_Rates(mean.expand_as(counts)), counts, None, seed=0)
    assert latent_sweep.co_bps(*flat) == pytest.approx(0.0, abs=1e-6)


def test_candidates_are_at_most_half_the_units():
    assert latent_sweep.candidates(128) == [2, 4, 8, 16, 32]
    assert latent_sweep.candidates(12) == [2, 4]
    assert latent_sweep.candidates(3) == [2, 4]  # always a sweep of two


def test_latent_dim_auto_records_its_sweep_and_evaluate_shows_it(tmp_path):
    ds = load_dataset(LORENZ, DataSpec())
    fit(ds, tmp_path / "m", preset="quick", overrides=tiny(latent_dim="auto", ae=2), progress=False, device="cpu")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    sweep = cfg["latent_dim_sweep"]
    assert sweep["candidates"] == [2, 4] and len(sweep["co_bps"]) == len(sweep["sd"]) == 2
    assert sweep["chosen"] in sweep["candidates"] and cfg["configs"]["autoencoder"]["latent_dim"] == sweep["chosen"]
    best = int(np.argmax(sweep["co_bps"]))
    assert sweep["co_bps"][sweep["candidates"].index(sweep["chosen"])] >= sweep["co_bps"][best] - sweep["sd"][best]
    assert artifacts.load_model(tmp_path / "m").latent_dim == sweep["chosen"]
    run("generate", "--model", tmp_path / "m", "-o", tmp_path / "s.nwb", "--n-trials", 10, "-q")
    run("evaluate", "--real", LORENZ, "--synthetic", tmp_path / "s.nwb", "--model", tmp_path / "m", "-o",
        tmp_path / "r", "--resamples", 2, "-q")  # fmt: skip
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["latent_dim_sweep"]["chosen"] == sweep["chosen"]
    assert (tmp_path / "r" / "latent_dim_sweep.png").stat().st_size > 1000


def test_latent_dim_option(tmp_path):
    args = ["fit", LORENZ, "-o", tmp_path / "m", *tiny_args(), "--epochs-ae", 1, "--epochs-diffusion", 1]
    args = [a for a in args if a not in ("--latent-dim", "3")]  # tiny_args fixes it at 3
    run(*args, "--epochs-history", 1, "--latent-dim", "auto")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["latent_dim_sweep"]["candidates"] == [2, 4]
    for bad in ("0", "many"):
        p = run(*args, "--latent-dim", bad, ok=False)
        assert p.returncode == 2 and "--latent-dim" in p.stderr


def test_a_sweep_without_two_validation_trials_stops_before_training():
    from nwb_ldns.dataset import SpikeDataset
    from nwb_ldns.errors import NwbLdnsError

    ds = load_dataset(LORENZ, DataSpec())
    split = np.where(ds.split == "val", "train", ds.split)
    split[0] = "val"  # one validation trial: no spread to score sizes by
    one_val = SpikeDataset(ds.ds.assign(split=("trial", split)))
    built = []
    with pytest.raises(NwbLdnsError, match="needs at least 2"):
        latent_sweep.choose_latent_dim(one_val, built.append, device=torch.device("cpu"))
    assert built == []  # no candidate was trained
