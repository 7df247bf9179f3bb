"""nwb-ldns: latent diffusion models of neural spiking data, from and to NWB/DANDI."""

from ._version import __version__
from .errors import NwbLdnsError
from .io.nwbfile import open_latents
from .sources import open_source

__all__ = ["NwbLdnsError", "__version__", "open_latents", "open_source"]
