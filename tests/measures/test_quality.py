import cv2
import numpy as np

from mobilei2v.data.filter import CLARITY_MIN
from mobilei2v.io.video import read_video
from mobilei2v.measures.quality import clarity_score


def test_sharp_footage_passes_and_blurred_footage_fails(bunny):
    frames, _ = read_video(bunny, max_frames=9)
    small = np.stack([cv2.resize(f, (576, 320), interpolation=cv2.INTER_AREA) for f in frames])
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in small])
    assert clarity_score(small) > CLARITY_MIN + 10
    assert clarity_score(blurred) < CLARITY_MIN


def test_compression_damage_lowers_clarity(sample_video):
    pristine, _ = read_video(sample_video("carphone_pristine.mp4"), max_frames=9)
    distorted, _ = read_video(sample_video("carphone_distorted.mp4"), max_frames=9)
    assert clarity_score(distorted) < clarity_score(pristine) - 5


def test_flat_and_black_frames_score_zero():
    assert clarity_score(np.full((3, 64, 64, 3), 128, np.uint8)) == 0
    assert clarity_score(np.zeros((3, 64, 64, 3), np.uint8)) == 0
