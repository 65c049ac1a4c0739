"""`data score`: motion score, VAE reconstruction PSNR and clarity for every clip of a CSV, resumable.

The output CSV holds every input row, scored or not, and is rewritten atomically every few clips and
when the run ends for any reason (an error, Ctrl-C). A re-run with the same output scores only the
cells still empty, so it resumes where it stopped and never drops a row. Existing values, such as the
authors' own `flow` scores, are kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from diffusers import AutoencoderKLLTXVideo
from tqdm import tqdm

from ..io.files import check_output
from ..io.video import VideoReadError, read_video
from ..measures.motion import motion_score
from ..measures.quality import clarity_score
from ..measures.reconstruction import reconstruction_psnr
from .clips_csv import CLARITY, RECON_PSNR, Row, format_score, number, read_rows, video_file, write_rows
from .skipped import SkippedInputs

# Column → the scorer that fills it. `flow` is the authors' name for the motion score.
SCORERS: dict[str, Callable[[np.ndarray], float]] = {"flow": motion_score, CLARITY: clarity_score}


@dataclass
class ScoreResult:
    rows: int = 0
    scored: int = 0  # clips scored in this run
    already: int = 0  # rows that had every requested score from an earlier run
    seconds: float = 0.0
    skipped: SkippedInputs = field(default_factory=SkippedInputs)


def _resume_rows(in_csv: Path, out_csv: Path, overwrite: bool) -> list[Row]:
    rows = read_rows(in_csv)
    if not out_csv.exists() or overwrite or out_csv.resolve() == in_csv.resolve():
        return rows
    previous = {row["video_path"]: row for row in read_rows(out_csv)}
    foreign = previous.keys() - {row["video_path"] for row in rows}
    if foreign:
        raise ValueError(f"{out_csv} has {len(foreign)} rows that are not in {in_csv} (e.g. {next(iter(foreign))}); "
                         "it is not an earlier run on this CSV: choose another output or pass --overwrite")
    merged = []
    for row in rows:
        done = previous.get(row["video_path"], {})
        merged.append({**row, **{k: v for k, v in done.items() if v != "" and row.get(k, "") == ""}})
    return merged


def score_csv(in_csv: str | Path, out_csv: str | Path, vae: AutoencoderKLLTXVideo | None = None,
              overwrite: bool = False, save_every: int = 20, progress: bool = True) -> ScoreResult:
    """Score the clips of `in_csv` into `out_csv` (see the module's docstring). With `vae`, also recon_psnr."""
    in_csv, out_csv = Path(in_csv), Path(out_csv)
    check_output(out_csv, overwrite=True)  # an earlier run's output is resumed, not refused
    rows = _resume_rows(in_csv, out_csv, overwrite)
    columns = [*SCORERS, *([RECON_PSNR] if vae is not None else [])]
    result = ScoreResult(rows=len(rows))
    todo = [row for row in rows if any(number(row, c) is None for c in columns)]
    result.already = len(rows) - len(todo)
    start = time.perf_counter()
    try:
        for i, row in enumerate(tqdm(todo, desc="scoring", unit="clip", disable=not progress), 1):
            try:
                frames, _ = read_video(video_file(in_csv, row["video_path"]))
            except VideoReadError as err:
                result.skipped.add(err.reason, row["video_path"], err.detail)
                continue
            if len(frames) < 2:
                result.skipped.add("shorter than 2 frames", row["video_path"])
                continue
            for column in columns:
                if number(row, column) is None:  # empty, or junk such as "fast" or "nan"
                    score = reconstruction_psnr(vae, frames) if column == RECON_PSNR else SCORERS[column](frames)
                    row[column] = format_score(score)
            for column, value in zip(("num_frames", "height", "width"), frames.shape[:3]):
                row[column] = row.get(column) or str(value)
            result.scored += 1
            if i % save_every == 0:
                write_rows(out_csv, rows, overwrite=True)
    finally:
        result.seconds = time.perf_counter() - start
        write_rows(out_csv, rows, overwrite=True)
    return result
