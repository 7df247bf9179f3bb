"""NWB files built in code for the tests (never downloaded)."""

from __future__ import annotations

import datetime

import numpy as np
from pynwb import NWBFile, TimeSeries
from pynwb.file import Subject

T0 = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)


def base_file(**kw) -> NWBFile:
    nwb = NWBFile(
        session_description="test session", identifier="test-id", session_start_time=T0, session_id="s1", **kw
    )
    nwb.subject = Subject(subject_id="M1", species="Macaca mulatta", sex="M", age="P8Y")
    return nwb


def maze_layout(n_trials: int = 24, n_units: int = 10, seed: int = 0, spikes=None) -> tuple[NWBFile, dict]:
    """A small file laid out like MC_Maze (DANDI 000128): heldout units, obs_intervals, electrodes,
    1 kHz hand_vel with explicit timestamps, text split, ragged target_pos, move_onset_time.

    Returns the NWBFile and the ground truth used to build it.
    """
    rng = np.random.default_rng(seed)
    nwb = base_file()
    device = nwb.create_device(name="array", description="Utah array")
    group = nwb.create_electrode_group(name="M1", description="motor cortex", location="M1", device=device)
    for _ in range(n_units):
        nwb.add_electrode(group=group, location="M1")
    trial_s, iti = 1.5, 0.2
    starts = 1.0 + np.arange(n_trials) * (trial_s + iti)
    duration = starts[-1] + trial_s + 1.0
    angles = rng.uniform(-np.pi, np.pi, n_trials)
    onsets = starts + 0.5 + rng.uniform(0, 0.1, n_trials)

    # hand velocity: a bell-shaped reach along each trial's angle, 1 kHz, explicit timestamps
    t = np.arange(0, duration, 1e-3)
    vel = np.zeros((t.size, 2))
    for a, on in zip(angles, onsets):
        bump = 300.0 * np.exp(-0.5 * ((t - on - 0.2) / 0.08) ** 2)
        vel += bump[:, None] * np.array([np.cos(a), np.sin(a)])
    beh = nwb.create_processing_module("behavior", "hand kinematics")
    beh.add(TimeSeries(name="hand_vel", description="hand velocity", data=vel, unit="mm/s", timestamps=t))

    nwb.add_unit_column(name="heldout", description="held out in NLB")
    truth_spikes = []
    for u in range(n_units):
        if spikes is not None:
            st = np.asarray(spikes[u], dtype=float)
        else:
            st = np.sort(rng.uniform(0, duration, rng.integers(200, 600)))
        truth_spikes.append(st)
        obs = [[0.0, duration]] if u != 1 else [[0.0, duration / 2]]
        nwb.add_unit(spike_times=st, obs_intervals=obs, electrodes=[u], heldout=(u >= n_units - 3))
    nwb.units.resolution = 1.0 / 30000

    nwb.add_trial_column(name="move_onset_time", description="movement onset")
    nwb.add_trial_column(name="split", description="NLB split")
    nwb.add_trial_column(name="maze_id", description="maze")
    nwb.add_trial_column(name="target_pos", description="target positions", index=True)
    splits = ["train"] * (n_trials - 6) + ["val"] * 6
    for i in range(n_trials):
        targets = [[float(np.cos(angles[i])), float(np.sin(angles[i]))]] * (1 + i % 3)
        nwb.add_trial(
            start_time=starts[i],
            stop_time=starts[i] + trial_s,
            move_onset_time=onsets[i],
            split=splits[i],
            maze_id=i % 4,
            target_pos=targets,
        )
    truth = {
        "spikes": truth_spikes,
        "starts": starts,
        "stops": starts + trial_s,
        "onsets": onsets,
        "angles": angles,
        "t": t,
        "vel": vel,
        "duration": duration,
        "splits": np.array(splits),
    }
    return nwb, truth


def epochs_only(n_units: int = 4, seed: int = 1) -> NWBFile:
    rng = np.random.default_rng(seed)
    nwb = base_file()
    for _ in range(n_units):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0, 30, 300)))
    nwb.units.resolution = 1.0 / 30000
    nwb.add_epoch(start_time=0.0, stop_time=12.5, tags=["baseline"])
    nwb.add_epoch(start_time=15.0, stop_time=30.0, tags=["task"])
    return nwb


