"""Raw float images (``-floatfile``): little-endian float32, no header.

The file holds ``fpixels*spixels`` values (photons per pixel), fast index
varying fastest, so the array shape is (spixels, fpixels).
"""

from __future__ import annotations

import os

import numpy as np

from nbcupy.backends import to_numpy
from nbcupy.errors import InputError
from nbcupy.io.atomic import atomic_write

__all__ = ["write_float_image", "write_image", "read_float_image"]


def write_float_image(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write ``image`` (any real array, converted to float32) atomically.

    The values are rounded to float32 (nanoBragg's image type) and stored
    little-endian in C order. A CuPy array is copied to the host first.
    """
    img = to_numpy(image)
    atomic_write(path, np.ascontiguousarray(img, dtype="<f4").reshape(-1).data)


def write_image(path: str | os.PathLike[str], pixels: np.ndarray, sim: object = None) -> None:
    """The format registry's writer: ``pixels`` as a raw float image (no header, so the
    models ``sim`` add nothing)."""
    write_float_image(path, pixels)


def read_float_image(path: str | os.PathLike[str], fpixels: int, spixels: int) -> np.ndarray:
    """Read a raw float image into a native float32 array of shape (spixels, fpixels).

    Raises InputError for a missing file or a size other than
    ``4*fpixels*spixels`` bytes.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise InputError(f"float image {name}: cannot read file: {exc.strerror or exc}") from exc
    expected = 4 * int(fpixels) * int(spixels)
    if len(raw) != expected:
        raise InputError(
            f"float image {name}: {len(raw)} bytes, expected {expected} for "
            f"{fpixels}x{spixels} float32 pixels"
        )
    return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(int(spixels), int(fpixels))
