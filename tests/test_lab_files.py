"""Files as other labs and tools write them: each quirk, through the CLI, from inspect to evaluate."""

import json

import numpy as np
import nwb_fixtures
from helpers import one_line_error, run, tiny_args

TINY = [*tiny_args(batch_size=16, quiet=False), "--epochs-ae", "2", "--epochs-diffusion", "1", "--epochs-history", "1"]


def lab_file(tmp_path, quirk, **kw):
    return nwb_fixtures.write(nwb_fixtures.lab_file(quirk, **kw), tmp_path / f"{quirk}.nwb")


def chain(tmp_path, source, *data_opts):
    """bin -> fit -> generate -> evaluate with the same data options; returns the metrics."""
    run("bin", source, "-o", tmp_path / "d.zarr", *data_opts, "-q")
    run("fit", source, "-o", tmp_path / "m", *data_opts, *TINY, "-q")
    run("generate", "--model", tmp_path / "m", "-o", tmp_path / "s.nwb", "--n-trials", 12, "--ddim-steps", 5, "-q")
    run(
        "evaluate",
        "--real",
        source,
        "--synthetic",
        tmp_path / "s.nwb",
        "--model",
        tmp_path / "m",
        "-o",
        tmp_path / "r",
        "--resamples",
        2,
        "--split",
        "all",
        "-q",
    )
    return json.loads((tmp_path / "r" / "metrics.json").read_text())


def test_electrode_group_and_electrodes_columns_are_carried_as_names_and_indices(tmp_path):
    from nwb_ldns.dataset import SpikeDataset

    path = lab_file(tmp_path, "electrode_group")
    s = json.loads(run("inspect", path, "--json").stdout)
    assert {"electrode_group", "electrodes"} <= set(s["unit_columns"])
    metrics = chain(tmp_path, path)
    ds = SpikeDataset.from_zarr(tmp_path / "d.zarr").ds
    assert list(ds["unit_electrode_group"].values) == ["shank0", "shank1"] * 3
    assert list(ds["unit_electrodes"].values) == [0, 1, 2, 3, 4, 5]
    assert metrics["n_units"] == 6


def test_one_unit_evaluates_with_pairwise_statistics_not_applicable(tmp_path):
    path = lab_file(tmp_path, "one_unit")
    metrics = chain(tmp_path, path)
    assert metrics["n_units"] == 1
    assert metrics["rmse_pairwise_correlation"]["mean"] is None
    assert metrics["not_applicable"] == {"rmse_pairwise_correlation": "needs two or more units"}
    assert metrics["kl_population_count"]["mean"] is not None and metrics["rmse_mean_isi"]["mean"] is not None
    html = (tmp_path / "r" / "index.html").read_text()
    assert "not applicable (needs two or more units)" in html


def test_nan_stop_times_are_named_and_the_suggested_windows_work(tmp_path):
    path = lab_file(tmp_path, "nan_stop")
    p = run("inspect", path)
    assert "Warning" not in p.stderr and "RuntimeWarning" not in p.stderr, p.stderr
    assert "stop_time is NaN in 40 of 40 trials" in p.stdout
    s = json.loads(run("inspect", path, "--json").stdout)
    assert s["suggested"] == ["--align", "start_time", "--window", "0", "1250"]
    assert s["duration_s"] > 0
    err = one_line_error(run("bin", path, "-o", tmp_path / "x.zarr", ok=False))
    assert "have no stop_time" in err and "--align start_time --window 0 1250" in err
    assert not (tmp_path / "x.zarr").exists()
    metrics = chain(tmp_path, path, *s["suggested"])
    assert metrics["n_trials"]["real"] == 40


def test_some_nan_stop_times_drop_those_trials_with_a_warning(tmp_path):
    import pynwb

    path = lab_file(tmp_path, "nan_stop")
    # make only three stop times NaN: rewrite the file with the others filled in
    with pynwb.NWBHDF5IO(path, "r") as io:
        starts = io.read().trials["start_time"][:]
    nwb = nwb_fixtures.base_file()
    nwb.add_unit(spike_times=np.sort(np.random.default_rng(0).uniform(0, 50, 500)))
    for i, t in enumerate(starts):
        nwb.add_trial(start_time=t, stop_time=np.nan if i in (3, 4, 5) else t + 1.0)
    some = nwb_fixtures.write(nwb, tmp_path / "some.nwb")
    p = run("bin", some, "-o", tmp_path / "d.zarr")
    assert "dropping 3 trial(s) with no stop_time" in p.stderr
    assert "37 trials" in p.stdout
    assert "stop_time is NaN in 3 of 40 trials" in run("inspect", some).stdout


