"""Atomic outputs: write under a temporary name beside the target, rename into place when complete.

A crash or an error part-way never leaves a half-written file or folder at the target, and an
existing target is replaced only when asked to.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def check_output(path: str | Path, overwrite: bool = False, folder_made_later: bool = False) -> Path:
    """`path`, after checking that it may be written: FileExistsError if it exists and `overwrite` is not
    given, ValueError if its folder does not exist (unless the caller makes it: `folder_made_later`).
    Commands call it before any work, so that a long run never ends in an error it could have given at
    the start."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    if not folder_made_later and not path.parent.is_dir():
        raise ValueError(f"output folder does not exist: {path.parent}")
    return path


@contextmanager
def atomic_output(path: str | Path, overwrite: bool = False, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path (a file, or with `directory` an empty folder) that becomes `path` on exit."""
    path = check_output(path, overwrite)
    prefix = f".{path.name}.partial-"
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=path.suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (0o777 if directory else 0o666) & ~umask)  # mkstemp/mkdtemp make private entries
        if directory and path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / path.name)  # a folder cannot be replaced by rename in one step
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp) if directory else tmp.unlink()
