"""What nwb-ldns promises about files, processes and signals (docs/guarantees.md), through the CLI.

Lose nothing: outputs are replaced only with --overwrite and only when nwb-ldns wrote them; a
second writer fails at once; a kill or a full disk leaves the old output as it was and no hidden
files behind; an interrupt never reports success.
"""

import hashlib
import json
import os
import resource
import signal
import subprocess
import time

import nwb_fixtures
import pytest
from helpers import ENV, MAZE_WINDOW, cli, one_line_error, run, tiny_args

LORENZ = "sim:lorenz?n_trials=40&n_neurons=8&n_bins=32"
TINY = tiny_args(batch_size=16)
EPOCHS = ["--epochs-ae", "1", "--epochs-diffusion", "1", "--epochs-history", "1"]


def digest(path) -> str:
    """A hash of a file or of a folder's files and names."""
    h = hashlib.sha256()
    paths = [path] if os.path.isfile(path) else sorted(p for p in path.rglob("*"))
    for p in paths:
        h.update(str(p.relative_to(path) if p != path else p.name).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def hidden_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("g") / "m"
    run("fit", LORENZ, "-o", d, *EPOCHS, *TINY)
    return d


# ---- 1. --overwrite replaces only what nwb-ldns wrote ---------------------------------------------------
def _users_folder(tmp_path):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "thesis.tex").write_text("years of work")
    return d


@pytest.mark.parametrize("command", ["generate", "bin", "evaluate", "fit", "encode", "simulate"])
def test_overwrite_never_deletes_a_folder_nwb_ldns_did_not_write(model, tmp_path, command):
    d = _users_folder(tmp_path)
    if command == "fit":
        (d / "config.json").write_text("{}")  # a config.json alone does not make a model dir
    before = digest(d)
    synth = tmp_path / "s.nwb"
    if command == "evaluate":
        run("generate", "--model", model, "-o", synth, "--n-trials", 4, "--ddim-steps", 2, "-q")
    args = {
        "generate": ["generate", "--model", model, "-o", d, "--n-trials", 2, "--ddim-steps", 2],
        "bin": ["bin", LORENZ, "-o", d],
        "evaluate": ["evaluate", "--real", LORENZ, "--synthetic", synth, "-o", d],
        "fit": ["fit", LORENZ, "-o", d, *EPOCHS, *TINY],
        "encode": ["encode", LORENZ, "--model", model, "-o", d],
        "simulate": ["simulate", "lorenz", "-o", d, "--n-trials", 4, "--n-neurons", 4],
    }[command]
    err = one_line_error(run(*args, "--overwrite", ok=False))
    assert "not written by nwb-ldns" in err and "not replacing it" in err
    assert digest(d) == before and (d / "thesis.tex").read_text() == "years of work"


def test_overwrite_never_replaces_another_tools_nwb_file(model, tmp_path):
    recording = nwb_fixtures.write(nwb_fixtures.maze_layout()[0], tmp_path / "recording.nwb")
    before = digest(tmp_path / "recording.nwb")
    for args in (
        ["generate", "--model", model, "--n-trials", 2, "--ddim-steps", 2],
        ["simulate", "lorenz", "--n-trials", 4, "--n-neurons", 4],
    ):
        err = one_line_error(run(*args, "-o", recording, "--overwrite", ok=False))
        assert "not an NWB file written by nwb-ldns" in err
    assert digest(tmp_path / "recording.nwb") == before


def test_overwrite_replaces_nwb_ldns_outputs_and_refuses_what_a_user_added(model, tmp_path):
    synth = tmp_path / "s.nwb"
    gen = ["generate", "--model", model, "--n-trials", 3, "--ddim-steps", 2, "-q", "-o", synth]
    run(*gen)
    run(*gen, "--seed", 1, "--overwrite")
    zsynth = tmp_path / "s.nwb.zarr"
    run(*gen[:-1], zsynth)
    run(*gen[:-1], zsynth, "--overwrite")
    run("bin", LORENZ, "-o", tmp_path / "d.zarr", "-q")
    run("bin", LORENZ, "-o", tmp_path / "d.zarr", "-q", "--overwrite")
    report = tmp_path / "report"
    ev = ["evaluate", "--real", LORENZ, "--synthetic", synth, "-o", report, "--resamples", 2, "-q"]
    run(*ev)
    run(*ev, "--overwrite")
    (report / "notes.txt").write_text("my notes")
    err = one_line_error(run(*ev, "--overwrite", ok=False))
    assert "it holds notes.txt" in err and (report / "notes.txt").exists()
    assert hidden_files(tmp_path) == []


# ---- 5. two writers of one output ---------------------------------------------------------------------
def _wait_for(pred, proc, timeout=120):
    deadline = time.time() + timeout
    while not pred() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    return pred()


