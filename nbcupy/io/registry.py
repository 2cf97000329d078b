"""Image formats by file extension: extension -> writer.

A format declares the image kinds it can hold and writes one image atomically (temporary
name in the same folder, then a rename: :mod:`nbcupy.io.atomic`), returning the SHA-256 of
the bytes it wrote (the checksum a series manifest records).  The kinds are

* ``noise``: what a detector records, nanoBragg's noise image (Poisson counts + ``-adc``);
* ``int``: the noiseless image scaled by ``-scale`` (or to 55000 ADU at the brightest
  pixel) + ``-adc``, nanoBragg's ``-intfile``;
* ``float``: photons per pixel as float32, nanoBragg's ``-floatfile``.

A writer is ``write(path, pixels, simulation, kind) -> sha256 hex``: ``pixels`` is the
(spixels, fpixels) array of that kind (uint16 for ``noise``/``int``, float32 for
``float``), ``simulation`` the frame's :class:`nbcupy.models.Simulation` (for headers).
Adding a format (CBF, NeXus, PNG) is a writer in its own module and one :func:`register`
call below.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbcupy.errors import InputError
from nbcupy.io.atomic import atomic_write

__all__ = ["IMAGE_KINDS", "ImageFormat", "register", "format_for", "formats", "write_bytes"]

IMAGE_KINDS = ("noise", "int", "float")

Writer = Callable[[str, np.ndarray, Any, str], str]


@dataclass(frozen=True)
class ImageFormat:
    """One file format: ``name``, the ``extensions`` that select it (lower case, with the
    dot), the image ``kinds`` it holds and its ``write`` function."""

    name: str
    extensions: tuple[str, ...]
    kinds: tuple[str, ...]
    write: Writer
    description: str = ""

    def check_kind(self, kind: str) -> None:
        """Refuse an image kind this format cannot hold, in one line."""
        if kind not in IMAGE_KINDS:
            raise InputError(f"--image {kind}: expected one of {', '.join(IMAGE_KINDS)}")
        if kind not in self.kinds:
            raise InputError(f"--image {kind} cannot be written as {self.description} "
                             f"({'/'.join(self.extensions)}); it holds "
                             f"{' or '.join(self.kinds)} images")


_FORMATS: dict[str, ImageFormat] = {}


def register(fmt: ImageFormat) -> None:
    """Make ``fmt`` the format of each of its extensions."""
    for ext in fmt.extensions:
        _FORMATS[ext.lower()] = fmt


def formats() -> list[ImageFormat]:
    """The registered formats, each once."""
    seen: dict[str, ImageFormat] = {}
    for fmt in _FORMATS.values():
        seen.setdefault(fmt.name, fmt)
    return list(seen.values())


def format_for(path_or_extension: str) -> ImageFormat:
    """The format of a file name (or an extension such as ``.img``); InputError if none."""
    text = os.fspath(path_or_extension)
    ext = text.lower() if text.startswith(".") and os.sep not in text else (
        os.path.splitext(text)[1].lower())
    fmt = _FORMATS.get(ext)
    if fmt is None:
        known = ", ".join(sorted(_FORMATS))
        shown = ext or "(none)"
        raise InputError(f"no image format for the extension {shown} of {text} "
                         f"(known: {known})")
    return fmt


def write_bytes(path: str, data: bytes | memoryview) -> str:
    """Write ``data`` to ``path`` atomically; return its SHA-256 (hex)."""
    atomic_write(path, data)
    return hashlib.sha256(data).hexdigest()


def _write_smv(path: str, pixels: np.ndarray, simulation: Any, kind: str) -> str:
    from nbcupy.io.smv import SMVHeaderFields, smv_bytes

    header = SMVHeaderFields.from_simulation(simulation, noise_image=kind == "noise")
    return write_bytes(path, smv_bytes(pixels, header))


def _write_float(path: str, pixels: np.ndarray, simulation: Any, kind: str) -> str:
    data = np.ascontiguousarray(pixels, dtype="<f4").reshape(-1)
    return write_bytes(path, memoryview(data).cast("B"))


register(ImageFormat("smv", (".img", ".smv"), ("noise", "int"), _write_smv,
                     "SMV (nanoBragg's -intfile/-noisefile, 16-bit)"))
register(ImageFormat("float", (".bin",), ("float",), _write_float,
                     "raw float32 (nanoBragg's -floatfile)"))
