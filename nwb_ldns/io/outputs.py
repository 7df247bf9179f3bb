"""Where outputs land: one writer per output, nothing replaced that nwb-ldns did not write.

Every command that writes an output (a dataset, an NWB file, a model dir, a report) goes through
:func:`claim`, which

- takes an exclusive lock on the output (an ``flock`` on a hidden file beside it, released by the
  kernel even on SIGKILL), so a second process writing the same output fails in one line;
- repairs and removes what a killed run left beside it (its temporaries, scratch and lock files),
  and does the same for other outputs in the folder whose lock is free;
- refuses an existing output without ``overwrite``, and with ``overwrite`` refuses anything that
  nwb-ldns did not write (a folder holding files it does not write, a file of another tool);
- hands out hidden sibling names for temporaries, and :meth:`Claim.commit` moves a finished
  temporary into place atomically (a folder: the old one is moved aside first and restored on
  the next claim if a kill falls between the two renames).

Hidden names are ``.nwb-ldns-<tag>.<name>`` beside the output ``<name>``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import Callable

from ..errors import NwbLdnsError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locks, the rest holds
    fcntl = None

logger = logging.getLogger("nwb_ldns")

PREFIX = ".nwb-ldns-"
TAGS = ("tmp", "scratch", "old", "new", "lock")
_HIDDEN = re.compile(r"^\.nwb-ldns-(?P<tag>" + "|".join(TAGS) + r")\.(?P<name>.+)$")
# what generate and the NWB writer of versions before these names left behind after a kill:
# .scratch-PID-NAME.nwb, .tmp-PID-NAME.nwb, .NAME.nwb.old-PID (also .nwb.zarr); nothing else matches
_LEGACY = re.compile(r"^\.(?:scratch|tmp)-(?P<pid>\d+)-.+\.nwb(?:\.zarr)?$|^\..+\.nwb(?:\.zarr)?\.old-(?P<pid2>\d+)$")

#: first line of the dandiset.yaml ``share`` writes, and its data card's name: a later ``--overwrite``
#: replaces only such a folder
DANDISET_MARKER = "# written by nwb-ldns share"
DATACARD = "nwb-ldns-datacard.md"

_held: dict[Path, int] = {}  # outputs this process holds, with how deep (claims nest: generate -> write)


def hidden(path: Path, tag: str) -> Path:
    """The hidden sibling of ``path`` for ``tag`` (``tmp``, ``scratch``, ``old``, ``new``, ``lock``)."""
    path = Path(path)
    return path.with_name(f"{PREFIX}{tag}.{path.name}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        try:
            path.unlink()
        except FileNotFoundError:
            pass


# ---- recognising what nwb-ldns wrote ---------------------------------------------------------------
def _zarr_entries_only(path: Path) -> str | None:
    """None when every entry of a Zarr folder is Zarr metadata or a Zarr group/array; else the first other."""
    for entry in sorted(path.iterdir()):
        if entry.name in (".zattrs", ".zgroup", ".zmetadata", ".zarray"):
            continue
        if entry.is_dir() and any((entry / m).is_file() for m in (".zgroup", ".zarray")):
            continue
        return entry.name
    return None


def _nwb_by_us(path: Path) -> bool:
    """An NWB file (HDF5 or Zarr) that nwb-ldns wrote: its ``source_script`` starts with ``nwb-ldns``, or it
    holds the ldns_model metadata (generate and encode)."""

    def ours(script) -> bool:
        if script is None:
            return False
        value = script[()]
        value = value.reshape(-1)[0] if getattr(value, "ndim", 0) else value
        value = value.decode() if isinstance(value, bytes) else str(value)
        return value.startswith("nwb-ldns")

    try:
        if path.is_dir():
            import zarr

            root = zarr.open_group(str(path), mode="r")
            general = root.get("general")
            return general is not None and ("ldns_model" in general or ours(general.get("source_script")))
        import h5py

        with h5py.File(path, "r") as f:
            return "general/ldns_model" in f or ours(f.get("general/source_script"))
    except Exception:  # not HDF5 / not Zarr / unreadable: not something we wrote
        return False


def _foreign_entry(path: Path, kind: str) -> str | None:
    """Why ``path`` is not an output of ``kind`` that nwb-ldns wrote (None when it is)."""
    if kind == "nwb":
        if path.is_dir():
            other = _zarr_entries_only(path)
            if other is not None:
                return f"it holds {other}"
        return None if _nwb_by_us(path) else "it is not an NWB file written by nwb-ldns"
    if not path.is_dir():
        return "it is a file, not a folder"
    if kind == "dataset":
        try:
            attrs = json.loads((path / ".zattrs").read_text())
        except (OSError, ValueError):
            attrs = {}
        if "nwb_ldns_version" not in attrs or "spec" not in attrs:
            return "it is not a dataset written by nwb-ldns bin"
        other = _zarr_entries_only(path)
        return None if other is None else f"it holds {other}"
    if kind == "report":
        names = {p.name for p in path.iterdir()}
        if not {"metrics.json", "index.html"} <= names:
            return "it is not a report written by nwb-ldns evaluate"
        other = sorted(n for n in names if n not in ("metrics.json", "index.html") and not n.endswith(".png"))
        return None if not other else f"it holds {other[0]}"
    if kind == "dandiset":
        try:
            ours = (path / "dandiset.yaml").read_text().startswith(DANDISET_MARKER)
        except OSError:
            ours = False
        if not ours:
            return "it is not a dandiset folder written by nwb-ldns share"
        for e in path.iterdir():
            if e.name in ("dandiset.yaml", DATACARD):
                continue
            files = list(e.rglob("*")) if e.is_dir() and e.name.startswith("sub-") else [e]
            other = next((f for f in files if not (f.is_dir() or (f.suffix == ".nwb" and _nwb_by_us(f)))), None)
            if other is not None:
                return f"it holds {other.relative_to(path)}"
        return None
    if kind == "model":
        entries = list(path.iterdir())
        if not entries:
            return None  # an empty folder: nothing to lose
        try:
            cfg = json.loads((path / "config.json").read_text())
        except (OSError, ValueError):
            cfg = None
        if not isinstance(cfg, dict) or cfg.get("format") != "nwb-ldns-model":
            return "it is not a model dir written by nwb-ldns fit"
        for e in entries:
            ok = (
                e.name == "config.json"
                or e.name.endswith(".safetensors")
                or ".tmp-" in e.name
                or (
                    e.name == "checkpoints"
                    and e.is_dir()
                    and all(c.name.endswith(".safetensors") or ".tmp-" in c.name for c in e.iterdir())
                )
            )
            if not ok:
                return f"it holds {e.name}"
        return None
    raise ValueError(f"unknown output kind {kind!r}")


def check_replaceable(path, *, kind: str, overwrite: bool, what: str = "") -> None:
    """Fail in one line unless ``path`` is free, or ``overwrite`` is set and nwb-ldns wrote what is there.

    Parameters
    ----------
    path : output path
    kind : {"nwb", "dataset", "report", "model", "dandiset"}
    overwrite : the user passed ``--overwrite``
    what : how to name the output in messages (default: the path)
    """
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return
    name = what or str(path)
    if path.is_symlink():
        raise NwbLdnsError(f"{name} is a symbolic link; nwb-ldns does not write through it (choose another -o)")
    if kind == "model" and path.is_dir() and not any(path.iterdir()):
        return
    if not overwrite:
        raise NwbLdnsError(f"{name} already exists; pass `overwrite` to replace it")
    why = _foreign_entry(path, kind)
    if why is not None:
        raise NwbLdnsError(f"{name} was not written by nwb-ldns ({why}); not replacing it (choose another -o)")


# ---- the lock and what killed runs left --------------------------------------------------------------
class _Lock:
    def __init__(self, path: Path):
        self.path = hidden(path, "lock")
        self.fd: int | None = None

    def acquire(self) -> bool:
        """True when taken; False when another process holds it."""
        if fcntl is None:
            return True
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    return False
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):  # a file system without locks
                    logger.debug("no file locks on %s (%s): writing without one", self.path.parent, exc)
                    return True
                raise
            try:  # the file may have been removed and re-created by its last holder: lock the current one
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
                return True
            os.close(fd)

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self.fd is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            os.close(self.fd)
            self.fd = None


def _recover(path: Path) -> None:
    """With ``path``'s lock held: restore a folder a kill left moved aside, remove the rest.

    A model being fitted beside the one it will replace (``new``) is kept: ``fit --resume`` continues it.
    """
    old = hidden(path, "old")
    if old.exists() and not path.exists():
        os.replace(old, path)  # the kill fell between moving the old output aside and the new one in
        logger.warning("restored %s, which an interrupted run had moved aside", path)
    for tag in ("tmp", "scratch", "old"):
        leftover = hidden(path, tag)
        if leftover.exists() or leftover.is_symlink():
            _remove(leftover)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(folder: Path) -> None:
    """Remove what killed runs left in ``folder``: hidden files of outputs whose lock is free, and the
    PID-named temporaries of earlier versions whose process is gone."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return
    names = set()
    for e in entries:
        m = _HIDDEN.match(e.name)
        if m:
            names.add(m.group("name"))
        legacy = _LEGACY.match(e.name)
        if legacy:
            pid = int(legacy.group("pid") or legacy.group("pid2"))
            if pid != os.getpid() and not _pid_alive(pid):
                _remove(e)
    for name in names:
        target = Path(folder) / name
        if target.resolve() in _held:
            continue
        lock = _Lock(target)
        if lock.acquire():
            try:
                _recover(target)
            finally:
                lock.release()


