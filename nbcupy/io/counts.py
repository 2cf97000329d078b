"""The photon counts that CBF and NeXus files hold.

A photon-counting detector (Pilatus, Eiger) records whole photons per pixel, with no
pedestal.  nbcupy's CBF and NeXus images hold exactly that, as int32:

* with noise (nanoBragg's default), the Poisson counts of the noise image: the values
  nanoBragg writes to ``-noisefile`` *without* the ``-adc`` offset it adds there (and without
  its 65535 ceiling): ``noise.img - adc == CBF`` for every simulated pixel below 65535;
* with ``-nonoise``, the noiseless image (mean photons per pixel) rounded to the nearest
  count, halves rounded up.

Values are truncated toward zero like nanoBragg's own integer conversion (Poisson counts are
whole numbers anyway; only means above 10^6, drawn from nanoBragg's Gaussian approximation,
have fractions), limited to 0 .. 2^31 - 1, the int32 maximum, which the files declare as the
saturation value.  Pixels that were not simulated -- outside ``-roi``, or switched off by a
``-mask`` image -- and pixels without a value (NaN) hold :data:`NO_DATA` (-1), the value
counting detectors give pixels without data; processing programs treat negative values as
untrusted.
"""

from __future__ import annotations

import numpy as np

from nbcupy.backends import to_numpy
from nbcupy.experiment.regions import active_pixels

__all__ = ["INT32_MAX", "NO_DATA", "valid_pixels", "counts_from_noise", "counts_from_image",
           "checked_counts"]

#: the largest count an int32 pixel holds; also the saturation value written to the files
INT32_MAX = 2**31 - 1
#: the value of a pixel that holds no measurement (not simulated, or NaN)
NO_DATA = -1


def valid_pixels(sim) -> np.ndarray | None:
    """(spixels, fpixels) bool: the pixels that were simulated (inside ``-roi`` and not
    masked), or None when all were.  ``sim`` is a
    :class:`~nbcupy.experiment.models.Simulation`."""
    active = active_pixels(sim.detector, sim.sampling)
    return None if bool(active.all()) else active


def _to_int32(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Clip float64 whole numbers into int32 counts; NaN and invalid pixels -> NO_DATA."""
    nan = np.isnan(values)
    out = np.clip(np.where(nan, 0.0, values), 0.0, float(INT32_MAX)).astype(np.int32)
    if bool(nan.any()):
        out[nan] = NO_DATA
    if valid is not None:
        valid = to_numpy(valid).astype(bool, copy=False)
        if valid.shape != out.shape:
            raise ValueError(f"valid-pixel mask shape {valid.shape} differs from {out.shape}")
        out[~valid] = NO_DATA
    return out


def counts_from_noise(noise_counts: object, valid: np.ndarray | None = None) -> np.ndarray:
    """int32 counts of a noise image.

    ``noise_counts``: the photon counts nanoBragg's noise loop draws (what
    :func:`nbcupy.nanobragg.noise.poisson_counts_exact` or ``poisson_counts_fast`` return), shape
    (spixels, fpixels), NumPy or CuPy.  ``valid``: :func:`valid_pixels` (None = all).
    Truncated toward zero, clipped to 0 .. 2^31 - 1; invalid pixels and NaN -> -1.
    """
    values = np.trunc(to_numpy(noise_counts).astype(np.float64))
    return _to_int32(values, valid)


def counts_from_image(image: object, valid: np.ndarray | None = None) -> np.ndarray:
    """int32 counts of a noiseless image (``-nonoise``): mean photons rounded to counts.

    ``image``: photons per pixel, shape (spixels, fpixels), NumPy or CuPy (float32 as
    nanoBragg writes it, or float64).  Each value is rounded to the nearest whole photon,
    halves up (``floor(x + 0.5)``), clipped to 0 .. 2^31 - 1; invalid pixels and NaN -> -1.
    """
    values = np.floor(to_numpy(image).astype(np.float64) + 0.5)
    return _to_int32(values, valid)


def checked_counts(counts: object, shape: tuple[int, int], what: str) -> np.ndarray:
    """``counts`` as a C-contiguous int32 array of ``shape`` (spixels, fpixels), for writers.

    Any integer type whose values fit in int32 is accepted; floats are refused (TypeError:
    convert them with :func:`counts_from_noise` or :func:`counts_from_image` first), as are
    other shapes (ValueError).  ``what`` names the format in the messages.
    """
    arr = to_numpy(counts)
    if arr.shape != tuple(shape):
        raise ValueError(f"{what}: counts have shape {arr.shape}, the detector {tuple(shape)}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{what}: counts must be integers (see nbcupy.io.counts), "
                        f"got {arr.dtype}")
    if arr.dtype != np.int32:
        if arr.size and (int(arr.min()) < -(2**31) or int(arr.max()) > INT32_MAX):
            raise ValueError(f"{what}: counts do not fit in int32")
        arr = arr.astype(np.int32)
    return np.ascontiguousarray(arr)
