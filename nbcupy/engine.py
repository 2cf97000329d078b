"""The image engine: nanoBragg's sums as array operations, tiled in bounded memory.

The detector's rendered pixels are cut into tiles; for a tile of P pixels the engine builds
every sample point (Q = sensor layers x oversample^2 per pixel) once, with its unit
diffracted direction d, and then sums over all crystal settings
(S = sources x phi steps x mosaic domains), whose matrices are computed once per image:

    hkl[n, s] = A[s] . d[n] + offset[s]
    I[p]      = I_bg + sum_{q,s} F(hkl)^2 F_latt(hkl)^2

then applies r_e^2 fluence / steps and the solid-angle, polarization and absorption factors,
which are evaluated once per pixel (or per sample point where nanoBragg oversamples them).

The settings sum is the hot loop.  Its plain Array-API form
(:func:`nbcupy.kernels.settings_sum_plain`) runs on every backend and is the reference; on
NumPy a fused, cache-blocked variant (:mod:`nbcupy.kernels_numpy`, bit-identical) and on CuPy
a fused CUDA kernel (:mod:`nbcupy.kernels_cupy`) replace it where nanoBragg's
order-dependent rules allow (and on NumPy, for one sample per pixel on a flat detector, a
fused, bit-identical variant of the geometry too).  NumPy tiles run on a thread pool (NumPy
releases the GIL); with several threads the tiles and blocks are larger, so that each NumPy
call outlasts the hand-over of the GIL.
This module is the only place that decides array layout, tiling and threads; the formulas
live in :mod:`nbcupy.physics`, :mod:`nbcupy.structure_factors` and :mod:`nbcupy.kernels`.

nanoBragg's order-dependent rules are reproduced: per-pixel factors from the first sub-pixel,
the running-sum rule of ``-oversample_omega/_polar/_thick``, the phi = 0 step that reuses the
previous rotation, and interpolation switching off at the first out-of-range index.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbcupy import kernels, physics
from nbcupy.backends import Backend, asarray, get_backend, to_numpy
from nbcupy.geometry import rotation_about_axis
from nbcupy.kernel_choice import KERNEL_CHOICES, choose_fused_kernel
from nbcupy.kernels import DeviceTerms, LatticeTerms
from nbcupy.models import Simulation
from nbcupy.structure_factors import (
    GridIndex,
    interpolation_out_of_range,
    nearest_amplitude,
    tricubic_amplitude,
)

#: Default memory budget for the engine's temporaries (MiB), all threads together.
DEFAULT_MEMORY_MB = 256.0
#: Bytes of temporaries per (sample x setting) element on the plain path.
_BYTES_PER_ELEMENT = 96
#: Bytes of temporaries per sample point for the per-sample geometry (fused paths).
_BYTES_PER_SAMPLE = 256
#: Largest tile (sample points) of the fused NumPy path on one thread (its per-sample arrays
#: stay in cache) and on several (larger, so that each NumPy call outlasts a GIL hand-over).
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
    :mod:`nbcupy.kernel_choice`)."""

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


# ----------------------------------------------------------------------------------------
# crystal settings (host)


def _phi_rotations(sim: Simulation, first_pass: bool) -> list[np.ndarray]:
    """Rotation used at every phi step.

    nanoBragg rotates the crystal only when phi != 0; a phi = 0 step reuses the rotation left
    from the previous non-zero step (in the previous pass over phi, for the first step), or
    the unrotated crystal if there was none (``first_pass``: the very first evaluation).
    """
    phis = sim.scan.phi_values
    axis = sim.scan.spindle_axis
    mats = [rotation_about_axis(axis, float(p)) if p != 0 else None for p in phis]
    if sim.corrected:
        return [m if m is not None else np.eye(3) for m in mats]
    nonzero = [i for i, m in enumerate(mats) if m is not None]
    out = []
    for j, m in enumerate(mats):
        if m is not None:
            out.append(m)
            continue
        earlier = [i for i in nonzero if i < j]
        if earlier:
            out.append(mats[earlier[-1]])
        elif nonzero and not first_pass:
            out.append(mats[nonzero[-1]])
        else:
            out.append(np.eye(3))
    return out


