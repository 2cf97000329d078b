"""Image statistics exactly as nanoBragg prints them.

After rendering, nanoBragg prints::

    max_I = %g  at %g %g
    mean= %g rms= %g rmsd= %g

:func:`image_statistics` recomputes these numbers from the float image with
the same arithmetic (float32 squares, float64 sums accumulated in row-major
order), so they agree with nanoBragg's single-threaded values to the last
bit. The definitions:

* Pixels "visited" are those inside the ROI and not masked off.
* ``max_I`` (photons) is the largest visited pixel, starting from 0.0 (a
  pixel must be > 0 to count; the first one in row-major order wins ties).
  If no pixel is > 0, ``max_I`` is 0 and its location is (0, 0).
* The location is not the pixel centre: it is the (fast, slow) detector
  coordinate, in metres from the detector origin, of the *last* sub-pixel
  nanoBragg evaluated in that pixel,
  ``subpixel*(i*oversample + oversample - 1) + subpixel/2`` with
  ``subpixel = pixel_size/oversample``.
* ``mean = sum/n`` and ``rms = sqrt(sum I^2/(n - 1))`` over visited pixels,
  with ``n`` replaced by 1 (mean) if it is 0 and by 2 (rms) if it is <= 1.
  Each ``I^2`` is computed in float32 before it is summed in float64.
* ``rmsd = sqrt(sum (I - mean)^2/(m - 1))`` where the sum runs over all ROI
  pixels *including masked ones* (``m`` replaced by 2 if <= 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nbcupy.backends import to_numpy
from nbcupy.io.ctext import c_g

try:  # the C loop is faster; the NumPy fallback below gives the same bits
    from nbcupy.nanobragg import _sequential
except ImportError:  # pragma: no cover - installed without a C compiler
    _sequential = None

__all__ = [
    "ImageStats",
    "image_statistics",
    "last_subpixel_coordinate",
    "format_summary_lines",
]


@dataclass(frozen=True)
class ImageStats:
    """nanoBragg's printed image statistics.

    ``max_I``, ``mean``, ``rms``, ``rmsd`` in photons per pixel;
    ``max_I_x``/``max_I_y``: fast/slow detector coordinate (m) of the last
    sub-pixel of the brightest pixel; ``max_I_index``: its (slow, fast)
    pixel index, or None when no pixel is > 0; ``n_visited``: ROI pixels not
    masked; ``n_roi``: all ROI pixels.
    """

    max_I: float
    max_I_x: float
    max_I_y: float
    max_I_index: tuple[int, int] | None
    mean: float
    rms: float
    rmsd: float
    n_visited: int
    n_roi: int


def last_subpixel_coordinate(index: int, pixel_size_m: float, oversample: int) -> float:
    """Detector coordinate (m) of the last sub-pixel of pixel ``index`` along one axis.

    Same expression and operation order as nanoBragg:
    ``sub*(index*oversample + oversample-1) + sub/2.0``, ``sub = pixel/oversample``.
    """
    sub = pixel_size_m / oversample
    return sub * float(index * oversample + oversample - 1) + sub / 2.0


_SEQ_CHUNK = 1 << 15


def _seq_sum(values: np.ndarray, square: bool = False, center: float | None = None) -> float:
    """Sum values strictly left to right in float64 (no pairwise summation), as a C loop does.

    With ``square`` the values' squares are summed, each square formed in the values' own
    precision first (float32 for an image); with ``center`` the float64 squares of
    ``value - center`` are summed instead.  Runs in the C extension
    :mod:`nbcupy.nanobragg._sequential` when it is installed, else in :func:`_seq_sum_numpy`
    (the same bits).
    """
    flat = values.reshape(-1)
    if flat.size == 0:
        return 0.0
    if _sequential is not None and flat.dtype in (np.float32, np.float64):
        kind = 2 if center is not None else 1 if square else 0
        return _sequential.sequential_sum(np.ascontiguousarray(flat), kind,
                                          0.0 if center is None else float(center))
    return _seq_sum_numpy(flat, square, center)


def _seq_sum_numpy(values: np.ndarray, square: bool = False,
                   center: float | None = None) -> float:
    """:func:`_seq_sum` with NumPy: through a small reused buffer, chunk by chunk, carrying
    the running sum into each chunk's first element and accumulating with ``cumsum``, so the
    result is the sequential sum bit for bit without arrays of the image's size."""
    flat = values.reshape(-1)
    if flat.size == 0:
        return 0.0
    buf = np.empty(min(flat.size, _SEQ_CHUNK), dtype=np.float64)
    sq = np.empty(buf.size, dtype=flat.dtype) if square else None
    carry = 0.0
    for start in range(0, flat.size, _SEQ_CHUNK):
        part = flat[start:start + _SEQ_CHUNK]
        n = part.size
        if square:
            np.multiply(part, part, out=sq[:n])
            part = sq[:n]
        chunk = buf[:n]
        chunk[...] = part
        if center is not None:
            chunk -= center
            np.multiply(chunk, chunk, out=chunk)
        chunk[0] += carry
        np.cumsum(chunk, out=chunk)
        carry = float(chunk[-1])
    return carry


