"""The engine's kernels and the one function that chooses among them.

The plain Array-API reference (:func:`~nbcupy.engine.kernels.plain.settings_sum_plain`)
runs everywhere and is the arbiter.  Where nanoBragg's order-dependent rules do not apply
(:func:`fused_kernel_applies`) a fused kernel replaces it:

===============  =======  ====================================================================
kernel           backend  what
===============  =======  ====================================================================
``c-fused``      numpy    ``settings_sum_kernel.h`` compiled for the CPU (the C extension
                          ``_settings_sum``, :mod:`~nbcupy.engine.kernels.cpu`); chosen first
                          where the extension was built
``numpy-fused``  numpy    cache-blocked NumPy, bit-identical to the plain kernel
                          (:mod:`~nbcupy.engine.kernels.numpy_fused`); without the extension,
                          or on request
``cupy-fused``   cupy     the same kernel source as a CUDA kernel
                          (:mod:`~nbcupy.engine.kernels.cuda`)
===============  =======  ====================================================================

The host kernels come with the fused NumPy geometry of flat detectors
(:mod:`~nbcupy.engine.kernels.numpy_geometry`: one sample per pixel, or one sensor layer),
bit-identical to the plain geometry.  :func:`select_kernel` is the only place that decides
which of them an image uses.  The environment variable ``NBCUPY_KERNEL_COMPILED=0`` (or
false/no/off) keeps ``auto`` and ``fused`` off the compiled kernel.  Nothing heavy is imported
here: each kernel's module is imported when it is chosen.

Belongs here: implementations of the hot loops and their selection.  Does not: formulas
(those are in :mod:`nbcupy.engine.physics`), tiling, nanoBragg's order-dependent rules.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbcupy.backends import Backend
from nbcupy.engine.kernels.plain import LatticeTerms
from nbcupy.experiment.models import Simulation

#: What a caller may ask for (``EngineSettings.kernel``): ``auto`` (the best fused kernel
#: where one applies), ``plain`` (the reference everywhere), ``fused`` (like auto, but an
#: error where none applies) or one kernel by name (an error where it cannot run).
KERNEL_CHOICES = ("auto", "plain", "fused", "c-fused", "numpy-fused", "cupy-fused")
#: Environment switch of the compiled CPU kernel for ``auto`` and ``fused``.
COMPILED_ENV = "NBCUPY_KERNEL_COMPILED"


@dataclass(frozen=True)
class KernelChoice:
    """The kernels one image runs with.

    name: ``plain`` or one of the fused kernels of :data:`KERNEL_CHOICES`.  settings_sum:
    callable ``(dx, dy, dz) -> acc`` replacing the plain settings sum, or None.  on_host: it
    takes and returns NumPy arrays that the caller owns (the engine then applies the
    per-pixel factors in place).  flat_geometry: the fused geometry of one sample per pixel
    on a flat detector, or None.  sub_geometry: the fused geometry of oversampled whole rows,
    or None.
    """

    name: str = "plain"
    settings_sum: Callable[[Any, Any, Any], Any] | None = None
    on_host: bool = False
    flat_geometry: Any = None
    sub_geometry: Any = None


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
    return not (sf.interpolate and sf.grid is not None)


def compiled_enabled() -> bool:
    """False when ``NBCUPY_KERNEL_COMPILED`` switches the compiled kernel off."""
    value = os.environ.get(COMPILED_ENV, "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def select_kernel(sim: Simulation, terms: LatticeTerms, backend: Backend, dtype: str,
                  threads: int, request: str = "auto") -> KernelChoice:
    """The kernels for ``sim`` (with its settings-sum inputs ``terms``) on ``backend`` in
    ``dtype`` with ``threads`` CPU threads.

    ``request`` is one of :data:`KERNEL_CHOICES`.  Raises ValueError for an unknown name, and
    where ``fused`` or a named kernel is asked for but cannot run (interpolation, -dmin or
    -oversample_* need the plain kernel; the ``strict`` backend has none).
    """
    if request not in KERNEL_CHOICES:
        raise ValueError(f"unknown kernel {request!r}; choose one of {', '.join(KERNEL_CHOICES)}")
    if request == "plain":
        return KernelChoice()
    if not fused_kernel_applies(sim):
        if request == "auto":
            return KernelChoice()
        raise ValueError(f"no fused kernel for backend {backend.name!r} with these options "
                         "(interpolation, -dmin or -oversample_* need the plain kernel)")
    if backend.name == "numpy" and request in ("auto", "fused", "c-fused", "numpy-fused"):
        return _host_kernels(sim, terms, dtype, threads, request)
    if backend.name == "cupy" and request in ("auto", "fused", "cupy-fused"):
        from nbcupy.engine.kernels.cuda import CudaSettingsSum, kernel_applies

        if kernel_applies(terms):
            return KernelChoice("cupy-fused", CudaSettingsSum(terms, dtype, backend))
        if request == "auto":
            return KernelChoice()
        raise ValueError("the CUDA kernel does not cover these terms (a structure-factor "
                         "grid of 2^31 nodes or more)")
    if request == "auto":
        return KernelChoice()
    raise ValueError(f"no {request} kernel for backend {backend.name!r}")


def _host_kernels(sim: Simulation, terms: LatticeTerms, dtype: str, threads: int,
                  request: str) -> KernelChoice:
    """The compiled or the NumPy settings sum, with the fused geometry of flat detectors."""
    from nbcupy.engine.kernels import numpy_fused, numpy_geometry

    block = (numpy_fused.BLOCK_ELEMENTS if threads <= 1
             else numpy_fused.BLOCK_ELEMENTS_THREADED)
    det = sim.detector
    flat = sub = None
    if not det.curved and det.thicksteps == 1:
        if sim.sampling.oversample == 1:
            flat = numpy_geometry.NumpyFlatGeometry(det, sim.beam, -sim.sources.directions[0],
                                                    np.dtype(dtype), block)
        else:
            sub = numpy_geometry.NumpyOversampledGeometry(det, sim.sampling.oversample,
                                                          np.dtype(dtype), block)
    if request == "c-fused" or (request != "numpy-fused" and compiled_enabled()):
        compiled, why = _compiled_sum(terms, dtype)
        if compiled is not None:
            return KernelChoice("c-fused", compiled, True, flat, sub)
        if request == "c-fused":
            raise ValueError(why)
    return KernelChoice("numpy-fused", numpy_fused.NumpySettingsSum(terms, np.dtype(dtype), block),
                        True, flat, sub)


def _compiled_sum(terms: LatticeTerms, dtype: str) -> tuple[Callable[..., Any] | None, str]:
    """(the compiled CPU settings sum for ``terms``, "") or (None, why not)."""
    try:  # by name, so that a module taken out of sys.modules counts as missing
        cpu = importlib.import_module("nbcupy.engine.kernels.cpu")
    except ImportError:
        return None, ("the C extension nbcupy.engine.kernels._settings_sum is not available: "
                      "it is built when nbcupy is installed with a C compiler")
    if not cpu.applies(terms):
        return None, "the compiled kernel does not cover a structure-factor grid this large"
    return cpu.CpuSettingsSum(terms, dtype), ""
