"""What the engine prepares once per image before it evaluates any tile.

:class:`ImageContext` holds the simulation, the backend and precision, the crystal settings
and amplitudes moved to the device, the kernels chosen for this image, the per-image scale
factors and the memory budget.  Built by :func:`build_context`; read by the tile functions.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from nbcupy.backends import Backend, asarray
from nbcupy.engine import physics
from nbcupy.engine.crystal_settings import lattice_terms, needs_first_pass
from nbcupy.engine.kernels import KernelChoice, select_kernel
from nbcupy.engine.kernels.plain import DeviceTerms, LatticeTerms, to_device
from nbcupy.experiment.models import HKLGrid, Simulation


@dataclass
class ImageContext:
    """The per-image state of the engine.

    O, T, Q: sub-pixels per pixel edge, sensor layers, sample points per pixel (T O^2).
    terms / dev: the settings sum's inputs on the host and on the device; dev_first: those of
    the very first evaluation where nanoBragg's phi = 0 rule makes it differ (else None).
    grid: the amplitude grid's bounds (None without one).  incident, wavelengths: the sources
    on the device.  recurrence: an ``-oversample_*`` running sum is in force.  i_bg: water
    background per step (photons / (r_e^2 fluence)); scale: r_e^2 fluence / steps.
    interp_cutoff: loop-order index where interpolation switches off (set by the pre-pass).
    budget: bytes of temporaries per thread; max_elements: (sample x setting) elements per
    tile on the plain path.
    """

    sim: Simulation
    backend: Backend
    xp: Any
    dtype: Any
    threads: int
    O: int
    T: int
    Q: int
    terms: LatticeTerms
    dev: DeviceTerms
    dev_first: DeviceTerms | None
    grid: HKLGrid | None
    n_settings: int
    n_sources: int
    per_source: int
    incident: Any
    wavelengths: Any
    recurrence: bool
    i_bg: float
    scale: float
    kernel: KernelChoice
    budget: float
    max_elements: int
    interp_cutoff: int | None = None

    @property
    def interpolating(self) -> bool:
        """Tricubic interpolation on a grid is in force (the plain, ordered path)."""
        return self.grid is not None and self.sim.structure_factors.interpolate

    def conv(self, value: Any, dtype: Any = None) -> Any:
        """A host value on the device, in the engine's precision unless ``dtype`` is given."""
        return asarray(self.backend, value, self.dtype if dtype is None else dtype)


#: Bytes of temporaries per (sample x setting) element on the plain path.
BYTES_PER_ELEMENT = 96


#: The models an image's frame-independent parts are built from: two simulations that share
#: these (the same objects) differ only in the crystal's orientation and the spindle.
FRAME_INDEPENDENT = ("detector", "beam", "sources", "sampling", "structure_factors")


def shares_frame_independent_parts(a: Simulation, b: Simulation) -> bool:
    """Whether ``a`` and ``b`` hold the same detector, beam, sources, sampling and structure
    factors (the same model objects, as the frames of one series do) and the same defects
    setting, so that what was prepared for one serves the other."""
    return a.corrected == b.corrected and all(
        getattr(a, name) is getattr(b, name) for name in FRAME_INDEPENDENT)


def build_context(sim: Simulation, backend: Backend, dtype: str, memory_mb: float,
                  threads: int, kernel: str = "auto",
                  previous: ImageContext | None = None) -> ImageContext:
    """Prepare ``sim`` for rendering on ``backend`` in ``dtype`` with ``threads`` CPU threads,
    a budget of ``memory_mb`` MiB for temporaries (all threads together) and the kernel
    ``kernel`` (see :data:`nbcupy.engine.kernels.KERNEL_CHOICES`).

    ``previous``: the context of an image of another frame of the same series (built with the
    same arguments, :func:`shares_frame_independent_parts`); its frame-independent parts are
    reused: the amplitude grid on the device, the kernels' padded grid and compiled code, the
    fused geometry's scratch buffers.  Only the crystal settings are computed again.
    """
    if not (0.0 < memory_mb < math.inf):
        raise ValueError(f"memory budget must be a positive number of MiB, got {memory_mb}")
    xp = backend.xp
    dt = backend.dtype(dtype)
    samp = sim.sampling

    def conv(value: Any, d: Any) -> Any:
        return asarray(backend, value, d)

    terms = lattice_terms(sim)
    if previous is not None and not shares_frame_independent_parts(previous.sim, sim):
        previous = None
    if previous is not None:
        choice = previous.kernel
        if choice.settings_sum is not None:
            choice = dataclasses.replace(choice,
                                         settings_sum=choice.settings_sum.with_terms(terms))
        dev = to_device(terms, xp, dt, conv, previous=previous.dev)
    else:
        choice = select_kernel(sim, terms, backend, dtype, threads, kernel)
        dev = to_device(terms, xp, dt, conv)
    dev_first = None
    if needs_first_pass(sim):
        dev_first = to_device(lattice_terms(sim, first_pass=True), xp, dt, conv, previous=dev)
    i_bg = physics.water_background(samp.water_size, sim.beam.fluence, sim.corrected)
    if sim.corrected:  # added once per pixel, not once per step
        i_bg *= sim.steps
    budget = memory_mb * 2**20 / max(1, threads)
    O, T = samp.oversample, sim.detector.thicksteps
    return ImageContext(
        sim=sim, backend=backend, xp=xp, dtype=dt, threads=threads, O=O, T=T, Q=T * O * O,
        terms=terms, dev=dev, dev_first=dev_first, grid=terms.grid,
        n_settings=terms.n_settings, n_sources=sim.sources.count,
        per_source=terms.n_settings // sim.sources.count,
        incident=conv(-sim.sources.directions, dt), wavelengths=conv(sim.sources.wavelengths, dt),
        recurrence=samp.oversample_omega or samp.oversample_polar or samp.oversample_thick,
        i_bg=i_bg, scale=physics.R_E_SQR * sim.beam.fluence / sim.steps, kernel=choice,
        budget=budget, max_elements=max(int(budget / BYTES_PER_ELEMENT), 4096))
