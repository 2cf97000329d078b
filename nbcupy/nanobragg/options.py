"""The settings of one nanoBragg-style run, as the user gave them (SI units, radians).

The command line fills an :class:`Options` from nanoBragg's flags (converting mm, Angstrom,
degrees, microns and mrad as it reads them); :func:`nbcupy.nanobragg.build.build_simulation` applies
nanoBragg's defaults and auto-selection rules to turn it into the experiment models.  ``None``
means "not given"; the setup decides the default.

Beyond nanoBragg's flags, the fields set by nbcupy's double-dash options: the structure-factor
inputs ``column`` (``--column LABEL``) and ``model_file`` (``--model FILE``), with
``model_cache_dir`` (the folder of the cached model structure factors; None: the command line
caches next to ``dump_file``, as nanoBragg does ``Fdump.bin``, and the API not at all), and
the outputs written next to nanoBragg's: ``cbf_file``, ``nexus_file`` (photon counts, see
:mod:`nbcupy.io.counts`), ``png_file`` with ``png_brightness`` (percent) and ``png_log``,
``sensor_material`` (``Si``, ``CdTe`` or, NeXus only, ``GaAs``) and ``smv_adc_offset`` (add
``ADC_OFFSET=`` to the SMV headers; off by default, so that they stay nanoBragg's bytes).

:func:`validate_options` is the one check of the values, whichever way they came (flags, SMV
headers or a Python caller): every number finite, lengths, wavelengths and angles inside
the ranges in :data:`LIMITS`, which catch a value given in the wrong unit (``wavelength=1.0``
is one metre, not one Angstrom), and the checks of :mod:`nbcupy.nanobragg.option_checks`
(counts of at least 1, a cell that exists, axes with a direction, and no input that
nanoBragg.c would quietly complete or override).
:func:`nbcupy.nanobragg.build.build_simulation` calls it first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Options:
    """nanoBragg's settings in SI units: lengths in metres, angles in radians, wavelengths in
    metres, fluence in photons/m^2, flux in photons/s, times in seconds, ``detector_mu`` in
    1/m.  Exceptions: ``cell`` is a, b, c in Angstrom and alpha, beta, gamma in radians (as
    nanoBragg keeps them); ``orgx``/``orgy`` are pixels; ``dispersion`` is a fraction
    (``-dispersion 2`` is 0.02); ``seed``, ``mosaic_seed`` and ``misset_seed`` are nanoBragg's
    internal values, minus the flags' (``-seed 7`` is ``seed=-7``).  ``None`` or a negative
    count/step means "not given" (nanoBragg's rules then decide).  Values are checked by
    :func:`validate_options` when the models are built.
    """

    # crystal
    cell: tuple[float, ...] | None = None  # a b c (Angstrom), alpha beta gamma (rad)
    matrix_file: str | None = None
    misset: tuple[float, float, float] | None = None  # rad
    misset_random: bool = False
    na: float = 1.0
    nb: float = 1.0
    nc: float = 1.0
    sample_x: float = 0.0  # crystal size along a, b, c (m); 0 = use N
    sample_y: float = 0.0
    sample_z: float = 0.0
    xtal_shape: str = "square"
    fudge: float = 1.0
    # structure factors
    hkl_file: str | None = None
    default_F: float = 0.0
    dump_file: str = "Fdump.bin"
    interpolate: bool | None = None
    column: str | None = None  # --column: amplitude/intensity column of an MTZ/mmCIF -hkl
    model_file: str | None = None  # --model: PDB/mmCIF coordinates, F computed with gemmi
    model_cache_dir: str | None = None  # folder of the --model cache (None: see build.py)
    # beam
    wavelength: float | None = None  # m
    fluence: float | None = None  # photons/m^2
    flux: float = 0.0  # photons/s
    exposure: float = 1.0  # s
    beamsize: float = 1e-4  # m
    kahn_factor: float = 0.0
    nopolar: bool = False
    dispersion: float = 0.0  # fraction (delta lambda / lambda)
    dispsteps: int = -1
    hdivrange: float = -1.0  # rad
    vdivrange: float = -1.0
    hdivstep: float = -1.0
    vdivstep: float = -1.0
    hdivsteps: int = -1
    vdivsteps: int = -1
    round_div: bool = True
    source_file: str | None = None
    source_distance: float = 10.0  # m
    # detector
    convention: str = "mosflm"
    pivot: str = "beam"
    fpixels: int = 0
    spixels: int = 0
    detsize_f: float = 102.4e-3  # m
    detsize_s: float = 102.4e-3
    pixel_size: float = 0.1e-3  # m
    distance: float = 100.0e-3  # m
    close_distance: float | None = None  # m
    xbeam: float | None = None  # m
    ybeam: float | None = None
    xclose: float | None = None
    yclose: float | None = None
    orgx: float | None = None  # pixels
    orgy: float | None = None
    vectors: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    detector_rotx: float = 0.0  # rad
    detector_roty: float = 0.0
    detector_rotz: float = 0.0
    twotheta: float = 0.0  # rad
    curved_detector: bool = False
    point_pixel: bool = False
    detector_mu: float = -1.0  # 1/m; 0 = no absorption
    detector_thick: float = 0.0  # m
    detector_thicksteps: int = -1
    # scan and mosaic
    phi0: float = 0.0  # rad
    osc: float = -1.0
    phistep: float = -1.0
    phisteps: int = -1
    mosaic_spread: float = -1.0  # rad
    mosaic_domains: int = -1
    # sampling
    oversample: int = -1
    oversample_omega: bool = False
    oversample_polar: bool = False
    oversample_thick: bool = False
    roi: tuple[int, int, int, int] | None = None
    dmin: float = 0.0  # m
    water_size: float = 0.0  # m
    mask_file: str | None = None
    mask_pixels: Any = None  # (spixels, fpixels) bool from -mask, True where rendered
    img_file: str | None = None
    # randomness (nanoBragg's internal seeds: minus the command-line values)
    seed: int | None = None
    mosaic_seed: int = -12345678
    misset_seed: int | None = None
    # outputs
    floatfile: str = "floatimage.bin"
    intfile: str = "intimage.img"
    pgmfile: str = "image.pgm"
    noisefile: str = "noiseimage.img"
    write_pgm: bool = True
    calculate_noise: bool = True
    intfile_scale: float = 0.0
    pgm_scale: float = 0.0
    adc_offset: float = 40.0
    smv_adc_offset: bool = False  # --smv-adc-offset: ADC_OFFSET=<adc> in the SMV headers
    # nbcupy's own outputs (photon counts / preview; see nbcupy.io.counts)
    cbf_file: str | None = None  # --cbf: miniCBF, int32 counts
    nexus_file: str | None = None  # --nexus: NeXus NXmx (HDF5), int32 counts
    png_file: str | None = None  # --png: 8-bit greyscale preview
    png_brightness: float = 100.0  # --png-brightness: percent, as DIALS' image viewer
    png_log: bool = False  # --png-log: grey levels of log(1 + value)
    sensor_material: str = "Si"  # --sensor-material: named in the CBF/NeXus headers
    progress: bool = True
    # reproduce nanoBragg's known defects (False) or use the corrected physics (True)
    corrected: bool = False


@dataclass(frozen=True)
class Limit:
    """The plausible range of one setting, stated in its flag's unit.

    attr: the :class:`Options` field.  flag: the nanoBragg flag that sets it.  unit: the
    flag's unit and ``per_unit`` its size in the field's unit (``-lambda`` is in Angstrom,
    1e-10 m).  low/high: the range in the flag's unit (``low_open``/``high_open``: that end
    excluded).
    unset_below: values below this mean "not given" and are not checked (None: all are).
    """

    attr: str
    flag: str
    unit: str
    per_unit: float
    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    unset_below: float | None = None
    si: str = "m"


#: The ranges :func:`validate_options` enforces.  They are wide (a detector pixel of 0.1 um
#: to 100 mm, a wavelength of 0.001 to 10000 A) and exist to catch a wrong unit.
LIMITS: tuple[Limit, ...] = (
    Limit("wavelength", "-lambda", "A", 1e-10, 1e-3, 1e4),
    Limit("pixel_size", "-pixel", "mm", 1e-3, 1e-4, 100.0),
    Limit("distance", "-distance", "mm", 1e-3, 0.0, 1e5, low_open=True),
    Limit("close_distance", "-close_distance", "mm", 1e-3, 0.0, 1e5, low_open=True),
    Limit("detsize_f", "-detsize_f", "mm", 1e-3, 0.0, 1e4, low_open=True),
    Limit("detsize_s", "-detsize_s", "mm", 1e-3, 0.0, 1e4, low_open=True),
    Limit("xbeam", "-Xbeam", "mm", 1e-3, -1e4, 1e4),
    Limit("ybeam", "-Ybeam", "mm", 1e-3, -1e4, 1e4),
    Limit("xclose", "-Xclose", "mm", 1e-3, -1e4, 1e4),
    Limit("yclose", "-Yclose", "mm", 1e-3, -1e4, 1e4),
    Limit("beamsize", "-beamsize", "mm", 1e-3, -1e4, 1e4),
    Limit("sample_x", "-xtal_thick", "mm", 1e-3, 0.0, 100.0),
    Limit("sample_y", "-xtal_width", "mm", 1e-3, 0.0, 100.0),
    Limit("sample_z", "-xtal_height", "mm", 1e-3, 0.0, 100.0),
    Limit("detector_thick", "-detector_thick", "um", 1e-6, 0.0, 1e5),
    Limit("water_size", "-water", "um", 1e-6, 0.0, 1e6),
    Limit("dmin", "-dmin", "A", 1e-10, 0.0, 1e5),
    Limit("source_distance", "-source_distance", "mm", 1e-3, 0.0, 1e7, low_open=True),
    Limit("dispersion", "-dispersion", "%", 0.01, 0.0, 200.0, high_open=True, si="(fraction)"),
    Limit("mosaic_spread", "-mosaic", "deg", math.pi / 180.0, 0.0, 180.0, unset_below=0.0,
          si="rad"),
    Limit("hdivrange", "-hdivrange", "mrad", 1e-3, 0.0, 1000.0 * math.pi, unset_below=0.0,
          si="rad"),
    Limit("vdivrange", "-vdivrange", "mrad", 1e-3, 0.0, 1000.0 * math.pi, unset_below=0.0,
          si="rad"),
    Limit("hdivstep", "-hdivstep", "mrad", 1e-3, 0.0, 1000.0 * math.pi, unset_below=0.0,
          si="rad"),
    Limit("vdivstep", "-vdivstep", "mrad", 1e-3, 0.0, 1000.0 * math.pi, unset_below=0.0,
          si="rad"),
    Limit("kahn_factor", "-polar", "", 1.0, -1.0, 1.0, si=""),
    Limit("fudge", "-fudge", "", 1.0, 0.0, 1e6, low_open=True, si=""),
    Limit("fluence", "-fluence", "ph/m2", 1.0, 0.0, math.inf, si="photons/m^2"),
    Limit("flux", "-flux", "ph/s", 1.0, 0.0, math.inf, si="photons/s"),
    Limit("exposure", "-exposure", "s", 1.0, 0.0, math.inf, si="s"),
)

#: Fields that only need to be finite numbers (flag, field).
_FINITE = (("-phi", "phi0"), ("-osc", "osc"), ("-phistep", "phistep"),
           ("-default_F", "default_F"), ("-N", "na"), ("-N", "nb"), ("-N", "nc"),
           ("-detector_rotx", "detector_rotx"), ("-detector_roty", "detector_roty"),
           ("-detector_rotz", "detector_rotz"), ("-twotheta", "twotheta"), ("-ORGX", "orgx"),
           ("-ORGY", "orgy"), ("-adc", "adc_offset"), ("-scale", "intfile_scale"),
           ("-detector_abs", "detector_mu"))


def _fail(flag: str, text: str) -> None:
    from nbcupy.errors import InputError

    raise InputError(f"{flag}: {text}")


def validate_options(opts: Options) -> None:
    """Refuse values no experiment has: non-finite numbers anywhere, lengths, wavelengths
    and angles outside :data:`LIMITS` (a wrong unit, most often), and what
    :mod:`nbcupy.nanobragg.option_checks` checks (counts, the cell, the axes, the ROI, and the
    combinations nanoBragg.c quietly completes or overrides).

    Raises :class:`nbcupy.errors.InputError` with one line naming the flag, the value in
    the flag's unit, the range and the :class:`Options` field.  Run on every set of options
    before the models are built, whether they came from flags, headers or Python.
    """
    for flag, attr in _FINITE:
        value = getattr(opts, attr)
        if value is not None and not math.isfinite(float(value)):
            _fail(flag, f"{value} is not a finite number (Options.{attr})")
    for lim in LIMITS:
        value = getattr(opts, lim.attr)
        if value is None:
            continue
        value = float(value)
        if not math.isfinite(value):
            _fail(lim.flag, f"{value} is not a finite number (Options.{lim.attr})")
        if lim.unset_below is not None and value < lim.unset_below:
            continue
        shown = value / lim.per_unit
        # the unit conversion may leave the last bit off an end given exactly
        low_ok = shown > lim.low if lim.low_open else shown >= lim.low - 1e-12 * abs(lim.low)
        high_ok = shown < lim.high if lim.high_open else shown <= lim.high * (1 + 1e-12)
        if not (low_ok and high_ok):
            lo = "<" if lim.low_open else "<="
            hi = "<" if lim.high_open else "<="
            unit = f" {lim.unit}" if lim.unit else ""
            si = f" {lim.si}" if lim.si and lim.si != lim.unit else ""
            _fail(lim.flag, f"{shown:g}{unit} is outside the plausible range {lim.low:g} {lo} "
                  f"x {hi} {lim.high:g}{unit} (Options.{lim.attr} = {value!r}{si})")
    from nbcupy.nanobragg import option_checks as checks

    for attr in checks.COUNTS:
        checks.check_count(attr, getattr(opts, attr))
    if opts.cell is not None:
        checks.check_cell(opts.cell)
    if opts.misset is not None:
        checks.check_misset(opts.misset)
    checks.check_vectors(opts.vectors)
    if opts.roi is not None:
        checks.check_roi(opts.roi)
    checks.check_steps(opts)
    checks.check_flux(opts)
