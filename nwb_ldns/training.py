"""One training loop for every stage: AdamW + cosine warm-up, clipping, EMA, validation,
best-checkpoint selection, periodic checkpoints with resume, and a NaN guard.

Data live on the training device as tensors whose first axis is the trial; batches are drawn
by a permutation seeded from (seed, epoch), and the loss's own randomness from another seeded
generator, so an interrupted run resumed from its checkpoint repeats the same epochs.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .artifacts import flatten_optimizer, load_checkpoint, save_checkpoint, unflatten_optimizer
from .config import TrainConfig
from .errors import NwbLdnsError
from .model import autocast
from .models.s4 import parameter_groups

logger = logging.getLogger("nwb_ldns")

Batch = dict[str, torch.Tensor]

CPU_MICRO_BATCH = 64


@dataclasses.dataclass
class Stage:
    """What to train and how.

    ``loss_fn(model, batch, generator) -> (loss, info)``; ``val_fn(model, batch) -> tensor([sum, count])``
    (the validation loss is sum/count over all validation batches); ``select`` is ``best``
    (weights of the epoch with the lowest validation loss) or ``last`` (final weights, or the EMA).
    """

    name: str
    model: nn.Module
    loss_fn: Callable[[nn.Module, Batch, torch.Generator], tuple[torch.Tensor, dict]]
    train: Batch
    config: TrainConfig
    val: Batch | None = None
    val_fn: Callable[[nn.Module, Batch], torch.Tensor] | None = None
    select: str = "best"


class EMA:
    """Exponential moving average of a module's floating-point state, with the usual warm-up."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)

    def module(self, model: nn.Module) -> nn.Module:
        m = copy.deepcopy(model)
        m.load_state_dict(self.shadow)
        return m


