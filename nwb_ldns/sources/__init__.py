"""Readers, one per source scheme, behind a small registry (:mod:`.registry`).

``open_source("dandi:000128")``, ``open_source("session.nwb")``, ``open_source("si:sorting/")``,
``open_source("sim:lorenz?n_trials=500")`` all return a :class:`Recording`. A new reader is one
module that decorates its opener with :func:`register_source`, and one line below that imports it.
"""

from __future__ import annotations

# the built-in readers register themselves on import
from . import dandi, nwb, simulation, spikeinterface  # noqa: F401
from .base import BehaviorSeries, Recording, check_spike_times
from .registry import open_source, register_source, source_schemes

__all__ = ["BehaviorSeries", "Recording", "check_spike_times", "open_source", "register_source", "source_schemes"]
