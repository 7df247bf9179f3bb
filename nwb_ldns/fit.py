"""Fitting LDNS on a SpikeDataset: autoencoder -> latent diffusion -> spike history, into a model dir."""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import artifacts, distributed
from . import metrics as M
from .artifacts import STAGES
from .config import (
    AE_DROPOUT_CHOICES,
    HELDOUT_CO_BPS_MIN,
    PRESETS,
    SMALL_TRAIN_TRIALS,
    AutoencoderConfig,
    ConditionSpec,
    DataSpec,
    DenoiserConfig,
    DiffusionConfig,
    GnocchiConfig,
    TrainConfig,
    dropout_is_set,
    split_size_adaptations,
)
from .dataset import SpikeDataset
from .errors import NwbLdnsError
from .fitted import condition_features, latent_stats, resolve_device
from .io import outputs
from .models.autoencoder import Autoencoder
from .models.denoiser import Denoiser
from .models.diffusion import GaussianDiffusion
from .models.observation import FITTED_OBSERVATIONS, OBSERVATION_MODELS
from .training import Stage, train

logger = logging.getLogger("nwb_ldns")

#: how a time budget is shared between the stages (of what is left when each starts); the
#: denoiser gets most, as its training limits the samples' realism most (docs/fitting.md)
STAGE_SHARES = {
    "autoencoder": 0.25,
    "diffusion": 0.7,
    **{name: OBSERVATION_MODELS[name].time_share for name in FITTED_OBSERVATIONS},
}

DIFFUSION_VAL_ROWS = 256  # validation draws of the denoising loss (a small val split is repeated)
#: under a time budget the denoiser trains for this share of its stage's time; the rest is for
#: the rate calibration's samples
CALIBRATION_SHARE_REST = 0.9


# ---- conditions ------------------------------------------------------------------------------
def condition_values(dataset: SpikeDataset, spec: ConditionSpec) -> np.ndarray | None:
    """Raw per-trial condition values of ``dataset`` for a model's ConditionSpec."""
    if spec.kind == "none":
        return None
    if spec.kind == "velocity":
        v = dataset.behavior(spec.name).astype(np.float32)  # (trial, time, channel)
        if np.isnan(v).any():
            logger.warning("behaviour %s has NaN bins (outside its samples); they are set to its mean", spec.name)
            v = np.where(np.isnan(v), np.asarray(spec.mean, dtype=np.float32) if spec.mean else 0.0, v)
        return v
    cov = dataset.covariates()
    if spec.name not in cov:
        raise NwbLdnsError(f"the dataset has no trials column {spec.name!r}; columns: {', '.join(cov) or 'none'}")
    if spec.kind == "category":  # labels no training trial has are fed as no label (all zeros)
        return cov[spec.name].to_numpy().astype(str)
    v = cov[spec.name].to_numpy(dtype=np.float32)
    if np.isnan(v).any():
        raise NwbLdnsError(f"trials column {spec.name!r} has missing values in {int(np.isnan(v).sum())} trial(s)")
    return v


def condition_spec(dataset: SpikeDataset, condition: str | None) -> tuple[SpikeDataset, ConditionSpec]:
    """Resolve ``--condition angle|velocity|COLUMN`` against the dataset (train split statistics)."""
    if condition in (None, "", "none"):
        return dataset, ConditionSpec()
    behaviors = list(dataset.spec.behavior)
    train = dataset.split == "train"
    if condition == "velocity":
        if not behaviors:
            raise NwbLdnsError("`condition` velocity needs a velocity series: add `behavior` NAME (e.g. hand_vel)")
        name = behaviors[0]
        v = dataset.behavior(name)[train].reshape(-1, dataset.behavior(name).shape[-1])
        mean, std = np.nanmean(v, 0), np.nanstd(v, 0)
        std = np.where(std > 1e-8, std, 1.0)
        unit = str(dataset.ds[f"behavior_{name}"].attrs.get("unit", ""))
        return dataset, ConditionSpec(
            kind="velocity",
            name=name,
            channels=v.shape[-1],
            mean=tuple(map(float, mean)),
            std=tuple(map(float, std)),
            unit=unit,
        )
    cov = dataset.covariates()
    if condition == "angle":
        if "reach_angle" not in cov:
            if not behaviors:
                raise NwbLdnsError(
                    "`condition` angle needs a trials column reach_angle or a velocity `behavior` to compute it from"
                )
            dataset = dataset.with_reach_angle(behaviors[0])
        return dataset, ConditionSpec(kind="angle", name="reach_angle", channels=2)
    if condition not in cov:
        raise NwbLdnsError(
            f"`condition` {condition!r}: not angle, velocity or a trials column; columns: {', '.join(cov) or 'none'}"
        )
    v = cov[condition].to_numpy()
    if not np.issubdtype(v.dtype, np.number) or v.dtype == bool:
        return dataset, _category_spec(condition, v, train)
    v = v[train].astype(np.float64)
    std = float(np.nanstd(v)) or 1.0
    return dataset, ConditionSpec(kind="column", name=condition, channels=1, mean=(float(np.nanmean(v)),), std=(std,))


#: a trials column of labels with more distinct training values than this is refused as a condition
MAX_CATEGORIES = 64


def _category_spec(column: str, values: np.ndarray, train: np.ndarray) -> ConditionSpec:
    """A categorical condition over the training trials' labels of a text or boolean trials column."""
    labels = values.astype(str)
    categories, counts = np.unique(labels[train], return_counts=True)
    categories = np.array([str(c) for c in categories], dtype=object)  # plain str: repr() without np.str_
    if len(categories) < 2:
        raise NwbLdnsError(
            f"`condition` {column!r}: the training trials all have the label {categories[0]!r}; "
            "a condition needs two or more"
        )
    if len(categories) > MAX_CATEGORIES:
        raise NwbLdnsError(
            f"`condition` {column!r} has {len(categories)} distinct labels in the training trials (at most "
            f"{MAX_CATEGORIES}): a label per trial, such as an id, is not a condition"
        )
    few = categories[counts < 2]
    if len(few):
        logger.warning(
            "condition %s: label(s) %s have fewer than 2 training trials", column, ", ".join(map(repr, few[:5]))
        )
    unseen = sorted(set(labels.tolist()) - set(categories.tolist()))
    if unseen:
        logger.warning(
            "condition %s: label(s) %s of validation or test trials are in no training trial; the model "
            "cannot generate them",
            column,
            ", ".join(map(repr, unseen[:5])),
        )
    return ConditionSpec(kind="category", name=column, channels=len(categories), categories=tuple(categories))


