"""Networks of LDNS: S4D, autoencoder, denoiser, diffusion, observation models."""