def lr_factor(step: int, *, total: int, warmup: int) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=generator)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def train(stage: Stage, *, device: torch.device, checkpoint: Path | None = None, resume: bool = False,
          progress: bool = True) -> dict:
    """Train ``stage.model`` in place; on return it holds the selected weights.

    Parameters
    ----------
    stage : Stage
    device : torch.device
    checkpoint : path of this stage's checkpoint file (written every ``checkpoint_every`` epochs)
    resume : continue from ``checkpoint`` when it exists
    progress : show a progress bar

    Returns
    -------
    dict
        Training history: per-epoch ``train_loss`` and ``val_loss``, ``best_epoch``, ``epochs``,
        ``seconds``.

    Raises
    ------
    NwbLdnsError
        When the loss becomes NaN/inf (the last good checkpoint is kept).
    """
    cfg = stage.config
    model = stage.model.to(device)
    n = next(iter(stage.train.values())).shape[0]
    if n == 0:
        raise NwbLdnsError(f"{stage.name}: no training trials")
    per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.epochs * per_epoch
    groups = parameter_groups(model, lr=cfg.lr, weight_decay=cfg.weight_decay, ssm_lr=cfg.ssm_lr)
    for g in groups:
        g["initial_lr"] = g["lr"]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    history = {"train_loss": [], "val_loss": [], "best_epoch": None, "epochs": cfg.epochs, "seconds": 0.0}
    best_val, best_state, start_epoch = math.inf, None, 0

    if resume and checkpoint is not None and checkpoint.is_file():
        modules, info = load_checkpoint(checkpoint)
        if info.get("stage") != stage.name or info.get("config") != cfg.to_dict():
            raise NwbLdnsError(f"checkpoint {checkpoint} is for other settings ({info.get('stage')}); "
                               "drop --resume or use the same options")
        model.load_state_dict({k: v.to(device) for k, v in modules["model"].items()})
        opt.load_state_dict(unflatten_optimizer(modules.get("optimizer", {}), info["optimizer"]))
        if ema is not None and "ema" in modules:
            ema.shadow = {k: v.to(device) for k, v in modules["ema"].items()}
            ema.updates = int(info.get("ema_updates", 0))
        if "best" in modules:
            best_state = modules["best"]
        best_val = float(info.get("best_val", math.inf))
        history = info["history"]
        start_epoch = int(info["epoch"])
        logger.info("%s: resuming after epoch %d of %d from %s", stage.name, start_epoch, cfg.epochs, checkpoint)

    def write_checkpoint(epoch: int) -> None:
        if checkpoint is None:
            return
        opt_t, opt_meta = flatten_optimizer(opt.state_dict())
        modules = {"model": model.state_dict(), "optimizer": opt_t}
        if ema is not None:
            modules["ema"] = ema.shadow
        if best_state is not None:
            modules["best"] = best_state
        info = {"stage": stage.name, "config": cfg.to_dict(), "epoch": epoch, "history": history,
                "optimizer": opt_meta, "best_val": best_val, "ema_updates": ema.updates if ema else 0}
        save_checkpoint(checkpoint, modules=modules, info=info)

    # on a CPU, large batches spill out of the caches: a 512-trial step costs 2.5x more per trial
    # than 64-trial pieces, so the gradient of a batch is accumulated over pieces of <= 64 trials
    micro = cfg.batch_size if device.type == "cuda" else min(cfg.batch_size, CPU_MICRO_BATCH)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=start_epoch * per_epoch, desc=f"{stage.name} epoch {start_epoch + 1}/{cfg.epochs}",
                   unit="batch", leave=False, dynamic_ncols=True)
    t0 = time.perf_counter()
    try:
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
            loss_gen = torch.Generator(device=device).manual_seed(cfg.seed * 7_919 + epoch + 1)
            total_loss = torch.zeros((), device=device)
            count = 0
            for i, idx in enumerate(_batches(n, cfg.batch_size, gen)):
                step = epoch * per_epoch + i
                f = lr_factor(step, total=total, warmup=cfg.warmup_epochs * per_epoch)
                for g in opt.param_groups:
                    g["lr"] = g["initial_lr"] * f
                opt.zero_grad(set_to_none=True)
                loss = torch.zeros((), device=device)
                for sub in idx.split(micro):  # gradient accumulation; one piece on a GPU
                    sub_d = sub.to(device)
                    batch = {k: v.index_select(0, sub_d) for k, v in stage.train.items()}
                    with autocast(device):
                        part, _ = stage.loss_fn(model, batch, loss_gen)
                    part = part * (len(sub) / len(idx))
                    part.backward()
                    loss = loss + part.detach()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                if ema is not None:
                    ema.update(model)
                total_loss += loss.detach() * len(idx)
                count += len(idx)
                if bar is not None:
                    bar.update(1)
            train_loss = float(total_loss) / count  # one host sync per epoch
            if not math.isfinite(train_loss) or not all(torch.isfinite(p).all() for p in model.parameters()):
                where = f"; the last good checkpoint ({checkpoint}) is kept" if checkpoint is not None else ""
                raise NwbLdnsError(f"{stage.name} training diverged at epoch {epoch + 1} (loss {train_loss}){where}; "
                                   "try a lower learning rate")
            val_loss = None
            if stage.val is not None and stage.val_fn is not None and next(iter(stage.val.values())).shape[0]:
                eval_model = ema.module(model) if ema is not None else model
                eval_model.eval()
                acc = torch.zeros(2, device=device)
                with torch.no_grad(), autocast(device):
                    for start in range(0, next(iter(stage.val.values())).shape[0], cfg.batch_size):
                        vb = {k: v[start:start + cfg.batch_size] for k, v in stage.val.items()}
                        acc += stage.val_fn(eval_model, vb).float()
                val_loss = float(acc[0] / acc[1].clamp(min=1))
                if stage.select == "best" and val_loss < best_val:
                    best_val, best_state = val_loss, _cpu_state(eval_model)
                    history["best_epoch"] = epoch + 1
            history["train_loss"].append(train_loss)
            history["val_loss"].append(val_loss)
            history["seconds"] = history.get("seconds", 0.0) + (time.perf_counter() - t0)
            t0 = time.perf_counter()
            if (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs:
                write_checkpoint(epoch + 1)
            if bar is not None:
                bar.set_description(f"{stage.name} epoch {min(epoch + 2, cfg.epochs)}/{cfg.epochs}")
                bar.set_postfix(loss=f"{train_loss:.4g}", **({"val": f"{val_loss:.4g}"} if val_loss is not None else {}))
    finally:
        if bar is not None:
            bar.close()
    if stage.select == "best" and best_state is not None:
        model.load_state_dict({k: v.to(device) for k, v in best_state.items()})
    elif ema is not None:
        model.load_state_dict(ema.shadow)
    model.eval()
    history["best_val"] = None if not math.isfinite(best_val) else best_val
    return history
