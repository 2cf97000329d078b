"""Checks of :class:`~nbcupy.nanobragg.options.Options` that look at more than one number.

:func:`~nbcupy.nanobragg.options.validate_options` runs them after its range checks, so they
apply to flags, SMV headers and Python callers alike: counts (cells, steps, layers, domains,
sub-pixels), the unit cell, the misset, the given axes, the region of interest, and the
combinations nanoBragg.c quietly completes or overrides (a step count it ignores, a range it
invents, a range spanned by one point, ``-flux`` that is not used).  Where nanoBragg.c runs
such input anyway, the refusal is an :class:`~nbcupy.errors.InputRefused` whose message says
what nanoBragg.c would have done; README ("differs on purpose") lists them all.

Units as in :class:`~nbcupy.nanobragg.options.Options`: metres, radians, fractions; messages
show the flags' units (mm, deg, mrad, um, %).
"""

from __future__ import annotations

import math
from typing import Any

from nbcupy.errors import InputError, InputRefused

__all__ = ["COUNTS", "VECTOR_FLAGS", "check_count", "check_cell", "check_misset",
           "check_vectors", "check_roi", "check_steps", "check_flux"]

RTD = 180.0 / math.pi

#: count fields of Options: field -> (flag, what nanoBragg.c does with a value below 1)
COUNTS: dict[str, tuple[str, str]] = {
    "na": ("-Na", "nanoBragg.c would use 1"),
    "nb": ("-Nb", "nanoBragg.c would use 1"),
    "nc": ("-Nc", "nanoBragg.c would use 1"),
    "phisteps": ("-phisteps", "nanoBragg.c would use 1"),
    "mosaic_domains": ("-mosaic_dom", "nanoBragg.c would use 10 with a mosaic spread"),
    "oversample": ("-oversample", "nanoBragg.c would choose one; leave -oversample out for "
                   "that"),
    "detector_thicksteps": ("-detector_thicksteps", "nanoBragg.c would choose the layers; "
                            "leave it out for that"),
    "dispsteps": ("-dispsteps", "nanoBragg.c would choose the number; leave it out for that"),
    "hdivsteps": ("-hdivsteps", "nanoBragg.c would choose the number; leave it out for that"),
    "vdivsteps": ("-vdivsteps", "nanoBragg.c would choose the number; leave it out for that"),
}
#: the crystal's cells: their unset value is 1, and 0 is nanoBragg's documented way to ask for
#: one isolated unit cell (it simulates 0 and 1 alike), so only a negative count is refused
_CELL_COUNTS = ("na", "nb", "nc")

#: Options.vectors key -> (flag, what nanoBragg.c does with a zero-length vector)
VECTOR_FLAGS: dict[str, tuple[str, str]] = {
    "fdet": ("-fdet_vector", "nanoBragg.c would put every pixel of a row in one place"),
    "sdet": ("-sdet_vector", "nanoBragg.c would put every pixel of a column in one place"),
    "odet": ("-odet_vector", "nanoBragg.c would replace it with fast x slow"),
    "beam": ("-beam_vector", "nanoBragg.c would use a beam without direction"),
    "spindle": ("-spindle_axis", "nanoBragg.c would not rotate the crystal at all"),
    "twotheta": ("-twotheta_axis", "nanoBragg.c would shrink the detector axes instead of "
                 "rotating them"),
    "polar": ("-polar_vector", "nanoBragg.c would treat every ray as lying in the E-plane "
              "and lose the divergence"),
    "pix0": ("-pix0_vector", ""),
}


def _shown(value: Any) -> str:
    value = float(value)
    return f"{value:g}" if not value.is_integer() else str(int(value))


def check_count(attr: str, value: Any, flag: str | None = None, given: bool = False) -> None:
    """A count of :data:`COUNTS`: a whole number of at least 1, or for the cells 0 or more
    (``None``, or except for the cells a negative number, means "not given" in Options;
    ``given``: the value was typed after a flag, so a negative one is refused too).
    ``flag``: the flag as typed, for the message (default: the field's own flag)."""
    name, fixed = COUNTS[attr]
    name = flag or name
    if value is None:
        return
    number = float(value)
    if not math.isfinite(number) or not number.is_integer():
        raise InputError(f"{name}: expected a whole number, got {value!r} (Options.{attr})")
    if attr in _CELL_COUNTS:
        if number < 0:
            raise InputRefused(f"{name}: must be 0 or more, got {_shown(value)} (0 and 1 are "
                               f"one isolated unit cell; {fixed}; Options.{attr})")
        return
    if number < 0 and not given:
        return
    if number < 1:
        raise InputRefused(f"{name}: must be at least 1, got {_shown(value)} ({fixed}; "
                           f"Options.{attr})")


