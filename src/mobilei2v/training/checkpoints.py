"""Training checkpoints: written atomically, the last k kept, the newest loadable one found on resume.

A checkpoint is a folder `step-XXXXXXXX` holding accelerate's state (model weights in safetensors;
optimizer, LR schedule and every process's RNG states, which accelerate reads weights-only), the EMA
weights in `ema.safetensors` (accelerate would pickle them, and unpickling can run code) and
`trainer_state.json` (the step, which fixes the data position). Under FSDP accelerate holds only the LR
schedule and the RNG states: each sharded model and its optimizer are gathered whole into safetensors files
of their own (sharding.py), and the EMA too. Nothing in a checkpoint folder is ever unpickled: resuming
from a folder someone else could write to cannot run their code. The folder is written under a temporary
name and renamed when complete, so a run killed at any moment leaves either the previous checkpoints or a
new complete one, never a half-written one.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import load as weights_only_load
from diffusers.training_utils import EMAModel
from safetensors import safe_open
from safetensors.torch import save_file

from ..io.model_folder import check_safetensors
from .sharding import gathered_ema, load_sharded, save_sharded, scatter_ema

STATE_FILE = "trainer_state.json"
EMA_FILE = "ema.safetensors"
_NAME = re.compile(r"step-(\d{8})")


def checkpoint_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """Every complete checkpoint (its state file written), newest first."""
    folder = checkpoint_dir(output_dir)
    if not folder.is_dir():
        return []
    complete = [p for p in folder.iterdir() if _NAME.fullmatch(p.name) and (p / STATE_FILE).is_file()]
    return sorted(complete, key=lambda p: p.name, reverse=True)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    return next(iter(complete_checkpoints(output_dir)), None)


def save_checkpoint(accelerator: Accelerator, ema: EMAModel, output_dir: str | Path, step: int, keep: int,
                    sharded: Mapping[str, tuple] | None = None) -> Path:
    """Save the training state at `step` (every process calls this); returns the checkpoint folder.
    `sharded`: name → (module, optimizer) that FSDP shards and accelerate does not know, whose EMA is sharded
    too; each is gathered whole into `{name}.safetensors` and `{name}-optimizer.safetensors`."""
    folder = checkpoint_dir(output_dir)
    final = folder / f"step-{step:08d}"
    partial = folder / f".step-{step:08d}.partial"
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)  # left by a run killed while saving
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    for name, (module, optimizer) in (sharded or {}).items():
        save_sharded(module, optimizer, partial, name, accelerator.is_main_process)
    shadow = gathered_ema(ema) if sharded else ema.shadow_params
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state = {k: v for k, v in ema.state_dict().items() if k != "shadow_params"}
        save_file({str(i): p.detach().contiguous() for i, p in enumerate(shadow)}, partial / EMA_FILE,
                  metadata={"ema": json.dumps(state)})
        # The state file goes last: a folder without it is never taken for a checkpoint.
        (partial / STATE_FILE).write_text(json.dumps({"step": step}))
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        for old in sorted(p for p in folder.iterdir() if _NAME.fullmatch(p.name))[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Accelerator, ema: EMAModel, checkpoint: Path,
                    sharded: Mapping[str, tuple] | None = None) -> int:
    """Restore the training state (`sharded` as `save_checkpoint` took it); returns the step it was saved at.
    ValueError naming the file that is damaged or missing."""
    state_file = checkpoint / STATE_FILE
    try:
        step = json.loads(state_file.read_text())["step"]
        if not isinstance(step, int) or step < 1:
            raise ValueError(f"step must be a positive integer, got {step!r}")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise ValueError(f"{state_file} is corrupt ({err})") from None
    for path in [*checkpoint.glob("*.safetensors"), checkpoint / EMA_FILE]:
        if not path.is_file():
            raise ValueError(f"{path} is missing")
        check_safetensors(path)
    # accelerate skips RNG states it cannot read without a word: the resumed run would draw other noise.
    rng_file = checkpoint / f"random_states_{accelerator.process_index}.pkl"
    try:
        weights_only_load(rng_file)
        accelerator.load_state(str(checkpoint))
        for name, (module, optimizer) in (sharded or {}).items():
            load_sharded(module, optimizer, checkpoint, name)
    except Exception as err:  # torch, safetensors and accelerate raise many types for damaged files
        raise ValueError(f"cannot load {checkpoint}: {type(err).__name__}: {str(err).splitlines()[0]}") from None
    shards = ema.shadow_params
    with safe_open(checkpoint / EMA_FILE, "pt") as f:
        try:
            state = json.loads(f.metadata()["ema"])
            state["shadow_params"] = [f.get_tensor(str(i)) for i in range(len(f.keys()))]
            ema.load_state_dict(state)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{checkpoint / EMA_FILE} is corrupt ({err})") from None
    if sharded:  # the file holds whole weights: each process keeps its shard of them
        whole, ema.shadow_params = ema.shadow_params, shards
        scatter_ema(ema, whole)
    return step


def resume_latest(accelerator: Accelerator, ema: EMAModel, output_dir: str | Path, log: Callable[[str], None],
                  sharded: Mapping[str, tuple] | None = None) -> int:
    """Load the newest checkpoint that loads, saying which newer ones were skipped and why; returns its
    step.
    ValueError when none does."""
    checkpoints = complete_checkpoints(output_dir)
    if not checkpoints:
        raise ValueError(f"--resume: no checkpoint in {checkpoint_dir(output_dir)}")
    for checkpoint in checkpoints:
        try:
            step = load_checkpoint(accelerator, ema, checkpoint, sharded)
        except ValueError as err:
            log(f"skipped {checkpoint}: {err}")
            continue
        log(f"resumed from {checkpoint} at step {step}")
        return step
    raise ValueError(f"--resume: no checkpoint in {checkpoint_dir(output_dir)} could be loaded (see above)")
