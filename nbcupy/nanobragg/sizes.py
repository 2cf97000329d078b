"""Sizes that cannot fit in memory, refused before anything is allocated.

The rule: an estimate of the bytes a run holds at once must not exceed the machine's memory
(:func:`nbcupy.backends.memory.host_memory_bytes`: the physical memory, or the container's
limit when smaller).  The estimates, measured on nbcupy's own runs and rounded up:

* the images: :data:`BYTES_PER_PIXEL` per detector pixel (the float64 image, its float32
  copy, the SMV int and noise images, the PGM and the statistics' temporaries), plus
  :data:`COUNT_BYTES_PER_PIXEL` with ``--cbf``/``--nexus``/``--png`` (the int32 counts and
  their compressed copies);
* the engine's per-image tables: :data:`BYTES_PER_SETTING` per crystal setting (sources x
  phi steps x mosaic domains: the rotated axes and offsets on the host and on the device,
  twice when nanoBragg's phi = 0 rule needs a first pass);
* the dense structure-factor grid: see :func:`nbcupy.io.hkl.build_hkl_grid`.

The engine's tiles come on top, bounded by its memory budget (``--memory-mb``).
"""

from __future__ import annotations

from typing import Any

from nbcupy.backends.memory import gib, host_memory_bytes
from nbcupy.errors import InputError

__all__ = ["BYTES_PER_PIXEL", "COUNT_BYTES_PER_PIXEL", "BYTES_PER_SETTING", "check_image_size",
           "check_settings_count"]

BYTES_PER_PIXEL = 32
COUNT_BYTES_PER_PIXEL = 24
BYTES_PER_SETTING = 1024


def _machine() -> tuple[int, str]:
    memory = host_memory_bytes()
    return memory, f"this machine has {gib(memory)} of memory"


def check_image_size(fpixels: int, spixels: int, opts: Any = None) -> None:
    """InputError when the images of a ``fpixels`` x ``spixels`` detector cannot fit
    (``opts``: the :class:`~nbcupy.nanobragg.options.Options`, for the outputs it names)."""
    memory, machine = _machine()
    pixels = int(fpixels) * int(spixels)
    per_pixel = BYTES_PER_PIXEL
    outputs = "the float64 image, its float32 copy and the SMV, noise and PGM images"
    if opts is not None and any(getattr(opts, name, None) is not None
                                for name in ("cbf_file", "nexus_file", "png_file")):
        per_pixel += COUNT_BYTES_PER_PIXEL
        outputs += " and the CBF/NeXus/PNG counts"
    needed = pixels * per_pixel
    if memory and needed > memory:
        raise InputError(f"a detector of {fpixels}x{spixels} pixels needs about {gib(needed)} "
                         f"for its images ({pixels:.3g} pixels x {per_pixel} bytes: {outputs})"
                         f" but {machine}")


def check_settings_count(sources: int, phisteps: int, domains: int) -> None:
    """InputError when the engine's per-image tables of ``sources`` x ``phisteps`` x
    ``domains`` crystal settings cannot fit."""
    memory, machine = _machine()
    settings = int(sources) * int(phisteps) * int(domains)
    needed = settings * BYTES_PER_SETTING
    if memory and needed > memory:
        raise InputError(f"{sources} source(s) x {phisteps} phi step(s) x {domains} mosaic "
                         f"domain(s) = {settings:.3g} crystal settings need about {gib(needed)} "
                         f"for the engine's per-image tables ({BYTES_PER_SETTING} bytes each) "
                         f"but {machine}")
