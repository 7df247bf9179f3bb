"""NWB outputs of `generate` and `encode`: the ndx-ldns spec, HDF5/Zarr round trips, the real
validators (pynwb, NWB Inspector, SpikeInterface, dandi organize/validate), reading without the
extension, open_latents, embedded weights and atomic writes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import nwb_fixtures
import pytest
import torch
from helpers import error_line, run, tiny, venv_python

from nwb_ldns import artifacts
from nwb_ldns.config import DataSpec
from nwb_ldns.dataset import load_dataset
from nwb_ldns.encode import encode_source
from nwb_ldns.errors import NwbLdnsError
from nwb_ldns.fit import fit
from nwb_ldns.generate import generate, generate_to_file
from nwb_ldns.io.encoded import encoded_nwbfile
from nwb_ldns.io.nwbfile import open_latents, open_nwb, write_nwbfile
from nwb_ldns.io.synthetic import synthetic_nwbfile

torch.set_num_threads(1)
EXT = Path(__file__).resolve().parents[1] / "extensions" / "ndx-ldns"
TINY = tiny()
SPEC = DataSpec(align="move_onset_time", window_ms=(-250.0, 450.0), behavior=("hand_vel",), behavior_lag_ms=100.0)
SUFFIX = {"hdf5": ".nwb", "zarr": ".nwb.zarr"}


@pytest.fixture(scope="module")
def maze(tmp_path_factory):
    """A velocity-conditioned model fitted on an MC_Maze-layout file (subject M1, Macaca mulatta)."""
    d = tmp_path_factory.mktemp("outputs")
    path = nwb_fixtures.write(nwb_fixtures.maze_layout()[0], d / "maze.nwb")
    fit(
        load_dataset(path, SPEC),
        d / "model",
        preset="quick",
        condition="velocity",
        overrides=TINY,
        progress=False,
        device="cpu",
    )
    model = artifacts.load_model(d / "model", require=("autoencoder", "diffusion"))
    velocity = np.random.default_rng(0).normal(size=(3, 140, 2)).astype(np.float32) * 100
    return {"dir": d, "file": path, "model_dir": d / "model", "model": model, "velocity": velocity}


@pytest.fixture(scope="module")
def cli_outputs(maze):
    """generate and encode through the command line, HDF5 and Zarr."""
    d, out = maze["dir"], {}
    np.save(d / "v.npy", maze["velocity"])
    for backend, suffix in SUFFIX.items():
        out[f"gen-{backend}"] = d / f"synth{suffix}"
        run(
            "generate",
            "--model",
            maze["model_dir"],
            "-o",
            out[f"gen-{backend}"],
            "--condition",
            d / "v.npy",
            "--seed",
            3,
            "-q",
        )
        out[f"enc-{backend}"] = d / f"enc{suffix}"
        run("encode", maze["file"], "--model", maze["model_dir"], "-o", out[f"enc-{backend}"], "--device", "cpu", "-q")
    return out


# ---- the extension ----------------------------------------------------------------------------------
def test_spec_generator_reproduces_the_committed_yaml(tmp_path):
    sys.path.insert(0, str(EXT / "src" / "spec"))
    try:
        import create_extension_spec
    finally:
        sys.path.pop(0)
    create_extension_spec.main(tmp_path)
    for name in ("ndx-ldns.namespace.yaml", "ndx-ldns.extensions.yaml"):
        assert (tmp_path / name).read_text() == (EXT / "spec" / name).read_text(), (
            f"re-run create_extension_spec.py ({name})"
        )


def _validate_spec(spec_dir):
    import pynwb

    schema = Path(pynwb.__file__).parent / "nwb-schema" / "nwb.schema.json"
    script = Path(sys.executable).parent / "validate_hdmf_spec"  # hdmf's console script
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "hdmf.testing.validate_spec"]
    return subprocess.run([*cmd, str(spec_dir), "-m", str(schema)], capture_output=True, text=True, timeout=120)


def test_spec_validates_offline_against_the_bundled_nwb_schema(tmp_path):
    p = _validate_spec(EXT / "spec")
    assert p.returncode == 0, p.stdout + p.stderr
    broken = tmp_path / "spec"
    shutil.copytree(EXT / "spec", broken)
    ext = broken / "ndx-ldns.extensions.yaml"
    ext.write_text(ext.read_text().replace("dtype: float64", "dtype: float65", 1))
    assert _validate_spec(broken).returncode != 0  # the validator does catch a bad spec


def test_ndx_ldns_types_are_the_specs():
    import ndx_ldns

    assert ndx_ldns.TrialAlignedSeries.__mro__[1].__name__ == "TimeSeries"
    assert ndx_ldns.LdnsModelMetadata.__mro__[1].__name__ == "LabMetaData"
    assert ndx_ldns.SPEC_PATH.name == "ndx-ldns.namespace.yaml"


# ---- round trips --------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["hdf5", "zarr"])
def test_generated_file_round_trip(maze, tmp_path, backend):
    m, v = maze["model"], maze["velocity"]
    syn = generate(m, condition=v, seed=1)
    nwb = synthetic_nwbfile(m, syn, subject={"age": "P9Y"})
    path = write_nwbfile(nwb, tmp_path / f"s{SUFFIX[backend]}", compression="gzip")  # lossless
    n, N, L = syn.counts.shape
    with open_nwb(path) as io:
        nwb = io.read()
        assert (nwb.subject.subject_id, nwb.subject.species, nwb.subject.age) == ("M1", "Macaca mulatta", "P9Y")
        assert len(nwb.units) == N and nwb.units.resolution == pytest.approx(1 / 30000)
        edges = np.arange(n * L + 1) * syn.bin_s
        for u in range(N):
            times = nwb.units.get_unit_spike_times(u)
            assert np.all(np.diff(times) >= 0)
            assert np.array_equal(np.histogram(times, bins=edges)[0], syn.counts[:, u].ravel())
        np.testing.assert_allclose(nwb.units["obs_intervals"][0], [[0.0, n * L * syn.bin_s]])
        trials = nwb.trials.to_dataframe()
        assert trials["synthetic"].all() and len(trials) == n
        # the alignment column of the training data: first bin 250 ms before it
        np.testing.assert_allclose(trials["move_onset_time"] - trials["start_time"], 0.25)
        np.testing.assert_allclose(nwb.processing["behavior"]["hand_vel"].data[:], v.reshape(-1, 2))
        assert nwb.processing["behavior"]["hand_vel"].unit == "mm/s"  # the source's unit
        lat = nwb.processing["misc"]["latents"]
        np.testing.assert_array_equal(lat.data[:], syn.latents.transpose(0, 2, 1).reshape(-1, syn.latents.shape[1]))
        assert lat.bin_width_in_milliseconds == 5.0 and lat.milliseconds_from_event_to_first_bin == pytest.approx(-250)
        assert list(lat.bins_per_trial[:]) == [L] * n and lat.rate == pytest.approx(200.0)
        np.testing.assert_allclose(
            nwb.processing["misc"]["rates"].data[:],
            (syn.rates / syn.bin_s).transpose(0, 2, 1).reshape(-1, N),
            rtol=1e-6,
        )
        meta = nwb.lab_meta_data["ldns_model"]
        expected = {k: v for k, v in m.info.items() if k != "stages"}
        assert json.loads(meta.config) == json.loads(json.dumps(expected))
        assert set(json.loads(meta.training_history)) == {"autoencoder", "diffusion", "spike_history"}
        assert meta.training_data.source_uri == str(maze["file"]) and meta.training_data.content_hash.startswith(
            "sha256:"
        )
        assert meta.autoencoder_weights is None  # only with include_weights
        gen = nwb.lab_meta_data["ldns_generation"]
        assert (gen.seed, gen.observation_model, gen.condition_kind, gen.condition_name) == (
            1,
            "poisson",
            "velocity",
            "hand_vel",
        )
        assert gen.model.object_id == meta.object_id and gen.condition_series.name == "hand_vel"

    ds = open_latents(path)
    assert ds["latents"].shape == (n, L, m.latent_dim) and ds["rates"].shape == (n, L, N)
    np.testing.assert_array_equal(ds["latents"].values, syn.latents.transpose(0, 2, 1))
    np.testing.assert_allclose(ds["time"].values, -0.25 + (np.arange(L) + 0.5) * 0.005)
    np.testing.assert_allclose(ds["behavior_hand_vel"].values, v)
    assert ds.attrs["kind"] == "generated" and ds["synthetic"].values.all()
    # unit ids keep their type from the source (integers for an NWB units table), as `bin` gives them
    assert list(ds["unit"].values) == m.data["unit_ids"] and ds["unit"].dtype.kind == "i"


@pytest.mark.parametrize("backend", ["hdf5", "zarr"])
def test_a_streamed_file_holds_what_generate_returns(maze, tmp_path, backend, monkeypatch):
    from nwb_ldns.io import store

    monkeypatch.setattr(store, "CHUNK_BYTES", 256)  # many pieces: spike trains split within and across units
    m, v = maze["model"], maze["velocity"]
    syn = generate(m, condition=v, seed=4, batch_size=2)
    path = tmp_path / f"big{SUFFIX[backend]}"
    _, n, L, N = generate_to_file(m, path, condition=v, seed=4, batch_size=2)  # several batches through scratch files
    assert (n, L, N) == (syn.n_trials, syn.n_bins, syn.counts.shape[1]) and n > 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # the scratch folder is gone
    with open_nwb(path) as io:
        nwb = io.read()
        edges = np.arange(n * L + 1) * syn.bin_s
        for u in range(N):
            times = nwb.units.get_unit_spike_times(u)
            assert np.all(np.diff(times) >= 0)
            assert np.array_equal(np.histogram(times, bins=edges)[0], syn.counts[:, u].ravel())
        assert list(nwb.units["source_unit_id"][:]) == m.data["unit_ids"]
        # the default compression (compact) keeps 8 significant bits of rates and latents
        latents = syn.latents.transpose(0, 2, 1).reshape(n * L, -1)
        np.testing.assert_allclose(nwb.processing["misc"]["latents"].data[:], latents, rtol=2**-9, atol=0)
        rates_streamed = nwb.processing["misc"]["rates"].data[:]
        rates = syn.rates.transpose(0, 2, 1).reshape(n * L, N) / syn.bin_s
        np.testing.assert_allclose(rates_streamed, rates, rtol=2**-9 + 1e-6, atol=0)
        np.testing.assert_allclose(nwb.processing["behavior"][m.condition.name].data[:], v.reshape(n * L, -1))
        assert len(nwb.trials) == n
        streamed = [nwb.units.get_unit_spike_times(u) for u in range(N)]
    if backend == "hdf5":
        import pynwb

        assert pynwb.validate(path=str(path)) == []
    # one writer: the trials held in memory give the same file, spike times included
    in_memory = write_nwbfile(synthetic_nwbfile(m, syn), tmp_path / f"mem{SUFFIX[backend]}")
    with open_nwb(in_memory) as io:
        nwb = io.read()
        for u in range(N):
            np.testing.assert_array_equal(nwb.units.get_unit_spike_times(u), streamed[u])
        np.testing.assert_array_equal(nwb.processing["misc"]["rates"].data[:], rates_streamed)


def test_a_failed_streamed_generation_leaves_nothing(maze, tmp_path, monkeypatch):
    from nwb_ldns.io import store

    def broken(self, *a):
        raise OSError("disk full")

    monkeypatch.setattr(store.SyntheticStore, "add", broken)
    with pytest.raises(OSError, match="disk full"):
        generate_to_file(maze["model"], tmp_path / "s.nwb", condition=maze["velocity"], seed=0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("backend", ["hdf5", "zarr"])
def test_encoded_file_round_trip(maze, tmp_path, backend):
    m = maze["model"]
    truth = nwb_fixtures.maze_layout()[1]
    enc = encode_source(m, maze["file"])
    path = write_nwbfile(encoded_nwbfile(m, enc), tmp_path / f"e{SUFFIX[backend]}", compression="gzip")  # lossless
    n, D, L = enc.latents.shape
    assert n == 24 and L == 140
    with open_nwb(path) as io:
        nwb = io.read()
        assert nwb.subject.subject_id == "M1" and nwb.session_start_time == nwb_fixtures.T0
        trials = nwb.trials.to_dataframe()
        np.testing.assert_allclose(trials["start_time"], truth["starts"])
        np.testing.assert_allclose(trials["move_onset_time"], truth["onsets"])
        assert list(trials["split"]) == list(truth["splits"]) and list(trials["maze_id"]) == [i % 4 for i in range(24)]
        assert "target_pos" not in trials  # ragged columns are not copied
        lat = nwb.processing["misc"]["latents"]
        np.testing.assert_allclose(lat.event_timestamps[:], truth["onsets"])
        # trials have gaps between them: explicit timestamps, bin starts on the source's clock
        first = truth["onsets"] - 0.25
        np.testing.assert_allclose(lat.timestamps[:], (first[:, None] + np.arange(L) * 0.005).ravel())
        np.testing.assert_array_equal(lat.data[:], enc.latents.transpose(0, 2, 1).reshape(-1, D))
        assert list(lat.trials.data[:]) == list(range(24))
        enc_meta = nwb.lab_meta_data["ldns_encoding"]
        assert enc_meta.source.source_uri == str(maze["file"])
        assert json.loads(enc_meta.source.data_spec)["align"] == "move_onset_time"
        assert enc_meta.model.object_id == nwb.lab_meta_data["ldns_model"].object_id

    ds = open_latents(path)
    assert ds["latents"].shape == (24, 140, D) and ds.attrs["kind"] == "encoded"
    np.testing.assert_array_equal(ds["latents"].values, enc.latents.transpose(0, 2, 1))
    np.testing.assert_allclose(ds["rates"].values, enc.rates.transpose(0, 2, 1) / 0.005, rtol=1e-6)
    np.testing.assert_allclose(ds["event_time"].values, truth["onsets"])


def test_open_latents_reads_the_same_from_hdf5_and_zarr(cli_outputs):
    for kind in ("gen", "enc"):
        a, b = open_latents(cli_outputs[f"{kind}-hdf5"]), open_latents(cli_outputs[f"{kind}-zarr"])
        np.testing.assert_array_equal(a["latents"].values, b["latents"].values)
        np.testing.assert_array_equal(a["rates"].values, b["rates"].values)
        assert a.attrs["model_config"] == b.attrs["model_config"]


def test_open_latents_on_a_file_that_is_not_ours(maze):
    with pytest.raises(NwbLdnsError, match="no processing/misc/latents"):
        open_latents(maze["file"])


# ---- the ecosystem's validators ----------------------------------------------------------------------
def test_outputs_pass_pynwb_validation_and_the_inspector(cli_outputs):
    import pynwb
    from nwbinspector import Importance, inspect_nwbfile, load_config

    for kind in ("gen-hdf5", "enc-hdf5"):  # the inspector does not read Zarr
        path = str(cli_outputs[kind])
        assert pynwb.validate(path=path) == [], kind
        issues = list(inspect_nwbfile(nwbfile_path=path, config=load_config("dandi")))
        above = [i for i in issues if i.importance.value > Importance.BEST_PRACTICE_SUGGESTION.value]
        assert not above, [f"{kind} {i.check_function_name}: {i.message}" for i in above]


def test_spikeinterface_reads_the_synthetic_units(cli_outputs):
    from pynwb import NWBHDF5IO
    from spikeinterface.extractors import read_nwb_sorting

    path = str(cli_outputs["gen-hdf5"])
    sorting = read_nwb_sorting(path)
    assert sorting.get_num_units() == 10 and sorting.get_sampling_frequency() == pytest.approx(30000)
    with NWBHDF5IO(path, "r") as io:
        units = io.read().units
        for i in (0, 7):
            uid = sorting.get_unit_ids()[i]
            frames = sorting.get_unit_spike_train(uid)
            np.testing.assert_allclose(frames / 30000, units.get_unit_spike_times(i), atol=1 / 30000)


#: opens files as someone without nwb-ldns would: latents' type and shape, its trials, the model's method
READ_WITHOUT_EXTENSION = """
import sys, json
sys.modules["ndx_ldns"] = None  # import ndx_ldns now raises ImportError
sys.modules["nwb_ldns"] = None
from pynwb import NWBHDF5IO
from hdmf_zarr import NWBZarrIO
out = {}
for path in sys.argv[1:]:
    io = (NWBZarrIO if path.endswith(".zarr") else NWBHDF5IO)(path, mode="r")
    f = io.read()
    lat = f.processing["misc"]["latents"]
    method = json.loads(f.lab_meta_data["ldns_model"].config)["method"]
    out[path] = [type(lat).__name__, list(lat.data.shape), method, lat.trials.data[:].tolist(), len(f.trials)]
    io.close()
