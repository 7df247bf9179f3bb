"""Training loop, model dir and fit/generate through the library: resume, NaN guard, corrupt dirs,
condition checks."""

import json
import math

import numpy as np
import pytest
import torch
from helpers import tiny

from nwb_ldns import artifacts
from nwb_ldns.config import TrainConfig
from nwb_ldns.dataset import load_dataset
from nwb_ldns.errors import NwbLdnsError
from nwb_ldns.fit import fit
from nwb_ldns.generate import check_condition, generate
from nwb_ldns.io.spikes import spike_times_from_counts
from nwb_ldns.io.synthetic import synthetic_nwbfile
from nwb_ldns.models.observation import SpikeHistoryGLM
from nwb_ldns.training import Stage, lr_factor, train

torch.set_num_threads(1)

TINY = tiny(ae=2, diffusion=2, history=2)


LORENZ = "sim:lorenz?n_trials=60&n_neurons=12&n_bins=32"


@pytest.fixture(scope="module")
def lorenz():
    return load_dataset(LORENZ)


@pytest.fixture(scope="module")
def model_dir(lorenz, tmp_path_factory):
    d = tmp_path_factory.mktemp("fit") / "m"
    fit(lorenz, d, preset="quick", overrides=TINY, progress=False, device="cpu")
    return d


def test_model_dir_holds_only_json_and_safetensors(model_dir):
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == ["autoencoder.safetensors", "config.json", "diffusion.safetensors", "spike_history.safetensors"]
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["format"] == "nwb-ldns-model" and cfg["method"] == "ldns"
    assert cfg["data"]["n_bins"] == 32 and len(cfg["data"]["unit_ids"]) == 12
    assert cfg["provenance"]["source_uri"].startswith("sim:lorenz")
    assert set(cfg["stages"]) == {"autoencoder", "diffusion", "spike_history"}
    assert len(cfg["stages"]["autoencoder"]["history"]["train_loss"]) == 2
    assert cfg["configs"]["autoencoder"]["latent_dim"] == 3 and "torch" in cfg["versions"]


def test_fit_matches_the_autoencoders_mean_rates_to_the_training_trials(lorenz, model_dir):
    """Whole training trials encoded and decoded give each unit its mean count (coordinated dropout
    alone leaves them biased: the encoder trained on thinned inputs), and config.json says how far off
    they were."""
    m = artifacts.load_model(model_dir)
    train = lorenz.select("train")
    counts = train.counts_bct(np.float32)
    z, _ = m.encode(counts)
    rates = m.decode(torch.as_tensor(z)).numpy().astype(np.float64)
    np.testing.assert_allclose(rates.mean((0, 2)), counts.mean((0, 2)), rtol=1e-3)
    cal = json.loads((model_dir / "config.json").read_text())["stages"]["autoencoder"]["history"]["rate_calibration"]
    assert cal["offset_max_abs"] > 0 and cal["rate_ratio_before_median"] > 0


def _shrunk_offsets(target, rates):
    """The rate calibration by hand: log(target / sampled mean rate) per unit, shrunk by the share of
    its mean square that the spread between 8 interleaved folds of the trials accounts for."""
    sampled = rates.mean((0, 2), dtype=np.float64)
    raw = np.log(target / sampled)
    folds = np.stack([rates[f::8].mean((0, 2), dtype=np.float64) for f in range(8)])
    noise = np.mean(folds.var(0, ddof=1) / folds.mean(0) ** 2 / 8)
    keep = max(0.0, 1 - noise / np.mean(raw**2))
    return keep * raw, keep


def test_fit_matches_the_mean_rates_of_sampled_trials_to_the_training_trials(lorenz, model_dir):
    """The offsets saved with the denoiser are each unit's log ratio of its training mean count to the
    mean rate of trials drawn as `generate` draws them (4x the training trials here), shrunk by the
    draw's own noise; `generate` scales the decoded rates of its samples by them; a model saved
    before them samples as decoded."""
    m = artifacts.load_model(model_dir)
    train = lorenz.select("train")
    cal = json.loads((model_dir / "config.json").read_text())["stages"]["diffusion"]["history"]
    cal = cal["sample_rate_calibration"]
    assert cal["trials"] == 4 * train.n_trials and cal["sampler"] == "dpmpp, 50 steps"
    offsets = m.sample_rate_offset.numpy()
    m.sample_rate_offset = None  # as fitted, before the calibration
    drawn = generate(m, n_trials=cal["trials"], seed=0)  # the draw the calibration made (seed: the stage's)
    target = train.counts_bct().mean((0, 2), dtype=np.float64)
    expected, keep = _shrunk_offsets(target, drawn.rates)
    assert 0 <= keep <= 1 and cal["shrinkage"] == pytest.approx(keep, abs=1e-4)
    np.testing.assert_allclose(offsets, expected, atol=2e-5)
    ratio = drawn.rates.mean((0, 2), dtype=np.float64) / target
    assert cal["rate_ratio_before"]["median"] == pytest.approx(np.median(ratio), abs=1e-4)
    plain = generate(m, n_trials=4, seed=3)
    m.sample_rate_offset = torch.as_tensor(offsets)
    scaled = generate(m, n_trials=4, seed=3)
    np.testing.assert_array_equal(scaled.latents, plain.latents)
    np.testing.assert_allclose(scaled.rates, plain.rates * np.exp(offsets)[:, None], rtol=1e-5)


