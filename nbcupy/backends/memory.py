"""How much memory this machine has, so that work which cannot fit is refused before anything
is allocated.

:func:`host_memory_bytes` is the smaller of the physical memory and the limit of the
control group (container) the process runs in; it is read once per process.  Callers
estimate what an image or a table needs and compare (the rules are in
:mod:`nbcupy.nanobragg.sizes` and :func:`nbcupy.io.hkl.build_hkl_grid`).
"""

from __future__ import annotations

import functools
import os

__all__ = ["host_memory_bytes", "gib"]

#: control-group files that hold a memory limit (v2, then v1), in bytes or "max"
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


@functools.lru_cache(maxsize=1)
def host_memory_bytes() -> int:
    """Bytes of memory this process may use: the physical memory, or the control group's
    limit when that is smaller.  0 when neither can be read."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        total = 0
    for path in _CGROUP_LIMITS:
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < (total or int(text) + 1):
            total = int(text)
    return int(total)


def gib(nbytes: float) -> str:
    """``nbytes`` in GiB for messages (``'298 GiB'``, ``'0.5 GiB'``)."""
    value = nbytes / 2**30
    return f"{value:.3g} GiB" if value < 1000 else f"{value:.0f} GiB"