def test_unsorted_spike_times_are_sorted_with_a_warning(tmp_path):
    from nwb_ldns.dataset import SpikeDataset

    path = lab_file(tmp_path, "unsorted")
    p = run("bin", path, "-o", tmp_path / "d.zarr")
    warnings = [line for line in p.stderr.splitlines() if "out of order" in line]
    assert warnings == ["warning: unit 3 has 21 spike time(s) out of order; sorted them"], p.stderr
    import pynwb

    # the same spikes, sorted by hand, bin to the same counts: sorting lost nothing
    with pynwb.NWBHDF5IO(path, "r") as io:
        nwb = io.read()
        spikes = [np.sort(nwb.units["spike_times"][u]) for u in range(len(nwb.units))]
        starts = nwb.trials["start_time"][:]
    fixed = nwb_fixtures.base_file()
    for t in spikes:
        fixed.add_unit(spike_times=t)
    for t in starts:
        fixed.add_trial(start_time=t, stop_time=t + 1.0)
    ref = nwb_fixtures.write(fixed, tmp_path / "fixed.nwb")
    run("bin", ref, "-o", tmp_path / "ref.zarr", "-q")
    a, b = SpikeDataset.from_zarr(tmp_path / "d.zarr"), SpikeDataset.from_zarr(tmp_path / "ref.zarr")
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.counts.sum() > 0
    (tmp_path / "chain").mkdir()
    assert chain(tmp_path / "chain", path)["n_units"] == 6


def test_nan_spike_times_are_named_by_inspect_and_refused_by_bin(tmp_path):
    path = lab_file(tmp_path, "nan_spike")
    problem = "NaN or infinite spike times in 1 unit(s) (2)"
    summary = json.loads(run("inspect", path, "--json", "-q").stdout)
    assert summary["problems"] == [f"{problem}: fit and bin refuse them"], summary["problems"]
    # the rest of the summary stays usable: rates and duration from the finite times
    assert np.isfinite(summary["duration_s"]) and 40 < summary["duration_s"] < 60
    assert 0 < summary["rate_hz"]["min"] <= summary["rate_hz"]["max"] < 50
    assert f"problem     {problem}" in run("inspect", path).stdout
    p = run("bin", path, "-o", tmp_path / "nan_spike.zarr", ok=False)
    assert one_line_error(p) == "Error: unit 2 has 1 NaN or infinite spike times"
    assert not (tmp_path / "nan_spike.zarr").exists()


def test_negative_times_are_a_time_base_binned_as_the_same_file_shifted(tmp_path):
    # times relative to a reference after the recording began (a task's start) are negative before it
    from nwb_ldns.dataset import SpikeDataset

    path, plain = lab_file(tmp_path, "negative"), lab_file(tmp_path, "plain")
    summary = json.loads(run("inspect", path, "--json", "-q").stdout)
    assert summary["problems"] == [] and 40 < summary["duration_s"] < 60
    run("bin", path, "-o", tmp_path / "d.zarr", "-q")
    run("bin", plain, "-o", tmp_path / "ref.zarr", "-q")
    a, b = SpikeDataset.from_zarr(tmp_path / "d.zarr"), SpikeDataset.from_zarr(tmp_path / "ref.zarr")
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.counts.sum() > 1000
    np.testing.assert_allclose(a.ds["start_time"].values, b.ds["start_time"].values - 20.0)
    (tmp_path / "chain").mkdir()
    assert chain(tmp_path / "chain", path)["n_units"] == 6
    # latents written back keep the recording's clock, so they line up with its trials
    run("encode", path, "--model", tmp_path / "chain" / "m", "-o", tmp_path / "lat.nwb", "-q")
    import pynwb

    with pynwb.NWBHDF5IO(tmp_path / "lat.nwb", "r") as io:
        nwb = io.read()
        np.testing.assert_allclose(nwb.trials["start_time"][:], a.ds["start_time"].values)
        assert nwb.processing["misc"]["latents"].timestamps[0] < 0


