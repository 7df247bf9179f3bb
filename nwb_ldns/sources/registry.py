"""The table of readers: one per URI scheme, plus the reader of bare paths."""

from __future__ import annotations

import os
import re
from typing import Callable

from ..errors import NwbLdnsError
from .base import Recording

_READERS: dict[str, Callable[..., Recording]] = {}
_PATHS: list[Callable[..., Recording]] = []  # the reader of bare paths (a local NWB file)


def register_source(scheme: str, *, paths: bool = False):
    """Register ``fn(rest_of_uri, *, uri, **options) -> Recording`` for ``scheme:`` URIs.

    With ``paths`` the reader also opens bare paths (``rest_of_uri`` is then the path itself).
    """

    def decorate(fn):
        _READERS[scheme.lower()] = fn
        if paths:
            _PATHS[:] = [fn]
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
        ``PATH.nwb``, ``PATH.nwb.zarr``, ``file:PATH``, ``dandi:DANDISET[/ASSET_PATH][@VERSION]``
        (any case), ``si:PATH`` (a SpikeInterface-loadable sorting) or
        ``sim:NAME[?param=value&...]``.
    **options
        Reader options: ``cache_dir`` and ``dandi_api_url`` for DANDI, ``allow_pickle`` for
        SpikeInterface; readers ignore the options they do not use.

    Returns
    -------
    Recording
        Use it as a context manager to close files and streams.
    """
    uri = str(uri)
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):(.*)$", uri, re.DOTALL)  # 2+ letters: not a drive
    if m and m.group(1).lower() in _READERS:
        return _READERS[m.group(1).lower()](m.group(2), uri=uri, **options)
    if m and not os.path.exists(uri):
        raise NwbLdnsError(
            f"unknown source scheme {m.group(1)!r} in {uri!r}; give a path or one of: "
            + ", ".join(s + ":" for s in source_schemes())
        )
    return _PATHS[0](uri, uri=uri, **options)