def no_units() -> NWBFile:
    nwb = base_file()
    nwb.add_trial(start_time=0.0, stop_time=1.0)
    return nwb


def bad_units(kind: str) -> NWBFile:
    nwb = base_file()
    good = np.linspace(0.1, 9.9, 50)
    bad = {
        "unsorted": np.array([0.5, 0.4, 0.6]),
        "nan": np.array([0.5, np.nan, 0.6]),
    }[kind]
    nwb.add_unit(spike_times=good, id=7)
    nwb.add_unit(spike_times=bad, id=42)
    nwb.add_trial(start_time=0.0, stop_time=10.0)
    return nwb


def write(nwbfile: NWBFile, path) -> str:
    """Write with pynwb / hdmf-zarr directly, as another lab's tool would (no nwb-ldns stamp)."""
    if str(path).endswith(".zarr"):
        from hdmf_zarr import NWBZarrIO

        with NWBZarrIO(str(path), mode="w") as io:
            io.write(nwbfile)
    else:
        from pynwb import NWBHDF5IO

        with NWBHDF5IO(str(path), mode="w") as io:
            io.write(nwbfile)
    return str(path)


TRIAL_TYPES = ("left", "right", "catch")


def lab_file(quirk: str, n_trials: int = 40, n_units: int = 6, seed: int = 3) -> NWBFile:
    """A small file with one quirk seen in files written by other labs and tools.

    ``electrode_group``: units carry ``electrode_group`` references and a ragged ``electrodes``
    column; ``one_unit``: a single unit; ``nan_stop``: every trial's ``stop_time`` is NaN;
    ``unsorted``: unit 3 has 21 spike times out of order; ``intervals``: no trials table, but
    ``encoding_table`` and ``recognition_table`` interval tables; ``no_resolution``: the units
    table has no ``resolution``; ``long_behavior``: behaviour series with long names;
    ``nan_spike``: unit 2's spike times end in a NaN (a converter's padding); ``negative``: every
    time (spikes and trials) is 20 s earlier, so most are negative (times relative to a reference
    after the recording began, such as a task's start); ``ms_spikes``: spike times in milliseconds,
    trials in seconds (a converter's unit slip); ``stray_spike``: no trials table, and unit 0 has
    one spike time at 1e12 s (a corrupt value); ``long_trial``: the last trial's
    ``stop_time`` is 60 s after its start (a rest block, or a stop time at the session's end);
    ``sorter_labels``: Phy-style ``quality`` labels (good, mua, noise) and a ``presence_ratio``
    quality metric on the units, as a converted Kilosort/Phy sorting has them;
    ``processing_units``: no ``/units``, but the units in ``processing/ecephys/kilosort`` (ids from
    100), where NeuroConv writes a sorting; ``two_sortings``: also ``processing/ecephys/curated``,
    every other unit of the first; ``duplicate_ids``: unit ids 0, 1, 2, 0, 1, 2 (two probes'
    cluster ids merged into one table); ``variable_length``: each trial as long as it took, 0.3 to
    1 s (most trials tables); ``trial_types``: a text trials column ``trial_type`` (left, right,
    catch) that units 0-2 fire more on left trials for.
    """
    rng = np.random.default_rng(seed)
    nwb = base_file()
    trial_s, iti = 1.0, 0.25
    starts = 0.5 + np.arange(n_trials) * (trial_s + iti)
    duration = float(starts[-1] + trial_s + 0.5)
    shift = -20.0 if quirk == "negative" else 0.0
    n_units = 1 if quirk == "one_unit" else n_units
    if quirk == "electrode_group":
        device = nwb.create_device(name="probe")
        groups = [
            nwb.create_electrode_group(name=f"shank{g}", description="shank", location="ALM", device=device)
            for g in range(2)
        ]
        for u in range(n_units):
            nwb.add_electrode(group=groups[u % 2], location="ALM")
    labels = ["good", "good", "mua", "noise", "good", "noise"]
    presence = [0.99, 0.95, 0.8, 0.4, 0.97, 0.5]
    if quirk == "sorter_labels":
        nwb.add_unit_column(name="quality", description="Phy curation label")
        nwb.add_unit_column(name="presence_ratio", description="fraction of the session with spikes")
    trains = []
    for u in range(n_units):
        # rates that follow the trial structure, so a model has something to learn
        t = np.sort(rng.uniform(0, duration, int(rng.integers(400, 900))))
        phase = np.mod(t - 0.5, trial_s + iti) / trial_s
        keep = rng.uniform(size=t.size) < 0.3 + 0.7 * np.exp(-0.5 * ((phase - 0.3 - 0.1 * u) / 0.15) ** 2)
        t = t[keep]
        if quirk == "unsorted" and u == 3:
            idx = rng.choice(np.arange(2, t.size - 1, 3), 21, replace=False)  # apart, so 21 pairs are out of order
            t[idx], t[idx - 1] = t[idx - 1].copy(), t[idx].copy()
        if quirk == "nan_spike" and u == 2:
            t = np.append(t, np.nan)
        t = t * 1000.0 if quirk == "ms_spikes" else t + shift
        if quirk == "stray_spike" and u == 0:
            t = np.append(t, 1e12)
        if quirk == "trial_types" and u < 3:  # a burst on left trials
            burst = [starts[i] + 0.2 + rng.uniform(0, 0.3, 15) for i in range(0, n_trials, 3)]
            t = np.sort(np.concatenate([t, *burst]))
        kw = {"electrode_group": groups[u % 2], "electrodes": [u]} if quirk == "electrode_group" else {}
        if quirk == "sorter_labels":
            kw = {"quality": labels[u % 6], "presence_ratio": presence[u % 6]}
        trains.append(t)
        if quirk == "duplicate_ids":
            kw["id"] = u % 3  # two probes' cluster ids 0-2, merged into one table
        if quirk not in ("processing_units", "two_sortings"):
            nwb.add_unit(spike_times=t, **kw)
    if quirk in ("processing_units", "two_sortings"):
        from pynwb.misc import Units

        ecephys = nwb.create_processing_module("ecephys", "spike sorting")
        sortings = [("kilosort", range(n_units)), ("curated", range(0, n_units, 2))]
        for name, keep in sortings[: 2 if quirk == "two_sortings" else 1]:
            table = Units(name=name, description=f"{name} units", resolution=1.0 / 30000)
            for u in keep:
                table.add_unit(spike_times=trains[u], id=100 + u)
            ecephys.add(table)
    elif quirk != "no_resolution":
        nwb.units.resolution = 1.0 / 30000
    if quirk == "stray_spike":
        pass
    elif quirk == "intervals":
        from pynwb.epoch import TimeIntervals

        for name, offset in (("encoding_table", 0), ("recognition_table", 1)):
            table = TimeIntervals(name=name, description=f"{name} of a memory task")
            table.add_column(name="stimulus_id", description="image shown")
            for i in range(offset, n_trials, 2):
                table.add_row(start_time=starts[i], stop_time=starts[i] + trial_s, stimulus_id=i % 5)
            nwb.add_time_intervals(table)
    else:
        if quirk == "trial_types":
            nwb.add_trial_column(name="trial_type", description="cue side")
        for i in range(n_trials):
            stop = np.nan if quirk == "nan_stop" else starts[i] + trial_s
            if quirk == "long_trial" and i == n_trials - 1:
                stop = starts[i] + 60.0
            if quirk == "variable_length":
                stop = starts[i] + trial_s * (0.3 + 0.7 * ((7 * i) % 10) / 9)
            extra = {"trial_type": TRIAL_TYPES[i % 3]} if quirk == "trial_types" else {}
            nwb.add_trial(start_time=starts[i] + shift, stop_time=stop + shift, **extra)
    if quirk == "long_behavior":
        beh = nwb.create_processing_module("behavior", "licks")
        for name in ("lick_right_times", "lick_left_times_from_the_camera"):
            beh.add(
                TimeSeries(
                    name=name,
                    description="licks",
                    data=rng.uniform(size=1016),
                    unit="n.a.",
                    timestamps=np.sort(rng.uniform(0, duration, 1016)),
                )
            )
    return nwb
