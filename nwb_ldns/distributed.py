"""Several processes under ``torchrun``: the process group, who writes, and the few collectives training needs.

Every process loads the data and runs the same code; the training loop splits each global
batch between them (DDP averages the gradients), and only rank 0 writes files. A single
process (no ``WORLD_SIZE`` in the environment) never touches ``torch.distributed``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os

import torch
import torch.distributed as dist

from .errors import MainRankFailed, NwbLdnsError

logger = logging.getLogger("nwb_ldns")

_OWNED = False  # True when this module created the process group (and so destroys it)


def requested() -> bool:
    """True when launched by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def init(device: torch.device) -> torch.device:
    """Join the process group torchrun describes (gloo on a CPU, NCCL on CUDA); return this rank's device.

    Without torchrun (or with one process) this returns ``device`` unchanged.
    """
    global _OWNED
    if not requested():
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise NwbLdnsError(
                f"LOCAL_RANK {local} but this node has {torch.cuda.device_count()} GPU(s): "
                "--nproc_per_node should be at most the GPU count"
            )
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        timeout = _dt.timedelta(minutes=float(os.environ.get("NWB_LDNS_DIST_TIMEOUT_MIN", "30")))
        dist.init_process_group(backend, timeout=timeout, device_id=device if device.type == "cuda" else None)
        _OWNED = True
        if dist.get_rank() != 0:  # one copy of the log: rank 0's
            logger.setLevel(logging.WARNING)
        logger.info("torchrun: %d processes, backend %s", dist.get_world_size(), backend)
    return device


def shutdown() -> None:
    """Leave the process group if :func:`init` created it."""
    global _OWNED
    if _OWNED and dist.is_initialized():
        # leave together: a process tearing down gloo while a peer still talks to it aborts
        # (if a peer died instead, torchrun stops this one)
        dist.barrier()
        dist.destroy_process_group()
    _OWNED = False


def barrier() -> None:
    if active():
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over the processes, in place (``t`` itself when alone)."""
    if active():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def _agree(ok: bool) -> bool:
    """True when every process says ok."""
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    flag = torch.tensor([0.0 if ok else 1.0], device=device)
    return float(all_reduce_sum(flag)) == 0.0


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the block first (a download, a cache write); the others run it after, reading its result.

    When rank 0 fails, the others raise :class:`MainRankFailed` instead of running the block.
    """
    if not active():
        yield
        return
    if is_main():
        try:
            yield
        except BaseException:
            _agree(False)
            raise
        _agree(True)
    else:
        if not _agree(True):
            raise MainRankFailed("rank 0 failed (its message says why)")
        yield


def on_main(fn):
    """Run ``fn()`` on rank 0 only; every process returns after it finished (or raises if it failed)."""
    if not active():
        return fn()
    result, ok = None, True
    if is_main():
        try:
            result = fn()
        except BaseException:
            ok = False
            _agree(False)
            raise
    if not _agree(ok):
        raise MainRankFailed("rank 0 failed (its message says why)")
    return result