# ---- configs ---------------------------------------------------------------------------------
def build_configs(
    dataset: SpikeDataset,
    cond: ConditionSpec,
    *,
    preset: str = "paper",
    seed: int = 0,
    overrides: dict[str, dict[str, Any]] | None = None,
    method: str = "ldns",
) -> dict[str, dict]:
    """Every config of a fit, from a preset, the data and explicit overrides (None values ignored)."""
    if preset not in PRESETS:
        raise NwbLdnsError(f"unknown preset {preset!r}; choose from auto, {', '.join(PRESETS)}")
    p = PRESETS[preset]
    o = {k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in (overrides or {}).items()}
    variable = bool((dataset.lengths < dataset.n_bins).any())
    adapted = split_size_adaptations(int((dataset.split == "train").sum()), o, preset)
    ae = AutoencoderConfig(**{**p["autoencoder"], **adapted.get("autoencoder", {}), **o.get("autoencoder", {})})
    ae = ae.replace(n_neurons=dataset.n_units)
    if variable and ae.bidirectional:
        logger.info("trials have different lengths: using a causal autoencoder")
        ae = ae.replace(bidirectional=False)
    den = DenoiserConfig(**{**p["denoiser"], **adapted.get("denoiser", {}), **o.get("denoiser", {})})
    den = den.replace(
        latent_dim=ae.latent_dim,
        cond_dim=cond.channels if cond.trial_level else 0,
        series_dim=cond.channels if cond.series else 0,
    )
    # the quick preset's v targets were measured for LDNS; GNOCCHI keeps the paper's epsilon until measured.
    # GNOCCHI drops no codes unless asked: on the two-factor sim:maze (docs/benchmarks.md) code dropout 0.1
    # made samples follow their codes less at guidance 1 (fresh noise 13.8 deg vs 11.1; withheld direction
    # 22.9 deg vs 9.5) and guidance 2-4 only bought that back (12.1-11.9 deg; 9.3-8.2 deg)
    preset_diffusion = p.get("diffusion", {}) if method == "ldns" else {"cond_drop": 0.0}
    diff = DiffusionConfig(**{**preset_diffusion, **o.get("diffusion", {})})
    out = {"autoencoder": ae.to_dict(), "denoiser": den.to_dict(), "diffusion": diff.to_dict()}
    if method == "gnocchi":
        g = GnocchiConfig(**{**p.get("gnocchi", {}), **o.get("gnocchi", {})})
        out["gnocchi"] = g.to_dict()
        out["denoiser"] = den.replace(code_dim=g.code_dim, null_code=diff.cond_drop > 0).to_dict()
    for key in ("ae_train", "diffusion_train"):
        out[key] = TrainConfig(**{**p[key], **adapted.get(key, {}), "seed": seed, **o.get(key, {})}).to_dict()
    for name in FITTED_OBSERVATIONS:
        obs = OBSERVATION_MODELS[name]
        key = obs.train_config
        out[key] = TrainConfig(**{**obs.train_presets.get(preset, {}), "seed": seed, **o.get(key, {})}).to_dict()
    out["preset"] = preset
    return out


def _data_info(dataset: SpikeDataset) -> dict:
    train = dataset.select("train")
    spikes = train.counts.sum(axis=(0, 1), dtype=np.float64)  # (unit,) counts are (trial, time, unit)
    valid = int(train.lengths.sum())  # bins inside the trials
    rates = spikes / max(valid, 1) / dataset.bin_s
    return {
        "unit_rates_hz": [round(float(r), 6) for r in rates],  # per unit, train split: generate checks against it
        "spec": dataset.spec.to_dict(),
        "unit_ids": dataset.unit_ids.tolist(),
        "n_bins": dataset.n_bins,
        "bin_s": dataset.bin_s,
        "time_start_s": float(dataset.ds["time"].values[0] - dataset.bin_s / 2),
        "variable_length": bool((dataset.lengths < dataset.n_bins).any()),
        "max_length": int(dataset.lengths.max()),
        # how many training trials have each length: generate draws whole trials' lengths from it
        "train_lengths": {str(k): int(v) for k, v in zip(*np.unique(train.lengths, return_counts=True))},
        "n_trials": {s: int((dataset.split == s).sum()) for s in ("train", "val", "test")},
        "session": dataset.session,
    }


def dropout_choices(n_train: int, overrides: dict | None = None) -> list[float]:
    """The coordinated dropouts the autoencoder stage tries, keeping the one of lowest validation NLL:
    :data:`~nwb_ldns.config.AE_DROPOUT_CHOICES` from :data:`~nwb_ldns.config.SMALL_TRAIN_TRIALS`
    training trials on, none (the configured one alone) under it or when the dropout is set."""
    if n_train < SMALL_TRAIN_TRIALS or dropout_is_set(overrides):
        return []
    return list(AE_DROPOUT_CHOICES)


def _small_data_guard(n_train: int, n_val: int, adapted: dict) -> dict:
    """Warn about a small train split; returns what is recorded in config.json under ``guard``:
    the split sizes, the warnings and ``adapted``, the config values chosen for the split's size."""
    out = {"train_trials": n_train, "val_trials": n_val, "warnings": [], "adapted": adapted}
    if "denoiser" in adapted:
        logger.info(
            "%d training trials: the denoiser is widened to %d channels for a large split (--denoiser-hidden sets it)",
            n_train,
            adapted["denoiser"]["hidden"],
        )
    if n_train < SMALL_TRAIN_TRIALS:
        chosen = "; ".join(f"{k} {kk} {vv}" for k, v in adapted.items() for kk, vv in v.items())
        out["warnings"].append(
            f"only {n_train} training trials: each stage stops when its validation loss stops improving, but "
            "expect less realistic samples than from a few hundred trials (check them with `nwb-ldns evaluate`)"
            + (f"; regularised more for a small split: {chosen}" if chosen else "")
        )
    if n_val < 5:
        out["warnings"].append(f"only {n_val} validation trials: early stopping and model selection are noisy")
    for w in out["warnings"]:
        logger.warning("%s", w)
    return out


