"""Conversion of the float image into nanoBragg's integer output images.

The float image is in photons per pixel (float32, shape (spixels, fpixels)).
Both conversions reproduce nanoBragg's C arithmetic bit for bit, including
its float/double mix and the way x86-64 converts out-of-range values.
"""

from __future__ import annotations

import numpy as np

from nbcupy.backends import to_numpy

__all__ = [
    "intfile_scale",
    "auto_int_scale",
    "auto_pgm_scale",
    "int_image",
    "pgm_image",
]


def auto_int_scale(max_I: float) -> float:
    """nanoBragg's automatic ``intfile_scale``: 55000/max_I, or 1 if max_I <= 0.

    Counts per photon that put the brightest pixel at 55000 ADU.
    """
    return 55000.0 / max_I if max_I > 0.0 else 1.0


def intfile_scale(requested: float, max_I: float) -> float:
    """ADU per photon of the int image: ``-scale`` when given (> 0), else nanoBragg's
    automatic :func:`auto_int_scale`."""
    return requested if requested > 0 else auto_int_scale(max_I)


def auto_pgm_scale(rmsd: float, intfile_scale: float) -> float:
    """nanoBragg's automatic ``pgm_scale``: 250/(5*rmsd), or ``intfile_scale`` if rmsd <= 0.

    Grey levels per photon that put mean + 5 rmsd near full white.
    """
    return 250.0 / (5.0 * rmsd) if rmsd > 0.0 else intfile_scale


def _as_roi(roi: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """The ROI as a bool array of ``shape``, or None when it covers every pixel."""
    if roi is None:
        return None
    roi = np.asarray(roi, dtype=bool)
    if roi.shape != shape:
        raise ValueError(f"roi shape {roi.shape} does not match image shape {shape}")
    return None if roi.all() else roi


#: Pixels converted per block by :func:`int_image` and :func:`pgm_image` (their float64
#: scratch stays in the core's cache instead of spanning the whole image).
_BLOCK_PIXELS = 1 << 15


def _blocks(size: int):
    """(start, stop) ranges of at most ``_BLOCK_PIXELS`` covering ``range(size)``."""
    for start in range(0, size, _BLOCK_PIXELS):
        yield start, min(size, start + _BLOCK_PIXELS)


def int_image(
    float_image_f32: np.ndarray,
    scale: float,
    adc: float = 40.0,
    roi: np.ndarray | None = None,
) -> np.ndarray:
    """The ``-intfile`` pixels: uint16 of the same shape as the float image.

    For ROI pixels: ``v = double(pixel) * scale + adc`` (ADU), clipped to
    [0, 65535]; then ``v + 0.5`` is rounded to float32 (C passes it to
    ``floorf``), floored and stored. NaN pixels become 0 (what the C cast
    gives on x86-64). Pixels outside ``roi`` (bool array, None = all) are 0.
    """
    img = to_numpy(float_image_f32).astype(np.float32, copy=False)
    inside = _as_roi(None if roi is None else to_numpy(roi), img.shape)
    flat = np.ascontiguousarray(img).reshape(-1)
    out = np.empty(flat.size, dtype=np.uint16)
    v = np.empty(min(flat.size, _BLOCK_PIXELS), dtype=np.float64)
    r = np.empty(v.size, dtype=np.float32)
    scale, adc = float(scale), float(adc)
    for start, stop in _blocks(flat.size):
        n = stop - start
        vb, rb = v[:n], r[:n]
        np.multiply(flat[start:stop], scale, out=vb, dtype=np.float64)
        vb += adc
        np.clip(vb, 0.0, 65535.0, out=vb)  # NaN stays NaN
        vb += 0.5
        rb[...] = vb  # rounded to float32, as C passes it to floorf
        np.floor(rb, out=rb)
        np.nan_to_num(rb, copy=False, nan=0.0)
        out[start:stop] = rb
    out = out.reshape(img.shape)
    if inside is not None:
        out[~inside] = 0
    return out


def pgm_image(
    float_image_f32: np.ndarray,
    pgm_scale: float,
    roi: np.ndarray | None = None,
) -> np.ndarray:
    """The ``-pgmfile`` pixels: uint8 of the same shape as the float image.

    For ROI pixels: ``min(255, double(pixel) * pgm_scale)`` truncated toward
    zero. Like the C cast on x86-64 (via a 32-bit int), a negative value
    wraps modulo 256 (-1 -> 255) and NaN or a value below -2**31 gives 0.
    Pixels outside ``roi`` are 0.
    """
    img = to_numpy(float_image_f32).astype(np.float32, copy=False)
    inside = _as_roi(None if roi is None else to_numpy(roi), img.shape)
    flat = np.ascontiguousarray(img).reshape(-1)
    out = np.empty(flat.size, dtype=np.uint8)
    v = np.empty(min(flat.size, _BLOCK_PIXELS), dtype=np.float64)
    scale = float(pgm_scale)
    for start, stop in _blocks(flat.size):
        vb = v[:stop - start]
        np.multiply(flat[start:stop], scale, out=vb, dtype=np.float64)
        np.minimum(vb, 255.0, out=vb)
        if bool(vb.min(initial=0.0) >= 0.0):  # the usual case: plain truncation (no NaN)
            out[start:stop] = vb
        else:
            ok = vb >= -(2.0**31)  # False for NaN
            t = np.trunc(np.where(ok, vb, 0.0)).astype(np.int64)
            out[start:stop] = (t & 0xFF).astype(np.uint8)
    out = out.reshape(img.shape)
    if inside is not None:
        out[~inside] = 0
    return out
