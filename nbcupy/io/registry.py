"""The image formats nbcupy writes, by name and by file extension.

Each :class:`ImageFormat` says what its pixels hold and where its writer lives (imported only
when used, so that naming a format costs nothing).  Every writer has the signature
``write(path, pixels, sim, **options)``: ``pixels`` a (spixels, fpixels) NumPy array of the
kind the format holds, ``sim`` the :class:`~nbcupy.experiment.models.Simulation` whose
models fill the header, ``options`` what the format needs beyond them.  Writers write
atomically and return the lines to show the user about the file (what a reader will get
wrong, for instance), or None.  The command line and the API choose formats here.

A NeXus file written through the registry holds one image; a series goes into one file
frame by frame with :class:`nbcupy.io.nexus.NexusWriter`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nbcupy.errors import InputError

#: What a format's pixels hold: photons per pixel (float32), nanoBragg's ADU (uint16: photons
#: times a scale plus the ADC offset, or noise counts plus the offset), grey levels (uint8),
#: photon counts as a counting detector records them (int32, -1 where nothing was simulated:
#: :mod:`nbcupy.io.counts`).
PIXEL_KINDS = ("photons", "adu", "grey", "counts")


@dataclass(frozen=True)
class ImageFormat:
    """One image format: its name, file extensions, what its pixels hold and its writer
    (``module:function``)."""

    name: str
    extensions: tuple[str, ...]
    holds: str
    writer_path: str
    description: str

    def writer(self) -> Callable[..., None]:
        """The writer function, imported on first use."""
        module, function = self.writer_path.split(":")
        return getattr(importlib.import_module(module), function)

    def write(self, path: str | os.PathLike[str], pixels: Any, sim: Any,
              **options: Any) -> list[str] | None:
        """Write ``pixels`` of an image of ``sim`` to ``path``; the writer's notes (see the
        module docstring)."""
        return self.writer()(path, pixels, sim, **options)


FORMATS: dict[str, ImageFormat] = {f.name: f for f in (
    ImageFormat("float", (".bin",), "photons", "nbcupy.io.floatimage:write_image",
                "raw little-endian float32, no header (nanoBragg's -floatfile)"),
    ImageFormat("smv", (".img", ".smv"), "adu", "nbcupy.io.smv:write_image",
                "SMV/ADSC with nanoBragg's header, uint16 (-intfile, -noisefile)"),
    ImageFormat("pgm", (".pgm",), "grey", "nbcupy.io.pgm:write_image",
                "8-bit binary PGM picture (-pgmfile)"),
    ImageFormat("cbf", (".cbf",), "counts", "nbcupy.io.cbf:write_image",
                "miniCBF, byte-offset compressed int32 photon counts (--cbf)"),
    ImageFormat("nexus", (".h5", ".nxs"), "counts", "nbcupy.io.nexus:write_image",
                "NeXus NXmx (HDF5), bitshuffle-LZ4 int32 photon counts (--nexus)"),
    ImageFormat("png", (".png",), "photons", "nbcupy.io.png:write_image",
                "8-bit greyscale preview, dark spots on white (--png)"),
)}


def format_named(name: str) -> ImageFormat:
    """The format called ``name``; InputError naming the known ones otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown image format {name!r}; known: {', '.join(FORMATS)}") from None


def format_for_path(path: str | os.PathLike[str]) -> ImageFormat:
    """The format a file name's extension selects; InputError listing the extensions known."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    for fmt in FORMATS.values():
        if ext in fmt.extensions:
            return fmt
    known = ", ".join(e for f in FORMATS.values() for e in f.extensions)
    raise InputError(f"{os.fspath(path)}: no image format for the extension {ext or '(none)'!r} "
                     f"(known: {known})")
