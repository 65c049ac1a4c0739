"""Memory measurements of the current process (Linux)."""

from __future__ import annotations


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_rss_gib() -> float:
    """Peak resident memory of this process image (VmHWM). Unlike getrusage's ru_maxrss it is not
    inherited from the parent across fork + exec, so a child started by a big process reads true."""
    return _status_kib("VmHWM") / 2**20


def current_rss_gib() -> float:
    return _status_kib("VmRSS") / 2**20