def test_the_rate_calibration_shrinks_by_its_noise_clips_far_offsets_and_leaves_units_without_spikes(model_dir):
    from nwb_ldns.generate import MAX_RATE_CALIBRATION, rate_calibration

    m = artifacts.load_model(model_dir)
    m.sample_rate_offset = None
    rates = generate(m, n_trials=64, seed=5).rates
    sampled = rates.mean((0, 2), dtype=np.float64)
    # sampled rates that are the training data's: nothing but the draw's noise to correct
    offsets, record = rate_calibration(m, sampled, n_trials=64, seed=5)
    assert record["shrinkage"] == 0 and not offsets.any()
    # far off: the offsets are kept (shrunk by the noise's small share), the farthest clipped
    factor = np.ones(m.n_neurons)
    factor[:3] = [2.0, 0.5, 10.0]
    target = sampled * factor
    target[3] = 0.0
    offsets, record = rate_calibration(m, target, n_trials=64, seed=5)
    seen = np.arange(m.n_neurons) != 3
    expected, keep = _shrunk_offsets(target[seen], rates[:, seen])
    assert 0.95 < keep < 1 and record["shrinkage"] == pytest.approx(keep, rel=1e-6)
    expected = np.insert(np.minimum(expected, np.log(MAX_RATE_CALIBRATION)), 3, 0.0)
    np.testing.assert_allclose(offsets, expected, atol=2e-5)
    assert record["clipped_units"] == 1 and offsets[3] == 0
    assert m.sample_rate_offset is None
    with pytest.raises(NwbLdnsError, match="finite mean rates"):
        rate_calibration(m, target[:-1], n_trials=64)


def test_a_finished_stage_removes_what_a_killed_checkpoint_write_left(tmp_path):
    """A kill during a checkpoint write leaves our temporary or safetensors' own (".tmp" + 6 characters);
    the stage's end removes both with the checkpoint, and the folder with them, but nothing else."""
    from nwb_ldns.fit import _write_stage

    ck = tmp_path / "checkpoints"
    ck.mkdir()
    for name in ("autoencoder.safetensors", ".autoencoder.safetensors.tmp-123", ".tmpAb3xYz"):
        (ck / name).write_bytes(b"half")
    _write_stage(tmp_path, {"stages": {}}, "autoencoder", {"w": torch.zeros(2)})
    assert not ck.exists() and (tmp_path / "autoencoder.safetensors").exists()
    ck.mkdir()
    (ck / ".tmpAb3xYz").write_bytes(b"half")
    (ck / "notes.txt").write_text("not ours")
    _write_stage(tmp_path, {"stages": {}}, "diffusion", {"w": torch.zeros(2)})
    assert sorted(p.name for p in ck.iterdir()) == ["notes.txt"]


def test_resume_removes_what_killed_writes_left_in_the_model_dir(lorenz, model_dir, tmp_path):
    """A kill during the final write of a stage's weights or of config.json leaves half-written files in the
    model dir itself; `resume` removes them (the fit holds the dir's lock), and only them."""
    import shutil

    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    half = [d / ".tmpQw12Er", d / ".config.json.tmp-99999", d / "checkpoints" / ".tmpZx98Cv"]
    for p in half:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"half")
    (d / "checkpoints" / "notes.txt").write_text("not ours")
    fit(lorenz, d, preset="quick", overrides=TINY, progress=False, device="cpu", resume=True)
    assert not any(p.exists() for p in half)
    assert (d / "checkpoints" / "notes.txt").exists()
    assert artifacts.load_model(d).autoencoder is not None


