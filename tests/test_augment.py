"""`nwb-ldns augment`: held-out decoding with and without synthetic trials, its report, and the
inputs it refuses."""

import json

import numpy as np
import pytest
import torch
from helpers import MAZE_WINDOW, error_line, run, tiny

from nwb_ldns.augment import DECODERS, augment, resampled
from nwb_ldns.config import AUGMENT_RATIOS, DataSpec
from nwb_ldns.dataset import load_dataset
from nwb_ldns.errors import NwbLdnsError

torch.set_num_threads(1)
MAZE = "sim:maze?n_trials=60&n_neurons=10"
SPEC = DataSpec(align="move_onset_time", window_ms=(-250.0, 450.0), behavior=("hand_vel",))


@pytest.fixture(scope="module")
def maze():
    return load_dataset(MAZE, SPEC)


def test_decoders_learn_velocity_from_spikes_that_carry_it():
    """Both decoders read a velocity that drives the rates, far above chance, on fresh trials."""
    rng = np.random.default_rng(0)
    t = np.arange(60) * 0.01
    phase = rng.uniform(0, 1, (80, 1))
    v = np.stack([np.sin(2 * np.pi * (t[None] + phase)), np.cos(np.pi * (t[None] + 2 * phase))], -1)  # (80, 60, 2)
    w = rng.normal(size=(2, 12))
    rates = np.exp(0.8 * (v @ w) - 1.0).transpose(0, 2, 1)  # (trial, 12, time)
    counts = rng.poisson(rates * 3).astype(np.float64)
    for dec in DECODERS:
        pred = dec.predict(counts[:60], v[:60].astype(np.float32), counts[60:], 0.01, 0)
        r2 = 1 - ((pred - v[60:]) ** 2).sum() / ((v[60:] - v[60:].mean((0, 1))) ** 2).sum()
        assert pred.shape == v[60:].shape and r2 > 0.5, (dec.name, r2)


def test_augment_writes_rows_for_every_decoder_size_and_ratio(maze, tmp_path):
    m = augment(
        maze, tmp_path / "aug", n_train=(8, "all"), ratios=(1.0, 2.0), repeats=2, preset="quick",
        time_budget=None, overrides=tiny(), device="cpu", source=MAZE,
    )  # fmt: skip
    pool = int(np.isin(maze.split, ("train", "val")).sum())
    assert m["n_pool"] == pool and m["n_test"] == int((maze.split == "test").sum())
    assert {(r["decoder"], r["n_train"], r["ratio"]) for r in m["rows"]} == {
        (d.name, n, ratio) for d in DECODERS for n in (8, pool) for ratio in (1.0, 2.0)
    }
    for r in m["rows"]:
        assert np.isfinite([r["r2_real"]["mean"], r["r2_augmented"]["mean"], r["gain"]["mean"]]).all()
        assert r["gain_ci95"][0] <= r["gain_ci95"][1]
        assert np.isfinite(r["r2_synthetic_follows"]["mean"]) and r["r2_synthetic_follows"]["mean"] <= 1
        assert r["verdict"] == (
            "helps" if r["gain_ci95"][0] > 0 else "hurts" if r["gain_ci95"][1] < 0 else "no clear effect"
        )
        # the control: the same decoders on real + resampled real trials, and the synthetic trials' margin over it
        assert np.isfinite(r["r2_resampled"]["mean"])
        assert r["gain_over_resampled"]["mean"] == pytest.approx(r["r2_augmented"]["mean"] - r["r2_resampled"]["mean"])
        assert r["gain_over_resampled_ci95"][0] <= r["gain_over_resampled_ci95"][1]
    # the real-only baseline does not depend on the ratio
    for d in DECODERS:
        base = [r["r2_real"]["mean"] for r in m["rows"] if r["decoder"] == d.name and r["n_train"] == 8]
        assert base[0] == base[1]
    saved = json.loads((tmp_path / "aug" / "metrics.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(m["rows"]))
    page = (tmp_path / "aug" / "index.html").read_text()
    assert "synthetic follow condition" in page and "no time budget" in page and "resampled real" in page
    assert (
        page.count("<tr data-decoder=") == len(m["rows"]) and (tmp_path / "aug" / "augment.png").stat().st_size > 1000
    )


def test_augment_refuses_what_it_cannot_measure(maze, tmp_path):
    kw = {"preset": "quick", "overrides": tiny(), "device": "cpu"}
    pool = int(np.isin(maze.split, ("train", "val")).sum())
    with pytest.raises(NwbLdnsError, match=f"more than the {pool}"):
        augment(maze, tmp_path / "a", n_train=(pool + 1,), **kw)
    with pytest.raises(NwbLdnsError, match="no `n_train`"):
        augment(maze, tmp_path / "a", n_train=(), **kw)
    no_behaviour = load_dataset(MAZE, DataSpec(align="move_onset_time", window_ms=(-250.0, 450.0)))
    with pytest.raises(NwbLdnsError, match="`behavior`"):
        augment(no_behaviour, tmp_path / "a", n_train=(8,), **kw)
    few_test = load_dataset("sim:maze?n_trials=30&n_neurons=10", SPEC)  # 6 test trials
    with pytest.raises(NwbLdnsError, match="test trials"):
        augment(few_test, tmp_path / "a", n_train=(8,), **kw)
    assert not (tmp_path / "a").exists()


def test_augment_command(tmp_path):
    args = ["augment", MAZE, *MAZE_WINDOW, "--behavior", "hand_vel", "-o", tmp_path / "aug", "--device", "cpu"]
    p = run(*args, "--n-train", 8, "--repeats", 1, "--time-budget", "5s", "--preset", "quick", "-q")
    assert "ridge" in p.stdout and "gru" in p.stdout and "report ->" in p.stdout
    rows = json.loads((tmp_path / "aug" / "metrics.json").read_text())["rows"]
    # by default every decoder at each of the default ratios
    assert sorted((r["decoder"], r["ratio"]) for r in rows) == sorted(
        (d.name, ratio) for d in DECODERS for ratio in AUGMENT_RATIOS
    )
    assert "already exists" in error_line(run(*args, "--n-train", 8, ok=False))
    bad = run(*args[:-4], "-o", tmp_path / "b", "--n-train", 1000, ok=False)
    assert "--n-train 1000 is more than" in error_line(bad) and not (tmp_path / "b").exists()
    no_behaviour = run("augment", MAZE, *MAZE_WINDOW, "-o", tmp_path / "c", ok=False)
    assert "--behavior" in error_line(no_behaviour)


def test_the_resampled_control_redraws_each_real_trial_from_its_own_smoothed_counts():
    from nwb_ldns import metrics as M

    rng = np.random.default_rng(0)
    counts = rng.poisson(rng.uniform(0.05, 0.6, (5, 4, 1)), (5, 4, 60)).astype(np.float64)  # (trial, N, time)
    rates = M.smooth_counts(counts, 0.005, M.SMOOTH_S)
    draws = np.stack([resampled(counts, 12, 0.005, np.random.default_rng(k)) for k in range(3000)])
    assert draws.shape == (3000, 12, 4, 60) and (draws == np.round(draws)).all()
    # trials are cycled (12 from 5: trial 7 is trial 2) and each keeps its own smoothed rates, not its spikes
    np.testing.assert_allclose(draws.mean(0)[7], rates[2], atol=0.08)
    assert np.abs(draws.mean(0)[7] - counts[2]).max() > 0.3
    assert not (draws[0, :5] == counts).all()
