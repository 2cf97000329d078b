"""Fused CUDA variant of the settings sum (:func:`~nbcupy.engine.kernels.plain.settings_sum_plain`).

One GPU thread per sample point loops over every crystal setting with all intermediates in
registers, so the memory is O(samples) whatever the number of steps, and each (sample,
setting) costs a few dozen flops and six ``sinpi`` instead of a dozen passes over memory.
The formulas are those of :func:`nbcupy.engine.physics.lattice_factor_squared` and
:func:`nbcupy.engine.amplitudes.nearest_amplitude`; the grating transform uses CUDA's
``sinpi`` on the fractional index (accurate in single precision for any h).  The sum runs in
double precision.  Results agree with the plain path to rounding, not bit for bit (the tests
compare them with a tolerance, and the source can be checked on the CPU, see
``tests/test_engine_fused.py``).

This module holds the kernel's source and its host-side arguments; compiling and launching it
goes through :mod:`nbcupy.backends` (the only place that imports CuPy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nbcupy.backends import Backend, asarray, compile_raw_kernel, contiguous
from nbcupy.engine.amplitudes import padded_grid
from nbcupy.engine.kernels.plain import LatticeTerms

#: Spot shapes as the kernel numbers them.
SHAPE_CODES = {"square": 0, "round": 1, "gauss": 2, "tophat": 3}
#: Threads per block.
THREADS_PER_BLOCK = 256

KERNEL_NAME = "nb_settings_sum"

#: The kernel, for REAL = float or double.  Plain C++ apart from the CUDA qualifiers, so that
#: the tests can compile it for the CPU with a few macros.
KERNEL_SOURCE = r"""
#if REAL_IS_DOUBLE
typedef double REAL;
#define R_SINPI sinpi
#define R_SIN sin
#define R_COS cos
#define R_CEIL ceil
#define R_SQRT sqrt
#define R_EXP exp
#define R_FMIN fmin
#define R_FMAX fmax
#else
typedef float REAL;
#define R_SINPI sinpif
#define R_SIN sinf
#define R_COS cosf
#define R_CEIL ceilf
#define R_SQRT sqrtf
#define R_EXP expf
#define R_FMIN fminf
#define R_FMAX fmaxf
#endif

/* sincg(pi h, n)^2 from the fractional index f = h - h0 */
__device__ __forceinline__ REAL nb_grating2(REAL f, REAL n)
{
    if (f == (REAL)0) return n * n;
    REAL r = R_SINPI(n * f) / R_SINPI(f);
    return r * r;
}

/* 3 (sin x / x - cos x) / x^2; its Taylor series near 0, as physics.sinc3 */
__device__ __forceinline__ REAL nb_sinc3(REAL x)
{
    const REAL limit = sizeof(REAL) == 8 ? (REAL)0.01 : (REAL)0.3;
    if (fabs((double)x) < (double)limit) {
        REAL x2 = x * x;
        return (REAL)1 - x2 * ((REAL)(1.0 / 10.0)
                               - x2 * ((REAL)(1.0 / 280.0) - x2 / (REAL)15120));
    }
    return (REAL)3 * (R_SIN(x) / x - R_COS(x)) / (x * x);
}