print(json.dumps(out))
"""

#: the oldest versions pyproject.toml allows
MINIMUM_READERS = ("pynwb==3.0.0", "hdmf==4.0.0", "hdmf-zarr==0.11.0")


@pytest.mark.parametrize("python", ["this", "minimum"])
def test_files_open_with_pynwb_when_ndx_ldns_cannot_be_imported(cli_outputs, python):
    """Here with ndx_ldns blocked, and with the declared minimum pynwb/hdmf/hdmf-zarr in a venv of their own."""
    exe = sys.executable if python == "this" else venv_python(*MINIMUM_READERS)
    paths = [str(p) for p in cli_outputs.values()]
    p = subprocess.run([exe, "-c", READ_WITHOUT_EXTENSION, *paths], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    for path in paths:
        name, shape, method, rows, n_trials = got[path]
        assert name == "TrialAlignedSeries" and method == "ldns"
        assert shape[1] == 3  # latent_dim
        assert rows == list(range(n_trials))


#: NWB Widgets 0.11.3 needs hdmf 3 (it imports hdmf.utils.call_docval_func), so pynwb 2.8.3 at newest;
#: ipyvolume imports ipython_genutils without declaring it
WIDGETS = ("nwbwidgets==0.11.3", "pynwb==2.8.3", "hdmf==3.14.6", "ipython_genutils")

#: builds NWB Widgets' view of the file, its units, trials and series, every tab of every view selected
BUILD_WIDGETS = """
import sys, json, warnings
warnings.simplefilter("ignore")
import ipywidgets
from nwbwidgets import nwb2widget
from pynwb import NWBHDF5IO

