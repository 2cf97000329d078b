"""The image formats nbcupy writes, by name and by file extension.

Each :class:`ImageFormat` says what its pixels hold and where its writer lives (imported only
when used, so that naming a format costs nothing).  Every writer has the signature
``write(path, pixels, sim, **options)``: ``pixels`` a (spixels, fpixels) NumPy array of the
kind the format holds, ``sim`` the :class:`~nbcupy.experiment.models.Simulation` whose
models fill the header, ``options`` what the format needs beyond them.  Writers write
atomically.  The command line and the API choose formats here.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nbcupy.errors import InputError

#: What a format's pixels hold: photons per pixel (float32), nanoBragg's ADU (uint16: photons
#: times a scale plus the ADC offset, or noise counts plus the offset), grey levels (uint8).
PIXEL_KINDS = ("photons", "adu", "grey")


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

    def write(self, path: str | os.PathLike[str], pixels: Any, sim: Any, **options: Any) -> None:
        """Write ``pixels`` of an image of ``sim`` to ``path`` (see the module docstring)."""
        self.writer()(path, pixels, sim, **options)


FORMATS: dict[str, ImageFormat] = {f.name: f for f in (
    ImageFormat("float", (".bin",), "photons", "nbcupy.io.floatimage:write_image",
                "raw little-endian float32, no header (nanoBragg's -floatfile)"),
    ImageFormat("smv", (".img", ".smv"), "adu", "nbcupy.io.smv:write_image",
                "SMV/ADSC with nanoBragg's header, uint16 (-intfile, -noisefile)"),
    ImageFormat("pgm", (".pgm",), "grey", "nbcupy.io.pgm:write_image",
                "8-bit binary PGM picture (-pgmfile)"),
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