def image_statistics(
    image_f32: np.ndarray,
    roi: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    *,
    pixel_size_m: float,
    oversample: int = 1,
) -> ImageStats:
    """nanoBragg's statistics of a float image (see the module docstring).

    ``image_f32``: photons per pixel, shape (spixels, fpixels) (converted to
    float32); ``roi``: bool array of that shape, True inside the region of
    interest (None = whole image); ``mask``: bool array, True for pixels to
    *skip* (nanoBragg's mask-file zeros; None = no mask); ``pixel_size_m``
    and ``oversample`` give the reported location of ``max_I``.
    """
    img = to_numpy(image_f32).astype(np.float32, copy=False)
    shape = img.shape
    inside = None if roi is None else to_numpy(roi).astype(bool, copy=False)
    skipped = None if mask is None else to_numpy(mask).astype(bool, copy=False)
    for a in (inside, skipped):
        if a is not None and a.shape != shape:
            raise ValueError("roi and mask must have the image's shape")
    if inside is not None and bool(inside.all()):
        inside = None
    if skipped is not None and not bool(skipped.any()):
        skipped = None
    if skipped is None:
        visited = inside
    else:
        visited = ~skipped if inside is None else inside & ~skipped

    # boolean indexing keeps row-major order; the whole image needs no copy
    vals = img.reshape(-1) if visited is None else img[visited]
    n = int(vals.size)

    max_I = 0.0
    max_x = max_y = 0.0
    where: tuple[int, int] | None = None
    if n:
        # first maximum in row-major order; NaN never compares greater in C
        k = int(np.argmax(vals))
        if np.isnan(vals[k]):  # argmax stops at a NaN; C's comparison skips them
            k = int(np.argmax(np.where(np.isnan(vals), -np.inf, vals)))
        if float(vals[k]) > 0.0:
            max_I = float(vals[k])
            flat_k = k if visited is None else int(np.flatnonzero(visited.ravel())[k])
            s, f = divmod(flat_k, shape[1])
            where = (s, f)
            max_x = last_subpixel_coordinate(where[1], pixel_size_m, oversample)
            max_y = last_subpixel_coordinate(where[0], pixel_size_m, oversample)

    total = _seq_sum(vals)
    total_sq = _seq_sum(vals, square=True)  # float32 squares, as nanoBragg's float pixels
    n_mean = n if n > 0 else 1
    mean = total / n_mean
    n_rms = n_mean if n_mean > 1 else 2
    rms = math.sqrt(total_sq / (n_rms - 1))

    roi_vals = img.reshape(-1) if inside is None else img[inside]
    m = int(roi_vals.size)
    total_dev = _seq_sum(roi_vals, center=mean)
    m_rmsd = m if m > 1 else 2
    rmsd = math.sqrt(total_dev / (m_rmsd - 1))

    return ImageStats(
        max_I=max_I,
        max_I_x=max_x,
        max_I_y=max_y,
        max_I_index=where,
        mean=mean,
        rms=rms,
        rmsd=rmsd,
        n_visited=n,
        n_roi=m,
    )


def format_summary_lines(stats: ImageStats) -> list[str]:
    """The two lines nanoBragg prints, without newlines."""
    return [
        f"max_I = {c_g(stats.max_I)}  at {c_g(stats.max_I_x)} {c_g(stats.max_I_y)}",
        f"mean= {c_g(stats.mean)} rms= {c_g(stats.rms)} rmsd= {c_g(stats.rmsd)}",
    ]
