"""nwb-ldns: latent diffusion models of neural spiking data, from and to NWB/DANDI."""

__version__ = "0.1.0.dev0"

from .errors import NwbLdnsError  # noqa: E402
from .nwb_io import open_latents  # noqa: E402
from .sources import open_source  # noqa: E402

__all__ = ["NwbLdnsError", "__version__", "open_latents", "open_source"]