def check_cell(cell: Any) -> None:
    """``-cell``: six finite numbers, edges a, b, c (Angstrom) inside 0.1..100000 A, angles
    alpha, beta, gamma (radians) strictly between 0 and 180 degrees that form a cell (each
    smaller than the other two together and the three less than 360 degrees: the volume
    factor 1 - cos^2 alpha - cos^2 beta - cos^2 gamma + 2 cos alpha cos beta cos gamma > 0)."""
    names = ("a", "b", "c", "alpha", "beta", "gamma")
    if len(cell) != 6:
        raise InputError(f"-cell: expected a b c alpha beta gamma, got {len(cell)} numbers "
                         "(Options.cell)")
    for name, value in zip(names, cell, strict=True):
        if not math.isfinite(float(value)):
            raise InputError(f"-cell {name}: {value} is not a finite number (Options.cell)")
    for name, value in zip(names[:3], cell[:3], strict=True):
        if value <= 0:
            fixed = ("" if name == "a" else
                     "; nanoBragg.c would quietly use a instead")
            cls = InputError if name == "a" else InputRefused
            raise cls(f"-cell: cell edge {name} must be positive, got {value:g} A{fixed}")
        if not 0.1 <= value <= 1e5:
            raise InputError(f"-cell {name}: {value:g} A is outside the plausible range "
                             "(0.1 to 100000 A; Options.cell lengths are in Angstrom)")
    for name, value in zip(names[3:], cell[3:], strict=True):
        if value >= math.pi:
            raise InputError(f"-cell {name}: {math.degrees(value):g} deg is not below "
                             "180 deg (Options.cell angles are in radians)")
        if value <= 0:
            raise InputRefused(f"-cell {name}: must be above 0 deg, got {math.degrees(value):g}"
                               " deg (nanoBragg.c would quietly use 90)")
    ca, cb, cg = (math.cos(x) for x in cell[3:])
    if 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg <= 1e-12:
        angles = " ".join(f"{math.degrees(x):g}" for x in cell[3:])
        raise InputRefused(f"-cell: the angles {angles} deg do not form a cell (each must be "
                           "smaller than the other two together, and the three less than "
                           "360 deg); nanoBragg.c would simulate a cell of another shape")


def check_misset(misset: Any) -> None:
    """``-misset``: three finite angles (radians)."""
    if len(misset) != 3:
        raise InputError(f"-misset: expected rotx roty rotz, got {len(misset)} numbers "
                         "(Options.misset)")
    for value in misset:
        if not math.isfinite(float(value)):
            raise InputError(f"-misset: {value} is not a finite number (Options.misset)")


def check_vectors(vectors: dict) -> None:
    """The given axes (``Options.vectors``): known names, three finite numbers each, and a
    direction: a zero-length axis is refused, and one whose length lies outside 1e-6..1e6
    (nanoBragg uses ``-twotheta_axis`` as given, so its length scales the detector).
    ``-pix0_vector``, a position, may be zero."""
    for key, value in vectors.items():
        if key not in VECTOR_FLAGS:
            raise InputError(f"Options.vectors: unknown vector {key!r}; known: "
                             f"{', '.join(VECTOR_FLAGS)}")
        flag, fixed = VECTOR_FLAGS[key]
        try:
            numbers = [float(x) for x in value]
        except (TypeError, ValueError):
            raise InputError(f"{flag}: expected three numbers x y z, got {value!r} "
                             f"(Options.vectors[{key!r}])") from None
        if len(numbers) != 3:
            raise InputError(f"{flag}: expected three numbers x y z, got {len(numbers)} "
                             f"(Options.vectors[{key!r}])")
        if not all(math.isfinite(x) for x in numbers):
            raise InputError(f"{flag}: {' '.join(map(str, numbers))} is not finite "
                             f"(Options.vectors[{key!r}])")
        if key == "pix0":
            continue
        if not any(numbers):
            raise InputRefused(f"{flag} 0 0 0: a zero-length vector has no direction "
                               f"({fixed})")
        length = math.hypot(*numbers)
        if not 1e-6 <= length <= 1e6:
            raise InputError(f"{flag} {' '.join(f'{x:g}' for x in numbers)}: a length of "
                             f"{length:g} is outside the plausible range 1e-06 to 1e+06 for a "
                             "direction (give a unit vector)")


