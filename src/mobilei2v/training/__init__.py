"""Training: configuration, the rectified-flow trainer, checkpoints."""