# ---- claiming an output --------------------------------------------------------------------------------
class Claim:
    """An output held by this process (see :func:`claim`).

    Attributes
    ----------
    path : the output
    tmp : hidden sibling to write the new output into (kept suffix: ``.nwb`` stays ``.nwb``)
    scratch : hidden sibling folder for intermediate files
    """

    def __init__(self, path: Path, kind: str, overwrite: bool, what: str, check: bool = True):
        self.path, self.kind, self.overwrite, self.what, self.check = path, kind, overwrite, what, check
        self.tmp = hidden(path, "tmp")
        self.scratch = hidden(path, "scratch")
        self._lock: _Lock | None = None
        self.committed = False

    def __enter__(self) -> Claim:
        key = self.path.resolve()
        if key in _held:  # nested: the outer claim holds the lock
            _held[key] += 1
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = _Lock(self.path)
        got = False
        for wait in (0.05, 0.2, 0.5, 0.0):  # another run's sweep may hold it for a moment
            got = lock.acquire()
            if got:
                break
            time.sleep(wait)
        if not got:
            raise NwbLdnsError(
                f"{self.what or self.path} is being written by another nwb-ldns process "
                f"(pid {lock.holder()}); wait for it or choose another -o"
            )
        self._lock = lock
        _held[key] = 1
        try:
            _recover(self.path)
            sweep(self.path.parent)
            if self.check:
                check_replaceable(self.path, kind=self.kind, overwrite=self.overwrite, what=self.what)
        except BaseException:
            self._release()
            raise
        return self

    def commit(self, new: Path | None = None) -> Path:
        """Move the finished ``new`` (default :attr:`tmp`) into place atomically."""
        new = Path(new or self.tmp)
        if self.path.is_dir() and not self.path.is_symlink():
            old = hidden(self.path, "old")
            _remove(old)
            os.replace(self.path, old)
            os.replace(new, self.path)
            _remove(old)
        else:
            os.replace(new, self.path)  # a file, or nothing yet: one atomic rename
        self.committed = True
        return self.path

    def _release(self) -> None:
        key = self.path.resolve()
        _held.pop(key, None)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __exit__(self, *exc) -> None:
        key = self.path.resolve()
        if _held.get(key, 0) > 1:
            _held[key] -= 1
            return
        try:
            for tag in ("tmp", "scratch") if self.kind == "model" else ("tmp", "scratch", "new"):
                _remove(hidden(self.path, tag))
        finally:
            self._release()


