"""The image formats nbcupy writes, by name and by file extension.

Each :class:`ImageFormat` says what its pixels hold, which of the images a run makes it can
store, and where its writer lives (imported only when used, so that naming a format costs
nothing).  The images a run makes (the kinds a series' ``--image`` picks) are

* ``noise``: what a detector records, nanoBragg's noise image (Poisson counts);
* ``int``: the noiseless image, as nanoBragg's ``-intfile`` scales it or, for formats of
  photon counts, rounded to whole photons;
* ``float``: photons per pixel as float32, nanoBragg's ``-floatfile``.

What a format's pixels hold (``holds``): ``photons`` (float32), ``adu`` (nanoBragg's uint16
ADU: the scaled image, or the noise counts, plus ``-adc``), ``grey`` (uint8) or ``counts``
(int32 photon counts as a counting detector records them, -1 where nothing was simulated:
:mod:`nbcupy.io.counts`).

Every writer has the signature ``write(path, pixels, sim, **options)``: ``pixels`` a
(spixels, fpixels) NumPy array of what the format holds, ``sim`` the
:class:`~nbcupy.experiment.models.Simulation` whose models fill the header, ``options`` what
the format needs beyond them.  Writers write atomically and return the lines to show the
user about the file (what a reader will get wrong, for instance), or None.  The command line,
the API and the series choose formats here.  A NeXus file written through the registry holds
one image; a whole series goes into one file frame by frame with
:class:`nbcupy.io.nexus.NexusWriter`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nbcupy.errors import InputError

__all__ = ["IMAGE_KINDS", "PIXEL_KINDS", "ImageFormat", "FORMATS", "format_named",
           "format_for"]

#: The images a run makes (see the module docstring).
IMAGE_KINDS = ("noise", "int", "float")
#: What a format's pixels hold (see the module docstring).
PIXEL_KINDS = ("photons", "adu", "grey", "counts")


@dataclass(frozen=True)
class ImageFormat:
    """One image format: its name, file extensions, what its pixels hold, the image kinds
    it can store, its writer (``module:function``) and a description for messages."""

    name: str
    extensions: tuple[str, ...]
    holds: str
    kinds: tuple[str, ...]
    writer_path: str
    description: str

    def writer(self) -> Callable[..., list[str] | None]:
        """The writer function, imported on first use."""
        module, function = self.writer_path.split(":")
        return getattr(importlib.import_module(module), function)

    def write(self, path: str | os.PathLike[str], pixels: Any, sim: Any,
              **options: Any) -> list[str] | None:
        """Write ``pixels`` of an image of ``sim`` to ``path``; the writer's notes (see the
        module docstring)."""
        return self.writer()(path, pixels, sim, **options)

    def check_kind(self, kind: str) -> None:
        """Refuse, in one line, an image kind this format cannot store."""
        if kind not in IMAGE_KINDS:
            raise InputError(f"--image {kind}: expected one of {', '.join(IMAGE_KINDS)}")
        if kind not in self.kinds:
            raise InputError(f"--image {kind} cannot be written as {self.description} "
                             f"({'/'.join(self.extensions)}); it holds "
                             f"{' or '.join(self.kinds)} images")


FORMATS: dict[str, ImageFormat] = {f.name: f for f in (
    ImageFormat("float", (".bin",), "photons", ("float",), "nbcupy.io.floatimage:write_image",
                "raw float32, little-endian, no header (nanoBragg's -floatfile)"),
    ImageFormat("smv", (".img", ".smv"), "adu", ("noise", "int"), "nbcupy.io.smv:write_image",
                "SMV/ADSC with nanoBragg's header, uint16 (-intfile, -noisefile)"),
    ImageFormat("pgm", (".pgm",), "grey", (), "nbcupy.io.pgm:write_image",
                "8-bit binary PGM picture (-pgmfile)"),
    ImageFormat("cbf", (".cbf",), "counts", ("noise", "int"), "nbcupy.io.cbf:write_image",
                "miniCBF, byte-offset compressed int32 photon counts (--cbf)"),
    ImageFormat("nexus", (".h5", ".nxs"), "counts", ("noise", "int"),
                "nbcupy.io.nexus:write_image",
                "NeXus NXmx (HDF5), bitshuffle-LZ4 int32 photon counts (--nexus)"),
    ImageFormat("png", (".png",), "photons", ("noise", "int", "float"),
                "nbcupy.io.png:write_image",
                "8-bit greyscale preview, dark spots on white (--png)"),
)}


def format_named(name: str) -> ImageFormat:
    """The format called ``name``; InputError naming the known ones otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown image format {name!r}; known: {', '.join(FORMATS)}") from None


def format_for(path_or_extension: str | os.PathLike[str]) -> ImageFormat:
    """The format a file name (or an extension such as ``.img``) selects; InputError listing
    the extensions known."""
    text = os.fspath(path_or_extension)
    ext = text.lower() if text.startswith(".") and os.sep not in text else (
        os.path.splitext(text)[1].lower())
    for fmt in FORMATS.values():
        if ext in fmt.extensions:
            return fmt
    known = ", ".join(e for f in FORMATS.values() for e in f.extensions)
    raise InputError(f"no image format for the extension {ext or '(none)'} of {text} "
                     f"(known: {known})")
