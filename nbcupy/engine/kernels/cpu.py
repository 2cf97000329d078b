"""The settings sum (:func:`~nbcupy.engine.kernels.plain.settings_sum_plain`) compiled for
the CPU.

The kernel is ``settings_sum_kernel.h`` in this folder, the source that CuPy also compiles
for the GPU (:mod:`nbcupy.engine.kernels.cuda`), built into the optional C extension
``nbcupy.engine.kernels._settings_sum`` when the package is installed.  Each sample's terms
are summed over the settings in order in double precision, with every intermediate in registers, the
samples of a block side by side in the CPU's vector lanes (SSE, AVX2 or AVX-512, whichever
the CPU has: all of them give the same bits), and without the GIL, so that the engine's
worker threads run it in parallel.  Results agree with the plain reference to rounding, not
bit for bit (the tests state the tolerance): the grating sines are polynomials of the
fractional index rather than the C library's sine of ``pi n f``, and float32 sums are
accumulated in double precision.

Importing this module raises ImportError where the extension was not built (no compiler at
installation); the engine then uses the fused NumPy kernel
(:mod:`nbcupy.engine.kernels.numpy_fused`).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from nbcupy.engine.kernels._settings_sum import levels, settings_sum
from nbcupy.engine.kernels.cuda import kernel_applies, kernel_arguments
from nbcupy.engine.kernels.plain import LatticeTerms, same_crystal

__all__ = ["CpuSettingsSum", "applies", "levels", "LEVEL_NAMES"]

#: The instruction-set levels of :func:`levels`.
LEVEL_NAMES = {4: "x86-64-v4 (AVX-512)", 3: "x86-64-v3 (AVX2)", 2: "x86-64-v2 (SSE4.2)",
               0: "baseline"}

#: Whether the compiled kernel can evaluate given terms (the same rule as on the GPU).
applies = kernel_applies


class CpuSettingsSum:
    """Callable ``(dx, dy, dz) -> acc`` on NumPy arrays of ``dtype``: the compiled settings
    sum.  Thread-safe (it holds no per-call state).  ``level`` forces an instruction-set
    level of :func:`levels` (None: the best this CPU supports)."""

    def __init__(self, terms: LatticeTerms, dtype: Any, level: int | None = None) -> None:
        if not applies(terms):
            raise ValueError("the compiled settings sum does not apply to these terms")
        self.terms = terms
        self.dtype = np.dtype(dtype)
        args = kernel_arguments(terms, str(self.dtype))
        self.coef = np.ascontiguousarray(args["coef"].reshape(-1))
        self.offset = np.ascontiguousarray(args["offset"].reshape(-1))
        self.grid = np.ascontiguousarray(args["grid"].reshape(-1))
        self.recip = np.ascontiguousarray(args["recip"])
        self.scalars = tuple(v.item() for v in args["scalars"])
        self.level = -1 if level is None else int(level)

    def with_terms(self, terms: LatticeTerms) -> CpuSettingsSum:
        """The same sum for other crystal settings of the same crystal (another rotation):
        the padded grid is kept, only the settings' matrices are replaced."""
        if not same_crystal(terms, self.terms):
            return CpuSettingsSum(terms, self.dtype, None if self.level < 0 else self.level)
        other = copy.copy(self)
        other.terms = terms
        other.coef = np.ascontiguousarray(terms.coef, dtype=self.dtype).reshape(-1)
        other.offset = np.ascontiguousarray(terms.offset, dtype=self.dtype).reshape(-1)
        other.recip = np.ascontiguousarray(
            np.asarray(terms.recip, dtype=np.float64).reshape(-1), dtype=self.dtype)
        other.scalars = (int(terms.n_settings), *self.scalars[1:])
        return other

    def __call__(self, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray) -> np.ndarray:
        dt = self.dtype
        dx, dy, dz = (np.ascontiguousarray(v, dtype=dt).reshape(-1) for v in (dx, dy, dz))
        out = np.empty(dx.shape[0], dtype=dt)
        settings_sum(dx, dy, dz, self.coef, self.offset, self.grid, self.recip, out,
                     *self.scalars, level=self.level)
        return out
