"""From :class:`~nbcupy.options.Options` to the experiment models, with nanoBragg's rules.

This is the one place where nanoBragg's defaults, auto-selections and conventions are applied:
detector size and beam centre, pivots, the unit cell, crystal size and auto-oversampling,
phi/divergence/dispersion/thickness step rules, sources and mosaic domains.  It returns the
:class:`~nbcupy.models.Simulation` and a :class:`SetupReport` with the lines nanoBragg prints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from nbcupy import geometry as geo
from nbcupy.conventions import get_convention
from nbcupy.errors import InputError
from nbcupy.models import (
    Beam,
    Crystal,
    Detector,
    Mosaic,
    Sampling,
    Scan,
    Simulation,
    Sources,
    StructureFactors,
)
from nbcupy.options import Options

DEFAULT_WAVELENGTH = 1.0e-10
DEFAULT_FLUENCE = 125932015286227086360700780544.0
RTD = 180.0 / math.pi


@dataclass
class SetupReport:
    """What the setup decided, for the printed summary."""

    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    misset_random_deg: tuple[float, float, float] | None = None
    noise_seed: int = 0
    hdivrange: float = 0.0
    hdivstep: float = 0.0
    vdivrange: float = 0.0
    vdivstep: float = 0.0
    dispersion: float = 0.0
    dispsteps: int = 1
    fdump_used: str | None = None
    fdump_written: str | None = None
    xtal_size_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    divergence: list[tuple[float, float]] = field(default_factory=list)  # (h, v) rad, kept
    source_table: np.ndarray | None = None  # (n, 5): X Y Z (m), weight, lambda (m), as listed


def apply_smv_header(opts: Options, header: object, is_mask: bool) -> None:
    """Take detector defaults from an SMV header (``-img`` or ``-mask``), as nanoBragg does.

    ``header`` is an :class:`nbcupy.io.smv.SMVImage`.  Flags given on
    the command line are applied afterwards and win.  The mask's BEAM_CENTER_Y is measured
    from the other edge (nanoBragg flips it).
    """
    opts.fpixels, opts.spixels = int(header.width), int(header.height)
    if opts.corrected:
        v = header.value
    else:
        # nanoBragg finds keys as substrings and takes the last match, so DISTANCE reads
        # CLOSE_DISTANCE and ORGX reads XDS_ORGX in its own headers
        def v(key: str) -> float | None:
            value = header.value_of(key)
            return None if math.isnan(value) else value
    if v("PIXEL_SIZE") is not None:
        opts.pixel_size = v("PIXEL_SIZE") / 1000.0
    opts.detsize_f = opts.pixel_size * opts.fpixels
    opts.detsize_s = opts.pixel_size * opts.spixels
    if v("DISTANCE") is not None:
        opts.distance = v("DISTANCE") / 1000.0
    if v("CLOSE_DISTANCE") is not None:
        opts.close_distance = v("CLOSE_DISTANCE") / 1000.0
    if v("WAVELENGTH") is not None:
        opts.wavelength = v("WAVELENGTH") / 1e10
    if v("BEAM_CENTER_X") is not None:
        opts.xbeam = v("BEAM_CENTER_X") / 1000.0
    if v("BEAM_CENTER_Y") is not None:
        y = v("BEAM_CENTER_Y") / 1000.0
        opts.ybeam = opts.detsize_s - y if is_mask else y
    if v("ORGX") is not None:
        opts.orgx = v("ORGX")
    if v("ORGY") is not None:
        opts.orgy = v("ORGY")
    if v("PHI") is not None:
        opts.phi0 = v("PHI") / RTD
    if v("OSC_RANGE") is not None:
        opts.osc = v("OSC_RANGE") / RTD


def _steps_rule(range_: float, step: float, steps: int, default_range: float,
                keep_one_step: bool = False) -> tuple[float, float, int]:
    """nanoBragg's shared rule for (range, step, count) of divergence and dispersion.

    Negative or zero values mean "not given".  Returns (range, step, steps).
    """
    if steps <= 0:
        if range_ < 0.0:
            if step <= 0.0:
                return 0.0, 0.0, 1
            return step, step, 2
        if step <= 0.0:
            return range_, range_, 2
        return range_, step, int(math.ceil(range_ / step))
    if range_ < 0.0:
        if step <= 0.0:
            return default_range, default_range / steps, steps
        return step, step, 2
    if step <= 0.0:
        if steps <= 1:
            steps = 2
        return range_, range_ / (steps - 1), steps
    return range_, step, steps


def _phi_rule(osc: float, phistep: float, phisteps: int) -> tuple[float, float, int]:
    """nanoBragg's rule for the spindle: returns (osc, phistep, phisteps) in radians."""
    if phisteps < 0:
        if osc < 0.0:
            if phistep <= 0.0:
                return 0.0, 0.0, 1
            return phistep, phistep, 2
        if phistep <= 0.0:
            return osc, osc / 2.0, 2
        return osc, phistep, int(math.ceil(osc / phistep))
    if phisteps == 0:
        phisteps = 1
    if osc < 0.0:
        if phistep <= 0.0:
            osc = 1.0 / RTD
            return osc, osc / phisteps, phisteps
        return phistep, phistep, 2
    if phistep < 0.0:
        return osc, osc / phisteps, phisteps
    return osc, phistep, phisteps


