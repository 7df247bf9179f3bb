"""What ``nwb-ldns inspect`` reports about a recording, read without loading spikes."""

from __future__ import annotations

import numpy as np

from .config import PRESETS, SMALL_TRAIN_TRIALS, TrainConfig, split_size_adaptations
from .sources import Recording
from .unit_selection import noise_label_count

# known layouts: (trial columns that identify it, suggested options, why)
KNOWN_LAYOUTS = [
    (
        {"move_onset_time"},
        ["--align", "move_onset_time", "--window", "-250", "450"],
        "MC_Maze / NLB reaching layout (LDNS: 140 bins of 5 ms around movement onset)",
    ),
]


def fit_plan(trials, epochs, duration: float, segment_s: float = 1.0) -> dict:
    """Training trials a fit would have and the optimizer steps each preset runs on them.

    Trials come from ``trials`` (its ``split`` column, else the 70 % of the seeded split), or from
    1 s segments over the epochs or the recording.
    """
    if trials is not None and len(trials):
        if "split" in trials.columns:
            n_train = int((trials["split"].astype(str).str.strip().str.lower().isin(["train", "training"])).sum())
        else:
            n_train = int(round(0.7 * len(trials)))
    else:
        if epochs is not None and len(epochs):
            spans = (epochs["stop_time"] - epochs["start_time"]).to_numpy(dtype=np.float64)
        else:
            spans = np.array([duration])
        n_train = int(round(0.7 * np.floor(spans[np.isfinite(spans)] / segment_s + 1e-9).sum()))
    presets = {}
    for preset, sizes in PRESETS.items():
        presets[preset] = {}
        adapted = split_size_adaptations(n_train, preset=preset)
        for stage, key in (("autoencoder", "ae_train"), ("denoiser", "diffusion_train")):
            cfg = TrainConfig().replace(**{**sizes[key], **adapted.get(key, {})})
            rows = min(cfg.batch_size, max(n_train, 1))
            presets[preset][stage] = {
                "steps": cfg.steps,
                "batch_size": rows,
                "passes": round(cfg.steps * rows / n_train, 1) if n_train else None,
            }
    return {"train_trials": n_train, "small": n_train < SMALL_TRAIN_TRIALS, "presets": presets}


def unit_value_counts(units) -> dict[str, dict[str, int]]:
    """Columns of a few (2-8) repeated values, such as sorter labels or shanks: {column: {value: count}}."""
    out = {}
    for col in units.columns:
        if col == "heldout":  # has its own line
            continue
        data = units[col]
        counts = data.astype(str).value_counts()
        if 2 <= len(counts) <= 8 and len(counts) < len(data):
            out[str(col)] = {str(k): int(n) for k, n in counts.items()}
    return out


def trial_label_counts(trials) -> dict[str, dict[str, int]]:
    """Trials columns of a few (2-8) repeated text or true/false labels, such as ``trial_type``:
    {column: {label: count}}; each can condition a model (``--condition COLUMN``)."""
    import pandas as pd

    out = {}
    for col in [] if trials is None else trials.columns:
        data = trials[col]
        if col in ("start_time", "stop_time", "split") or not data.map(lambda v: np.ndim(v) == 0).all():
            continue
        if pd.api.types.is_numeric_dtype(data) and not pd.api.types.is_bool_dtype(data):
            continue
        counts = data.astype(str).value_counts()
        if 2 <= len(counts) <= 8 and len(counts) < len(data):
            out[str(col)] = {str(k): int(n) for k, n in counts.items()}
    return out


