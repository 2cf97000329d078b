"""Fused NumPy variant of the settings sum (:func:`~.plain.settings_sum_plain`).

Same floating-point operations in the same order as the plain reference, so the results are
bit-identical, but evaluated on cache-sized blocks of (samples x settings) with NumPy's
``out=`` arguments into per-thread scratch buffers: the hot loop allocates nothing, every
intermediate stays in the core's cache, and NumPy releases the GIL inside each operation so
the engine's worker threads run in parallel.

Only the plain path handles the order-dependent rules (interpolation cut-off, -dmin culling,
the -oversample_* running sums); the engine uses this kernel where none of them applies.
"""

from __future__ import annotations

import copy
import math
import threading
from typing import Any

import numpy as np

from nbcupy.engine import physics
from nbcupy.engine.amplitudes import padded_grid
from nbcupy.engine.kernels.plain import LatticeTerms, same_crystal

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
            padded = padded_grid(terms.grid, terms.default_F, self.dtype)
            self.grid = padded.flat
            self.grid_lo, self.grid_hi = padded.lo, padded.hi
            self.grid_stride = (padded.stride_k, padded.stride_l)
        self._local = threading.local()

    def with_terms(self, terms: LatticeTerms) -> NumpySettingsSum:
        """The same sum for other crystal settings of the same crystal (another rotation):
        the padded grid, the lattice plans and the threads' scratch buffers are kept."""
        if not same_crystal(terms, self.terms) or terms.chunks() != self.chunks:
            return NumpySettingsSum(terms, self.dtype, self.block)
        other = copy.copy(self)
        other.terms = terms
        other.coef = np.ascontiguousarray(terms.coef, dtype=self.dtype)
        other.offset = np.ascontiguousarray(terms.offset, dtype=self.dtype)
        other.coef_t = other.coef[:, :, :, None]
        other.offset_t = other.offset[:, :, None]
        return other

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
        :func:`nbcupy.engine.physics.grating_squared` computes it."""
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
