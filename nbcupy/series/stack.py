"""Many images as one array: :func:`simulate_many` (``nbcupy.simulate_many``).

A stack of frames ``(n, spixels, fpixels)`` of one crystal in ``n`` settings (spindle start
angles, orientations, noise seeds), from models prepared once, on the chosen backend: a
NumPy array, a CuPy array that stays on the GPU (the stack is made with the backend's own
namespace), or ``array_api_strict``'s.  With ``lazy=True`` the same stack as a Dask array,
one frame per chunk, whose ``meta`` is an empty array of the backend's type, as abTEM builds
its ensembles: a blockwise map over an object array of the frames' settings, with the
prepared models one key of the graph (sent to each worker once, not once per frame).  The
frames are rendered by an :class:`nbcupy.engine.Renderer`, which keeps what they share
(threads, pixels, structure factors on the device, kernels): one for an eager stack, one per
thread that computes frames of a lazy one.

Frame i is exactly ``nbcupy.simulate(models.with_seed(seeds[i]).with_phi(phis[i])
.with_orientation(orientations[i]))``: its ``image`` (photons per pixel), or with ``noise``
its noise image's photon counts as CBF and NeXus files hold them.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbcupy.errors import InputError

__all__ = ["simulate_many"]


@dataclass(frozen=True)
class FrameSettings:
    """What changes from one frame to the next: the spindle start (degrees, as ``-phi``;
    None: the models' own), the orientation U (3x3 rotation, lab frame; None: none), the
    noise seed (as ``-seed``; None: the models' own)."""

    phi_deg: float | None
    orientation: tuple[tuple[float, ...], ...] | None
    seed: int | None

    def models(self, prepared: Any) -> Any:
        """``prepared`` with this frame's seed, spindle start and orientation."""
        p = prepared
        if self.seed is not None:
            p = p.with_seed(self.seed)
        if self.phi_deg is not None:
            p = p.with_phi(self.phi_deg)
        if self.orientation is not None:
            p = p.with_orientation(np.array(self.orientation, dtype=np.float64))
        return p


@dataclass(frozen=True)
class _Render:
    """How frames are rendered: backend name (``auto`` already decided), engine precision,
    memory budget (MiB), CPU threads, the noise (None: the noiseless image), and the token
    of the stack (its renderers are kept per thread under it)."""

    backend: str
    dtype: str
    memory_mb: float | None
    threads: int
    noise: str | None
    token: str = ""

    def renderer(self, prepared: Any) -> Any:
        """An :class:`nbcupy.engine.Renderer` of ``prepared``: what the frames share
        (threads, pixels, structure factors on the device, kernels) is kept between them."""
        from nbcupy.engine import DEFAULT_MEMORY_MB, EngineSettings, Renderer

        return Renderer(prepared.simulation, EngineSettings(
            backend=self.backend, dtype=self.dtype,
            memory_mb=self.memory_mb or DEFAULT_MEMORY_MB, threads=self.threads))


#: the renderer of the lazy stack this thread computes frames of: (token, renderer)
_LOCAL = threading.local()


def _frame_image(prepared: Any, frame: FrameSettings, how: _Render,
                 renderer: Any) -> tuple[Any, Any]:
    """One frame on the backend, and the backend."""
    from nbcupy.api import simulate
    from nbcupy.backends import asarray
    from nbcupy.experiment.regions import roi_pixels
    from nbcupy.io.counts import counts_from_noise, valid_pixels
    from nbcupy.nanobragg import noise as nz

    res = simulate(frame.models(prepared), renderer=renderer)
    backend = res.render.backend
    if how.noise is None:
        return res.image, backend
    sim = res.simulation
    counts = nz.noise_counts(res.image_f32, res.image, backend.xp, res.rng,
                             res.report.noise_seed, roi_pixels(sim.detector, sim.sampling),
                             how.noise)
    return asarray(backend, counts_from_noise(counts, valid_pixels(sim))), backend


def _render_frames(prepared: Any, frames: Sequence[FrameSettings], how: _Render,
                   renderer: Any) -> Any:
    """The stack (len(frames), spixels, fpixels) on the backend, filled frame by frame in
    an array of the backend's namespace (a CuPy stack stays on the device)."""
    out = None
    for index, frame in enumerate(frames):
        image, backend = _frame_image(prepared, frame, how, renderer)
        if out is None:
            out = backend.xp.empty((len(frames), *image.shape), dtype=image.dtype)
        out[index, ...] = image
    return out


def _render_block(block: np.ndarray, prepared: Any, how: _Render) -> Any:
    """Dask task: the frames of one chunk (an object array of :class:`FrameSettings`).

    The renderer is kept for the thread (a renderer is used by one thread at a time) while
    it computes frames of the same stack, so that frames of one worker share what they can."""
    kept = getattr(_LOCAL, "kept", None)
    if kept is None or kept[0] != how.token:
        if kept is not None:
            kept[1].close()
        kept = _LOCAL.kept = (how.token, how.renderer(prepared))
    return _render_frames(prepared, list(block.reshape(-1)), how, kept[1])


def _frame_settings(count: int | None, phis: Any, orientations: Any, seeds: Any,
                    noise: str | None) -> list[FrameSettings]:
    """Every frame's settings; InputError for lengths that disagree or values that are not
    angles, rotations or seeds."""
    lengths = {}
    if phis is not None:
        phis = np.asarray(phis, dtype=np.float64).reshape(-1)
        if not np.isfinite(phis).all():
            raise InputError("simulate_many: phis must be finite angles (degrees)")
        lengths["phis"] = len(phis)
    if orientations is not None:
        orientations = np.asarray(orientations, dtype=np.float64)
        if orientations.ndim != 3 or orientations.shape[1:] != (3, 3):
            raise InputError(f"simulate_many: orientations must have shape (n, 3, 3), got "
                             f"{orientations.shape}")
        from nbcupy.experiment.geometry import is_rotation

        if not all(is_rotation(u) for u in orientations):
            raise InputError("simulate_many: every orientation must be a rotation matrix "
                             "(orthonormal, determinant +1)")
        lengths["orientations"] = len(orientations)
    if seeds is not None:
        if noise is None:
            raise InputError("simulate_many: seeds set the noise; give noise='exact' or "
                             "'fast' (without noise the images are the noiseless ones)")
        seeds = [int(s) for s in np.asarray(seeds).reshape(-1)]
        lengths["seeds"] = len(seeds)
    if count is not None:
        lengths["count"] = int(count)
    if not lengths:
        raise InputError("simulate_many: give phis, orientations or seeds (one per frame)")
    if len(set(lengths.values())) > 1:
        raise InputError("simulate_many: one value per frame, but "
                         + ", ".join(f"{k} has {v}" for k, v in lengths.items()))
    n = next(iter(lengths.values()))
    if n < 1:
        raise InputError("simulate_many: no frames")
    return [FrameSettings(
        None if phis is None else float(phis[i]),
        None if orientations is None else tuple(tuple(float(x) for x in row)
                                                 for row in orientations[i]),
        None if seeds is None else seeds[i]) for i in range(n)]


def _default_seeds(prepared: Any, count: int) -> list[int]:
    """Seed ``s + i`` for frame i, where ``s`` is the models' ``-seed``, as a series does."""
    first = -int(prepared.report.noise_seed)
    return [first + i for i in range(count)]


def simulate_many(models: Any, *, phis: Sequence[float] | None = None,
                  orientations: Any = None, seeds: Sequence[int] | None = None,
                  count: int | None = None, noise: str | None = None,
                  backend: str = "numpy", dtype: str = "float64",
                  memory_mb: float | None = None, threads: int = 0,
                  lazy: bool = False) -> Any:
    """Simulate ``n`` frames of one experiment and return them as one stack.

    ``models``: the :class:`nbcupy.Prepared` models of :func:`nbcupy.prepare` (or nanoBragg
    flags / an :class:`nbcupy.Options`, prepared here once).  One value per frame, ``n``
    being their common length:

    * ``phis``: the spindle's start angle of each frame, in degrees, as ``-phi`` gives it
      (every frame keeps the models' ``-osc`` range and ``-phisteps``);
    * ``orientations``: (n, 3, 3) rotation matrices (lab frame) turning the crystal after its
      misset and before the spindle, as :meth:`nbcupy.Prepared.with_orientation`;
    * ``seeds``: the noise seed of each frame (as ``-seed``), with ``noise`` only (default
      with ``noise``: the models' seed + i, as ``nbcupy series`` numbers them);
    * ``count``: the number of frames, when nothing else changes (noise images of one
      setting, each with its own seed).

    ``noise``: None (default) for the noiseless images, photons per pixel in the engine's
    precision (``dtype``: ``float64`` or ``float32``), each equal to
    ``nbcupy.simulate(frame models).image``; ``"exact"`` (nanoBragg's generator) or
    ``"fast"`` (the backend's) for noise images as a counting detector records them: int32
    photon counts, the noise image without ``-adc``, -1 where nothing was simulated (what
    ``--cbf`` and ``--nexus`` files hold).  ``backend`` (``numpy``, ``cupy``, ``auto``,
    ``strict``), ``memory_mb`` (the engine's budget per frame, MiB) and ``threads`` (CPU
    threads per frame, 0 = all cores): as for :func:`nbcupy.simulate`.

    Returns an array of shape (n, spixels, fpixels) of the backend's type (``numpy.ndarray``,
    ``cupy.ndarray``, ...), slow index before fast.  With ``lazy=True``: a
    ``dask.array.Array`` of the same shape and dtype, one frame per chunk, with ``meta`` an
    empty array of the backend's type; frames are rendered when it is computed, on whatever
    Dask scheduler is in use (a ``distributed.Client`` makes them on its workers; the
    prepared models are one key of the graph, sent to each worker once).  With several
    Dask threads per worker, give ``threads`` so that their frames share the cores.

    Bad input raises :class:`nbcupy.errors.InputError` with a one-line message.
    """
    from nbcupy.api import Prepared, prepare
    from nbcupy.backends import get_backend

    prepared = models if isinstance(models, Prepared) else prepare(models)
    if noise not in (None, "exact", "fast"):
        raise InputError(f"simulate_many: noise must be None, 'exact' or 'fast', got {noise!r}")
    if dtype not in ("float64", "float32"):
        raise InputError(f"simulate_many: dtype must be 'float64' or 'float32', got {dtype!r}")
    if memory_mb is not None and not (0 < memory_mb < math.inf):
        raise InputError(f"simulate_many: memory_mb must be a positive number, got "
                         f"{memory_mb!r}")
    if threads < 0:
        raise InputError(f"simulate_many: threads must be >= 0, got {threads!r}")
    frames = _frame_settings(count, phis, orientations, seeds, noise)
    if noise is not None and seeds is None:
        defaults = _default_seeds(prepared, len(frames))
        frames = [FrameSettings(f.phi_deg, f.orientation, s)
                  for f, s in zip(frames, defaults, strict=True)]
    try:
        chosen = get_backend(backend)
    except (RuntimeError, ValueError) as exc:
        raise InputError(str(exc)) from None
    how = _Render(chosen.name, dtype, memory_mb, threads, noise, uuid.uuid4().hex)
    if lazy:
        return _lazy_stack(prepared, frames, how, chosen)
    with how.renderer(prepared) as renderer:
        return _render_frames(prepared, frames, how, renderer)


def _lazy_stack(prepared: Any, frames: list[FrameSettings], how: _Render, chosen: Any) -> Any:
    """The Dask array of :func:`simulate_many` (``lazy=True``)."""
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise InputError("simulate_many(lazy=True) needs Dask: pip install 'nbcupy[cluster]'"
                         ) from None
    if chosen.name not in ("numpy", "cupy"):
        raise InputError(f"simulate_many(lazy=True): Dask arrays hold NumPy or CuPy chunks, "
                         f"not {chosen.name}'s")
    det = prepared.simulation.detector
    xp = chosen.xp
    dtype = np.dtype(np.int32 if how.noise is not None else how.dtype)
    meta = xp.empty((0, 0, 0), dtype=getattr(xp, dtype.name))
    settings = np.empty(len(frames), dtype=object)
    for index, frame in enumerate(frames):
        settings[index] = frame
    token = how.token
    shipped = dask.delayed(prepared, name=f"nbcupy-models-{token}", traverse=False)
    return da.blockwise(_render_block, "ijk", da.from_array(settings, chunks=1), "i",
                        shipped, None, how, None,
                        new_axes={"j": det.spixels, "k": det.fpixels}, dtype=dtype,
                        meta=meta, concatenate=True, name=f"nbcupy-frames-{token}")