def _thickness_rule(thick: float, steps: int) -> tuple[float, float, int]:
    """nanoBragg's rule for sensor layers: returns (thickness, layer step, layers)."""
    thickstep = -1.0
    if steps <= 0:
        if thick < 0.0:
            thick, thickstep, steps = 0.0, 0.0, 1
        else:
            steps = 2
            thickstep = thick / steps
    else:
        if thick < 0.0:
            thick = 0.5e-6
            thickstep = thick / steps
        else:
            if steps <= 1:
                steps = 2
            thickstep = thick / (steps - 1)
    if thick <= 0.0 or thickstep <= 0.0 or steps <= 0:
        return 0.0, 0.0, 1
    return thick, thickstep, steps


def _mosaic_rule(spread: float, domains: int, report: SetupReport) -> tuple[float, int]:
    if domains <= 0:
        if spread < 0.0:
            return 0.0, 1
        if spread == 0.0:
            return 0.0, 1
        report.warnings.append(
            "WARNING: finite mosaicity with only one domain! upping to 10 mosaic domains")
        return spread, 10
    if spread < 0.0:
        report.warnings.append("WARNING: no mosaic spread specified.  setting mosaic_domains = 1")
        return 0.0, 1
    if spread == 0.0:
        report.warnings.append("WARNING: zero mosaic spread specified.  setting mosaic_domains = 1")
        return 0.0, 1
    return spread, domains


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise InputError(f"{name}: {value} is not a finite number")


