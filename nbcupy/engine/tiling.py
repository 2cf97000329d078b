"""How an image is cut into tiles and run: tile sizes from the memory budget, threads, order.

The rendered pixels are cut into tiles whose temporaries fit a memory budget (256 MiB by
default, all threads together); on NumPy the tiles run on a thread pool (NumPy releases the
GIL), with larger tiles when several threads share it, so that each NumPy call outlasts the
hand-over.  :func:`render` is the engine's entry point: it prepares the image once
(:func:`nbcupy.engine.context.build_context`), runs the interpolation pre-pass where it
applies, evaluates the tiles (:func:`nbcupy.engine.tiles.evaluate_tile`) and assembles the
image.  This module is the only place that decides tile sizes and threads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbcupy.backends import Backend, asarray, get_backend, to_numpy
from nbcupy.engine import order_rules
from nbcupy.engine.context import ImageContext, build_context
from nbcupy.engine.crystal_settings import needs_first_pass
from nbcupy.engine.kernels.plain import SETTINGS_CHUNK
from nbcupy.engine.tiles import evaluate_tile
from nbcupy.experiment.models import Simulation
from nbcupy.experiment.regions import active_pixels

#: Default memory budget for the engine's temporaries (MiB), all threads together.
DEFAULT_MEMORY_MB = 256.0
#: Bytes of temporaries per sample point for the per-sample geometry (fused paths).
_BYTES_PER_SAMPLE = 256
#: Largest tile (sample points) of the host kernels on one thread (their per-sample arrays
#: stay in cache) and on several (larger, so that each call outlasts a GIL hand-over).
FUSED_TILE_SAMPLES = 32768
FUSED_TILE_SAMPLES_THREADED = 131072
#: Smallest tile (sample points) of the fused paths, however small the budget: their
#: scratch memory does not depend on the tile size.
_MIN_FUSED_TILE_SAMPLES = 256
#: Tiles per worker thread the NumPy path aims for, so that threads finish together.
_TILES_PER_THREAD = 4
#: Smallest tile (sample points) cut for load balance alone.
_MIN_BALANCED_SAMPLES = 2048


@dataclass(frozen=True)
class EngineSettings:
    """How to run the engine: backend, float precision, memory budget (MiB), threads (0=auto),
    and kernel: ``auto`` (the backend's fused settings sum where it applies), ``plain`` (the
    Array-API reference everywhere), ``fused`` (like auto, but an error where no fused
    kernel applies) or a kernel by name (``c-fused``, ``numpy-fused``, ``cupy-fused``; see
    :mod:`nbcupy.engine.kernels`)."""

    backend: str = "numpy"
    dtype: str = "float64"
    memory_mb: float = DEFAULT_MEMORY_MB
    threads: int = 0
    kernel: str = "auto"


@dataclass
class RenderResult:
    """The rendered image and the by-products nanoBragg prints.

    image: float32 NumPy array (spixels, fpixels), photons per pixel.  device_image: the same
    values in the engine's precision on the backend.  omega_sum: nanoBragg's solid-angle sum
    (sr x steps).  active: (spixels, fpixels) bool, the pixels rendered.  kernel: which
    settings sum ran (``plain``, ``c-fused``, ``numpy-fused`` or ``cupy-fused``).
    """

    image: np.ndarray
    device_image: Any
    omega_sum: float
    active: np.ndarray
    backend: Backend
    kernel: str = "plain"


def default_threads() -> int:
    """Worker threads for the NumPy backend: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


