"""The engine's hot loop, the sum over crystal settings, in its plain Array-API form.

For every sample point n of a tile (a unit diffracted direction d_n = (dx, dy, dz)) and every
crystal setting s (source x phi step x mosaic domain) the engine needs

    h = A_h[s] . d_n + o_h[s],   k = ...,   l = ...          (fractional Miller indices)
    t[n, s] = F_latt^2(h, k, l) F_cell^2(h0, k0, l0)
    acc[n]  = sum_s t[n, s]                                     (in chunks of settings)

:func:`settings_sum_plain` is that computation in portable Array-API operations.  It is the
reference: the fused variants (:mod:`nbcupy.engine.kernels.numpy_fused`,
:mod:`nbcupy.engine.kernels.cuda`) compute
the same numbers, the NumPy one with exactly the same sequence of floating-point operations
(so its results are bit-identical), and the tests compare them.

The order of operations is part of the contract, because the NumPy variant mirrors it:
h = ((dx A0 + dy A1) + dz A2) + o;  h0 = ceil(h - 0.5);  frac = h - h0; the lattice factor
of :func:`nbcupy.engine.physics.lattice_factor_squared` on the fractions; t = F_latt^2 (F F) with F
from the grid, or t = F_latt^2 and acc *= default_F^2 after the sum when there is no grid;
t is laid out (settings, samples) so that every operation runs along contiguous samples, and
summed over its first axis in chunks of :data:`SETTINGS_CHUNK` settings, accumulated chunk by
chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nbcupy.engine import physics
from nbcupy.engine.amplitudes import nearest_amplitude
from nbcupy.experiment.models import HKLGrid

#: Settings summed per chunk (the chunking fixes the order of the floating-point sum, so it
#: must not depend on the memory budget or on the backend).
SETTINGS_CHUNK = 2048


@dataclass(frozen=True)
class LatticeTerms:
    """Everything the settings sum needs, on the host (float64 NumPy arrays).

    coef: (3, 3, S) with coef[i, c, s] the c-th component of A_i[s] (i = h, k, l), so that
    index i of setting s is sum_c coef[i, c, s] d_c + offset[i, s].  offset: (3, S).
    shape, n_cells, fudge, recip: the crystal's spot shape (see
    :func:`nbcupy.engine.physics.lattice_factor_squared`).  default_F: amplitude off the grid.
    grid: the amplitude grid (None: default_F everywhere).
    """

    coef: np.ndarray
    offset: np.ndarray
    shape: str
    n_cells: tuple[float, float, float]
    fudge: float
    recip: tuple[tuple[float, float, float], ...]
    default_F: float
    grid: HKLGrid | None = None

    @property
    def n_settings(self) -> int:
        return int(self.coef.shape[2])

    @property
    def constant_F(self) -> bool:
        """True when every setting has F = default_F (no grid), so F^2 leaves the sum."""
        return self.grid is None

    def chunks(self) -> list[tuple[int, int]]:
        """The (start, stop) settings chunks, in summation order."""
        n = self.n_settings
        return [(s, min(n, s + SETTINGS_CHUNK)) for s in range(0, n, SETTINGS_CHUNK)]


def same_crystal(a: LatticeTerms, b: LatticeTerms) -> bool:
    """Whether ``a`` and ``b`` differ only in their settings (``coef``, ``offset``, ``recip``:
    the same crystal in another orientation), so that a kernel built for one serves the
    other after its settings' matrices are replaced (the grid is compared by identity)."""
    return (a.grid is b.grid and a.shape == b.shape and a.n_cells == b.n_cells
            and a.fudge == b.fudge and a.default_F == b.default_F)


@dataclass
class DeviceTerms:
    """:class:`LatticeTerms` moved to a backend in the engine's precision."""

    terms: LatticeTerms
    xp: Any
    coef: Any  # (3, 3, S)
    offset: Any  # (3, S)
    flat_grid: Any | None


