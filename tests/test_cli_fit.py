"""`nwb-ldns fit` and `generate` end to end through subprocess, on real files."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import MAZE_VELOCITY, error_line, run, tiny_args

LORENZ = "sim:lorenz?n_trials=60&n_neurons=12&n_bins=32"
TINY = tiny_args()


@pytest.fixture(scope="module")
def lorenz_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli") / "m"
    run("fit", LORENZ, "-o", d, "--epochs-ae", 1, "--epochs-diffusion", 1, "--epochs-history", 1, *TINY)
    return d


def test_fit_then_generate_opens_in_spikeinterface_and_validates(lorenz_model, tmp_path):
    import pynwb
    from pynwb import NWBHDF5IO
    from spikeinterface.extractors import read_nwb_sorting

    assert sorted(os.listdir(lorenz_model)) == [
        "autoencoder.safetensors",
        "config.json",
        "diffusion.safetensors",
        "spike_history.safetensors",
    ]
    out = tmp_path / "s.nwb"
    p = run("generate", "--model", lorenz_model, "-o", out, "--n-trials", 10, "-q")
    assert "10 synthetic trials" in p.stdout
    sorting = read_nwb_sorting(str(out))
    assert sorting.get_num_units() == 12 and sorting.get_sampling_frequency() == pytest.approx(30000)
    with NWBHDF5IO(str(out), "r") as io:
        assert len(io.read().trials) == 10
    assert pynwb.validate(path=str(out)) == []  # pynwb 4 returns the list of schema errors
    from nwbinspector import Importance, inspect_nwbfile, load_config

    issues = list(inspect_nwbfile(nwbfile_path=str(out), config=load_config("dandi")))
    above = [i for i in issues if i.importance.value > Importance.BEST_PRACTICE_SUGGESTION.value]
    assert not above, [f"{i.check_function_name}: {i.message}" for i in above]

    p = run("generate", "--model", lorenz_model, "-o", out, ok=False)
    assert "already exists" in error_line(p)
    p = run(
        "generate",
        "--model",
        lorenz_model,
        "-o",
        tmp_path / "h.nwb",
        "--n-trials",
        2,
        "--spike-history",
        "--length",
        100,
        "-q",
    )
    assert "2 synthetic trials x 100 bins" in p.stdout


def test_generate_with_a_missing_or_corrupt_model(tmp_path):
    p = run("generate", "--model", tmp_path / "nope", "-o", tmp_path / "s.nwb", ok=False)
    assert "no model dir" in error_line(p)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{")
    p = run("generate", "--model", tmp_path / "bad", "-o", tmp_path / "s.nwb", ok=False)
    assert "corrupt" in error_line(p)
    assert not (tmp_path / "s.nwb").exists()


def test_gnocchi_refuses_a_condition_and_code_options_need_gnocchi(tmp_path):
    p = run("fit", LORENZ, "--method", "gnocchi", "--condition", "angle", "-o", tmp_path / "g", ok=False)
    assert "drop --condition" in error_line(p)
    p = run("fit", LORENZ, "--code-dim", 4, "-o", tmp_path / "g", ok=False)
    assert "--code-dim needs --method gnocchi" in error_line(p)
    p = run("fit", LORENZ, "--code-input", "counts", "-o", tmp_path / "g", ok=False)
    assert "--code-input needs --method gnocchi" in error_line(p)
    assert not (tmp_path / "g").exists()


def test_velocity_conditioned_fit_on_maze_layout(maze_h5, tmp_path):
    path, _ = maze_h5
    m = tmp_path / "vm"
    run(
        "fit",
        path,
        "-o",
        m,
        *MAZE_VELOCITY,
        "--condition",
        "velocity",
        "--epochs-ae",
        1,
        "--epochs-diffusion",
        1,
        "--epochs-history",
        1,
        *TINY,
    )
    cfg = json.loads((m / "config.json").read_text())
    assert cfg["condition"]["kind"] == "velocity" and cfg["condition"]["channels"] == 2
    assert cfg["data"]["n_bins"] == 140

    v = np.random.default_rng(0).normal(size=(3, 140, 2)) * 100
    np.save(tmp_path / "v.npy", v)
    out = tmp_path / "v.nwb"
    run("generate", "--model", m, "-o", out, "--condition", tmp_path / "v.npy", "-q")
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert len(nwb.trials) == 3
        np.testing.assert_allclose(nwb.processing["behavior"]["hand_vel"].data[:], v.reshape(-1, 2), rtol=1e-6)

    for bad in [np.zeros((3, 140, 3)), np.zeros(3), np.zeros((3, 140, 2, 1))]:
        np.save(tmp_path / "bad.npy", bad)
        p = run("generate", "--model", m, "-o", tmp_path / "bad.nwb", "--condition", tmp_path / "bad.npy", ok=False)
        assert "must be shaped" in error_line(p)
        assert not (tmp_path / "bad.nwb").exists()
    p = run(
        "generate",
        "--model",
        m,
        "-o",
        tmp_path / "bad.nwb",
        "--condition",
        tmp_path / "v.npy",
        "--length",
        50,
        ok=False,
    )
    assert "--length 50 but the condition has 140 bins" in error_line(p)
    # one velocity trace for several trials
    np.save(tmp_path / "one.npy", v[0])
    run(
        "generate", "--model", m, "-o", tmp_path / "one.nwb", "--condition", tmp_path / "one.npy", "--n-trials", 2, "-q"
    )


def test_angle_conditioned_fit_and_guidance(maze_h5, tmp_path):
    path, _ = maze_h5
    m = tmp_path / "am"
    run(
        "fit",
        path,
        "-o",
        m,
        *MAZE_VELOCITY,
        "--condition",
        "angle",
        "--epochs-ae",
        1,
        "--epochs-diffusion",
        1,
        "--stage",
        "autoencoder",
        "--cond-drop",
        0.25,
        *TINY,
    )
    cfg = json.loads((m / "config.json").read_text())
    assert cfg["stages"].keys() == {"autoencoder"} and cfg["configs"]["diffusion"]["cond_drop"] == 0.25
    run(
        "fit",
        path,
        "-o",
        m,
        *MAZE_VELOCITY,
        "--condition",
        "angle",
        "--epochs-ae",
        1,
        "--epochs-diffusion",
        1,
        "--stage",
        "diffusion",
        *TINY,
    )
    np.save(tmp_path / "a.npy", np.array([0.0, np.pi / 2]))
    run("generate", "--model", m, "-o", tmp_path / "a.nwb", "--condition", tmp_path / "a.npy", "--guidance", 2, "-q")
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(tmp_path / "a.nwb"), "r") as io:
        np.testing.assert_allclose(io.read().trials["reach_angle"][:], [0.0, np.pi / 2], atol=1e-6)
    p = run("generate", "--model", m, "-o", tmp_path / "b.nwb", "--spike-history", ok=False)
    assert "no fitted spike-history" in error_line(p)


def test_killed_fit_resumes(tmp_path):
    m = tmp_path / "r"
    args = [
        sys.executable,
        "-m",
        "nwb_ldns_cli.main",
        "fit",
        LORENZ,
        "-o",
        str(m),
        "--epochs-ae",
        "400",
        "--epochs-diffusion",
        "1",
        "--epochs-history",
        "1",
        *TINY,
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    ck = m / "checkpoints" / "autoencoder.safetensors"
    deadline = time.time() + 120
    while not ck.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ck.exists(), "no checkpoint was written before the kill"
    p = run("fit", LORENZ, "-o", m, "--epochs-ae", 400, "--epochs-diffusion", 1, "--epochs-history", 1, *TINY, ok=False)
    assert "--resume" in error_line(p)
    t0 = time.time()
    run("fit", LORENZ, "-o", m, "--epochs-ae", 400, "--epochs-diffusion", 1, "--epochs-history", 1, *TINY, "--resume")
    cfg = json.loads((m / "config.json").read_text())
    assert len(cfg["stages"]["autoencoder"]["history"]["train_loss"]) == 400
    assert not (m / "checkpoints").exists()
    assert time.time() - t0 < 600


def test_generate_compile_draws_what_eager_generate_draws(lorenz_model, tmp_path):
    from pynwb import NWBHDF5IO

    common = ["--model", lorenz_model, "--n-trials", 2, "--length", 64, "--ddim-steps", 3, "--seed", 3, "-q"]
    run("generate", *common, "-o", tmp_path / "eager.nwb")
    run("generate", *common, "--compile", "-o", tmp_path / "compiled.nwb")
    latents = []
    for name in ("eager.nwb", "compiled.nwb"):
        with NWBHDF5IO(str(tmp_path / name), "r") as io:
            latents.append(io.read().processing["misc"]["latents"].data[:])
    assert latents[0].shape == (128, 3)
    np.testing.assert_allclose(latents[1], latents[0], rtol=1e-4, atol=1e-4)


def test_fit_by_steps_within_a_time_budget(tmp_path):
    m = tmp_path / "b"
    p = run("fit", LORENZ, "-o", m, "--time-budget", "20s", *TINY)  # steps and early stopping, no epochs given
    assert "warning: only 42 training trials" in p.stderr  # 60 trials, 70 % to train
    cfg = json.loads((m / "config.json").read_text())
    assert cfg["guard"]["train_trials"] == 42 and cfg["guard"]["warnings"][0].startswith("only 42 training trials")
    unlearned = cfg["stages"]["autoencoder"]["history"]["heldout_co_bps"] <= 0  # then fit says so too
    assert len(cfg["guard"]["warnings"]) == 1 + unlearned
    # a small split is regularised more, and the fit says so and records it
    assert cfg["guard"]["adapted"] == {"autoencoder": {"dropout": 0.7}}
    assert cfg["configs"]["autoencoder"]["dropout"] == 0.7 and "regularised more" in p.stderr
    seconds = 0.0
    for stage in ("autoencoder", "diffusion", "spike_history"):
        h = cfg["stages"][stage]["history"]
        assert h["stopped"] in ("patience", "time", "steps") and h["steps"] > 0 and h["step"][-1] == h["steps"]
        seconds += h["seconds"]
    cal = cfg["stages"]["diffusion"]["history"]["sample_rate_calibration"]  # inside the diffusion stage's share
    assert 64 <= cal["trials"] <= 4 * 42 and cal["seconds"] > 0
    assert seconds + cal["seconds"] < 20
    assert len(cfg["data"]["unit_rates_hz"]) == 12


@pytest.mark.parametrize(
    "value, message", [("0", "not a positive duration"), ("soon", "not a duration"), ("-5m", "not a duration")]
)
def test_bad_time_budgets_are_refused_before_any_work(tmp_path, value, message):
    p = run("fit", LORENZ, "-o", tmp_path / "x", "--time-budget", value, *TINY, ok=False)
    assert p.returncode == 2 and message in p.stderr and not (tmp_path / "x").exists()


def test_duration_parsing():
    from nwb_ldns_cli.options import Duration

    d = Duration()
    assert [d.convert(v, None, None) for v in ("90s", "15m", "1h30m", "45", "2.5m")] == [90, 900, 5400, 45, 150]