def _plan_line(configs: dict, n_train: int, n_val: int) -> str:
    """What the fit will do, in words: trials, and optimizer steps per stage."""
    parts = []
    observations = [(OBSERVATION_MODELS[n].label, OBSERVATION_MODELS[n].train_config) for n in FITTED_OBSERVATIONS]
    for stage, key in (("autoencoder", "ae_train"), ("denoiser", "diffusion_train"), *observations):
        cfg = TrainConfig.from_dict(configs[key])
        rows = min(cfg.batch_size, n_train)
        if cfg.epochs > 0:
            parts.append(f"{stage} {cfg.epochs} passes ({cfg.epochs * -(-n_train // cfg.batch_size):,} steps)")
        else:
            parts.append(f"{stage} up to {cfg.steps:,} steps (~{cfg.steps * rows / n_train:,.0f} passes)")
    batch = min(TrainConfig.from_dict(configs["ae_train"]).batch_size, n_train)
    return (
        f"{n_train:,} training and {n_val:,} validation trials, batches of {batch}: "
        + ", ".join(parts)
        + "; a stage stops early when its validation loss stops improving, after a cooldown"
    )


def _ensure_val(dataset: SpikeDataset, seed: int) -> SpikeDataset:
    """A dataset with at least one validation trial: with none (a few trials, or a split column
    without ``val``), a tenth of the training trials (at least one) validate instead."""
    split = dataset.split.copy()
    train = np.flatnonzero(split == "train")
    if (split == "val").any():
        return dataset
    if train.size < 2:
        raise NwbLdnsError(
            f"the dataset has {train.size} training and no validation trials; a fit needs at least "
            "2 trials (use more trials, or a longer recording with `segment_ms`)"
        )
    k = max(1, int(round(0.1 * train.size)))
    moved = np.random.default_rng(seed).choice(train, k, replace=False)
    split[moved] = "val"
    logger.warning("no validation trials: %d of the %d training trials validate instead", k, train.size)
    return SpikeDataset(dataset.ds.assign(split=("trial", split.astype("<U5"))))


# ---- the model dir -----------------------------------------------------------------------------
def _prepare_dir(model_dir: Path, *, resume: bool, overwrite: bool, fresh: dict) -> Path:
    """Create, reuse (--resume) or prepare the replacement of (--overwrite) the model dir.

    Returns the dir to fit into: ``model_dir``, or, when replacing a model, a hidden sibling that
    takes its place only once the new fit is complete (a kill leaves the old model as it was, and
    ``--resume`` continues the new one).
    """
    cfg_path = model_dir / "config.json"
    new = outputs.hidden(model_dir, "new")
    if resume and (new / "config.json").is_file():  # an interrupted --overwrite fit
        _check_resumable(new, fresh)
        return _resumed(new)
    if model_dir.exists() and any(model_dir.iterdir()):
        if resume and cfg_path.is_file():
            _check_resumable(model_dir, fresh)
            return _resumed(model_dir)
        if cfg_path.is_file() and not overwrite:
            raise NwbLdnsError(
                f"{model_dir} already holds a model; pass `resume` to continue it or `overwrite` to replace it"
            )
        outputs.check_replaceable(model_dir, kind="model", overwrite=overwrite)
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir()
        artifacts.write_json(new / "config.json", fresh)
        return new
    shutil.rmtree(new, ignore_errors=True)
    model_dir.mkdir(parents=True, exist_ok=True)
    artifacts.write_json(cfg_path, fresh)
    return model_dir


def _resumed(model_dir: Path) -> Path:
    """The model dir a fit resumes in, without what a killed run's writes left half-done."""
    _remove_half_written(model_dir)
    _remove_half_written(model_dir / "checkpoints")
    return model_dir


def _check_resumable(model_dir: Path, fresh: dict) -> None:
    cfg = artifacts.read_config(model_dir)
    if DataSpec.from_dict(cfg["data"]["spec"]) != DataSpec.from_dict(fresh["data"]["spec"]) or cfg["provenance"].get(
        "content_hash"
    ) != fresh["provenance"].get("content_hash"):
        raise NwbLdnsError(
            f"{model_dir} was fitted on other data or options; `resume` needs the same SOURCE "
            "and data options (or fit into a new -o)"
        )
    if cfg["configs"] != fresh["configs"]:
        logger.info("resuming with the settings saved in %s", model_dir / "config.json")


