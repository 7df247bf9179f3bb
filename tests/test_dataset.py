"""Local NWB (HDF5 and Zarr) -> SpikeDataset: alignment, units, behaviour, splits, storage, errors."""

import numpy as np
import nwb_fixtures
import pytest

from nwb_ldns import NwbLdnsError, open_source
from nwb_ldns.config import DataSpec
from nwb_ldns.dataset import SpikeDataset, load_dataset

MAZE = DataSpec(align="move_onset_time", window_ms=(-250, 450), behavior=("hand_vel",), behavior_lag_ms=100)


def test_reader_reads_units_trials_behavior(maze_file):
    path, truth = maze_file
    with open_source(path) as rec:
        assert list(rec.unit_ids) == list(range(10))
        np.testing.assert_array_equal(rec.spike_times(3), truth["spikes"][3])
        np.testing.assert_array_equal(rec.spike_counts(), [len(s) for s in truth["spikes"]])
        assert list(rec.trials.columns[:2]) == ["start_time", "stop_time"]
        assert rec.unit_columns()["heldout"].sum() == 3
        np.testing.assert_allclose(rec.obs_intervals(1), [[0.0, truth["duration"] / 2]])
        (series,) = rec.behavior_series()
        assert (series.name, series.path, series.shape) == ("hand_vel", "processing/behavior/hand_vel", (42600, 2))
        assert series.rate == pytest.approx(1000.0)
        assert rec.provenance["content_hash"].startswith("sha256:")


def test_aligned_dataset(maze_file):
    path, truth = maze_file
    ds = load_dataset(path, MAZE)
    assert (ds.n_trials, ds.n_bins, ds.n_units) == (24, 140, 10)
    np.testing.assert_allclose(ds.ds["time"].values[[0, -1]], [-0.2475, 0.4475])
    np.testing.assert_allclose(ds.ds["window_start"].values, truth["onsets"] - 0.25)
    # counts against a direct histogram of unit 4 in trial 5
    edges = truth["onsets"][5] - 0.25 + np.arange(141) * 0.005
    want = np.histogram(truth["spikes"][4], np.append(edges, edges[-1] + 0.005))[0][:-1]
    np.testing.assert_array_equal(ds.counts[5, :, 4], want)
    np.testing.assert_array_equal(ds.split, truth["splits"])
    # behaviour: lagged 100 ms, averaged per bin, against a direct mean
    t, vel = truth["t"], truth["vel"]
    lo = truth["onsets"][2] - 0.25 + 0.1 + 60 * 0.005
    sel = (t >= lo - 1e-9) & (t < lo + 0.005 - 1e-9)
    np.testing.assert_allclose(ds.behavior("hand_vel")[2, 60], vel[sel].mean(axis=0), rtol=1e-5)
    # reach angle at move onset + lag recovers each trial's direction
    angle = ds.with_reach_angle("hand_vel").covariates()["reach_angle"].to_numpy()
    np.testing.assert_allclose(np.angle(np.exp(1j * (angle - truth["angles"]))), 0, atol=1e-4)
    cov = ds.covariates()
    assert {"move_onset_time", "maze_id"} <= set(cov.columns) and "target_pos" not in cov.columns


def test_obs_intervals_mark_missing_bins(maze_file):
    path, truth = maze_file
    ds = load_dataset(path, MAZE)
    observed = ds.ds["observed"].values
    late = ds.ds["window_start"].values > truth["duration"] / 2
    assert observed[late][:, :, 1].sum() == 0 and observed[:, :, 0].all()
    assert observed[~late][:, :, 1].all() or observed[~late][:, :, 1].mean() > 0.9


def test_heldin_units_and_empty_unit_dropped(tmp_path, caplog):
    spikes = [np.sort(np.random.default_rng(u).uniform(0, 40, 300)) for u in range(10)]
    spikes[2] = np.array([])  # a unit without spikes
    nwb, _ = nwb_fixtures.maze_layout(spikes=spikes)
    path = nwb_fixtures.write(nwb, tmp_path / "m.nwb")
    ds = load_dataset(path, DataSpec(align="move_onset_time", window_ms=(-250, 450), units="heldin"))
    assert list(ds.unit_ids) == [0, 1, 3, 4, 5, 6]
    assert "dropping 1 unit" in caplog.text


