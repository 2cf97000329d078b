"""Fused CUDA variant of the settings sum (:func:`~nbcupy.engine.kernels.plain.settings_sum_plain`).

One GPU thread per sample point loops over every crystal setting with all intermediates in
registers, so the memory is O(samples) whatever the number of steps, and each (sample,
setting) costs a few dozen flops instead of a dozen passes over memory.  The formulas are
those of :func:`nbcupy.engine.physics.lattice_factor_squared` and
:func:`nbcupy.engine.amplitudes.nearest_amplitude`; the kernel source,
``settings_sum_kernel.h`` in this folder, is shared with the CPU build
(:mod:`nbcupy.engine.kernels.cpu`) and evaluates the grating transform from sin(pi x)
polynomials of the fractional index (accurate in single precision for any h).  The sum runs in
double precision.  Results agree with the plain path to rounding, not bit for bit (the tests
compare them with a tolerance, and the source is checked on the CPU, see
``tests/test_engine_fused.py``).

This module holds the kernel's source and its host-side arguments; compiling and launching it
goes through :mod:`nbcupy.backends` (the only place that imports CuPy).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from nbcupy.backends import Backend, asarray, compile_raw_kernel, contiguous
from nbcupy.engine.amplitudes import padded_grid
from nbcupy.engine.kernels.plain import LatticeTerms, same_crystal

#: Spot shapes as the kernel numbers them.
SHAPE_CODES = {"square": 0, "round": 1, "gauss": 2, "tophat": 3}
#: Threads per block.
THREADS_PER_BLOCK = 256

KERNEL_NAME = "nb_settings_sum"

#: The kernel's source, shared with the CPU build (the C extension ``_settings_sum``):
#: plain C apart from the CUDA qualifiers, compiled here with ``NB_TARGET_CUDA`` defined.
KERNEL_FILE = Path(__file__).with_name("settings_sum_kernel.h")


def kernel_source(dtype: str) -> str:
    """The CUDA source for ``dtype`` (``float64`` or ``float32``)."""
    flag = 1 if dtype == "float64" else 0
    return (f"#define NB_TARGET_CUDA 1\n#define REAL_IS_DOUBLE {flag}\n"
            + KERNEL_FILE.read_text(encoding="utf-8"))


#: The kernel indexes the padded structure-factor grid with 32-bit integers.
MAX_GRID_NODES = 2**31 - 1


def kernel_applies(terms: LatticeTerms) -> bool:
    """Whether the kernel (on either target) can evaluate ``terms``: a known spot shape and a
    padded structure-factor grid of fewer than 2^31 nodes."""
    if terms.shape not in SHAPE_CODES:
        return False
    if terms.grid is not None:
        rh, rk, rl = terms.grid.ranges
        if (rh + 2) * (rk + 2) * (rl + 2) > MAX_GRID_NODES:
            return False
    return True


def kernel_arguments(terms: LatticeTerms, dtype: str) -> dict[str, Any]:
    """Host (NumPy) values of the kernel's inputs other than the directions and output."""
    real = np.dtype(dtype).type
    grid = np.zeros(1, dtype=dtype)
    lo = hi = (0.0, 0.0, 0.0)
    strides = (1, 1)
    if terms.grid is not None:
        padded = padded_grid(terms.grid, terms.default_F, dtype)
        grid, lo, hi = padded.flat, padded.lo, padded.hi
        strides = (padded.stride_k, padded.stride_l)
    na, nb, nc = terms.n_cells
    return {
        "coef": np.ascontiguousarray(terms.coef, dtype=dtype),
        "offset": np.ascontiguousarray(terms.offset, dtype=dtype),
        "grid": grid,
        "recip": np.ascontiguousarray(np.asarray(terms.recip, dtype=np.float64).reshape(-1),
                                      dtype=dtype),
        "scalars": (np.int32(terms.n_settings), np.int32(SHAPE_CODES[terms.shape]),
                    real(na), real(nb), real(nc), real(terms.fudge), real(terms.default_F),
                    np.int32(terms.grid is not None),
                    real(lo[0]), real(hi[0]), real(lo[1]), real(hi[1]), real(lo[2]),
                    real(hi[2]), np.int64(strides[0]), np.int64(strides[1])),
    }


class CudaSettingsSum:
    """Callable ``(dx, dy, dz) -> acc`` on device arrays of ``backend``: the fused settings sum
    on the GPU, one thread per sample point."""

    def __init__(self, terms: LatticeTerms, dtype: str, backend: Backend) -> None:
        if not kernel_applies(terms):
            raise ValueError(f"the CUDA settings sum does not apply (spot shape {terms.shape!r}, "
                             "or a structure-factor grid of 2^31 nodes or more)")
        self.backend = backend
        self.dtype = np.dtype(dtype)
        self.terms = terms
        self.kernel = compile_raw_kernel(kernel_source(str(self.dtype)), KERNEL_NAME)
        args = kernel_arguments(terms, str(self.dtype))
        self.coef, self.offset, self.grid, self.recip = (
            asarray(backend, args[name]) for name in ("coef", "offset", "grid", "recip"))
        self.scalars = args["scalars"]

    def with_terms(self, terms: LatticeTerms) -> CudaSettingsSum:
        """The same sum for other crystal settings of the same crystal (another rotation):
        the compiled kernel and the padded grid on the device are kept, only the settings'
        matrices are sent."""
        if not same_crystal(terms, self.terms):
            return CudaSettingsSum(terms, str(self.dtype), self.backend)
        other = copy.copy(self)
        other.terms = terms
        other.coef = asarray(self.backend, np.ascontiguousarray(terms.coef, dtype=self.dtype))
        other.offset = asarray(self.backend,
                               np.ascontiguousarray(terms.offset, dtype=self.dtype))
        other.recip = asarray(self.backend, np.ascontiguousarray(
            np.asarray(terms.recip, dtype=np.float64).reshape(-1), dtype=self.dtype))
        other.scalars = (np.int32(terms.n_settings), *self.scalars[1:])
        return other

    def __call__(self, dx: Any, dy: Any, dz: Any) -> Any:
        xp = self.backend.xp
        dx, dy, dz = (contiguous(self.backend, v, self.dtype) for v in (dx, dy, dz))
        n = int(dx.shape[0])
        out = xp.empty(n, dtype=dx.dtype)
        if n == 0:
            return out
        blocks = (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        self.kernel((blocks,), (THREADS_PER_BLOCK,),
                    (dx, dy, dz, self.coef, self.offset, self.grid, self.recip, out,
                     np.int64(n), *self.scalars))
        return out
