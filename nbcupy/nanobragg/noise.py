"""Poisson noise images, nanoBragg style.

Two paths are offered:

* :func:`poisson_counts_exact` reproduces nanoBragg's noise image bit for bit: it visits the
  pixels in the same order as the C noise loop and draws every deviate with nanoBragg's own
  ``poidev``/``ran1`` (see :mod:`nbcupy.nanobragg.rng`).  It runs on the CPU, one pixel after
  the other: in the compiled C extension :mod:`nbcupy.nanobragg._sequential` (through
  :mod:`nbcupy.nanobragg.noise_compiled`) when it was built at installation, else in pure
  Python.  Both give the same numbers and leave the generator in the same state.
* :func:`poisson_counts_fast` draws the same distribution with the array library's own
  generator (NumPy or CuPy), fully vectorised.  It is statistically equivalent but NOT
  bit-compatible with nanoBragg, and its numbers depend on the library and its version.

:func:`noise_image_uint16` turns counts into the unsigned 16-bit pixel values nanoBragg writes
to its noise SMV image, together with the photon total and overload count it prints.
"""

from __future__ import annotations

import os

import numpy as np

from nbcupy.backends import native_module, to_numpy

from .rng import NanoBraggRandom, SeedStream

__all__ = ["poisson_counts_exact", "poisson_counts_fast", "noise_counts", "noise_image_uint16"]

#: Above this mean nanoBragg (and the fast path) use the Gaussian approximation.
GAUSS_THRESHOLD = 1.0e6


#: The environment variable ``NBCUPY_NOISE_COMPILED=0`` (or false/no/off) makes
#: :func:`poisson_counts_exact` use the pure-Python loop even where the compiled one exists.
COMPILED_ENV = "NBCUPY_NOISE_COMPILED"

_COMPILED = None  # None: not tried yet; False: extension unavailable; else the function