extern "C" __global__ void nb_settings_sum(
    const REAL* __restrict__ dx, const REAL* __restrict__ dy, const REAL* __restrict__ dz,
    const REAL* __restrict__ coef,      /* (3, 3, S): coef[(i*3 + c)*S + s] */
    const REAL* __restrict__ offset,    /* (3, S) */
    const REAL* __restrict__ grid,      /* padded flat amplitude grid (use_grid) */
    const REAL* __restrict__ recip,     /* 3x3 rows a*, b*, c* (1/A) */
    REAL* __restrict__ out,
    const long long n, const int S, const int shape,
    const REAL na, const REAL nb, const REAL nc, const REAL fudge, const REAL default_F,
    const int use_grid,
    const REAL h_lo, const REAL h_hi, const REAL k_lo, const REAL k_hi,
    const REAL l_lo, const REAL l_hi, const long long stride_k, const long long stride_l)
{
    const long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= n) return;
    const REAL x = dx[i], y = dy[i], z = dz[i];
    const REAL ncube = na * nb * nc;
    double acc = 0.0;
    for (int s = 0; s < S; ++s) {
        REAL frac[3], node[3];
        for (int a = 0; a < 3; ++a) {
            const REAL* c = coef + (long long)a * 3 * S;
            REAL h = x * c[s] + y * c[S + s];
            h = h + z * c[2 * S + s];
            h = h + offset[(long long)a * S + s];
            const REAL h0 = R_CEIL(h - (REAL)0.5);
            node[a] = h0;
            frac[a] = h - h0;
        }
        REAL latt;
        if (shape == 0) {
            latt = (REAL)1;
            if (na > (REAL)1) latt *= nb_grating2(frac[0], na);
            if (nb > (REAL)1) latt *= nb_grating2(frac[1], nb);
            if (nc > (REAL)1) latt *= nb_grating2(frac[2], nc);
        } else if (shape == 1) {
            const REAL hrad = frac[0] * frac[0] * (na * na) + frac[1] * frac[1] * (nb * nb)
                            + frac[2] * frac[2] * (nc * nc);
            const REAL f = (ncube * (REAL)0.723601254558268)
                         * nb_sinc3((REAL)3.14159265358979323846 * R_SQRT(hrad * fudge));
            latt = f * f;
        } else {
            const REAL sx = frac[0] * recip[0] + frac[1] * recip[3] + frac[2] * recip[6];
            const REAL sy = frac[0] * recip[1] + frac[1] * recip[4] + frac[2] * recip[7];
            const REAL sz = frac[0] * recip[2] + frac[1] * recip[5] + frac[2] * recip[8];
            const REAL rad = (sx * sx + sy * sy + sz * sz) * (na * na * nb * nb * nc * nc);
            if (shape == 2) {
                const REAL f = ncube * R_EXP(-(rad / (REAL)0.63 * fudge));
                latt = f * f;
            } else {
                latt = (rad * fudge < (REAL)0.3969) ? ncube * ncube : (REAL)0;
            }
        }
        if (use_grid) {
            /* nodes off the grid land on the padding, which holds default_F */
            const long long ih = (long long)(R_FMIN(R_FMAX(node[0], h_lo), h_hi) - h_lo);
            const long long ik = (long long)(R_FMIN(R_FMAX(node[1], k_lo), k_hi) - k_lo);
            const long long il = (long long)(R_FMIN(R_FMAX(node[2], l_lo), l_hi) - l_lo);
            const REAL F = grid[(ih * stride_k + ik) * stride_l + il];
            latt = latt * (F * F);
        }
        acc += (double)latt;
    }
    if (!use_grid) acc *= (double)default_F * (double)default_F;
    out[i] = (REAL)acc;
}
"""


def kernel_source(dtype: str) -> str:
    """The CUDA source for ``dtype`` (``float64`` or ``float32``)."""
    flag = 1 if dtype == "float64" else 0
    return f"#define REAL_IS_DOUBLE {flag}\n" + KERNEL_SOURCE


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
        if terms.shape not in SHAPE_CODES:
            raise ValueError(f"unknown crystal shape {terms.shape!r}")
        self.backend = backend
        self.dtype = np.dtype(dtype)
        self.terms = terms
        self.kernel = compile_raw_kernel(kernel_source(str(self.dtype)), KERNEL_NAME)
        args = kernel_arguments(terms, str(self.dtype))
        self.coef, self.offset, self.grid, self.recip = (
            asarray(backend, args[name]) for name in ("coef", "offset", "grid", "recip"))
        self.scalars = args["scalars"]

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
