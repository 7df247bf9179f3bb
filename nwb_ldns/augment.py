"""Do synthetic trials help a decoder? (``nwb-ldns augment``)

For each training-set size N: N real trials are drawn from the recording's train and val trials,
a velocity-conditioned model is fitted on exactly those N, and it generates M = ratio x N
synthetic trials conditioned on the same N trials' velocities. Each decoder of :data:`DECODERS`
is trained on the N real trials alone and on the N real plus M synthetic trials, and both are
scored on the recording's test trials, which no model or decoder saw. As a control that needs no
model, each decoder is also trained on the N real trials plus M resampled ones (:func:`resampled`:
the real trials' spikes redrawn from their own smoothed counts), so a gain can be told apart from
what any extra, noisier copies of the data would give. Every (N, repeat) draws its own N trials
and fits its own model; spreads are the sd over repeats and a paired bootstrap over test trials.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from . import metrics as M
from .config import AUGMENT_RATIOS
from .dataset import SpikeDataset
from .errors import NwbLdnsError

logger = logging.getLogger("nwb_ldns")

#: fewer test trials than this give no usable score
MIN_TEST = 10
#: bootstrap resamples of the test trials for the gain's interval
N_BOOT = 200


def _smoothed(counts: np.ndarray, bin_s: float) -> np.ndarray:
    """(trial, N, time) sqrt of 20 ms-smoothed counts."""
    return np.sqrt(np.clip(M.smooth_counts(counts, bin_s, M.SMOOTH_S), 0, None))


def resampled(counts: np.ndarray, m: int, bin_s: float, rng: np.random.Generator) -> np.ndarray:
    """The control augmentation: ``m`` trials cycled from ``counts`` (trial, N, time), each with its
    spikes redrawn as Poisson counts of its own 20 ms-smoothed counts (same rates, new spikes)."""
    rates = M.smooth_counts(counts[np.arange(m) % len(counts)], bin_s, M.SMOOTH_S)  # (m, N, time)
    return rng.poisson(np.clip(rates, 0, None)).astype(np.float64)


def _ridge(train_x, train_v, test_x, bin_s, seed):
    """Ridge from smoothed counts per bin to velocity (evaluate's decoder), trials kept whole in its CV."""
    w = M.velocity_decoder(_smoothed(train_x, bin_s), train_v, seed=seed)
    return M.decode_velocity(w, _smoothed(test_x, bin_s))  # (trial, time, C)


def _gru(train_x, train_v, test_x, bin_s, seed, *, hidden: int = 32, steps: int = 300):
    """A one-layer GRU from smoothed counts to velocity (a small nonlinear decoder), fixed schedule."""
    import torch

    g = torch.Generator().manual_seed(int(seed))
    x = _smoothed(train_x, bin_s).transpose(0, 2, 1)  # (trial, time, N)
    t = _smoothed(test_x, bin_s).transpose(0, 2, 1)
    mu, sd = x.mean((0, 1)), x.std((0, 1)) + 1e-6
    vm, vs = train_v.mean((0, 1)), train_v.std((0, 1)) + 1e-6
    X = torch.as_tensor((x - mu) / sd, dtype=torch.float32)
    V = torch.as_tensor((train_v - vm) / vs, dtype=torch.float32)
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        gru = torch.nn.GRU(X.shape[-1], hidden, batch_first=True)
        head = torch.nn.Linear(hidden, V.shape[-1])
    params = [*gru.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=5e-3)
    for _ in range(steps):
        idx = torch.randint(0, len(X), (min(32, len(X)),), generator=g)
        loss = ((head(gru(X[idx])[0]) - V[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = head(gru(torch.as_tensor((t - mu) / sd, dtype=torch.float32))[0]).numpy()
    return out * vs + vm  # (trial, time, C)


@dataclasses.dataclass(frozen=True)
class Decoder:
    """A velocity decoder: ``predict(train_counts, train_velocity, test_counts, bin_s, seed)`` gives
    test velocities (trial, time, C); counts are (trial, N, time)."""

    name: str
    label: str
    predict: Callable


#: the decoders each training set is scored with
DECODERS = (
    Decoder("ridge", "ridge on smoothed counts", _ridge),
    Decoder("gru", "GRU on smoothed counts", _gru),
)


def _r2(truth: np.ndarray, pred: np.ndarray) -> float:
    return M.r2_score(truth.reshape(-1, truth.shape[-1]), pred.reshape(-1, pred.shape[-1]))


def _sizes(n_train, pool: int) -> list[int]:
    sizes = []
    for n in n_train:
        n = pool if n in (None, "all") else int(n)
        if n < 2:
            raise NwbLdnsError(f"`n_train` {n}: a model needs at least 2 training trials")
        if n > pool:
            raise NwbLdnsError(f"`n_train` {n} is more than the {pool} train and val trials of the data")
        sizes.append(n)
    if not sizes:
        raise NwbLdnsError("no `n_train` sizes to measure")
    return sorted(set(sizes))


def augment(
    dataset: SpikeDataset,
    output_dir,
    *,
    n_train=(25, 50, 100, 200, "all"),
    ratios=AUGMENT_RATIOS,
    repeats: int = 3,
    preset: str = "auto",
    time_budget: float | None = None,
    seed: int = 0,
    device: str = "auto",
    overwrite: bool = False,
    progress: bool = False,
    overrides: dict | None = None,
    source: str | None = None,
) -> dict:
    """Held-out velocity decoding with and without synthetic trials; writes a report folder.

    Parameters
    ----------
    dataset : binned trials with train/val/test splits whose first behaviour is a velocity
    output_dir : report folder (``metrics.json``, ``augment.png``, ``index.html``)
    n_train : real training-set sizes; ``"all"`` is every train and val trial
    ratios : synthetic:real ratios (M = ratio x N)
    repeats : draws of N trials (each with its own fit) per size
    preset, time_budget, device, overrides : of each fit (``time_budget`` in seconds per fit; None, the
        default, trains each stage until its validation loss stops improving: a 2-minute budget left a
        100-trial sim:maze model whose samples decoded velocity at R^2 0.13, unbudgeted 0.64 in 3 minutes)
    seed : seeds the draws of trials, the fits, the samples and the decoders
    source : how to name the data in the report

    Returns
    -------
    dict, the content of metrics.json
    """
    from .artifacts import load_model
    from .fit import fit
    from .generate import generate
    from .io.outputs import check_replaceable
    from .report import write_augment_report

    check_replaceable(output_dir, kind="report", overwrite=overwrite)
    if not dataset.spec.behavior:
        raise NwbLdnsError(
            "augment conditions models on a velocity series and decodes it: bin one with `behavior` (e.g. hand_vel)"
        )
    behavior = dataset.spec.behavior[0]  # fit's `condition` velocity: the first behaviour series
    velocity = dataset.behavior(behavior).astype(np.float32)  # (trial, time, C)
    if not np.isfinite(velocity).all():
        raise NwbLdnsError(f"the behaviour {behavior!r} has missing values inside the trials")
    if (dataset.lengths < dataset.n_bins).any():
        raise NwbLdnsError("augment needs trials of one length (a fixed `window_ms`)")
    ratios = [float(r) for r in ratios]
    if not ratios or min(ratios) <= 0:
        raise NwbLdnsError("`ratios` must be positive")
    if repeats < 1:
        raise NwbLdnsError("`repeats` must be at least 1")
    pool = np.flatnonzero(np.isin(dataset.split, ("train", "val")))
    test = np.flatnonzero(dataset.split == "test")
    if test.size < MIN_TEST:
        raise NwbLdnsError(f"augment scores on held-out test trials: the data have {test.size}, it needs {MIN_TEST}")
    sizes = _sizes(n_train, pool.size)
    counts = dataset.counts_bct(np.float64)  # (trial, N, time)
    bin_s = dataset.bin_s
    test_x, test_v = counts[test], velocity[test]
    runs = []
    with tempfile.TemporaryDirectory(prefix="nwb-ldns-augment-") as scratch:
        for n in sizes:
            for r in range(repeats):
                rng = np.random.default_rng([seed, n, r])
                idx = np.sort(rng.choice(pool, n, replace=False))
                sub = SpikeDataset(dataset.ds.isel(trial=idx).assign(split=("trial", np.full(n, "train", "<U5"))))
                logger.info("N = %d, repeat %d: fitting a velocity-conditioned model on %d trials", n, r + 1, n)
                model_dir = Path(scratch) / f"n{n}-r{r}"
                fit(
                    sub,
                    model_dir,
                    preset=preset,
                    condition="velocity",
                    seed=seed + r,
                    device=device,
                    progress=progress,
                    time_budget=time_budget,
                    overrides=overrides,
                )
                model = load_model(model_dir, require=("autoencoder", "diffusion"))
                real_x, real_v = counts[idx], velocity[idx]
                run = {"n_train": n, "repeat": r, "follows": {}}
                preds = {"real": {}, "augmented": {}, "resampled": {}}
                for dec in DECODERS:
                    preds["real"][dec.name] = dec.predict(real_x, real_v, test_x, bin_s, seed + r)
                # the ridge of the N real trials, read on the samples: do they follow their condition?
                w_real = M.velocity_decoder(_smoothed(real_x, bin_s), real_v, seed=seed + r)
                for ratio in ratios:
                    m = max(1, int(round(ratio * n)))
                    cond = real_v[np.arange(m) % n]  # (m, time, C): the training trials' velocities, cycled
                    syn = generate(model, condition=cond, seed=seed + 1000 * r + m)
                    syn_x = syn.counts.astype(np.float64)  # (m, N, time)
                    run["follows"][ratio] = _r2(cond, M.decode_velocity(w_real, _smoothed(syn_x, bin_s)))
                    x = np.concatenate([real_x, syn_x])
                    v = np.concatenate([real_v, cond])
                    ctrl = np.concatenate([real_x, resampled(real_x, m, bin_s, np.random.default_rng([seed, n, r, m]))])
                    for dec in DECODERS:
                        preds["augmented"][(dec.name, ratio)] = dec.predict(x, v, test_x, bin_s, seed + r)
                        preds["resampled"][(dec.name, ratio)] = dec.predict(ctrl, v, test_x, bin_s, seed + r)
                run["preds"] = preds
                runs.append(run)
                shutil.rmtree(model_dir, ignore_errors=True)  # a scratch model: only its samples are kept
    metrics = _summarise(runs, sizes, ratios, test_v, seed)
    metrics.update(
        source=source or dataset.ds.attrs.get("source_uri"),
        behavior=behavior,
        n_test=int(test.size),
        n_pool=int(pool.size),
        repeats=int(repeats),
        time_budget_s=time_budget,
        preset=preset,
        decoders={d.name: d.label for d in DECODERS},
    )
    write_augment_report(output_dir, metrics, overwrite=overwrite)
    return metrics


def _summarise(runs: list[dict], sizes: list[int], ratios: list[float], test_v: np.ndarray, seed: int) -> dict:
    """Per (decoder, N, ratio): R^2 real-only, augmented and with the resampled control (mean, sd over
    repeats); the gain over real-only and over the control, each with its paired-bootstrap 95%
    interval over test trials (the mean over repeats of each resample's difference); a verdict:
    ``helps`` / ``hurts`` when the gain's interval excludes 0, else ``no clear effect``, and how well
    the synthetic trials follow their condition (R^2 of the velocities a ridge decoder trained on
    the N real trials reads from them, against the velocities they were conditioned on)."""
    rng = np.random.default_rng(seed)
    boots = [rng.integers(0, len(test_v), len(test_v)) for _ in range(N_BOOT)]

    def interval(mine, a, b):
        diffs = [np.mean([_r2(test_v[i], a(r)[i]) - _r2(test_v[i], b(r)[i]) for r in mine]) for i in boots]
        return float(np.quantile(diffs, 0.025)), float(np.quantile(diffs, 0.975))

    rows = []
    for dec in DECODERS:
        for n in sizes:
            mine = [r for r in runs if r["n_train"] == n]
            base = np.array([_r2(test_v, r["preds"]["real"][dec.name]) for r in mine])
            for ratio in ratios:
                key = (dec.name, ratio)
                aug = np.array([_r2(test_v, r["preds"]["augmented"][key]) for r in mine])
                ctrl = np.array([_r2(test_v, r["preds"]["resampled"][key]) for r in mine])
                lo, hi = interval(mine, lambda r: r["preds"]["augmented"][key], lambda r: r["preds"]["real"][dec.name])
                rows.append(
                    {
                        "decoder": dec.name,
                        "n_train": n,
                        "ratio": ratio,
                        "r2_real": _stat(base),
                        "r2_augmented": _stat(aug),
                        "gain": _stat(aug - base),
                        "r2_synthetic_follows": _stat(np.array([r["follows"][ratio] for r in mine])),
                        "gain_ci95": (lo, hi),
                        "verdict": "helps" if lo > 0 else "hurts" if hi < 0 else "no clear effect",
                        "r2_resampled": _stat(ctrl),
                        "gain_over_resampled": _stat(aug - ctrl),
                        "gain_over_resampled_ci95": interval(
                            mine, lambda r: r["preds"]["augmented"][key], lambda r: r["preds"]["resampled"][key]
                        ),
                    }
                )
    return {"rows": rows}


def _stat(v: np.ndarray) -> dict:
    return {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
