"""``si:PATH``: any sorting SpikeInterface can load (saved sorting folder, phy, Kilosort, NWB...)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import NwbLdnsError
from ..untrusted import check_untrusted
from .base import Recording, scalar_values
from .nwb import content_hash
from .registry import register_source

logger = logging.getLogger("nwb_ldns")


#: the rate at which SpikeInterface holds spike times of an NWB units table that states no resolution
FALLBACK_RATE_HZ = 30_000.0


def load_sorting(path: Path):
    """Load a sorting with the SpikeInterface reader that fits the folder or file (checked first with
    :func:`check_untrusted`)."""
    import spikeinterface.core as sc
    import spikeinterface.extractors as se

    if (path / "params.py").exists() and (path / "spike_times.npy").exists():
        if (path / "cluster_info.tsv").exists() or (path / "cluster_group.tsv").exists():
            return se.read_phy(path)
        return se.read_kilosort(path)
    if path.suffix == ".nwb" or path.name.endswith(".nwb.zarr"):
        try:
            return se.read_nwb_sorting(path)
        except ValueError as exc:
            if "sampling frequency" not in str(exc).lower():
                raise
        # no units 'resolution' and no ElectricalSeries: SpikeInterface needs a rate to hold times as frames
        logger.warning(
            "%s: the units table has no resolution; SpikeInterface reads its spike times on a %g kHz "
            "grid (pass the plain path %s to read them exactly as stored)",
            path,
            FALLBACK_RATE_HZ / 1e3,
            path,
        )
        return se.read_nwb_sorting(path, sampling_frequency=FALLBACK_RATE_HZ)
    return sc.load(path)


class SortingRecording(Recording):
    """A single-segment SpikeInterface sorting: spikes only, no trials (use ``--segment-ms``)."""

    def __init__(self, *, sorting, uri: str, path: Path):
        from spikeinterface.core import BaseSorting

        if not isinstance(sorting, BaseSorting):
            raise NwbLdnsError(f"{uri} is a {type(sorting).__name__}, not a sorting")
        if sorting.get_num_segments() != 1:
            raise NwbLdnsError(
                f"{uri} has {sorting.get_num_segments()} segments; select one first "
                "(sorting.select_segments([i]).save(folder=...))"
            )
        self.sorting = sorting
        self.uri = uri
        self._path = path
        self._ids = np.asarray(sorting.get_unit_ids())
        self._provenance = {
            "source_uri": uri,
            "path": str(path.resolve()),
            "sampling_frequency": float(sorting.get_sampling_frequency()),
        }

    @property
    def provenance(self) -> dict:
        if "content_hash" not in self._provenance:
            self._provenance["content_hash"] = content_hash(self._path)
        return self._provenance

    @property
    def unit_ids(self) -> np.ndarray:
        return self._ids

    def _read_spike_times(self, index: int) -> np.ndarray:
        # return_times uses the sorting's time vector when it has one, else frames / sampling rate
        return np.asarray(
            self.sorting.get_unit_spike_train(self._ids[index], segment_index=0, return_times=True), dtype=np.float64
        )

    def spike_counts(self) -> np.ndarray:
        counts = self.sorting.count_num_spikes_per_unit(outputs="array")
        return np.asarray(counts)

    def unit_columns(self):
        import pandas as pd

        cols = {}
        for key in self.sorting.get_property_keys():
            values = np.asarray(self.sorting.get_property(key))
            values = scalar_values(values) if values.ndim == 1 else None
            if values is not None:
                cols[key] = values
        return pd.DataFrame(cols, index=pd.Index(self._ids, name="unit"))


@register_source("si")
def open_sorting(rest: str, *, uri: str, allow_pickle: bool = False, **_options) -> SortingRecording:
    path = Path(rest).expanduser()
    if not path.exists():
        raise NwbLdnsError(f"no such sorting: {rest}")
    if path.suffix != ".nwb" and not path.name.endswith(".nwb.zarr"):
        check_untrusted(path, allow_pickle=allow_pickle)
    try:
        sorting = load_sorting(path)
    except NwbLdnsError:
        raise
    except Exception as exc:
        raise NwbLdnsError(f"SpikeInterface cannot load {rest} as a sorting: {type(exc).__name__}: {exc}") from exc
    return SortingRecording(sorting=sorting, uri=uri, path=path)
