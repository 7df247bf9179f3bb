"""One training loop for every stage: AdamW + cosine warm-up, clipping, EMA, validation,
early stopping, best-checkpoint selection, a wall-clock deadline, periodic checkpoints with
resume, a NaN guard, and torchrun.

A stage is sized by optimizer steps, not epochs: it runs at most ``config.steps`` steps (or
exactly ``config.epochs`` passes when those are given), validates every ``eval_every`` steps,
stops early when the validation loss has not improved for ``patience`` validations (after a
cooldown that decays the learning rate from where it is to zero), and stops
at a deadline, planning its learning-rate schedule to end there once it has timed its first
steps. The selected weights are those of the best validation (``select="best"``) or the last
ones (``select="last"``; the EMA when there is one).

Data live on the training device as tensors whose first axis is the trial; batches are drawn
by a permutation seeded from (seed, epoch), and the loss's randomness from a generator seeded
from (seed, epoch, step in epoch) through :class:`BatchRandom`, so an interrupted run resumed
from its checkpoint repeats the same steps, and a global batch trains alike in one process or
split between several (DDP under torchrun: each process takes every W-th trial of the global
batch).
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
from .fitted import autocast, micro_batch
from .models.batch_random import BatchRandom
from .models.blocks import compiled_blocks
from .models.s4 import parameter_groups

logger = logging.getLogger("nwb_ldns")

Batch = dict[str, torch.Tensor]

VAL_SEED = 12345
VAL_MAX_ROWS = 1024  # validation reads at most this many rows: on 50,000 trials a full pass costs as much as training


@dataclasses.dataclass
class Stage:
    """What to train and how.

    ``loss_fn(model, batch, rng) -> (b,)`` per-trial losses (the step minimises their mean
    over the global batch); ``val_fn(model, batch, rng) -> tensor([sum, count])`` (the
    validation loss is sum/count over all validation batches); ``rng`` is a
    :class:`BatchRandom` for the batch's rows. ``select`` is ``best`` (weights of the
    validation with the lowest loss) or ``last`` (final weights, or the EMA).
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