def to_device(terms: LatticeTerms, xp: Any, dtype: Any, asarray: Any,
              previous: DeviceTerms | None = None) -> DeviceTerms:
    """Move ``terms`` onto the namespace ``xp`` with ``asarray(host, dtype)``; the amplitude
    grid of ``previous`` (the same crystal, :func:`same_crystal`) is reused, not copied."""
    if previous is not None and same_crystal(terms, previous.terms):
        return DeviceTerms(terms=terms, xp=xp, coef=asarray(terms.coef, dtype),
                           offset=asarray(terms.offset, dtype), flat_grid=previous.flat_grid)
    flat = None
    if terms.grid is not None:
        flat = asarray(np.ascontiguousarray(terms.grid.F, dtype=np.float64).reshape(-1), dtype)
    return DeviceTerms(terms=terms, xp=xp, coef=asarray(terms.coef, dtype),
                       offset=asarray(terms.offset, dtype), flat_grid=flat)


def miller_indices(dev: DeviceTerms, dx: Any, dy: Any, dz: Any, start: int, stop: int,
                   ) -> tuple[Any, Any, Any]:
    """Fractional h, k, l (N, stop - start) of directions (N,) for settings start:stop."""
    xp = dev.xp
    n = dx.shape[0]
    cx = xp.reshape(dx, (n, 1))
    cy = xp.reshape(dy, (n, 1))
    cz = xp.reshape(dz, (n, 1))
    out = []
    for i in range(3):
        a = dev.coef[i, :, start:stop]
        h = cx * a[0, :] + cy * a[1, :]
        h = h + cz * a[2, :]
        h = h + dev.offset[i, start:stop]
        out.append(h)
    return out[0], out[1], out[2]


def miller_indices_by_setting(dev: DeviceTerms, dx: Any, dy: Any, dz: Any, start: int,
                              stop: int) -> tuple[Any, Any, Any]:
    """Like :func:`miller_indices` but laid out (stop - start, N): settings first."""
    xp = dev.xp
    n = dx.shape[0]
    cx = xp.reshape(dx, (1, n))
    cy = xp.reshape(dy, (1, n))
    cz = xp.reshape(dz, (1, n))
    width = stop - start
    out = []
    for i in range(3):
        a = dev.coef[i, :, start:stop]
        h = cx * xp.reshape(a[0, :], (width, 1)) + cy * xp.reshape(a[1, :], (width, 1))
        h = h + cz * xp.reshape(a[2, :], (width, 1))
        h = h + xp.reshape(dev.offset[i, start:stop], (width, 1))
        out.append(h)
    return out[0], out[1], out[2]


def lattice_and_cell(dev: DeviceTerms, h: Any, k: Any, l: Any) -> tuple[Any, Any | None]:
    """(F_latt^2, F_cell^2 or None when F is constant) for fractional indices."""
    terms = dev.terms
    h0 = physics.nearest_index(h)
    k0 = physics.nearest_index(k)
    l0 = physics.nearest_index(l)
    fh, fk, fl = h - h0, k - k0, l - l0
    flatt2 = physics.lattice_factor_squared(terms.shape, (fh, fk, fl), (0.0, 0.0, 0.0),
                                            terms.n_cells, terms.fudge, terms.recip)
    if terms.grid is None:
        return flatt2, None
    near = nearest_amplitude(dev.flat_grid, terms.grid, terms.default_F, h0, k0, l0)
    return flatt2, near * near


def settings_sum_plain(dev: DeviceTerms, dx: Any, dy: Any, dz: Any) -> Any:
    """acc[n] = sum over all settings of F_latt^2 F_cell^2 for directions (N,) (reference)."""
    xp = dev.xp
    acc = xp.zeros(dx.shape, dtype=dx.dtype)
    for start, stop in dev.terms.chunks():
        h, k, l = miller_indices_by_setting(dev, dx, dy, dz, start, stop)
        flatt2, f2 = lattice_and_cell(dev, h, k, l)
        t = flatt2 if f2 is None else flatt2 * f2
        acc = acc + xp.sum(t, axis=0)
    if dev.terms.constant_F:
        acc = acc * (dev.terms.default_F * dev.terms.default_F)
    return acc
