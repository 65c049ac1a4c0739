"""The networks: the hybrid linear DiT denoiser, the LTX VAE helpers and the light decoder."""
