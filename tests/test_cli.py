"""The command line end to end, through subprocess, on real files."""

import json

import nwb_fixtures
import pytest
from helpers import MAZE_VELOCITY, run

SMALL_LORENZ = "sim:lorenz?n_trials=20&n_neurons=8&n_bins=64"


def test_inspect_json_on_sim():
    s = json.loads(run("inspect", SMALL_LORENZ, "--json").stdout)
    assert s["n_units"] == 8 and s["n_trials"] == 20 and s["trial_columns"] == ["start_time", "stop_time"]
    assert s["behavior"] == ["lorenz_latents"] and s["duration_s"] == pytest.approx(20 * 64 * 0.005)


def test_inspect_maze_and_epochs_layouts(maze_h5, tmp_path):
    path, _ = maze_h5
    s = json.loads(run("inspect", path, "--json").stdout)
    assert (s["n_units"], s["n_trials"], s["n_heldout"]) == (10, 24, 3)
    assert s["behavior"] == ["hand_vel"] and s["splits"] == {"train": 18, "val": 6}
    assert s["suggested"][:5] == ["--align", "move_onset_time", "--window", "-250", "450"]
    assert "target_pos" in s["trial_columns"]
    epochs = nwb_fixtures.write(nwb_fixtures.epochs_only(), tmp_path / "e.nwb")
    e = json.loads(run("inspect", epochs, "--json").stdout)
    assert e["n_trials"] == 0 and e["n_epochs"] == 2 and "--segment-ms" in e["suggested"]
    assert "MC_Maze" in run("inspect", path).stdout


def test_simulate_writes_a_file_dandi_accepts(tmp_path):
    from nwbinspector import Importance, inspect_nwbfile, load_config
    from pynwb import validate

    out = tmp_path / "lorenz.nwb"
    run("simulate", "lorenz", "-o", out, "--n-trials", 30, "--n-neurons", 16)
    issues = list(inspect_nwbfile(nwbfile_path=str(out), config=load_config("dandi")))
    above = [i for i in issues if i.importance.value > Importance.BEST_PRACTICE_SUGGESTION.value]
    assert not above, [f"{i.check_function_name}: {i.message}" for i in above]
    assert validate(path=str(out)) == []  # pynwb 4 returns the list of schema errors
    s = json.loads(run("inspect", out, "--json").stdout)
    assert s["n_units"] == 16 and s["n_trials"] == 30 and s["session"]["subject"]["sex"] == "U"
    again = run("simulate", "lorenz", "-o", out, "--n-trials", 30, ok=False)
    assert again.returncode == 1 and "already exists; pass --overwrite" in again.stderr


def test_bin_writes_a_dataset(maze_h5, tmp_path):
    from nwb_ldns.dataset import SpikeDataset

    path, _ = maze_h5
    out = tmp_path / "maze.zarr"
    run(
        "bin",
        path,
        "-o",
        out,
        *MAZE_VELOCITY,
        "--units",
        "heldin",
        "-q",
    )
    ds = SpikeDataset.from_zarr(out)
    assert (ds.n_trials, ds.n_bins, ds.n_units) == (24, 140, 7)
    assert ds.behavior("hand_vel").shape == (24, 140, 2)


@pytest.mark.parametrize(
    "args,message",
    [
        (["inspect", "missing.nwb"], "no such file"),
        (["inspect", "sim:nothing"], "unknown simulation 'nothing'"),
        (["bin", SMALL_LORENZ, "-o", "x.zarr", "--align", "go", "--window", 0, 100], "no trials column 'go'"),
        (["bin", SMALL_LORENZ, "-o", "x.zarr", "--behavior", "hand_vel"], "no behaviour time series named 'hand_vel'"),
        (["bin", SMALL_LORENZ, "-o", "x.zarr", "--align", "start_time"], "needs --window"),
    ],
)
def test_errors_are_one_line(tmp_path, args, message):
    out = run(*args, ok=False, cwd=tmp_path)
    assert not (tmp_path / "x.zarr").exists()
    assert out.returncode == 1
    assert out.stderr.startswith("Error: ") and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_help_has_examples():
    for cmd in (["--help"], ["inspect", "--help"], ["bin", "--help"], ["simulate", "lorenz", "--help"]):
        assert "Example" in run(*cmd).stdout


def test_library_errors_name_arguments_and_the_cli_names_flags(tmp_path):
    from nwb_ldns_cli.options import as_flags

    from nwb_ldns import NwbLdnsError
    from nwb_ldns.config import DataSpec

    with pytest.raises(NwbLdnsError, match="`segment_ms` must be positive"):
        DataSpec(segment_ms=-1.0)
    assert as_flags("`n_trials` 5 but `codes` 3; `window_ms` and `stages` autoencoder") == (
        "--n-trials 5 but --code 3; --window and --stage autoencoder"
    )
    assert as_flags("fit one with `nwb-ldns fit SOURCE -o m`") == "fit one with `nwb-ldns fit SOURCE -o m`"
    p = run("bin", SMALL_LORENZ, "-o", tmp_path / "d.zarr", "--align", "start_time", "--window", 10, 5, ok=False)
    assert "--window stop must be after start" in p.stderr and "`" not in p.stderr
