"""Process-wide CPU settings that make large-tensor inference faster."""

from __future__ import annotations

import ctypes
import ctypes.util

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to serve big tensors from the heap and keep freed memory in the process.

    By default glibc maps every block over ~32 MiB afresh and returns it on free, so each of the
    denoiser's large activations (a 720p FFN activation is 64 MB) costs thousands of page faults and
    a pass of zeroing: measured here, 30–60 k faults and about a fifth of a block's time. Reusing
    memory removes that; the price is that the process keeps its high-water mark of memory until it
    exits. Returns False where it does not apply (not glibc). The CLI and benchmarks call this;
    library users may.
    """
    name = ctypes.util.find_library("c")
    if name is None or "libc.so" not in name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 40)
                    and libc.mallopt(_M_TOP_PAD, 256 << 20))
    except (OSError, AttributeError):
        return False
