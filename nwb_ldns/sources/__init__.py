"""Readers, one per source scheme, behind a small registry (:mod:`.registry`).

``open_source("dandi:000128")``, ``open_source("session.nwb")``, ``open_source("si:sorting/")``,
``open_source("sim:lorenz?n_trials=500")`` all return a :class:`Recording`. A new reader is one
module in this package that decorates its opener with :func:`register_source`; every module here
is imported below, so it registers itself.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import BehaviorSeries, Recording, check_spike_times
from .registry import open_source, register_source, source_schemes

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "registry"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["BehaviorSeries", "Recording", "check_spike_times", "open_source", "register_source", "source_schemes"]