def build_simulation(opts: Options, rng: object | None = None, write_cache: bool = False,
                     ) -> tuple[Simulation, SetupReport]:
    """Apply nanoBragg's rules to ``opts`` and build the models.

    ``rng`` is the shared :class:`nbcupy.rng.NanoBraggRandom` (created if None) so that the
    misset, mosaic and noise streams share one generator state as in nanoBragg.
    ``write_cache`` writes the ``Fdump.bin`` cache after reading ``-hkl``, as nanoBragg does.
    """
    from nbcupy import rng as nbrng

    if rng is None:
        rng = nbrng.NanoBraggRandom()
    report = SetupReport()
    corrected = opts.corrected

    for name in ("pixel_size", "distance", "detsize_f", "detsize_s", "exposure", "beamsize",
                 "fudge", "dmin", "water_size", "kahn_factor"):
        _check_finite("-" + name, float(getattr(opts, name)))
    if opts.pixel_size <= 0:
        raise InputError(f"-pixel: pixel size must be positive, got {opts.pixel_size * 1e3:g} mm")

    # ---- detector size ------------------------------------------------------------------
    pixel = opts.pixel_size
    detsize_f, detsize_s = opts.detsize_f, opts.detsize_s
    if opts.fpixels:
        detsize_f = pixel * opts.fpixels
    if opts.spixels:
        detsize_s = pixel * opts.spixels
    fpixels = int(math.ceil(detsize_f / pixel - 0.5))
    spixels = int(math.ceil(detsize_s / pixel - 0.5))
    if fpixels <= 0 or spixels <= 0:
        raise InputError(f"detector has {fpixels}x{spixels} pixels; give -detpixels or -detsize")
    if fpixels * spixels > 2**31 - 1:
        raise InputError(f"detector of {fpixels}x{spixels} pixels is too large")

    # ---- beam ---------------------------------------------------------------------------
    wavelength = opts.wavelength if opts.wavelength is not None else DEFAULT_WAVELENGTH
    _check_finite("-lambda", wavelength)
    if wavelength <= 0:
        raise InputError(f"-lambda: wavelength must be positive, got {wavelength * 1e10:g} A")
    fluence = opts.fluence if opts.fluence is not None else DEFAULT_FLUENCE
    if opts.flux != 0.0 and opts.exposure > 0.0 and opts.beamsize >= 0:
        fluence = opts.flux * opts.exposure / opts.beamsize / opts.beamsize
    _check_finite("-fluence", fluence)
    sample_y, sample_z = opts.sample_y, opts.sample_z
    if opts.beamsize >= 0:
        if opts.beamsize < sample_y:
            report.warnings.append(
                f"WARNING: clipping sample ({sample_y:g} m high) with beam ({opts.beamsize:g} m)")
            sample_y = opts.beamsize
        if opts.beamsize < sample_z:
            report.warnings.append(
                f"WARNING: clipping sample ({sample_z:g} m wide) with beam ({opts.beamsize:g} m)")
            sample_z = opts.beamsize

    # ---- beam centre defaults and convention --------------------------------------------
    fclose = (opts.orgx - 0.5) * pixel if opts.orgx is not None else detsize_f / 2.0
    sclose = (opts.orgy - 0.5) * pixel if opts.orgy is not None else detsize_s / 2.0
    xclose = opts.xclose if opts.xclose is not None else fclose
    yclose = opts.yclose if opts.yclose is not None else sclose
    conv = get_convention(opts.convention)
    vec = {
        "beam": np.array(conv.beam, float), "fdet": np.array(conv.fdet, float),
        "sdet": np.array(conv.sdet, float), "odet": np.array(conv.odet, float),
        "twotheta": np.array(conv.twotheta_axis, float), "polar": np.array(conv.polar, float),
        "spindle": np.array(conv.spindle, float),
    }
    pix0_override = None
    if conv.name == "custom":
        for key, value in opts.vectors.items():
            if key == "pix0":
                if corrected:
                    pix0_override = np.array(value, float)
                continue
            vec[key] = np.array(value, float)
    xbeam, ybeam = opts.xbeam, opts.ybeam
    dx, dy = conv.default_beam_centre(detsize_f, detsize_s, pixel, xclose, yclose)
    if xbeam is None:
        xbeam = dx
    if ybeam is None:
        ybeam = dy
    fbeam, sbeam = conv.beam_on_axes(xbeam, ybeam, detsize_s, pixel)
    if conv.name == "custom":
        fclose, sclose = xbeam, ybeam
    pivot = conv.pivot or opts.pivot

    beam_dir, _ = geo.unit(vec["beam"])
    fdet, _ = geo.unit(vec["fdet"])
    sdet, _ = geo.unit(vec["sdet"])
    odet, odet_len = geo.unit(vec["odet"])
    if odet_len != 1.0:
        report.warnings.append("WARNING: auto-generating odet_vector")
        odet, _ = geo.unit(np.cross(fdet, sdet))
    polar_axis, _ = geo.unit(vec["polar"])
    spindle, _ = geo.unit(vec["spindle"])
    vert, transverse = geo.unit(np.cross(beam_dir, polar_axis))
    if corrected and transverse < 1e-12 and opts.kahn_factor != 0.0 and not opts.nopolar:
        # nanoBragg's polarization factor then treats every ray as lying in the E-plane
        given = " ".join(f"{x:g}" for x in vec["polar"])
        raise InputError(f"-polar_vector {given}: the E-vector lies along the beam; with -polar "
                         "it needs a component across the beam")
    twotheta_axis = vec["twotheta"]
    if corrected:
        twotheta_axis, _ = geo.unit(twotheta_axis)

    close_distance = opts.close_distance if opts.close_distance is not None else math.nan
    placement = geo.place_detector(
        fdet=fdet, sdet=sdet, odet=odet, beam=beam_dir, twotheta_axis=twotheta_axis,
        rotx=opts.detector_rotx, roty=opts.detector_roty, rotz=opts.detector_rotz,
        twotheta=opts.twotheta, pivot=pivot, distance=opts.distance,
        close_distance=close_distance, fbeam=fbeam, sbeam=sbeam, fclose=fclose, sclose=sclose,
        pixel_size=pixel, pix0_override=pix0_override)
    if not (placement.close_distance > 0 or opts.curved_detector):
        raise InputError(
            f"impossible geometry: the detector plane is {placement.close_distance * 1e3:g} mm "
            "from the sample (behind it or through it)")

    # ---- sensor thickness ---------------------------------------------------------------
    mu = opts.detector_mu
    thick = opts.detector_thick
    if mu == 0.0 and corrected:  # -detector_abs 0 or inf: no absorption
        # (nanoBragg zeroes the thickness only when -detector_thick comes before; a later
        # one is kept, and its layers then capture nothing: the image is zero)
        thick = 0.0
    thick, thickstep, thicksteps = _thickness_rule(thick, opts.detector_thicksteps)
    if thick > 0.0 and mu < 0.0:
        mu = 1.0 / thick
        report.warnings.append(f"WARNING: setting detector attenuation depth to {mu:g} m")

    detector = Detector(
        fpixels=fpixels, spixels=spixels, pixel_size=pixel, fdet=placement.fdet,
        sdet=placement.sdet, odet=placement.odet, pix0=placement.pix0,
        distance=placement.distance, close_distance=placement.close_distance,
        convention=conv.name, pivot=pivot, curved=opts.curved_detector,
        point_pixel=opts.point_pixel, thickness=thick, thicksteps=thicksteps,
        thickstep=thickstep, mu=mu, twotheta=opts.twotheta, xbeam=xbeam, ybeam=ybeam,
        fbeam=placement.fbeam, sbeam=placement.sbeam, xclose=xclose, yclose=yclose,
        fclose=placement.fclose, sclose=placement.sclose, orgx=placement.orgx,
        orgy=placement.orgy, dials_origin=placement.dials_origin, detsize=(detsize_f, detsize_s))

    # ---- crystal ------------------------------------------------------------------------
    if opts.misset_seed is None:
        misset_seed = -int(time.time())
    else:
        misset_seed = opts.misset_seed
    crystal = _build_crystal(opts, wavelength, rng, misset_seed, report)
    lengths = np.linalg.norm(crystal.cell, axis=1)
    na, nb, nc = opts.na, opts.nb, opts.nc
    if opts.sample_x > 0:
        na = math.ceil(opts.sample_x / lengths[0])
    if sample_y > 0:
        nb = math.ceil(sample_y / lengths[1])
    if sample_z > 0:
        nc = math.ceil(sample_z / lengths[2])
    na, nb, nc = (float(max(n, 1.0)) for n in (na, nb, nc))
    crystal = Crystal(cell=crystal.cell, reciprocal=crystal.reciprocal, n_cells=(na, nb, nc),
                      shape=opts.xtal_shape, fudge=opts.fudge,
                      cell_parameters=crystal.cell_parameters, misset_deg=crystal.misset_deg)
    xtal = (lengths[0] * na, lengths[1] * nb, lengths[2] * nc)
    report.xtal_size_m = xtal
    reciprocal_pixel = wavelength * placement.distance / pixel
    recommended = int(math.ceil(3.0 * max(xtal) / reciprocal_pixel))
    if recommended <= 0:
        recommended = 1
    oversample = opts.oversample
    if oversample <= 0:
        oversample = recommended
        report.lines.append(f"auto-selected {oversample}-fold oversampling")
    if oversample < recommended:
        report.warnings.append(
            f"WARNING: maximum dimension of sample is {max(xtal) * 1e10:g} A\n"
            f"         but reciprocal pixel size is {reciprocal_pixel * 1e10:g} A\n"
            "         intensity may vary significantly across a pixel!\n"
            f"         recommend -oversample {recommended} to work around this")
    if oversample > 64:
        raise InputError(f"-oversample {oversample}: more than 64 sub-pixels per edge is not "
                         "supported (use a smaller value)")

    # ---- structure factors --------------------------------------------------------------
    sf = _load_structure_factors(opts, report, write_cache)
    interpolate = opts.interpolate
    if interpolate is None:
        # nanoBragg decides from the -N values as given, before crystal sizes become cells
        counts = (na, nb, nc) if corrected else (opts.na, opts.nb, opts.nc)
        interpolate = min(counts) <= 2
        report.lines.append("auto-selected tricubic interpolation of structure factors"
                            if interpolate else "auto-selected no interpolation")
    if sf.hkls == 0:
        interpolate = False
    sf = StructureFactors(default_F=sf.default_F, grid=sf.grid, h_min=sf.h_min, h_max=sf.h_max,
                          k_min=sf.k_min, k_max=sf.k_max, l_min=sf.l_min, l_max=sf.l_max,
                          hkls=sf.hkls, interpolate=bool(interpolate))

    # ---- scan ---------------------------------------------------------------------------
    osc, phistep, phisteps = _phi_rule(opts.osc, opts.phistep, opts.phisteps)
    scan = Scan(phi0=opts.phi0, phistep=phistep, phisteps=phisteps, osc=osc,
                spindle_axis=spindle)

    # ---- sources ------------------------------------------------------------------------
    sources = _build_sources(opts, wavelength, beam_dir, polar_axis, vert, report)

    # ---- mosaic -------------------------------------------------------------------------
    spread, domains = _mosaic_rule(opts.mosaic_spread, opts.mosaic_domains, report)
    stream = nbrng.SeedStream(opts.mosaic_seed)
    umats = rng.mosaic_umats(spread, domains, stream)
    mosaic = Mosaic(spread=spread, umats=umats)

    # ---- sampling -----------------------------------------------------------------------
    # nanoBragg's ROI bounds are inclusive; a negative bound means "the detector's edge"
    roi = opts.roi or (-1, -1, -1, -1)
    roi = (roi[0] if roi[0] >= 0 else 0, roi[1] if roi[1] >= 0 else fpixels,
           roi[2] if roi[2] >= 0 else 0, roi[3] if roi[3] >= 0 else spixels)
    sampling = Sampling(
        oversample=oversample, oversample_omega=opts.oversample_omega,
        oversample_polar=opts.oversample_polar, oversample_thick=opts.oversample_thick,
        roi=roi, mask=_mask(opts, fpixels, spixels), dmin=opts.dmin, water_size=opts.water_size,
        recommended_oversample=recommended)

    beam = Beam(wavelength=wavelength, fluence=fluence, direction=beam_dir,
                polarization_axis=polar_axis, kahn_factor=opts.kahn_factor,
                polarization_enabled=not opts.nopolar)
    report.noise_seed = opts.seed if opts.seed is not None else -int(time.time())
    sim = Simulation(beam=beam, sources=sources, detector=detector, crystal=crystal,
                     structure_factors=sf, scan=scan, mosaic=mosaic, sampling=sampling,
                     corrected=corrected)
    return sim, report


