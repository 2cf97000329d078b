"""Preview images (PNG), the way people look at diffraction images.

Spots are dark on a white background, linear in the pixel value, as in DIALS' image viewer
and adxv.  The grey scale follows the rule of DIALS' viewer (its ``FlexImage`` display
class): the 90th-percentile pixel value ``p90`` sets the scale, and a pixel of value ``v``
gets the grey level

    grey = 256 * (1 - v * c),  c = (brightness / 100) * 0.4 / p90

clipped to 0 (black) .. 255 (white) and truncated to an integer; when ``p90`` is not
positive (a sparse image where most pixels are empty) ``c = (brightness / 100) / 5``, so
one photon is light grey and five are black at the default brightness.  ``brightness`` is a
percentage like the viewer's slider (default 100): higher values darken the spots.  So at the
default brightness the 90th-percentile pixel is mid-grey (153) and anything above 2.5 times
that value is black.  Pixels without data (negative, NaN or infinite values) are white and
do not count towards the percentile.

``log_scale=True`` applies the same rule to ``log(1 + v)`` instead of ``v``, which shows weak
and strong spots together.  The image is 8-bit greyscale (Pillow mode ``"L"``), one PNG pixel
per detector pixel: the fast axis runs left to right and the slow axis top to bottom, as the
data are stored and as viewers show them.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np

from nbcupy.backends import to_numpy
from nbcupy.errors import InputError
from nbcupy.io.atomic import atomic_write

__all__ = ["DEFAULT_BRIGHTNESS", "preview_grey", "png_bytes", "write_png", "write_image"]

#: the brightness (percent) of DIALS' image viewer when it opens an image
DEFAULT_BRIGHTNESS = 100.0
#: the percentile pixel that sets the scale, and the fraction of the grey range it spans
_PERCENTILE = 0.90
_LEVEL = 0.4


def preview_grey(values: object, brightness: float = DEFAULT_BRIGHTNESS,
                 log_scale: bool = False) -> np.ndarray:
    """uint8 grey levels (same shape as ``values``, 2-D) of the preview; see the module notes.

    ``values``: photons per pixel (float image or int counts), NumPy or CuPy.
    Raises InputError for a brightness that is not a positive finite number.
    """
    try:
        factor = float(brightness) / 100.0
    except (TypeError, ValueError):
        factor = math.nan
    if not (math.isfinite(factor) and factor > 0.0):
        raise InputError(f"PNG brightness must be a positive number, got {brightness!r}")
    v = to_numpy(values).astype(np.float64)  # a private copy, changed in place below
    if v.ndim != 2:
        raise ValueError(f"a preview needs a 2-D image, got shape {v.shape}")
    with np.errstate(invalid="ignore"):
        data = np.isfinite(v) & (v >= 0.0)
    v[~data] = 0.0
    if log_scale:
        np.log1p(v, out=v)
    sample = v[data]
    if sample.size:
        k = min(int(_PERCENTILE * sample.size), sample.size - 1)
        p90 = float(np.partition(sample, k)[k])
    else:
        p90 = 0.0
    del sample
    c = factor * _LEVEL / p90 if p90 > 0.0 else factor / 5.0
    v *= -256.0 * c  # grey = 256 * (1 - v * c)
    v += 256.0
    np.clip(v, 0.0, 255.0, out=v)
    out = v.astype(np.uint8)  # truncation, as the viewer's int()
    out[~data] = 255
    return out


def png_bytes(values: object, brightness: float = DEFAULT_BRIGHTNESS,
              log_scale: bool = False) -> bytes:
    """The PNG file of :func:`preview_grey` (8-bit greyscale)."""
    from PIL import Image

    grey = preview_grey(values, brightness, log_scale)
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def write_png(path: str | os.PathLike[str], values: object,
              brightness: float = DEFAULT_BRIGHTNESS, log_scale: bool = False) -> None:
    """Write the preview PNG of ``values`` to ``path``, atomically."""
    atomic_write(path, png_bytes(values, brightness, log_scale))


def write_image(path: str | os.PathLike[str], pixels: object, sim: object = None, *,
                brightness: float = DEFAULT_BRIGHTNESS, log_scale: bool = False) -> None:
    """The format registry's writer: the preview of ``pixels`` (photons or counts per pixel,
    shape (spixels, fpixels); the models ``sim`` add nothing to a PNG)."""
    write_png(path, pixels, brightness, log_scale)
