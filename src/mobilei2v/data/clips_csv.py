"""The authors' training CSV: `video_path,text,num_frames,height,width,flow` (docs/architecture.md §8).

A CSV made here works with their code and theirs works here: those six columns come first, in that
order; score columns and any columns a CSV already had follow. `flow` is the motion score. A relative
`video_path` means relative to the CSV's folder; rows are read with absolute paths, so a CSV written
anywhere else still names the same files.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ..io.files import atomic_output, check_output

COLUMNS = ("video_path", "text", "num_frames", "height", "width", "flow")
# Score columns `data score` adds and `data filter` reads (`flow` is one of the authors' own columns).
CLARITY, RECON_PSNR, DOVER = "clarity", "recon_psnr", "dover"
CLIP_FRAMES = 17  # the paper's clip length: 8k+1 frames, 3 latent frames

Row = dict[str, str]


def read_rows(path: str | Path) -> list[Row]:
    """Every row of a clips CSV, values as strings ("" where empty), video paths made absolute."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"CSV file not found: {path}")
    # utf-8-sig: Excel starts a CSV it saves with a byte-order mark, which would rename the first column.
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "video_path" not in reader.fieldnames:
            raise ValueError(f"{path} is not a clips CSV: it needs a video_path column "
                             f"(the format is {','.join(COLUMNS)})")
        rows = [{k: v or "" for k, v in row.items() if k is not None} for row in reader]
    for row in rows:
        row["video_path"] = str(video_file(path, row["video_path"]))
    return rows


def write_rows(path: str | Path, rows: list[Row], overwrite: bool = False) -> Path:
    """Write rows atomically: the authors' columns first, then every other column in first-seen order."""
    columns = list(COLUMNS)
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_output(path, overwrite) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def clip_output(out_dir: str | Path, overwrite: bool) -> tuple[Path, Path]:
    """(clips folder, CSV) of a step that makes clips: OUT/clips/ and OUT/clips.csv, which must not exist
    unless `overwrite`. The step creates the folder when it starts writing."""
    out_dir = Path(out_dir)
    return out_dir / "clips", check_output(out_dir / "clips.csv", overwrite, folder_made_later=True)


def video_file(csv_path: str | Path, video_path: str) -> Path:
    """The file a video_path in the CSV at `csv_path` names."""
    path = Path(video_path)
    return path if path.is_absolute() else Path(csv_path).absolute().parent / path


def number(row: Row, column: str) -> float | None:
    """A row's value in a numeric column, or None when it is empty, not a number, NaN or infinite (junk a
    spreadsheet may have put there: never a score)."""
    try:
        value = float(row.get(column, ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def clip_row(video_path: Path, num_frames: int, height: int, width: int, flow: float | None = None,
             text: str = "", **extra: str) -> Row:
    """A row in the authors' format for a clip file (absolute path)."""
    return {"video_path": str(Path(video_path).resolve()), "text": text, "num_frames": str(num_frames),
            "height": str(height), "width": str(width), "flow": "" if flow is None else format_score(flow),
            **extra}


def format_score(value: float) -> str:
    return f"{value:.4f}"
