"""What ``nwb-ldns inspect`` reports about a recording, read without loading spikes."""

from __future__ import annotations

import numpy as np

from .sources import Recording

# known layouts: (trial columns that identify it, suggested options, why)
KNOWN_LAYOUTS = [
    ({"move_onset_time"}, ["--align", "move_onset_time", "--window", "-250", "450"],
     "MC_Maze / NLB reaching layout (LDNS: 140 bins of 5 ms around movement onset)"),
]


def summarize(rec: Recording) -> dict:
    """A JSON-ready summary of a recording.

    Keys: ``source``, ``n_units``, ``total_spikes``, ``rate_hz`` (min/median/max over units),
    ``unit_columns``, ``n_heldout``, ``n_trials`` (0 without a trials table), ``trial_columns``,
    ``n_epochs``, ``behavior`` (series names), ``behavior_series`` (name, path, shape, rate_hz,
    unit), ``splits``, ``duration_s``, ``session``, ``suggested`` (options for fit/bin) and
    ``suggested_reason``.
    """
    counts = np.asarray(rec.spike_counts(), dtype=np.int64)
    duration = rec.duration_s()
    rates = counts / duration if duration > 0 else np.zeros(counts.size)
    units = rec.unit_columns()
    trials = rec.trials
    epochs = rec.epochs
    series = rec.behavior_series()
    trial_columns = [str(c) for c in trials.columns] if trials is not None else []

    splits = None
    if trials is not None and "split" in trials.columns:
        splits = {str(k): int(v) for k, v in trials["split"].astype(str).value_counts().sort_index().items()}

    suggested, reason = [], []
    if trials is None or len(trials) == 0:
        suggested += ["--segment-ms", "1000"]
        reason.append("no trials table: fixed 1 s windows over " + ("the epochs" if epochs is not None else "the recording"))
    for needed, opts, why in KNOWN_LAYOUTS:
        if needed <= set(trial_columns):
            suggested += opts
            reason.append(why)
    names = {s.name for s in series}
    if "hand_vel" in names:
        suggested += ["--behavior", "hand_vel", "--behavior-lag-ms", "100"]
        reason.append("hand velocity with the NLB 100 ms lag")
    if not suggested and trials is not None and len(trials):
        reason.append("whole trials at variable length (add --align COLUMN --window START STOP for fixed windows)")

    return {
        "source": rec.source_info(),
        "n_units": int(counts.size),
        "total_spikes": int(counts.sum()),
        "rate_hz": {"min": float(rates.min()), "median": float(np.median(rates)), "max": float(rates.max())}
        if counts.size else None,
        "unit_columns": [str(c) for c in units.columns],
        "n_heldout": int(units["heldout"].astype(bool).sum()) if "heldout" in units.columns else None,
        "n_trials": int(len(trials)) if trials is not None else 0,
        "trial_columns": trial_columns,
        "n_epochs": int(len(epochs)) if epochs is not None else 0,
        "behavior": [s.name for s in series],
        "behavior_series": [{"name": s.name, "path": s.path, "shape": list(s.shape), "rate_hz": s.rate,
                             "unit": s.unit} for s in series],
        "splits": splits,
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
    lines.append(f"units       {s['n_units']} ({s['total_spikes']:,} spikes; rate {r['min']:.2f} / {r['median']:.2f} / "
                 f"{r['max']:.2f} Hz min/median/max)" if r else f"units       {s['n_units']}")
    if s["n_heldout"] is not None:
        lines.append(f"  heldout   {s['n_heldout']} (use --units heldin to model the others)")
    if s["unit_columns"]:
        lines.append(f"  columns   {', '.join(s['unit_columns'])}")
    lines.append(f"trials      {s['n_trials']}" + (f" ({', '.join(s['trial_columns'])})" if s["trial_columns"] else ""))
    if s["splits"]:
        lines.append("  splits    " + ", ".join(f"{k} {v}" for k, v in s["splits"].items()))
    elif s["n_trials"]:
        lines.append("  splits    none in the file: a seeded 70/10/20 train/val/test split is made")
    if s["n_epochs"]:
        lines.append(f"epochs      {s['n_epochs']}")
    lines.append(f"behaviour   {len(s['behavior_series'])}")
    for b in s["behavior_series"]:
        rate = f"{b['rate_hz']:.4g} Hz" if b["rate_hz"] else "irregular"
        lines.append(f"  {b['name']:<16}{'x'.join(map(str, b['shape'])):<14}{rate:<12}{b['path']}")
    lines.append(f"duration    {s['duration_s']:.1f} s")
    if s["suggested"]:
        lines.append(f"suggested   {' '.join(s['suggested'])}")
    if s["suggested_reason"]:
        lines.append(f"            ({s['suggested_reason']})")
    return "\n".join(lines)