def claim(path, *, kind: str, overwrite: bool = False, what: str = "", check: bool = True) -> Claim:
    """Hold ``path`` for writing: ``with claim(out, kind="nwb", overwrite=ow) as c: write(c.tmp); c.commit()``.

    ``check=False`` only locks and repairs (``fit --resume`` continues an existing output).

    Raises
    ------
    NwbLdnsError
        When another process holds the output, when it exists and ``overwrite`` is not set, or when
        what exists was not written by nwb-ldns.
    """
    return Claim(Path(path), kind, overwrite, what, check)


def write_atomically(path, write: Callable[[Path], object], *, shared: bool = False) -> Path:
    """Write one file inside a folder this run owns: ``write(temporary)``, then an atomic rename.

    The temporary is a hidden sibling named after the process (``.NAME.tmp-PID``); it is removed
    when ``write`` fails, so readers see the old file or the new one, never a part. With
    ``shared`` the file gets the usual permissions (rw for all, less the umask) even when the
    writer created it private (safetensors writes 0600).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        if shared:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def describe_os_error(exc: BaseException) -> str | None:
    """A short reason for a failed write that a user can act on (full disk, quota, file size limit)."""
    text = f"{exc}"
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or "No space left on device" in text or "errno = 28" in text:
        return "no space left on device"
    if code == errno.EDQUOT or "Disk quota exceeded" in text:
        return "disk quota exceeded"
    if code == errno.EFBIG or "File too large" in text or "errno = 27" in text:
        return "file too large for this file system or process limit"
    return None
