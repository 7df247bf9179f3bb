"""``sim:NAME[?param=value&...]``: a simulated session generated in process."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import urllib.parse

import numpy as np
import pandas as pd

from ..errors import NwbLdnsError
from .base import BehaviorSeries, Recording
from .registry import register_source


def parse_sim_uri(rest: str):
    """``"lorenz?n_trials=200"`` -> (simulation class, config)."""
    from ..sim import SIMULATIONS

    name, _, query = rest.partition("?")
    name = name.strip().lower()
    if name not in SIMULATIONS:
        raise NwbLdnsError(f"unknown simulation {name!r}; available: " + ", ".join(f"sim:{k}" for k in SIMULATIONS))
    config_cls, sim_cls = SIMULATIONS[name]
    fields = {f.name: f.type for f in dataclasses.fields(config_cls)}
    params = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key not in fields:
            raise NwbLdnsError(f"unknown parameter {key!r} for sim:{name}; valid: {', '.join(fields)}")
        kind = int if "int" in str(fields[key]) else float
        try:
            params[key] = kind(value)
        except ValueError:
            raise NwbLdnsError(f"sim:{name} parameter {key}={value!r} is not a number") from None
    try:
        return name, sim_cls, config_cls(**params)
    except ValueError as exc:
        raise NwbLdnsError(f"sim:{name}: {exc}") from None


class SimRecording(Recording):
    """A simulated session; spikes are generated unit by unit when read."""

    def __init__(self, *, name: str, sim, uri: str):
        self.uri = uri
        self.simulation = sim
        cfg = sim.config
        params = dataclasses.asdict(cfg)
        digest = hashlib.sha256(json.dumps({"sim": name, **params}, sort_keys=True).encode()).hexdigest()
        self.provenance = {
            "source_uri": uri,
            "simulation": name,
            "parameters": params,
            "content_hash": f"params-sha256:{digest}",
        }
        self._ids = np.arange(cfg.n_neurons)

    @property
    def unit_ids(self) -> np.ndarray:
        return self._ids

    def _read_spike_times(self, index: int) -> np.ndarray:
        return self.simulation.spike_times(int(index))

    def spike_counts(self) -> np.ndarray:
        return self.simulation.total_counts()

    def spike_time_bounds(self):
        return (0.0, float(self.duration_s()))

    def spike_time_problems(self) -> list[str]:
        return []  # simulated times are finite by construction

    def duration_s(self) -> float:
        return float(self.simulation.config.n_trials * self.simulation.config.trial_s)

    @property
    def trials(self) -> pd.DataFrame:
        return self.simulation.trials_table()

    def behavior_series(self) -> list[BehaviorSeries]:
        cfg = self.simulation.config
        return [
            BehaviorSeries(name=name, path=path, shape=values.shape, rate=1.0 / cfg.bin_s, unit=unit)
            for name, (path, values, unit) in self.simulation.behavior().items()
        ]

    def read_behavior(self, series, windows):
        """Samples at bin starts (the simulations' behaviour is defined per bin)."""
        cfg = self.simulation.config
        flat = self.simulation.behavior()[series.name][1]  # (trial * time, channel)
        out = []
        for start, stop in np.asarray(windows, dtype=np.float64):
            lo, hi = (int(np.clip(np.ceil(x / cfg.bin_s - 1e-9), 0, len(flat))) for x in (start, stop))
            out.append((np.arange(lo, hi) * cfg.bin_s, flat[lo:hi].astype(np.float64)))
        return out

    def session_metadata(self) -> dict:
        cfg = self.simulation.config
        from ..io.nwbfile import SYNTHETIC_SPECIES

        name = self.provenance["simulation"]
        return {
            "session_description": f"simulated {name} session",
            "session_id": f"{name}-seed{cfg.seed}",
            "subject": {
                "subject_id": f"sim-{name}-{cfg.seed}",
                "species": SYNTHETIC_SPECIES,
                "sex": "U",
                "age": "P0D",
                "description": "Simulated subject (NCBI taxon 32630, synthetic construct).",
            },
        }


@register_source("sim")
def open_sim(rest: str, *, uri: str, **_options) -> SimRecording:
    name, sim_cls, config = parse_sim_uri(rest)
    return SimRecording(name=name, sim=sim_cls(config), uri=uri)
