"""One training loop for every stage: AdamW + cosine warm-up, clipping, EMA, validation,
best-checkpoint selection, periodic checkpoints with resume, a NaN guard, and torchrun.

Data live on the training device as tensors whose first axis is the trial; batches are drawn
by a permutation seeded from (seed, epoch), and the loss's randomness from a generator seeded
from (seed, epoch, step) through :class:`BatchRandom`, so an interrupted run resumed from its
checkpoint repeats the same epochs, and a global batch trains alike in one process or split
between several (DDP under torchrun: each process takes every W-th trial of the global batch).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import distributed
from .artifacts import flatten_optimizer, load_checkpoint, save_checkpoint, unflatten_optimizer
from .config import TrainConfig
from .errors import NwbLdnsError
from .model import autocast, micro_batch
from .models.blocks import compiled_blocks
from .models.draws import BatchRandom
from .models.s4 import parameter_groups

logger = logging.getLogger("nwb_ldns")

Batch = dict[str, torch.Tensor]

VAL_SEED = 12345


@dataclasses.dataclass
class Stage:
    """What to train and how.

    ``loss_fn(model, batch, rng) -> (b,)`` per-trial losses (the step minimises their mean
    over the global batch); ``val_fn(model, batch, rng) -> tensor([sum, count])`` (the
    validation loss is sum/count over all validation batches); ``rng`` is a
    :class:`BatchRandom` for the batch's rows. ``select`` is ``best`` (weights of the epoch
    with the lowest validation loss) or ``last`` (final weights, or the EMA).
    """

    name: str
    model: nn.Module
    loss_fn: Callable[[nn.Module, Batch, BatchRandom], torch.Tensor]
    train: Batch
    config: TrainConfig
    val: Batch | None = None
    val_fn: Callable[[nn.Module, Batch, BatchRandom], torch.Tensor] | None = None
    select: str = "best"


class _Loss(nn.Module):
    """The stage's loss as a module's forward, so DDP sees a forward pass (and syncs gradients)."""

    def __init__(self, model: nn.Module, loss_fn):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch: Batch, rng: BatchRandom) -> torch.Tensor:
        return self.loss_fn(self.model, batch, rng)


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


def _shares(n: int, world: int, rank: int, device: torch.device) -> torch.Tensor:
    """This process's positions in a batch of ``n``: every ``world``-th from ``rank``."""
    return torch.arange(rank, n, world, device=device)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _step_generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def train(stage: Stage, *, device: torch.device, checkpoint: Path | None = None, resume: bool = False,
          progress: bool = True, compile: bool = False) -> dict:
    """Train ``stage.model`` in place; on return it holds the selected weights.

    Under torchrun (:mod:`nwb_ldns.distributed` initialised) every process calls this with the
    same data: the model is wrapped in DDP, each global batch of ``config.batch_size`` trials is
    shared between the processes, and only rank 0 writes the checkpoint.

    Parameters
    ----------
    stage : Stage
    device : torch.device
    checkpoint : path of this stage's checkpoint file (written every ``checkpoint_every`` epochs)
    resume : continue from ``checkpoint`` when it exists (it may come from any number of processes)
    progress : show a progress bar
    compile : run the model's S4 blocks compiled by ``torch.compile`` (see
        :func:`~nwb_ldns.models.blocks.compiled_blocks`); the same training, faster per step
        once compiled (seconds to a minute of compilation first)

    Returns
    -------
    dict
        Training history: per-epoch ``train_loss`` and ``val_loss``, ``best_epoch``, ``epochs``,
        ``seconds``, ``world_size``.

    Raises
    ------
    NwbLdnsError
        When the loss becomes NaN/inf (the last good checkpoint is kept).
    """
    cfg = stage.config
    world, rank = distributed.world_size(), distributed.rank()
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
        if checkpoint is None or rank != 0:  # every process holds the same state; rank 0 writes it
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

    loss_module = _Loss(model, stage.loss_fn)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        # the model's buffers are constants, identical everywhere: no need to broadcast them each step
        loss_module = DistributedDataParallel(loss_module, device_ids=[device.index] if device.type == "cuda" else None,
                                              broadcast_buffers=False)
    # on a CPU, a 512-trial step costs 2.5x more per trial than 64-trial pieces (cache spill)
    micro = micro_batch(cfg.batch_size, device)
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=start_epoch * per_epoch, desc=f"{stage.name} epoch {start_epoch + 1}/{cfg.epochs}",
                   unit="batch", leave=False, dynamic_ncols=True)
    t0 = time.perf_counter()
    try:
        with compiled_blocks(model, compile):
            for epoch in range(start_epoch, cfg.epochs):
                model.train()
                perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch))
                perm = perm.to(device)  # one copy per epoch; batches are slices of it on the device
                total_loss = torch.zeros((), device=device)
                for i in range(per_epoch):
                    idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]  # the global batch
                    size = len(idx)  # host-side: known from n and the batch size
                    mine = _shares(size, world, rank, device)
                    weight = world / size  # DDP averages over processes: this makes the step the global mean
                    if len(mine) == 0:  # a last batch smaller than the process count: join with a zero weight
                        mine, weight = _shares(size, 1, 0, device)[:1], 0.0
                    step = epoch * per_epoch + i
                    f = lr_factor(step, total=total, warmup=cfg.warmup_epochs * per_epoch)
                    for g in opt.param_groups:
                        g["lr"] = g["initial_lr"] * f
                    opt.zero_grad(set_to_none=True)
                    rng = BatchRandom(_step_generator(device, (cfg.seed * 7_919 + epoch) * 100_003 + i), size, device)
                    pieces = mine.split(micro)  # gradient accumulation; one piece on a GPU
                    for j, pos in enumerate(pieces):
                        batch = {k: v.index_select(0, idx.index_select(0, pos)) for k, v in stage.train.items()}
                        sync = j == len(pieces) - 1 or world == 1
                        with (contextlib.nullcontext() if sync else loss_module.no_sync()):
                            with autocast(device):
                                per = loss_module(batch, rng.take(pos))  # (b,)
                            (per.float().sum() * weight).backward()
                        total_loss += per.detach().float().sum() * (weight > 0)
                    if cfg.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    opt.step()
                    if ema is not None:
                        ema.update(model)
                    if bar is not None:
                        bar.update(1)
                train_loss = float(distributed.all_reduce_sum(total_loss)) / n  # one host sync per epoch
                if not math.isfinite(train_loss) or not all(torch.isfinite(p).all() for p in model.parameters()):
                    where = f"; the last good checkpoint ({checkpoint}) is kept" if checkpoint is not None else ""
                    raise NwbLdnsError(f"{stage.name} training diverged at epoch {epoch + 1} "
                                       f"(loss {train_loss}){where}; try a lower learning rate")
                val_loss = None
                n_val = next(iter(stage.val.values())).shape[0] if stage.val is not None else 0
                if stage.val_fn is not None and n_val:
                    eval_model = ema.module(model) if ema is not None else model
                    eval_model.eval()
                    acc = torch.zeros(2, device=device)
                    with torch.no_grad(), autocast(device):
                        for c, start in enumerate(range(0, n_val, cfg.batch_size)):
                            size = min(cfg.batch_size, n_val - start)
                            pos = _shares(size, world, rank, device)
                            if len(pos) == 0:
                                continue
                            vb = {k: v[start:start + size].index_select(0, pos) for k, v in stage.val.items()}
                            vrng = BatchRandom(_step_generator(device, VAL_SEED + c), size, device).take(pos)
                            acc += stage.val_fn(eval_model, vb, vrng).float()
                    acc = distributed.all_reduce_sum(acc)
                    val_loss = float(acc[0] / acc[1].clamp(min=1))
                    if stage.select == "best" and val_loss < best_val:
                        best_val, best_state = val_loss, _cpu_state(eval_model)
                        history["best_epoch"] = epoch + 1
                history["train_loss"].append(train_loss)
                history["val_loss"].append(val_loss)
                history["seconds"] = history.get("seconds", 0.0) + (time.perf_counter() - t0)
                history["world_size"] = world
                t0 = time.perf_counter()
                if (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs:
                    write_checkpoint(epoch + 1)
                if bar is not None:
                    bar.set_description(f"{stage.name} epoch {min(epoch + 2, cfg.epochs)}/{cfg.epochs}")
                    shown = {"val": f"{val_loss:.4g}"} if val_loss is not None else {}
                    bar.set_postfix(loss=f"{train_loss:.4g}", **shown)
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
