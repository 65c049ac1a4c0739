"""Data: video I/O (and, later, clip preparation, scoring, filtering and the latent cache)."""
