"""si: sources: a SpikeInterface sorting saved to a folder, read through SpikeInterface's own loader."""

import numpy as np
import pytest
from helpers import one_line_error, run

from nwb_ldns import NwbLdnsError, open_source
from nwb_ldns.config import DataSpec
from nwb_ldns.dataset import load_dataset


@pytest.fixture(scope="module")
def sorting_folder(tmp_path_factory):
    import spikeinterface.core as sc

    sorting = sc.generate_sorting(num_units=5, durations=[20.0], sampling_frequency=30000.0, firing_rates=15.0, seed=0)
    folder = tmp_path_factory.mktemp("si") / "sorting"
    sorting.save(folder=folder)
    return folder, sorting


def test_saved_sorting_folder(sorting_folder):
    folder, sorting = sorting_folder
    with open_source(f"si:{folder}") as rec:
        assert list(rec.unit_ids) == list(sorting.get_unit_ids())
        uid = sorting.get_unit_ids()[2]
        np.testing.assert_allclose(rec.spike_times(2), sorting.get_unit_spike_train(uid) / 30000.0)
        np.testing.assert_array_equal(
            rec.spike_counts(), [len(sorting.get_unit_spike_train(u)) for u in sorting.get_unit_ids()]
        )
        assert rec.trials is None
        assert rec.provenance["content_hash"].startswith("sha256:")
    ds = load_dataset(f"si:{folder}", DataSpec(segment_ms=1000))
    assert ds.n_bins == 200 and 18 <= ds.n_trials <= 20 and ds.n_units == 5


def test_not_a_sorting(tmp_path):
    (tmp_path / "junk").mkdir()
    with pytest.raises(NwbLdnsError, match="SpikeInterface cannot load"):
        open_source(f"si:{tmp_path / 'junk'}")
    with pytest.raises(NwbLdnsError, match="no such sorting"):
        open_source(f"si:{tmp_path / 'nothing'}")


# ---- untrusted sorting folders: nothing read from them runs code ----------------------------------------
def _copy(folder, dest):
    import shutil

    shutil.copytree(folder, dest)
    return dest


def test_si_folder_json_naming_a_foreign_class_is_refused(sorting_folder, tmp_path):
    import json

    folder = _copy(sorting_folder[0], tmp_path / "evil")
    marker = tmp_path / "ran"
    meta = json.loads((folder / "si_folder.json").read_text())
    meta["class"] = "subprocess.Popen"
    meta["kwargs"] = {"args": ["touch", str(marker)]}
    (folder / "si_folder.json").write_text(json.dumps(meta))
    err = one_line_error(run("inspect", f"si:{folder}", ok=False))
    assert "names subprocess.Popen, which is not a SpikeInterface extractor" in err
    assert not marker.exists()


def test_pickles_are_refused_unless_allowed(sorting_folder, tmp_path):
    import pickle

    folder = _copy(sorting_folder[0], tmp_path / "pkl")
    np.save(folder / "properties" / "quality.npy", np.array([{"a": 1}] * 5, dtype=object), allow_pickle=True)
    err = one_line_error(run("inspect", f"si:{folder}", ok=False))
    assert "properties/quality.npy" in err and "pickled data" in err and "--allow-pickle" in err
    assert run("inspect", f"si:{folder}", "--allow-pickle").returncode == 0

    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    cached = _copy(sorting_folder[0], tmp_path / "cached")
    (cached / "si_folder.json").unlink()
    (cached / "cached.pkl").write_bytes(pickle.dumps(Evil()))
    err = one_line_error(run("bin", f"si:{cached}", "-o", tmp_path / "d.zarr", ok=False))
    assert "cached.pkl" in err and not (tmp_path / "ran").exists() and not (tmp_path / "d.zarr").exists()


def _phy_folder(path, params):
    path.mkdir()
    rng = np.random.default_rng(0)
    frames = np.sort(rng.integers(0, 30000 * 20, 3000)).astype(np.uint64)
    np.save(path / "spike_times.npy", frames)
    np.save(path / "spike_clusters.npy", rng.integers(0, 4, frames.size).astype(np.int32))
    (path / "params.py").write_text(params)
    (path / "cluster_group.tsv").write_text("cluster_id\tgroup\n" + "".join(f"{i}\tgood\n" for i in range(4)))
    return path


def test_phy_params_are_read_as_literals_never_run(tmp_path):
    good = _phy_folder(
        tmp_path / "phy",
        "dat_path = 'raw.dat'\nn_channels_dat = 4\ndtype = 'int16'\n"
        "offset = 0\nsample_rate = 30000.\nhp_filtered = False\n",
    )
    with open_source(f"si:{good}") as rec:
        assert len(rec.unit_ids) == 4 and rec.spike_counts().sum() == 3000
    marker = tmp_path / "ran"
    evil = _phy_folder(tmp_path / "evil", f"import os\nos.system('touch {marker}')\nsample_rate = 30000.\n")
    err = one_line_error(run("inspect", f"si:{evil}", ok=False))
    assert "params.py" in err and "line 1 is not an assignment of a literal value" in err
    assert not marker.exists()
    sneaky = _phy_folder(tmp_path / "sneaky", f"sample_rate = __import__('os').system('touch {marker}')\n")
    assert "params.py" in one_line_error(run("inspect", f"si:{sneaky}", ok=False))
    assert not marker.exists()


def test_a_crafted_pickle_in_an_nwb_zarr_file_does_not_run(tmp_path):
    """hdmf-zarr stores object references with the pickle codec; decoding never builds other objects."""
    import os
    import pickle

    import nwb_fixtures
    import zarr

    path = nwb_fixtures.write(nwb_fixtures.lab_file("electrode_group"), tmp_path / "eg.nwb.zarr")
    p = run("bin", path, "-o", tmp_path / "ok.zarr", "-q")
    assert p.returncode == 0, p.stderr  # the genuine references decode (to the groups' names)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    arr = zarr.open(str(tmp_path / "eg.nwb.zarr" / "units" / "electrode_group"), mode="r+")
    payload = pickle.dumps(np.array([Evil()] * arr.shape[0], dtype=object), protocol=5)
    arr.store[arr._chunk_key((0,))] = arr.compressor.encode(payload)
    env_unsafe = {"NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE": "1"}  # as if an older numcodecs decoded pickles
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-m", "nwb_ldns_cli.main", "bin", path, "-o", tmp_path / "bad.zarr"],
        capture_output=True,
        text=True,
        env={**os.environ, **env_unsafe},
        timeout=300,
    )
    assert p.returncode == 1 and "pickled code" in p.stderr, p.stderr
    assert not marker.exists()


def test_missing_zarr_chunks_of_required_arrays_are_errors(tmp_path):
    import shutil

    import nwb_fixtures

    path = nwb_fixtures.write(nwb_fixtures.maze_layout()[0], tmp_path / "m.nwb.zarr")
    for array, what in (
        ("units/spike_times", "units/spike_times"),
        ("intervals/trials/start_time", "trials/start_time"),
    ):
        broken = tmp_path / f"broken-{what.replace('/', '-')}.nwb.zarr"
        shutil.copytree(path, broken)
        (broken / array / "0").unlink()
        for cmd in (["bin", broken, "-o", tmp_path / "x.zarr"], ["fit", broken, "-o", tmp_path / "xm"]):
            err = one_line_error(run(*cmd, ok=False))
            assert f"{what} is incomplete: 1 of its 1 Zarr chunks are missing" in err
        assert not (tmp_path / "x.zarr").exists() and not (tmp_path / "xm").exists()