def test_generate_shapes_seed_and_lengths(model_dir):
    m = artifacts.load_model(model_dir, require=("autoencoder", "diffusion", "spike_history"))
    a = generate(m, n_trials=3, seed=4)
    b = generate(m, n_trials=3, seed=4)
    assert a.counts.shape == (3, 12, 32) and a.latents.shape == (3, 3, 32)
    assert np.array_equal(a.counts, b.counts)
    assert not np.array_equal(a.counts, generate(m, n_trials=3, seed=5).counts)
    lengths = set()
    hook = m.denoiser.register_forward_pre_hook(lambda mod, args: lengths.add(args[0].shape[-1]))
    long = generate(m, n_trials=2, length=16 * 32, observation="spike_history", sampler="ddim", steps=5)
    hook.remove()
    assert long.counts.shape == (2, 12, 512) and np.isfinite(long.rates).all()
    assert lengths == {32}  # 16x-length samples are denoised in windows of the training length
    ddpm = generate(m, n_trials=1, sampler="ddpm")
    assert ddpm.settings["steps"] == 1000 and ddpm.counts.shape == (1, 12, 32)


def test_unconditional_model_rejects_a_condition(model_dir):
    m = artifacts.load_model(model_dir)
    with pytest.raises(NwbLdnsError, match="without a condition"):
        check_condition(m, np.zeros(3), n_trials=None, length=None)


def test_spike_times_rebin_to_counts():
    counts = np.array([0, 3, 1, 0, 7])
    t = spike_times_from_counts(counts, 0.005, seed=0, unit=3)
    assert np.all(np.diff(t) >= 0)
    assert np.array_equal(np.histogram(t, bins=np.arange(6) * 0.005)[0], counts)
    assert np.all(np.round(t * 30000) % 150 != 0)  # on the 30 kHz grid, never on a bin edge
    np.testing.assert_array_equal(t, spike_times_from_counts(counts, 0.005, seed=0, unit=3))
    assert not np.array_equal(t, spike_times_from_counts(counts, 0.005, seed=0, unit=4))  # seeded per unit


def test_synthetic_trials_meet_end_to_start_without_float_drift(model_dir, tmp_path):
    """pynapple joins intervals whose start precedes the previous end, even by 1e-14 s."""
    from nwb_ldns.io.nwbfile import open_nwb, write_nwbfile

    m = artifacts.load_model(model_dir)
    path = write_nwbfile(synthetic_nwbfile(m, generate(m, n_trials=60, seed=0, steps=2)), tmp_path / "s.nwb")
    with open_nwb(path) as io:
        trials = io.read().trials.to_dataframe()
    start, stop = trials["start_time"].to_numpy(), trials["stop_time"].to_numpy()
    assert np.array_equal(stop[:-1], start[1:])  # 12 of 59 differed when stops were start + length
    np.testing.assert_allclose(stop - start, 32 * 0.005)


def test_synthetic_nwbfile_round_trip(model_dir, tmp_path):
    from pynwb import NWBHDF5IO

    from nwb_ldns.io.nwbfile import write_nwbfile

    m = artifacts.load_model(model_dir)
    syn = generate(m, n_trials=4, seed=0)
    path = write_nwbfile(synthetic_nwbfile(m, syn), tmp_path / "s.nwb")
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert len(nwb.trials) == 4 and nwb.trials["synthetic"][:].all()
        assert len(nwb.units) == 12 and nwb.units.resolution == pytest.approx(1 / 30000)
        rates = nwb.processing["misc"]["rates"].data[:]
        assert rates.shape == (4 * 32, 12)
        edges = np.arange(4 * 32 + 1) * syn.bin_s
        for u in (0, 5):
            got = np.histogram(nwb.units.get_unit_spike_times(u), bins=edges)[0]
            assert np.array_equal(got, syn.counts[:, u, :].ravel())


def test_a_fit_larger_than_the_memory_available_stops_before_it_writes(lorenz, tmp_path, monkeypatch):
    from nwb_ldns import dataset as dataset_module
    from nwb_ldns.fit import FIT_BYTES_PER_COUNT

    need = FIT_BYTES_PER_COUNT * 60 * 32 * 12  # trials x bins x units of the tiny Lorenz data
    monkeypatch.setattr(dataset_module, "available_memory", lambda: need - 1)  # a machine just too small
    with pytest.raises(NwbLdnsError, match=r"fitting 60 trials x 32 bins x 12 units on the CPU needs about .* GiB"):
        fit(lorenz, tmp_path / "m", preset="quick", overrides=TINY, progress=False, device="cpu")
    assert not (tmp_path / "m").exists()
    monkeypatch.setattr(dataset_module, "available_memory", lambda: need)
    fit(lorenz, tmp_path / "m", preset="quick", overrides=tiny(ae=1, diffusion=1, history=1), progress=False)


def test_existing_model_dir_needs_resume_or_overwrite(lorenz, model_dir):
    with pytest.raises(NwbLdnsError, match="`resume`"):
        fit(lorenz, model_dir, preset="quick", overrides=TINY, progress=False)