def _mask(opts: Options, fpixels: int, spixels: int) -> np.ndarray | None:
    """The ``-mask`` pixels (True = render), checked against the detector size."""
    if opts.mask_pixels is None:
        return None
    mask = np.asarray(opts.mask_pixels, dtype=bool)
    if mask.shape != (spixels, fpixels):
        raise InputError(f"-mask {opts.mask_file}: {mask.shape[1]}x{mask.shape[0]} pixels but the "
                         f"detector has {fpixels}x{spixels}")
    return mask


def _build_crystal(opts: Options, wavelength: float, rng: object, misset_seed: int,
                   report: SetupReport) -> Crystal:
    """The unit cell from ``-cell`` and/or ``-mat`` with any misset (real axes in metres)."""
    from nbcupy import rng as nbrng
    from nbcupy.io.matrix import read_mosflm_matrix

    if opts.cell is None and opts.matrix_file is None:
        raise InputError("no unit cell: give -cell a b c alpha beta gamma or -mat FILE")
    user_volume = None
    user_lengths = None
    reciprocal = np.zeros((3, 3))
    if opts.cell is not None:
        a, b, c, al, be, ga = opts.cell
        for name, val in zip("a b c alpha beta gamma".split(), opts.cell, strict=True):
            _check_finite(f"-cell {name}", val)
        if a <= 0:
            raise InputError(f"-cell: cell edge a must be positive, got {a:g} A")
        b = b if b > 0 else a
        c = c if c > 0 else a
        al = al if al > 0 else math.pi / 2
        be = be if be > 0 else math.pi / 2
        ga = ga if ga > 0 else math.pi / 2
        reciprocal, volume, warnings = geo.reciprocal_from_cell(
            a, b, c, al, be, ga, corrected=opts.corrected)
        report.warnings.extend(warnings)
        if volume <= geo.DBL_MIN:
            raise InputError(f"-cell {a:g} {b:g} {c:g} {math.degrees(al):g} "
                             f"{math.degrees(be):g} {math.degrees(ga):g}: impossible cell angles")
        user_volume, user_lengths = volume, (a, b, c)
    if opts.matrix_file is not None:
        mat = read_mosflm_matrix(opts.matrix_file)
        reciprocal = (mat.T * (1e-10 / wavelength)).copy()
        report.lines.append(f"reading {opts.matrix_file}")
    misset = opts.misset
    misset_deg = None
    if opts.misset_random:
        _, angles = rng.random_misset(nbrng.SeedStream(misset_seed))
        misset = angles
        misset_deg = tuple(math.degrees(x) for x in angles)
        report.misset_random_deg = misset_deg
    if misset is not None:
        reciprocal = np.vstack([geo.rotate_xyz(v, *misset) for v in reciprocal])
        if misset_deg is None:
            misset_deg = tuple(math.degrees(x) for x in misset)
    if abs(float(np.linalg.det(reciprocal))) == 0.0:
        raise InputError("the unit cell has zero volume (check -mat or -cell)")
    cv = geo.cell_vectors(reciprocal, user_volume, user_lengths)
    if not np.all(np.isfinite(cv.real)):
        raise InputError("the unit cell is not finite (check -mat or -cell)")
    return Crystal(cell=cv.real * 1e-10, reciprocal=cv.reciprocal, n_cells=(1.0, 1.0, 1.0),
                   cell_parameters=cv.parameters(), misset_deg=misset_deg)


