"""Experiment models: frozen dataclasses in SI units, named as crystallographers name them.

The command line (or a Python caller) fills them in one place
(:mod:`nbcupy.nanobragg.build`); the engine reads only these.  Vectors are lab-frame numpy
arrays of shape (3,).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Beam:
    """The incident X-ray beam.

    wavelength: central wavelength (m).  fluence: photons per m^2 on the sample.
    direction: unit vector of propagation.  polarization_axis: unit E-vector direction.
    kahn_factor: degree of polarization K (0 = unpolarized, nanoBragg's default).
    polarization_enabled: False for ``-nopolar`` (factor 1 everywhere).
    """

    wavelength: float
    fluence: float
    direction: np.ndarray
    polarization_axis: np.ndarray
    kahn_factor: float = 0.0
    polarization_enabled: bool = True


@dataclass(frozen=True)
class Sources:
    """Point sources the beam is made of (divergence, dispersion or a source file).

    directions: (n, 3) unit vectors from the sample towards each source (the incident
    direction is minus this).  wavelengths: (n,) metres.  Every source counts equally, as in
    nanoBragg (file weights are read but not used).
    """

    directions: np.ndarray
    wavelengths: np.ndarray
    divergence_steps: int = 1

    @property
    def count(self) -> int:
        return int(self.wavelengths.shape[0])


@dataclass(frozen=True)
class Detector:
    """A flat (or spherical, ``curved``) pixel-array detector.

    fpixels, spixels: pixel counts along the fast and slow axes.  pixel_size (m).
    fdet, sdet, odet: unit fast, slow and normal axes after all rotations.
    pix0: vector from the sample to the corner of the first pixel (m).
    distance: sample to the direct-beam spot along the beam (m); close_distance: sample to the
    detector plane along its normal (m).  thickness (m) in ``thicksteps`` layers of
    ``thickstep`` (m) with attenuation coefficient ``mu`` (1/m).  point_pixel: solid angle
    1/R^2 instead of the pixel's.  The remaining fields describe the beam centre in the
    conventions' own terms, for headers and the summary (metres, pixels for ORGX/ORGY).
    """

    fpixels: int
    spixels: int
    pixel_size: float
    fdet: np.ndarray
    sdet: np.ndarray
    odet: np.ndarray
    pix0: np.ndarray
    distance: float
    close_distance: float
    convention: str = "mosflm"
    pivot: str = "beam"
    curved: bool = False
    point_pixel: bool = False
    thickness: float = 0.0
    thicksteps: int = 1
    thickstep: float = 0.0
    mu: float = 0.0
    twotheta: float = 0.0
    xbeam: float = 0.0
    ybeam: float = 0.0
    fbeam: float = 0.0
    sbeam: float = 0.0
    xclose: float = 0.0
    yclose: float = 0.0
    fclose: float = 0.0
    sclose: float = 0.0
    orgx: float = 0.0
    orgy: float = 0.0
    dials_origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    detsize: tuple[float, float] | None = None  # (fast, slow) size (m) nanoBragg keeps

    @property
    def size_f(self) -> float:
        """Detector width along the fast axis (m): ``-detsize`` as given (nanoBragg keeps it
        when it is not a whole number of pixels), else pixels x pixel size."""
        return self.detsize[0] if self.detsize else self.pixel_size * self.fpixels

    @property
    def size_s(self) -> float:
        """Detector height along the slow axis (m), as :attr:`size_f`."""
        return self.detsize[1] if self.detsize else self.pixel_size * self.spixels


@dataclass(frozen=True)
class HKLGrid:
    """Dense structure-factor amplitudes on a box of Miller indices, laid out like nanoBragg's
    ``Fhkl``.

    ``F[h - h_min, k - k_min, l - l_min]`` is the amplitude (electrons) of reflection (h, k, l)
    for ``h_min <= h <= h_max`` etc.  The array has shape ``(h_range + 1, k_range + 1,
    l_range + 1)`` with ``h_range = h_max - h_min + 1``: nanoBragg allocates one extra plane at
    the high end of each axis, which holds 0.0 and is written to / read from ``Fdump.bin`` as
    well.  ``hkls`` is nanoBragg's count of "initialized hkls": the number of reflections read
    from a file, or ``h_range * k_range * l_range`` for a grid read back from a dump file.
    """

    F: np.ndarray
    h_min: int
    h_max: int
    k_min: int
    k_max: int
    l_min: int
    l_max: int
    hkls: int

    @property
    def h_range(self) -> int:
        """Number of h planes actually covered (``h_max - h_min + 1``)."""
        return self.h_max - self.h_min + 1

    @property
    def k_range(self) -> int:
        """Number of k planes actually covered (``k_max - k_min + 1``)."""
        return self.k_max - self.k_min + 1

    @property
    def l_range(self) -> int:
        """Number of l planes actually covered (``l_max - l_min + 1``)."""
        return self.l_max - self.l_min + 1

    @property
    def ranges(self) -> tuple[int, int, int]:
        """nanoBragg's h_range, k_range, l_range."""
        return self.h_range, self.k_range, self.l_range

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the stored array ``F`` (one padding plane more than the ranges)."""
        return tuple(int(n) for n in self.F.shape)  # type: ignore[return-value]


@dataclass(frozen=True)
class StructureFactors:
    """The crystal's structure-factor amplitudes.

    grid: amplitudes on a box of Miller indices (:class:`HKLGrid`), or None when only
    ``default_F`` is used.  default_F: amplitude (electrons) of every reflection not on the
    grid.  interpolate: tricubic interpolation between grid nodes.
    """

    default_F: float = 0.0
    grid: HKLGrid | None = None
    interpolate: bool = False

    @property
    def hkls(self) -> int:
        """nanoBragg's count of initialized reflections (0 without a grid)."""
        return 0 if self.grid is None else self.grid.hkls


@dataclass(frozen=True)
class Crystal:
    """A nanocrystal: its cell at phi = 0 and its shape.

    cell: 3x3 array whose rows are the real-space axes a, b, c (m) in the lab frame, after
    any misset.  reciprocal: 3x3, rows a*, b*, c* (1/Angstrom).  n_cells: (Na, Nb, Nc).
    shape: ``square``, ``round``, ``gauss`` or ``tophat``; fudge scales the spot radius.
    cell_parameters: a, b, c (Angstrom) and alpha, beta, gamma (degrees) as built.
    """

    cell: np.ndarray
    reciprocal: np.ndarray
    n_cells: tuple[float, float, float]
    shape: str = "square"
    fudge: float = 1.0
    cell_parameters: tuple[float, ...] = ()
    misset_deg: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Spindle:
    """The spindle rotation during one exposure: ``phisteps`` steps of ``phistep`` (rad) from
    ``phi0`` (rad) about the unit ``spindle_axis``; ``osc`` is the exposure's whole range (rad).

    (A series of exposures, what dxtbx calls a scan, is a sequence of these.)"""

    phi0: float = 0.0
    phistep: float = 0.0
    phisteps: int = 1
    osc: float = 0.0
    spindle_axis: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))

    @property
    def phi_values(self) -> np.ndarray:
        """The phi of every step (rad)."""
        return self.phi0 + self.phistep * np.arange(self.phisteps, dtype=np.float64)