def _set_tensor(path, name, value):
    from safetensors.torch import load_file, save_file

    t = load_file(path)
    t[name] = torch.full_like(t[name], value)
    save_file(t, path)


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda d: (d / "config.json").write_text("{not json"), "corrupt"),
        (lambda d: (d / "config.json").write_text(json.dumps({"format": "other"})), "not an nwb-ldns model"),
        (lambda d: (d / "autoencoder.safetensors").write_bytes(b"\x00" * 20), "not a readable safetensors"),
        (lambda d: (d / "diffusion.safetensors").unlink(), "no fitted diffusion"),
        (lambda d: (d / "config.json").unlink(), "config.json is missing"),
        (lambda d: _set_tensor(d / "diffusion.safetensors", "sample_rate_offset", math.nan), "not one finite value"),
    ],
)
def test_corrupt_model_dir_is_a_one_line_error(model_dir, tmp_path, damage, match):
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(model_dir, d)
    damage(d)
    with pytest.raises(NwbLdnsError, match=match) as info:
        artifacts.load_model(d, require=("autoencoder", "diffusion"))
    assert "\n" not in str(info.value)


def test_weights_of_another_architecture_are_rejected(model_dir, tmp_path):
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(model_dir, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["configs"]["autoencoder"]["hidden"] = 32
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(NwbLdnsError, match="does not match the architecture"):
        artifacts.load_model(d)


# ---- training loop -----------------------------------------------------------------------------
def _glm_stage(epochs, seed=0):
    g = torch.Generator().manual_seed(0)
    rates = torch.rand(40, 3, 20, generator=g) + 0.2
    counts = torch.poisson(rates, generator=g)
    cfg = TrainConfig(epochs=epochs, batch_size=16, lr=0.05, warmup=0.25, weight_decay=0.0, seed=seed)
    return Stage(
        name="spike_history",
        model=SpikeHistoryGLM(n_neurons=3, history=4),
        config=cfg,
        train={"counts": counts, "rates": rates},
        val={"counts": counts[:8], "rates": rates[:8]},
        loss_fn=lambda m, b, rng: m.loss(b["counts"], b["rates"], reduction="trial"),
        val_fn=lambda m, b, rng: torch.stack(
            [m.loss(b["counts"], b["rates"]) * len(b["counts"]), torch.tensor(float(len(b["counts"])))]
        ),
    )


class _Killed(Exception):
    pass


def _train_until_killed(stage, ck, at_call: int) -> None:
    """Train ``stage`` with checkpoints to ``ck`` until its ``at_call``-th loss call raises, as a kill would."""
    inner, calls = stage.loss_fn, {"n": 0}

    def dying(m, b, g):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise _Killed
        return inner(m, b, g)

    stage.loss_fn = dying
    with pytest.raises(_Killed):
        train(stage, device=torch.device("cpu"), checkpoint=ck, progress=False)
    assert ck.is_file()


def _assert_same_weights(a, b) -> None:
    for (n, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6, err_msg=n)


def test_resume_repeats_the_uninterrupted_run(tmp_path):
    straight = _glm_stage(4)
    train(straight, device=torch.device("cpu"), progress=False)
    ck = tmp_path / "ck.safetensors"
    _train_until_killed(_glm_stage(4), ck, at_call=7)  # dies in the third epoch (3 batches per epoch)
    resumed = _glm_stage(4)
    hist = train(resumed, device=torch.device("cpu"), checkpoint=ck, resume=True, progress=False)
    assert len(hist["train_loss"]) == 4
    _assert_same_weights(straight, resumed)


def test_nan_guard_stops_with_a_clear_error_and_keeps_the_checkpoint(tmp_path):
    stage = _glm_stage(3)
    inner = stage.loss_fn
    calls = {"n": 0}

    def poisoned(m, b, g):
        calls["n"] += 1
        loss = inner(m, b, g)
        return loss * float("nan") if calls["n"] > 4 else loss

    stage.loss_fn = poisoned
    ck = tmp_path / "ck.safetensors"
    with pytest.raises(NwbLdnsError, match=r"diverged at step 6 \(epoch 2.*last good checkpoint"):
        train(stage, device=torch.device("cpu"), checkpoint=ck, progress=False)
    _, info = artifacts.load_checkpoint(ck)
    assert info["step"] == 3


def test_lr_schedule_warms_up_then_decays():
    f = [lr_factor(s, total=100, warmup=10) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] < 0.01


def test_best_epoch_weights_are_selected():
    stage = _glm_stage(5)
    stage.config = stage.config.replace(select_tolerance=0.0)
    hist = train(stage, device=torch.device("cpu"), progress=False)
    best = int(np.nanargmin(hist["val_loss"])) + 1
    assert hist["best_epoch"] == best and hist["best_val"] == pytest.approx(min(hist["val_loss"]))


def test_the_last_weights_within_the_tolerance_of_the_best_are_selected():
    stage = _steps_stage(steps=60, patience=0, lr=0.05, select_tolerance=0.05)
    hist = train(stage, device=torch.device("cpu"), progress=False)
    v = np.array(hist["val_loss"])
    within = np.flatnonzero(v <= v.min() * 1.05)
    assert within[-1] != np.argmin(v)  # the tolerance matters in this run
    assert hist["best_step"] == hist["step"][within[-1]] and hist["best_val"] == pytest.approx(v.min())
    with torch.no_grad():
        val = stage.val_fn(stage.model, stage.val, None)
    assert float(val[0] / val[1]) == pytest.approx(v[within[-1]], rel=1e-5)


def test_variable_length_trials_fit_a_causal_model(tmp_path):
    import nwb_fixtures

    nwb = nwb_fixtures.base_file()
    rng = np.random.default_rng(0)
    starts = np.cumsum(rng.uniform(0.6, 1.8, 30))
    durations = rng.uniform(0.3, 1.2, 30)
    for _ in range(6):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0, starts[-1] + 2, 300)))
    for s, d in zip(starts, durations):
        nwb.add_trial(start_time=s, stop_time=s + d)
    path = nwb_fixtures.write(nwb, tmp_path / "var.nwb")
    data = load_dataset(str(path))
    assert len(set(data.lengths.tolist())) > 1
    fit(data, tmp_path / "m", preset="quick", overrides=TINY, progress=False, stages=("autoencoder", "diffusion"))
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["data"]["variable_length"] and cfg["configs"]["autoencoder"]["bidirectional"] is False
    m = artifacts.load_model(tmp_path / "m", require=("autoencoder", "diffusion"))
    assert generate(m, n_trials=2, length=17).counts.shape == (2, 6, 17)
    # default: each trial as long as a training trial, drawn from them, padded with zeros
    syn = generate(m, n_trials=40, seed=3)
    train = data.select("train").lengths
    assert set(syn.lengths.tolist()) <= set(train.tolist()) and len(set(syn.lengths.tolist())) > 5
    assert syn.n_bins == syn.lengths.max() and syn.n_bins <= train.max()
    past = np.arange(syn.n_bins)[None] >= syn.lengths[:, None]  # (trial, time)
    assert not syn.counts.transpose(0, 2, 1)[past].any() and not syn.rates.transpose(0, 2, 1)[past].any()
    assert np.array_equal(generate(m, n_trials=40, seed=3).counts, syn.counts)  # the lengths come from the seed


