"""torchrun: two CPU processes (gloo) train like one, and checkpoints move between process counts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ddp_worker import glm_stage
from helpers import run
from safetensors.torch import load_file

from nwb_ldns.artifacts import load_checkpoint
from nwb_ldns.models.batch_random import BatchRandom
from nwb_ldns.training import train

HERE = Path(__file__).parent
SOURCE = "sim:lorenz?n_trials=70&n_neurons=12&n_bins=32"
# 70 trials: train batches of 32, 32 and a last one of 17 (split 9 / 8 between two processes)
FIT = [
    "--preset",
    "quick",
    "--hidden",
    "16",
    "--latent-dim",
    "3",
    "--denoiser-hidden",
    "16",
    "--batch-size",
    "32",
    "--epochs-ae",
    "2",
    "--epochs-diffusion",
    "2",
    "--epochs-history",
    "2",
    "--device",
    "cpu",
    "-q",
]


def torchrun(*args, nproc=2, check=True):
    """``torchrun --standalone --nproc_per_node N ARGS`` as a user types it (a free port each time)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def nwb_ldns_script() -> str:
    exe = Path(sys.executable).with_name("nwb-ldns")
    return str(exe) if exe.is_file() else shutil.which("nwb-ldns")


def test_two_processes_fit_every_stage_like_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    run("fit", SOURCE, "-o", one, *FIT)
    p = torchrun("--no-python", nwb_ldns_script(), "fit", SOURCE, "-o", two, *FIT)
    assert p.stdout.count("model -> ") == 1  # only rank 0 reports (and writes)
    assert not (two / "checkpoints").exists()
    c1, c2 = (json.loads((d / "config.json").read_text()) for d in (one, two))
    assert c1["configs"] == c2["configs"]
    for stage in ("autoencoder", "diffusion", "spike_history"):
        h1, h2 = c1["stages"][stage]["history"], c2["stages"][stage]["history"]
        assert (h1["world_size"], h2["world_size"]) == (1, 2)
        np.testing.assert_allclose(h2["train_loss"], h1["train_loss"], rtol=1e-5, err_msg=stage)
        np.testing.assert_allclose(h2["val_loss"], h1["val_loss"], rtol=1e-5, err_msg=stage)
        a, b = load_file(one / f"{stage}.safetensors"), load_file(two / f"{stage}.safetensors")
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(b[k].numpy(), a[k].numpy(), rtol=1e-4, atol=1e-5, err_msg=f"{stage} {k}")


def test_a_checkpoint_from_two_processes_resumes_in_one(tmp_path):
    straight = glm_stage()
    train(straight, device=torch.device("cpu"), progress=False)
    ck = tmp_path / "ck.safetensors"
    p = torchrun(HERE / "ddp_worker.py", ck, 8, check=False)  # both processes die in epoch 3 of 4
    assert p.returncode != 0 and ck.is_file(), p.stderr
    _, info = load_checkpoint(ck)
    assert (info["step"], info["history"]["world_size"]) == (6, 2)
    resumed = glm_stage()
    hist = train(resumed, device=torch.device("cpu"), checkpoint=ck, resume=True, progress=False)
    assert len(hist["train_loss"]) == 4 and hist["world_size"] == 1
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=k)


def test_micro_batches_accumulated_without_sync_train_like_whole_batches(tmp_path):
    straight = glm_stage()
    train(straight, device=torch.device("cpu"), progress=False)  # one piece per batch
    ck = tmp_path / "ck.safetensors"
    torchrun(HERE / "ddp_worker.py", ck, 0, 3)  # shares of 8, 8 and 4 trials in pieces of <= 3
    final = load_file(f"{ck}.final")
    for k, a in straight.model.state_dict().items():
        np.testing.assert_allclose(final[k], a, rtol=1e-5, atol=1e-6, err_msg=k)


def test_a_refused_output_under_torchrun_is_one_error_line(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    p = torchrun("--no-python", nwb_ldns_script(), "fit", SOURCE, "-o", out, *FIT, check=False)
    assert p.returncode != 0
    assert len([ln for ln in p.stderr.splitlines() if ln.startswith("Error")]) == 1, p.stderr
    assert (out / "notes.txt").read_text() == "mine" and len(list(out.iterdir())) == 1


def test_batch_random_gives_each_trial_the_same_draws_however_the_batch_is_split():
    whole = BatchRandom(torch.Generator().manual_seed(3), 10, "cpu")
    a, b = whole.randn(10, 2, 5), whole.randint(7, 10)
    shared = BatchRandom(torch.Generator().manual_seed(3), 10, "cpu")
    for rows in (torch.arange(0, 10, 3), torch.arange(1, 10, 3), torch.arange(2, 10, 3)):
        view = shared.take(rows)
        torch.testing.assert_close(view.randn(len(rows), 2, 5), a[rows])
        torch.testing.assert_close(view.randint(7, len(rows)), b[rows])
    with pytest.raises(RuntimeError, match="draw 0"):
        shared.take(torch.arange(2)).rand(2, 2, 5)  # another piece drawing something else first
    with pytest.raises(ValueError):
        shared.take(torch.arange(2)).randn(3, 2, 5)


def test_the_ae_loss_of_a_split_batch_is_the_loss_of_the_whole(tmp_path):
    from nwb_ldns.config import AutoencoderConfig
    from nwb_ldns.models.autoencoder import Autoencoder

    torch.manual_seed(0)
    ae = Autoencoder(config=AutoencoderConfig(n_neurons=5, hidden=8, latent_dim=2, n_blocks=1, state_size=4))
    counts = torch.poisson(torch.full((6, 5, 16), 0.8))
    whole = ae.loss(counts, rng=BatchRandom(torch.Generator().manual_seed(1), 6, "cpu"), reduction="trial")
    rng = BatchRandom(torch.Generator().manual_seed(1), 6, "cpu")
    parts = torch.cat(
        [
            ae.loss(counts[r], rng=rng.take(r), reduction="trial")
            for r in (torch.tensor([4, 0]), torch.tensor([1, 2, 3, 5]))
        ]
    )
    torch.testing.assert_close(parts, whole[[4, 0, 1, 2, 3, 5]])


def test_two_processes_stop_together_at_a_time_budget(tmp_path):
    # steps and early stopping with a budget: rank 0's clock decides when both processes stop
    fit = [a for i, a in enumerate(FIT) if not (a.startswith("--epochs") or FIT[i - 1].startswith("--epochs"))]
    p = torchrun("--no-python", nwb_ldns_script(), "fit", SOURCE, "-o", tmp_path / "m", *fit, "--time-budget", "20s")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    for stage in ("autoencoder", "diffusion", "spike_history"):
        h = cfg["stages"][stage]["history"]
        assert h["world_size"] == 2 and h["stopped"] in ("time", "patience", "steps") and h["steps"] > 0
    assert p.stdout.count("model -> ") == 1