def pixels_per_tile(ctx: ImageContext, n_active: int, whole_image: bool = False) -> int:
    """Pixels per tile for ``n_active`` rendered pixels, from the memory budget (and, on the
    fused paths, from the cache size and the number of threads).  With ``whole_image``
    (every pixel rendered) the fused flat-detector geometries get whole rows, whose positions
    they form by broadcasting."""
    Q, n_set = ctx.Q, ctx.n_settings
    kern = ctx.kernel
    if kern.settings_sum is None:
        if ctx.recurrence:
            return max(1, ctx.max_elements // (Q * n_set))
        width = min(n_set, SETTINGS_CHUNK)
        return max(1, ctx.max_elements // (Q * width))
    samples = max(_MIN_FUSED_TILE_SAMPLES, int(ctx.budget // _BYTES_PER_SAMPLE))
    if kern.on_host:
        samples = min(samples, FUSED_TILE_SAMPLES if ctx.threads <= 1
                      else FUSED_TILE_SAMPLES_THREADED)
    ppt = max(1, samples // Q)
    if ctx.threads > 1 and n_active > 0:
        balanced = -(-n_active // (ctx.threads * _TILES_PER_THREAD))
        ppt = min(ppt, max(balanced, _MIN_BALANCED_SAMPLES // Q, 1))
    fpixels = ctx.sim.detector.fpixels
    if whole_image and ppt > fpixels and (kern.flat_geometry is not None
                                          or kern.sub_geometry is not None):
        ppt -= ppt % fpixels
    return ppt


class Renderer:
    """Renders images of one experiment, many times: the frames of a series.

    Built once from a first simulation and the engine settings; what does not depend on the
    frame is kept between :meth:`render` calls: the backend, the worker threads, the rendered
    pixels and their tiles, the structure factors on the device, the kernels' padded grid and
    compiled code, the fused geometry's buffers.  Each call only computes the crystal
    settings of its simulation (another spindle start or crystal orientation).  A simulation
    with another detector, beam, sources, sampling or structure factors (other model objects)
    is rendered too, after preparing those again.  Use as a context manager, or call
    :meth:`close`, to stop the worker threads.
    """

    def __init__(self, sim: Simulation, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.backend = get_backend(self.settings.backend)
        threads = self.settings.threads or (default_threads() if self.backend.name == "numpy"
                                            else 1)
        self.threads = threads if self.backend.name == "numpy" else 1
        self._pool: Any = None  # a ThreadPoolExecutor, started when a render needs threads
        self._ctx: ImageContext | None = None
        self._pixels: tuple[Simulation, np.ndarray, np.ndarray | None] | None = None
        self._sim = sim

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker threads (a later :meth:`render` starts them again)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _active(self, sim: Simulation) -> tuple[np.ndarray, np.ndarray | None]:
        """(the rendered pixels, their row-major indices or None when all are rendered)."""
        cached = self._pixels
        if cached is None or not (cached[0].detector is sim.detector
                                  and cached[0].sampling is sim.sampling):
            active = active_pixels(sim.detector, sim.sampling)
            flat = None if bool(active.all()) else np.flatnonzero(active.reshape(-1))
            cached = self._pixels = (sim, active, flat)
        return cached[1], cached[2]

    def render(self, sim: Simulation | None = None,
               progress: Callable[[int, int], None] | None = None) -> RenderResult:
        """The image of ``sim`` (default: the simulation the renderer was built from).

        Pixels outside the ROI or masked are 0.  The image is returned as float32 on the host
        (what nanoBragg writes) and, in the engine's precision, on the backend: a CuPy image
        is assembled on the device and copied to the host once.  ``progress(done, total)``
        is called as pixels complete.
        """
        sim = self._sim if sim is None else sim
        settings = self.settings
        backend, threads = self.backend, self.threads
        ctx = self._ctx = build_context(sim, backend, settings.dtype, settings.memory_mb,
                                        threads, settings.kernel, previous=self._ctx)
        active, flat = self._active(sim)
        det = sim.detector
        n_pixels = det.spixels * det.fpixels
        n_active = n_pixels if flat is None else int(flat.size)
        on_device = backend.is_gpu
        xp = backend.xp
        values = (xp.zeros(n_pixels, dtype=ctx.dtype) if on_device
                  else np.zeros(n_pixels, dtype=np.dtype(settings.dtype)))
        flat_dev = None if flat is None or not on_device else asarray(backend, flat, xp.int64)
        ppt = pixels_per_tile(ctx, n_active, whole_image=flat is None)
        starts = list(range(0, n_active, ppt))

        def pixels(start: int) -> np.ndarray | range:
            """The tile starting at rank ``start``: a range of the image, or active indices."""
            stop = min(start + ppt, n_active)
            return range(start, stop) if flat is None else flat[start:stop]

        def store(start: int, vals: Any) -> None:
            stop = min(start + ppt, n_active)
            if not on_device:
                vals = to_numpy(vals)
            if flat is None:
                values[start:stop] = vals
            elif on_device:
                values[flat_dev[start:stop]] = vals
            else:
                values[flat[start:stop]] = vals

        if ctx.interpolating:
            for start in starts:
                hit = order_rules.first_out_of_range(ctx, pixels(start), start)
                if hit is not None:
                    ctx.interp_cutoff = hit
                    break
        first_pending = needs_first_pass(sim)
        omega_sum = 0.0
        sequential = threads == 1 or (first_pending and sim.sampling.dmin > 0.0)
        if sequential or len(starts) <= 1:
            for start in starts:
                vals, osum, used = evaluate_tile(ctx, pixels(start), start, first_pending)
                if used:
                    first_pending = False
                store(start, vals)
                omega_sum += osum
                if progress is not None:
                    progress(min(start + ppt, n_active), n_active)
        else:
            def job(i_start: tuple[int, int]) -> tuple[int, float]:
                i, start = i_start
                vals, osum, _ = evaluate_tile(ctx, pixels(start), start,
                                              first_pending and i == 0)
                store(start, vals)  # tiles own disjoint parts of the image
                return start, osum

            if self._pool is None:
                # imported here: small images run on one thread without it (start-up)
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=threads)
            for start, osum in self._pool.map(job, enumerate(starts)):
                omega_sum += osum
                if progress is not None:
                    progress(min(start + ppt, n_active), n_active)
        # values beyond float32 become inf in the image nanoBragg writes; the check below
        # names them, so NumPy's overflow warning would only repeat it on the terminal
        with np.errstate(over="ignore", invalid="ignore"):
            if on_device:
                device_image = xp.reshape(values, (det.spixels, det.fpixels))
                image = to_numpy(device_image).astype(np.float32)
            else:
                host_image = values.reshape(det.spixels, det.fpixels)
                # the float32 engine's host image is already what nanoBragg writes: no copy
                image = (host_image if host_image.dtype == np.float32
                         else host_image.astype(np.float32))
            # on NumPy the engine-precision image is the host array itself (no copy)
            device_image = asarray(backend, host_image, backend.dtype(settings.dtype))
        # a float64 sum of float32 values cannot overflow: it is finite iff every pixel is
        if not math.isfinite(float(np.add.reduce(image, axis=None, dtype=np.float64))):
            bad = int(np.count_nonzero(~np.isfinite(image)))
            raise FloatingPointError(f"{bad} pixels are not finite (check the geometry and "
                                     "inputs)")
        return RenderResult(image=image, device_image=device_image, omega_sum=omega_sum,
                            active=active, backend=backend, kernel=ctx.kernel.name)


def render(sim: Simulation, settings: EngineSettings | None = None,
           progress: Callable[[int, int], None] | None = None) -> RenderResult:
    """Render the float image of ``sim`` (one image: :class:`Renderer` keeps what many
    images of one experiment share).

    Pixels outside the ROI or masked are 0.  The image is returned as float32 (what nanoBragg
    writes) and on the backend in the engine's precision.  ``progress(done, total)`` is called
    as pixels complete.
    """
    with Renderer(sim, settings) as renderer:
        return renderer.render(sim, progress)
