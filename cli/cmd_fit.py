"""nwb-ldns fit: an LDNS or GNOCCHI model fitted into a model dir."""

from __future__ import annotations

import os
import time

import click

from nwb_ldns.config import AutoencoderConfig
from nwb_ldns.errors import NwbLdnsError
from nwb_ldns.io.outputs import check_replaceable

from .options import (
    NON_NEGATIVE,
    STAGE,
    Duration,
    IntOrWord,
    data_options,
    device_option,
    overwrite_option,
    preset_option,
    seed_option,
    source_options,
    spec_from_options,
)

_AE = AutoencoderConfig()  # help texts quote its defaults


@click.command("fit")
@click.argument("source")
@click.option(
    "-o",
    "--output",
    default="ldns-model",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Model dir (config.json + safetensors weights).",
)
@click.option(
    "--method",
    type=click.Choice(["ldns", "gnocchi"]),
    default="ldns",
    show_default=True,
    help="gnocchi: the diffusion stage also learns a per-trial code (InfoDiffusion) that conditions it.",
)
@click.option("--code-dim", type=click.IntRange(min=1), default=None, help="GNOCCHI code size (default 8).")
@click.option(
    "--code-input",
    type=click.Choice(["latents", "counts"]),
    default=None,
    help="What GNOCCHI's code encoder reads: the trial's spike counts or its autoencoder latents (default counts).",
)
@data_options
@click.option(
    "--condition",
    default=None,
    metavar="angle|velocity|COLUMN",
    help="Condition the diffusion model on the reach angle, the first --behavior series, or a trials column "
    "(numbers, or labels such as trial_type=left/right, fed one-hot).",
)
@preset_option()
@click.option(
    "--time-budget",
    type=Duration(),
    default=None,
    metavar="DURATION",
    help="Wall-clock limit of the whole fit, e.g. 15m or 1h: shared between the stages, each planning "
    "its schedule to end in time (default: none; stages stop when validation stops improving).",
)
@click.option(
    "--epochs-ae",
    type=click.IntRange(min=1),
    default=None,
    help="Train the autoencoder for exactly this many passes over the data (default: by steps, with early stopping).",
)
@click.option(
    "--epochs-diffusion",
    type=click.IntRange(min=1),
    default=None,
    help="Train the denoiser for exactly this many passes (default: by steps, with early stopping).",
)
@click.option(
    "--epochs-history",
    type=click.IntRange(min=1),
    default=None,
    help="Train the spike-history GLM for exactly this many passes (default: by steps).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Batch size of every stage (default from the preset).",
)
@click.option(
    "--latent-dim",
    type=IntOrWord("auto", 1, "latent channels"),
    default=None,
    help="Autoencoder latent channels (paper: 8 Lorenz, 16 MC_Maze), or auto: the smallest of 2, 4, 8, 16, 32 "
    "whose held-out co-bps on validation trials is within its spread of the best (a sweep of autoencoders "
    "taking at most 35% of --time-budget; recorded in config.json).",
)
@click.option("--hidden", type=click.IntRange(min=1), default=None, help="Autoencoder channels.")
@click.option(
    "--beta",
    "ae_beta",
    type=NON_NEGATIVE,
    default=None,
    help=f"Autoencoder latent L2 weight (default {_AE.beta:g}, Lorenz; the paper's MC_Maze: 0.001).",
)
@click.option(
    "--td-beta",
    "ae_td_beta",
    type=NON_NEGATIVE,
    default=None,
    help=f"Autoencoder temporal-smoothness weight (default {_AE.td_beta:g}, Lorenz; the paper's MC_Maze: 0.2).",
)
@click.option(
    "--denoiser-hidden",
    type=click.IntRange(min=1),
    default=None,
    help="Denoiser channels (default: 256 with --preset paper; 64 with quick, 128 from 2,000 training trials).",
)
@click.option(
    "--causal/--bidirectional",
    default=None,
    help="Autoencoder direction (default bidirectional; causal for variable-length trials).",
)
@click.option(
    "--prediction",
    type=click.Choice(["epsilon", "v"]),
    default=None,
    help="Denoiser target (default: v with --preset quick, epsilon as the paper with paper).",
)
@click.option(
    "--schedule", type=click.Choice(["linear", "cosine"]), default=None, help="Noise schedule (default linear)."
)
@click.option(
    "--cond-drop",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=None,
    help="Fraction of training trials whose condition (or GNOCCHI code) is dropped, so that generate "
    "--guidance can weigh it (default 0.1 for conditions, 0 for GNOCCHI codes).",
)
@click.option(
    "--stage",
    type=STAGE,
    default="all",
    show_default=True,
    help="Run one stage: autoencoder, diffusion, or a fitted observation model's (spike-history); the "
    "later ones need the earlier ones in the model dir.",
)
@device_option
@seed_option
@click.option("--resume", is_flag=True, help="Continue an interrupted fit from its last checkpoint.")
@click.option(
    "--compile",
    "compile_",
    is_flag=True,
    help="Train with the S4 blocks compiled by torch.compile: faster steps after seconds to a minute of compiling.",
)
@overwrite_option("model dir")
@source_options
@click.pass_context
def fit_cmd(
    ctx,
    source,
    output,
    method,
    code_dim,
    code_input,
    condition,
    preset,
    time_budget,
    epochs_ae,
    epochs_diffusion,
    epochs_history,
    batch_size,
    latent_dim,
    hidden,
    ae_beta,
    ae_td_beta,
    denoiser_hidden,
    causal,
    prediction,
    schedule,
    cond_drop,
    stage,
    device,
    seed,
    resume,
    compile_,
    overwrite,
    reader,
    **data,
):
    """Fit LDNS on SOURCE: autoencoder -> latent diffusion -> spike-history GLM.

    With --method gnocchi the diffusion stage also learns a per-trial code (GNOCCHI).

    Uses the train split for fitting and the val split to pick the best autoencoder epoch.
    Interrupted fits continue with --resume.

    \b
    Examples:
      nwb-ldns fit sim:lorenz -o lorenz-model --preset quick
      nwb-ldns fit dandi:000128 --align move_onset_time --window -250 450 \\
          --behavior hand_vel --behavior-lag-ms 100 --condition velocity --causal --beta 0.001 --td-beta 0.2
      nwb-ldns fit sim:maze --method gnocchi --align move_onset_time --window -250 450
    """
    from nwb_ldns import distributed
    from nwb_ldns.dataset import load_dataset
    from nwb_ldns.fit import describe, fit
    from nwb_ldns.fitted import resolve_device

    started = time.monotonic()  # the budget counts from here: reading the data is part of the fit
    if method != "gnocchi" and (code_dim is not None or code_input is not None):
        raise NwbLdnsError(f"{'--code-dim' if code_dim is not None else '--code-input'} needs --method gnocchi")
    spec = spec_from_options(data)
    distributed.init(resolve_device(device))  # under torchrun: join the other processes

    def check_output():
        if resume or stage != "all":
            return
        if os.path.isfile(os.path.join(output, "config.json")) and not overwrite:
            raise NwbLdnsError(f"{output} already exists; pass --resume to continue it or --overwrite")
        check_replaceable(output, kind="model", overwrite=overwrite)

    distributed.on_main(check_output)
    quiet = ctx.obj["quiet"] or not distributed.is_main()
    with distributed.main_first():  # rank 0 downloads and caches; the others then read its copy
        dataset = load_dataset(
            source,
            spec,
            progress=not quiet,
            **reader,
            quiet=quiet,
        )
    bs = {"batch_size": batch_size}
    overrides = {
        "autoencoder": {
            "latent_dim": latent_dim,
            "hidden": hidden,
            "beta": ae_beta,
            "td_beta": ae_td_beta,
            "bidirectional": None if causal is None else not causal,
        },
        "denoiser": {"hidden": denoiser_hidden},
        "gnocchi": {"code_dim": code_dim, "encoder_input": code_input},
        "diffusion": {"prediction": prediction, "schedule": schedule, "cond_drop": cond_drop},
        "ae_train": {"epochs": epochs_ae, **bs},
        "diffusion_train": {"epochs": epochs_diffusion, **bs},
        "history_train": {"epochs": epochs_history, **bs},
    }
    stages = None if stage == "all" else (stage,)
    fit(
        dataset,
        output,
        preset=preset,
        condition=condition,
        method=method,
        stages=stages,
        device=device,
        seed=seed,
        resume=resume,
        overwrite=overwrite,
        progress=not quiet,
        overrides=overrides,
        compile=compile_,
        time_budget=time_budget,
        started=started,
    )
    if distributed.is_main():
        click.echo(f"model -> {output} ({describe(output)})")
    distributed.shutdown()