def check_roi(roi: Any) -> None:
    """``-roi xmin xmax ymin ymax``: four whole numbers (pixels, inclusive; a negative bound
    means the detector's edge) with min <= max where both are given."""
    if len(roi) != 4:
        raise InputError(f"-roi: expected xmin xmax ymin ymax, got {len(roi)} numbers "
                         "(Options.roi)")
    for value in roi:
        number = float(value)
        if not (math.isfinite(number) and number.is_integer()):
            raise InputError(f"-roi: {value!r} is not a whole number of pixels (Options.roi)")
    xmin, xmax, ymin, ymax = (int(v) for v in roi)
    if (xmax >= 0 and xmin > xmax) or (ymax >= 0 and ymin > ymax):
        raise InputError(f"-roi: expected xmin xmax ymin ymax with min <= max, got "
                         f"{xmin} {xmax} {ymin} {ymax}")


def _span(flag_steps: str, flag_range: str, steps: int, range_: float, unit: str,
          scale: float, what: str) -> None:
    """One point cannot span a range: nanoBragg.c would make it two."""
    if steps == 1 and range_ > 0.0:
        raise InputRefused(
            f"{flag_steps} 1 cannot span {flag_range} {range_ * scale:g} {unit}: nanoBragg.c "
            f"would use 2 {what}; give 2 or more, or leave {flag_steps} out")


def check_steps(opts: Any) -> None:
    """nanoBragg.c's (range, step, count) rules where they quietly override what was given:
    a count it ignores (a step without a range), a range it invents (a count alone: 1 radian
    of divergence), a range spanned by one point (it uses two), and a sensor of one layer
    (two layers, twice as thick)."""
    for axis in ("h", "v"):
        steps = getattr(opts, f"{axis}divsteps")
        range_ = getattr(opts, f"{axis}divrange")
        step = getattr(opts, f"{axis}divstep")
        fs, fr, fst = f"-{axis}divsteps", f"-{axis}divrange", f"-{axis}divstep"
        if steps > 0 and range_ < 0.0 and step <= 0.0:
            raise InputRefused(
                f"{fs} {steps} (or -divsteps) without {fr} or {fst}: nanoBragg.c would invent "
                f"a divergence range of 1 radian (57 deg); give {fr} or -divergence (mrad)")
        if steps > 0 and range_ < 0.0 and step > 0.0 and steps != 2:
            raise InputRefused(
                f"{fs} {steps} with {fst} {step * 1e3:g} mrad but no {fr}: nanoBragg.c would "
                f"ignore {steps} and use 2 points; give {fr} {step * (steps - 1) * 1e3:g} "
                f"for {steps} points")
        _span(fs, fr, steps, range_, "mrad", 1e3, "points, one at each end")
    _span("-dispsteps", "-dispersion", opts.dispsteps, opts.dispersion, "%", 100.0,
          "wavelengths, one at each end")
    if opts.detector_thicksteps == 1 and opts.detector_thick > 0.0:
        um = opts.detector_thick * 1e6
        raise InputRefused(
            f"-detector_thicksteps 1 with -detector_thick {um:g} um: nanoBragg.c would use 2 "
            f"layers of {um:g} um, a sensor twice as thick; give 2 or more layers, or leave "
            "-detector_thicksteps out")
    if opts.phisteps > 0 and opts.osc < 0.0 and opts.phistep > 0.0 and opts.phisteps != 2:
        deg = opts.phistep * RTD
        raise InputRefused(
            f"-phisteps {opts.phisteps} with -phistep {deg:g} deg but no -osc: nanoBragg.c "
            f"would ignore {opts.phisteps} and use 2 steps; give -osc "
            f"{deg * opts.phisteps:g} for {opts.phisteps} steps")


def check_flux(opts: Any) -> None:
    """``-flux``: it makes the fluence flux x exposure / beamsize^2 only with an exposure and
    a beam size above 0, and replaces any ``-fluence``."""
    if opts.flux == 0.0:
        return
    flux = f"-flux {opts.flux:g}"
    if not opts.exposure > 0.0:
        raise InputRefused(f"{flux} with -exposure {opts.exposure:g} s: nanoBragg.c would "
                           "ignore -flux and use the default fluence; give -exposure > 0")
    if opts.beamsize == 0.0:
        raise InputRefused(f"{flux} with -beamsize 0: the fluence flux x exposure / "
                           "beamsize^2 would be infinite; give -beamsize (mm) > 0")
    if opts.beamsize < 0.0:
        raise InputRefused(f"{flux} with -beamsize {opts.beamsize * 1e3:g} mm: nanoBragg.c "
                           "would ignore -flux and use the default fluence; give -beamsize "
                           "(mm) > 0")
    if opts.fluence is not None:
        raise InputRefused(f"{flux} and -fluence {opts.fluence:g} both set the fluence; "
                           "nanoBragg.c would ignore -fluence; give one of them")
