"""Files: atomic outputs, and the one reader of the project's JSON files.

Atomic outputs write under a temporary name beside the target and rename into place when complete.
A crash or an error part-way never leaves a half-written file or folder at the target, and an
existing target is replaced only when asked to. A kill (SIGKILL, power loss) leaves the temporary
behind; the next write of the same target removes those older than its process, and says so.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Temporaries older than this process cannot be a write of its own still under way.
_PROCESS_START = time.time()


def check_output(path: str | Path, overwrite: bool = False, folder_made_later: bool = False,
                 directory: bool = False) -> Path:
    """`path`, after checking that it may be written: FileExistsError if it exists and `overwrite` is not
    given, ValueError if its folder does not exist (unless the caller makes it: `folder_made_later`) or if
    it is a folder where a file is to be written (`directory` False) or the reverse.
    Commands call it before any work, so that a long run never ends in an error it could have given at
    the start."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    if path.is_dir() != directory and path.exists():
        kind = "a folder" if path.is_dir() else "a file"
        raise ValueError(f"{path} is {kind}; give a {'folder' if directory else 'file'} name to write to")
    if not folder_made_later and not path.parent.is_dir():
        raise ValueError(f"output folder does not exist: {path.parent}")
    return path


@contextmanager
def atomic_output(path: str | Path, overwrite: bool = False, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path (a file, or with `directory` an empty folder) that becomes `path` on exit."""
    path = check_output(path, overwrite, directory=directory)
    prefix = f".{path.name}.partial-"
    _remove_stale(path.parent, [prefix, f".{path.name}.old-"])
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


def _remove_stale(folder: Path, prefixes: list[str]) -> None:
    """Remove temporaries named with `prefixes` in `folder` that an earlier, killed process left."""
    stale = [p for p in folder.iterdir() if p.name.startswith(tuple(prefixes))
             and p.lstat().st_mtime < _PROCESS_START]
    for p in stale:
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    if stale:
        print(f"removed {len(stale)} temporary file(s) left in {folder} by an interrupted earlier run: "
              + ", ".join(p.name for p in stale), file=sys.stderr)


def read_json_object(path: Path, what: str) -> dict:
    """The JSON object in `path` (an index, a manifest, a config): ValueError naming the file if it is not
    JSON or holds something other than an object; `what` says what it should hold."""
    try:
        values = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is corrupt: {err}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} is corrupt: it holds a JSON {type(values).__name__}, not {what}")
    return values