def _steps_stage(**cfg):
    """The GLM stage sized by steps (validation every 3 steps) instead of epochs."""
    stage = _glm_stage(1)
    stage.config = stage.config.replace(epochs=0, eval_every=3, **cfg)
    return stage


def test_patience_stops_when_validation_stops_improving_and_keeps_the_best():
    stage = _steps_stage(steps=3000, patience=3, lr=0.05, cooldown=0.0, select_tolerance=0.0)
    hist = train(stage, device=torch.device("cpu"), progress=False)
    assert hist["stopped"] == "patience" and hist["steps"] < 3000
    # the last `patience` validations brought no significant improvement; the best weights are held
    v = hist["val_loss"]
    assert min(v[-3:]) >= min(v[:-3]) * (1 - stage.config.min_delta)
    assert hist["best_val"] == pytest.approx(min(v))
    with torch.no_grad():
        val = stage.val_fn(stage.model, stage.val, None)
    assert float(val[0] / val[1]) == pytest.approx(hist["best_val"], rel=1e-5)


def test_a_plateau_starts_a_cooldown_to_zero_learning_rate_then_stops():
    from nwb_ldns.training import _Run

    cpu = torch.device("cpu")
    plain = train(_steps_stage(steps=3000, patience=3, lr=0.05, cooldown=0.0), device=cpu, progress=False)
    stage = _steps_stage(steps=3000, patience=3, lr=0.05, cooldown=0.5)
    hist = train(stage, device=torch.device("cpu"), progress=False)
    first = hist["cooldown_from"]
    assert first == plain["steps"]  # the same run until patience runs out
    assert hist["stopped"] == "patience" and hist["steps"] == first + 3 * math.ceil(0.5 * first / 3)
    run = _Run(stage, torch.device("cpu"), None)
    run.step = first
    start = run.lr_factor()
    run.cooldown = (first, hist["steps"], start)
    f = []
    for step in range(first, hist["steps"] + 1):
        run.step = step
        f.append(run.lr_factor())
    assert f[0] == pytest.approx(start) and f[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(f, f[1:]))