def test_spike_times_in_ms_against_trials_in_s_are_named_before_fitting_empty_windows(tmp_path):
    path = lab_file(tmp_path, "ms_spikes")
    p = run("bin", path, "-o", tmp_path / "d.zarr")
    (line,) = [x for x in p.stderr.splitlines() if "windows hold" in x]
    assert line.startswith("warning: the windows hold 0.") and "(ms vs s)" in line, line
    span = float(line.split("the spikes span ")[1].split(" s")[0])
    assert 4.5e4 < span < 5.1e4, line  # the 51 s recording read as ms
    # the file of the same spikes in seconds holds nearly all of them in its trials, without a warning
    assert "windows hold" not in run("bin", lab_file(tmp_path, "plain"), "-o", tmp_path / "ok.zarr").stderr


def test_a_stray_spike_time_far_out_stops_binning_before_it_allocates(tmp_path):
    # without trials, fixed segments tile the spikes' span: 1e12 s of 1 s segments is 2 PiB of counts
    path = lab_file(tmp_path, "stray_spike")
    summary = json.loads(run("inspect", path, "--json", "-q").stdout)
    assert summary["duration_s"] > 1e11  # inspect shows the span that gives it away
    p = run("bin", path, "-o", tmp_path / "d.zarr", "--segment-ms", 1000, ok=False)
    err = one_line_error(p)
    assert err.startswith("Error: binning 999,999,999,999 windows of 200 bins x 6 units"), err
    assert "GiB are available" in err and "nwb-ldns inspect" in err
    assert not (tmp_path / "d.zarr").exists()


def test_a_trial_far_longer_than_the_others_stops_whole_trial_mode_with_the_fix(tmp_path):
    # padded to it, every trial would be 60 s long: memory and time 60x, before any warning
    path = lab_file(tmp_path, "long_trial")
    problem = (
        "1 trial(s) are over 10x the median trial (1 s): 39 (60 s); whole trials are padded to the longest, "
        "so fix their stop_time, use another --trials-table, or bin fixed windows, e.g. "
        "--align start_time --window 0 1000"
    )
    assert json.loads(run("inspect", path, "--json", "-q").stdout)["problems"] == [problem]
    for command in (("bin", path, "-o", tmp_path / "d.zarr"), ("fit", path, "-o", tmp_path / "m", *TINY)):
        assert one_line_error(run(*command, ok=False)) == f"Error: {problem}"
    assert not (tmp_path / "d.zarr").exists() and not (tmp_path / "m").exists()
    run("bin", path, "-o", tmp_path / "d.zarr", "--align", "start_time", "--window", "0", "1000", "-q")
    from nwb_ldns.dataset import SpikeDataset

    assert SpikeDataset.from_zarr(tmp_path / "d.zarr").counts.shape[0] == 40


def test_other_interval_tables_are_listed_and_usable_as_trials(tmp_path):
    from nwb_ldns.dataset import SpikeDataset

    path = lab_file(tmp_path, "intervals")
    s = json.loads(run("inspect", path, "--json").stdout)
    tables = {t["name"]: t for t in s["interval_tables"]}
    assert tables["encoding_table"]["n_rows"] == 20 and "stimulus_id" in tables["encoding_table"]["columns"]
    assert tables["recognition_table"]["n_rows"] == 20
    assert s["suggested"][:2] == ["--trials-table", "encoding_table"]
    text = run("inspect", path).stdout
    assert "encoding_table 20 (start_time, stop_time, stimulus_id)" in text
    err = one_line_error(run("bin", path, "-o", tmp_path / "x.zarr", "--trials-table", "nope", ok=False))
    assert "no interval table 'nope'" in err and "encoding_table, recognition_table" in err
    metrics = chain(tmp_path, path, "--trials-table", "recognition_table")
    ds = SpikeDataset.from_zarr(tmp_path / "d.zarr")
    assert ds.n_trials == 20 and "stimulus_id" in ds.covariates().columns
    assert ds.spec.trials_table == "recognition_table"
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["data"]["spec"]["trials_table"] == "recognition_table"  # encode and evaluate bin alike
    assert metrics["n_trials"]["real"] == 20
    run("encode", path, "--model", tmp_path / "m", "-o", tmp_path / "e.nwb", "-q")
    import pynwb

    with pynwb.NWBHDF5IO(str(tmp_path / "e.nwb"), "r") as io:
        assert len(io.read().trials) == 20


