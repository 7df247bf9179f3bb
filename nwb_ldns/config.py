"""Frozen dataclass configurations, saved as JSON beside what they configure."""

from __future__ import annotations

import dataclasses
import json
from typing import Any


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """How a recording becomes trials x bins x units.

    Attributes
    ----------
    bin_ms : float
        Bin width.
    align : str or None
        Trials-table column to align on (e.g. ``move_onset_time``). With ``window_ms`` and no
        ``align``, windows are relative to ``start_time``.
    window_ms : (float, float) or None
        Window around the alignment, e.g. ``(-250, 450)``. None: whole trials at variable length.
    segment_ms : float
        Length of the fixed windows tiled over the recording when it has no trials table.
    units : {"all", "heldin"}
        ``heldin`` keeps units whose ``heldout`` column is False.
    behavior : tuple of str
        Behavioural time series to bin (names or paths).
    behavior_lag_ms : float
        Behaviour at ``t + lag`` is paired with spikes at ``t``.
    split_seed : int
        Seed of the 70/10/20 split used when the trials table has no ``split`` column.
    """

    bin_ms: float = 5.0
    align: str | None = None
    window_ms: tuple[float, float] | None = None
    segment_ms: float = 1000.0
    units: str = "all"
    behavior: tuple[str, ...] = ()
    behavior_lag_ms: float = 0.0
    split_seed: int = 0

    def __post_init__(self):
        from .errors import NwbLdnsError

        if not self.bin_ms > 0:
            raise NwbLdnsError(f"--bin-ms must be positive, got {self.bin_ms}")
        if self.units not in ("all", "heldin"):
            raise NwbLdnsError(f"--units must be 'all' or 'heldin', got {self.units!r}")
        if self.window_ms is not None:
            a, b = (float(x) for x in self.window_ms)
            object.__setattr__(self, "window_ms", (a, b))
            if not b > a:
                raise NwbLdnsError(f"--window stop must be after start, got {a:g} {b:g} ms")
        if self.align is not None and self.window_ms is None:
            raise NwbLdnsError(f"--align {self.align} needs --window START_MS STOP_MS")
        if not self.segment_ms > 0:
            raise NwbLdnsError(f"--segment-ms must be positive, got {self.segment_ms}")
        object.__setattr__(self, "behavior", tuple(self.behavior))

    @property
    def bin_s(self) -> float:
        return self.bin_ms * 1e-3

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        d = dict(d)
        if d.get("window_ms") is not None:
            d["window_ms"] = tuple(d["window_ms"])
        d["behavior"] = tuple(d.get("behavior", ()))
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)