def test_an_interrupted_cooldown_resumes_as_the_uninterrupted_run(tmp_path):
    cfg = dict(steps=3000, patience=3, lr=0.05, cooldown=0.5)
    straight = _steps_stage(**cfg)
    hist = train(straight, device=torch.device("cpu"), progress=False)
    ck = tmp_path / "ck.safetensors"
    # one call per step: dies two steps past the cooldown's first validation
    _train_until_killed(_steps_stage(**cfg), ck, at_call=hist["cooldown_from"] + 5)
    resumed = _steps_stage(**cfg)
    again = train(resumed, device=torch.device("cpu"), checkpoint=ck, resume=True, progress=False)
    assert again["steps"] == hist["steps"] and again["cooldown_from"] == hist["cooldown_from"]
    _assert_same_weights(straight, resumed)


def test_a_checkpoint_from_before_the_cooldown_resumes_with_its_defaults(tmp_path):
    straight = _steps_stage(steps=30, patience=0)
    train(straight, device=torch.device("cpu"), progress=False)
    ck = tmp_path / "ck.safetensors"
    _train_until_killed(_steps_stage(steps=30, patience=0), ck, at_call=14)
    modules, info = artifacts.load_checkpoint(ck)
    for key in ("cooldown", "select_tolerance"):  # as an older version wrote it
        del info["config"][key]
    artifacts.save_checkpoint(ck, modules=modules, info=info)
    resumed = _steps_stage(steps=30, patience=0)
    hist = train(resumed, device=torch.device("cpu"), checkpoint=ck, resume=True, progress=False)
    assert hist["steps"] == 30
    _assert_same_weights(straight, resumed)


def test_a_deadline_stops_training_and_shortens_the_schedule():
    import time

    stage = _steps_stage(steps=100_000, patience=0)
    hist = train(stage, device=torch.device("cpu"), progress=False, deadline=time.monotonic() + 1.0)
    assert hist["stopped"] == "time" and hist["steps"] < 100_000
    assert hist["planned_steps"] < 100_000  # the cosine schedule was planned to end at the deadline


def test_epochs_override_runs_exact_passes_without_early_stopping():
    stage = _glm_stage(3)
    stage.config = stage.config.replace(patience=1)  # ignored: epochs are exact
    hist = train(stage, device=torch.device("cpu"), progress=False)
    assert hist["steps"] == 9 and hist["stopped"] == "steps" and hist["epochs"] == 3


def test_plan_steps_validates_about_once_per_pass_within_bounds():
    from nwb_ldns.training import plan_steps

    cfg = TrainConfig(steps=4000, batch_size=64)
    assert plan_steps(cfg, 700) == (4000, 11, 25)  # small data: every 25 steps
    assert plan_steps(cfg, 50_000) == (4000, 782, 80)  # large data: at least 50 validations
    assert plan_steps(cfg.replace(epochs=2), 700) == (22, 11, 11)


def test_stochastic_samplers_are_seeded_and_a_fixed_noise_is_deterministic(model_dir):
    m = artifacts.load_model(model_dir)
    a = generate(m, n_trials=3, steps=4, seed=5, sampler="ddim")
    b = generate(m, n_trials=3, steps=4, seed=5, sampler="ddim")
    c = generate(m, n_trials=3, steps=4, seed=5, sampler="ddim", eta=0.0)
    np.testing.assert_array_equal(a.latents, b.latents)  # fresh noise per step, drawn from the seed
    assert a.settings["eta"] == 1.0 and c.settings["eta"] == 0.0
    assert not np.allclose(a.latents, c.latents)
    p, q = generate(m, n_trials=3, steps=4, seed=5), generate(m, n_trials=3, steps=4, seed=5)
    np.testing.assert_array_equal(p.latents, q.latents)  # the default, dpmpp, is seeded too
    assert p.settings["sampler"] == "dpmpp" and p.settings["steps"] == 4
    assert not np.allclose(p.latents, generate(m, n_trials=3, steps=4, seed=6).latents)
    x_T = np.random.default_rng(0).normal(size=(1, m.latent_dim, a.latents.shape[-1])).astype(np.float32)
    d = generate(m, n_trials=2, steps=4, seed=1, noise=x_T)  # a given x_T: deterministic whatever the seed
    e = generate(m, n_trials=2, steps=4, seed=2, noise=x_T)
    assert d.settings["eta"] == 0.0 and d.settings["sampler"] == "ddim"
    np.testing.assert_allclose(d.latents, e.latents, rtol=1e-5, atol=1e-5)
    with pytest.raises(NwbLdnsError, match="eta must be between 0 and 1"):
        generate(m, n_trials=1, eta=1.5)


