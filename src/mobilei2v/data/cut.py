"""`data cut`: long videos → fixed-length clips that never cross a scene boundary, and their CSV.

Scene boundaries come from PySceneDetect's `ContentDetector` (HSV content change between frames). Each
scene gives clips of `num_frames` consecutive frames starting every `stride` frames; a scene shorter than
one clip gives none. Clips are H.264 .mp4 files at the source frame rate, named `STEM-FRAME.mp4` after
their video and first frame, and listed in the authors' CSV format with `flow` left for `data score`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from scenedetect import ContentDetector, SceneManager
from scenedetect.backends.pyav import VideoStreamAv
from scenedetect.video_stream import VideoOpenFailure
from tqdm import tqdm

from ..io.video import INPUT_VIDEO_SUFFIXES, VideoReader, VideoReadError, fit_frames, write_video
from .clips_csv import CLIP_FRAMES, Row, clip_output, clip_row, write_rows
from .skipped import SkippedInputs

MIN_SCENE_FRAMES = 15  # PySceneDetect's default: shorter "scenes" are flashes, not cuts


@dataclass
class CutResult:
    rows: list[Row] = field(default_factory=list)
    videos: int = 0  # videos that gave at least one clip
    seconds: float = 0.0
    skipped: SkippedInputs = field(default_factory=SkippedInputs)


def find_videos(inputs: list[Path]) -> list[Path]:
    """Files as given; folders searched recursively for video files."""
    found = []
    for path in inputs:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in INPUT_VIDEO_SUFFIXES)
        else:
            found.append(path)
    stems = {}
    for path in found:
        if path.stem in stems and stems[path.stem] != path:
            raise ValueError(f"two inputs are named {path.stem!r} ({stems[path.stem]} and {path}): "
                             "their clips would collide; rename one")
        stems[path.stem] = path
    return found


def detect_scenes(path: Path, threshold: float | None = None) -> list[tuple[int, int]]:
    """[(first frame, end frame)) of each scene; one scene spanning the video when there is no cut.
    `threshold`: ContentDetector's (None: its default); lower finds more cuts."""
    options = {"min_scene_len": MIN_SCENE_FRAMES} | ({} if threshold is None else {"threshold": threshold})
    try:
        video = VideoStreamAv(str(path), suppress_output=True)
        manager = SceneManager()
        manager.add_detector(ContentDetector(**options))
        manager.detect_scenes(video)
    except (av.FFmpegError, OSError, VideoOpenFailure) as err:
        raise VideoReadError("unreadable video", path, str(err)) from None
    return [(start.frame_num, end.frame_num) for start, end in manager.get_scene_list(start_in_scene=True)]


def clip_starts(scenes: list[tuple[int, int]], num_frames: int, stride: int) -> list[int]:
    """First frames of the clips: every `stride` frames within each scene, whole clips only."""
    return [s for begin, end in scenes for s in range(begin, end - num_frames + 1, stride)]


def clip_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """Output (height, width): the short side scaled to `short_side` if given, both even (H.264 4:2:0)."""
    if short_side is not None:
        scale = short_side / min(height, width)
        height, width = round(height * scale), round(width * scale)
    return height - height % 2, width - width % 2


def cut_video(path: Path, clips_dir: Path, num_frames: int, stride: int, short_side: int | None,
              threshold: float | None) -> Iterator[Row]:
    """Cut one video, yielding a row per clip written; raises VideoReadError for a file that cannot be
    read (a video damaged part-way keeps the clips written before the damage)."""
    with VideoReader(path) as reader:
        fps = reader.frame_rate or 24.0  # a stream without a rate is rare; 24 is the model's own
        scenes = detect_scenes(path, threshold)
        total = scenes[-1][1] if scenes else 0
        if total < num_frames:
            raise VideoReadError(f"shorter than {num_frames} frames", path, f"{total} frames")
        starts = set(clip_starts(scenes, num_frames, stride))
        if not starts:
            raise VideoReadError(f"no scene of {num_frames} frames", path, f"{len(scenes)} scenes")
        open_clips = {}
        for index, frame in enumerate(reader):
            if index in starts:
                open_clips[index] = []
            for start in list(open_clips):
                open_clips[start].append(frame)
                if len(open_clips[start]) == num_frames:
                    frames = fit_frames(np.stack(open_clips.pop(start)), *clip_size(*frame.shape[:2], short_side))
                    clip = write_video(clips_dir / f"{path.stem}-{start:06d}.mp4", frames, fps, overwrite=True)
                    yield clip_row(clip, *frames.shape[:3])


def cut_videos(inputs: list[str | Path], out_dir: str | Path, num_frames: int = CLIP_FRAMES, stride: int | None = None,
               short_side: int | None = None, threshold: float | None = None, overwrite: bool = False,
               progress: bool = True) -> CutResult:
    """Cut every video into `out_dir/clips/` and write `out_dir/clips.csv`; bad videos are counted in
    `skipped` and the run goes on. The CSV is written once, atomically, at the end."""
    if num_frames < 2:
        raise ValueError(f"clips need at least 2 frames, got {num_frames}")
    stride = stride or num_frames
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    clips_dir, csv_path = clip_output(out_dir, overwrite)
    videos = find_videos([Path(p) for p in inputs])
    if not videos:
        raise ValueError(f"no video files found in {', '.join(map(str, inputs))}")
    clips_dir.mkdir(parents=True, exist_ok=True)
    result = CutResult()
    start = time.perf_counter()
    for path in tqdm(videos, desc="cutting", unit="video", disable=not progress):
        clips_before = len(result.rows)
        try:
            for row in cut_video(path, clips_dir, num_frames, stride, short_side, threshold):
                result.rows.append(row)
        except VideoReadError as err:
            result.skipped.add(err.reason, path, err.detail)
        result.videos += len(result.rows) > clips_before
    write_rows(csv_path, result.rows, overwrite=overwrite)
    result.seconds = time.perf_counter() - start
    return result
