"""nanoBragg's command-line flags: one table, an exact parser, and the grouped help text.

Every flag nanoBragg.c parses is listed here, with its synonyms, arguments, units and what it
does.  Each is either implemented (``ok``), accepted although nanoBragg itself never lets it
change the image (``noeffect``; a note says so), or refused with a reason (``refused``).
Matching is exact: unlike nanoBragg's substring matching, ``-misset_seed`` never triggers
``-misset`` and an unknown flag is an error that names the closest known flags.  The
spellings nanoBragg's own README, help text and example command lines use are all in the
table: those that nanoBragg.c's substring matching maps onto one of its flags (``-matrix``
reads as ``-mat``, ``-adcoffset`` as ``-adc``) are synonyms, and those it matches to no flag
at all, so that it skips them and their values (``-hdiv``, ``-detsize_x``, ``-xdet_vector``
...), are accepted with a note that they have no effect.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from nbcupy.errors import InputError
from nbcupy.nanobragg.option_fields import FIELD_OPTIONS, OUTPUTS, STRUCTURE
from nbcupy.nanobragg.options import Options

RTD = 180.0 / math.pi


@dataclass(frozen=True)
class Unit:
    """A unit conversion done the way nanoBragg does it: divide by ``per`` or multiply by
    ``times`` (x / 1000.0 and x * 1e-3 can differ in the last bit, and the last bit decides
    how a ``%g`` number in a header rounds)."""

    per: float = 1.0
    times: float = 1.0

    def __call__(self, value: float) -> float:
        return value / self.per if self.per != 1.0 else value * self.times


MM = Unit(per=1000.0)  # mm -> m
UM = Unit(times=1e-6)  # um -> m (sensor thickness and attenuation depth)
UM_WATER = Unit(per=1e6)  # um -> m (-water)
ANGSTROM = Unit(per=1e10)  # A -> m (wavelength)
ANGSTROM_DMIN = Unit(times=1e-10)  # A -> m (-dmin)
MRAD = Unit(per=1000.0)  # mrad -> rad
DEG = Unit(per=RTD)  # deg -> rad
PERCENT = Unit(per=100.0)  # % -> fraction


@dataclass(frozen=True)
class Flag:
    """One nanoBragg flag.

    names: the flag and its synonyms.  args: names of its arguments ("" if none).
    apply(options, values): store the values.  status: ``ok``, ``noeffect`` or ``refused``.
    """

    names: tuple[str, ...]
    group: str
    help: str
    args: tuple[str, ...] = ()
    apply: Callable[[Options, list[str]], None] | None = None
    status: str = "ok"
    reason: str = ""
    variadic: bool = False  # -cell: up to len(args) values, stopping at the next flag

    @property
    def name(self) -> str:
        return self.names[0]


def _num(flag: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{flag}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{flag}: expected a finite number, got {text!r}")
    return value


def _int(flag: str, text: str) -> int:
    value = _num(flag, text)
    if not value.is_integer():
        raise InputError(f"{flag}: expected a whole number, got {text!r}")
    if abs(value) > 2**31 - 1:
        raise InputError(f"{flag}: {text} is out of range")
    return int(value)


def _positive(flag: str, value: float, text: str | None = None) -> float:
    if value <= 0:
        raise InputError(f"{flag}: must be positive, got {text if text is not None else value}")
    return value


def _set(attr: str, scale: Unit | None = None, kind: str = "float", check: str = "",
         ) -> Callable:
    def apply(o: Options, v: list[str], flag: str = "") -> None:
        name = flag or attr
        if kind == "int":
            value = _int(name, v[0])
        else:
            value = _num(name, v[0])
            value = scale(value) if scale is not None else value
        if check == "count":
            from nbcupy.nanobragg.option_checks import check_count

            check_count(attr, value, name, given=True)
        if check == "positive":
            _positive(name, value, v[0])
        if check == "nonneg" and value < 0:
            raise InputError(f"{name}: must not be negative, got {v[0]}")
        setattr(o, attr, value)
    return apply


def _setmany(*attrs: str, scale: Unit | None = None, kind: str = "float", check: str = "",
             ) -> Callable:
    def apply(o: Options, v: list[str], flag: str = "") -> None:
        for attr in attrs:
            _set(attr, scale, kind, check)(o, v, flag)
    return apply


def _true(attr: str, value: object = True) -> Callable:
    def apply(o: Options, v: list[str], flag: str = "") -> None:
        setattr(o, attr, value)
    return apply


def _chain(*fns: Callable) -> Callable:
    def apply(o: Options, v: list[str], flag: str = "") -> None:
        for fn in fns:
            fn(o, v, flag)
    return apply


def _string(attr: str) -> Callable:
    def apply(o: Options, v: list[str], flag: str = "") -> None:
        setattr(o, attr, v[0])
    return apply


def _convention(name: str) -> Callable:
    def apply(o: Options, v: list[str], flag: str = "") -> None:
        o.convention = name
        o.pivot = "sample" if name in ("xds",) else "beam"
    return apply


def _vector(key: str) -> Callable:
    def apply(o: Options, v: list[str], flag: str = "") -> None:
        o.convention = "custom"
        o.vectors[key] = tuple(_num(flag, x) for x in v[:3])
    return apply


def _cell(o: Options, v: list[str], flag: str = "") -> None:
    vals = [_num(flag, x) for x in v]
    o.cell = tuple(x if i < 3 else DEG(x) for i, x in enumerate(vals))  # checked later


def _incomplete_cell(flag: str, values: list[str], stopped_at: str | None) -> InputError:
    """``-cell`` with fewer than six numbers (nanoBragg.c stops at the next argument that
    starts with '-' and fills in the rest)."""
    from nbcupy.errors import InputRefused

    after = ""
    if stopped_at is not None and _looks_like_value(stopped_at):
        after = f" before {stopped_at} (edges and angles are positive)"
    return InputRefused(f"{flag}: expected 6 numbers a b c alpha beta gamma, got "
                        f"{len(values)}{after}; nanoBragg.c would quietly take the missing "
                        "edges equal to a and the missing angles as 90 deg")


def _misset(o: Options, v: list[str], flag: str = "") -> None:
    if v and v[0].lower().startswith("rand"):
        o.misset_random = True
        return
    o.misset_random = False
    o.misset = tuple(DEG(_num(flag, x)) for x in v[:3])


def _misset_args(argv: Sequence[str], i: int) -> int:
    """-misset takes one word (random) or three angles."""
    if i + 1 < len(argv) and argv[i + 1].lower().startswith("rand"):
        return 1
    return 3


def _pivot(o: Options, v: list[str], flag: str = "") -> None:
    word = v[0].lower()
    if word not in ("beam", "sample"):
        raise InputError(f"{flag}: expected 'beam' or 'sample', got {v[0]!r}")
    o.pivot = word


def _pivot_to(which: str) -> Callable:
    def apply(o: Options, v: list[str], flag: str = "") -> None:
        o.pivot = which
    return apply


def _detector_abs(o: Options, v: list[str], flag: str = "") -> None:
    text = v[0]
    if "inf" in text.lower():
        o.detector_thick = 0.0
        o.detector_mu = 0.0
        return
    depth = _num(flag, text)
    if depth == 0.0:
        o.detector_thick = 0.0
        o.detector_mu = 0.0
    elif depth < 0:
        raise InputError(f"{flag}: attenuation depth must be positive, got {text}")
    else:
        o.detector_mu = 1.0 / UM(depth)


def _energy(o: Options, v: list[str], flag: str = "") -> None:
    ev = _positive(flag, _num(flag, v[0]), v[0])
    o.wavelength = ANGSTROM(12398.42 / ev)


def _roi(o: Options, v: list[str], flag: str = "") -> None:
    o.roi = tuple(_int(flag, x) for x in v)  # checked with the other options


def _seed(attr: str) -> Callable:
    def apply(o: Options, v: list[str], flag: str = "") -> None:
        setattr(o, attr, -_int(flag, v[0]))
    return apply


def _img(kind: str) -> Callable:
    def apply(o: Options, v: list[str], flag: str = "") -> None:
        if kind == "mask":
            o.mask_file = v[0]
        else:
            o.img_file = v[0]
    return apply


def _shape(name: str) -> Callable:
    return _true("xtal_shape", name)


def _pgmfile(o: Options, v: list[str], flag: str = "") -> None:
    o.pgmfile = v[0]
    o.write_pgm = True


def _noisefile(o: Options, v: list[str], flag: str = "") -> None:
    o.noisefile = v[0]
    o.calculate_noise = True


def _pgmscale(o: Options, v: list[str], flag: str = "") -> None:
    o.pgm_scale = _num(flag, v[0])
    o.write_pgm = True


def _noop(o: Options, v: list[str], flag: str = "") -> None:
    return None


def _numbers_ignored(o: Options, v: list[str], flag: str = "") -> None:
    """A flag nanoBragg.c skips: its values must still be numbers, but nothing is set."""
    for text in v:
        _num(flag, text)


def _skipped_by_nanobragg(instead: str) -> str:
    return f"nanoBragg.c matches it to none of its flags and skips it; {instead}"


G_CRYSTAL = "Crystal (cell, orientation, size, spot shape)"
G_SF = "Structure factors"
G_BEAM = "Beam (wavelength, fluence, polarization, divergence, dispersion)"
G_DET = "Detector (size, position, convention, rotations, sensor)"
G_SCAN = "Spindle, mosaicity and randomness"
G_SAMPLING = "Sampling and background"
G_OUT = "Output files and console"

F = Flag
FLAGS: list[Flag] = [
    # crystal
    F(("-cell",), G_CRYSTAL, "unit cell a b c (A) alpha beta gamma (deg)",
      ("a", "b", "c", "alpha", "beta", "gamma"), _cell, variadic=True),
    F(("-mat", "-matrix"), G_CRYSTAL,
      "MOSFLM orientation matrix file (A = lambda U B; first 9 numbers)", ("FILE",),
      _string("matrix_file")),
    F(("-misset",), G_CRYSTAL, "crystal rotation about x, y, z (deg), or 'random'",
      ("rotx", "roty", "rotz"), _misset),
    F(("-N",), G_CRYSTAL, "unit cells along every axis", ("N",),
      _setmany("na", "nb", "nc", kind="int", check="count")),
    F(("-Na",), G_CRYSTAL, "unit cells along a", ("N",), _set("na", kind="int", check="count")),
    F(("-Nb",), G_CRYSTAL, "unit cells along b", ("N",), _set("nb", kind="int", check="count")),
    F(("-Nc",), G_CRYSTAL, "unit cells along c", ("N",), _set("nc", kind="int", check="count")),
    F(("-xtalsize", "-xtal_size", "-samplesize", "-sample_size"), G_CRYSTAL,
      "crystal size along a, b and c (mm); replaces -N", ("mm",),
      _setmany("sample_x", "sample_y", "sample_z", scale=MM, check="nonneg")),
    F(("-xtal_thick", "-xtal_x", "-sample_thick", "-sample_x"), G_CRYSTAL,
      "crystal size along a (mm)", ("mm",), _set("sample_x", MM, check="nonneg")),
    F(("-xtal_width", "-xtal_y", "-sample_width", "-sample_y", "-width"), G_CRYSTAL,
      "crystal size along b (mm)", ("mm",), _set("sample_y", MM, check="nonneg")),
    F(("-xtal_height", "-xtal_heigh", "-xtal_z", "-sample_height", "-sample_heigh", "-sample_z",
       "-height", "-heigh"), G_CRYSTAL, "crystal size along c (mm)", ("mm",),
      _set("sample_z", MM, check="nonneg")),
    F(("-square_xtal",), G_CRYSTAL, "parallelepiped crystal: sincg spots (default)", (),
      _shape("square")),
    F(("-round_xtal",), G_CRYSTAL, "ellipsoidal crystal: sinc3 spots", (), _shape("round")),
    F(("-gauss_xtal",), G_CRYSTAL, "Gaussian spots, no inter-Bragg maxima", (), _shape("gauss")),
    F(("-tophat_spots", "-binary_spots"), G_CRYSTAL, "flat-top spots cut at the FWHM", (),
      _shape("tophat")),
    F(("-fudge",), G_CRYSTAL, "scale of the spot radius for round/gauss/tophat shapes",
      ("factor",), _set("fudge")),
    F(("-density", "-sample_density", "-sample_den"), G_CRYSTAL, "sample density (g/cm^3)",
      ("g/cm3",), _noop, status="noeffect",
      reason="nanoBragg reads it but overwrites it before use"),
    F(("-MW", "-molecular_weight", "-molecules", "-molec"), G_CRYSTAL,
      "molecular weight (g/mol)", ("g/mol",), _noop, status="noeffect",
      reason="nanoBragg reads it but overwrites it before use"),
    # structure factors
    F(("-hkl",), G_SF, "text file of h k l F (P1); writes the Fdump.bin cache", ("FILE",),
      _string("hkl_file")),
    F(("-default_F",), G_SF, "amplitude of every reflection not in -hkl (electrons)", ("F",),
      _set("default_F")),
    F(("-dump",), G_SF, "name of the structure-factor cache (default Fdump.bin)", ("FILE",),
      _string("dump_file")),
    F(("-interpolate",), G_SF, "tricubic interpolation of F between Bragg nodes", (),
      _true("interpolate", True)),
    F(("-nointerpolate",), G_SF, "nearest-node F (default unless any N <= 2)", (),
      _true("interpolate", False)),
    F(("-stol", "-4stol", "-Q"), G_SF, "amorphous F(stol) table", ("FILE",), _noop,
      status="noeffect", reason="nanoBragg reads the table but never uses it in the image"),
    # beam
    F(("-lambda", "-wave"), G_BEAM, "wavelength (A)", ("A",),
      _set("wavelength", ANGSTROM, check="positive")),
    F(("-energy",), G_BEAM, "photon energy (eV)", ("eV",), _energy),
    F(("-fluence",), G_BEAM, "photons per m^2 on the crystal", ("ph/m2",),
      _set("fluence", check="nonneg")),
    F(("-flux",), G_BEAM, "photons per second (with -exposure and -beamsize)", ("ph/s",),
      _set("flux", check="nonneg")),
    F(("-exposure",), G_BEAM, "exposure time (s)", ("s",), _set("exposure")),
    F(("-beamsize",), G_BEAM, "beam size (mm)", ("mm",), _set("beamsize", MM)),
    F(("-polar",), G_BEAM, "Kahn polarization factor (default 0 = unpolarized)", ("K",),
      _chain(_set("kahn_factor"), _true("nopolar", False))),
    F(("-nopolar",), G_BEAM, "no polarization correction", (), _true("nopolar", True)),
    F(("-polar_vector",), G_BEAM, "E-vector direction of the beam (selects CUSTOM)",
      ("x", "y", "z"), _vector("polar")),
    F(("-dispersion",), G_BEAM, "spectral width delta-lambda/lambda (%)", ("%",),
      _set("dispersion", PERCENT, check="nonneg")),
    F(("-dispsteps",), G_BEAM, "number of wavelengths", ("N",),
      _set("dispsteps", kind="int", check="count")),
    F(("-divergence",), G_BEAM, "horizontal and vertical divergence range (mrad)", ("mrad",),
      _setmany("hdivrange", "vdivrange", scale=MRAD, check="nonneg")),
    F(("-hdivrange",), G_BEAM, "horizontal divergence range (mrad)", ("mrad",),
      _set("hdivrange", MRAD, check="nonneg")),
    F(("-vdivrange",), G_BEAM, "vertical divergence range (mrad)", ("mrad",),
      _set("vdivrange", MRAD, check="nonneg")),
    F(("-hdivstep",), G_BEAM, "horizontal divergence step (mrad)", ("mrad",),
      _set("hdivstep", MRAD, check="nonneg")),
    F(("-vdivstep",), G_BEAM, "vertical divergence step (mrad)", ("mrad",),
      _set("vdivstep", MRAD, check="nonneg")),
    F(("-hdivsteps",), G_BEAM, "horizontal divergence points", ("N",),
      _set("hdivsteps", kind="int", check="count")),
    F(("-vdivsteps",), G_BEAM, "vertical divergence points", ("N",),
      _set("vdivsteps", kind="int", check="count")),
    F(("-divsteps",), G_BEAM, "divergence points in both directions", ("N",),
      _setmany("hdivsteps", "vdivsteps", kind="int", check="count")),
    F(("-hdiv",), G_BEAM, "horizontal divergence, as nanoBragg's examples write it", ("mrad",),
      _numbers_ignored, status="noeffect",
      reason=_skipped_by_nanobragg("-hdivrange sets the horizontal divergence")),
    F(("-vdiv",), G_BEAM, "vertical divergence, as nanoBragg's examples write it", ("mrad",),
      _numbers_ignored, status="noeffect",
      reason=_skipped_by_nanobragg("-vdivrange sets the vertical divergence")),
    F(("-dispstep",), G_BEAM, "dispersion steps, as nanoBragg's examples write it", ("N",),
      _numbers_ignored, status="noeffect",
      reason=_skipped_by_nanobragg("-dispsteps sets the number of wavelengths")),
    F(("-round_div",), G_BEAM, "trim the divergence grid to an ellipse (default)", (),
      _true("round_div", True)),
    F(("-square_div",), G_BEAM, "keep the full divergence grid", (), _true("round_div", False)),
    F(("-sourcefile",), G_BEAM, "sources file: X Y Z weight lambda(m) per line", ("FILE",),
      _string("source_file")),
    F(("-source_dist", "-source_distance"), G_BEAM,
      "distance of the sources (mm); only their direction matters", ("mm",),
      _numbers_ignored, status="noeffect",
      reason="nanoBragg.c does not read it (its parser line is commented out): sources are "
      "placed 10 m from the sample"),
    F(("-coherent",), G_BEAM, "coherent sum of sources", (), _noop, status="noeffect",
      reason="nanoBragg sets a flag that no calculation reads"),
    # detector
    F(("-detpixels",), G_DET, "pixels along both axes", ("N",),
      _setmany("fpixels", "spixels", kind="int", check="positive")),
    F(("-detpixels_f", "-detpixels_x"), G_DET, "pixels along the fast axis", ("N",),
      _set("fpixels", kind="int", check="positive")),
    F(("-detpixels_s", "-detpixels_y"), G_DET, "pixels along the slow axis", ("N",),
      _set("spixels", kind="int", check="positive")),
    F(("-detsize",), G_DET, "detector size along both axes (mm)", ("mm",),
      _setmany("detsize_f", "detsize_s", scale=MM, check="positive")),
    F(("-detsize_f",), G_DET, "detector size along the fast axis (mm)", ("mm",),
      _set("detsize_f", MM, check="positive")),
    F(("-detsize_s",), G_DET, "detector size along the slow axis (mm)", ("mm",),
      _set("detsize_s", MM, check="positive")),
    F(("-detsize_x",), G_DET, "detector size in x (mm), as nanoBragg's README writes it",
      ("mm",), _numbers_ignored, status="noeffect",
      reason=_skipped_by_nanobragg("-detsize_f sets the fast-axis size")),
    F(("-detsize_y",), G_DET, "detector size in y (mm), as nanoBragg's README writes it",
      ("mm",), _numbers_ignored, status="noeffect",
      reason=_skipped_by_nanobragg("-detsize_s sets the slow-axis size")),
    F(("-pixel",), G_DET, "pixel size (mm)", ("mm",), _set("pixel_size", MM, check="positive")),
    F(("-distance",), G_DET, "sample to direct-beam spot along the beam (mm); BEAM pivot",
      ("mm",), _chain(_set("distance", MM, check="positive"), _pivot_to("beam"))),
    F(("-close_distance",), G_DET, "sample to detector plane along its normal (mm); SAMPLE pivot",
      ("mm",), _chain(_set("close_distance", MM, check="positive"), _pivot_to("sample"))),
    F(("-Xbeam",), G_DET, "direct-beam position, convention X (mm); BEAM pivot", ("mm",),
      _chain(_set("xbeam", MM), _pivot_to("beam"))),
    F(("-Ybeam",), G_DET, "direct-beam position, convention Y (mm); BEAM pivot", ("mm",),
      _chain(_set("ybeam", MM), _pivot_to("beam"))),
    F(("-Xclose",), G_DET, "near point X (mm; used by CUSTOM); SAMPLE pivot", ("mm",),
      _chain(_set("xclose", MM), _pivot_to("sample"))),
    F(("-Yclose",), G_DET, "near point Y (mm; used by CUSTOM); SAMPLE pivot", ("mm",),
      _chain(_set("yclose", MM), _pivot_to("sample"))),
    F(("-ORGX",), G_DET, "XDS origin, fast axis (pixels); SAMPLE pivot", ("px",),
      _chain(_set("orgx"), _pivot_to("sample"))),
    F(("-ORGY",), G_DET, "XDS origin, slow axis (pixels); SAMPLE pivot", ("px",),
      _chain(_set("orgy"), _pivot_to("sample"))),
    F(("-pivot",), G_DET, "keep the 'beam' spot or the 'sample' near point fixed (CUSTOM)",
      ("beam|sample",), _pivot),
    F(("-mosflm",), G_DET, "MOSFLM convention (default; BEAM pivot)", (), _convention("mosflm")),
    F(("-denzo",), G_DET, "DENZO convention (BEAM pivot)", (), _convention("denzo")),
    F(("-adxv",), G_DET, "ADXV convention (BEAM pivot)", (), _convention("adxv")),
    F(("-xds",), G_DET, "XDS convention (SAMPLE pivot)", (), _convention("xds")),
    F(("-dials",), G_DET, "DIALS convention (SAMPLE pivot)", (), _convention("dials")),
    F(("-fdet_vector",), G_DET, "fast axis (selects CUSTOM)", ("x", "y", "z"), _vector("fdet")),
    F(("-sdet_vector",), G_DET, "slow axis (selects CUSTOM)", ("x", "y", "z"), _vector("sdet")),
    F(("-odet_vector",), G_DET, "detector normal (selects CUSTOM)", ("x", "y", "z"),
      _vector("odet")),
    F(("-beam_vector",), G_DET, "beam direction (selects CUSTOM)", ("x", "y", "z"),
      _vector("beam")),
    F(("-spindle_axis",), G_DET, "phi axis (selects CUSTOM)", ("x", "y", "z"),
      _vector("spindle")),
    F(("-twotheta_axis",), G_DET, "two-theta axis (selects CUSTOM)", ("x", "y", "z"),
      _vector("twotheta")),
    F(("-xdet_vector",), G_DET, "detector x axis, as nanoBragg's README writes it",
      ("x", "y", "z"), _numbers_ignored, status="noeffect",
      reason=_skipped_by_nanobragg("-fdet_vector sets the fast axis")),
    F(("-ydet_vector",), G_DET, "detector y axis, as nanoBragg's README writes it",
      ("x", "y", "z"), _numbers_ignored, status="noeffect",
      reason=_skipped_by_nanobragg("-sdet_vector sets the slow axis")),
    F(("-zdet_vector",), G_DET, "detector z axis, as nanoBragg's README writes it",
      ("x", "y", "z"), _numbers_ignored, status="noeffect",
      reason=_skipped_by_nanobragg("-odet_vector sets the detector normal")),
    F(("-pix0_vector",), G_DET, "sample to first pixel (m; selects CUSTOM; used only with "
      "--corrected, nanoBragg overwrites it)", ("x", "y", "z"), _vector("pix0")),
    F(("-detector_rotx",), G_DET, "detector rotation about x (deg)", ("deg",),
      _set("detector_rotx", DEG)),
    F(("-detector_roty",), G_DET, "detector rotation about y (deg)", ("deg",),
      _set("detector_roty", DEG)),
    F(("-detector_rotz",), G_DET, "detector rotation about z (deg)", ("deg",),
      _set("detector_rotz", DEG)),
    F(("-twotheta",), G_DET, "detector swing about the two-theta axis (deg); SAMPLE pivot",
      ("deg",), _chain(_set("twotheta", DEG), _pivot_to("sample"))),
    F(("-curved_det",), G_DET, "spherical detector: every pixel at the same distance", (),
      _true("curved_detector", True)),
    F(("-point_pixel",), G_DET, "solid angle 1/R^2 (no pixel area or obliquity)", (),
      _true("point_pixel", True)),
    F(("-detector_abs", "-detector_absorb", "-detector_absorption"), G_DET,
      "sensor attenuation depth (um), 'inf' or 0 = none", ("um",), _detector_abs),
    F(("-detector_thick",), G_DET, "sensor thickness (um)", ("um",),
      _set("detector_thick", UM, check="nonneg")),
    F(("-detector_thicksteps", "-thicksteps"), G_DET, "sensor layers", ("N",),
      _set("detector_thicksteps", kind="int", check="count")),
    F(("-img",), G_DET, "take detector settings from an SMV header", ("FILE",), _img("img")),
    F(("-mask",), G_DET, "SMV mask: zero pixels are skipped (its header is read too)",
      ("FILE",), _img("mask")),
    # scan / mosaic / randomness
    F(("-phi",), G_SCAN, "spindle angle of the first step (deg)", ("deg",), _set("phi0", DEG)),
    F(("-osc",), G_SCAN, "spindle range (deg)", ("deg",), _set("osc", DEG, check="nonneg")),
    F(("-phistep",), G_SCAN, "spindle step (deg)", ("deg",), _set("phistep", DEG, check="nonneg")),
    F(("-phisteps",), G_SCAN, "number of spindle steps", ("N",),
      _set("phisteps", kind="int", check="count")),
    F(("-mosaic", "-mosaici", "-mosaic_spr", "-mosaic_spread"), G_SCAN,
      "isotropic mosaic spread (deg)", ("deg",), _set("mosaic_spread", DEG, check="nonneg")),
    F(("-mosaic_dom", "-mosaic_domains"), G_SCAN, "number of mosaic domains", ("N",),
      _set("mosaic_domains", kind="int", check="count")),
    F(("-mosaic_seed",), G_SCAN, "seed of the mosaic domains (default -12345678)", ("seed",),
      _seed("mosaic_seed")),
    F(("-misset_seed",), G_SCAN, "seed of -misset random (default: the clock)", ("seed",),
      _seed("misset_seed")),
    F(("-seed",), G_SCAN, "seed of the noise image (default: the clock)", ("seed",),
      _seed("seed")),
    # sampling
    F(("-oversample",), G_SAMPLING, "sub-pixels per pixel edge (default: auto)", ("N",),
      _set("oversample", kind="int", check="count")),
    F(("-oversample_omega",), G_SAMPLING, "solid angle for every sub-pixel", (),
      _true("oversample_omega", True)),
    F(("-oversample_polar",), G_SAMPLING, "polarization for every sub-pixel", (),
      _true("oversample_polar", True)),
    F(("-oversample_thick",), G_SAMPLING, "absorption for every sub-pixel", (),
      _true("oversample_thick", True)),
    F(("-roi",), G_SAMPLING, "render only fast xmin..xmax, slow ymin..ymax (pixels, inclusive)",
      ("xmin", "xmax", "ymin", "ymax"), _roi),
    F(("-dmin",), G_SAMPLING, "skip scattering beyond this resolution (A)", ("A",),
      _set("dmin", ANGSTROM_DMIN, check="nonneg")),
    F(("-water",), G_SAMPLING, "water background of this thickness (um)", ("um",),
      _set("water_size", UM_WATER, check="nonneg")),
    # outputs
    F(("-floatfile", "-floatimage"), G_OUT, "raw float32 image (default floatimage.bin)",
      ("FILE",), _string("floatfile")),
    F(("-intfile", "-intimage"), G_OUT, "SMV image scaled by -scale (default intimage.img)",
      ("FILE",), _string("intfile")),
    F(("-pgmfile", "-pgmimage"), G_OUT, "8-bit PGM picture (default image.pgm)", ("FILE",),
      _pgmfile),
    F(("-noisefile", "-noiseimage"), G_OUT, "SMV image with Poisson noise (default "
      "noiseimage.img)", ("FILE",), _noisefile),
    F(("-nonoise",), G_OUT, "do not make the noise image", (), _true("calculate_noise", False)),
    F(("-nopgm",), G_OUT, "do not write the PGM picture", (), _true("write_pgm", False)),
    F(("-scale",), G_OUT, "ADU per photon in -intfile (default: max pixel -> 55000)",
      ("factor",), _set("intfile_scale")),
    F(("-pgmscale",), G_OUT, "grey levels per photon in the PGM (default: auto)", ("factor",),
      _pgmscale),
    F(("-adc", "-adcoffset"), G_OUT, "offset added to SMV pixels (ADU, default 40)", ("ADU",),
      _set("adc_offset")),
    F(("-noprogress",), G_OUT, "no progress meter", (), _true("progress", False)),
    F(("-progress",), G_OUT, "progress meter (default)", (), _true("progress", True)),
    F(("-stolout",), G_OUT, "file for the amorphous F(stol) table", ("FILE",), _noop,
      status="noeffect", reason="nanoBragg never writes this file"),
    F(("-printout",), G_OUT, "print every pixel's intermediate values", (), None,
      status="refused", reason="per-pixel debug printing is not available; use the Python "
      "API (nbcupy.simulate) to inspect values"),
    F(("-printout_pixel",), G_OUT, "print one pixel's intermediate values", ("f", "s"), None,
      status="refused", reason="per-pixel debug printing is not available; use the Python "
      "API (nbcupy.simulate) to inspect values"),
]

FLAG_BY_NAME: dict[str, Flag] = {name: flag for flag in FLAGS for name in flag.names}

#: nbcupy's own double-dash options (for the suggestions of an unknown flag)
OWN_OPTIONS = ("--backend", "--dtype", "--memory-mb", "--threads", "--noise", "--corrected",
               "--help", "--version", *(o.name for o in FIELD_OPTIONS))


def closest_flags(token: str, n: int = 3, cutoff: float = 0.6, window: float = 0.1,
                  ) -> list[str]:
    """The known flags (nanoBragg's and nbcupy's own) spelled most like ``token``.

    Similarity is difflib's ratio, case-blind matches scoring highest (``-xbeam``:
    ``-Xbeam``); at most ``n`` flags scoring ``cutoff`` or more and within ``window`` of the
    best are returned, best first.
    """
    import difflib  # only when a flag is unknown

    def score(name: str) -> float:
        if name.lower() == token.lower():
            return 1.0
        return max(difflib.SequenceMatcher(None, token, name).ratio(),
                   difflib.SequenceMatcher(None, token.lower(), name.lower()).ratio() - 0.05)

    scored = sorted(((score(c), c) for c in (*FLAG_BY_NAME, *OWN_OPTIONS)),
                    key=lambda sc: -sc[0])
    if not scored or scored[0][0] < cutoff:
        return []
    best = scored[0][0]
    return [c for s, c in scored if s >= cutoff and s >= best - window][:n]


def unknown_flag_message(token: str) -> str:
    """``unknown flag -defualt_F; did you mean -default_F?`` (one line)."""
    near = closest_flags(token)
    if not near:
        return f"unknown flag {token} (see nbcupy --help)"
    names = near[0] if len(near) == 1 else ", ".join(near[:-1]) + " or " + near[-1]
    return f"unknown flag {token}; did you mean {names}?"


@dataclass
class ParseResult:
    """Options from the flags, plus notes on flags accepted without effect."""

    options: Options
    notes: list[str] = field(default_factory=list)


def _looks_like_value(token: str) -> bool:
    if not token.startswith("-"):
        return True
    try:
        float(token)
        return True
    except ValueError:
        return False


def parse_flags(argv: Sequence[str], options: Options | None = None,
                corrected: bool = False) -> ParseResult:
    """Parse nanoBragg flags exactly (no substring matching) into :class:`Options`.

    SMV headers named by ``-img``/``-mask`` are read first and supply defaults, as in
    nanoBragg (when both are given, the ``-img`` header is applied last and wins); the flags
    then override them.  ``corrected`` selects the corrected reading of those headers.
    Raises :class:`InputError` for an unknown or refused flag, a missing argument or a
    malformed value.
    """
    argv = list(argv)
    opts = options or Options()
    opts.corrected = opts.corrected or corrected
    notes: list[str] = []
    plan: list[tuple[Flag, str, list[str]]] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        flag = FLAG_BY_NAME.get(token)
        if flag is None:
            if token.startswith("-") and not _looks_like_value(token):
                raise InputError(unknown_flag_message(token))
            raise InputError(f"unexpected argument {token!r} (flags start with '-')")
        if flag.status == "refused":
            raise InputError(f"{token} is not supported: {flag.reason}")
        nargs = len(flag.args)
        if flag.name == "-misset":
            nargs = _misset_args(argv, i)
        values: list[str] = []
        if flag.variadic:
            j = i + 1
            while j < len(argv) and len(values) < nargs and not argv[j].startswith("-"):
                values.append(argv[j])
                j += 1
            if not values:
                raise InputError(f"{token}: expected {' '.join(flag.args)}")
            if len(values) < nargs:
                raise _incomplete_cell(token, values, argv[j] if j < len(argv) else None)
        else:
            values = argv[i + 1:i + 1 + nargs]
            if len(values) < nargs:
                raise InputError(f"{token}: expected {nargs} value(s) ({' '.join(flag.args)}), "
                                 f"got {len(values)}")
            for v in values:
                if v.startswith("-") and not _looks_like_value(v) and v not in ("-",):
                    raise InputError(f"{token}: expected {' '.join(flag.args)}, got flag {v}")
        plan.append((flag, token, values))
        if flag.status == "noeffect":
            notes.append(f"note: {token} is accepted but has no effect ({flag.reason})")
        i += 1 + len(values)

    # headers first (nanoBragg reads the mask's header, then the image's), then the flags
    from nbcupy.nanobragg.rules import apply_smv_header

    mask_file = next((v[0] for f, _, v in reversed(plan) if f.name == "-mask"), None)
    img_file = next((v[0] for f, _, v in reversed(plan) if f.name == "-img"), None)
    if mask_file is not None or img_file is not None:
        from nbcupy.io.smv import read_smv

        if mask_file is not None:
            smv = read_smv(mask_file, "-mask")
            apply_smv_header(opts, smv, is_mask=True, label=f"-mask {mask_file}")
            opts.mask_pixels = smv.data != 0
        if img_file is not None:
            apply_smv_header(opts, read_smv(img_file, "-img"), is_mask=False,
                             label=f"-img {img_file}")
    for flag, token, values in plan:
        flag.apply(opts, values, token)  # type: ignore[misc]
    return ParseResult(opts, notes)


def help_text(program: str = "nbcupy") -> str:
    """The grouped flag list shown by ``--help``."""
    lines = [f"usage: {program} [nanoBragg flags] [--backend numpy|cupy|auto] "
             "[--dtype float64|float32] [--memory-mb MB] [--threads N] [--noise exact|fast] "
             "[--corrected] [--version] [--model FILE] [--column LABEL] [--cbf FILE] "
             "[--nexus FILE] [--png FILE] ...", "",
             "nanoBragg-compatible diffraction-image simulator (NumPy or CuPy).",
             "Flags are nanoBragg's own, matched exactly; units in brackets."]
    groups: dict[str, list[Flag]] = {}
    for flag in FLAGS:
        groups.setdefault(flag.group, []).append(flag)
    for group, flags in groups.items():
        lines += ["", group + ":"]
        for flag in flags:
            names = ", ".join(flag.names)
            args = " ".join(flag.args)
            head = f"  {names} {args}".rstrip()
            text = flag.help
            if flag.status == "noeffect":
                text += f" [accepted, no effect: {flag.reason}]"
            if flag.status == "refused":
                text += f" [refused: {flag.reason}]"
            lines.append(f"{head:<44} {text}" if len(head) < 44 else f"{head}\n{'':<44} {text}")
    lines += ["", "nbcupy options:",
              f"  {'--backend numpy|cupy|auto':<42} array backend (auto: CuPy if a GPU is usable)",
              f"  {'--dtype float64|float32':<42} precision of the engine (default float64)",
              f"  {'--memory-mb MB':<42} memory budget of the engine's tiles (default 256)",
              f"  {'--threads N':<42} worker threads on the CPU (default: all cores)",
              f"  {'--noise exact|fast':<42} noise image: nanoBragg's generator (exact, default)"
              " or the backend's",
              f"  {'--corrected':<42} correct nanoBragg's known defects (see README)",
              f"  {'--version':<42} print nbcupy's version",
              f"  {'--help':<42} this text",
              "", "nbcupy structure factors (see README):",
              f"  {'-hkl FILE.mtz | FILE.cif':<42} MTZ/mmCIF file (by content), expanded to P1;"
              " its cell",
              f"  {'':<42} unless -cell/-mat",
              *field_option_lines(STRUCTURE),
              "", "nbcupy outputs (int32 photon counts: the noise image - adc, or the rounded",
              "image with -nonoise; -1 where not simulated):",
              *field_option_lines(OUTPUTS),
              "", "Many images (rotation series, stills, Dask clusters): nbcupy series --help"]
    return "\n".join(lines)


def field_option_lines(group: str, *, series: bool = False, width: int = 42) -> list[str]:
    """The help lines of the double-dash options of ``group`` that set Options fields
    (:mod:`nbcupy.nanobragg.option_fields`); ``series``: only those ``nbcupy series`` takes."""
    lines = []
    for option in FIELD_OPTIONS:
        if option.group != group or (series and not option.series):
            continue
        first, *more = option.help.split("\n")
        if len(option.usage) < width:
            lines.append(f"  {option.usage:<{width}} {first}")
        else:  # too long for its column: the text on the next line
            lines.append(f"  {option.usage}")
            more = [first, *more]
        lines.extend(f"  {'':<{width}} {text}" for text in more)
    return lines


def markdown_table() -> str:
    """The README's flag table: every nanoBragg flag, its arguments, units and status."""
    rows = ["| flag (synonyms) | arguments | what it does | status |",
            "|---|---|---|---|"]
    status_text = {"ok": "works", "noeffect": "accepted, no effect", "refused": "refused"}
    for flag in FLAGS:
        names = ", ".join(f"`{n}`" for n in flag.names)
        args = " ".join(flag.args)
        what = flag.help.replace("|", "/")
        status = status_text[flag.status]
        if flag.reason:
            status += f": {flag.reason}"
        rows.append(f"| {names} | {args} | {what} | {status} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - used to refresh the README table
    print(markdown_table())