def _finish_stage(model_dir: Path, cfg: dict, stage: str, tensors: dict[str, torch.Tensor], history: dict) -> None:
    cfg["stages"][stage] = {
        "history": history,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    distributed.on_main(lambda: _write_stage(model_dir, cfg, stage, tensors))  # rank 0 writes, the others wait


def _remove_half_written(folder: Path) -> None:
    """Remove what killed writes left in ``folder`` (the model dir or its checkpoints, held by this fit):
    our temporaries (``.NAME.tmp-PID``) and safetensors' own (``.tmp`` + 6 characters), which it
    writes first in the same folder."""
    if folder.is_dir():
        for p in (*folder.glob(".*.tmp-*"), *folder.glob(".tmp??????")):
            if p.is_file():
                p.unlink()


def _write_stage(model_dir: Path, cfg: dict, stage: str, tensors: dict[str, torch.Tensor]) -> None:
    artifacts.save_tensors(model_dir / f"{stage}.safetensors", tensors)
    artifacts.write_json(model_dir / "config.json", cfg)
    ckpt = model_dir / "checkpoints" / f"{stage}.safetensors"
    ckpt.unlink(missing_ok=True)
    _remove_half_written(ckpt.parent)
    if (model_dir / "checkpoints").is_dir() and not any((model_dir / "checkpoints").iterdir()):
        (model_dir / "checkpoints").rmdir()


def _why(history: dict) -> str:
    cooled = f", cooled down from step {history['cooldown_from']}" if history.get("cooldown_from") else ""
    return {
        "patience": f"validation loss stopped improving{cooled}",
        "time": "time budget reached",
        "steps": "step limit reached",
    }.get(history.get("stopped"), "stopped")


def _tensor(a, device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32).to(device)


def _sum_count(per_trial: torch.Tensor) -> torch.Tensor:
    """Per-trial losses as [sum, count], the form validation losses are averaged in."""
    return torch.stack([per_trial.float().sum(), torch.tensor(float(per_trial.shape[0]), device=per_trial.device)])


def _mask(lengths: np.ndarray, n_bins: int, device) -> torch.Tensor:
    return _tensor((np.arange(n_bins)[None] < lengths[:, None])[:, None], device)  # (B, 1, L)


# ---- stages ------------------------------------------------------------------------------------
def _autoencoder_stage(dataset, c: dict, variable: bool, device) -> tuple[Autoencoder, Stage]:
    """A fresh autoencoder of configs ``c`` and its training stage on the train and val splits."""
    torch.manual_seed(c["ae_train"]["seed"])
    ae = Autoencoder(config=AutoencoderConfig.from_dict(c["autoencoder"]))

    def tensors(split):
        ds = dataset.select(split)
        out = {"counts": _tensor(ds.counts_bct(), device)}
        if variable:
            out["mask"] = _mask(ds.lengths, ds.n_bins, device)
        return out

    stage = Stage(
        name="autoencoder",
        model=ae,
        config=TrainConfig.from_dict(c["ae_train"]),
        train=tensors("train"),
        val=tensors("val"),
        loss_fn=lambda m, b, r: m.loss(b["counts"], b.get("mask"), rng=r, reduction="trial"),
        val_fn=lambda m, b, r: m.validation_nll(b["counts"], b.get("mask")),
        select="best",
    )
    return ae, stage


def _fit_autoencoder(dataset, cfg, model_dir, device, resume, progress, compile, deadline=None) -> Autoencoder:
    """Train the autoencoder; with ``guard.dropout_choices`` once per dropout (each given an equal
    share of what is left of the deadline), keeping the one of lowest validation NLL."""
    choices = cfg.get("guard", {}).get("dropout_choices") or [cfg["configs"]["autoencoder"]["dropout"]]
    best, tried = None, []
    for i, p in enumerate(choices):
        c = {**cfg["configs"], "autoencoder": {**cfg["configs"]["autoencoder"], "dropout": p}}
        ae, stage = _autoencoder_stage(dataset, c, cfg["data"]["variable_length"], device)
        share = (
            None if deadline is None else time.monotonic() + max(0.0, deadline - time.monotonic()) / (len(choices) - i)
        )
        history = train(
            stage,
            device=device,
            checkpoint=model_dir / "checkpoints" / _ae_checkpoint(p, len(choices)),
            resume=resume,
            progress=progress,
            compile=compile,
            deadline=share,
        )
        del stage  # its float copies of the splits, before the next candidate makes its own
        val = math.inf if history["best_val"] is None else history["best_val"]
        tried.append({"dropout": p, **{k: history[k] for k in ("best_val", "steps", "seconds")}})
        if best is None or val < best[0]:
            best = (val, p, ae, history)
    _, chosen, ae, history = best
    if len(choices) > 1:
        cfg["configs"]["autoencoder"]["dropout"] = chosen
        cfg["guard"]["dropout_sweep"] = {"tried": tried, "chosen": chosen, "rule": "lowest validation Poisson NLL"}
        logger.info(
            "autoencoder: coordinated dropout %s (validation NLL %s)",
            chosen,
            ", ".join(f"{t['dropout']}: {t['best_val']:.5f}" for t in tried if t["best_val"] is not None),
        )
        for p in choices:  # the candidates' checkpoints: the chosen weights are written below
            (model_dir / "checkpoints" / _ae_checkpoint(p, len(choices))).unlink(missing_ok=True)
    _calibrate_rates(ae, dataset.select("train"), cfg["data"]["variable_length"], history, device)
    _check_heldout(ae, dataset.select("val"), cfg, history, device)
    _finish_stage(model_dir, cfg, "autoencoder", ae.state_dict(), history)
    logger.info(
        "autoencoder: best validation Poisson NLL %s at step %s of %s (%s; %.0f s)",
        f"{history['best_val']:.4f}" if history["best_val"] is not None else "n/a",
        history["best_step"],
        history["steps"],
        _why(history),
        history["seconds"],
    )
    return ae


def _ae_checkpoint(dropout: float, n_choices: int) -> str:
    return "autoencoder.safetensors" if n_choices == 1 else f"autoencoder-dropout{dropout:g}.safetensors"


def _calibrate_rates(ae, train: SpikeDataset, variable: bool, history: dict, device) -> None:
    """Match each unit's mean rate on the whole training trials to its mean count
    (:meth:`~nwb_ldns.models.autoencoder.Autoencoder.calibrate_rates`), recorded in ``history``."""
    counts = _tensor(train.counts_bct(), device)  # (B, N, L)
    mask = _mask(train.lengths, train.n_bins, device) if variable else None
    history["rate_calibration"] = cal = ae.calibrate_rates(counts, mask)
    logger.info(
        "autoencoder: mean rates matched to the training trials (they were %.3fx the data, median unit; "
        "offsets up to %.3f)",
        cal["rate_ratio_before_median"],
        cal["offset_max_abs"],
    )


def _check_heldout(ae, val: SpikeDataset, cfg: dict, history: dict, device) -> None:
    """Score the fitted autoencoder on held-out entries of the validation trials (co-bps over each
    unit's mean rate; :func:`~nwb_ldns.latent_sweep.heldout_co_bps`) into ``history``; warn, and
    record the warning in ``guard``, when its rates predict them no better than the mean rates."""
    from .latent_sweep import heldout_co_bps

    score, sd = heldout_co_bps(ae, val, device=device, seed=cfg["configs"]["ae_train"]["seed"])
    history["heldout_co_bps"] = score
    history["heldout_co_bps_sd"] = None if not math.isfinite(sd) else sd
    logger.info("autoencoder: held-out co-bps on %d validation trials %.4f +- %.4f", val.n_trials, score, sd)
    if score <= HELDOUT_CO_BPS_MIN:
        msg = (
            f"the autoencoder predicts held-out validation spikes no better than each unit's mean rate "
            f"(co-bps {score:.4f}): samples will not carry the recording's structure beyond firing rates; "
            "more trials, fewer units or a larger --time-budget may help"
        )
        logger.warning("%s", msg)
        cfg.setdefault("guard", {}).setdefault("warnings", []).append(msg)


def _latent_splits(dataset, model, variable: bool, device):
    """Train/val latents of the autoencoder, z-scored with the train statistics.

    Returns ({split: (dataset, batch with ``z`` and ``mask``)}, mean, std).
    """
    parts = {}
    for split in ("train", "val"):
        ds = dataset.select(split)
        z, _ = model.encode(ds.counts_bct(), ds.lengths if variable else None)
        parts[split] = (ds, z)
    mean, std = latent_stats(parts["train"][1], parts["train"][0].lengths if variable else None)
    out = {}
    for split, (ds, z) in parts.items():
        batch = {"z": _tensor((z - mean.numpy()[:, None]) / std.numpy()[:, None], device)}
        if variable:
            batch["mask"] = _mask(ds.lengths, ds.n_bins, device)
        out[split] = (ds, batch)
    return out, mean, std


def _train_diffusion_stage(
    net,
    batches,
    loss_fn,
    *,
    cfg,
    model_dir,
    device,
    resume,
    progress,
    compile,
    mean,
    std,
    label,
    deadline=None,
    after=None,
    calibrate=None,
):
    """Train a diffusion stage, save it with the latent statistics, log the result.

    ``after(net)`` runs on the selected weights before they are saved (GNOCCHI's code prior);
    then ``calibrate(net, mean, std, history, deadline)`` returns the per-unit sampled-rate
    offsets saved with them (or None). Under a ``deadline`` training stops at 90 % of the time
    left, and the calibration draws trials until the deadline (at least 64).

    The EMA weights of the best validation are kept. A denoising loss draws one noise level per
    trial, so a small validation split is repeated (each copy draws its own levels and noise,
    fixed from one validation to the next) to make the comparison between validations stable.
    """

    def val_fn(m, b, r):
        return _sum_count(loss_fn(m, b, r))

    val = _repeated(batches["val"])
    stage = Stage(
        name="diffusion",
        model=net,
        config=TrainConfig.from_dict(cfg["configs"]["diffusion_train"]),
        train=batches["train"],
        val=val,
        loss_fn=loss_fn,
        val_fn=val_fn,
        select="best",
    )
    train_until = None
    if deadline is not None:
        train_until = time.monotonic() + CALIBRATION_SHARE_REST * max(0.0, deadline - time.monotonic())
    history = train(
        stage,
        device=device,
        checkpoint=model_dir / "checkpoints" / "diffusion.safetensors",
        resume=resume,
        progress=progress,
        compile=compile,
        deadline=train_until,
    )
    if after is not None:
        after(net)
    logger.info(
        "%s: best validation loss %s at step %s of %s (%s; %.0f s)",
        label,
        f"{history['best_val']:.4f}" if history["best_val"] is not None else "n/a",
        history["best_step"],
        history["steps"],
        _why(history),
        history["seconds"],
    )
    tensors = {**net.state_dict(), "latent_mean": mean, "latent_std": std}
    if calibrate is not None:
        offsets = calibrate(net, mean, std, history, deadline)
        if offsets is not None:
            tensors["sample_rate_offset"] = offsets
    _finish_stage(model_dir, cfg, "diffusion", tensors, history)


def _fit_diffusion(dataset, cfg, model_dir, device, resume, progress, compile, deadline=None):
    """The diffusion stage: LDNS's denoiser, or GNOCCHI's code encoder and code-conditioned denoiser."""
    gnocchi = cfg.get("method") == "gnocchi"
    net, batches, loss_fn, mean, std, label = (_gnocchi_net if gnocchi else _ldns_denoiser)(
        dataset, cfg, model_dir, device
    )

    def code_prior(net):
        codes = {s: _codes(net.encoder, b) for s, b in batches.items()}
        g_cfg = GnocchiConfig.from_dict(cfg["configs"]["gnocchi"])
        seed = cfg["configs"]["diffusion_train"]["seed"]
        net.prior = fit_code_prior(
            codes["train"], codes["val"], config=g_cfg, device=device, progress=progress, seed=seed
        )

    _train_diffusion_stage(
        net,
        batches,
        loss_fn,
        cfg=cfg,
        model_dir=model_dir,
        device=device,
        resume=resume,
        progress=progress,
        compile=compile,
        mean=mean,
        std=std,
        label=label,
        deadline=deadline,
        after=code_prior if gnocchi else None,
        calibrate=lambda net, mean, std, history, until: _calibrate_samples(
            dataset, cfg, model_dir, device, net, mean, std, history, progress=progress, deadline=until
        ),
    )


def _calibrate_samples(
    dataset, cfg, model_dir, device, net, mean, std, history, *, progress, deadline=None
) -> torch.Tensor | None:
    """Per-unit offsets that match sampled trials' mean rates to the training trials'
    (:func:`~nwb_ldns.generate.rate_calibration`), from the fitted weights ``net`` before they
    are saved; recorded in ``history["sample_rate_calibration"]``. None when
    ``diffusion.rate_calibration_bins`` is 0."""
    from .generate import rate_calibration

    n_bins = DiffusionConfig.from_dict(cfg["configs"]["diffusion"]).rate_calibration_bins
    if n_bins <= 0:
        return None
    started = time.monotonic()
    model = artifacts.load_model(model_dir, device=device)  # the autoencoder, data and condition on disk
    if cfg.get("method") == "gnocchi":
        model.denoiser, model.code_encoder, model.code_prior = net.denoiser, net.encoder, net.prior
    else:
        model.denoiser = net
    model.latent_mean, model.latent_std = mean.to(device), std.to(device)
    model.to(device)  # eval mode for the fitted weights
    train = dataset.select("train")
    counts = train.counts_bct()  # (B, N, L)
    valid = M.valid_bins(train.lengths if cfg["data"]["variable_length"] else None, counts.shape[-1])
    bins = counts.shape[0] * counts.shape[-1] if valid is None else int(valid.sum())
    target = counts.sum((0, 2), dtype=np.float64) / bins  # (N,) mean counts per bin inside trials
    n_trials = int(np.clip(min(math.ceil(n_bins * counts.shape[0] / bins), 4 * counts.shape[0]), 64, 2000))
    offsets, record = rate_calibration(
        model,
        target,
        n_trials=n_trials,
        condition=condition_values(train, model.condition),
        seed=cfg["configs"]["diffusion_train"]["seed"],
        progress=progress,
        deadline=deadline,
    )
    record["seconds"] = time.monotonic() - started
    history["sample_rate_calibration"] = record
    before = record["rate_ratio_before"]
    logger.info(
        "samples: mean rates matched to the training trials (%d sampled trials were %.3fx the data, median unit; "
        "10th-90th percentile %.2f-%.2f; offsets up to %.3f; %.0f s)",
        record["trials"],
        before["median"],
        before["p10"],
        before["p90"],
        record["offset_max_abs"],
        record["seconds"],
    )
    return torch.as_tensor(offsets)


def _repeated(val: dict) -> dict:
    """A validation split under ``DIFFUSION_VAL_ROWS`` rows, repeated to reach it: each copy draws its own
    noise levels, so comparisons between validations are steadier."""
    n_val = next(iter(val.values())).shape[0] if val else 0
    if not 0 < n_val < DIFFUSION_VAL_ROWS:
        return val
    reps = math.ceil(DIFFUSION_VAL_ROWS / n_val)
    return {k: v.repeat(reps, *([1] * (v.ndim - 1))) for k, v in val.items()}


@torch.no_grad()
def _codes(encoder, batch: dict, size: int = 256) -> torch.Tensor:
    """The encoder's codes (n, K) of a batch of z-scored latents and counts (and masks), in pieces."""
    x, mask = encoder.inputs(batch["z"], batch["counts"]), batch.get("mask")
    encoder.eval()
    return torch.cat(
        [encoder(x[i : i + size], None if mask is None else mask[i : i + size]).float() for i in range(0, len(x), size)]
    )


def fit_code_prior(
    train_codes: torch.Tensor,
    val_codes: torch.Tensor,
    *,
    config: GnocchiConfig,
    device="cpu",
    progress: bool = False,
    seed: int = 0,
):
    """GNOCCHI's code prior: a diffusion model over the codes (n, code_dim) of the training trials.

    Trained for at most ``config.prior_steps`` steps with early stopping on the validation
    codes' denoising loss (the training codes when there are no validation trials); the codes
    are standardised with the training codes' mean and std, saved with the prior. It takes
    seconds: a code is a handful of numbers.

    Returns
    -------
    CodePrior (best validation weights, on ``device``)
    """
    from .models.code_prior import CodePrior

    torch.manual_seed(seed)
    prior = CodePrior(code_dim=train_codes.shape[1], hidden=config.prior_hidden, n_layers=config.prior_layers)
    with torch.no_grad():
        prior.code_mean.copy_(train_codes.mean(0))
        prior.code_std.copy_(
            train_codes.std(0).clamp(min=1e-3) if len(train_codes) > 1 else torch.ones_like(prior.code_std)
        )
    gd = GaussianDiffusion(prior.diffusion)
    val = _repeated({"c": (val_codes if len(val_codes) else train_codes).to(device)})

    def loss_fn(m, b, r):
        return gd.loss(m, m.standardise(b["c"]), rng=r, reduction="trial")

    stage = Stage(
        name="code prior",
        model=prior,
        config=TrainConfig(steps=config.prior_steps, patience=20, batch_size=256, lr=1e-3, ema_decay=0.99, seed=seed),
        train={"c": train_codes.to(device)},
        val=val,
        loss_fn=loss_fn,
        val_fn=lambda m, b, r: _sum_count(loss_fn(m, b, r)),
        select="best",
    )
    history = train(stage, device=torch.device(device) if isinstance(device, str) else device, progress=progress)
    logger.info(
        "code prior: best validation loss %.4f at step %s of %s (%s; %.1f s)",
        history["best_val"],
        history["best_step"],
        history["steps"],
        _why(history),
        history["seconds"],
    )
    return prior.eval()


def _ldns_denoiser(dataset, cfg, model_dir, device):
    """LDNS's denoiser on the autoencoder's latents, conditioned as the data spec says (dropped for CFG)."""
    c = cfg["configs"]
    model = artifacts.load_model(model_dir, device=device)
    cond = ConditionSpec.from_dict(cfg["condition"])
    diffusion = GaussianDiffusion(DiffusionConfig.from_dict(c["diffusion"]))
    splits, mean, std = _latent_splits(dataset, model, cfg["data"]["variable_length"], device)
    batches = {}
    for split, (ds, batch) in splits.items():
        values = condition_values(ds, cond)
        if values is not None and ds.n_trials:
            batch["series" if cond.series else "cond"] = condition_features(cond, values).to(device)
        batches[split] = batch

    torch.manual_seed(c["diffusion_train"]["seed"])
    den = Denoiser(config=DenoiserConfig.from_dict(c["denoiser"]))
    p_drop = diffusion.config.cond_drop if cond.kind != "none" else 0.0

    def loss_fn(m, b, r):
        z = b["z"]
        drop = (r.rand(z.shape[0]) < p_drop) if p_drop > 0 else None  # (B,)
        fn = lambda x, t: m(x, t, mask=b.get("mask"), cond=b.get("cond"), series=b.get("series"), drop=drop)  # noqa: E731
        return diffusion.loss(fn, z, mask=b.get("mask"), rng=r, reduction="trial")

    return den, batches, loss_fn, mean, std, "diffusion"


def _gnocchi_net(dataset, cfg, model_dir, device):
    """GNOCCHI's diffusion stage: code encoder + code-conditioned denoiser on the autoencoder's latents.

    Loss = denoising + recon_weight * reconstruction + mmd_weight * MMD(codes, N(0, I)); the
    reconstruction is the Poisson NLL of the trial's spikes under the frozen decoder applied to
    the denoiser's x0 estimate at the sampled step, so at high noise the code must carry the trial.
    """
    from .models.infodiffusion import InfoDiffusion, mmd_rbf
    from .models.losses import poisson_nll

    c = cfg["configs"]
    model = artifacts.load_model(model_dir, device=device)
    ae = model.autoencoder.eval()
    for p in ae.parameters():
        p.requires_grad_(False)
    g_cfg = GnocchiConfig.from_dict(c["gnocchi"])
    diffusion = GaussianDiffusion(DiffusionConfig.from_dict(c["diffusion"]))
    splits, mean, std = _latent_splits(dataset, model, cfg["data"]["variable_length"], device)
    batches = {split: {**batch, "counts": _tensor(ds.counts_bct(), device)} for split, (ds, batch) in splits.items()}
    mean_d, std_d = mean.to(device)[:, None], std.to(device)[:, None]  # (D, 1)

    torch.manual_seed(c["diffusion_train"]["seed"])
    net = InfoDiffusion(
        denoiser=DenoiserConfig.from_dict(c["denoiser"]), config=g_cfg, n_neurons=model.autoencoder.config.n_neurons
    )
    # the code is dropped as LDNS drops its conditions, so sampling can guide by it
    p_drop = diffusion.config.cond_drop if net.denoiser.null_code is not None else 0.0

    def loss_fn(m, b, r):
        z, mask = b["z"], b.get("mask")
        code = m.encoder(m.encoder.inputs(z, b["counts"]), mask)  # (B, K)
        drop = (r.rand(z.shape[0]) < p_drop) if p_drop > 0 else None  # (B,)
        seen = {}

        def fn(x, t):
            out = m.denoiser(x, t, mask=mask, code=code, drop=drop)
            seen.update(x=x, t=t, out=out)
            return out

        denoise = diffusion.loss(fn, z, mask=mask, rng=r, reduction="trial")  # (B,)
        x0, _ = diffusion.split(seen["out"].float(), seen["x"], seen["t"])  # (B, D, L) estimate of the clean latents
        rates = ae.decode(x0 * std_d + mean_d)  # (B, N, L)
        nll = poisson_nll(rates, b["counts"])  # (B, N, L)
        m_ = torch.ones_like(nll[:, :1]) if mask is None else mask
        recon = (nll * m_).sum((1, 2)) / (m_.sum((1, 2)) * nll.shape[1]).clamp(min=1.0)  # (B,)
        prior = r.randn(*code.shape)  # (B, K)
        # MMD compares sets: it is taken over this piece of the batch (a micro-batch or a process's share)
        mmd = mmd_rbf(code.float(), prior)
        return denoise + g_cfg.recon_weight * recon + g_cfg.mmd_weight * mmd

    return net, batches, loss_fn, mean, std, "gnocchi diffusion"


def _fit_observation(name: str):
    """The fit stage of observation model ``name``: its parameters, on the autoencoder's rates of the real trials."""
    obs_cls = OBSERVATION_MODELS[name]

    def fit_stage(dataset, cfg, model_dir, device, resume, progress, compile, deadline=None):
        model = artifacts.load_model(model_dir, device=device)
        variable = cfg["data"]["variable_length"]

        def tensors(split):
            ds = dataset.select(split)
            counts = ds.counts_bct()
            _, rates = model.encode(counts, ds.lengths if variable else None)
            out = {"counts": _tensor(counts, device), "rates": _tensor(rates, device)}
            if variable:
                out["mask"] = _mask(ds.lengths, ds.n_bins, device)
            return out

        obs = obs_cls.build(n_neurons=model.n_neurons)
        stage = Stage(
            name=name,
            model=obs,
            config=TrainConfig.from_dict(cfg["configs"][obs_cls.train_config]),
            train=tensors("train"),
            val=tensors("val"),
            loss_fn=lambda m, b, r: m.loss(b["counts"], b["rates"], b.get("mask"), reduction="trial"),
            val_fn=lambda m, b, r: _sum_count(m.loss(b["counts"], b["rates"], b.get("mask"), reduction="trial")),
            select="best",
        )
        history = train(
            stage,
            device=device,
            checkpoint=model_dir / "checkpoints" / f"{name}.safetensors",
            resume=resume,
            progress=progress,
            compile=compile,
            deadline=deadline,
        )
        _finish_stage(model_dir, cfg, name, obs.state_dict(), history)
        logger.info("%s: best validation NLL %s", obs_cls.label, history["best_val"])

    return fit_stage


def fit(
    dataset: SpikeDataset,
    model_dir: str | Path = artifacts.DEFAULT_MODEL_DIR,
    *,
    preset: str = "paper",
    condition: str | None = None,
    method: str = "ldns",
    stages: tuple[str, ...] | None = None,
    device: str = "auto",
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    compile: bool = False,
    overrides: dict[str, dict[str, Any]] | None = None,
    time_budget: float | None = None,
    started: float | None = None,
) -> Path:
    """Fit LDNS on ``dataset`` and write the model dir.

    Parameters
    ----------
    dataset : SpikeDataset
        Uses its ``train`` split for fitting and ``val`` for model selection.
    model_dir : path
        Written as ``config.json`` + safetensors files.
    preset : ``paper`` (the paper's sizes, for a GPU), ``quick`` (minutes on a CPU) or ``auto``
        (``paper`` on CUDA, ``quick`` on a CPU).
    condition : None, ``angle``, ``velocity`` or a numeric trials column.
    method : ``ldns``, or ``gnocchi`` (the diffusion stage learns a per-trial code with it; no condition).
    stages : subset of :data:`~nwb_ldns.artifacts.STAGES` (``autoencoder``, ``diffusion``, then each
        fitted observation model, ``spike_history``); default all, in order.
        A later stage needs the earlier ones already in the model dir.
    device : ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    seed : int
    resume : continue a model dir: finished stages are skipped, a running one continues from its checkpoint.
    overwrite : replace an existing model dir.
    compile : train with the S4 blocks compiled by ``torch.compile`` (same training, faster steps
        after a compilation of seconds to a minute; see ``benchmarks/compile_speed.py``).
    overrides : per-config overrides, keys ``autoencoder``, ``denoiser``, ``diffusion``,
        ``ae_train``, ``diffusion_train``, ``history_train``.
    time_budget : seconds the whole fit may take (None: no limit). Each stage gets a share of
        what is left when it starts (``STAGE_SHARES``), so time a stage saves by stopping early
        goes to the later ones; a stage plans its schedule to end within its share.
    started : ``time.monotonic()`` from which the budget counts (default: now), e.g. the start
        of the command, so reading the data counts too.

    Returns
    -------
    Path of the model dir.
    """
    model_dir = Path(model_dir)
    dev = distributed.init(resolve_device(device))  # under torchrun: this process's device
    if preset == "auto":
        preset = "paper" if dev.type == "cuda" else "quick"
        if preset == "quick":
            logger.info(
                "no GPU: using `preset` quick (a small model that fits in minutes); "
                "`preset` paper gives the paper's sizes"
            )
    if int((dataset.split == "train").sum()) == 0:
        raise NwbLdnsError("the dataset has no training trials (split column)")
    dataset = _ensure_val(dataset, seed)
    if method not in ("ldns", "gnocchi"):
        raise NwbLdnsError(f"unknown method {method!r}; use ldns or gnocchi")
    if method == "gnocchi" and condition not in (None, "", "none"):
        raise NwbLdnsError("`method` gnocchi learns its own per-trial codes: drop `condition`")
    dataset, cond = condition_spec(dataset, condition)
    sweep = None
    if (overrides or {}).get("autoencoder", {}).get("latent_dim") == "auto":
        sweep = _latent_dim_sweep(
            dataset, cond, model_dir, preset=preset, seed=seed, overrides=overrides, method=method, device=dev,
            resume=resume, progress=progress, time_budget=time_budget, started=started,
        )  # fmt: skip
        overrides = {**overrides, "autoencoder": {**overrides["autoencoder"], "latent_dim": sweep["chosen"]}}
    fresh = artifacts.new_config(
        method=method,
        data=_data_info(dataset),
        provenance=dataset.provenance,
        condition=cond,
        configs=build_configs(dataset, cond, preset=preset, seed=seed, overrides=overrides, method=method),
    )
    if sweep is not None:
        fresh["latent_dim_sweep"] = sweep
    n_train = int((dataset.split == "train").sum())
    adapted = split_size_adaptations(n_train, overrides, preset)
    fresh["guard"] = _small_data_guard(n_train, int((dataset.split == "val").sum()), adapted)
    fresh["guard"]["dropout_choices"] = dropout_choices(n_train, overrides)
    logger.info("%s", _plan_line(fresh["configs"], fresh["guard"]["train_trials"], fresh["guard"]["val_trials"]))
    _check_fit_memory(dataset, dev)
    explicit = stages is not None
    stages = tuple(stages or STAGES)
    for s in stages:
        if s not in STAGES:
            raise NwbLdnsError(f"unknown stage {s!r}; stages: {', '.join(STAGES)}")
    with contextlib.ExitStack() as held:
        # one writer per model dir (rank 0 writes for all processes): a second fit into it fails at once
        out = distributed.on_main(lambda: held.enter_context(outputs.claim(model_dir, kind="model", check=False)))
        work = distributed.on_main(
            lambda: _prepare_dir(model_dir, resume=resume or explicit, overwrite=overwrite, fresh=fresh)
        )
        if work is None:  # the other processes fit where rank 0 prepared
            new = outputs.hidden(model_dir, "new")
            work = new if (new / "config.json").is_file() else model_dir
        _fit_stages(
            dataset,
            work,
            dev,
            stages=stages,
            explicit=explicit,
            resume=resume,
            progress=progress,
            compile=compile,
            time_budget=time_budget,
            started=started,
        )
        if work != model_dir:
            distributed.on_main(lambda: out.commit(work))  # the new model takes the old one's place
    return model_dir


#: peak memory of a CPU fit beyond the binned counts, per count (trial x bin x unit): float32 copies
#: of the splits for training, rate calibration and validation. Measured 2026-12-03 (quick preset,
#: peak resident memory over that before the fit): sim:lorenz 3000 trials 13 bytes, sim:maze 3000 7
FIT_BYTES_PER_COUNT = 14


def _check_fit_memory(dataset: SpikeDataset, device) -> None:
    """Refuse, before anything is written, a CPU fit whose float copies of the counts would not fit
    in the memory available (the kernel's OOM killer would end it mid-stage, without a word)."""
    from .dataset import available_memory

    if torch.device(device).type != "cpu":
        return
    counts = dataset.n_trials * dataset.n_bins * dataset.n_units
    need, free = FIT_BYTES_PER_COUNT * counts, available_memory()
    if free is None or need <= free:
        return
    raise NwbLdnsError(
        f"fitting {dataset.n_trials:,} trials x {dataset.n_bins:,} bins x {dataset.n_units:,} units on the CPU "
        f"needs about {need / 2**30:,.1f} GiB, {free / 2**30:,.1f} GiB are available: bin fewer or coarser "
        "(--window, --bin-ms, --units), or fit on a GPU"
    )


def _latent_dim_sweep(
    dataset, cond, model_dir, *, preset, seed, overrides, method, device, resume, progress, time_budget, started
) -> dict:
    """``latent_dim`` auto: the sweep of :mod:`nwb_ldns.latent_sweep` (reused when resuming a dir that ran it)."""
    from . import latent_sweep

    if resume and (Path(model_dir) / "config.json").is_file():
        done = artifacts.read_config(model_dir).get("latent_dim_sweep")
        if done:
            logger.info("`latent_dim` auto: %d, from the sweep saved in %s", done["chosen"], model_dir)
            return done
    deadline = None
    if time_budget is not None:
        t0 = time.monotonic() if started is None else started
        deadline = t0 + latent_sweep.SWEEP_SHARE * time_budget

    def build(d):
        o = {**overrides, "autoencoder": {**overrides["autoencoder"], "latent_dim": d}}
        c = build_configs(dataset, cond, preset=preset, seed=seed, overrides=o, method=method)
        return _autoencoder_stage(dataset, c, bool((dataset.lengths < dataset.n_bins).any()), device)

    return latent_sweep.choose_latent_dim(
        dataset, build, device=device, deadline=deadline, progress=progress, seed=seed
    )


def _fit_stages(
    dataset, model_dir: Path, dev, *, stages, explicit, resume, progress, compile, time_budget, started
) -> None:
    cfg = artifacts.read_config(model_dir)
    logger.info("fitting %s on %s (device %s) -> %s", ", ".join(stages), dataset, dev, model_dir)
    if time_budget is not None and not time_budget > 0:
        raise NwbLdnsError(f"time_budget must be positive, got {time_budget}")
    end = None if time_budget is None else (time.monotonic() if started is None else started) + time_budget
    for s in stages:
        if s in cfg["stages"] and not explicit:
            logger.info("%s: already fitted, skipped", s)
    todo = [s for s in stages if explicit or s not in cfg["stages"]]
    for i, s in enumerate(todo):
        if s != "autoencoder" and "autoencoder" not in cfg["stages"]:
            raise NwbLdnsError(f"stage {s} needs the autoencoder: fit it first (`stages` autoencoder)")
        cfg["stages"].pop(s, None)
        run = {
            "autoencoder": _fit_autoencoder,
            "diffusion": _fit_diffusion,
            **{name: _fit_observation(name) for name in FITTED_OBSERVATIONS},
        }[s]
        deadline = None
        if end is not None:
            share = STAGE_SHARES[s] / sum(STAGE_SHARES[r] for r in todo[i:])
            deadline = time.monotonic() + max(0.0, end - time.monotonic()) * share
        run(dataset, cfg, model_dir, dev, resume, progress, compile, deadline)


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def describe(model_dir: str | Path) -> str:
    """One paragraph about a model dir: sizes, stages, epochs, times."""
    m = artifacts.load_model(model_dir)
    parts = [f"autoencoder {count_parameters(m.autoencoder) / 1e6:.2f} M parameters"]
    if m.denoiser is not None:
        parts.append(f"denoiser {count_parameters(m.denoiser) / 1e6:.2f} M")
    for s, info in m.info.get("stages", {}).items():
        h = info.get("history", {})
        done = f"{h['steps']} steps" if "steps" in h else f"{len(h.get('train_loss', []))} epochs"  # older model dirs
        seconds = h.get("seconds", math.nan)
        tried = m.info.get("guard", {}).get("dropout_sweep", {}).get("tried") if s == "autoencoder" else None
        if tried:  # the other dropouts' autoencoders took time too
            done += f" (dropout {m.info['configs']['autoencoder']['dropout']:g} of {len(tried)} tried)"
            seconds = sum(t["seconds"] for t in tried)
        parts.append(f"{s}: {done} in {seconds:.0f} s")
    return "; ".join(parts)
