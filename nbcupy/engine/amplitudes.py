"""Structure-factor lookup on the Miller-index grid: nearest node and tricubic interpolation.

Functions take fractional Miller indices as arrays of any backend, the grid's bounds (an
:class:`~nbcupy.experiment.models.HKLGrid`) and its amplitudes already on the same backend
flattened to 1-D, and return amplitudes F (electrons).  :func:`padded_grid` is the layout the
fused kernels index without range tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nbcupy.backends import array_namespace
from nbcupy.experiment.models import HKLGrid


@dataclass(frozen=True)
class PaddedGrid:
    """The amplitude grid with one plane of ``default_F`` around it, flattened.

    A nearest node clipped to ``lo .. hi`` (per axis, as floats) and shifted by ``lo`` indexes
    ``flat`` as ``(ih * stride_k + ik) * stride_l + il``: nodes off the grid land on the
    padding, so the fused kernels need no range test.
    """

    flat: np.ndarray
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    stride_k: int
    stride_l: int


def padded_grid(grid: HKLGrid, default_F: float, dtype: Any) -> PaddedGrid:
    """:class:`PaddedGrid` of ``grid`` in ``dtype`` (a NumPy dtype)."""
    rh, rk, rl = grid.ranges
    pad = np.full((rh + 2, rk + 2, rl + 2), default_F, dtype=np.float64)
    pad[1:-1, 1:-1, 1:-1] = grid.F[:rh, :rk, :rl]
    return PaddedGrid(flat=pad.reshape(-1).astype(dtype),
                      lo=(grid.h_min - 1.0, grid.k_min - 1.0, grid.l_min - 1.0),
                      hi=(grid.h_max + 1.0, grid.k_max + 1.0, grid.l_max + 1.0),
                      stride_k=rk + 2, stride_l=rl + 2)


def _linear_index(xp: Any, grid: HKLGrid, h0: Any, k0: Any, l0: Any) -> Any:
    """Index into the flattened grid, clipped to the array (callers mask what is outside)."""
    nh, nk, nl = grid.shape
    idx = ((h0 - grid.h_min) * nk + (k0 - grid.k_min)) * nl + (l0 - grid.l_min)
    idx = xp.clip(idx, 0, nh * nk * nl - 1)
    return xp.astype(idx, xp.int64)


def nearest_amplitude(flat_grid: Any, grid: HKLGrid, default_F: float, h0: Any, k0: Any,
                      l0: Any) -> Any:
    """F of the nearest whole indices ``h0, k0, l0`` (float arrays holding integers).

    Indices outside the grid's range get ``default_F``.
    """
    xp = array_namespace(h0)
    inside = ((h0 >= grid.h_min) & (h0 <= grid.h_max) & (k0 >= grid.k_min)
              & (k0 <= grid.k_max) & (l0 >= grid.l_min) & (l0 <= grid.l_max))
    zero = xp.zeros_like(h0)
    idx = _linear_index(xp, grid, xp.where(inside, h0, zero + grid.h_min),
                        xp.where(inside, k0, zero + grid.k_min),
                        xp.where(inside, l0, zero + grid.l_min))
    shape = idx.shape
    values = xp.take(flat_grid, xp.reshape(idx, (-1,)))
    values = xp.reshape(xp.astype(values, h0.dtype), shape)
    return xp.where(inside, values, xp.full_like(h0, default_F))


def interpolation_out_of_range(grid: HKLGrid, h: Any, k: Any, l: Any) -> Any:
    """True where nanoBragg's four-point interpolation would reach outside the grid."""
    hr, kr, lr = grid.ranges
    return (((h - grid.h_min + 3) > hr) | ((h - 2) < grid.h_min)
            | ((k - grid.k_min + 3) > kr) | ((k - 2) < grid.k_min)
            | ((l - grid.l_min + 3) > lr) | ((l - 2) < grid.l_min))


def _lagrange_weights(u: Any) -> tuple[Any, Any, Any, Any]:
    """Cubic Lagrange weights of the nodes -1, 0, 1, 2 at offset ``u`` from node 0."""
    w0 = -(u * (u - 1.0) * (u - 2.0)) / 6.0
    w1 = ((u + 1.0) * (u - 1.0) * (u - 2.0)) / 2.0
    w2 = -((u + 1.0) * u * (u - 2.0)) / 2.0
    w3 = ((u + 1.0) * u * (u - 1.0)) / 6.0
    return w0, w1, w2, w3


def tricubic_amplitude(flat_grid: Any, grid: HKLGrid, h: Any, k: Any, l: Any) -> Any:
    """F at fractional ``h, k, l`` by tricubic polynomial interpolation of the 4x4x4 nodes
    around it (nodes floor-1 .. floor+2 on each axis), as nanoBragg's ``polin3``.

    Points out of range (see :func:`interpolation_out_of_range`) give meaningless values that
    the caller must replace.
    """
    xp = array_namespace(h)
    hf, kf, lf = xp.floor(h), xp.floor(k), xp.floor(l)
    wh = _lagrange_weights(h - hf)
    wk = _lagrange_weights(k - kf)
    wl = _lagrange_weights(l - lf)
    shape = h.shape
    total = xp.zeros_like(h)
    for i in range(4):
        for j in range(4):
            wij = wh[i] * wk[j]
            for m in range(4):
                idx = _linear_index(xp, grid, hf + (i - 1), kf + (j - 1), lf + (m - 1))
                values = xp.take(flat_grid, xp.reshape(idx, (-1,)))
                values = xp.reshape(xp.astype(values, h.dtype), shape)
                total = total + wij * wl[m] * values
    return total