def summarize(rec: Recording) -> dict:
    """A JSON-ready summary of a recording.

    Keys: ``source``, ``n_units``, ``total_spikes``, ``rate_hz`` (min/median/max over units),
    ``units_tables`` (path: units), ``units_table`` (the one summarised),
    ``unit_columns``, ``unit_values`` (:func:`unit_value_counts`), ``n_heldout``, ``n_trials``
    (0 without a trials table), ``trial_columns``, ``trial_labels`` (:func:`trial_label_counts`),
    ``n_epochs``, ``behavior`` (series names),
    ``behavior_series`` (name, path, shape, rate_hz, unit), ``splits``, ``duration_s``,
    ``session``, ``suggested`` (options for fit/bin) and ``suggested_reason``.
    """
    counts = np.asarray(rec.spike_counts(), dtype=np.int64)
    duration = rec.duration_s()
    rates = counts / duration if duration > 0 else np.zeros(counts.size)
    units = rec.unit_columns()
    trials = rec.trials
    epochs = rec.epochs
    tables = rec.interval_tables()
    series = rec.behavior_series()
    trial_columns = [str(c) for c in trials.columns] if trials is not None else []
    problems = rec.spike_time_problems()

    splits = None
    if trials is not None and "split" in trials.columns:
        splits = {str(k): int(v) for k, v in trials["split"].astype(str).value_counts().sort_index().items()}

    suggested, reason = [], []
    units_tables = rec.units_tables()
    if len(units_tables) > 1 and "units" not in units_tables:
        suggested += ["--units-table", rec.units_path]
        reason.append("no /units table: the units shown are the largest units table's; choose one with --units-table")
    others = {k: t for k, t in tables.items() if k not in ("trials", "epochs", "invalid_times") and len(t)}
    if (trials is None or len(trials) == 0) and others:
        name = max(others, key=lambda k: len(others[k]))
        suggested += ["--trials-table", name]
        reason.append(f"no trials table: use the rows of {name!r} (or another interval table) as trials")
        trials_like = others[name]
    elif trials is None or len(trials) == 0:
        suggested += ["--segment-ms", "1000"]
        reason.append(
            "no trials table: fixed 1 s windows over " + ("the epochs" if epochs is not None else "the recording")
        )
        trials_like = None
    else:
        trials_like = trials
    if trials_like is not None and "stop_time" in trials_like.columns:
        no_stop = int((~np.isfinite(trials_like["stop_time"].to_numpy(dtype=np.float64))).sum())
        if no_stop:
            from .dataset import suggest_window_ms

            problems.append(
                f"stop_time is NaN in {no_stop} of {len(trials_like)} trials: whole trials cannot be binned"
                if no_stop == len(trials_like)
                else f"stop_time is NaN in {no_stop} of {len(trials_like)} trials "
                "(they are left out of whole-trial mode)"
            )
            if no_stop == len(trials_like):
                suggested += ["--align", "start_time", "--window", "0", f"{suggest_window_ms(trials_like, 5.0):g}"]
                reason.append("fixed windows after each start, up to the next trial's start")
    if trials_like is not None and {"start_time", "stop_time"} <= set(trials_like.columns):
        from .dataset import long_trial_problem

        long = long_trial_problem(trials_like)
        if long:
            problems.append(long)
    unit_values = unit_value_counts(units)
    noise = noise_label_count(units)
    if noise:
        suggested += ["--units", f"{noise[0]}!=noise"]
        reason.append(f"{noise[1]} of {noise[2]} units are labelled noise in {noise[0]!r}: leave them out")
    for needed, opts, why in KNOWN_LAYOUTS:
        if needed <= set(trial_columns):
            suggested += opts
            reason.append(why)
    names = {s.name for s in series}
    if "hand_vel" in names:
        suggested += ["--behavior", "hand_vel", "--behavior-lag-ms", "100"]
        reason.append("hand velocity with the NLB 100 ms lag")
    if not suggested and trials_like is not None and len(trials_like):
        length = (trials_like["stop_time"] - trials_like["start_time"]).to_numpy(dtype=np.float64)
        length = length[np.isfinite(length)]
        same = length.size > 0 and np.ptp(length) < 1e-6
        reason.append(
            (f"whole trials, all {length[0]:.4g} s long" if same else "whole trials of different lengths")
            + "; --align COLUMN --window START STOP bins fixed windows instead"
        )

    return {
        "source": rec.source_info(),
        "n_units": int(counts.size),
        "total_spikes": int(counts.sum()),
        "rate_hz": {"min": float(rates.min()), "median": float(np.median(rates)), "max": float(rates.max())}
        if counts.size
        else None,
        "unit_columns": [str(c) for c in units.columns],
        "unit_values": unit_values,
        "units_tables": units_tables,
        "units_table": rec.units_path,
        "n_heldout": int(units["heldout"].astype(bool).sum()) if "heldout" in units.columns else None,
        "n_trials": int(len(trials)) if trials is not None else 0,
        "trial_columns": trial_columns,
        "trial_labels": trial_label_counts(trials),
        "n_epochs": int(len(epochs)) if epochs is not None else 0,
        "behavior": [s.name for s in series],
        "behavior_series": [
            {"name": s.name, "path": s.path, "shape": list(s.shape), "rate_hz": s.rate, "unit": s.unit} for s in series
        ],
        "interval_tables": [
            {"name": k, "n_rows": int(len(t)), "columns": [str(c) for c in t.columns]} for k, t in tables.items()
        ],
        "splits": splits,
        "fit_plan": fit_plan(trials_like, epochs, duration),
        "problems": problems,
        "duration_s": float(duration),
        "session": rec.session_metadata(),
        "suggested": suggested,
        "suggested_reason": "; ".join(reason),
    }