def plan_steps(config: TrainConfig, n_train: int) -> tuple[int, int, int]:
    """(total steps, steps per epoch, steps between validations) of a stage on ``n_train`` trials.

    ``epochs`` > 0 fixes the total at that many passes and validates once per pass; otherwise
    the total is ``steps`` and validation comes about once per pass, but at least every
    ``steps / 50`` steps on large data and at most every 25 steps on small data.
    """
    per_epoch = math.ceil(n_train / config.batch_size)
    if config.epochs > 0:
        return config.epochs * per_epoch, per_epoch, config.eval_every or per_epoch
    total = config.steps
    every = config.eval_every or min(max(per_epoch, 25), max(25, total // 50))
    return total, per_epoch, max(1, min(every, total))


def _shares(n: int, world: int, rank: int, device: torch.device) -> torch.Tensor:
    """This process's positions in a batch of ``n``: every ``world``-th from ``rank``."""
    return torch.arange(rank, n, world, device=device)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _step_generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _n_rows(batch: Batch | None) -> int:
    return 0 if batch is None else next(iter(batch.values())).shape[0]


class _Run:
    """The mutable state of one stage's training: model, optimiser, EMA, schedule, history."""

    def __init__(self, stage: Stage, device: torch.device, deadline: float | None):
        cfg = stage.config
        self.stage, self.cfg, self.device, self.deadline = stage, cfg, device, deadline
        self.world, self.rank = distributed.world_size(), distributed.rank()
        self.model = stage.model.to(device)
        self.n = _n_rows(stage.train)
        if self.n == 0:
            raise NwbLdnsError(f"{stage.name}: no training trials")
        self.total, self.per_epoch, self.eval_every = plan_steps(cfg, self.n)
        self.warmup = int(round(cfg.warmup * self.total))
        groups = parameter_groups(self.model, lr=cfg.lr, weight_decay=cfg.weight_decay, ssm_lr=cfg.ssm_lr)
        for g in groups:
            g["initial_lr"] = g["lr"]
        self.opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.step = 0
        self.best_val, self.best_state = math.inf, None
        self.level, self.bad_evals = math.inf, 0  # the patience count's reference and count
        self.cooldown: tuple[int, int, float] | None = None  # (first step, last step, lr factor at the start)
        self.history = {
            "step": [],
            "train_loss": [],
            "val_loss": [],
            "best_step": None,
            "best_epoch": None,
            "steps": 0,
            "planned_steps": self.total,
            "stopped": None,
            "seconds": 0.0,
            "steps_per_epoch": self.per_epoch,
            "epochs": 0.0,
        }
        loss_module = _Loss(self.model, stage.loss_fn)
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            # the model's buffers are constants, identical everywhere: no need to broadcast them each step
            loss_module = DistributedDataParallel(
                loss_module, broadcast_buffers=False, device_ids=[device.index] if device.type == "cuda" else None
            )
        self.loss_module = loss_module
        # on a CPU, large batches cost more per trial than pieces of CPU_MICRO_BATCH trials (cache spill)
        self.micro = micro_batch(cfg.batch_size, device)
        self._perm_epoch, self._perm = None, None

    # ---- checkpoints ---------------------------------------------------------------------------
    def restore(self, checkpoint: Path) -> None:
        modules, info = load_checkpoint(checkpoint)
        # read as a config, so that a checkpoint written before a field existed takes its default
        saved = type(self.cfg).from_dict(info["config"]).to_dict() if isinstance(info.get("config"), dict) else None
        if info.get("stage") != self.stage.name or saved != self.cfg.to_dict() or "step" not in info:
            raise NwbLdnsError(
                f"checkpoint {checkpoint} is for other settings ({info.get('stage')}); "
                "drop `resume` or use the same options"
            )
        self.model.load_state_dict({k: v.to(self.device) for k, v in modules["model"].items()})
        self.opt.load_state_dict(unflatten_optimizer(modules.get("optimizer", {}), info["optimizer"]))
        if self.ema is not None and "ema" in modules:
            self.ema.shadow = {k: v.to(self.device) for k, v in modules["ema"].items()}
            self.ema.updates = int(info.get("ema_updates", 0))
        self.best_state = modules.get("best")
        self.best_val = float(info.get("best_val", math.inf))
        self.level, self.bad_evals = float(info.get("level", math.inf)), int(info.get("bad_evals", 0))
        self.cooldown = tuple(info["cooldown"]) if info.get("cooldown") else None
        self.history = info["history"]
        self.step = int(info["step"])
        self.total = int(self.history.get("planned_steps", self.total))
        logger.info("%s: resuming after step %d of %d from %s", self.stage.name, self.step, self.total, checkpoint)

    def save(self, checkpoint: Path | None) -> None:
        if checkpoint is None or self.rank != 0:  # every process holds the same state; rank 0 writes it
            return
        opt_t, opt_meta = flatten_optimizer(self.opt.state_dict())
        modules = {"model": self.model.state_dict(), "optimizer": opt_t}
        if self.ema is not None:
            modules["ema"] = self.ema.shadow
        if self.best_state is not None:
            modules["best"] = self.best_state
        info = {
            "stage": self.stage.name,
            "config": self.cfg.to_dict(),
            "step": self.step,
            "history": self.history,
            "optimizer": opt_meta,
            "best_val": self.best_val,
            "level": self.level,
            "bad_evals": self.bad_evals,
            "cooldown": list(self.cooldown) if self.cooldown else None,
            "ema_updates": self.ema.updates if self.ema else 0,
        }
        save_checkpoint(checkpoint, modules=modules, info=info)

    # ---- one optimizer step ----------------------------------------------------------------------
    def _batch_indices(self) -> torch.Tensor:
        epoch, i = divmod(self.step, self.per_epoch)
        if self._perm_epoch != epoch:
            g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.n, generator=g).to(self.device)  # batches are slices of it
            self._perm_epoch = epoch
        return self._perm[i * self.cfg.batch_size : (i + 1) * self.cfg.batch_size]

    def train_step(self) -> tuple[torch.Tensor, int]:
        """One optimizer step on the next global batch; returns its summed loss (a device tensor) and size."""
        cfg, device, world = self.cfg, self.device, self.world
        idx = self._batch_indices()  # the global batch
        size = len(idx)  # host-side: known from n and the batch size
        mine = _shares(size, world, self.rank, device)
        weight = world / size  # DDP averages over processes: this makes the step the global mean
        if len(mine) == 0:  # a last batch smaller than the process count: join with a zero weight
            mine, weight = _shares(size, 1, 0, device)[:1], 0.0
        f = self.lr_factor()
        for g in self.opt.param_groups:
            g["lr"] = g["initial_lr"] * f
        self.opt.zero_grad(set_to_none=True)
        epoch, i = divmod(self.step, self.per_epoch)
        rng = BatchRandom(_step_generator(device, (cfg.seed * 7_919 + epoch) * 100_003 + i), size, device)
        total = torch.zeros((), device=device)
        pieces = mine.split(self.micro)  # gradient accumulation; one piece on a GPU
        for j, pos in enumerate(pieces):
            batch = {k: v.index_select(0, idx.index_select(0, pos)) for k, v in self.stage.train.items()}
            sync = j == len(pieces) - 1 or world == 1
            with contextlib.nullcontext() if sync else self.loss_module.no_sync():
                with autocast(device):
                    per = self.loss_module(batch, rng.take(pos))  # (b,)
                (per.float().sum() * weight).backward()
            total += per.detach().float().sum() * (weight > 0)
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.step += 1
        return total, size

    def lr_factor(self) -> float:
        """The schedule's factor at this step: warm-up and cosine, or the cooldown's decay to zero."""
        if self.cooldown is None:
            return lr_factor(self.step, total=self.total, warmup=self.warmup)
        first, last, f0 = self.cooldown
        last = min(last, self.total)  # a deadline may shorten the cooldown too
        return f0 * 0.5 * (1 + math.cos(math.pi * min(1.0, (self.step - first) / max(1, last - first))))

    # ---- validation --------------------------------------------------------------------------------
    def eval_model(self) -> nn.Module:
        return self.ema.module(self.model) if self.ema is not None else self.model

    @torch.no_grad()
    def validate(self, model: nn.Module) -> float | None:
        stage, device, cfg = self.stage, self.device, self.cfg
        n_val = min(_n_rows(stage.val), VAL_MAX_ROWS)
        if stage.val_fn is None or n_val == 0:
            return None
        model.eval()
        acc = torch.zeros(2, device=device)
        with autocast(device):
            for c, start in enumerate(range(0, n_val, cfg.batch_size)):
                size = min(cfg.batch_size, n_val - start)
                pos = _shares(size, self.world, self.rank, device)
                if len(pos) == 0:
                    continue
                vb = {k: v[start : start + size].index_select(0, pos) for k, v in stage.val.items()}
                vrng = BatchRandom(_step_generator(device, VAL_SEED + c), size, device).take(pos)
                acc += stage.val_fn(model, vb, vrng).float()
        acc = distributed.all_reduce_sum(acc)
        model.train()
        return float(acc[0] / acc[1].clamp(min=1))

    def improved(self, val_loss: float | None, model: nn.Module) -> None:
        """Keep the best validation's weights; count validations without a significant improvement.

        The best weights follow any validation within ``select_tolerance`` (relative) of the best so far; the
        patience count restarts only when the loss beats the last significant level by more than
        ``min_delta``.
        """
        if val_loss is None:
            return
        # within select_tolerance of the best counts as good as the best: keep the later weights (trained
        # longer, at a lower learning rate: better calibrated than the validation loss alone can tell)
        best = abs(self.best_val) if math.isfinite(self.best_val) else 0.0
        if val_loss <= self.best_val + self.cfg.select_tolerance * best:
            self.best_val = min(val_loss, self.best_val)
            self.history["best_step"] = self.step
            self.history["best_epoch"] = math.ceil(self.step / self.per_epoch)
            if self.stage.select == "best":
                self.best_state = _cpu_state(model)
        if val_loss < self.level - self.cfg.min_delta * abs(self.level if math.isfinite(self.level) else 0.0):
            self.level, self.bad_evals = val_loss, 0
        else:
            self.bad_evals += 1

    # ---- after each validation --------------------------------------------------------------
    def check_finite(self, train_loss: float, checkpoint: Path | None) -> None:
        """Stop with a one-line error when the loss or any weight is NaN/inf (the last checkpoint stays)."""
        if math.isfinite(train_loss) and all(torch.isfinite(p).all() for p in self.model.parameters()):
            return
        where = f"; the last good checkpoint ({checkpoint}) is kept" if checkpoint is not None else ""
        raise NwbLdnsError(
            f"{self.stage.name} training diverged at step {self.step} (epoch "
            f"{math.ceil(self.step / self.per_epoch)}, loss {train_loss}){where}; try a lower learning rate"
        )

    def record(self, train_loss: float, val_loss: float | None, seconds: float) -> None:
        h = self.history
        h["step"].append(self.step)
        h["train_loss"].append(train_loss)
        h["val_loss"].append(val_loss)
        h["steps"] = self.step
        h["epochs"] = round(self.step / self.per_epoch, 3)
        h["seconds"] = h.get("seconds", 0.0) + seconds
        h["world_size"] = self.world

    def end_of_schedule(self) -> str:
        """Why the schedule ended: all planned ``steps``, or a schedule shortened for ``time``."""
        return "steps" if self.total >= plan_steps(self.cfg, self.n)[0] else "time"

    def stop_reason(self, *, past_deadline: bool) -> str | None:
        """``patience``, ``time`` or ``steps`` when training stops after this validation, else None.

        Patience running out starts the cooldown (unless ``cooldown`` is 0 or the schedule ends
        first); ``patience`` is the reason once the cooldown is over.
        """
        if self.cooldown is not None:
            if self.step >= self.cooldown[1]:
                return "patience"
        elif self.cfg.epochs == 0 and self.cfg.patience > 0 and self.bad_evals >= self.cfg.patience:
            length = self.eval_every * math.ceil(self.cfg.cooldown * self.step / self.eval_every)
            if length == 0 or self.step + length >= self.total:
                return "patience" if length == 0 else None  # the planned schedule decays anyway
            self.cooldown = (self.step, self.step + length, self.lr_factor())
            self.history["cooldown_from"] = self.step
            logger.debug("%s: validation loss flat; cooling down over %d steps", self.stage.name, length)
        if past_deadline:
            return "time"
        return self.end_of_schedule() if self.step >= self.total else None

    def finish(self) -> None:
        """Leave the selected weights in the model: the best validation's, else the EMA's, else the last."""
        if self.stage.select == "best" and self.best_state is not None:
            self.model.load_state_dict({k: v.to(self.device) for k, v in self.best_state.items()})
        elif self.ema is not None:
            self.model.load_state_dict(self.ema.shadow)
        self.model.eval()
        self.history["best_val"] = None if not math.isfinite(self.best_val) else self.best_val

    # ---- time ----------------------------------------------------------------------------------------
    def replan(self, seconds_per_step: float) -> bool:
        """Shorten the schedule so that it ends by the deadline; True once the deadline has passed.

        Rank 0's clock decides for every process, so they all stop at the same step.
        """
        if self.deadline is None:
            return False
        left = self.deadline - time.monotonic()
        fits = self.step + max(0, int(left / max(seconds_per_step, 1e-9)))
        if self.world > 1:
            mine = [float(fits), float(left <= 0)] if self.rank == 0 else [0.0, 0.0]
            fits, past = distributed.all_reduce_sum(torch.tensor(mine, device=self.device)).tolist()
            fits, left = int(fits), -1.0 if past else 1.0
        if fits < self.total:
            self.total = max(self.step, fits)
            self.history["planned_steps"] = self.total
        return left <= 0


def train(
    stage: Stage,
    *,
    device: torch.device,
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    compile: bool = False,
    deadline: float | None = None,
) -> dict:
    """Train ``stage.model`` in place; on return it holds the selected weights.

    Under torchrun (:mod:`nwb_ldns.distributed` initialised) every process calls this with the
    same data: the model is wrapped in DDP, each global batch of ``config.batch_size`` trials is
    shared between the processes, and only rank 0 writes the checkpoint.

    Parameters
    ----------
    stage : Stage
    device : torch.device
    checkpoint : path of this stage's checkpoint file (written at every validation)
    resume : continue from ``checkpoint`` when it exists (it may come from any number of processes)
    progress : show a progress bar
    compile : run the model's S4 blocks compiled by ``torch.compile`` (see
        :func:`~nwb_ldns.models.blocks.compiled_blocks`); the same training, faster per step
        once compiled (seconds to a minute of compilation first)
    deadline : ``time.monotonic()`` by which training ends; after the first validation the
        schedule is shortened to fit, and training stops there whatever remains

    Returns
    -------
    dict
        Training history: ``step``, ``train_loss`` (mean since the previous validation) and
        ``val_loss`` per validation; ``best_step``, ``best_epoch``, ``best_val``; ``steps``
        done, ``planned_steps``, ``epochs`` (passes over the data), ``stopped`` (``steps``,
        ``patience`` or ``time``), ``seconds``, ``world_size``.

    Raises
    ------
    NwbLdnsError
        When the loss becomes NaN/inf (the last good checkpoint is kept).
    """
    run = _Run(stage, device, deadline)
    if resume and checkpoint is not None and checkpoint.is_file():
        run.restore(checkpoint)
    bar = _Progress(run, enabled=progress and run.rank == 0)
    clock = _Clock(run)
    interval_loss, interval_trials = torch.zeros((), device=device), 0
    stopped = None
    try:
        with compiled_blocks(run.model, compile):
            run.model.train()
            while stopped is None:
                if run.step >= run.total:
                    stopped = run.end_of_schedule()
                    break
                loss_sum, size = run.train_step()
                interval_loss += loss_sum
                interval_trials += size
                bar.step()
                # alone, a passed deadline ends the interval at once; under torchrun the processes stop
                # together at a validation (rank 0's clock) or at the end of the shortened schedule
                out_of_time = deadline is not None and run.world == 1 and time.monotonic() >= deadline
                if run.step % run.eval_every and run.step < run.total and not out_of_time:
                    continue
                # ---- a validation: one host sync for the interval's loss ----
                train_loss = float(distributed.all_reduce_sum(interval_loss)) / max(interval_trials, 1)
                interval_loss, interval_trials = torch.zeros((), device=device), 0
                run.check_finite(train_loss, checkpoint)
                model = run.eval_model()
                val_loss = run.validate(model)
                run.improved(val_loss, model)
                run.record(train_loss, val_loss, clock.lap())
                stopped = run.stop_reason(past_deadline=run.replan(clock.seconds_per_step()))
                run.history["stopped"] = stopped
                run.save(checkpoint)
                bar.show(train_loss, val_loss)
    finally:
        bar.close()
    run.history["stopped"] = stopped
    run.finish()
    return run.history


class _Clock:
    """Wall time of a stage: per validation interval, and per step since this process started it."""

    def __init__(self, run: _Run):
        self.run, self.start, self.step_start = run, time.monotonic(), run.step
        self.last = self.start

    def lap(self) -> float:
        now = time.monotonic()
        lap, self.last = now - self.last, now
        return lap

    def seconds_per_step(self) -> float:
        return (time.monotonic() - self.start) / max(1, self.run.step - self.step_start)


class _Progress:
    """The stage's progress bar (rank 0): steps, training and validation loss, time left."""

    def __init__(self, run: _Run, *, enabled: bool):
        self.run, self.bar = run, None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=run.total, initial=run.step, desc=run.stage.name, unit="step", leave=False, dynamic_ncols=True
            )

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def show(self, train_loss: float, val_loss: float | None) -> None:
        if self.bar is None:
            return
        self.bar.total = self.run.total
        shown = {"val": f"{val_loss:.4g}"} if val_loss is not None else {}
        if self.run.deadline is not None:
            shown["left"] = f"{max(0.0, self.run.deadline - time.monotonic()):.0f}s"
        self.bar.set_postfix(loss=f"{train_loss:.4g}", **shown)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
