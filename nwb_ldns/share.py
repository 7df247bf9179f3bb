"""A dandiset folder of synthetic files, prepared offline for DANDI (``nwb-ldns share``).

The folder holds a draft ``dandiset.yaml`` (what nwb-ldns knows: a name, a description of how the
data were generated, the source dandiset; the license is left to the user), the files organised
by the ``dandi`` client into ``sub-<subject>/`` and a data card (markdown) with the model, the
training source, the realism metrics and the memorization audit of each file. ``dandi
validate`` must accept the folder. Nothing is uploaded: the upload is the user's step.

A file is shared only with an ``evaluate`` report whose memorization audit is not flagged,
unless ``force``: synthetic trials that copy training trials would share the recording.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import metrics as M
from .errors import NwbLdnsError
from .io.outputs import DANDISET_MARKER as MARKER
from .io.outputs import DATACARD as CARD
from .io.outputs import claim

logger = logging.getLogger("nwb_ldns")


@dataclasses.dataclass
class Shared:
    """What :func:`share` made: the folder, each file's place in it, the card and the validator's words."""

    path: Path
    files: dict[str, str]  # source file -> path inside the folder
    card: Path
    validation: str


def _read(path: Path) -> dict:
    """What the data card says of a file written by ``generate``."""
    from .io.nwbfile import is_zarr_path, open_nwb

    if is_zarr_path(path):
        raise NwbLdnsError(f"{path} is NWB-Zarr; DANDI's organize and validate read HDF5: share the .nwb output")
    try:
        with open_nwb(path) as io:
            nwb = io.read()
            meta = nwb.lab_meta_data
            if "ldns_generation" not in meta or "ldns_model" not in meta:
                raise NwbLdnsError(f"{path} was not written by nwb-ldns generate; share shares synthetic files")
            model, gen, src = meta["ldns_model"], meta["ldns_generation"], meta["ldns_model"].training_data
            return {
                "identifier": nwb.identifier,
                "n_trials": len(nwb.trials) if nwb.trials is not None else 0,
                "n_units": len(nwb.units) if nwb.units is not None else 0,
                "subject": nwb.subject.subject_id if nwb.subject is not None else None,
                "model": {"method": model.method, "version": model.package_version, "description": model.description},
                "training": {
                    k: getattr(src, k, None)
                    for k in ("source_uri", "dandiset", "dandiset_version", "asset_path", "content_hash")
                },
                "generation": {
                    "seed": int(gen.seed),
                    "sampler": gen.sampler,
                    "sampling_steps": int(gen.sampling_steps),
                    "guidance": float(gen.guidance),
                    "observation_model": gen.observation_model,
                    "condition": gen.condition_kind
                    + (f" ({gen.condition_name})" if getattr(gen, "condition_name", None) else ""),
                },
                "bin_ms": json.loads(src.data_spec).get("bin_ms") if src.data_spec else None,
            }
    except NwbLdnsError:
        raise
    except Exception as exc:
        raise NwbLdnsError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc


def _reports(report_dirs) -> dict[str, dict]:
    """metrics.json of each report, by the identifier of the synthetic file it evaluated."""
    out = {}
    for d in report_dirs:
        try:
            m = json.loads((Path(d) / "metrics.json").read_text())
        except (OSError, ValueError) as exc:
            raise NwbLdnsError(f"{d} is not a report written by nwb-ldns evaluate (no readable metrics.json)") from exc
        if "synthetic_identifier" not in m:
            raise NwbLdnsError(f"{d} names no synthetic file's identifier: evaluate it again with this version")
        out[m["synthetic_identifier"]] = m
    return out


def _audit_refusal(path: Path, metrics: dict | None) -> str | None:
    """Why ``path`` may not be shared without ``force`` (None when its audit passed)."""
    if metrics is None:
        return (
            f"{path} has no memorization audit: run `nwb-ldns evaluate --real SOURCE --synthetic {path} "
            "--model MODEL -o REPORT` and give the report with `reports`"
        )
    mem = metrics.get("memorization")
    if not mem:
        return f"the report of {path} has no memorization audit: evaluate it again with this version"
    if mem.get("flagged") is None:
        return f"the memorization audit of {path} could not run ({mem.get('not_applicable')})"
    if mem["flagged"]:
        return (
            f"the memorization audit flags {path}: {100 * mem['close_fraction']:.0f}% of its trials are closer to "
            f"a training trial than 95% of held-out recordings ({mem['exact_copies']} exact copies)"
        )
    return None


def _yaml(infos: list[dict], dandiset_id: str | None) -> str:
    import yaml

    sources = sorted({i["training"]["source_uri"] for i in infos if i["training"]["source_uri"]})
    methods = sorted({i["model"]["method"].upper() for i in infos})
    n_trials = sum(i["n_trials"] for i in infos)
    of = ", ".join(sources) or "a recording"
    meta = {
        "identifier": f"DANDI:{dandiset_id or '000000'}",
        "name": f"Synthetic spiking trials from {' and '.join(methods)} models of {of}",
        "description": (
            f"{n_trials} synthetic trials in {len(infos)} NWB file(s), sampled with nwb-ldns from latent diffusion "
            f"models ({', '.join(methods)}) fitted to {of}. No trial was recorded: "
            "each file's trials table marks them synthetic, /general/ldns_model holds the model's full "
            "configuration and training data, /general/ldns_generation how the trials were drawn. The data card "
            f"{CARD} gives the realism metrics and the memorization audit."
        ),
        "keywords": ["synthetic data", "latent diffusion", "spiking", "nwb-ldns", *methods],
    }
    related = []
    for i in infos:
        t = i["training"]
        if t.get("dandiset"):
            version = t.get("dandiset_version") or "draft"
            related.append(
                {
                    "identifier": f"DANDI:{t['dandiset']}/{version}",
                    "url": f"https://dandiarchive.org/dandiset/{t['dandiset']}/{version}",
                    "relation": "dcite:IsDerivedFrom",
                    "name": "the recording the model was fitted on",
                }
            )
    if related:
        meta["relatedResource"] = [dict(r) for r in {r["identifier"]: r for r in related}.values()]
    head = [
        MARKER + ": a draft to review before uploading.",
        "# Choose the license (DANDI offers spdx:CC0-1.0 and spdx:CC-BY-4.0) and add contributors on the archive;",
        "# nwb-ldns does not choose them for you.",
    ]
    if dandiset_id is None:
        head.append(
            "# identifier: create the dandiset on the archive, then put its number here (or share --dandiset-id)."
        )
    return "\n".join(head) + "\n" + yaml.safe_dump(meta, sort_keys=False, width=100)


def _card(infos: list[dict], placed: dict[str, str], audits: dict[str, dict | None]) -> str:
    lines = ["# Data card: synthetic spiking trials", ""]
    lines += [
        "Every trial in these files was generated by a model; none was recorded. Written by `nwb-ldns share`.",
        "",
    ]
    for (src, dest), info in zip(placed.items(), infos):
        t, g, m = info["training"], info["generation"], info["model"]
        lines += [f"## {dest}", ""]
        lines += [
            f"- **Content**: {info['n_trials']} synthetic trials x {info['n_units']} units"
            + (f", {info['bin_ms']} ms bins" if info.get("bin_ms") else "")
            + f" (from `{Path(src).name}`; NWB identifier `{info['identifier']}`).",
            f"- **Model**: {m['description']} (nwb-ldns {m['version']}); full configuration in `/general/ldns_model`.",
            "- **Training data**: `"
            + str(t.get("source_uri"))
            + "`"
            + (
                f", dandiset {t['dandiset']} version {t.get('dandiset_version') or 'draft'}"
                if t.get("dandiset")
                else ""
            )
            + (f", asset `{t['asset_path']}`" if t.get("asset_path") else "")
            + (f", content {t['content_hash']}" if t.get("content_hash") else "")
            + ".",
            f"- **Generation**: seed {g['seed']}, {g['sampler']} with {g['sampling_steps']} steps, guidance "
            f"{g['guidance']:g}, {g['observation_model']} observation model, condition {g['condition']}.",
        ]
        metrics = audits.get(info["identifier"])
        if metrics is None:
            lines += ["- **Realism and memorization**: not evaluated (shared with `--force`).", ""]
            continue
        floor = metrics.get("half_vs_half", {})
        lines += [
            "",
            f"Realism (`nwb-ldns evaluate` against `{metrics.get('real')}`, {metrics.get('split')} split; "
            "ratio to the real data's half-vs-half floor, 1 is as close as two halves of the recording):",
            "",
            "| statistic | synthetic vs real | floor | ratio |",
            "|---|---|---|---|",
        ]
        for metric in M.METRICS:
            v, f = metrics.get(metric.name), floor.get(metric.name, {})
            if not metric.core or not v or v.get("mean") is None:
                continue
            ratio = "" if not f.get("mean") or metric.higher_is_better else f"{v['mean'] / f['mean']:.2g}x"
            label = metric.label.replace("|", "\\|")  # a pipe would end the cell
            lines.append(f"| {label} | {v['mean']:.4g} | {f.get('mean', float('nan')):.4g} | {ratio} |")
        rate = (metrics.get("rate_ratio") or {}).get("median")
        if rate is not None:
            lines += ["", f"Synthetic / real firing rate per neuron: median {rate:.3g}."]
        mem = metrics.get("memorization") or {}
        if mem.get("flagged") is None:
            lines += ["", f"Memorization audit: not run ({mem.get('not_applicable', 'no audit in the report')})."]
        else:
            s, h = mem["synthetic_distance"], mem["heldout_distance"]
            lines += [
                "",
                f"Memorization audit ({mem['features']}): distance to the closest of {mem['n_train']} training "
                f"trials, synthetic median {s['median']:.4g} against {h['median']:.4g} for {mem['n_heldout']} "
                f"held-out recorded trials; {100 * mem['close_fraction']:.1f}% of synthetic trials are closer than "
                f"95% of held-out ones ({100 * mem['expected_close_fraction']:.0f}% expected, binomial p "
                f"{mem['binomial_p']:.3g}), {mem['exact_copies']} exact copies: "
                + ("**flagged** (shared with `--force`)." if mem["flagged"] else "not flagged."),
            ]
        lines.append("")
    return "\n".join(lines)


def _dandi() -> list[str]:
    exe = Path(sys.executable).parent / "dandi"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("dandi")
    if found is None:
        raise NwbLdnsError("the dandi client's command is not installed beside this Python (pip install dandi)")
    return [found]


def share(
    synthetic_paths,
    output,
    *,
    reports=(),
    dandiset_id: str | None = None,
    force: bool = False,
    overwrite: bool = False,
) -> Shared:
    """Prepare a dandiset folder of synthetic files, offline; nothing is uploaded.

    Parameters
    ----------
    synthetic_paths : ``.nwb`` files written by ``nwb-ldns generate``
    output : the dandiset folder to create
    reports : ``evaluate`` report folders of those files (matched by the files' NWB identifiers)
    dandiset_id : the dandiset's six digits, when it exists on the archive
    force : share files without a passing memorization audit
    overwrite : replace a folder ``share`` wrote

    Raises
    ------
    NwbLdnsError
        A file that is not a synthetic HDF5 NWB file, a file without a passing audit (without
        ``force``), an output that exists, or a folder ``dandi validate`` rejects.
    """
    from dandi.organize import FileOperationMode, organize

    os.environ.setdefault("DANDI_NO_ET", "1")  # no version check calling home
    if dandiset_id is not None and not re.fullmatch(r"\d{6}", str(dandiset_id)):
        raise NwbLdnsError(f"`dandiset_id` {dandiset_id!r} is not a dandiset number (six digits, e.g. 000128)")
    paths = [Path(p) for p in synthetic_paths]
    if not paths:
        raise NwbLdnsError("no synthetic files to share")
    infos = [_read(p) for p in paths]
    if len({i["identifier"] for i in infos}) < len(infos):
        raise NwbLdnsError("the same synthetic file is given twice")
    by_id = _reports(reports)
    audits = {}
    for p, info in zip(paths, infos):
        metrics = by_id.get(info["identifier"])
        why = _audit_refusal(p, metrics)
        if why and not force:
            raise NwbLdnsError(f"{why}; not sharing it (`force` shares it anyway)")
        if why:
            logger.warning("%s; shared because of `force`", why)
        audits[info["identifier"]] = metrics
    output = Path(output)
    with claim(output, kind="dandiset", overwrite=overwrite) as out:
        out.tmp.mkdir()
        (out.tmp / "dandiset.yaml").write_text(_yaml(infos, dandiset_id))
        organize([str(p) for p in paths], dandiset_path=str(out.tmp), files_mode=FileOperationMode.COPY, jobs=1)
        placed = {}
        for p, info in zip(paths, infos):
            found = [f for f in out.tmp.rglob("*.nwb") if _identifier(f) == info["identifier"]]
            if len(found) != 1:
                raise NwbLdnsError(f"dandi organize did not place {p} in the dandiset folder")
            placed[str(p)] = found[0].relative_to(out.tmp).as_posix()
        (out.tmp / CARD).write_text(_card(infos, placed, audits))
        env = {**os.environ, "DANDI_NO_ET": "1"}
        v = subprocess.run([*_dandi(), "validate", str(out.tmp)], capture_output=True, text=True, env=env)
        said = (v.stdout + v.stderr).strip()
        if v.returncode != 0:
            first = next((line for line in said.splitlines() if "ERROR" in line or "error" in line), said[-300:])
            raise NwbLdnsError(f"dandi validate rejects the dandiset folder: {first.strip()}")
        final = out.commit()
    verdict = next((line for line in said.splitlines() if "No errors" in line), said.splitlines()[-1] if said else "")
    return Shared(path=Path(final), files=placed, card=Path(final) / CARD, validation=verdict.strip())


def _identifier(path: Path) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            value = f["identifier"][()]
            return value.decode() if isinstance(value, bytes) else str(value)
    except (OSError, KeyError):
        return None