def _load_structure_factors(opts: Options, report: SetupReport,
                            write_cache: bool) -> StructureFactors:
    """Amplitudes from ``-hkl`` (writing the Fdump cache) or from a previous run's cache."""
    import os

    _check_finite("-default_F", opts.default_F)
    grid = None
    if opts.hkl_file is not None or os.path.exists(opts.dump_file):
        from nbcupy.io import fdump  # only loaded when there are structure factors to read
        from nbcupy.io.hkl import build_hkl_grid, read_hkl
    if opts.hkl_file is not None:
        table = read_hkl(opts.hkl_file)
        grid = build_hkl_grid(table, opts.default_F)
        if write_cache:
            try:
                fdump.write_fdump(opts.dump_file, grid)
                report.fdump_written = opts.dump_file
            except (OSError, InputError) as exc:
                report.warnings.append(f"WARNING: unable to write dump file {opts.dump_file}: "
                                       f"{exc}")
    elif os.path.exists(opts.dump_file):
        grid = fdump.read_fdump(opts.dump_file)
        report.fdump_used = opts.dump_file
    elif opts.default_F == 0.0:
        raise InputError("no structure factors: give -hkl FILE or -default_F F "
                         f"(and no {opts.dump_file} cache was found)")
    if grid is None:
        return StructureFactors(default_F=opts.default_F)
    return StructureFactors(default_F=opts.default_F, grid=grid.F, h_min=grid.h_min,
                            h_max=grid.h_max, k_min=grid.k_min, k_max=grid.k_max,
                            l_min=grid.l_min, l_max=grid.l_max, hkls=grid.hkls)


