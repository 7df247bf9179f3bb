"""A small training stage run by the distributed tests, in one process or under torchrun.

``python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_worker.py CHECKPOINT [STOP_AT [MICRO]]``
trains :func:`glm_stage` and rank 0 saves the final weights to CHECKPOINT.final; with STOP_AT > 0
every process dies at that loss call (as a killed job would), leaving the last checkpoint rank 0
wrote; MICRO sets the CPU micro-batch (pieces per process, accumulated without a gradient sync).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from nwb_ldns import distributed, fitted
from nwb_ldns.config import TrainConfig
from nwb_ldns.models.observation import SpikeHistoryGLM
from nwb_ldns.training import Stage, train


def glm_stage(epochs: int = 4) -> Stage:
    """A spike-history GLM on 40 trials, batches of 16 (3 per epoch, the last one of 8)."""
    g = torch.Generator().manual_seed(0)
    rates = torch.rand(40, 3, 20, generator=g) + 0.2
    counts = torch.poisson(rates, generator=g)
    cfg = TrainConfig(epochs=epochs, batch_size=16, lr=0.05, warmup=0.25, weight_decay=0.0, ema_decay=0.9)
    return Stage(
        name="spike_history",
        model=SpikeHistoryGLM(n_neurons=3, history=4),
        config=cfg,
        train={"counts": counts, "rates": rates},
        val={"counts": counts[:10], "rates": rates[:10]},
        loss_fn=lambda m, b, r: m.loss(b["counts"], b["rates"], reduction="trial"),
        val_fn=lambda m, b, r: torch.stack(
            [m.loss(b["counts"], b["rates"], reduction="trial").sum(), torch.tensor(float(len(b["counts"])))]
        ),
    )


class Stop(Exception):
    pass


def main(checkpoint: str, stop_at: int = 0, micro: int | None = None) -> None:
    distributed.init(torch.device("cpu"))
    if micro:
        fitted.CPU_MICRO_BATCH = micro
    stage = glm_stage()
    if stop_at:
        inner, calls = stage.loss_fn, {"n": 0}

        def dying(m, b, r):
            calls["n"] += 1
            if calls["n"] == stop_at:
                raise Stop
            return inner(m, b, r)

        stage.loss_fn = dying
    try:
        train(stage, device=torch.device("cpu"), checkpoint=Path(checkpoint), progress=False)
        if distributed.is_main():
            save_file(stage.model.state_dict(), f"{checkpoint}.final")
    except Stop:
        sys.exit(3)
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:]))
