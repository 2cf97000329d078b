"""Which settings-sum kernel the engine runs: the one selection function.

The plain Array-API reference (:func:`nbcupy.kernels.settings_sum_plain`) runs everywhere and
is the arbiter.  Where nanoBragg's order-dependent rules do not apply
(:func:`nbcupy.engine.fused_kernel_applies`) a fused kernel replaces it:

==============  =========  =====================================================================
kernel          backend    what
==============  =========  =====================================================================
``c-fused``     numpy      ``nbcupy/settings_sum_kernel.h`` compiled for the CPU (the C
                           extension :mod:`nbcupy._settings_sum`, :mod:`nbcupy.kernels_cpu`);
                           chosen first where the extension was built
``numpy-fused`` numpy      cache-blocked NumPy, bit-identical to the plain kernel
                           (:mod:`nbcupy.kernels_numpy`); without the extension, or on request
``cupy-fused``  cupy       the same kernel source as a CUDA kernel (:mod:`nbcupy.kernels_cupy`)
==============  =========  =====================================================================

The host kernels come with the fused NumPy geometry of flat detectors
(:class:`nbcupy.kernels_numpy.NumpyFlatGeometry` for one sample per pixel,
:class:`~nbcupy.kernels_numpy.NumpyOversampledGeometry` for one sensor layer), which is
bit-identical to the plain geometry.

The environment variable ``NBCUPY_KERNEL_COMPILED=0`` (or false/no/off) keeps ``auto`` and
``fused`` off the compiled kernel (the NumPy kernels then run, as without a compiler).
Nothing heavy is imported here: each kernel's module is imported when it is chosen.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The values of ``EngineSettings.kernel``: ``auto`` (the best fused kernel where one applies),
#: ``plain`` (the reference everywhere), ``fused`` (like auto, but an error where none
#: applies) or one kernel by name (an error where it cannot run).
KERNEL_CHOICES = ("auto", "plain", "fused", "c-fused", "numpy-fused", "cupy-fused")
#: Environment switch of the compiled CPU kernel for ``auto`` and ``fused``.
COMPILED_ENV = "NBCUPY_KERNEL_COMPILED"


@dataclass(frozen=True)
class FusedKernel:
    """A chosen fused kernel.

    name: as in :data:`KERNEL_CHOICES`.  settings_sum: ``(dx, dy, dz) -> acc`` on the
    backend's arrays.  on_host: it takes and returns NumPy arrays that the caller owns (the
    engine applies the per-pixel factors in place).  flat_geometry / sub_geometry: the fused
    geometry of flat detectors, or None.
    """

    name: str
    settings_sum: Callable[[Any, Any, Any], Any]
    on_host: bool
    flat_geometry: Any = None
    sub_geometry: Any = None


def compiled_enabled() -> bool:
    """False when ``NBCUPY_KERNEL_COMPILED`` switches the compiled kernel off."""
    value = os.environ.get(COMPILED_ENV, "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def _compiled_sum(terms: Any, dtype: str) -> tuple[Callable[[Any, Any, Any], Any] | None, str]:
    """(the compiled CPU settings sum for ``terms``, "") or (None, why not)."""
    try:
        kernels_cpu = importlib.import_module("nbcupy.kernels_cpu")
    except ImportError:
        return None, ("the C extension nbcupy._settings_sum is not available: it is built "
                      "when nbcupy is installed with a C compiler")
    if not kernels_cpu.applies(terms):
        return None, "the compiled kernel does not cover a structure-factor grid this large"
    return kernels_cpu.CpuSettingsSum(terms, dtype), ""


def _host_geometry(sim: Any, dtype: str, block: int) -> tuple[Any, Any]:
    """(flat_geometry, sub_geometry) for the host kernels, each or both None."""
    from nbcupy import kernels_numpy

    det = sim.detector
    O, T = sim.sampling.oversample, det.thicksteps
    if det.curved:
        return None, None
    if O == 1 and T == 1:
        return kernels_numpy.NumpyFlatGeometry(det, sim.beam, -sim.sources.directions[0],
                                               dtype, block), None
    if T == 1:
        return None, kernels_numpy.NumpyOversampledGeometry(det, O, dtype, block)
    return None, None


def choose_fused_kernel(sim: Any, terms: Any, backend: str, dtype: str, threads: int,
                        requested: str = "auto") -> FusedKernel | None:
    """The fused kernel that evaluates the settings sum of ``sim`` (with its
    :class:`nbcupy.kernels.LatticeTerms` ``terms``) on ``backend`` in ``dtype`` with
    ``threads`` worker threads, or None for the plain reference.

    ``requested`` is ``EngineSettings.kernel``.  Raises ValueError for an unknown name, and
    where ``fused`` or a named kernel is asked for but cannot run.
    """
    if requested not in KERNEL_CHOICES:
        raise ValueError(f"unknown kernel {requested!r}; choose one of "
                         f"{', '.join(KERNEL_CHOICES)}")
    if requested == "plain":
        return None
    from nbcupy.engine import fused_kernel_applies

    if not fused_kernel_applies(sim):
        if requested == "auto":
            return None
        raise ValueError(f"no fused kernel for backend {backend!r} with these options "
                         "(interpolation, -dmin or -oversample_* need the plain kernel)")
    if backend == "numpy" and requested in ("auto", "fused", "c-fused", "numpy-fused"):
        from nbcupy import kernels_numpy

        block = (kernels_numpy.BLOCK_ELEMENTS if threads <= 1
                 else kernels_numpy.BLOCK_ELEMENTS_THREADED)
        flat, sub = _host_geometry(sim, dtype, block)
        if requested == "c-fused" or (requested != "numpy-fused" and compiled_enabled()):
            compiled, why = _compiled_sum(terms, dtype)
            if compiled is not None:
                return FusedKernel("c-fused", compiled, True, flat, sub)
            if requested == "c-fused":
                raise ValueError(why)
        fused = kernels_numpy.NumpySettingsSum(terms, dtype, block)
        return FusedKernel("numpy-fused", fused, True, flat, sub)
    if backend == "cupy" and requested in ("auto", "fused", "cupy-fused"):
        from nbcupy.kernels_cupy import CupySettingsSum, kernel_applies

        if kernel_applies(terms):
            return FusedKernel("cupy-fused", CupySettingsSum(terms, dtype), False)
        if requested == "auto":
            return None
        raise ValueError("the CUDA kernel does not cover these terms (a structure-factor "
                         "grid of 2^31 nodes or more)")
    if requested == "auto":
        return None
    raise ValueError(f"no {requested} kernel for backend {backend!r}")