def test_si_nwb_sorting_without_resolution_reads_with_a_warning(tmp_path):
    path = lab_file(tmp_path, "no_resolution")
    p = run("inspect", f"si:{path}")
    assert "has no resolution" in p.stderr and "plain path" in p.stderr
    plain = json.loads(run("inspect", path, "--json").stdout)
    via_si = json.loads(run("inspect", f"si:{path}", "--json").stdout)
    assert via_si["total_spikes"] == plain["total_spikes"]
    metrics = chain(tmp_path, f"si:{path}")  # a sorting has no trials: 1 s segments
    assert metrics["n_units"] == 6 and metrics["n_trials"]["real"] == 50


def test_long_behaviour_names_do_not_run_into_their_shape(tmp_path):
    path = lab_file(tmp_path, "long_behavior")
    text = run("inspect", path).stdout
    assert "lick_right_times1016" not in text
    line = next(x for x in text.splitlines() if "lick_left_times_from_the_camera" in x)
    assert line.split()[:2] == ["lick_left_times_from_the_camera", "1016"]


def test_inspect_and_fit_say_how_many_training_trials_and_steps(tmp_path):
    path = lab_file(tmp_path, "long_behavior")
    s = json.loads(run("inspect", path, "--json").stdout)
    assert s["fit_plan"]["train_trials"] == 28 and s["fit_plan"]["small"]
    assert s["fit_plan"]["presets"]["quick"]["autoencoder"]["steps"] == 1500
    assert "28 training trials" in run("inspect", path).stdout
    p = run("fit", path, "-o", tmp_path / "m", *TINY)
    assert "28 training and 4 validation trials" in p.stderr
    run("generate", "--model", tmp_path / "m", "-o", tmp_path / "s.nwb", "--n-trials", 8, "--ddim-steps", 5, "-q")
    run("evaluate", "--real", path, "--synthetic", tmp_path / "s.nwb", "-o", tmp_path / "r", "--resamples", 2, "-q")


def test_sorter_labels_are_listed_and_units_are_selected_by_any_column(tmp_path):
    from nwb_ldns.dataset import SpikeDataset

    path = lab_file(tmp_path, "sorter_labels")
    s = json.loads(run("inspect", path, "--json", "-q").stdout)
    assert s["unit_values"] == {"quality": {"good": 3, "noise": 2, "mua": 1}}  # presence_ratio: all distinct
    assert s["suggested"][-2:] == ["--units", "quality!=noise"], s["suggested"]
    assert "quality   good 3, noise 2, mua 1" in run("inspect", path).stdout
    # binning every unit says which are labelled noise, and how to leave them out
    p = run("bin", path, "-o", tmp_path / "all.zarr")
    assert "2 of 6 units are labelled noise in the units column 'quality'" in p.stderr
    assert "--units quality!=noise leaves them out" in p.stderr
    # the suggestion, through the whole chain: noise clusters are neither modelled nor scored
    metrics = chain(tmp_path, path, "--units", "quality!=noise")
    assert metrics["n_units"] == 4
    ds = SpikeDataset.from_zarr(tmp_path / "d.zarr").ds
    assert list(ds["unit"].values) == [0, 1, 2, 4] and "noise" not in set(ds["unit_quality"].values)
    # conditions joined by &, a numeric threshold on a quality metric
    run("bin", path, "-o", tmp_path / "g.zarr", "--units", "quality=good & presence_ratio>=0.96", "-q")
    assert list(SpikeDataset.from_zarr(tmp_path / "g.zarr").ds["unit"].values) == [0, 4]
    run("bin", path, "-o", tmp_path / "gm.zarr", "--units", "quality=good,mua", "-q")
    assert SpikeDataset.from_zarr(tmp_path / "gm.zarr").n_units == 4
    # mistakes are named in one line, with what the file has, and write nothing
    for selection, message in [
        ("quality=god", "no unit has quality=god; the values of 'quality': good (3), noise (2), mua (1)"),
        ("KSLabel=good", "needs a 'KSLabel' units column; units columns: quality, presence_ratio"),
        ("quality>=1", "column 'quality' holds text, so >= cannot compare it"),
        ("presence_ratio>=high", "needs a number, got 'high'"),
        ("good", "units must be all, heldin or COLUMN=VALUE"),
        ("presence_ratio>1", "has no units selected by --units 'presence_ratio>1' to model (of 6)"),
    ]:
        p = run("bin", path, "-o", tmp_path / "bad.zarr", "--units", selection, ok=False)
        assert message in one_line_error(p), (selection, p.stderr)
        assert not (tmp_path / "bad.zarr").exists()