def _build_sources(opts: Options, wavelength: float, beam: np.ndarray, polar: np.ndarray,
                   vert: np.ndarray, report: SetupReport) -> Sources:
    """Point sources from ``-sourcefile`` or from the divergence x dispersion grid."""
    hdivrange, hdivstep, hdivsteps = _steps_rule(opts.hdivrange, opts.hdivstep, opts.hdivsteps, 1.0)
    vdivrange, vdivstep, vdivsteps = _steps_rule(opts.vdivrange, opts.vdivstep, opts.vdivsteps, 1.0)
    dispersion, dispstep, dispsteps = _steps_rule(opts.dispersion, -1.0, opts.dispsteps, 1.0)
    if hdivrange <= 0.0 or hdivstep <= 0.0 or hdivsteps <= 0:
        hdivrange, hdivstep, hdivsteps = 0.0, 0.0, 1
    if vdivrange <= 0.0 or vdivstep <= 0.0 or vdivsteps <= 0:
        vdivrange, vdivstep, vdivsteps = 0.0, 0.0, 1
    if dispersion <= 0.0 or dispstep <= 0.0 or dispsteps <= 0:
        dispersion, dispstep, dispsteps = 0.0, 0.0, 1
    report.hdivrange, report.hdivstep = hdivrange, hdivstep
    report.vdivrange, report.vdivstep = vdivrange, vdivstep
    report.dispersion, report.dispsteps = dispersion, dispsteps
    if hdivsteps * vdivsteps * dispsteps > 10_000_000:
        raise InputError(f"{hdivsteps}x{vdivsteps} divergence x {dispsteps} dispersion steps "
                         "is too many sources")

    if opts.source_file is not None:
        from nbcupy.io.sourcefile import read_sourcefile

        table = read_sourcefile(opts.source_file)
        pos = table[:, 0:3].copy()
        for i in range(3):
            missing = np.isnan(pos[:, i])
            pos[missing, i] = -opts.source_distance * beam[i]
        lam = table[:, 4].copy()
        lam[np.isnan(lam)] = wavelength
        norms = np.linalg.norm(pos, axis=1)
        if np.any(norms == 0) or not np.all(np.isfinite(pos)):
            raise InputError(f"-sourcefile {opts.source_file}: a source sits at the sample "
                             "or has a non-finite position")
        if np.any(~np.isfinite(lam)) or np.any(lam <= 0):
            raise InputError(f"-sourcefile {opts.source_file}: wavelengths must be positive")
        weights = table[:, 3].copy()
        weights[np.isnan(weights)] = 1.0
        report.source_table = np.column_stack([pos, weights, lam])
        return Sources(directions=pos / norms[:, None], wavelengths=lam, divergence_steps=-1)

    directions = []
    divsteps = 0
    for hi in range(hdivsteps):
        for vi in range(vdivsteps):
            hdiv = hdivstep * hi - hdivrange / 2.0
            vdiv = vdivstep * vi - vdivrange / 2.0
            if opts.round_div:
                # the elliptical trim divides by the ranges; a zero range gives NaN or inf,
                # which never trims (as in nanoBragg)
                h_odd = hdivstep * hdivstep / 4.0 * (1 - hdivsteps % 2)
                v_odd = vdivstep * vdivstep / 4.0 * (1 - vdivsteps % 2)
                with np.errstate(divide="ignore", invalid="ignore"):
                    test = (np.float64(hdiv * hdiv - h_odd) / np.float64(hdivrange)
                            / np.float64(hdivrange))
                    test += (np.float64(vdiv * vdiv - v_odd) / np.float64(vdivrange)
                             / np.float64(vdivrange))
                if test * 4.0 > 1.1:
                    continue
            divsteps += 1
            report.divergence.append((hdiv, vdiv))
            v = -opts.source_distance * beam
            v = geo.rotate_axis(v, polar, vdiv)
            v = geo.rotate_axis(v, vert, hdiv)
            directions.append(v)
    dirs = []
    lams = []
    for v in directions:
        for di in range(dispsteps):
            dirs.append(geo.unit(v)[0])
            lams.append(wavelength * (1.0 + dispstep * di - dispersion / 2.0))
    if not dirs:
        raise InputError("no sources: the divergence settings leave no source point")
    report.source_table = np.column_stack([np.repeat(np.array(directions), dispsteps, axis=0),
                                           np.full(len(dirs), 1.0 / len(dirs)), lams])
    return Sources(directions=np.array(dirs), wavelengths=np.array(lams),
                   divergence_steps=divsteps)
