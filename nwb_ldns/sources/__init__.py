"""Readers, one per source scheme, behind a small registry.

``open_source("dandi:000128")``, ``open_source("session.nwb")``, ``open_source("si:sorting/")``,
``open_source("sim:lorenz?n_trials=500")`` all return a :class:`Recording`.
"""

from __future__ import annotations

import os
import re
from typing import Callable

from ..errors import NwbLdnsError
from .base import BehaviorSeries, Recording, check_spike_times

_READERS: dict[str, Callable[..., Recording]] = {}


def register_source(scheme: str):
    """Register ``fn(rest_of_uri, **options) -> Recording`` for ``scheme:`` URIs."""

    def decorate(fn):
        _READERS[scheme.lower()] = fn
        return fn

    return decorate


def source_schemes() -> list[str]:
    """The registered URI schemes (a bare path means a local NWB file)."""
    return sorted(_READERS)


def open_source(uri: str, **options) -> Recording:
    """Open a recording from a path or a ``scheme:`` URI.

    Parameters
    ----------
    uri : str
        ``PATH.nwb``, ``PATH.nwb.zarr``, ``dandi:DANDISET[/ASSET_PATH][@VERSION]`` (any case),
        ``si:PATH`` (a SpikeInterface-loadable sorting) or ``sim:NAME[?param=value&...]``.
    **options
        Reader options: ``cache_dir`` and ``dandi_api_url`` for DANDI; others are ignored by
        readers that do not use them.

    Returns
    -------
    Recording
        Use it as a context manager to close files and streams.
    """
    uri = str(uri)
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):(.*)$", uri, re.DOTALL)  # 2+ letters: not a drive
    if m and m.group(1).lower() in _READERS:
        return _READERS[m.group(1).lower()](m.group(2), uri=uri, **options)
    from .nwb import open_nwb_file

    if m and m.group(1).lower() == "file":
        return open_nwb_file(m.group(2))
    if m and not os.path.exists(uri):
        raise NwbLdnsError(
            f"unknown source scheme {m.group(1)!r} in {uri!r}; give a path or one of: "
            + ", ".join(s + ":" for s in source_schemes())
        )
    return open_nwb_file(uri)


# the built-in readers register themselves
from . import dandi, sim, spikeinterface  # noqa: E402,F401

__all__ = ["BehaviorSeries", "Recording", "check_spike_times", "open_source", "register_source", "source_schemes"]