def crystal_settings(sim: Simulation, first_pass: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Matrices that turn a diffracted unit vector into fractional Miller indices.

    Returns ``A`` (S, 3, 3) and ``offset`` (S, 3) with hkl = A @ d + offset for every setting
    s = (source, phi step, mosaic domain) in nanoBragg's loop order.  A = M / lambda where the
    rows of M are the rotated real-space axes (m); offset = A @ source_direction.
    """
    cell = sim.crystal.cell
    rots = _phi_rotations(sim, first_pass)
    umats = sim.mosaic.umats
    apply_mosaic = sim.mosaic.spread > 0.0
    per_step = []
    for rot in rots:
        m_phi = cell @ rot.T
        for u in umats:
            per_step.append(m_phi @ u.T if apply_mosaic else m_phi)
    m_steps = np.stack(per_step)  # (phi*mos, 3, 3)
    lam = sim.sources.wavelengths
    a = m_steps[None, :, :, :] / lam[:, None, None, None]  # (src, phi*mos, 3, 3)
    offset = np.einsum("spij,sj->spi", a, sim.sources.directions)
    return a.reshape(-1, 3, 3), offset.reshape(-1, 3)


def needs_first_pass(sim: Simulation) -> bool:
    """True when the phi = 0 rule makes the first evaluation differ from the others."""
    if sim.corrected:
        return False
    phis = sim.scan.phi_values
    return bool(np.any(phis == 0) and np.any(phis != 0))


def lattice_terms(sim: Simulation, a: np.ndarray, offset: np.ndarray) -> LatticeTerms:
    """The settings sum's inputs (:class:`nbcupy.kernels.LatticeTerms`) for settings
    ``a`` (S, 3, 3) and ``offset`` (S, 3) of :func:`crystal_settings`."""
    cr = sim.crystal
    sf = sim.structure_factors
    grid = None
    index = None
    if sf.grid is not None and sf.hkls > 0:
        grid = np.asarray(sf.grid, dtype=np.float64)
        index = GridIndex(sf.h_min, sf.h_max, sf.k_min, sf.k_max, sf.l_min, sf.l_max,
                          tuple(sf.grid.shape))
    recip = tuple(tuple(float(x) for x in row) for row in cr.reciprocal)
    return LatticeTerms(coef=np.ascontiguousarray(np.transpose(a, (1, 2, 0))),
                        offset=np.ascontiguousarray(offset.T), shape=cr.shape,
                        n_cells=tuple(float(n) for n in cr.n_cells), fudge=float(cr.fudge),
                        recip=recip, default_F=float(sf.default_F), grid=grid,
                        grid_index=index)


def fused_kernel_applies(sim: Simulation) -> bool:
    """Whether a fused settings sum may replace the plain one: not with the running sums of
    ``-oversample_omega/_polar/_thick``, ``-dmin`` culling or tricubic interpolation, whose
    results depend on the order of evaluation."""
    samp = sim.sampling
    sf = sim.structure_factors
    if samp.oversample_omega or samp.oversample_polar or samp.oversample_thick:
        return False
    if samp.dmin > 0.0:
        return False
    return not (sf.interpolate and sf.grid is not None and sf.hkls > 0)


# ----------------------------------------------------------------------------------------
# the tile kernel


class _Engine:
    """Evaluates tiles of pixels for one simulation on one backend."""

    def __init__(self, sim: Simulation, backend: Backend, dtype: str, memory_mb: float,
                 threads: int, kernel: str = "auto") -> None:
        if kernel not in KERNEL_CHOICES:
            raise ValueError(f"unknown kernel {kernel!r}; choose one of "
                             f"{', '.join(KERNEL_CHOICES)}")
        if not (0.0 < memory_mb < math.inf):
            raise ValueError(f"memory budget must be a positive number of MiB, got {memory_mb}")
        self.sim = sim
        self.backend = backend
        xp = backend.xp
        self.xp = xp
        self.dtype = backend.dtype(dtype)
        self.threads = threads
        det = sim.detector
        samp = sim.sampling
        self.O = samp.oversample
        self.T = det.thicksteps
        self.Q = self.T * self.O * self.O
        dt = self.dtype

        def conv(value: Any, d: Any) -> Any:
            return asarray(backend, value, d)

        a, off = crystal_settings(sim)
        self.terms = lattice_terms(sim, a, off)
        self.dev = kernels.to_device(self.terms, xp, dt, conv)
        self.dev_first: DeviceTerms | None = None
        if needs_first_pass(sim):
            self.dev_first = kernels.to_device(
                lattice_terms(sim, *crystal_settings(sim, first_pass=True)), xp, dt, conv)
        self.grid = self.terms.grid_index
        self.n_settings = self.terms.n_settings
        self.n_sources = sim.sources.count
        self.per_source = self.n_settings // self.n_sources
        self.incident = conv(-sim.sources.directions, dt)
        self.wavelengths = conv(sim.sources.wavelengths, dt)
        self.recurrence = samp.oversample_omega or samp.oversample_polar or samp.oversample_thick
        self.i_bg = physics.water_background(samp.water_size, sim.beam.fluence, sim.corrected)
        if sim.corrected:  # added once per pixel, not once per step
            self.i_bg *= sim.steps
        self.scale = physics.R_E_SQR * sim.beam.fluence / sim.steps
        self.interp_cutoff: int | None = None  # global order index where interpolation stops

        # the settings sum: fused where it applies (one selection function decides)
        choice = choose_fused_kernel(sim, self.terms, backend.name, dtype, threads, kernel)
        self.fused: Callable[[Any, Any, Any], Any] | None = None
        self.flat_geometry: Callable[[Any, Any], tuple] | None = None
        self.sub_geometry: Any = None  # kernels_numpy.NumpyOversampledGeometry or None
        self.kernel = "plain"
        self.host_fused = False  # the fused sum returns a NumPy array the engine owns
        if choice is not None:
            self.fused, self.kernel, self.host_fused = (choice.settings_sum, choice.name,
                                                        choice.on_host)
            self.flat_geometry, self.sub_geometry = choice.flat_geometry, choice.sub_geometry

        # memory: the budget is shared by the worker threads
        self.budget = memory_mb * 2**20 / max(1, threads)
        self.max_elements = max(int(self.budget / _BYTES_PER_ELEMENT), 4096)

    # -- tiles ----------------------------------------------------------------------------
    def pixels_per_tile(self, n_active: int, whole_image: bool = False) -> int:
        """Pixels per tile for ``n_active`` rendered pixels, from the memory budget (and,
        on the fused paths, from the cache size and the number of threads).  With
        ``whole_image`` (every pixel rendered) the fused flat-detector geometries get whole
        rows, whose positions they form by broadcasting."""
        ppt = self._pixels_per_tile(n_active)
        fpixels = self.sim.detector.fpixels
        if whole_image and ppt > fpixels and (self.flat_geometry is not None
                                              or self.sub_geometry is not None):
            ppt -= ppt % fpixels
        return ppt

    def _pixels_per_tile(self, n_active: int) -> int:
        Q, n_set = self.Q, self.n_settings
        if self.fused is None:
            if self.recurrence:
                return max(1, self.max_elements // (Q * n_set))
            width = min(n_set, kernels.SETTINGS_CHUNK)
            return max(1, self.max_elements // (Q * width))
        samples = max(_MIN_FUSED_TILE_SAMPLES, int(self.budget // _BYTES_PER_SAMPLE))
        if self.host_fused:
            samples = min(samples, FUSED_TILE_SAMPLES if self.threads <= 1
                          else FUSED_TILE_SAMPLES_THREADED)
        ppt = max(1, samples // Q)
        if self.threads > 1 and n_active > 0:
            balanced = -(-n_active // (self.threads * _TILES_PER_THREAD))
            ppt = min(ppt, max(balanced, _MIN_BALANCED_SAMPLES // Q, 1))
        return ppt

    # -- geometry of a tile -------------------------------------------------------------
    def _sample_geometry(self, fidx: Any, sidx: Any) -> tuple[list[Any], Any]:
        """Unit diffracted vectors as three (Q, P) component arrays, and air paths (Q, P).

        Sample q = (layer * O + sub-pixel row) * O + sub-pixel column, nanoBragg's loop
        order; the pixels run along the last, contiguous axis."""
        xp, dt = self.xp, self.dtype
        det = self.sim.detector
        O, T = self.O, self.T
        P = fidx.shape[0]
        sub = det.pixel_size / O
        j = xp.astype(xp.arange(O), dt)
        f = xp.reshape(fidx, (1, 1, 1, P))
        s = xp.reshape(sidx, (1, 1, 1, P))
        if O == 1:  # f * 1 + 0 is f
            fdet_pos = sub * f + sub / 2.0
            sdet_pos = sub * s + sub / 2.0
        else:
            fdet_pos = sub * (f * O + xp.reshape(j, (1, 1, O, 1))) + sub / 2.0
            sdet_pos = sub * (s * O + xp.reshape(j, (1, O, 1, 1))) + sub / 2.0
        odet_pos = None
        if T > 1:  # layer 0 adds exactly zero
            odet_pos = xp.reshape(xp.astype(xp.arange(T), dt), (T, 1, 1, 1)) * det.thickstep
        comps = []
        for c in range(3):
            v = fdet_pos * float(det.fdet[c]) + sdet_pos * float(det.sdet[c])
            if odet_pos is not None:
                v = v + odet_pos * float(det.odet[c])
            comps.append(v + float(det.pix0[c]))
        shape4 = (T, O, O, P)
        comps = [xp.reshape(xp.broadcast_to(c, shape4), (self.Q, P)) for c in comps]
        if det.curved:
            comps = self._curve(comps)
        x, y, z = comps
        air = xp.sqrt(x * x + y * y + z * z)
        return [x / air, y / air, z / air], air

    def _curve(self, comps: list[Any]) -> list[Any]:
        """nanoBragg's spherical detector: the flat position's y and z components, divided by
        the distance, become rotations of the beam-axis point about sdet then fdet."""
        det = self.sim.detector
        dist = det.distance
        beam = self.sim.beam.direction
        ang1 = comps[1] / dist
        ang2 = comps[2] / dist
        v = [dist * float(beam[0]) + 0 * ang1, dist * float(beam[1]) + 0 * ang1,
             dist * float(beam[2]) + 0 * ang1]
        v = _rotate_components(self.xp, v, det.sdet, ang1)
        return _rotate_components(self.xp, v, det.fdet, ang2)

    def _parallax(self, comps: list[Any]) -> Any:
        """Cosine of each ray with the detector normal, (P, Q)."""
        odet = self.sim.detector.odet
        return comps[0] * float(odet[0]) + comps[1] * float(odet[1]) + comps[2] * float(odet[2])

    # -- terms ----------------------------------------------------------------------------
    def _terms(self, h: Any, k: Any, l: Any, order0: int | None = None,
               row_stride: int = 0, with_lattice: bool = False,
               dev: DeviceTerms | None = None) -> Any:
        """F^2 F_latt^2 for fractional indices (N, S); with ``with_lattice`` also F_latt^2.
        Interpolates where nanoBragg would (plain path only)."""
        xp = self.xp
        dev = dev or self.dev
        sim = self.sim
        cr = sim.crystal
        sf = sim.structure_factors
        h0, k0, l0 = physics.nearest_index(h), physics.nearest_index(k), physics.nearest_index(l)
        flatt2 = physics.lattice_factor_squared(cr.shape, (h - h0, k - k0, l - l0),
                                                (0.0, 0.0, 0.0), self.terms.n_cells,
                                                self.terms.fudge, self.terms.recip)
        if self.grid is None:
            t = flatt2 * (sf.default_F * sf.default_F)
            return (t, flatt2) if with_lattice else t
        near = nearest_amplitude(dev.flat_grid, self.grid, sf.default_F, h0, k0, l0)
        if sf.interpolate and (self.interp_cutoff is None or order0 is not None):
            use_interp = self._interp_mask(h, k, l, order0, row_stride)
            if use_interp is not None:
                tri = tricubic_amplitude(dev.flat_grid, self.grid, h, k, l)
                near = xp.where(use_interp, tri, near)
        t = flatt2 * (near * near)
        return (t, flatt2) if with_lattice else t

    def _interp_mask(self, h: Any, k: Any, l: Any, order0: int | None, row_stride: int) -> Any:
        """Where to interpolate: every element before the global first out-of-range one."""
        xp = self.xp
        if self.interp_cutoff is None:
            return xp.ones(h.shape, dtype=xp.bool)
        if order0 is None:
            return None
        n, s = h.shape
        rows = xp.reshape(xp.astype(xp.arange(n), xp.int64), (n, 1))
        cols = xp.reshape(xp.astype(xp.arange(s), xp.int64), (1, s))
        order = order0 + rows * row_stride + cols
        return order < self.interp_cutoff

    def _settings_sum(self, dflat: list[Any], culled: Any, P: int,
                      order0: int | None) -> Any:
        """acc (P*Q,): sum over all settings of F^2 F_latt^2 for every sample point."""
        if self.fused is not None:
            return self.fused(*dflat)
        interpolating = self.grid is not None and self.sim.structure_factors.interpolate
        if culled is None and not interpolating:
            return kernels.settings_sum_plain(self.dev, *dflat)
        # the general loop: interpolation cut-off and -dmin culling
        xp = self.xp
        n_set, n_src, per_src = self.n_settings, self.n_sources, self.per_source
        keep = None if culled is None else xp.reshape(~culled, (P * self.Q, n_src))
        acc = xp.zeros(dflat[0].shape, dtype=self.dtype)
        for start, stop in self.terms.chunks():
            h, k, l = kernels.miller_indices(self.dev, *dflat, start, stop)
            t = self._terms(h, k, l, None if order0 is None else order0 + start, n_set)
            if keep is not None:
                src_of = np.arange(start, stop) // per_src
                keep_c = xp.take(keep, asarray(self.backend, src_of.astype(np.int64)), axis=1)
                t = xp.where(keep_c, t, xp.zeros_like(t))
            acc = acc + xp.sum(t, axis=1)
        return acc

    # -- per-pixel factors ----------------------------------------------------------------
    def _polarization(self, d: Any) -> Any:
        """Polarization factor for (P, Q, src) from directions d (P, Q, 3)."""
        beam = self.sim.beam
        axis = self.xp.reshape(asarray(self.backend, beam.polarization_axis, self.dtype),
                               (1, 1, 3))
        inc = self.xp.reshape(self.incident, (1, 1, -1, 3))
        return physics.polarization_factor(beam.kahn_factor, inc, d[:, :, None, :], axis)

    def _pixel_coordinates(self, flat_pixels: np.ndarray | range) -> tuple[Any, Any, int]:
        """Fast and slow pixel indices (as floats on the backend) of row-major indices, given
        as a range (made on the backend itself) or an index array (sent from the host), and
        their count."""
        xp, dt = self.xp, self.dtype
        fpixels = self.sim.detector.fpixels
        if isinstance(flat_pixels, range):
            # exact: the indices are integers far below 2**53 and floor(i / F) is exact
            idx = xp.arange(flat_pixels.start, flat_pixels.stop, dtype=xp.float64)
            slow = xp.floor(idx / fpixels)
            fast = idx - slow * fpixels
            return xp.astype(fast, dt), xp.astype(slow, dt), len(flat_pixels)
        slow_i = flat_pixels // fpixels
        fast_i = flat_pixels - slow_i * fpixels
        return (asarray(self.backend, fast_i.astype(np.float64), dt),
                asarray(self.backend, slow_i.astype(np.float64), dt), int(flat_pixels.shape[0]))

    def tile(self, flat_pixels: np.ndarray | range, tile_start_rank: int,
             first_pass: bool) -> tuple[np.ndarray, float, bool]:
        """Render the pixels ``flat_pixels`` (row-major indices, an array or a range);
        returns their values (host array in the engine's precision), their solid-angle sum
        and whether the first-pass rule was used."""
        fpixels = self.sim.detector.fpixels
        rows = None  # (first row, rows) when the tile is whole rows of the image
        if (isinstance(flat_pixels, range) and flat_pixels.start % fpixels == 0
                and len(flat_pixels) % fpixels == 0):
            rows = (flat_pixels.start // fpixels, len(flat_pixels) // fpixels, fpixels)
        if self.flat_geometry is not None:
            P = len(flat_pixels)
            if rows is not None:  # positions by broadcasting
                flat = self.flat_geometry.rows(*rows)
            else:
                flat = self.flat_geometry(*self._pixel_coordinates(flat_pixels)[:2])
            return self._tile_fast(None, None, P, first_pass, flat)
        if self.sub_geometry is not None and rows is not None:
            P = len(flat_pixels)
            comps, air = self.sub_geometry.rows(*rows)
        else:
            fp, sp, P = self._pixel_coordinates(flat_pixels)
            comps, air = self._sample_geometry(fp, sp)
        samp = self.sim.sampling
        interpolating = self.grid is not None and self.sim.structure_factors.interpolate
        if self.recurrence or samp.dmin > 0.0 or interpolating:
            # nanoBragg's order-dependent rules: pixel-major (P, Q) layout, loop order
            xp = self.xp
            comps = [xp.permute_dims(c, (1, 0)) for c in comps]
            return self._tile_general(comps, xp.permute_dims(air, (1, 0)), P,
                                      tile_start_rank, first_pass)
        return self._tile_fast(comps, air, P, first_pass)

    def _tile_fast(self, comps: list[Any] | None, air: Any, P: int, first_pass: bool,
                   flat: tuple | None = None) -> tuple[np.ndarray, float, bool]:
        """A tile without order-dependent rules: per-pixel factors from the first sub-pixel
        (absorption from the last layer's), one settings sum per sample point.  ``comps``
        and ``air`` are (Q, P); or ``flat`` holds what :class:`NumpyFlatGeometry` computed
        (directions, air paths, solid angles and polarization factors of single samples)."""
        xp, dt = self.xp, self.dtype
        sim = self.sim
        det, beam = sim.detector, sim.beam
        Q, T, O = self.Q, self.T, self.O
        if flat is not None:
            x, y, z, air, omega, polar_first = flat
            comps = [xp.reshape(c, (1, P)) for c in (x, y, z)]
        else:
            omega = physics.solid_angle(det.pixel_size, air[0, :], det.close_distance,
                                        det.point_pixel)
        capture_last = None
        if det.thickness > 0.0:
            row = (T - 1) * O * O
            odet = det.odet
            parallax = (comps[0][row, :] * float(odet[0]) + comps[1][row, :] * float(odet[1])
                        + comps[2][row, :] * float(odet[2]))
            layer = xp.reshape(xp.astype(xp.arange(T - 1, T), dt), (1,))
            capture_last = physics.capture_fraction(layer, det.thickstep, det.mu, parallax)
        if flat is not None:
            pass
        elif beam.polarization_enabled:
            polar_first = physics.polarization_factor_components(
                beam.kahn_factor, -sim.sources.directions[0],
                (comps[0][0, :], comps[1][0, :], comps[2][0, :]), beam.polarization_axis)
        else:
            polar_first = None
        dflat = [xp.reshape(c, (Q * P,)) for c in comps]
        acc = self._settings_sum(dflat, None, P, None)
        used_first = False
        if first_pass:  # the first evaluation is sample 0 of pixel 0, flat index 0 here too
            acc, used_first = self._first_pass_plain(acc, dflat, None, P, None)
        if Q > 1:
            acc = xp.sum(xp.reshape(acc, (Q, P)), axis=0)
        if self.host_fused:
            # acc is this tile's own array: the same products, in place
            if self.i_bg != 0.0:  # acc >= +0, so adding zero would change nothing
                np.add(acc, self.i_bg, out=acc)
            np.multiply(acc, self.scale, out=acc)
            for factor in (capture_last, polar_first, omega):
                if factor is not None:
                    np.multiply(acc, factor, out=acc)
            return acc, float(np.add.reduce(omega)) * Q, used_first
        value = (acc + self.i_bg) * self.scale
        if capture_last is not None:
            value = value * capture_last
        if polar_first is not None:
            value = value * polar_first
        value = value * omega
        return to_numpy(value), float(xp.sum(omega)) * Q, used_first

    def _tile_general(self, comps: list[Any], air: Any, P: int, tile_start_rank: int,
                      first_pass: bool) -> tuple[np.ndarray, float, bool]:
        """A tile with nanoBragg's order-dependent rules (running sums, -dmin culling,
        interpolation cut-off).  ``comps`` and ``air`` are (P, Q), in loop order."""
        xp, dt = self.xp, self.dtype
        sim = self.sim
        det, samp, beam = sim.detector, sim.sampling, sim.beam
        Q, T, O = self.Q, self.T, self.O
        if samp.oversample_omega:
            omega = physics.solid_angle(det.pixel_size, air, det.close_distance, det.point_pixel)
        else:  # nanoBragg keeps the first sub-pixel's solid angle
            omega = physics.solid_angle(det.pixel_size, air[:, 0], det.close_distance,
                                        det.point_pixel)
        n_src, per_src, n_set = self.n_sources, self.per_source, self.n_settings

        # dmin culling per (pixel, sample, source)
        need_polar_all = samp.oversample_polar or samp.dmin > 0.0
        d = xp.stack(comps, axis=-1) if need_polar_all else None  # (P, Q, 3)
        culled = None
        if samp.dmin > 0.0:
            inc = xp.reshape(self.incident, (1, 1, n_src, 3))
            lam = xp.reshape(self.wavelengths, (1, 1, n_src))
            sv = (d[:, :, None, :] - inc) / lam[..., None]
            stol = 0.5 * xp.sqrt(xp.sum(sv * sv, axis=-1))
            safe = xp.where(stol > 0, stol, xp.ones_like(stol))
            culled = (stol > 0) & (samp.dmin > 0.5 / safe)

        # capture fraction: per sample with -oversample_thick, else the last layer's first
        # sub-pixel (nanoBragg keeps the value of its last evaluation)
        capture = capture_last = None
        if det.thickness > 0.0:
            parallax = self._parallax(comps)
            if samp.oversample_thick:
                layer = xp.reshape(xp.astype(xp.arange(T), dt), (1, T, 1))
                capture = xp.reshape(physics.capture_fraction(
                    layer, det.thickstep, det.mu, xp.reshape(parallax, (P, T, O * O))), (P, Q))
            else:
                layer = xp.reshape(xp.astype(xp.arange(T - 1, T), dt), (1,))
                capture_last = physics.capture_fraction(layer, det.thickstep, det.mu,
                                                        parallax[:, (T - 1) * O * O])
        elif samp.oversample_thick:
            capture = xp.ones((P, Q), dtype=dt)

        # polarization
        polar_all = self._polarization(d) if need_polar_all else None  # (P, Q, src)
        if not beam.polarization_enabled and not samp.oversample_polar:
            polar_first = xp.ones((P,), dtype=dt)  # stays 1 even when the pixel is culled
        elif culled is None:
            if polar_all is not None:
                polar_first = polar_all[:, 0, 0]
            else:
                polar_first = physics.polarization_factor_components(
                    beam.kahn_factor, -sim.sources.directions[0],
                    (comps[0][:, 0], comps[1][:, 0], comps[2][:, 0]), beam.polarization_axis)
        else:
            keep = xp.reshape(~culled, (P, Q * n_src))
            anykeep = xp.any(keep, axis=1)
            first_idx = xp.argmax(xp.astype(keep, xp.int8), axis=1)
            flat_polar = xp.reshape(polar_all, (P, Q * n_src))
            picked = xp.take_along_axis(flat_polar, xp.reshape(first_idx, (P, 1)), axis=1)[:, 0]
            if beam.polarization_enabled:
                polar_first = xp.where(anykeep, picked, xp.zeros_like(picked))
            else:
                polar_first = xp.ones_like(picked)

        dflat = [xp.reshape(c, (P * Q,)) for c in comps]
        order0 = tile_start_rank * Q * n_set if self.grid is not None else None

        if not self.recurrence:
            acc = self._settings_sum(dflat, culled, P, order0)
            used_first = False
            if first_pass:
                acc, used_first = self._first_pass_plain(acc, dflat, culled, P, order0)
            if Q > 1:
                acc = xp.sum(xp.reshape(acc, (P, Q)), axis=1)
            intensity = acc + self.i_bg
        else:
            h, k, l = kernels.miller_indices(self.dev, *dflat, 0, n_set)
            t, flatt2 = self._terms(h, k, l, order0, n_set, with_lattice=True)  # (P*Q, S)
            used_first = False
            if first_pass:
                t, used_first = self._first_pass_replace(t, dflat, culled, P, order0)
            g = xp.ones((P, Q, n_src), dtype=dt)
            if samp.oversample_thick:
                g = g * capture[:, :, None]
            if samp.oversample_polar:
                g = g * polar_all
            if samp.oversample_omega:
                g = g * omega[:, :, None]
            g = xp.reshape(xp.broadcast_to(g[:, :, :, None], (P, Q, n_src, per_src)),
                           (P * Q, n_set))
            skip = None
            if culled is not None:
                skip = xp.reshape(xp.broadcast_to(culled[:, :, :, None], (P, Q, n_src, per_src)),
                                  (P * Q, n_set))
                t = xp.where(skip, xp.zeros_like(t), t)
            if samp.water_size == 0.0:
                # nanoBragg skips a step whose lattice factor is exactly zero
                zero_latt = flatt2 == 0
                skip = zero_latt if skip is None else (skip | zero_latt)
            if skip is not None:
                g = xp.where(skip, xp.ones_like(g), g)
            t = xp.reshape(t, (P, Q * n_set))
            g = xp.reshape(g, (P, Q * n_set))
            if sim.corrected:
                # each step's term gets its own factors (nanoBragg multiplies the running
                # sum, so earlier steps and the background get every later factor too)
                intensity = self.i_bg * g[:, 0] + xp.sum(t * g, axis=1)
            else:
                rev = xp.flip(xp.cumulative_prod(xp.flip(g, axis=1), axis=1), axis=1)
                intensity = self.i_bg * rev[:, 0] + xp.sum(t * rev, axis=1)

        value = intensity * self.scale
        if not samp.oversample_thick:
            if capture_last is not None:
                value = value * capture_last
        if not samp.oversample_polar:
            value = value * polar_first
        if not samp.oversample_omega:
            value = value * omega
            osum = float(xp.sum(omega)) * Q
        else:
            osum = float(xp.sum(omega))
        return to_numpy(value), osum, used_first

    # -- the phi = 0 first-pass rule -------------------------------------------------------
    def _first_element(self, culled: Any, P: int) -> tuple[int, int] | None:
        """(sample row n, source) of the first evaluation in the tile, or None."""
        n_src = self.n_sources
        if culled is None:
            return 0, 0
        keep = to_numpy(~culled).reshape(P * self.Q, n_src)
        hits = np.flatnonzero(keep.reshape(-1))
        if hits.size == 0:
            return None
        first = int(hits[0])
        return first // n_src, first % n_src

    def _first_terms(self, row: list[Any], n: int, src: int, order0: int | None) -> Any:
        per = self.per_source
        assert self.dev_first is not None
        h, k, l = kernels.miller_indices(self.dev_first, *row, src * per, (src + 1) * per)
        o = None if order0 is None else order0 + n * self.n_settings + src * per
        return self._terms(h, k, l, o, self.n_settings, dev=self.dev_first)  # (1, per)

    def _first_pass_plain(self, acc: Any, dflat: list[Any], culled: Any, P: int,
                          order0: int | None) -> tuple[Any, bool]:
        where = self._first_element(culled, P)
        if where is None:
            return acc, False
        n, src = where
        per = self.per_source
        row = [c[n:n + 1] for c in dflat]
        new = self._first_terms(row, n, src, order0)
        h, k, l = kernels.miller_indices(self.dev, *row, src * per, (src + 1) * per)
        o = None if order0 is None else order0 + n * self.n_settings + src * per
        old = self._terms(h, k, l, o, self.n_settings)
        delta = float(self.xp.sum(new) - self.xp.sum(old))
        acc_host = to_numpy(acc).copy()
        acc_host[n] += delta
        return asarray(self.backend, acc_host, self.dtype), True

    def _first_pass_replace(self, t: Any, dflat: list[Any], culled: Any, P: int,
                            order0: int | None) -> tuple[Any, bool]:
        where = self._first_element(culled, P)
        if where is None:
            return t, False
        n, src = where
        per = self.per_source
        new = to_numpy(self._first_terms([c[n:n + 1] for c in dflat], n, src, order0))[0]
        host = to_numpy(t).copy()
        host[n, src * per:(src + 1) * per] = new
        return asarray(self.backend, host, self.dtype), True

    # -- interpolation pre-pass -----------------------------------------------------------
    def first_out_of_range(self, flat_pixels: np.ndarray | range,
                           tile_start_rank: int) -> int | None:
        """Global loop-order index of the first element whose interpolation would leave the
        grid, in this tile, or None."""
        xp = self.xp
        fp, sp, P = self._pixel_coordinates(flat_pixels)
        comps, _ = self._sample_geometry(fp, sp)
        # loop order: pixel-major
        dflat = [xp.reshape(xp.permute_dims(c, (1, 0)), (P * self.Q,)) for c in comps]
        h, k, l = kernels.miller_indices(self.dev, *dflat, 0, self.n_settings)
        bad = to_numpy(interpolation_out_of_range(self.grid, h, k, l)).reshape(-1)
        hits = np.flatnonzero(bad)
        if hits.size == 0:
            return None
        return tile_start_rank * self.Q * self.n_settings + int(hits[0])


def _rotate_components(xp: Any, v: list[Any], axis: np.ndarray, angle: Any) -> list[Any]:
    """Rotate vectors given as three component arrays by per-element ``angle`` about ``axis``."""
    ax = [float(a) for a in axis]
    c, s = xp.cos(angle), xp.sin(angle)
    dot = (ax[0] * v[0] + ax[1] * v[1] + ax[2] * v[2]) * (1.0 - c)
    return [ax[0] * dot + v[0] * c + (-ax[2] * v[1] + ax[1] * v[2]) * s,
            ax[1] * dot + v[1] * c + (ax[2] * v[0] - ax[0] * v[2]) * s,
            ax[2] * dot + v[2] * c + (-ax[1] * v[0] + ax[0] * v[1]) * s]


def active_pixels(sim: Simulation) -> np.ndarray:
    """(spixels, fpixels) bool: pixels inside the ROI (inclusive bounds) and not masked."""
    from nbcupy.outputs import roi_mask

    det, samp = sim.detector, sim.sampling
    active = roi_mask(det.fpixels, det.spixels, *samp.roi)
    if samp.mask is not None:
        active = active & samp.mask
    return active


def default_threads() -> int:
    """Worker threads for the NumPy backend: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


def render(sim: Simulation, settings: EngineSettings | None = None,
           progress: Callable[[int, int], None] | None = None) -> RenderResult:
    """Render the float image of ``sim``.

    Pixels outside the ROI or masked are 0.  The image is returned as float32 (what nanoBragg
    writes) and on the backend in the engine's precision.  ``progress(done, total)`` is called
    as pixels complete.
    """
    settings = settings or EngineSettings()
    backend = get_backend(settings.backend)
    threads = settings.threads or (default_threads() if backend.name == "numpy" else 1)
    if backend.name != "numpy":
        threads = 1
    eng = _Engine(sim, backend, settings.dtype, settings.memory_mb, threads, settings.kernel)
    active = active_pixels(sim)
    det = sim.detector
    n_pixels = det.spixels * det.fpixels
    every = bool(active.all())
    flat = None if every else np.flatnonzero(active.reshape(-1))
    n_active = n_pixels if every else int(flat.size)
    host_dtype = np.float32 if settings.dtype == "float32" else np.float64
    values = np.zeros(n_pixels, dtype=host_dtype)
    ppt = eng.pixels_per_tile(n_active, whole_image=every)
    starts = list(range(0, n_active, ppt))

    def pixels(start: int) -> np.ndarray | range:
        """The tile starting at rank ``start``: a range of the image, or active indices."""
        stop = min(start + ppt, n_active)
        return range(start, stop) if flat is None else flat[start:stop]

    def store(start: int, vals: np.ndarray) -> None:
        stop = min(start + ppt, n_active)
        if flat is None:
            values[start:stop] = vals
        else:
            values[flat[start:stop]] = vals

    if eng.grid is not None and sim.structure_factors.interpolate:
        for start in starts:
            hit = eng.first_out_of_range(pixels(start), start)
            if hit is not None:
                eng.interp_cutoff = hit
                break
    first_pending = needs_first_pass(sim)
    omega_sum = 0.0
    sequential = threads == 1 or (first_pending and sim.sampling.dmin > 0.0)
    if sequential or len(starts) <= 1:
        for start in starts:
            vals, osum, used = eng.tile(pixels(start), start, first_pending)
            if used:
                first_pending = False
            store(start, vals)
            omega_sum += osum
            if progress is not None:
                progress(min(start + ppt, n_active), n_active)
    else:
        def job(i_start: tuple[int, int]) -> tuple[int, float]:
            i, start = i_start
            vals, osum, _ = eng.tile(pixels(start), start, first_pending and i == 0)
            store(start, vals)  # tiles own disjoint parts of the image
            return start, osum

        with ThreadPoolExecutor(max_workers=threads) as pool:
            for start, osum in pool.map(job, enumerate(starts)):
                omega_sum += osum
                if progress is not None:
                    progress(min(start + ppt, n_active), n_active)
    host_image = values.reshape(det.spixels, det.fpixels)
    # the float32 engine's host image is already what nanoBragg writes: no second copy
    image = host_image if host_image.dtype == np.float32 else host_image.astype(np.float32)
    # a float64 sum of float32 values cannot overflow: it is finite iff every pixel is
    if not math.isfinite(float(np.add.reduce(image, axis=None, dtype=np.float64))):
        bad = int(np.count_nonzero(~np.isfinite(image)))
        raise FloatingPointError(f"{bad} pixels are not finite (check the geometry and inputs)")
    # on NumPy the engine-precision image is the host array itself (no copy)
    device_image = asarray(backend, host_image, backend.dtype(settings.dtype))
    return RenderResult(image=image, device_image=device_image, omega_sum=omega_sum,
                        active=active, backend=backend, kernel=eng.kernel)