def test_units_tables_in_processing_modules_are_found_and_chosen_by_name(tmp_path):
    from nwb_ldns.dataset import SpikeDataset

    # NeuroConv writes a sorting to processing/ecephys: the one table there is read as the units
    path = lab_file(tmp_path, "processing_units")
    s = json.loads(run("inspect", path, "--json", "-q").stdout)
    assert s["units_tables"] == {"processing/ecephys/kilosort": 6} and s["n_units"] == 6
    assert "table     processing/ecephys/kilosort" in run("inspect", path, "-q").stdout
    metrics = chain(tmp_path, path)
    assert metrics["n_units"] == 6
    assert list(SpikeDataset.from_zarr(tmp_path / "d.zarr").ds["unit"].values) == [100, 101, 102, 103, 104, 105]

    # two sortings and no /units: inspect shows the first and names both; binning asks which
    two = lab_file(tmp_path, "two_sortings")
    s = json.loads(run("inspect", two, "--json", "-q").stdout)
    assert s["units_tables"] == {"processing/ecephys/kilosort": 6, "processing/ecephys/curated": 3}
    assert s["suggested"][:2] == ["--units-table", "processing/ecephys/kilosort"]
    assert "others    processing/ecephys/curated (3 units)" in run("inspect", two, "-q").stdout
    err = one_line_error(run("bin", two, "-o", tmp_path / "x.zarr", ok=False))
    assert (
        "has no /units but 2 units tables: processing/ecephys/curated (3 units), processing/ecephys/kilosort (6" in err
    )
    assert "--units-table" in err and not (tmp_path / "x.zarr").exists()
    err = one_line_error(run("bin", two, "-o", tmp_path / "x.zarr", "--units-table", "sorted", ok=False))
    assert "no units table 'sorted'" in err and "processing/ecephys/curated (3 units)" in err
    # by name or by path; the choice is saved with the model, so evaluate reads the same table
    run("bin", two, "-o", tmp_path / "c.zarr", "--units-table", "curated", "-q")
    assert list(SpikeDataset.from_zarr(tmp_path / "c.zarr").ds["unit"].values) == [100, 102, 104]
    metrics = chain(tmp_path / "c", two, "--units-table", "processing/ecephys/curated")
    assert metrics["n_units"] == 3
    # a source with one set of units has nothing to choose from
    plain = lab_file(tmp_path, "plain")
    err = one_line_error(
        run("bin", "sim:lorenz?n_trials=20", "-o", tmp_path / "y.zarr", "--units-table", "x", ok=False)
    )
    assert "has one set of units" in err
    run("bin", plain, "-o", tmp_path / "p.zarr", "--units-table", "units", "-q")


def test_repeated_unit_ids_keep_their_order_and_never_match_the_wrong_unit(tmp_path):
    import pytest

    from nwb_ldns import NwbLdnsError
    from nwb_ldns.dataset import SpikeDataset
    from nwb_ldns.encode import select_units

    path = lab_file(tmp_path, "duplicate_ids")
    metrics = chain(tmp_path, path)  # the same units in the same order: every command pairs them as binned
    assert metrics["n_units"] == 6
    run("encode", path, "--model", tmp_path / "m", "-o", tmp_path / "e.nwb", "-q")
    data = SpikeDataset.from_zarr(tmp_path / "d.zarr")
    assert list(data.ds["unit"].values) == [0, 1, 2, 0, 1, 2]
    # ids of another order or subset cannot say which unit 0 they mean: an error, not the last unit 0
    with pytest.raises(NwbLdnsError, match=r"unit ids repeat in the source \(ids 0, 1, 2\).*its own id"):
        select_units(data, [2, 0, 1, 2])