def test_a_second_writer_of_the_same_output_fails_in_one_line(model, tmp_path):
    out = tmp_path / "s.nwb"
    first = subprocess.Popen(
        cli(
            "generate", "--model", model, "-o", out, "--n-trials", 100_000, "--ddim-steps", 20, "--batch-size", 64, "-q"
        ),
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert _wait_for(lambda: (tmp_path / ".nwb-ldns-lock.s.nwb").exists(), first), first.stderr.read()
        for extra in ([], ["--overwrite"]):
            second = run("generate", "--model", model, "-o", out, "--n-trials", 2, *extra, ok=False)
            err = one_line_error(second)
            assert "is being written by another nwb-ldns process" in err and f"pid {first.pid}" in err
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(60)


# ---- 6. signals: SIGTERM and SIGINT clean up, SIGKILL leftovers are removed later ------------------------
@pytest.mark.parametrize("sig,code,word", [(signal.SIGTERM, 143, "Terminated."), (signal.SIGINT, 130, "Interrupted.")])
def test_a_signal_during_generate_cleans_up_and_is_not_success(model, tmp_path, sig, code, word):
    out = tmp_path / "s.nwb"
    proc = subprocess.Popen(
        cli(
            "generate", "--model", model, "-o", out, "--n-trials", 100_000, "--ddim-steps", 20, "--batch-size", 64, "-q"
        ),
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert _wait_for(lambda: (tmp_path / ".nwb-ldns-scratch.s.nwb").exists(), proc)
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == word
    assert not out.exists() and hidden_files(tmp_path) == []


def test_sigkill_leftovers_are_removed_by_the_next_run(model, tmp_path):
    out = tmp_path / "s.nwb"
    proc = subprocess.Popen(
        cli(
            "generate", "--model", model, "-o", out, "--n-trials", 100_000, "--ddim-steps", 20, "--batch-size", 64, "-q"
        ),
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    assert _wait_for(lambda: (tmp_path / ".nwb-ldns-scratch.s.nwb").exists(), proc)
    time.sleep(0.5)
    proc.kill()
    proc.wait()
    assert ".nwb-ldns-scratch.s.nwb" in hidden_files(tmp_path)
    legacy = tmp_path / ".scratch-999999-old.nwb"  # what versions before this one left (a dead pid)
    legacy.mkdir()
    run("generate", "--model", model, "-o", tmp_path / "other.nwb", "--n-trials", 2, "--ddim-steps", 2, "-q")
    assert hidden_files(tmp_path) == [] and not out.exists()


# ---- 4. a full disk ---------------------------------------------------------------------------------------
def _file_size_limit(nbytes):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return limit


def test_a_failed_hdf5_write_ends_in_one_line_and_keeps_the_old_output(tmp_path):
    out = tmp_path / "l.nwb"
    run("simulate", "lorenz", "-o", out, "--n-trials", 4, "--n-neurons", 4)
    before = digest(out)
    for cmd in (
        ["simulate", "lorenz", "-o", out, "--n-trials", 300, "--n-neurons", 32, "--overwrite"],
        ["simulate", "lorenz", "-o", tmp_path / "new.nwb", "--n-trials", 300, "--n-neurons", 32],
    ):
        p = subprocess.run(
            cli(*cmd), capture_output=True, text=True, env=ENV, timeout=300, preexec_fn=_file_size_limit(1_000_000)
        )
        err = one_line_error(p)  # rc 1, not a segfault, no h5py tracebacks
        assert "file too large" in err and "nothing was replaced" in err
    assert digest(out) == before and not (tmp_path / "new.nwb").exists()
    assert hidden_files(tmp_path) == []


def test_a_full_disk_says_so(tmp_path):
    """ENOSPC from a real small file system, where this machine lets the tests mount one."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a small tmpfs here (the file-size-limit test covers the same path)")
    try:
        err = one_line_error(
            run("simulate", "lorenz", "-o", mnt / "l.nwb", "--n-trials", 300, "--n-neurons", 32, ok=False)
        )
        assert "no space left on device" in err and os.listdir(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


# ---- 10. fit --overwrite keeps the old model until the new one is complete ------------------------------
def test_killed_fit_overwrite_keeps_the_old_model_and_resumes_the_new_one(model, tmp_path):
    import shutil

    m = tmp_path / "m"
    shutil.copytree(model, m)
    before = digest(m)
    args = cli(
        "fit", LORENZ, "-o", m, "--epochs-ae", 400, "--epochs-diffusion", 1, "--epochs-history", 1, *TINY, "--overwrite"
    )
    proc = subprocess.Popen(args, stderr=subprocess.DEVNULL, env=ENV)
    ck = tmp_path / ".nwb-ldns-new.m" / "checkpoints" / "autoencoder.safetensors"
    assert _wait_for(ck.exists, proc)
    proc.kill()
    proc.wait()
    assert digest(m) == before  # the old model is whole
    run("generate", "--model", m, "-o", tmp_path / "s.nwb", "--n-trials", 2, "--ddim-steps", 2, "-q")
    run("fit", LORENZ, "-o", m, "--epochs-ae", 400, "--epochs-diffusion", 1, "--epochs-history", 1, *TINY, "--resume")
    cfg = json.loads((m / "config.json").read_text())
    assert len(cfg["stages"]["autoencoder"]["history"]["train_loss"]) == 400  # the new fit, continued
    assert hidden_files(tmp_path) == []


# ---- 7. options are checked before any work or any file --------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["fit", LORENZ, "--epochs-ae", "0"],
        ["fit", LORENZ, "--epochs-ae", "-1"],
        ["fit", LORENZ, "--latent-dim", "0"],
        ["fit", LORENZ, "--hidden", "0"],
        ["fit", LORENZ, "--denoiser-hidden", "0"],
        ["fit", LORENZ, "--batch-size", "0"],
        ["fit", LORENZ, "--beta", "nan"],
        ["fit", LORENZ, "--td-beta", "-1"],
        ["fit", LORENZ, "--method", "gnocchi", "--code-dim", "0"],
        ["fit", LORENZ, "--seed", "-1"],
        ["fit", LORENZ, "--time-budget", "0s"],
        ["fit", LORENZ, "--bin-ms", "0"],
        ["generate", "--ddim-steps", "0"],
        ["generate", "--length", "0"],
        ["generate", "--length", "1"],
        ["generate", "--n-trials", "0"],
        ["generate", "--batch-size", "0"],
        ["generate", "--eta", "2"],
        ["generate", "--range", "nan", "1", "--traverse", "0"],
        ["generate", "--guidance", "inf"],
        ["bin", LORENZ, "--segment-ms", "-5"],
        ["bin", LORENZ, "--window", "nan", "100"],
        ["evaluate", "--real", LORENZ, "--synthetic", "x.nwb", "--resamples", "0"],
        ["simulate", "lorenz", "--n-neurons", "0"],
    ],
)
def test_invalid_options_fail_in_one_line_before_any_file(tmp_path, args):
    (tmp_path / "x.nwb").write_text("")
    p = run(*args, "-o", tmp_path / "out", ok=False, cwd=tmp_path)
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("Error: Invalid value"), p.stderr
    assert not (tmp_path / "out").exists() and hidden_files(tmp_path) == []


# ---- 8. a fit without validation trials ---------------------------------------------------------------
def test_a_fit_without_validation_trials_validates_on_a_tenth_of_the_training_trials(tmp_path):
    p = run("fit", "sim:lorenz?n_trials=5&n_neurons=4&n_bins=32", "-o", tmp_path / "m", *EPOCHS, *TINY[:-1])
    assert "no validation trials: 1 of the 4 training trials validate instead" in p.stderr
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["data"]["n_trials"]["val"] == 1 and set(cfg["stages"]) == {"autoencoder", "diffusion", "spike_history"}
    err = one_line_error(
        run("fit", "sim:lorenz?n_trials=1&n_neurons=4&n_bins=32", "-o", tmp_path / "one", *TINY, ok=False)
    )
    assert "needs at least 2 trials" in err and not (tmp_path / "one").exists()


# ---- 9 and 11. condition files, and weights stored in an NWB file ----------------------------------------
@pytest.fixture(scope="module")
def angle_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("angle") / "m"
    run(
        "fit",
        "sim:maze?n_trials=40&n_neurons=8",
        "-o",
        d,
        *MAZE_WINDOW,
        "--condition",
        "angle",
        *EPOCHS,
        *TINY,
    )
    return d


def test_bad_condition_files_are_one_line_errors_without_numpy_warnings(angle_model, tmp_path):
    import numpy as np

    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "complex.npy", np.array([1 + 2j, 0.5j]))
    np.save(tmp_path / "huge.npy", np.array([1e300, 0.0]))
    for name, message in (
        ("empty.npy", "is empty"),
        ("complex.npy", "must be real numbers"),
        ("huge.npy", "out-of-range values"),
    ):
        p = run("generate", "--model", angle_model, "-o", tmp_path / "s.nwb", "--condition", tmp_path / name, ok=False)
        assert message in one_line_error(p), p.stderr  # one line: no RuntimeWarning, no "Aborted."
    assert not (tmp_path / "s.nwb").exists()


def test_altered_weights_in_an_nwb_file_are_refused(model, tmp_path):
    import h5py
    import numpy as np

    f = tmp_path / "s.nwb"
    run("generate", "--model", model, "-o", f, "--n-trials", 2, "--ddim-steps", 2, "--include-weights", "-q")
    run("generate", "--model", f, "-o", tmp_path / "again.nwb", "--n-trials", 2, "--ddim-steps", 2, "-q")
    with h5py.File(f, "r+") as h:
        w = h["general/ldns_model/diffusion_weights"]
        data = w[:]
        data[-100] ^= 0x10  # one bit of one float in the tensor data: safetensors would load it silently
        w[:] = data
        assert np.count_nonzero(w[:] != data) == 0
    err = one_line_error(run("generate", "--model", f, "-o", tmp_path / "bad.nwb", "--n-trials", 2, ok=False))
    assert "diffusion weights do not match their checksum" in err
    assert not (tmp_path / "bad.nwb").exists()