def format_summary(s: dict) -> str:
    """The summary as a short human-readable text."""
    lines = [f"source      {s['source'].get('source_uri')}"]
    for key in ("dandiset", "version", "asset_path"):
        if key in s["source"]:
            lines.append(f"  {key:<10}{s['source'][key]}")
    r = s["rate_hz"]
    lines.append(
        f"units       {s['n_units']} ({s['total_spikes']:,} spikes; rate {r['min']:.2f} / {r['median']:.2f} / "
        f"{r['max']:.2f} Hz min/median/max)"
        if r
        else f"units       {s['n_units']}"
    )
    tables = s.get("units_tables") or {}
    if len(tables) > 1 or s.get("units_table", "units") != "units":
        lines.append(f"  table     {s['units_table']}")
        others = [f"{p} ({n} units)" for p, n in tables.items() if p != s["units_table"]]
        if others:
            lines.append(f"  others    {'; '.join(others)} (read one with --units-table)")
    if s["n_heldout"] is not None:
        lines.append(f"  heldout   {s['n_heldout']} (use --units heldin to model the others)")
    if s["unit_columns"]:
        lines.append(f"  columns   {', '.join(s['unit_columns'])}")
    values = s.get("unit_values") or {}
    width = max([len(c) for c in values] + [8]) + 2
    for col, counts in values.items():
        lines.append(f"  {col:<{width}}" + ", ".join(f"{v} {n}" for v, n in counts.items()))
    lines.append(f"trials      {s['n_trials']}" + (f" ({', '.join(s['trial_columns'])})" if s["trial_columns"] else ""))
    for col, counts in (s.get("trial_labels") or {}).items():
        labels = ", ".join(f"{v} {n}" for v, n in counts.items())
        lines.append(f"  labels    {col}: {labels} (--condition {col} conditions on them)")
    if s["splits"]:
        lines.append("  splits    " + ", ".join(f"{k} {v}" for k, v in s["splits"].items()))
    elif s["n_trials"]:
        lines.append("  splits    none in the file: a seeded 70/10/20 train/val/test split is made")
    if s["n_epochs"]:
        lines.append(f"epochs      {s['n_epochs']}")
    others = [t for t in s["interval_tables"] if t["name"] not in ("trials", "epochs")]
    if others:
        lines.append(
            "intervals   " + "; ".join(f"{t['name']} {t['n_rows']} ({', '.join(t['columns'])})" for t in others)
        )
    lines.append(f"behaviour   {len(s['behavior_series'])}")
    beh = s["behavior_series"]
    width = max([len(b["name"]) for b in beh] + [14]) + 2  # long names must not run into the shape
    for b in beh:
        rate = f"{b['rate_hz']:.4g} Hz" if b["rate_hz"] else "irregular"
        lines.append(f"  {b['name']:<{width}}{'x'.join(map(str, b['shape'])):<14}{rate:<12}{b['path']}")
    lines.append(f"duration    {s['duration_s']:.1f} s")
    for problem in s["problems"]:
        lines.append(f"problem     {problem}")
    if s["suggested"]:
        lines.append(f"suggested   {' '.join(s['suggested'])}")
    if s["suggested_reason"]:
        lines.append(f"            ({s['suggested_reason']})")
    plan = s["fit_plan"]
    if plan["train_trials"]:
        q, p = plan["presets"]["quick"], plan["presets"]["paper"]
        lines.append(
            f"fit         {plan['train_trials']:,} training trials: --preset quick (CPU) up to "
            f"{q['autoencoder']['steps']:,} autoencoder + {q['denoiser']['steps']:,} denoiser steps of "
            f"{q['autoencoder']['batch_size']}"
        )
        lines.append(
            f"            (~{q['autoencoder']['passes']:,.0f} / ~{q['denoiser']['passes']:,.0f} passes); "
            f"--preset paper (GPU) {p['autoencoder']['steps']:,} + {p['denoiser']['steps']:,}; "
            "each stage stops early when its validation loss stops improving"
        )
        if plan["small"]:
            lines.append("            few trials: expect less realistic samples than from a few hundred")
    return "\n".join(lines)
