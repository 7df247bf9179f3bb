"""Writing NWB files, HDF5 or Zarr, atomically."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import NwbLdnsError


def is_zarr_path(path: str | os.PathLike) -> bool:
    """True for ``.zarr`` outputs (``OUT.nwb.zarr``), False for HDF5 (``OUT.nwb``)."""
    return str(path).rstrip("/").endswith(".zarr")


SYNTHETIC_SPECIES = "http://purl.obolibrary.org/obo/NCBITaxon_32630"  # "synthetic construct"


def synthetic_subject(*, subject_id: str, description: str, overrides: dict | None = None):
    """A DANDI-ready ``Subject`` for generated data: species synthetic construct, sex U, age P0D,
    each replaced by a non-None value of ``overrides`` (subject_id, species, sex, age)."""
    from pynwb.file import Subject

    fields = {"subject_id": subject_id, "species": SYNTHETIC_SPECIES, "sex": "U", "age": "P0D",
              "description": description}
    fields.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return Subject(**fields)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_nwbfile(nwbfile, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write an in-memory NWBFile to ``path`` (HDF5, or Zarr when it ends in ``.zarr``).

    The file is written under a temporary name beside the target and renamed into place, so a
    failure leaves nothing behind and readers never see a half-written file.

    Raises
    ------
    NwbLdnsError
        When ``path`` exists and ``overwrite`` is False, or the write fails.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise NwbLdnsError(f"{path} already exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")  # keeps the .nwb suffix pynwb checks
    _remove(tmp)
    try:
        if is_zarr_path(path):
            from hdmf_zarr import NWBZarrIO

            with NWBZarrIO(str(tmp), mode="w") as io:
                io.write(nwbfile)
        else:
            from pynwb import NWBHDF5IO

            with NWBHDF5IO(str(tmp), mode="w") as io:
                io.write(nwbfile)
        if path.exists():  # only reached with overwrite=True
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        _remove(tmp)
        if isinstance(exc, (NwbLdnsError, KeyboardInterrupt)):
            raise
        raise NwbLdnsError(f"writing {path} failed: {type(exc).__name__}: {exc}") from exc
    return path
