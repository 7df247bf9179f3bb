"""ndx-ldns: NWB types for latent diffusion models of spiking data.

Importing the package loads the ``ndx-ldns`` namespace into pynwb and exposes its types:

- ``LdnsDataSource``: where binned data came from (source URI, DANDI dandiset/version/asset,
  content hash) and how it was binned (JSON data spec).
- ``LdnsModelMetadata`` (LabMetaData, ``ldns_model``): method, package version, full config and
  training history as JSON, the training data, and optionally the weights (safetensors bytes).
- ``TrialAlignedSeries`` (TimeSeries): latents or rates of several trials, time-first and
  ragged by trial (``bins_per_trial``), with the bin width, the offset from each trial's event
  to its first bin, the event times and a region of the trials table.
- ``LdnsGeneration`` (LabMetaData, ``ldns_generation``): seed, observation model, guidance,
  sampler and conditions of synthetic trials, linked to the model.
- ``LdnsEncoding`` (LabMetaData, ``ldns_encoding``): the recording a model encoded, linked to it.

Files cache this spec, so pynwb opens them without the package installed.
"""

from pathlib import Path

from pynwb import get_class, load_namespaces

__version__ = "0.1.1"
NAMESPACE = "ndx-ldns"


def _spec_path() -> Path:
    here = Path(__file__).resolve().parent
    # installed wheel: spec/ inside the package; source tree (editable install): extensions/ndx-ldns/spec
    for folder in (here / "spec", here.parents[2] / "spec"):
        path = folder / f"{NAMESPACE}.namespace.yaml"
        if path.exists():
            return path
    raise ImportError(f"ndx-ldns: cannot find {NAMESPACE}.namespace.yaml next to {here}")


SPEC_PATH = _spec_path()
load_namespaces(str(SPEC_PATH))

LdnsDataSource = get_class("LdnsDataSource", NAMESPACE)
LdnsModelMetadata = get_class("LdnsModelMetadata", NAMESPACE)
TrialAlignedSeries = get_class("TrialAlignedSeries", NAMESPACE)
LdnsGeneration = get_class("LdnsGeneration", NAMESPACE)
LdnsEncoding = get_class("LdnsEncoding", NAMESPACE)

__all__ = [
    "NAMESPACE",
    "SPEC_PATH",
    "LdnsDataSource",
    "LdnsEncoding",
    "LdnsGeneration",
    "LdnsModelMetadata",
    "TrialAlignedSeries",
    "__version__",
]