@dataclass(frozen=True)
class Mosaic:
    """Mosaic domains: ``umats`` (n, 3, 3) rotations, the first the identity; spread (rad)."""

    spread: float = 0.0
    umats: np.ndarray = field(default_factory=lambda: np.eye(3)[None])

    @property
    def domains(self) -> int:
        return int(self.umats.shape[0])


@dataclass(frozen=True)
class Sampling:
    """How each pixel is sampled and which pixels are rendered.

    oversample: sub-pixels per pixel edge.  oversample_omega / _polar / _thick: evaluate that
    factor for every sub-pixel (nanoBragg's running-sum rule) instead of once per pixel.
    roi: (fmin, fmax, smin, smax) inclusive pixel bounds.  mask: (spixels, fpixels) bool, True
    where a pixel is rendered, or None.  dmin: resolution limit (m), 0 = none.
    water_size: thickness of the water background (m).
    """

    oversample: int = 1
    oversample_omega: bool = False
    oversample_polar: bool = False
    oversample_thick: bool = False
    roi: tuple[int, int, int, int] | None = None
    mask: np.ndarray | None = None
    dmin: float = 0.0
    water_size: float = 0.0
    recommended_oversample: int = 1


@dataclass(frozen=True)
class Simulation:
    """Everything one image needs.  ``corrected`` marks models built with nanoBragg's known
    defects corrected instead of reproduced."""

    beam: Beam
    sources: Sources
    detector: Detector
    crystal: Crystal
    structure_factors: StructureFactors
    spindle: Spindle
    mosaic: Mosaic
    sampling: Sampling
    corrected: bool = False

    @property
    def steps(self) -> int:
        """nanoBragg's divisor: sources x mosaic domains x phi steps x oversample^2."""
        return (self.sources.count * self.mosaic.domains * self.spindle.phisteps
                * self.sampling.oversample ** 2)
