"""``dandi:DANDISET[/ASSET_PATH][@VERSION]``: an NWB asset on DANDI, streamed or cached.

The real ``dandi`` client resolves the asset; without a cache, remfile streams only the byte
ranges pynwb reads; with ``--cache-dir`` (or ``NWB_LDNS_CACHE_DIR``) the asset is downloaded once,
keyed by its DANDI etag, and later runs (even offline) read the local copy.
``--dandi-api-url`` (or ``NWB_LDNS_DANDI_API_URL``) points at another DANDI instance.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

from ..errors import NwbLdnsError
from ..io.outputs import write_atomically
from .nwb import NWBRecording, open_nwb_file
from .registry import register_source

logger = logging.getLogger("nwb_ldns")

ENV_API_URL = "NWB_LDNS_DANDI_API_URL"
ENV_CACHE_DIR = "NWB_LDNS_CACHE_DIR"
PROBE_TIMEOUT_S = (3.0, 5.0)  # connect, read: an unreachable archive fails in seconds, not retries
MAX_PROBED_ASSETS = 10


def parse_dandi_uri(rest: str) -> tuple[str, str | None, str | None]:
    """``"000128/sub-X/f.nwb@0.220113.0408"`` -> ("000128", "sub-X/f.nwb", "0.220113.0408")."""
    body, at, version = rest.rpartition("@") if "@" in rest else (rest, "", "")
    dandiset, _, path = body.strip("/").partition("/")
    if not re.fullmatch(r"\d{6}", dandiset):
        raise NwbLdnsError(
            f"not a DANDI source: 'dandi:{rest}'; expected dandi:DANDISET[/ASSET_PATH][@VERSION], "
            "e.g. dandi:000128 or dandi:000128/sub-Jenkins/sub-Jenkins_ses-full_desc-train_behavior+ecephys.nwb"
        )
    if at and not version:
        raise NwbLdnsError(f"empty version after '@' in 'dandi:{rest}'")
    return dandiset, (path or None), (version or None)


def default_api_url() -> str:
    from dandi.consts import known_instances

    return known_instances["dandi"].api


def _probe(api_url: str) -> None:
    """One request without retries, so an unreachable archive is reported in seconds."""
    import requests

    try:
        requests.get(api_url.rstrip("/") + "/info/", timeout=PROBE_TIMEOUT_S).raise_for_status()
    except requests.RequestException as exc:
        reason = type(exc).__name__
        if getattr(exc, "response", None) is not None:
            reason = f"HTTP {exc.response.status_code}"
        raise ConnectionError(reason) from exc


def _record_path(cache_dir: Path, api_url: str, dandiset: str, path: str | None, version: str | None) -> Path:
    key = hashlib.sha256(json.dumps([api_url, dandiset, path, version]).encode()).hexdigest()[:24]
    return cache_dir / "dandi" / "resolved" / f"{key}.json"


def _is_nwb(path: str) -> bool:
    return path.lower().endswith(".nwb")


def _probe_asset(url: str, size: int) -> tuple[int, int] | None:
    """(n_units, n_trials) of a remote NWB file, or None without units or trials."""
    import h5py
    import remfile

    rf = remfile.File(url, _size=size)
    try:
        with h5py.File(rf, "r") as f:
            if "units/spike_times" not in f or "intervals/trials" not in f:
                return None
            return int(f["units/id"].shape[0]), int(f["intervals/trials/id"].shape[0])
    finally:
        rf.close()


def _choose_asset(ds, label: str):
    """The NWB asset of a dandiset to use when the URI names none."""
    assets = list(ds.get_assets())
    nwb = [a for a in assets if _is_nwb(a.path)]
    if not nwb:
        shown = ", ".join(a.path for a in assets[:5]) + (" ..." if len(assets) > 5 else "")
        raise NwbLdnsError(f"{label} has no NWB (.nwb) asset ({len(assets)} assets: {shown or 'none'})")
    if len(nwb) == 1:
        return nwb[0]
    listing = "; ".join(f"dandi:{ds.identifier}/{a.path}" for a in nwb[:MAX_PROBED_ASSETS])
    if len(nwb) > MAX_PROBED_ASSETS:
        raise NwbLdnsError(f"{label} holds {len(nwb)} NWB files; name one, e.g. {listing} ...")
    sizes = {}
    for a in nwb:
        found = _probe_asset(a.get_content_url(follow_redirects=1, strip_query=True), a.size)
        if found is not None:
            sizes[a.path] = found
    # pick a file only when it has at least the units and trials of every other (NLB train vs test)
    best = [
        a
        for a in nwb
        if a.path in sizes and all(sizes[a.path][0] >= u and sizes[a.path][1] >= t for u, t in sizes.values())
    ]
    if len(sizes) == 1 or (best and len(best) == 1):
        chosen = best[0] if best else next(a for a in nwb if a.path in sizes)
        others = [p for p in sizes if p != chosen.path]
        logger.info(
            "%s: using %s (%d units, %d trials)%s",
            label,
            chosen.path,
            *sizes[chosen.path],
            f"; also holds {', '.join(others)}" if others else "",
        )
        return chosen
    why = "none has both units and trials" if not sizes else "several have units and trials"
    raise NwbLdnsError(f"{label} holds {len(nwb)} NWB files and {why}; name one: {listing}")


def _download(url: str, dest: Path, size: int, quiet: bool) -> None:
    """Download to ``dest`` atomically (temporary name, size checked, rename)."""
    import requests
    from tqdm.auto import tqdm

    def fetch(tmp: Path) -> None:
        with (
            requests.get(url, stream=True, timeout=(5.0, 60.0)) as r,
            open(tmp, "wb") as fh,
            tqdm(
                total=size, unit="B", unit_scale=True, desc=f"download {dest.name}", disable=quiet, leave=False
            ) as bar,
        ):
            r.raise_for_status()
            for block in r.iter_content(1 << 20):
                fh.write(block)
                bar.update(len(block))
        if tmp.stat().st_size != size:
            raise NwbLdnsError(f"download of {url} ended at {tmp.stat().st_size} of {size} bytes")

    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomically(dest, fetch)
    except requests.RequestException as exc:
        raise NwbLdnsError(f"downloading {url} failed: {type(exc).__name__}: {exc}") from exc


def _open_cached(record: dict, uri: str) -> NWBRecording:
    local = record["local_path"]
    return open_nwb_file(local, uri=uri, provenance=dict(record["provenance"], source_uri=uri, cached_copy=local))


@register_source("dandi")
def open_dandi(
    rest: str, *, uri: str, cache_dir=None, dandi_api_url=None, quiet: bool = False, **_options
) -> NWBRecording:
    """Resolve a DANDI URI with the dandi client and open the asset (see module docstring)."""
    dandiset, asset_path, version = parse_dandi_uri(rest)
    api_url = (dandi_api_url or os.environ.get(ENV_API_URL) or default_api_url()).rstrip("/")
    cache_dir = cache_dir or os.environ.get(ENV_CACHE_DIR)
    cache = Path(cache_dir).expanduser() if cache_dir else None
    record_file = _record_path(cache, api_url, dandiset, asset_path, version) if cache else None
    label = f"dandi:{dandiset}" + (f"@{version}" if version else "")

    try:
        _probe(api_url)
    except ConnectionError as exc:
        if record_file is not None and record_file.exists():
            record = json.loads(record_file.read_text())
            if Path(record["local_path"]).exists():
                logger.warning(
                    "DANDI at %s is unreachable (%s); using the cached copy %s", api_url, exc, record["local_path"]
                )
                return _open_cached(record, uri)
        hint = "" if cache else "use `cache_dir` after one online run, or "
        raise NwbLdnsError(
            f"cannot reach DANDI at {api_url} ({exc}); check the network, {hint}pass a local .nwb path"
        ) from None

    os.environ.setdefault("DANDI_NO_ET", "1")  # no version check calling home on every run
    from dandi.dandiapi import DandiAPIClient
    from dandi.exceptions import NotFoundError

    try:
        client = DandiAPIClient(api_url=api_url)
        ds = client.get_dandiset(dandiset, version)
        version_id = ds.version_id
        asset = ds.get_asset_by_path(asset_path) if asset_path else _choose_asset(ds, label)
        if type(asset).__name__ == "RemoteZarrAsset":
            raise NwbLdnsError(
                f"{label}/{asset.path} is a Zarr asset; streaming NWB-Zarr from DANDI is not supported yet"
            )
        url = asset.get_content_url(follow_redirects=1, strip_query=True)
        digest = asset.get_raw_digest()
    except NotFoundError as exc:
        raise NwbLdnsError(f"{label}: {exc}") from None
    except NwbLdnsError:
        raise
    except Exception as exc:
        raise NwbLdnsError(f"{label}: DANDI request failed: {type(exc).__name__}: {exc}") from exc

    provenance = {
        "source_uri": uri,
        "dandi_api_url": api_url,
        "dandiset": dandiset,
        "version": version_id,
        "asset_path": asset.path,
        "asset_id": asset.identifier,
        "content_url": url,
        "size": asset.size,
        "content_hash": f"dandi-etag:{digest}",
    }

    if cache is not None:
        local = cache / "dandi" / "blobs" / re.sub(r"[^0-9A-Za-z._-]", "_", digest) / Path(asset.path).name
        if not local.exists():
            _download(url, local, asset.size, quiet)
        record_file.parent.mkdir(parents=True, exist_ok=True)
        record = json.dumps({"local_path": str(local), "provenance": provenance}, indent=1)
        write_atomically(record_file, lambda tmp: tmp.write_text(record))
        return _open_cached({"local_path": str(local), "provenance": provenance}, uri)

    import h5py
    import remfile
    from pynwb import NWBHDF5IO

    try:
        rf = remfile.File(url, _size=asset.size)
        h5 = h5py.File(rf, "r")
        io = NWBHDF5IO(file=h5, mode="r")
    except Exception as exc:
        raise NwbLdnsError(f"cannot stream {label}/{asset.path} as NWB (HDF5): {type(exc).__name__}: {exc}") from exc
    return NWBRecording(io=io, uri=uri, provenance=provenance, closers=[h5.close, rf.close])
