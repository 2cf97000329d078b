"""Binary PGM (P5) preview images as nanoBragg writes them (``-pgmfile``)."""

from __future__ import annotations

import os

import numpy as np

from nbcupy.errors import InputError
from nbcupy.io.atomic import atomic_write
from nbcupy.io.ctext import c_g

__all__ = ["pgm_bytes", "write_pgm", "write_image", "read_pgm"]


def pgm_bytes(image_u8: np.ndarray, pgm_scale: float) -> bytes:
    """``P5\\n<f> <s>\\n# pixels scaled by <%g scale>\\n255\\n`` + the bytes.

    ``image_u8`` has shape (spixels, fpixels); ``pgm_scale`` (grey levels per
    photon) only goes into the comment line.
    """
    img = np.asarray(image_u8)
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError(f"PGM images hold a 2-D uint8 array, got {img.dtype} {img.shape}")
    spixels, fpixels = img.shape
    header = f"P5\n{fpixels} {spixels}\n# pixels scaled by {c_g(pgm_scale)}\n255\n"
    return header.encode("ascii") + np.ascontiguousarray(img).tobytes()


def write_pgm(path: str | os.PathLike[str], image_u8: np.ndarray, pgm_scale: float) -> None:
    """Write a P5 PGM exactly as nanoBragg does, atomically."""
    atomic_write(path, pgm_bytes(image_u8, pgm_scale))


def write_image(path: str | os.PathLike[str], pixels: np.ndarray, sim: object = None, *,
                pgm_scale: float) -> None:
    """The format registry's writer: uint8 grey levels ``pixels`` as nanoBragg's PGM, whose
    comment line records ``pgm_scale`` (grey levels per photon)."""
    write_pgm(path, pixels, pgm_scale)


def read_pgm(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an 8-bit binary PGM (P5, maxval <= 255) into a (height, width) uint8 array.

    ``#`` comments in the header are skipped. Raises InputError for a missing
    file, another format or truncated pixel data.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise InputError(f"PGM file {name}: cannot read file: {exc.strerror or exc}") from exc
    if not raw.startswith(b"P5"):
        raise InputError(f"PGM file {name}: not a binary PGM (no 'P5' magic)")
    pos, values = 2, []
    while len(values) < 3:
        while pos < len(raw) and raw[pos : pos + 1].isspace():
            pos += 1
        if raw[pos : pos + 1] == b"#":
            end = raw.find(b"\n", pos)
            pos = len(raw) if end < 0 else end + 1
            continue
        start = pos
        while pos < len(raw) and raw[pos : pos + 1].isdigit():
            pos += 1
        if start == pos:
            raise InputError(f"PGM file {name}: malformed header")
        values.append(int(raw[start:pos]))
    width, height, maxval = values
    if not 0 < maxval < 256:
        raise InputError(f"PGM file {name}: only 8-bit PGM is supported (maxval {maxval})")
    pos += 1  # the single white-space character after maxval
    data = raw[pos : pos + width * height]
    if len(data) < width * height:
        raise InputError(f"PGM file {name}: truncated pixel data")
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width).copy()
