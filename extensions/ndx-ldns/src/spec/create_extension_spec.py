"""Generate ``spec/ndx-ldns.namespace.yaml`` and ``spec/ndx-ldns.extensions.yaml``.

Run ``python create_extension_spec.py`` after editing; the YAML files are committed and are what
``ndx_ldns`` loads and what every written file caches. Standard NWB types hold everything that
has a home (Units, trials, behaviour TimeSeries); these types cover only what has none: the
model behind the data, where its training data came from, latents and rates laid out by
trial, and how synthetic trials were drawn.
"""

from pathlib import Path

from pynwb.spec import NWBAttributeSpec, NWBDatasetSpec, NWBGroupSpec, NWBLinkSpec, NWBNamespaceBuilder, export_spec

NAME = "ndx-ldns"
VERSION = "0.1.1"


def _attr(name, doc, dtype="text", required=True, **kw):
    return NWBAttributeSpec(name=name, doc=doc, dtype=dtype, required=required, **kw)


def main(output_dir: str | Path | None = None) -> Path:
    ns = NWBNamespaceBuilder(
        name=NAME,
        version=VERSION,
        doc=(
            "Latent diffusion models of neural spiking data (LDNS, GNOCCHI): model metadata, "
            "trial-aligned latents and rates, and the provenance of synthetic trials."
        ),
        author=["nwb-ldns developers"],
        contact=["see the nwb-ldns README"],
    )
    ns.include_namespace("core")

    source = NWBGroupSpec(
        neurodata_type_def="LdnsDataSource",
        neurodata_type_inc="NWBContainer",
        doc="Where binned spiking data came from and how it was binned.",
        attributes=[
            _attr(
                "source_uri",
                "The source as given to nwb-ldns: a path, dandi:DANDISET/ASSET@VERSION, si:PATH or sim:NAME.",
            ),
            _attr("dandiset", "DANDI dandiset identifier, e.g. 000128.", required=False),
            _attr("dandiset_version", "DANDI dandiset version, e.g. 0.220113.0400 or draft.", required=False),
            _attr("asset_path", "Path of the asset inside the dandiset.", required=False),
            _attr(
                "content_hash", "Hash of the source file's content, e.g. sha256:... or dandi-etag:...", required=False
            ),
            _attr("data_spec", "JSON: bin width, alignment column, window, units and behaviour used for binning."),
        ],
    )

    model = NWBGroupSpec(
        neurodata_type_def="LdnsModelMetadata",
        neurodata_type_inc="LabMetaData",
        default_name="ldns_model",
        doc=(
            "A fitted latent diffusion model (LDNS or GNOCCHI): its full configuration, training history and "
            "training data, and optionally its weights, so the file names exactly what produced it."
        ),
        attributes=[
            _attr("method", "Method: ldns or gnocchi."),
            _attr("package_version", "Version of nwb-ldns that fitted the model."),
            _attr("description", "What the model is, in words."),
        ],
        datasets=[
            NWBDatasetSpec(
                name="config",
                dtype="text",
                doc="JSON: every hyperparameter of every stage, the data spec, the condition, unit ids.",
            ),
            NWBDatasetSpec(
                name="training_history",
                dtype="text",
                doc="JSON: per stage, per-epoch train and validation losses, best epoch and seconds.",
            ),
            NWBDatasetSpec(
                name="autoencoder_weights",
                dtype="uint8",
                shape=[None],
                dims=["num_bytes"],
                quantity="?",
                doc="The autoencoder's weights as a safetensors file (bytes).",
            ),
            NWBDatasetSpec(
                name="diffusion_weights",
                dtype="uint8",
                shape=[None],
                dims=["num_bytes"],
                quantity="?",
                doc="The denoiser's EMA weights and latent statistics, as a safetensors file (bytes).",
            ),
            NWBDatasetSpec(
                name="spike_history_weights",
                dtype="uint8",
                shape=[None],
                dims=["num_bytes"],
                quantity="?",
                doc="The spike-history observation model, as a safetensors file (bytes).",
            ),
        ],
        groups=[
            NWBGroupSpec(
                name="training_data", neurodata_type_inc="LdnsDataSource", doc="The data the model was fitted on."
            )
        ],
    )

    aligned = NWBGroupSpec(
        neurodata_type_def="TrialAlignedSeries",
        neurodata_type_inc="TimeSeries",
        doc=(
            "Binned values (latents or rates) for a set of trials, time-first: the bins of every trial one after "
            "the other, bins_per_trial[i] of them for trial i. Naming follows ndx-binned-spikes' "
            "BinnedAlignedSpikes; timestamps (or starting_time and rate) give the start of each bin."
        ),
        attributes=[
            NWBAttributeSpec(name="bin_width_in_milliseconds", dtype="float64", doc="Width of the bins, ms."),
            NWBAttributeSpec(
                name="milliseconds_from_event_to_first_bin",
                dtype="float64",
                default_value=0.0,
                required=False,
                doc="Time from each trial's event to the start of its first bin, ms (negative: the "
                "first bin starts before the event).",
            ),
        ],
        datasets=[
            NWBDatasetSpec(
                name="data",
                dtype="numeric",
                shape=[None, None],
                dims=["num_times", "num_channels"],
                doc="Values per bin (bins of all trials x channel).",
                attributes=[NWBAttributeSpec(name="unit", dtype="text", doc="Unit of the values, e.g. Hz or a.u.")],
            ),
            NWBDatasetSpec(
                name="bins_per_trial",
                dtype="int64",
                shape=[None],
                dims=["num_trials"],
                doc="Number of bins of each trial, in order; they sum to the length of data.",
            ),
            NWBDatasetSpec(
                name="event_timestamps",
                dtype="float64",
                shape=[None],
                dims=["num_trials"],
                doc="Time of each trial's alignment event, s.",
            ),
            NWBDatasetSpec(
                name="trials",
                neurodata_type_inc="DynamicTableRegion",
                # no shape: generated classes of pynwb < 4 check it against a region's rows (n, columns)
                quantity="?",
                doc="The rows of the trials table the trials are, in order (one per trial).",
            ),
            NWBDatasetSpec(
                name="channel_names",
                dtype="text",
                shape=[None],
                dims=["num_channels"],
                quantity="?",
                doc="Name of each channel: latent dimension, or the id of the unit a rate belongs to.",
            ),
        ],
    )

    generation = NWBGroupSpec(
        neurodata_type_def="LdnsGeneration",
        neurodata_type_inc="LabMetaData",
        default_name="ldns_generation",
        doc="How the synthetic trials of this file were drawn from a model.",
        attributes=[
            # int64 attributes come back from Zarr as Python ints, which hdmf's int64 check refuses
            NWBAttributeSpec(name="seed", dtype="numeric", doc="Seed of the whole draw (an integer)."),
            _attr("observation_model", "poisson or spike_history."),
            NWBAttributeSpec(name="guidance", dtype="float64", doc="Classifier-free guidance weight (1 = plain)."),
            _attr("sampler", "dpmpp (DPM-Solver++(2M) SDE), ddim or ddpm."),
            NWBAttributeSpec(name="sampling_steps", dtype="int", doc="Denoising steps per sample."),
            _attr("condition_kind", "none, angle, column or velocity."),
            _attr("condition_name", "Trials column or behaviour TimeSeries holding the conditions.", required=False),
            _attr("settings", "JSON: every setting of the draw."),
        ],
        links=[
            NWBLinkSpec(name="model", target_type="LdnsModelMetadata", doc="The model the trials were drawn from."),
            NWBLinkSpec(
                name="condition_series",
                target_type="TimeSeries",
                quantity="?",
                doc="The behaviour the trials were conditioned on, when it is a time series.",
            ),
        ],
    )

    encoding = NWBGroupSpec(
        neurodata_type_def="LdnsEncoding",
        neurodata_type_inc="LabMetaData",
        default_name="ldns_encoding",
        doc="Latents and rates inferred from recorded trials by a model's encoder.",
        attributes=[_attr("description", "What was encoded, in words.")],
        groups=[
            NWBGroupSpec(name="source", neurodata_type_inc="LdnsDataSource", doc="The recording that was encoded.")
        ],
        links=[NWBLinkSpec(name="model", target_type="LdnsModelMetadata", doc="The model that encoded the trials.")],
    )

    out = Path(output_dir) if output_dir else Path(__file__).resolve().parents[2] / "spec"
    export_spec(ns, [source, model, aligned, generation, encoding], str(out))
    return out


if __name__ == "__main__":
    print(main())
