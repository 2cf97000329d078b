"""The image engine: nanoBragg's sums as broadcast array operations, tiled in bounded memory.

The detector's rendered pixels are cut into tiles; for a tile of P pixels the engine builds
every sample point (Q = sensor layers x oversample^2 per pixel) and evaluates all crystal
settings (S = sources x phi steps x mosaic domains) at once:

    hkl[n, s] = D[n] . A[s] + offset[s]          (one matrix product for the whole tile)
    I[p]      = I_bg + sum_{q,s} F(hkl)^2 F_latt(hkl)^2

then applies r_e^2 fluence / steps and the solid-angle, polarization and absorption factors.
The settings axis is chunked when the tile would exceed the memory budget.  This module is
the only place that decides array layout and chunking; the formulas live in
:mod:`nbcupy.physics` and :mod:`nbcupy.structure_factors`.

nanoBragg's order-dependent rules are reproduced: per-pixel factors from the first sub-pixel,
the running-sum rule of ``-oversample_omega/_polar/_thick``, the phi = 0 step that reuses the
previous rotation, and interpolation switching off at the first out-of-range index.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from nbcupy import physics
from nbcupy.backends import Backend, asarray, get_backend, to_numpy
from nbcupy.geometry import rotation_about_axis
from nbcupy.models import Simulation
from nbcupy.structure_factors import (
    GridIndex,
    interpolation_out_of_range,
    nearest_amplitude,
    tricubic_amplitude,
)

#: Default memory budget for the engine's temporaries (MiB), all threads together.
DEFAULT_MEMORY_MB = 256.0
#: Bytes of temporaries per (sample x setting) element, measured on the hot path.
_BYTES_PER_ELEMENT = 96


@dataclass(frozen=True)
class EngineSettings:
    """How to run the engine: backend, float precision, memory budget (MiB), threads (0=auto)."""

    backend: str = "numpy"
    dtype: str = "float64"
    memory_mb: float = DEFAULT_MEMORY_MB
    threads: int = 0


@dataclass
class RenderResult:
    """The rendered image and the by-products nanoBragg prints.

    image: float32 NumPy array (spixels, fpixels), photons per pixel.  device_image: the same
    values in the engine's precision on the backend.  omega_sum: nanoBragg's solid-angle sum
    (sr x steps).  active: (spixels, fpixels) bool, the pixels rendered.
    """

    image: np.ndarray
    device_image: Any
    omega_sum: float
    active: np.ndarray
    backend: Backend


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


# ----------------------------------------------------------------------------------------
# the tile kernel


@dataclass
class _DeviceInputs:
    """Everything a tile needs, already on the backend."""

    xp: Any
    dtype: Any
    amat: Any  # (3, 3S): columns h-settings | k-settings | l-settings
    offset: Any  # (3S,)
    amat_first: Any | None
    offset_first: Any | None
    incident: Any  # (src, 3)
    wavelengths: Any  # (src,)
    flat_grid: Any | None
    n_settings: int
    n_sources: int
    per_source: int


class _Engine:
    """Evaluates tiles of pixels for one simulation on one backend."""

    def __init__(self, sim: Simulation, backend: Backend, dtype: str, memory_mb: float,
                 threads: int) -> None:
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
        a, off = crystal_settings(sim)
        n_set = a.shape[0]
        amat = np.concatenate([a[:, 0, :].T, a[:, 1, :].T, a[:, 2, :].T], axis=1)
        offset = np.concatenate([off[:, 0], off[:, 1], off[:, 2]])
        first = None
        if needs_first_pass(sim):
            af, of = crystal_settings(sim, first_pass=True)
            first = (np.concatenate([af[:, 0, :].T, af[:, 1, :].T, af[:, 2, :].T], axis=1),
                     np.concatenate([of[:, 0], of[:, 1], of[:, 2]]))
        sf = sim.structure_factors
        flat = None
        self.grid = None
        if sf.grid is not None and sf.hkls > 0:
            flat = asarray(backend, np.ascontiguousarray(sf.grid).reshape(-1), self.dtype)
            self.grid = GridIndex(sf.h_min, sf.h_max, sf.k_min, sf.k_max, sf.l_min, sf.l_max,
                                  tuple(sf.grid.shape))
        dt = self.dtype
        self.dev = _DeviceInputs(
            xp=xp, dtype=dt, amat=asarray(backend, amat, dt), offset=asarray(backend, offset, dt),
            amat_first=asarray(backend, first[0], dt) if first else None,
            offset_first=asarray(backend, first[1], dt) if first else None,
            incident=asarray(backend, -sim.sources.directions, dt),
            wavelengths=asarray(backend, sim.sources.wavelengths, dt),
            flat_grid=flat, n_settings=n_set, n_sources=sim.sources.count,
            per_source=n_set // sim.sources.count)
        self.recurrence = samp.oversample_omega or samp.oversample_polar or samp.oversample_thick
        self.i_bg = physics.water_background(samp.water_size, sim.beam.fluence)
        self.scale = physics.R_E_SQR * sim.beam.fluence / sim.steps
        # memory: elements of (samples x settings) per tile
        workers = max(1, threads)
        budget = memory_mb * 2**20 / workers
        self.max_elements = max(int(budget / _BYTES_PER_ELEMENT), 4096)
        per_pixel = self.Q * n_set
        if self.recurrence:
            self.pixels_per_tile = max(1, self.max_elements // per_pixel)
            self.settings_chunk = n_set
        else:
            self.pixels_per_tile = max(1, self.max_elements // (self.Q * min(n_set, 64)))
            self.settings_chunk = max(1, self.max_elements // (self.pixels_per_tile * self.Q))
        self.interp_cutoff: int | None = None  # global order index where interpolation stops

    # -- geometry of a tile -------------------------------------------------------------
    def _sample_directions(self, fidx: Any, sidx: Any) -> tuple[Any, Any, Any]:
        """Unit diffracted vectors (P*Q, 3), air paths (P, Q) and parallax cosines (P, Q)."""
        xp, dt = self.xp, self.dtype
        det = self.sim.detector
        O, T = self.O, self.T
        sub = det.pixel_size / O
        j = xp.astype(xp.arange(O), dt)
        f = xp.reshape(fidx, (-1, 1, 1, 1))
        s = xp.reshape(sidx, (-1, 1, 1, 1))
        fdet_pos = sub * (f * O + xp.reshape(j, (1, 1, 1, O))) + sub / 2.0
        sdet_pos = sub * (s * O + xp.reshape(j, (1, 1, O, 1))) + sub / 2.0
        odet_pos = xp.reshape(xp.astype(xp.arange(T), dt), (1, T, 1, 1)) * det.thickstep
        comps = []
        for c in range(3):
            comps.append(fdet_pos * float(det.fdet[c]) + sdet_pos * float(det.sdet[c])
                         + odet_pos * float(det.odet[c]) + float(det.pix0[c]))
        P = fidx.shape[0]
        shape4 = (P, T, O, O)
        comps = [xp.reshape(xp.broadcast_to(c, shape4), (P, self.Q)) for c in comps]
        if det.curved:
            comps = self._curve(comps)
        x, y, z = comps
        air = xp.sqrt(x * x + y * y + z * z)
        d = xp.stack([x / air, y / air, z / air], axis=-1)  # (P, Q, 3)
        parallax = (d[..., 0] * float(det.odet[0]) + d[..., 1] * float(det.odet[1])
                    + d[..., 2] * float(det.odet[2]))
        return d, air, parallax

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

    # -- terms ----------------------------------------------------------------------------
    def _hkl(self, dflat: Any, amat: Any, offset: Any, cols: slice, n_set: int) -> tuple:
        xp = self.xp
        start, stop = cols.start, cols.stop
        idx = list(range(start, stop)) + list(range(n_set + start, n_set + stop)) \
            + list(range(2 * n_set + start, 2 * n_set + stop))
        if stop - start == n_set:
            sub_a, sub_o = amat, offset
        else:
            ii = asarray(self.backend, np.array(idx, dtype=np.int64))
            sub_a = xp.take(amat, ii, axis=1)
            sub_o = xp.take(offset, ii)
        hkl = xp.matmul(dflat, sub_a) + sub_o
        w = stop - start
        return hkl[:, 0:w], hkl[:, w:2 * w], hkl[:, 2 * w:3 * w]

    def _terms(self, h: Any, k: Any, l: Any, order0: int | None = None,
               row_stride: int = 0, with_lattice: bool = False) -> Any:
        """F^2 F_latt^2 for fractional indices (N, S); with ``with_lattice`` also F_latt^2."""
        xp = self.xp
        sim = self.sim
        cr = sim.crystal
        sf = sim.structure_factors
        h0, k0, l0 = xp.ceil(h - 0.5), xp.ceil(k - 0.5), xp.ceil(l - 0.5)
        recip = [[float(x) for x in row] for row in cr.reciprocal]
        flatt2 = physics.lattice_factor_squared(cr.shape, (h, k, l), (h0, k0, l0), cr.n_cells,
                                                cr.fudge, recip)
        if self.grid is None:
            t = flatt2 * (sf.default_F * sf.default_F)
            return (t, flatt2) if with_lattice else t
        near = nearest_amplitude(self.dev.flat_grid, self.grid, sf.default_F, h0, k0, l0)
        if sf.interpolate and (self.interp_cutoff is None or order0 is not None):
            use_interp = self._interp_mask(h, k, l, order0, row_stride)
            if use_interp is not None:
                tri = tricubic_amplitude(self.dev.flat_grid, self.grid, h, k, l)
                near = xp.where(use_interp, tri, near)
        t = flatt2 * near * near
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

    # -- per-pixel factors ----------------------------------------------------------------
    def _polarization(self, d: Any, sel_src: Any | None = None) -> Any:
        """Polarization factor for (P, Q, src) (or for chosen (P, 3) directions)."""
        beam = self.sim.beam
        axis = self.backend.xp.reshape(
            asarray(self.backend, beam.polarization_axis, self.dtype), (1, 1, 3))
        inc = self.xp.reshape(self.dev.incident, (1, 1, -1, 3))
        return physics.polarization_factor(beam.kahn_factor, inc, d[:, :, None, :], axis)

    def tile(self, flat_pixels: np.ndarray, tile_start_rank: int,
             first_pass: bool) -> tuple[np.ndarray, float, bool]:
        """Render the pixels ``flat_pixels`` (row-major indices); returns their values
        (float64 host array), their solid-angle sum and whether the first-pass rule was used."""
        xp, dt = self.xp, self.dtype
        sim = self.sim
        det, samp, beam = sim.detector, sim.sampling, sim.beam
        Q, T, O = self.Q, self.T, self.O
        P = flat_pixels.shape[0]
        fp = asarray(self.backend, (flat_pixels % det.fpixels).astype(np.float64), dt)
        sp = asarray(self.backend, (flat_pixels // det.fpixels).astype(np.float64), dt)
        d, air, parallax = self._sample_directions(fp, sp)
        omega = physics.solid_angle(det.pixel_size, air, det.close_distance, det.point_pixel)
        n_src = self.dev.n_sources
        per_src = self.dev.per_source
        n_set = self.dev.n_settings

        # dmin culling per (pixel, sample, source)
        culled = None
        if samp.dmin > 0.0:
            inc = xp.reshape(self.dev.incident, (1, 1, n_src, 3))
            lam = xp.reshape(self.dev.wavelengths, (1, 1, n_src))
            sv = (d[:, :, None, :] - inc) / lam[..., None]
            stol = 0.5 * xp.sqrt(xp.sum(sv * sv, axis=-1))
            safe = xp.where(stol > 0, stol, xp.ones_like(stol))
            culled = (stol > 0) & (samp.dmin > 0.5 / safe)

        # capture fraction per sample
        layer = xp.reshape(xp.astype(xp.arange(T), dt), (1, T, 1))
        if det.thickness > 0.0:
            capture = physics.capture_fraction(
                layer, det.thickstep, det.mu, xp.reshape(parallax, (P, T, O * O)))
            capture = xp.reshape(capture, (P, Q))
        else:
            capture = xp.ones_like(parallax)

        # polarization
        need_polar_all = samp.oversample_polar or culled is not None
        polar_all = self._polarization(d) if need_polar_all else None  # (P, Q, src)
        if not beam.polarization_enabled and not samp.oversample_polar:
            polar_first = xp.ones((P,), dtype=dt)
            if culled is not None:
                polar_first = polar_first  # stays 1 even when the whole pixel is culled
        elif culled is None:
            if polar_all is not None:
                polar_first = polar_all[:, 0, 0]
            else:
                inc0 = xp.reshape(self.dev.incident[0, :], (1, 3))
                axis = xp.reshape(asarray(self.backend, beam.polarization_axis, dt), (1, 3))
                polar_first = physics.polarization_factor(beam.kahn_factor, inc0, d[:, 0, :],
                                                          axis)
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

        dflat = xp.reshape(d, (P * Q, 3))
        order0 = tile_start_rank * Q * n_set if self.grid is not None else None

        if not self.recurrence:
            acc = xp.zeros((P * Q,), dtype=dt)
            step = self.settings_chunk
            for start in range(0, n_set, step):
                stop = min(n_set, start + step)
                h, k, l = self._hkl(dflat, self.dev.amat, self.dev.offset, slice(start, stop),
                                    n_set)
                t = self._terms(h, k, l, None if order0 is None else order0 + start, n_set)
                if culled is not None:
                    src_of = np.arange(start, stop) // per_src
                    keep_c = xp.take(xp.reshape(~culled, (P * Q, n_src)),
                                     asarray(self.backend, src_of.astype(np.int64)), axis=1)
                    t = xp.where(keep_c, t, xp.zeros_like(t))
                acc = acc + xp.sum(t, axis=1)
            used_first = False
            if first_pass:
                acc, used_first = self._first_pass_plain(acc, dflat, culled, P, order0)
            intensity = xp.sum(xp.reshape(acc, (P, Q)), axis=1) + self.i_bg
        else:
            h, k, l = self._hkl(dflat, self.dev.amat, self.dev.offset, slice(0, n_set), n_set)
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
            rev = xp.flip(xp.cumulative_prod(xp.flip(g, axis=1), axis=1), axis=1)
            intensity = self.i_bg * rev[:, 0] + xp.sum(t * rev, axis=1)

        value = intensity * self.scale
        if not samp.oversample_thick:
            value = value * capture[:, (T - 1) * O * O]
        if not samp.oversample_polar:
            value = value * polar_first
        if not samp.oversample_omega:
            value = value * omega[:, 0]
        if samp.oversample_omega:
            osum = float(xp.sum(omega))
        else:
            osum = float(xp.sum(omega[:, 0])) * Q
        return to_numpy(xp.astype(value, xp.float64)), osum, used_first

    # -- the phi = 0 first-pass rule -------------------------------------------------------
    def _first_element(self, culled: Any, P: int) -> tuple[int, int] | None:
        """(sample row n, source) of the first evaluation in the tile, or None."""
        n_src = self.dev.n_sources
        if culled is None:
            return 0, 0
        keep = to_numpy(~culled).reshape(P * self.Q, n_src)
        hits = np.flatnonzero(keep.reshape(-1))
        if hits.size == 0:
            return None
        first = int(hits[0])
        return first // n_src, first % n_src

    def _first_terms(self, dflat: Any, n: int, src: int, order0: int | None) -> Any:
        per = self.dev.per_source
        n_set = self.dev.n_settings
        row = dflat[n:n + 1, :]
        h, k, l = self._hkl(row, self.dev.amat_first, self.dev.offset_first,
                            slice(src * per, (src + 1) * per), n_set)
        o = None if order0 is None else order0 + n * n_set + src * per
        return self._terms(h, k, l, o, n_set)  # (1, per)

    def _first_pass_plain(self, acc: Any, dflat: Any, culled: Any, P: int,
                          order0: int | None) -> tuple[Any, bool]:
        where = self._first_element(culled, P)
        if where is None:
            return acc, False
        n, src = where
        per = self.dev.per_source
        n_set = self.dev.n_settings
        new = self._first_terms(dflat, n, src, order0)
        h, k, l = self._hkl(dflat[n:n + 1, :], self.dev.amat, self.dev.offset,
                            slice(src * per, (src + 1) * per), n_set)
        o = None if order0 is None else order0 + n * n_set + src * per
        old = self._terms(h, k, l, o, n_set)
        delta = float(self.xp.sum(new) - self.xp.sum(old))
        acc_host = to_numpy(acc).copy()
        acc_host[n] += delta
        return asarray(self.backend, acc_host, self.dtype), True

    def _first_pass_replace(self, t: Any, dflat: Any, culled: Any, P: int,
                            order0: int | None) -> tuple[Any, bool]:
        where = self._first_element(culled, P)
        if where is None:
            return t, False
        n, src = where
        per = self.dev.per_source
        new = to_numpy(self._first_terms(dflat, n, src, order0))[0]
        host = to_numpy(t).copy()
        host[n, src * per:(src + 1) * per] = new
        return asarray(self.backend, host, self.dtype), True

    # -- interpolation pre-pass -----------------------------------------------------------
    def first_out_of_range(self, flat_pixels: np.ndarray, tile_start_rank: int) -> int | None:
        """Global loop-order index of the first element whose interpolation would leave the
        grid, in this tile, or None."""
        xp = self.xp
        P = flat_pixels.shape[0]
        det = self.sim.detector
        dt = self.dtype
        fp = asarray(self.backend, (flat_pixels % det.fpixels).astype(np.float64), dt)
        sp = asarray(self.backend, (flat_pixels // det.fpixels).astype(np.float64), dt)
        d, _, _ = self._sample_directions(fp, sp)
        n_set = self.dev.n_settings
        h, k, l = self._hkl(xp.reshape(d, (P * self.Q, 3)), self.dev.amat, self.dev.offset,
                            slice(0, n_set), n_set)
        bad = to_numpy(interpolation_out_of_range(self.grid, h, k, l)).reshape(-1)
        hits = np.flatnonzero(bad)
        if hits.size == 0:
            return None
        return tile_start_rank * self.Q * n_set + int(hits[0])


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
    det, samp = sim.detector, sim.sampling
    s = np.arange(det.spixels)[:, None]
    f = np.arange(det.fpixels)[None, :]
    fmin, fmax, smin, smax = samp.roi
    active = (f >= fmin) & (f <= fmax) & (s >= smin) & (s <= smax)
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
    eng = _Engine(sim, backend, settings.dtype, settings.memory_mb, threads)
    active = active_pixels(sim)
    flat = np.flatnonzero(active.reshape(-1))
    det = sim.detector
    values = np.zeros(det.spixels * det.fpixels, dtype=np.float64)
    ppt = eng.pixels_per_tile
    starts = list(range(0, flat.size, ppt))
    if eng.grid is not None and sim.structure_factors.interpolate:
        for start in starts:
            hit = eng.first_out_of_range(flat[start:start + ppt], start)
            if hit is not None:
                eng.interp_cutoff = hit
                break
    first_pending = needs_first_pass(sim)
    omega_sum = 0.0
    sequential = threads == 1 or (first_pending and sim.sampling.dmin > 0.0)
    if sequential or len(starts) <= 1:
        for start in starts:
            chunk = flat[start:start + ppt]
            vals, osum, used = eng.tile(chunk, start, first_pending)
            if used:
                first_pending = False
            values[chunk] = vals
            omega_sum += osum
            if progress is not None:
                progress(start + chunk.size, flat.size)
    else:
        def job(i_start: tuple[int, int]) -> tuple[int, np.ndarray, float]:
            i, start = i_start
            vals, osum, _ = eng.tile(flat[start:start + ppt], start, first_pending and i == 0)
            return start, vals, osum

        with ThreadPoolExecutor(max_workers=threads) as pool:
            for start, vals, osum in pool.map(job, enumerate(starts)):
                values[flat[start:start + ppt]] = vals
                omega_sum += osum
                if progress is not None:
                    progress(min(start + ppt, flat.size), flat.size)
    image64 = values.reshape(det.spixels, det.fpixels)
    image = image64.astype(np.float32)
    if not np.all(np.isfinite(image)):
        bad = int(np.count_nonzero(~np.isfinite(image)))
        raise FloatingPointError(f"{bad} pixels are not finite (check the geometry and inputs)")
    device_image = asarray(backend, image64, backend.dtype(settings.dtype))
    return RenderResult(image=image, device_image=device_image, omega_sum=omega_sum,
                        active=active, backend=backend)

