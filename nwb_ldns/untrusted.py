"""Checks run on inputs nwb-ldns did not write, before any loader touches them.

A sorting folder or NWB-Zarr store downloaded from someone else is data, not code. Loaders would
import any class a SpikeInterface JSON file names, unpickle .pkl files and object-dtype .npy
arrays, and exec phy's params.py; :func:`check_untrusted` refuses such inputs (pickles only
without ``allow_pickle``). Zarr arrays stored with the pickle codec (hdmf-zarr writes object
references so) are decoded by :class:`DataOnlyPickle`, which rebuilds data but no other object.
Reads of required Zarr arrays check that no chunk is missing (zarr would read it as zeros).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numcodecs
import numpy as np

from .errors import NwbLdnsError

MAX_FILES = 20_000  # a sorting folder holds tens of files; more is not a sorting


def _npy_holds_pickle(fh) -> bool:
    version = np.lib.format.read_magic(fh)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    _, _, dtype = read(fh)  # the header is parsed with ast.literal_eval, never unpickled
    return bool(dtype.hasobject)


def _pickled(path: Path) -> bool:
    """Whether loading ``path`` could unpickle: .pkl files and object .npy arrays (also inside .npz).

    Zarr arrays with the pickle codec are safe to read: :class:`DataOnlyPickle` decodes them."""
    import zipfile

    name = path.name.lower()
    if name.endswith((".pkl", ".pickle")):
        return True
    try:
        if name.endswith(".npy"):
            with open(path, "rb") as fh:
                return _npy_holds_pickle(fh)
        if name.endswith(".npz"):
            with zipfile.ZipFile(path) as z:
                for member in z.namelist():
                    with z.open(member) as fh:
                        if _npy_holds_pickle(fh):
                            return True
            return False
    except (OSError, ValueError, zipfile.BadZipFile):
        return False  # not readable as such: the loader will fail on it, it cannot unpickle it
    return False


def _literal_assignments(path: Path) -> str | None:
    """None when ``path`` (phy's params.py) is only ``NAME = literal`` lines; else what is not."""
    import ast

    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (SyntaxError, ValueError, UnicodeDecodeError) as exc:
        return f"cannot be parsed ({type(exc).__name__})"
    for node in tree.body:
        ok = isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets)
        if ok:
            try:
                ast.literal_eval(node.value)
            except ValueError:
                # SpikeInterface rewrites range(a, b) to a list; allow exactly that, with integer arguments
                call = node.value
                ok = (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name)
                    and call.func.id == "range"
                    and not call.keywords
                    and all(isinstance(a, ast.Constant) and type(a.value) is int for a in call.args)
                )
        if not ok:
            return f"line {node.lineno} is not an assignment of a literal value"
    return None


def _foreign_classes(obj, found: list) -> list:
    """Class names in a SpikeInterface JSON dump that are not SpikeInterface extractors."""
    if isinstance(obj, dict):
        cls = obj.get("class")
        if isinstance(cls, str) and "kwargs" in obj and not _is_extractor_class(cls):
            found.append(cls)
        for v in obj.values():
            _foreign_classes(v, found)
    elif isinstance(obj, list):
        for v in obj:
            _foreign_classes(v, found)
    return found


def _is_extractor_class(name: str) -> bool:
    import importlib

    from spikeinterface.core.base import BaseExtractor

    module, _, cls = name.rpartition(".")
    if not (module == "spikeinterface" or module.startswith("spikeinterface.")):
        return False  # importing a module outside SpikeInterface would run its code
    try:
        obj = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError):
        return False
    return isinstance(obj, type) and issubclass(obj, BaseExtractor)


def check_untrusted(path: Path, *, allow_pickle: bool = False) -> None:
    """Refuse a sorting whose loading could run code from the data.

    Raises
    ------
    NwbLdnsError
        When a JSON file names a class that is not a SpikeInterface extractor, when a ``params.py``
        holds anything but assignments of literals, or, without ``allow_pickle``, when a file holds
        pickled data.
    """
    files = [path] if path.is_file() else []
    if path.is_dir():
        for i, f in enumerate(p for p in path.rglob("*") if p.is_file()):
            if i >= MAX_FILES:
                raise NwbLdnsError(f"{path} holds more than {MAX_FILES:,} files; that is not a sorting folder")
            files.append(f)
    for f in files:
        rel = f.relative_to(path) if f != path else Path(f.name)
        if f.name == "params.py":
            why = _literal_assignments(f)
            if why is not None:
                raise NwbLdnsError(
                    f"{rel} in {path} {why}; nwb-ldns reads phy parameters only as literal values and never runs them"
                )
        elif f.suffix.lower() == ".json":
            try:
                meta = json.loads(f.read_text())
            except (OSError, ValueError, UnicodeDecodeError):
                continue
            foreign = _foreign_classes(meta, [])
            if foreign:
                raise NwbLdnsError(
                    f"{rel} in {path} names {foreign[0]}, which is not a SpikeInterface extractor; "
                    "nwb-ldns loads only SpikeInterface's own classes"
                )
        elif not allow_pickle and _pickled(f):
            raise NwbLdnsError(
                f"{rel} in {path} holds pickled data, which can run code when loaded; pass "
                "`allow_pickle` only for a sorting you made yourself"
            )


class _DataOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain data only: builtin containers, numpy arrays and hdmf-zarr references."""

    ALLOWED = {
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("hdmf_zarr.utils", "ZarrReference"),
    }  # a dict subclass: how hdmf-zarr stores references

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from pickled data")


class DataOnlyPickle(numcodecs.Pickle):
    """The Zarr ``pickle`` codec, decoding only plain data.

    hdmf-zarr stores object references (e.g. an electrodes table's ``group`` column) with the
    pickle codec; zarr decodes it with whatever codec is registered under ``pickle``. This one
    rebuilds the references (dicts, strings, numpy object arrays) but refuses any other class, so
    a crafted NWB-Zarr file cannot run code, whatever numcodecs version is installed.
    """

    codec_id = "pickle"

    def decode(self, buf, out=None):
        import io

        from numcodecs.compat import ensure_contiguous_ndarray

        data = ensure_contiguous_ndarray(buf).tobytes()
        try:
            dec = _DataOnlyUnpickler(io.BytesIO(data)).load()
        except pickle.UnpicklingError as exc:
            raise NwbLdnsError(f"a Zarr array holds pickled code, which nwb-ldns does not run ({exc})") from None
        if out is not None:
            np.copyto(out, dec)
            return out
        return dec


numcodecs.register_codec(DataOnlyPickle)  # every pickle-coded Zarr array this process reads


def check_complete(array, what: str) -> None:
    """Refuse a Zarr array with missing chunks (zarr would silently read them as its fill value).

    Arrays that are not Zarr (HDF5 datasets, numpy) pass unchecked.
    """
    import zarr

    if not isinstance(array, zarr.Array) or array.size == 0:
        return
    if array.nchunks_initialized < array.nchunks:
        raise NwbLdnsError(
            f"{what} is incomplete: {array.nchunks - array.nchunks_initialized} of its "
            f"{array.nchunks} Zarr chunks are missing (a partial copy or download?)"
        )