def _compiled_kernel():
    """``poisson_counts_compiled`` from :mod:`nbcupy.nanobragg.noise_compiled`, or None.

    None when the C extension could not be built or imported, or when it is disabled with
    ``NBCUPY_NOISE_COMPILED=0`` (read at every call).  Importing it costs next to nothing.
    """
    global _COMPILED
    if os.environ.get(COMPILED_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if _COMPILED is None:
        try:
            from .noise_compiled import poisson_counts_compiled
        except ImportError:
            _COMPILED = False
        else:
            _COMPILED = poisson_counts_compiled
    return _COMPILED or None


def compiled_available() -> bool:
    """True when :func:`poisson_counts_exact` will run the compiled loop (which releases the
    GIL, so that it can run beside other work)."""
    return _compiled_kernel() is not None


def poisson_counts_exact(
    image: np.ndarray,
    rng: NanoBraggRandom,
    stream: SeedStream,
    roi: np.ndarray | None,
) -> np.ndarray:
    """Photon counts of nanoBragg's noise image, bit-exact.

    Parameters
    ----------
    image
        (spixels, fpixels) photon image (mean photons per pixel); converted to float32,
        nanoBragg's ``floatimage`` type.  NumPy or CuPy.
    rng
        The shared generator state of this run.  In a nanoBragg run the mosaic stream (and
        the misset stream, with ``-misset random``) has already drawn from it; that only
        matters when ``stream.idum`` is positive, i.e. when the table is not rebuilt.
    stream
        The noise stream, ``SeedStream(-seed)``; advanced in place.
    roi
        Boolean mask (same shape) of the pixels nanoBragg visits in its noise loop, or None
        for all pixels.

    Returns
    -------
    float64 array of the image's shape: ``poidev(pixel)`` for every visited pixel, in C order
    (slow index outer, fast index inner), 0 elsewhere.  Means above 1e6 give non-integer
    values (``xm + sqrt(xm) * gaussdev``, rounded to float), exactly like nanoBragg.
    """
    img = np.ascontiguousarray(to_numpy(image), dtype=np.float32)
    mask = None if roi is None else np.asarray(to_numpy(roi), dtype=bool)
    if mask is not None and mask.shape != img.shape:
        raise ValueError(f"roi shape {mask.shape} differs from image shape {img.shape}")
    compiled = _compiled_kernel()
    if compiled is not None:  # C loop: identical numbers and final state
        return compiled(img, rng, stream, mask)
    return _poisson_counts_pure(img, rng, stream, mask)


def _poisson_counts_pure(img: np.ndarray, rng: NanoBraggRandom, stream: SeedStream,
                         mask: np.ndarray | None) -> np.ndarray:
    """Pure-Python core of :func:`poisson_counts_exact` (float32 image, bool mask or None)."""
    out = np.zeros(img.shape, dtype=np.float64)
    # boolean indexing walks the array in C (row-major) order, like the C loop; the draws are
    # made in chunks (the generator state carries over exactly) to bound the temporaries
    means = img.reshape(-1) if mask is None else img[mask]
    counts = np.empty(means.size, dtype=np.float64)
    step = 1 << 18
    for start in range(0, means.size, step):
        counts[start:start + step] = rng.poidev_array(means[start:start + step], stream)
    if mask is None:
        out.reshape(-1)[:] = counts
    else:
        out[mask] = counts
    return out


def noise_counts(image_f32: np.ndarray, device_image, xp, rng: NanoBraggRandom,
                 noise_seed: int, roi, method: str = "exact") -> np.ndarray:
    """The noise image's photon counts (float64, host, (spixels, fpixels)), 0 outside ``roi``.

    ``method`` ``exact``: nanoBragg's generator from ``rng`` seeded with the internal
    ``noise_seed``, byte-identical to nanoBragg.c, drawn from the float32 ``image_f32``;
    ``fast``: the backend's own generator (namespace ``xp``) on ``device_image``, seeded with
    ``|noise_seed|``.  ``roi``: bool (spixels, fpixels) or None (every pixel).
    """
    if method != "fast":
        return poisson_counts_exact(image_f32, rng, SeedStream(noise_seed), roi)
    counts = np.asarray(to_numpy(poisson_counts_fast(device_image, xp, abs(int(noise_seed)))),
                        dtype=np.float64)
    return counts if roi is None else np.where(roi, counts, 0.0)


def noise_image_uint16(counts: np.ndarray, adc: float, roi) -> tuple[np.ndarray, float, int]:
    """Integer noise image as nanoBragg stores it.

    Each visited pixel holds ``counts + adc``; values above 65535 are set to 65535 and
    counted as overloads; the result is converted like the C cast to ``unsigned short``
    (truncation toward zero via a 32-bit integer, i.e. negative values wrap modulo 65536
    and nan becomes 0, as on x86-64).  Pixels outside ``roi`` are 0.

    Returns ``(image_uint16, total_photons, overloads)`` where ``total_photons`` is the sum of
    ``counts`` over the visited pixels, accumulated sequentially in double precision in C
    order (the number nanoBragg prints with ``%.0f``).
    """
    from nbcupy.nanobragg.stats import _seq_sum

    c = np.asarray(to_numpy(counts), dtype=np.float64)
    everything = roi is None or bool(np.asarray(to_numpy(roi), dtype=bool).all())
    mask = None if everything else np.asarray(to_numpy(roi), dtype=bool)
    vals = c.reshape(-1) if mask is None else c[mask]
    total = _seq_sum(vals)  # sequential, like the C sum
    converted = np.empty(vals.size, dtype=np.uint16)
    overloads = 0
    step = 1 << 15  # cache-sized blocks through reused buffers
    buf = np.empty(min(step, vals.size), dtype=np.float64)
    over = np.empty(buf.size, dtype=bool)
    for start in range(0, vals.size, step):
        n = min(step, vals.size - start)
        test, hit = buf[:n], over[:n]
        np.add(vals[start:start + n], float(adc), out=test)
        np.greater(test, 65535.0, out=hit)
        overloads += int(np.count_nonzero(hit))
        np.minimum(test, 65535.0, out=test)  # NaN stays NaN
        if bool(test.min() >= 0.0):  # the usual case: truncation of values in [0, 65535]
            converted[start:start + n] = test
            continue
        with np.errstate(invalid="ignore"):
            np.trunc(test, out=test)
            ok = np.isfinite(test) & (test >= -2147483648.0) & (test <= 2147483647.0)
            if not ok.all():
                test[~ok] = -2147483648.0  # cvttsd2si's "integer indefinite"
        converted[start:start + n] = (test.astype(np.int64) & 0xFFFF).astype(np.uint16)
    if mask is None:
        return converted.reshape(c.shape), total, overloads
    out = np.zeros(c.shape, dtype=np.uint16)
    out[mask] = converted
    return out, total, overloads


def poisson_counts_fast(image, xp, seed: int):
    """Vectorised Poisson counts with the array library's own generator (not bit-exact).

    ``image`` holds mean photons per pixel; ``xp`` is its array namespace.  On NumPy (and
    ``array_api_strict``) the counts come from ``numpy.random.default_rng(seed).poisson``, on
    CuPy from ``cupy.random.default_rng(seed)``, on the GPU.  As in nanoBragg, means above 1e6
    use the Gaussian approximation ``mean + sqrt(mean) * N(0, 1)``; means <= 0 give 0 and nan
    stays nan.

    The result has the same distribution as nanoBragg's noise but different numbers; it is
    reproducible for a given seed, library and library version only.  Returns float64 counts
    in ``xp``.
    """
    mod = native_module(xp)
    lam = mod.asarray(to_numpy(image) if mod is np else image, dtype=mod.float64)
    counts = _poisson_vectorised(mod, mod.random.default_rng(seed), lam)
    if mod is not np or xp is np or getattr(xp, "__name__", "") == "numpy":
        return counts
    return xp.asarray(counts)


def _poisson_vectorised(mod, gen, lam):
    nan = mod.isnan(lam)
    big = lam > GAUSS_THRESHOLD
    small = mod.where((lam > 0) & ~big & ~nan, lam, 0.0)
    counts = gen.poisson(small).astype(mod.float64)
    if bool(big.any()):
        z = gen.standard_normal(lam.shape)
        with np.errstate(invalid="ignore"):
            approx = lam + mod.sqrt(mod.where(big, lam, 0.0)) * z
        counts = mod.where(big, approx, counts)
    if bool(nan.any()):
        counts = mod.where(nan, mod.nan, counts)
    return counts
