"""latentperform: perform the latent space of a generative image network, live."""

__version__ = "0.1.0"
