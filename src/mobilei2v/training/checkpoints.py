"""Training checkpoints: written atomically, the last k kept, the newest complete one found on resume.

A checkpoint is a folder `step-XXXXXXXX` holding accelerate's state (model, optimizer, LR schedule,
EMA, every process's RNG states) and `trainer_state.json` (the step, which fixes the data position).
It is written under a temporary name and renamed when complete, so a run killed at any moment leaves
either the previous checkpoints or a new complete one, never a half-written one.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from accelerate import Accelerator

STATE_FILE = "trainer_state.json"
_NAME = re.compile(r"step-(\d{8})")


def checkpoint_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    folder = checkpoint_dir(output_dir)
    if not folder.is_dir():
        return None
    complete = [p for p in folder.iterdir() if _NAME.fullmatch(p.name) and (p / STATE_FILE).is_file()]
    return max(complete, key=lambda p: p.name, default=None)


def save_checkpoint(accelerator: Accelerator, output_dir: str | Path, step: int, keep: int) -> Path:
    """Save the training state at `step` (every process calls this); returns the checkpoint folder."""
    folder = checkpoint_dir(output_dir)
    final = folder / f"step-{step:08d}"
    partial = folder / f".step-{step:08d}.partial"
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)  # left by a run killed while saving
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        # The state file goes last: a folder without it is never taken for a checkpoint.
        (partial / STATE_FILE).write_text(json.dumps({"step": step}))
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        for old in sorted(p for p in folder.iterdir() if _NAME.fullmatch(p.name))[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Accelerator, checkpoint: Path) -> int:
    """Restore the training state; returns the step it was saved at."""
    accelerator.load_state(str(checkpoint))
    return json.loads((checkpoint / STATE_FILE).read_text())["step"]
