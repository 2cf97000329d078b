"""Fused NumPy variant of the settings sum (:func:`nbcupy.kernels.settings_sum_plain`).

Same floating-point operations in the same order as the plain reference, so the results are
bit-identical, but evaluated on cache-sized blocks of (samples x settings) with NumPy's
``out=`` arguments into per-thread scratch buffers: the hot loop allocates nothing, every
intermediate stays in the core's cache, and NumPy releases the GIL inside each operation so
the engine's worker threads run in parallel.

Only the plain path handles the order-dependent rules (interpolation cut-off, -dmin culling,
the -oversample_* running sums); the engine uses this kernel where none of them applies.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from nbcupy import physics
from nbcupy.kernels import LatticeTerms

#: Elements (samples x settings) per block for one thread: ten or so scratch arrays of this
#: size stay in a core's L2 cache.
BLOCK_ELEMENTS = 32768
#: Elements per block when several threads share the GIL: each NumPy call must run long
#: enough (tens of microseconds) for the hand-over of the GIL between threads not to
#: dominate (measured on 2 cores: 32768 scales by x0.6-1.2, 131072 by x1.2-1.8).
BLOCK_ELEMENTS_THREADED = 131072


class _Plan:
    """How one Miller index axis enters the lattice factor."""

    __slots__ = ("axis", "n", "chebyshev", "odd", "coefs")

    def __init__(self, axis: int, n: float, dtype: np.dtype) -> None:
        self.axis = axis
        self.n = float(n)
        self.chebyshev = physics.uses_chebyshev_grating(n, dtype, np)
        self.odd, self.coefs = (physics.chebyshev_grating_coefficients(int(n))
                                if self.chebyshev else (False, ()))


class NumpySettingsSum:
    """Callable ``(dx, dy, dz) -> acc``: the fused settings sum for NumPy arrays of ``dtype``.

    Thread-safe: each calling thread gets its own scratch buffers.
    """

    def __init__(self, terms: LatticeTerms, dtype: Any,
                 block_elements: int = BLOCK_ELEMENTS) -> None:
        self.terms = terms
        self.dtype = np.dtype(dtype)
        self.coef = np.ascontiguousarray(terms.coef, dtype=self.dtype)
        self.offset = np.ascontiguousarray(terms.offset, dtype=self.dtype)
        # columns of the (settings, samples) blocks: coef_t[i, c] is (S, 1)
        self.coef_t = self.coef[:, :, :, None]
        self.offset_t = self.offset[:, :, None]
        self.chunks = terms.chunks()
        width = max(stop - start for start, stop in self.chunks)
        self.block = max(int(block_elements), width)
        self.square = terms.shape == "square"
        self.plans = [_Plan(i, n, self.dtype) for i, n in enumerate(terms.n_cells)
                      if self.square and n > 1]
        self.grid = None
        if terms.grid is not None:
            gi = terms.grid_index
            rh, rk, rl = gi.ranges
            pad = np.full((rh + 2, rk + 2, rl + 2), terms.default_F, dtype=np.float64)
            pad[1:-1, 1:-1, 1:-1] = terms.grid[:rh, :rk, :rl]
            self.grid = pad.reshape(-1).astype(self.dtype)
            self.grid_lo = (float(gi.h_min - 1), float(gi.k_min - 1), float(gi.l_min - 1))
            self.grid_hi = (float(gi.h_max + 1), float(gi.k_max + 1), float(gi.l_max + 1))
            self.grid_stride = (rk + 2, rl + 2)
        self._local = threading.local()

    # -- scratch ------------------------------------------------------------------------
    def _scratch(self) -> dict[str, np.ndarray]:
        buf = getattr(self._local, "buf", None)
        if buf is None:
            n, dt = self.block, self.dtype
            buf = {name: np.empty(n, dt) for name in ("h", "h0", "t", "g", "p", "fv",
                                                       "f0", "f1", "f2")}
            buf["z"] = np.empty(n, bool)
            buf["idx"] = np.empty(n, np.intp)
            buf["rs"] = np.empty(n, dt)
            self._local.buf = buf
        return buf

    # -- the sum --------------------------------------------------------------------------
    def __call__(self, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray) -> np.ndarray:
        n = dx.shape[0]
        acc = np.empty(n, dtype=self.dtype)
        buf = self._scratch()
        with np.errstate(invalid="ignore", divide="ignore"):
            for i, (start, stop) in enumerate(self.chunks):
                width = stop - start
                cols = max(1, self.block // width)
                for c0 in range(0, n, cols):
                    c1 = min(n, c0 + cols)
                    colsum = self._block(dx[c0:c1], dy[c0:c1], dz[c0:c1], start, stop, buf)
                    if i == 0:  # 0 + colsum is colsum: every term is >= +0 (or NaN)
                        np.copyto(acc[c0:c1], colsum)
                    else:
                        np.add(acc[c0:c1], colsum, out=acc[c0:c1])
        if self.terms.constant_F:
            np.multiply(acc, self.terms.default_F * self.terms.default_F, out=acc)
        return acc

    def _block(self, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, start: int, stop: int,
               buf: dict[str, np.ndarray]) -> np.ndarray:
        """Sum over settings start:stop for the samples of ``dx, dy, dz`` (a (settings,
        samples) block)."""
        cols, width = dx.shape[0], stop - start
        size = cols * width
        shape = (width, cols)

        def view(name: str) -> np.ndarray:
            return buf[name][:size].reshape(shape)

        h, h0, t, g, p = view("h"), view("h0"), view("t"), view("g"), view("p")
        fracs = (view("f0"), view("f1"), view("f2"))
        idx = buf["idx"][:size].reshape(shape) if self.grid is not None else None
        cx, cy, cz = (np.reshape(v, (1, cols)) for v in (dx, dy, dz))
        for i in range(3):
            a = self.coef_t[i, :, start:stop]
            # h = ((dx A0 + dy A1) + dz A2) + o
            np.multiply(cx, a[0], out=h)
            np.multiply(cy, a[1], out=t)
            np.add(h, t, out=h)
            np.multiply(cz, a[2], out=t)
            np.add(h, t, out=h)
            np.add(h, self.offset_t[i, start:stop], out=h)
            # h0 = ceil(h - 0.5), frac = h - h0
            np.subtract(h, 0.5, out=h0)
            np.ceil(h0, out=h0)
            np.subtract(h, h0, out=fracs[i])
            if idx is not None:
                self._grid_index(i, h0, idx)

        # F_latt^2
        if self.square:
            zero = buf["z"][:size].reshape(shape)
            for j, plan in enumerate(self.plans):
                # the first factor goes straight into p, later ones via g
                self._grating(fracs[plan.axis], plan, t, p if j == 0 else g, zero)
                if j > 0:
                    np.multiply(p, g, out=p)
            if not self.plans:
                p.fill(1.0)
            product = p
        else:
            product = physics.lattice_factor_squared(
                self.terms.shape, fracs, (0.0, 0.0, 0.0), self.terms.n_cells,
                self.terms.fudge, self.terms.recip)

        # F_cell^2 from the grid
        if idx is not None:
            fv = view("fv")
            np.take(self.grid, idx, out=fv, mode="clip")
            np.multiply(fv, fv, out=fv)
            np.multiply(product, fv, out=product)

        if width == 1:
            return product[0]
        colsum = buf["rs"][:cols]
        np.add.reduce(product, axis=0, out=colsum)
        return colsum

    @staticmethod
    def _grating(frac: np.ndarray, plan: _Plan, t: np.ndarray, g: np.ndarray,
                 zero: np.ndarray) -> None:
        """sincg(pi h, n)^2 of ``frac`` into ``g`` (``t`` is scratch), as
        :func:`nbcupy.physics.grating_squared` computes it."""
        if plan.chebyshev:
            np.multiply(frac, 2.0 * math.pi, out=t)
            np.cos(t, out=t)
            np.multiply(t, 2.0, out=t)
            np.add(t, 2.0, out=t)  # y
            coefs = plan.coefs
            if len(coefs) == 1:  # n = 2: U_1^2 = y
                np.copyto(g, t)
                return
            np.add(t, coefs[1], out=g)
            for c in coefs[2:]:
                np.multiply(g, t, out=g)
                np.add(g, c, out=g)
            np.multiply(g, g, out=g)
            if plan.odd:
                np.multiply(g, t, out=g)
            return
        n = plan.n
        np.equal(frac, 0, out=zero)
        np.multiply(frac, math.pi * n, out=t)
        np.sin(t, out=t)
        np.multiply(frac, math.pi, out=g)
        np.sin(g, out=g)
        np.divide(t, g, out=t)
        np.multiply(t, t, out=g)
        np.copyto(g, n * n, where=zero)

    def _grid_index(self, axis: int, h0: np.ndarray, idx: np.ndarray) -> None:
        """Accumulate the padded grid's flat index of the nearest node along ``axis``;
        nodes off the grid land on the padding, which holds default_F."""
        lo, hi = self.grid_lo[axis], self.grid_hi[axis]
        np.clip(h0, lo, hi, out=h0)
        np.subtract(h0, lo, out=h0)
        if axis == 0:
            np.copyto(idx, h0, casting="unsafe")
            return
        np.multiply(idx, self.grid_stride[axis - 1], out=idx)
        np.add(idx, h0, out=idx, casting="unsafe")


def broadcast_positions(f: np.ndarray, s: np.ndarray, fdet: list[float], sdet: list[float],
                        pix0: list[float], outs: tuple[np.ndarray, ...]) -> None:
    """Sample positions of whole rows into ``outs`` (x, y, z; flat, laid out sub-row,
    sub-column, row, column): ``(f fdet + s sdet) + pix0`` with ``f`` (O, columns) and ``s``
    (O, rows) from :func:`subpixel_positions`, each term formed once and added by
    broadcasting (the plain geometry's operations, so its numbers)."""
    shape = (s.shape[0], f.shape[0], s.shape[1], f.shape[1])
    for c, v in enumerate(outs):
        np.add(np.multiply(f, fdet[c])[None, :, None, :],
               np.multiply(s, sdet[c])[:, None, :, None], out=v.reshape(shape))
        np.add(v, pix0[c], out=v)


def normalise_directions(comps: tuple[np.ndarray, ...] | list[np.ndarray], air: np.ndarray,
                         t: np.ndarray) -> None:
    """``air = sqrt((x x + y y) + z z)`` and the components divided by it, in place (``t`` is
    scratch): the plain geometry's air paths and unit diffracted vectors."""
    x, y, z = comps
    np.multiply(x, x, out=air)
    np.multiply(y, y, out=t)
    np.add(air, t, out=air)
    np.multiply(z, z, out=t)
    np.add(air, t, out=air)
    np.sqrt(air, out=air)
    for v in comps:
        np.divide(v, air, out=v)


def subpixel_positions(first: int, count: int, oversample: int, sub: float,
                       dtype: Any) -> np.ndarray:
    """(oversample, count) detector coordinates (m) ``sub * (i * O + j) + sub / 2`` of the
    sub-pixels j of pixels i = first .. first + count - 1 along one axis, in ``dtype``, with
    the plain geometry's operations (for O = 1, ``sub * i + sub / 2`` exactly)."""
    dt = np.dtype(dtype)
    i = np.arange(first, first + count, dtype=np.float64).astype(dt)[None, :]
    j = np.arange(oversample, dtype=np.float64).astype(dt)[:, None]
    return np.add(np.multiply(np.add(np.multiply(i, oversample), j), sub), sub / 2.0)


class NumpyOversampledGeometry:
    """Fused variant of ``_Engine._sample_geometry`` for whole rows of a flat detector with
    one sensor layer and ``oversample`` x ``oversample`` sub-pixels.

    ``rows(row0, nrows, fpixels)`` returns the unit diffracted directions as three (Q, P)
    arrays and the air paths (Q, P) of every sub-pixel (q = sub-row * O + sub-column) of the
    pixels of those rows (P = nrows * fpixels, row-major): the same operations in the same
    order as the plain geometry, so bit-identical, but the fast and slow terms of each position
    are formed once per sub-column and once per sub-row and added by broadcasting, into
    per-thread scratch buffers that the next call of the same thread overwrites.
    """

    def __init__(self, detector: Any, oversample: int, dtype: Any, capacity: int) -> None:
        self.O = int(oversample)
        self.dtype = np.dtype(dtype)
        self.capacity = int(capacity)
        self.sub = detector.pixel_size / self.O
        self.fdet = [float(c) for c in detector.fdet]
        self.sdet = [float(c) for c in detector.sdet]
        self.pix0 = [float(c) for c in detector.pix0]
        self._local = threading.local()

    def rows(self, row0: int, nrows: int, fpixels: int) -> tuple[list[np.ndarray], np.ndarray]:
        O = self.O
        n = O * O * nrows * fpixels
        buf = getattr(self._local, "buf", None)
        if buf is None or buf["x"].shape[0] < n:
            size = max(n, self.capacity)
            buf = {name: np.empty(size, self.dtype) for name in ("x", "y", "z", "air", "t")}
            self._local.buf = buf
        f = subpixel_positions(0, fpixels, O, self.sub, self.dtype)  # (sub-columns, fpixels)
        s = subpixel_positions(row0, nrows, O, self.sub, self.dtype)  # (sub-rows, nrows)
        comps = [buf[name][:n] for name in ("x", "y", "z")]
        broadcast_positions(f, s, self.fdet, self.sdet, self.pix0, comps)
        air = buf["air"][:n]
        normalise_directions(comps, air, buf["t"][:n])
        Q, P = O * O, nrows * fpixels
        return [v.reshape(Q, P) for v in comps], air.reshape(Q, P)


class NumpyFlatGeometry:
    """Fused variant of the engine's per-sample geometry and per-pixel factors for the
    commonest detector: flat, one sensor layer, no oversampling (one sample per pixel).

    Callable ``(fast, slow) -> (dx, dy, dz, air, omega, polar)`` on float arrays of pixel
    indices; the same operations in the same order as ``_Engine._sample_geometry``,
    :func:`nbcupy.physics.solid_angle` and
    :func:`nbcupy.physics.polarization_factor_components` (so bit-identical), written into
    per-thread scratch buffers that the next call of the same thread overwrites.  ``polar``
    is None when the beam's polarization factor is off.
    """

    def __init__(self, detector: Any, beam: Any, incident: Any, dtype: Any,
                 capacity: int) -> None:
        self.det = detector
        self.dtype = np.dtype(dtype)
        self.capacity = int(capacity)
        self.sub = detector.pixel_size / 1
        self.fdet = [float(c) for c in detector.fdet]
        self.sdet = [float(c) for c in detector.sdet]
        self.pix0 = [float(c) for c in detector.pix0]
        self.kahn = float(beam.kahn_factor)
        self.polarized = bool(beam.polarization_enabled)
        self.incident = [float(c) for c in incident]
        self.axis = beam.polarization_axis
        self._local = threading.local()

    def _scratch(self, n: int) -> dict[str, np.ndarray]:
        buf = getattr(self._local, "buf", None)
        if buf is None or buf["x"].shape[0] < n:
            size = max(n, self.capacity)
            buf = {name: np.empty(size, self.dtype)
                   for name in ("x", "y", "z", "air", "f", "s", "t", "omega", "polar")}
            self._local.buf = buf
        return {name: a[:n] for name, a in buf.items()}

    def __call__(self, fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, ...]:
        n = fast.shape[0]
        b = self._scratch(n)
        sub = self.sub
        f, s, t = b["f"], b["s"], b["t"]
        # fdet_pos = sub * f + sub / 2, sdet_pos likewise
        np.multiply(fast, sub, out=f)
        np.add(f, sub / 2.0, out=f)
        np.multiply(slow, sub, out=s)
        np.add(s, sub / 2.0, out=s)
        comps = (b["x"], b["y"], b["z"])
        for c, v in enumerate(comps):
            np.multiply(f, self.fdet[c], out=v)
            np.multiply(s, self.sdet[c], out=t)
            np.add(v, t, out=v)
            np.add(v, self.pix0[c], out=v)
        return self._finish(comps, b)

    def rows(self, row0: int, nrows: int, fpixels: int) -> tuple[np.ndarray, ...]:
        """Like calling the object on every pixel of rows ``row0 .. row0 + nrows - 1`` (whole
        rows of ``fpixels`` pixels, row-major): the same numbers, but the fast and slow terms
        of the position are formed once per column and once per row and added by
        broadcasting."""
        n = nrows * fpixels
        b = self._scratch(n)
        comps = (b["x"], b["y"], b["z"])
        broadcast_positions(subpixel_positions(0, fpixels, 1, self.sub, self.dtype),
                            subpixel_positions(row0, nrows, 1, self.sub, self.dtype),
                            self.fdet, self.sdet, self.pix0, comps)
        return self._finish(comps, b)

    def _finish(self, comps: tuple[np.ndarray, ...],
                b: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        """Directions, air paths, solid angles and polarization from the positions."""
        t = b["t"]
        x, y, z = comps
        air = b["air"]
        normalise_directions(comps, air, t)
        # solid angle: (p p) / (air air) * close / air, or 1 / (air air)
        det = self.det
        omega = b["omega"]
        np.multiply(air, air, out=omega)
        if det.point_pixel:
            np.divide(1.0, omega, out=omega)
        else:
            np.divide(det.pixel_size * det.pixel_size, omega, out=omega)
            np.multiply(omega, det.close_distance, out=omega)
            np.divide(omega, air, out=omega)
        polar = None
        if self.polarized:
            if self.kahn != 0.0:
                polar = physics.polarization_factor_components(self.kahn, self.incident,
                                                               comps, self.axis)
            else:
                # 0.5 (1 + cos^2 2theta), cos 2theta = d . incident
                polar = b["polar"]
                i0, i1, i2 = self.incident
                np.multiply(x, i0, out=polar)
                np.multiply(y, i1, out=t)
                np.add(polar, t, out=polar)
                np.multiply(z, i2, out=t)
                np.add(polar, t, out=polar)
                np.multiply(polar, polar, out=polar)
                np.add(1.0, polar, out=polar)
                np.multiply(0.5, polar, out=polar)
        return x, y, z, air, omega, polar
