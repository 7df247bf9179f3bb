"""Encoding recorded trials with a fitted model's autoencoder (the NWB file: :mod:`nwb_ldns.io.encoded`)."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from .dataset import SpikeDataset, load_dataset
from .errors import NwbLdnsError
from .fitted import LdnsModel


@dataclasses.dataclass
class Encoded:
    """Inferred latents (trial, latent, time) and rates (trial, unit, time; expected counts per bin)
    of the trials of ``dataset``; bins past ``dataset.lengths`` are padding."""

    dataset: SpikeDataset
    latents: np.ndarray
    rates: np.ndarray
    codes: np.ndarray | None = None  # (trial, code_dim), GNOCCHI models


def select_units(dataset: SpikeDataset, unit_ids: list, *, what: str = "the model") -> SpikeDataset:
    """The units ``unit_ids`` of ``dataset`` (matched by id as text), in that order.

    A one-line error names the ids the dataset lacks.
    """
    want = [str(u) for u in unit_ids]
    have = [str(u) for u in dataset.unit_ids]
    if have == want:  # the same units in the same order, even where ids repeat
        return dataset
    counts = collections.Counter(have)
    repeated = sorted({u for u in want if counts[u] > 1})
    if repeated:  # two probes' cluster ids merged into one table: an id names no single unit
        raise NwbLdnsError(
            f"unit ids repeat in the source (ids {', '.join(repeated[:8])}{' ...' if len(repeated) > 8 else ''}), "
            f"so {what}'s units cannot be matched to them by id: give each unit its own id"
        )
    pos = {u: i for i, u in enumerate(have)}
    missing = [u for u in want if u not in pos]
    if missing:
        raise NwbLdnsError(
            f"{what} was fitted on {len(want)} units; the source lacks {len(missing)} of them "
            f"(ids {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}): use a recording "
            f"with the same units"
        )
    return SpikeDataset(dataset.ds.isel(unit=[pos[u] for u in want]))


def match_units(model: LdnsModel, dataset: SpikeDataset) -> SpikeDataset:
    """The units of ``dataset`` the model was fitted on, in the model's order.

    Units are matched by id; a recording the model was not fitted on is fine when it has them all.
    """
    if not model.data.get("unit_ids"):
        raise NwbLdnsError("the model dir does not list its unit ids (config.json data.unit_ids)")
    return select_units(dataset, model.data["unit_ids"])


def encode(model: LdnsModel, dataset: SpikeDataset, *, batch_size: int = 256) -> Encoded:
    """Latents and rates of every trial of ``dataset`` (all splits), by the model's encoder.

    ``dataset`` must be binned as the model's data spec says (:func:`encode_source` does that).
    """
    spec = model.spec
    if abs(dataset.bin_s - spec.bin_s) > 1e-12:
        raise NwbLdnsError(f"the data are binned at {dataset.bin_s * 1e3:g} ms; the model at {spec.bin_ms:g} ms")
    ds = match_units(model, dataset)
    latents, rates = model.encode(ds.counts_bct(), ds.lengths, batch_size=batch_size)  # (n, D, L), (n, N, L)
    codes = model.codes(ds.counts_bct(), ds.lengths, batch_size=batch_size) if model.code_dim else None  # (n, K)
    return Encoded(dataset=ds, latents=latents, rates=rates, codes=codes)


def load_for_model(model: LdnsModel, source: str, *, progress: bool = False, **source_options) -> SpikeDataset:
    """``source`` binned with the model's data spec (bin width, alignment, window), its units the model's."""
    spec = dataclasses.replace(model.spec, behavior=())  # behaviour is not needed to encode
    return match_units(model, load_dataset(source, spec, progress=progress, drop_empty_units=False, **source_options))


def encode_source(
    model: LdnsModel, source: str, *, batch_size: int = 256, progress: bool = False, **source_options
) -> Encoded:
    """Bin ``source`` with the model's data spec (bin width, alignment, window, units) and encode it."""
    return encode(model, load_for_model(model, source, progress=progress, **source_options), batch_size=batch_size)