def select_every_tab(widget):
    n = 1
    if isinstance(widget, ipywidgets.Tab):
        for i in range(len(widget.children)):
            widget.selected_index = i  # nwbwidgets builds a tab's view when it is selected
    for child in getattr(widget, "children", ()):
        if isinstance(child, ipywidgets.Widget):
            n += select_every_tab(child)
    return n

out = {}
for path in sys.argv[1:]:
    with NWBHDF5IO(path, "r", load_namespaces=True) as io:
        f = io.read()
        misc = f.processing["misc"]
        nodes = {"file": f, "trials": f.trials, "latents": misc["latents"], "rates": misc["rates"]}
        if f.units is not None:
            nodes["units"] = f.units
        out[path] = {k: [type(nwb2widget(v)).__name__, select_every_tab(nwb2widget(v))] for k, v in nodes.items()}
print(json.dumps(out))
"""


def test_nwb_widgets_build_views_of_synthetic_and_encoded_files(cli_outputs):
    exe = venv_python(*WIDGETS)
    paths = [str(cli_outputs["gen-hdf5"]), str(cli_outputs["enc-hdf5"])]
    p = subprocess.run([exe, "-c", BUILD_WIDGETS, *paths], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert set(got[paths[0]]) == {"file", "trials", "latents", "rates", "units"}
    assert set(got[paths[1]]) == {"file", "trials", "latents", "rates"}  # encoded files hold no spikes
    for views in got.values():
        assert all(n_widgets > 1 for _, n_widgets in views.values()), views


def test_dandi_organize_and_validate_accept_generated_and_encoded_files(cli_outputs, tmp_path):
    env = {**os.environ, "DANDI_NO_ET": "1"}
    ds = tmp_path / "dandiset"
    ds.mkdir()
    (ds / "dandiset.yaml").write_text("identifier: DANDI:000000\nname: nwb-ldns test\ndescription: synthetic trials\n")
    files = [tmp_path / "synth.nwb", tmp_path / "latents.nwb"]
    shutil.copy(cli_outputs["gen-hdf5"], files[0])
    shutil.copy(cli_outputs["enc-hdf5"], files[1])
    dandi = [str(Path(sys.executable).parent / "dandi")]  # the dandi client's console script
    p = subprocess.run(
        [*dandi, "organize", "-f", "dry", "-d", str(ds), *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    # same subject, told apart by session id
    assert "-> sub-M1/sub-M1_ses-ldns-synthetic-seed3.nwb" in p.stdout, p.stdout
    assert "-> sub-M1/sub-M1_ses-s1-ldns-encoded.nwb" in p.stdout, p.stdout
    assert not list((ds).glob("sub-*"))  # dry: nothing done
    p = subprocess.run(
        [*dandi, "organize", "-f", "copy", "-d", str(ds), *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    assert len(list((ds / "sub-M1").glob("*.nwb"))) == 2
    p = subprocess.run([*dandi, "validate", str(ds)], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0 and "No errors found" in p.stdout + p.stderr, p.stdout + p.stderr


# ---- encode: other recordings, errors --------------------------------------------------------------------
def test_encode_another_recording_with_the_same_units(maze, tmp_path):
    other = nwb_fixtures.write(nwb_fixtures.maze_layout(n_trials=10, seed=5)[0], tmp_path / "other.nwb")
    enc = encode_source(maze["model"], other)
    assert enc.latents.shape[:1] == (10,) and np.isfinite(enc.latents).all()
    fewer = nwb_fixtures.write(nwb_fixtures.maze_layout(n_units=8)[0], tmp_path / "fewer.nwb")
    with pytest.raises(NwbLdnsError, match="lacks 2 of them"):
        encode_source(maze["model"], fewer)
    p = run("encode", fewer, "--model", maze["model_dir"], "-o", tmp_path / "e.nwb", ok=False)
    assert "lacks 2 of them (ids 8, 9): use a recording with the same units" in error_line(p)
    assert not (tmp_path / "e.nwb").exists()


def test_encode_refuses_to_replace_an_output(cli_outputs, maze):
    before = cli_outputs["enc-hdf5"].read_bytes()
    p = run("encode", maze["file"], "--model", maze["model_dir"], "-o", cli_outputs["enc-hdf5"], ok=False)
    assert "already exists" in error_line(p)
    assert cli_outputs["enc-hdf5"].read_bytes() == before


# ---- weights in the file ---------------------------------------------------------------------------------
def test_a_file_with_weights_loads_as_the_model(maze, tmp_path):
    m, v = maze["model"], maze["velocity"]
    path = write_nwbfile(
        synthetic_nwbfile(m, generate(m, condition=v, seed=0), include_weights=True), tmp_path / "w.nwb"
    )
    again = artifacts.load_model(path, require=("autoencoder", "diffusion"))
    a, b = generate(m, condition=v, seed=9), generate(again, condition=v, seed=9)
    np.testing.assert_array_equal(a.latents, b.latents)
    np.testing.assert_array_equal(a.counts, b.counts)
    bare = write_nwbfile(synthetic_nwbfile(m, generate(m, condition=v, seed=0)), tmp_path / "bare.nwb")
    with pytest.raises(NwbLdnsError, match="holds no weights"):
        artifacts.load_model(bare)
    with pytest.raises(NwbLdnsError, match="no ldns_model"):
        artifacts.load_model(maze["file"])


# ---- atomic writes ----------------------------------------------------------------------------------------
def _fail_after(n_calls):
    calls = {"n": 0}

    def hook(original):
        def wrapped(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] > n_calls:
                raise RuntimeError("injected failure")
            return original(*args, **kwargs)

        return wrapped

    return hook


@pytest.mark.parametrize("backend", ["hdf5", "zarr"])
@pytest.mark.parametrize("where", ["mid-write", "after-write"])
def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(maze, tmp_path, monkeypatch, backend, where):
    import hdmf.backends.hdf5.h5tools as h5tools
    import hdmf_zarr.backend as zarr_backend
    from hdmf_zarr import NWBZarrIO
    from pynwb import NWBHDF5IO

    m = maze["model"]
    syn = generate(m, condition=maze["velocity"][:1], seed=0)
    target = tmp_path / f"s{SUFFIX[backend]}"
    write_nwbfile(synthetic_nwbfile(m, syn), target)
    before = sorted(p.name for p in tmp_path.iterdir())
    snapshot = {p: p.read_bytes() for p in ([target] if target.is_file() else target.rglob("*")) if p.is_file()}

    if where == "mid-write":  # some datasets are on disk when it fails
        cls = h5tools.HDF5IO if backend == "hdf5" else zarr_backend.ZarrIO
        monkeypatch.setattr(cls, "write_dataset", _fail_after(5)(cls.write_dataset))
    else:  # the whole file is written, then the write call fails
        cls = NWBHDF5IO if backend == "hdf5" else NWBZarrIO
        original = cls.write

        def write_then_fail(self, *args, **kwargs):
            original(self, *args, **kwargs)
            raise RuntimeError("injected failure")

        monkeypatch.setattr(cls, "write", write_then_fail)

    with pytest.raises(NwbLdnsError, match="injected failure"):
        write_nwbfile(synthetic_nwbfile(m, syn), target, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary file left
    assert all(p.read_bytes() == data for p, data in snapshot.items())  # the old output is untouched
    fresh = tmp_path / f"new{SUFFIX[backend]}"
    with pytest.raises(NwbLdnsError, match="injected failure"):
        write_nwbfile(synthetic_nwbfile(m, syn), fresh)
    assert not fresh.exists() and sorted(p.name for p in tmp_path.iterdir()) == before


def test_cpu_pieces_give_what_one_pass_gives(maze, monkeypatch):
    """On a CPU the denoiser and the encoder run in pieces of CPU_MICRO_BATCH trials: the same draw."""
    from nwb_ldns import fitted as model_mod

    m, v = maze["model"], maze["velocity"]
    out = {}
    for piece in (1000, 1):
        monkeypatch.setattr(model_mod, "CPU_MICRO_BATCH", piece)
        syn = generate(m, condition=v, seed=4, batch_size=3, guidance=2.0)  # guided: a doubled batch per piece
        out[piece] = (syn.latents, m.encode(syn.counts.astype(np.float32))[0])
    np.testing.assert_allclose(out[1][0], out[1000][0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out[1][1], out[1000][1], rtol=1e-4, atol=1e-5)


def test_pynapple_reads_every_synthetic_trial_with_its_columns(maze, tmp_path):
    import warnings

    import pynapple as nap

    m, v = maze["model"], np.tile(maze["velocity"], (8, 1, 1))  # 24 trials: 6 would overlap by float rounding
    path, n, L, N = generate_to_file(m, tmp_path / "s.nwb", condition=v, seed=1, batch_size=8, steps=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = nap.load_file(str(path))
        trials, units = data["trials"], data["units"]
    assert not [w for w in caught if "Joining" in str(w.message) or "dropping metadata" in str(w.message)]
    assert len(trials) == n and {"synthetic", "move_onset_time"} <= set(trials.metadata_columns)
    assert len(units) == N and sum(len(units[u]) for u in units.keys()) > 0


@pytest.mark.parametrize("backend", ["hdf5", "zarr"])
def test_large_datasets_are_compressed_unless_asked_not_to(maze, tmp_path, backend):
    """gzip is lossless; compact (the default) keeps rates within 0.2% and every spike on its frame."""
    import pynwb

    # enough trials that the spike times pass the compression floor at the data's own rates
    m, v = maze["model"], np.tile(maze["velocity"], (48, 1, 1))
    sizes, values = {}, {}
    for compression in ("compact", "gzip", "none"):
        path = tmp_path / f"{compression}{SUFFIX[backend]}"
        generate_to_file(m, path, condition=v, seed=1, steps=2, compression=compression)
        if backend == "hdf5":
            import h5py

            with h5py.File(path, "r") as f:
                rates, times = f["processing/misc/rates/data"], f["units/spike_times"]
                assert rates.nbytes >= 64 * 1024 and times.nbytes >= 64 * 1024
                assert (rates.compression, rates.shuffle) == (
                    ("gzip", True) if compression != "none" else (None, False)
                )
                assert times.compression == ("gzip" if compression != "none" else None)
                assert f["units/spike_times_index"].compression is None  # small datasets stay plain
            sizes[compression] = path.stat().st_size
            assert pynwb.validate(path=str(path)) == []
            # the Inspector's compression check, its 50 MB floor lowered to this file's sizes
            from nwbinspector import available_checks

            check = next(c for c in available_checks if c.__name__ == "check_small_dataset_compression")
            with pynwb.NWBHDF5IO(str(path), "r") as io:
                said = [check(o, mb_lower_bound=0.05) for o in io.read().objects.values()]
            assert any(said) == (compression == "none"), said
        else:
            import zarr

            rates = zarr.open_group(str(path), mode="r")["processing/misc/rates/data"]
            codec = rates.compressor
            if compression != "none":
                assert (codec.codec_id, codec.cname, codec.clevel) == ("blosc", "zstd", 5)
            sizes[compression] = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        with open_nwb(path) as io:
            f = io.read()
            values[compression] = (f.processing["misc"]["rates"].data[:], f.units["spike_times"].target.data[:])
    (rates, times), (exact_rates, exact_times) = values["compact"], values["none"]
    np.testing.assert_array_equal(values["gzip"][0], exact_rates)
    np.testing.assert_array_equal(values["gzip"][1], exact_times)
    assert not np.array_equal(rates, exact_rates)  # rounded ...
    np.testing.assert_allclose(rates, exact_rates, rtol=2**-9, atol=0)  # ... to 8 significant bits
    assert np.abs(times - exact_times).max() <= 1 / 30000 / 20
    np.testing.assert_array_equal(np.round(times * 30000), np.round(exact_times * 30000))
    assert sizes["compact"] < sizes["gzip"] < sizes["none"]