def test_the_autoencoder_dropout_follows_the_train_split_size_unless_it_is_set():
    """Under SMALL_TRAIN_TRIALS training trials the autoencoder's dropout rises to SMALL_DATA_AE_DROPOUT;
    from it on the stage tries AE_DROPOUT_CHOICES; an explicit dropout is kept and nothing is tried."""
    from nwb_ldns.config import AE_DROPOUT_CHOICES, SMALL_DATA_AE_DROPOUT, SMALL_TRAIN_TRIALS, AutoencoderConfig
    from nwb_ldns.fit import build_configs, condition_spec, dropout_choices, split_size_adaptations

    small = load_dataset("sim:lorenz?n_trials=60&n_neurons=4&n_bins=16")
    large = load_dataset("sim:lorenz?n_trials=400&n_neurons=4&n_bins=16")
    assert (small.split == "train").sum() < SMALL_TRAIN_TRIALS <= (large.split == "train").sum()
    default = AutoencoderConfig().dropout
    assert default != SMALL_DATA_AE_DROPOUT and default in AE_DROPOUT_CHOICES and len(AE_DROPOUT_CHOICES) > 1
    for data, dropout, adapted in ((small, SMALL_DATA_AE_DROPOUT, True), (large, default, False)):
        data, cond = condition_spec(data, None)
        n = int((data.split == "train").sum())
        assert build_configs(data, cond, preset="quick")["autoencoder"]["dropout"] == dropout
        assert bool(split_size_adaptations(n)) is adapted
        assert dropout_choices(n) == ([] if adapted else list(AE_DROPOUT_CHOICES))
    data, cond = condition_spec(small, None)
    set_ = {"autoencoder": {"dropout": 0.3}}
    assert build_configs(data, cond, preset="quick", overrides=set_)["autoencoder"]["dropout"] == 0.3
    assert split_size_adaptations(10, set_) == {} and split_size_adaptations(10, {"autoencoder": {"dropout": None}})
    assert dropout_choices(5000, set_) == [] and dropout_choices(5000, {"autoencoder": {"dropout": None}})


def test_the_quick_denoiser_is_widened_for_a_large_train_split_unless_its_size_is_set():
    from nwb_ldns.config import LARGE_DATA_DENOISER, LARGE_DATA_DENOISER_STEPS, LARGE_TRAIN_TRIALS, PRESETS
    from nwb_ldns.fit import build_configs, condition_spec, split_size_adaptations

    quick = PRESETS["quick"]["denoiser"]["hidden"]
    assert quick < LARGE_DATA_DENOISER["hidden"]
    assert split_size_adaptations(LARGE_TRAIN_TRIALS - 1) == {}
    assert split_size_adaptations(LARGE_TRAIN_TRIALS) == {
        "denoiser": LARGE_DATA_DENOISER,
        "diffusion_train": {"steps": LARGE_DATA_DENOISER_STEPS},
    }
    assert "diffusion_train" not in split_size_adaptations(LARGE_TRAIN_TRIALS, {"diffusion_train": {"steps": 9}})
    assert split_size_adaptations(LARGE_TRAIN_TRIALS, preset="paper") == {}  # already wider
    assert split_size_adaptations(LARGE_TRAIN_TRIALS, {"denoiser": {"hidden": 32}}) == {}
    assert split_size_adaptations(LARGE_TRAIN_TRIALS, {"denoiser": {"hidden": None}}) != {}
    data, cond = condition_spec(
        load_dataset(f"sim:lorenz?n_trials={LARGE_TRAIN_TRIALS * 10 // 7 + 1}&n_neurons=4&n_bins=8"), None
    )
    assert (data.split == "train").sum() >= LARGE_TRAIN_TRIALS
    configs = build_configs(data, cond, preset="quick")
    assert configs["denoiser"]["hidden"] == LARGE_DATA_DENOISER["hidden"]
    assert configs["diffusion_train"]["steps"] == LARGE_DATA_DENOISER_STEPS
    assert build_configs(data, cond, preset="quick", overrides={"denoiser": {"hidden": 48}})["denoiser"]["hidden"] == 48


