"""nwb-ldns generate: synthetic trials from a fitted model, as NWB."""

from __future__ import annotations

import click

from nwb_ldns.errors import NwbLdnsError
from nwb_ldns.io.outputs import check_replaceable

from .options import (
    FINITE,
    NPY,
    OBSERVATION,
    compression_option,
    device_option,
    include_weights_option,
    model_option,
    output_option,
    overwrite_option,
    quiet_callback,
    seed_option,
    subject_options,
)


@click.command("generate")
@model_option
@output_option()
@click.option(
    "--n-trials",
    type=click.IntRange(min=1),
    default=None,
    help="Trials to generate (default: the condition's, else 100).",
)
@click.option(
    "--length",
    type=click.IntRange(min=2),
    default=None,
    help="Bins per trial (default: the training length; for a model of whole trials of different "
    "lengths, each trial's length drawn from the training trials').",
)
@click.option(
    "--condition",
    "values",
    type=NPY,
    default=None,
    help="FILE.npy: angles (n_trials,) in radians, column values (n_trials,), labels (n_trials,) of a "
    "labelled column (numpy.save of strings), or velocity (n_trials, n_bins, channels) / (n_bins, channels), "
    "as the model was fitted.",
)
@click.option(
    "--observation",
    type=OBSERVATION,
    default=None,
    help="Observation model: poisson (independent Poisson, the default) or spike-history (the GLM of "
    "its own fit stage).",
)
@click.option(
    "--spike-history/--poisson",
    default=None,
    help="Shorthands for --observation spike-history / poisson.",
)
@click.option(
    "--guidance",
    type=FINITE,
    default=1.0,
    show_default=True,
    help="Classifier-free guidance weight on the condition, or on a GNOCCHI model's code (1: plain; >1: stronger).",
)
@click.option(
    "--sampler",
    type=click.Choice(["dpmpp", "ddim", "ddpm"]),
    default="dpmpp",
    show_default=True,
    help="dpmpp: DPM-Solver++(2M) SDE on --sampler-steps steps evenly spaced in log-SNR; ddim: that many evenly "
    "spaced steps; ddpm: all 1000 ancestral steps (the paper). Traversals use deterministic DDIM.",
)
@click.option(
    "--sampler-steps",
    "--ddim-steps",
    "ddim_steps",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Steps of dpmpp or ddim (and of the DDIM inversion of --from-trial).",
)
@click.option(
    "--eta",
    type=click.FloatRange(0.0, 1.0),
    default=1.0,
    show_default=True,
    help="DDIM's fresh noise per step: 1 as DDPM (realistic spread), 0 deterministic (latents ~10% "
    "too narrow). --traverse samples deterministically.",
)
@click.option(
    "--code",
    "codes",
    type=NPY,
    default=None,
    help="GNOCCHI: FILE.npy of codes (n_trials, code_dim) or (code_dim,), e.g. from `encode`.",
)
@click.option(
    "--traverse",
    type=click.IntRange(min=0),
    default=None,
    metavar="DIM",
    help="GNOCCHI: sweep code dimension DIM (from --code's first row, else zeros) with the noise fixed.",
)
@click.option(
    "--from-trial",
    default=None,
    metavar="ID",
    help="GNOCCHI, with --traverse and --real: traverse around this real trial: its code, and the x_T "
    "that DDIM inversion maps back to it (InfoDiffusion's protocol).",
)
@click.option(
    "--real",
    "real_source",
    default=None,
    metavar="SOURCE",
    help="The recording --from-trial's trial comes from (binned with the model's data spec).",
)
@click.option(
    "--range",
    "code_range",
    nargs=2,
    type=FINITE,
    default=(-1.5, 1.5),
    show_default=True,
    metavar="LO HI",
    help="Values --traverse sweeps.",
)
@click.option(
    "--points",
    "--steps",
    "points",
    type=click.IntRange(min=2),
    default=11,
    show_default=True,
    help="Points of --traverse.",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Trials sampled at once."
)
@click.option(
    "--compile",
    "compile_",
    is_flag=True,
    help="Sample with the denoiser compiled by torch.compile: faster steps after seconds of compiling "
    "per batch shape (for many trials).",
)
@device_option
@seed_option
@subject_options("the source's, else ldns-synthetic")
@include_weights_option
@overwrite_option()
@compression_option
@click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=quiet_callback, help="No progress bars.")
@click.pass_context
def generate_cmd(
    ctx,
    model_dir,
    output,
    n_trials,
    length,
    values,
    observation,
    spike_history,
    guidance,
    sampler,
    ddim_steps,
    eta,
    codes,
    traverse,
    from_trial,
    real_source,
    code_range,
    points,
    batch_size,
    compile_,
    device,
    seed,
    subject,
    include_weights,
    overwrite,
    compression,
):
    """Generate synthetic trials from a fitted model and write them as NWB.

    Spikes go in a standard Units table, the conditions in the trials table, decoded rates and
    latents in processing/misc.

    \b
    Examples:
      nwb-ldns generate --model lorenz-model -o synth.nwb --n-trials 100
      nwb-ldns generate -o synth.nwb --condition velocity.npy --length 140
      nwb-ldns generate --model gnocchi-model -o sweep.nwb --traverse 0 --range -1.5 1.5 --points 11
      nwb-ldns generate --model gnocchi-model -o t.nwb --traverse 0 --from-trial 12 --real "sim:maze"
    """
    import numpy as np

    from nwb_ldns.artifacts import load_model
    from nwb_ldns.generate import generate_to_file

    check_replaceable(output, kind="nwb", overwrite=overwrite)  # before any work

    if observation is not None and spike_history is not None:
        raise click.UsageError("give --observation or --spike-history/--poisson, not both")
    if observation is None:
        observation = "spike_history" if spike_history else "poisson"
    from nwb_ldns.models.observation import OBSERVATION_MODELS

    fitted = OBSERVATION_MODELS[observation].fitted
    require = ("autoencoder", "diffusion") + ((observation,) if fitted else ())
    model = load_model(model_dir, device=device, require=require)
    if compile_:
        model.compile()
    noise = None
    if (from_trial is None) != (real_source is None) or (from_trial is not None and traverse is None):
        raise click.UsageError("--from-trial and --real go together, with --traverse DIM")
    if traverse is not None and not model.code_dim:
        raise NwbLdnsError("--traverse needs a model fitted with --method gnocchi")
    if from_trial is not None:
        from nwb_ldns.generate import trial_traversal

        if codes is not None:
            raise click.UsageError("--from-trial takes the trial's own code: drop --code")
        codes, noise = trial_traversal(
            model,
            real_source,
            from_trial,
            traverse,
            code_range[0],
            code_range[1],
            points,
            steps=ddim_steps,
            progress=not ctx.obj["quiet"],
        )
        n_trials = None
    elif traverse is not None:
        from nwb_ldns.generate import traverse_codes

        base = (
            np.zeros(model.code_dim)
            if codes is None
            else np.asarray(codes, dtype=float).reshape(-1, codes.shape[-1])[0]
        )
        if base.size != model.code_dim:
            raise NwbLdnsError(f"the model's codes have {model.code_dim} dimensions; --code has {base.size}")
        codes = traverse_codes(base, traverse, code_range[0], code_range[1], points)
        n_trials = None
    if values is None and n_trials is None and codes is None:
        n_trials = 100
    # batch by batch through scratch files beside the output: memory does not grow with --n-trials
    _, n, n_bins, n_units = generate_to_file(
        model,
        output,
        subject=subject,
        include_weights=include_weights,
        overwrite=overwrite,
        compression=compression,
        batch_size=batch_size,
        progress=not ctx.obj["quiet"],
        n_trials=n_trials,
        length=length,
        condition=values,
        observation=observation,
        seed=seed,
        guidance=guidance,
        sampler=sampler,
        steps=ddim_steps,
        eta=eta,
        codes=codes,
        fixed_noise=traverse is not None and noise is None,
        noise=noise,
    )
    click.echo(f"{n} synthetic trials x {n_bins} bins x {n_units} units -> {output}")