def test_whole_trials_variable_length(tmp_path):
    nwb = nwb_fixtures.base_file()
    nwb.add_unit(spike_times=np.linspace(0, 10, 1001))
    for start, stop in [(0.0, 1.0), (1.0, 1.5), (2.0, 2.0123)]:
        nwb.add_trial(start_time=start, stop_time=stop)
    ds = load_dataset(nwb_fixtures.write(nwb, tmp_path / "v.nwb"), DataSpec(bin_ms=10))
    np.testing.assert_array_equal(ds.lengths, [100, 50, 1])
    assert ds.n_bins == 100 and ds.counts[1, 50:].sum() == 0 and ds.mask().sum() == 151


def test_epochs_only_gives_segments(epochs_file):
    ds = load_dataset(epochs_file, DataSpec(segment_ms=2000))
    # 12.5 s -> 6 segments, 15 s -> 7 segments
    assert ds.n_trials == 13 and ds.n_bins == 400
    np.testing.assert_allclose(ds.ds["window_start"].values[:7], [0, 2, 4, 6, 8, 10, 15])


def test_seeded_split_is_70_10_20():
    ds = load_dataset("sim:lorenz?n_trials=100&n_neurons=4&n_bins=16", DataSpec(split_seed=3))
    assert [int((ds.split == s).sum()) for s in ("train", "val", "test")] == [70, 10, 20]
    again = load_dataset("sim:lorenz?n_trials=100&n_neurons=4&n_bins=16", DataSpec(split_seed=3))
    np.testing.assert_array_equal(ds.split, again.split)
    assert ds.select("train").n_trials == 70


def test_zarr_round_trip(maze_h5, tmp_path):
    path, _ = maze_h5
    ds = load_dataset(path, MAZE)
    out = ds.to_zarr(tmp_path / "d.zarr")
    back = SpikeDataset.from_zarr(out)
    np.testing.assert_array_equal(back.counts, ds.counts)
    np.testing.assert_array_equal(back.behavior("hand_vel"), ds.behavior("hand_vel"))
    assert back.spec == ds.spec and back.provenance == ds.provenance
    assert back.provenance["content_hash"].startswith("sha256:")
    with pytest.raises(NwbLdnsError, match="already exists"):
        ds.to_zarr(out)


def test_sim_file_equals_in_process_source(tmp_path):
    from nwb_ldns.io.simulated import lorenz_nwbfile
    from nwb_ldns.sim.lorenz import LorenzConfig, LorenzSimulation

    cfg = LorenzConfig(n_trials=12, n_neurons=6, n_bins=32, seed=5)
    path = nwb_fixtures.write(lorenz_nwbfile(LorenzSimulation(cfg)), tmp_path / "l.nwb")
    a = load_dataset(path)
    b = load_dataset("sim:lorenz?n_trials=12&n_neurons=6&n_bins=32&seed=5")
    np.testing.assert_array_equal(a.counts, b.counts)
    with open_source("sim:lorenz?n_trials=12&n_neurons=6&n_bins=32&seed=5") as rec:
        sim = rec.simulation
        np.testing.assert_array_equal(a.counts, np.stack([sim.counts(u) for u in range(6)], -1))


def test_maze_speed_drive_makes_peak_speed_a_second_strong_factor():
    from nwb_ldns import metrics as M
    from nwb_ldns.sim.maze import MazeConfig, MazeSimulation

    def decodable(**kw):  # cross-validated R^2 of the peak speed from each trial's true rates, 0-300 ms after onset
        sim = MazeSimulation(MazeConfig(n_trials=300, n_neurons=30, **kw))
        r, on = sim.rates(), np.rint(sim.onsets / sim.config.bin_s).astype(int)
        feat = np.stack([r[i, :, on[i] : on[i] + 60].mean(-1) for i in range(len(r))])
        return sim, M.cross_validated_r2(feat, sim.speed_factor)

    plain, r2_plain = decodable()
    two, r2_two = decodable(speed_jitter=0.5, speed_drive=1.0)
    assert plain.latents.shape[1] == 6 and two.latents.shape[1] == 7
    assert r2_two > 0.95 and r2_two > r2_plain + 0.1
    amp = np.abs(two.latents[:, 6]).max(1)  # the channel spans [-drive, drive] with the speed
    assert np.corrcoef(amp, np.abs(two.speed_factor - 1))[0, 1] > 0.99 and amp.max() <= 1.0 + 1e-6
    # the default simulation is the one earlier benchmarks used (mean rate measured before speed_drive existed)
    assert MazeSimulation(MazeConfig(n_trials=50)).rates().mean() == pytest.approx(0.063682936, rel=1e-6)
    with pytest.raises(NwbLdnsError, match="speed_drive"):
        load_dataset("sim:maze?n_trials=10&speed_drive=1&speed_jitter=0")


