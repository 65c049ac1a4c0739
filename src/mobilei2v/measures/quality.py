"""A no-reference quality score that needs no weights: `clarity`, 0–100, higher is better.

The paper filters clips by DOVER ≥ 70 (docs/architecture.md §8). DOVER is not used here: its model code is not
installable from a package registry (it is run from its own repository, and PyPI's `dover` is an
unrelated tool) and its weights are a download this project cannot make or test. `clarity` is the
documented stand-in, computed on three frames (first, middle, last), each resized to 320×576 grey:

    clarity = 100 × (1 − blur) × (1 − clipped)

- blur: scikit-image's `blur_effect` (Crété-Roffet et al. 2007, "The blur effect: perception and
  estimation with a new no-reference perceptual blur metric"): 0 for a sharp frame, 1 for a flat one;
  sharp photographs measure about 0.35, the same photograph blurred by a Gaussian of σ = 1.5 px about 0.6.
- clipped: the fraction of pixels at 0–4 or 251–255 (crushed shadows, blown highlights, black bars).

Sharp footage scores about 50–65; `data filter` keeps clarity ≥ 40 (filter.CLARITY_MIN), which drops clips
blurrier than about σ = 1.5 px at 576×320 (out of focus, heavy motion blur, upscaled low-resolution or
heavily compressed video) and flat or badly exposed ones. A CSV that carries DOVER scores made elsewhere
(a `dover` column) is filtered by the paper's threshold as well.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.measure import blur_effect

from .motion import FLOW_SIZE

_CLIPPED_LOW, _CLIPPED_HIGH = 4, 251


def clarity_score(frames: np.ndarray) -> float:
    """clarity (0–100) of uint8 (T, H, W, 3) frames; see the module's docstring."""
    height, width = FLOW_SIZE
    scores = []
    for frame in frames[[0, len(frames) // 2, -1]]:
        gray = cv2.cvtColor(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        blur = blur_effect(gray)
        blur = 1.0 if not np.isfinite(blur) else blur  # a perfectly flat frame has no edges to measure
        clipped = np.mean((gray <= _CLIPPED_LOW) | (gray >= _CLIPPED_HIGH))
        scores.append(100 * (1 - blur) * (1 - clipped))
    return float(np.mean(scores))
