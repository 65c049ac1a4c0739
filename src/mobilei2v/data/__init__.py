"""Data: video I/O, and the `mobilei2v data` steps that prepare training clips (docs/architecture.md §8).

cut.py (clips at scene cuts) → score.py (motion.py, quality.py, reconstruction.py) → filter.py →
latent_cache.py (VAE latents for training); synth.py (camera-motion clips from images and textures.py);
holdout.py (photos never trained on); clips_csv.py (the authors' CSV format).
"""