BAD = [
    # (file builder, spec, expected message)
    (nwb_fixtures.no_units, DataSpec(), "no units table"),
    (lambda: nwb_fixtures.bad_units("nan"), DataSpec(), "unit 42 has 1 NaN"),
    (
        lambda: nwb_fixtures.maze_layout()[0],
        DataSpec(align="move_onset_time", window_ms=(-900, 0)),
        "falls outside 24 of 24 trials",
    ),
    (
        lambda: nwb_fixtures.maze_layout()[0],
        DataSpec(align="go_cue_time", window_ms=(0, 100)),
        "no trials column 'go_cue_time'.*move_onset_time",
    ),
    (
        lambda: nwb_fixtures.maze_layout()[0],
        DataSpec(behavior=("eye_pos",)),
        "no behaviour time series named 'eye_pos'.*processing/behavior/hand_vel",
    ),
    (
        lambda: nwb_fixtures.maze_layout()[0],
        DataSpec(align="move_onset_time", window_ms=(0, 12), bin_ms=5),
        "not a whole number",
    ),
    (nwb_fixtures.epochs_only, DataSpec(units="heldin"), "needs a 'heldout' units column"),
]


@pytest.mark.parametrize("build,spec,message", BAD, ids=[b[2][:30] for b in BAD])
def test_bad_input_is_one_clear_error(tmp_path, backend, build, spec, message):
    path = nwb_fixtures.write(build(), tmp_path / ("f.nwb" if backend == "hdf5" else "f.nwb.zarr"))
    with pytest.raises(NwbLdnsError, match=message) as err:
        load_dataset(path, spec)
    assert "\n" not in str(err.value)


def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "broken.nwb"
    bad.write_bytes(b"\x89HDF\r\n" + b"x" * 100)
    with pytest.raises(NwbLdnsError, match="cannot open .*broken.nwb as NWB"):
        open_source(str(bad))
    with pytest.raises(NwbLdnsError, match="no such file"):
        open_source(str(tmp_path / "missing.nwb"))
    with pytest.raises(NwbLdnsError, match="unknown source scheme 'ftp'"):
        open_source("ftp:whatever")
    with pytest.raises(NwbLdnsError, match="unknown parameter 'trials'"):
        open_source("sim:lorenz?trials=3")


def test_unit_selection_compares_each_column_in_its_own_kind():
    import pandas as pd

    from nwb_ldns.unit_selection import select

    cols = pd.DataFrame(
        {
            "heldout": [True, False, False, True],
            "flag": [1.0, 0.0, 1.0, 0.0],  # a boolean stored as numbers
            "channel": [3, 12, 3, 7],
            "snr": [4.0, np.nan, 1.5, 9.0],
            "label": ["good", "mua", "good", "noise"],
        }
    )
    assert select(cols, "all").tolist() == [True] * 4
    assert select(cols, "heldin").tolist() == [False, True, True, False]
    assert select(cols, "flag=true").tolist() == select(cols, "flag=1").tolist() == [True, False, True, False]
    assert select(cols, "channel=3,7").tolist() == [True, False, True, True]
    assert select(cols, "channel!=3").tolist() == [False, True, False, True]
    assert select(cols, "snr>2").tolist() == [True, False, False, True]  # a missing metric does not pass
    assert select(cols, " label = good & snr >= 4 ").tolist() == [True, False, False, False]
    with pytest.raises(NwbLdnsError, match="column 'channel' is numeric, got three"):
        select(cols, "channel=three")
