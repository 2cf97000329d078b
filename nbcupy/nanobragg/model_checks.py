"""Checks of the experiment models themselves, for models built or changed by hand.

The builders (:mod:`nbcupy.nanobragg.build`) make only models that pass these checks, from
options that :func:`~nbcupy.nanobragg.options.validate_options` has checked.  A Python caller
may also build or change the models (``dataclasses.replace`` on ``Prepared.simulation``) and
pass them to :func:`nbcupy.simulate`, which runs :func:`check_simulation` first: finite
numbers, axes with a direction, counts of at least 1, positive wavelengths, a region of
interest on the detector with a pixel to simulate, and sizes that fit in memory
(:mod:`nbcupy.nanobragg.sizes`).  Each failure is an :class:`~nbcupy.errors.InputError`
naming the model's field.  The checks are cheap (no pass over the image or the
structure-factor grid), so a series can run them for every frame.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nbcupy.errors import InputError
from nbcupy.experiment.models import Simulation

__all__ = ["check_simulation"]

SHAPES = ("square", "round", "gauss", "tophat")


def _fail(field: str, text: str) -> None:
    raise InputError(f"{field}: {text}")


def _number(field: str, value: Any, low: float | None = None, low_open: bool = False) -> None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        _fail(field, f"expected a number, got {value!r}")
    if not math.isfinite(x):
        _fail(field, f"{value} is not a finite number")
    if low is not None and (x <= low if low_open else x < low):
        _fail(field, f"must be {'above' if low_open else 'at least'} {low:g}, got {x:g}")


def _count(field: str, value: Any) -> None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        _fail(field, f"expected a whole number, got {value!r}")
    if not (math.isfinite(x) and x.is_integer() and x >= 1):
        _fail(field, f"must be a whole number of at least 1, got {value!r}")


def _array(field: str, value: Any, shape: tuple[int | None, ...]) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.ndim != len(shape) or any(n is not None and a.shape[i] != n
                                   for i, n in enumerate(shape)):
        want = "x".join("n" if n is None else str(n) for n in shape)
        _fail(field, f"expected an array of shape {want}, got {a.shape}")
    if not np.isfinite(a).all():
        _fail(field, "holds a value that is not a finite number")
    return a


def _direction(field: str, value: Any) -> np.ndarray:
    v = _array(field, value, (3,))
    if not v.any():
        _fail(field, "a zero-length vector has no direction")
    return v


def check_simulation(sim: Simulation) -> None:
    """Refuse models no image can be simulated from (see the module docstring)."""
    beam, src, det, cr = sim.beam, sim.sources, sim.detector, sim.crystal
    _number("Beam.wavelength", beam.wavelength, 0.0, low_open=True)
    _number("Beam.fluence", beam.fluence, 0.0)
    _direction("Beam.direction", beam.direction)
    _array("Beam.polarization_axis", beam.polarization_axis, (3,))
    _number("Beam.kahn_factor", beam.kahn_factor)
    if not -1.0 <= float(beam.kahn_factor) <= 1.0:
        _fail("Beam.kahn_factor", f"must be between -1 and 1, got {beam.kahn_factor:g}")

    dirs = _array("Sources.directions", src.directions, (None, 3))
    lam = _array("Sources.wavelengths", src.wavelengths, (None,))
    if lam.shape[0] < 1 or dirs.shape[0] != lam.shape[0]:
        _fail("Sources", f"{dirs.shape[0]} directions and {lam.shape[0]} wavelengths; at least "
              "one source, with one wavelength each, is needed")
    if not (lam > 0).all():
        _fail("Sources.wavelengths", "every wavelength must be positive")
    if not np.any(dirs, axis=1).all():
        _fail("Sources.directions", "a zero-length direction has no direction")

    for name in ("fpixels", "spixels", "thicksteps"):
        _count(f"Detector.{name}", getattr(det, name))
    _number("Detector.pixel_size", det.pixel_size, 0.0, low_open=True)
    for name in ("thickness", "thickstep"):
        _number(f"Detector.{name}", getattr(det, name), 0.0)
    for name in ("mu", "distance", "close_distance"):
        _number(f"Detector.{name}", getattr(det, name))
    fdet = _direction("Detector.fdet", det.fdet)
    sdet = _direction("Detector.sdet", det.sdet)
    _direction("Detector.odet", det.odet)
    _array("Detector.pix0", det.pix0, (3,))
    if np.linalg.norm(np.cross(fdet / np.linalg.norm(fdet), sdet / np.linalg.norm(sdet))) < 1e-9:
        _fail("Detector.fdet, Detector.sdet", "the fast and slow axes are parallel: the "
              "detector has no area")

    cell = _array("Crystal.cell", cr.cell, (3, 3))
    if float(np.linalg.det(cell)) == 0.0:
        _fail("Crystal.cell", "the cell axes are coplanar (zero volume)")
    _array("Crystal.reciprocal", cr.reciprocal, (3, 3))
    for i, n in enumerate(cr.n_cells):
        _count(f"Crystal.n_cells[{i}]", n)
    if cr.shape not in SHAPES:
        _fail("Crystal.shape", f"expected one of {', '.join(SHAPES)}, got {cr.shape!r}")
    _number("Crystal.fudge", cr.fudge, 0.0, low_open=True)
    _number("StructureFactors.default_F", sim.structure_factors.default_F)

    sp = sim.spindle
    _count("Spindle.phisteps", sp.phisteps)
    _number("Spindle.phi0", sp.phi0)
    _number("Spindle.phistep", sp.phistep)
    _direction("Spindle.spindle_axis", sp.spindle_axis)
    umats = _array("Mosaic.umats", sim.mosaic.umats, (None, 3, 3))
    if umats.shape[0] < 1:
        _fail("Mosaic.umats", "at least one mosaic domain is needed")
    _number("Mosaic.spread", sim.mosaic.spread, 0.0)

    _check_sampling(sim)
    from nbcupy.nanobragg.sizes import check_image_size, check_settings_count

    check_image_size(det.fpixels, det.spixels)
    check_settings_count(src.count, sp.phisteps, sim.mosaic.domains)


def _check_sampling(sim: Simulation) -> None:
    samp, det = sim.sampling, sim.detector
    _count("Sampling.oversample", samp.oversample)
    if samp.oversample > 64:
        _fail("Sampling.oversample", f"more than 64 sub-pixels per edge is not supported, got "
              f"{samp.oversample}")
    _number("Sampling.dmin", samp.dmin, 0.0)
    _number("Sampling.water_size", samp.water_size, 0.0)
    if samp.roi is None:
        fmin, fmax, smin, smax = 0, det.fpixels - 1, 0, det.spixels - 1
    else:
        if len(samp.roi) != 4 or not all(float(v).is_integer() for v in samp.roi):
            _fail("Sampling.roi", f"expected four whole numbers fmin fmax smin smax, got "
                  f"{samp.roi!r}")
        fmin, fmax, smin, smax = (int(v) for v in samp.roi)
        if (fmin > fmax or smin > smax or fmin > det.fpixels - 1 or smin > det.spixels - 1
                or fmax < 0 or smax < 0):
            _fail("Sampling.roi", f"{fmin} {fmax} {smin} {smax} holds no pixel of the "
                  f"{det.fpixels}x{det.spixels} detector")
    if samp.mask is not None:
        mask = np.asarray(samp.mask)
        if mask.shape != (det.spixels, det.fpixels):
            _fail("Sampling.mask", f"shape {mask.shape} but the detector has (spixels, "
                  f"fpixels) = ({det.spixels}, {det.fpixels})")
        if not mask[max(smin, 0):smax + 1, max(fmin, 0):fmax + 1].any():
            _fail("Sampling.mask", "every pixel (of the ROI) is switched off: nothing to "
                  "simulate")