def test_the_autoencoder_stage_keeps_the_dropout_of_lowest_validation_nll(tmp_path):
    """From SMALL_TRAIN_TRIALS training trials on, one autoencoder per dropout choice is trained; the
    model dir keeps the one whose validation NLL is lowest, says so in config.json, and holds no
    candidate checkpoints; its weights are those of a fit with that dropout set."""
    data = load_dataset("sim:lorenz?n_trials=300&n_neurons=8&n_bins=16")
    over = tiny(ae_train={"steps": 30, "batch_size": 32})
    fit(data, tmp_path / "m", preset="quick", stages=("autoencoder",), overrides=over, progress=False, device="cpu")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    sweep = cfg["guard"]["dropout_sweep"]
    vals = {t["dropout"]: t["best_val"] for t in sweep["tried"]}
    assert sorted(vals) == sorted(cfg["guard"]["dropout_choices"]) and len(vals) > 1
    assert sweep["chosen"] == min(vals, key=vals.get) == cfg["configs"]["autoencoder"]["dropout"]
    assert cfg["stages"]["autoencoder"]["history"]["best_val"] == vals[sweep["chosen"]]
    assert not (tmp_path / "m" / "checkpoints").exists()
    alone = {**over, "autoencoder": {**over["autoencoder"], "dropout": sweep["chosen"]}}
    fit(data, tmp_path / "a", preset="quick", stages=("autoencoder",), overrides=alone, progress=False, device="cpu")
    assert "dropout_sweep" not in json.loads((tmp_path / "a" / "config.json").read_text())["guard"]
    want = artifacts.load_model(tmp_path / "a").autoencoder.state_dict()
    got = artifacts.load_model(tmp_path / "m").autoencoder.state_dict()
    for k in want:
        torch.testing.assert_close(got[k], want[k])


class _TrueRates(torch.nn.Module):
    """Stands in for an autoencoder that found the simulation's true rates (the score only calls forward)."""

    def __init__(self, rates):
        super().__init__()
        self.rates = torch.as_tensor(rates, dtype=torch.float32)

    def forward(self, counts, mask=None):
        return self.rates, None


def test_fit_scores_the_autoencoder_on_held_out_spikes_and_warns_when_it_learned_nothing(lorenz, tmp_path, caplog):
    """fit records the autoencoder's held-out co-bps on the validation trials; rates no better than each
    unit's mean rate (an autoencoder barely trained) are a warning in the log and in config.json's
    guard, and evaluate names the autoencoder as what limits realism whatever the spike statistics say."""
    import logging

    from nwb_ldns.evaluate import limiting_stage
    from nwb_ldns.fit import _check_heldout
    from nwb_ldns.metrics import CORE_METRICS

    with caplog.at_level(logging.WARNING, logger="nwb_ldns"):
        fit(lorenz, tmp_path / "m", preset="quick", stages=("autoencoder",), progress=False, device="cpu",
            overrides=tiny(ae_train={"steps": 1, "batch_size": 32}))  # fmt: skip
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    h = cfg["stages"]["autoencoder"]["history"]
    assert h["steps"] == 1 and h["heldout_co_bps"] <= 0 and h["heldout_co_bps_sd"] > 0
    assert any("no better than each unit's mean rate" in w for w in cfg["guard"]["warnings"])
    assert "no better than each unit's mean rate" in caplog.text

    # the simulation's true rates beat the mean rates: a positive score and no warning
    from nwb_ldns.sources.simulation import parse_sim_uri

    val = lorenz.select("val")
    _, sim, config = parse_sim_uri(LORENZ.partition(":")[2])
    cfg = {"configs": {"ae_train": {"seed": 0}}, "guard": {"warnings": []}}
    history = {}
    _check_heldout(_TrueRates(sim(config).rates()[val.trial_ids]), val, cfg, history, "cpu")
    assert history["heldout_co_bps"] > 0.5 and cfg["guard"]["warnings"] == []

    good = {k: {"mean": 1.0} for k in CORE_METRICS}
    report = {"half_vs_half": good, "autoencoder_ceiling": good, **good}
    assert limiting_stage(report) == {"stage": "none", "ratios": limiting_stage(report)["ratios"], "unlearned": False}
    report["autoencoder_heldout_co_bps"] = {"mean": -0.01, "sd": 0.005}
    assert limiting_stage(report)["stage"] == "autoencoder" and limiting_stage(report)["unlearned"]


def test_a_labelled_trials_column_is_a_categorical_condition_unless_it_is_one_label_or_an_id():
    from nwb_ldns.errors import NwbLdnsError
    from nwb_ldns.fit import MAX_CATEGORIES, _category_spec
    from nwb_ldns.fitted import condition_features

    train = np.array([True] * 6 + [False] * 2)
    spec = _category_spec("cue", np.array(["l", "r", "l", "r", "c", "l", "up", "r"]), train)
    assert spec.kind == "category" and spec.categories == ("c", "l", "r") and spec.channels == 3
    # one-hot over the training labels; a label no training trial has is fed as none
    feats = condition_features(spec, np.array(["r", "c", "up"]))
    np.testing.assert_array_equal(feats.numpy(), [[0, 0, 1], [1, 0, 0], [0, 0, 0]])
    with pytest.raises(NwbLdnsError, match="all have the label 'l'"):
        _category_spec("cue", np.array(["l"] * 8), train)
    ids = np.array([f"trial{i}" for i in range(MAX_CATEGORIES + 2)])
    with pytest.raises(NwbLdnsError, match="a label per trial, such as an id, is not a condition"):
        _category_spec("name", ids, np.ones(ids.size, bool))