def test_trials_of_different_lengths_are_generated_and_scored_at_their_own_lengths(tmp_path):
    import pynwb

    from nwb_ldns.dataset import load_dataset

    path = lab_file(tmp_path, "variable_length")
    assert "whole trials of different lengths" in run("inspect", path).stdout
    metrics = chain(tmp_path, path)
    real, syn = load_dataset(str(path)), load_dataset(str(tmp_path / "s.nwb"))
    # each synthetic trial is as long as a training trial, drawn from them
    assert set(syn.lengths.tolist()) <= set(real.select("train").lengths.tolist()) and len(set(syn.lengths)) > 1
    assert pynwb.validate(path=str(tmp_path / "s.nwb")) == []
    with pynwb.NWBHDF5IO(str(tmp_path / "s.nwb"), "r") as io:
        f = io.read()
        trials = f.trials.to_dataframe()
        spikes = np.concatenate([f.units.get_unit_spike_times(i) for i in range(len(f.units))])
        rates = f.processing["misc"]["rates"]
        assert len(rates.data) == int(syn.lengths.sum())  # the bins inside the trials, no padding
    assert np.allclose(trials.stop_time - trials.start_time, syn.lengths * real.bin_s)
    inside = (spikes[:, None] > trials.start_time.values) & (spikes[:, None] < trials.stop_time.values)
    assert inside.any(1).all()  # no spike past a trial's end
    # scored over the bins inside the trials: padding counted as silence made the synthetic rates
    # 1.5x the real ones, and the autoencoder's ceiling drew spikes into it
    assert 0.8 < metrics["rate_ratio"]["median"] < 1.25
    # the memorization audit compares the bins every trial has: a synthetic trial drawn at a training
    # trial's exact length looked closer to the training set by its padding alone (a 300-trial
    # recording was flagged, 11 % close, and 6 % once compared over the shared bins)
    assert metrics["memorization"]["compared_bins"] == min(real.lengths.min(), syn.lengths.min())
    assert metrics["limiting_stage"]["ratios"]["kl_population_count"]["ceiling_x_floor"] < 10


def test_a_text_trials_column_conditions_the_model_one_hot(tmp_path):
    import pynwb

    path = lab_file(tmp_path, "trial_types", n_trials=60)
    s = json.loads(run("inspect", path, "--json", "-q").stdout)
    assert s["trial_labels"] == {"trial_type": {"left": 20, "right": 20, "catch": 20}}
    out = run("inspect", path).stdout
    assert "labels    trial_type: left 20, right 20, catch 20 (--condition trial_type conditions on them)" in out
    assert "whole trials, all 1 s long" in out
    run("fit", path, "-o", tmp_path / "m", "--condition", "trial_type", *TINY, "-q")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["condition"]["kind"] == "category" and cfg["condition"]["categories"] == ["catch", "left", "right"]
    labels = np.array(["left"] * 6 + ["catch"] * 4)
    np.save(tmp_path / "labels.npy", labels)
    syn = tmp_path / "s.nwb"
    run(
        "generate",
        "--model",
        tmp_path / "m",
        "-o",
        syn,
        "--condition",
        tmp_path / "labels.npy",
        "--ddim-steps",
        5,
        "-q",
    )
    with pynwb.NWBHDF5IO(str(syn), "r") as io:
        assert list(io.read().trials["trial_type"][:]) == labels.tolist()  # each trial names its label
    assert pynwb.validate(path=str(syn)) == []
    args = ["--real", path, "--synthetic", syn, "--model", tmp_path / "m", "--resamples", 2, "--split", "all", "-q"]
    run("evaluate", *args, "-o", tmp_path / "r")
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert np.isfinite(metrics["psth_r2"]["mean"])  # PSTHs compared label by label
    # labels the model never saw, and a wrong shape, are named in one line before anything is written
    for bad, message in [
        (
            np.array(["up", "left"]),
            "has label(s) 'up' that no training trial has; the model knows 'catch', 'left', 'right'",
        ),
        (np.array([["left"]]), "must be shaped (n_trials,)"),
    ]:
        np.save(tmp_path / "bad.npy", bad)
        p = run(
            "generate",
            "--model",
            tmp_path / "m",
            "-o",
            tmp_path / "b.nwb",
            "--condition",
            tmp_path / "bad.npy",
            ok=False,
        )
        assert message in one_line_error(p) and not (tmp_path / "b.nwb").exists()
