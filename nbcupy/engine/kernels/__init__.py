"""The engine's kernels and the one function that chooses among them.

* :mod:`~nbcupy.engine.kernels.plain`: the settings sum in portable Array-API operations, the
  reference every other kernel is tested against (it runs on every backend).
* :mod:`~nbcupy.engine.kernels.numpy_fused`: the same sum on NumPy, cache-blocked into
  per-thread scratch buffers, bit-identical to the plain one.
* :mod:`~nbcupy.engine.kernels.numpy_geometry`: fused, bit-identical sample geometry for flat
  detectors on NumPy.
* :mod:`~nbcupy.engine.kernels.cuda`: the sum as one CUDA kernel (CuPy), equal to the plain one
  to rounding.

:func:`select_kernel` is the only place that decides which of them an image uses.  Belongs
here: implementations of the hot loops and their selection.  Does not: formulas (those are in
:mod:`nbcupy.engine.physics`), tiling, nanoBragg's order-dependent rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbcupy.backends import Backend
from nbcupy.engine.kernels.plain import LatticeTerms
from nbcupy.experiment.models import Simulation

#: What a caller may ask for: ``auto`` (the backend's fused kernels where they apply),
#: ``plain`` (the Array-API reference everywhere) or ``fused`` (like auto, but an error where
#: no fused kernel applies).
KERNEL_CHOICES = ("auto", "plain", "fused")


@dataclass(frozen=True)
class KernelChoice:
    """The kernels one image runs with.

    name: ``plain``, ``numpy-fused`` or ``cupy-fused``.  settings_sum: callable
    ``(dx, dy, dz) -> acc`` replacing the plain settings sum, or None.  flat_geometry: the
    fused geometry of one sample per pixel on a flat detector
    (:class:`~nbcupy.engine.kernels.numpy_geometry.NumpyFlatGeometry`), or None.
    sub_geometry: the fused geometry of oversampled whole rows
    (:class:`~nbcupy.engine.kernels.numpy_geometry.NumpyOversampledGeometry`), or None.
    """

    name: str = "plain"
    settings_sum: Callable[[Any, Any, Any], Any] | None = None
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


def select_kernel(sim: Simulation, terms: LatticeTerms, backend: Backend, dtype: str,
                  threads: int, request: str = "auto") -> KernelChoice:
    """The kernels for ``sim`` on ``backend`` in ``dtype`` with ``threads`` CPU threads.

    ``request`` is one of :data:`KERNEL_CHOICES`; ``fused`` raises ValueError where no fused
    kernel applies (interpolation, -dmin or -oversample_* need the plain kernel, and the
    ``strict`` backend has none).
    """
    if request not in KERNEL_CHOICES:
        raise ValueError(f"unknown kernel {request!r}; choose one of {', '.join(KERNEL_CHOICES)}")
    choice = KernelChoice()
    if request != "plain" and fused_kernel_applies(sim):
        if backend.name == "numpy":
            choice = _numpy_kernels(sim, terms, dtype, threads)
        elif backend.name == "cupy":
            from nbcupy.engine.kernels.cuda import CudaSettingsSum

            choice = KernelChoice("cupy-fused", CudaSettingsSum(terms, dtype, backend))
    if request == "fused" and choice.settings_sum is None:
        raise ValueError(f"no fused kernel for backend {backend.name!r} with these options "
                         "(interpolation, -dmin or -oversample_* need the plain kernel)")
    return choice


def _numpy_kernels(sim: Simulation, terms: LatticeTerms, dtype: str,
                   threads: int) -> KernelChoice:
    """The fused NumPy settings sum, and a fused geometry where the detector is flat."""
    from nbcupy.engine.kernels import numpy_fused, numpy_geometry

    block = (numpy_fused.BLOCK_ELEMENTS if threads <= 1
             else numpy_fused.BLOCK_ELEMENTS_THREADED)
    det = sim.detector
    flat = sub = None
    samples_per_pixel = det.thicksteps * sim.sampling.oversample ** 2
    if samples_per_pixel == 1 and not det.curved:
        flat = numpy_geometry.NumpyFlatGeometry(det, sim.beam, -sim.sources.directions[0],
                                                np.dtype(dtype), block)
    elif det.thicksteps == 1 and not det.curved:
        sub = numpy_geometry.NumpyOversampledGeometry(det, sim.sampling.oversample,
                                                      np.dtype(dtype), block)
    return KernelChoice("numpy-fused", numpy_fused.NumpySettingsSum(terms, np.dtype(dtype), block),
                        flat, sub)
