"""From nanoBragg's :class:`~nbcupy.nanobragg.options.Options` to the experiment models.

One builder per model (detector, beam, crystal, structure factors, spindle, sources, mosaic,
sampling), each applying nanoBragg's defaults, auto-selections and conventions (the rules
themselves are small functions in :mod:`nbcupy.nanobragg.rules`).  :func:`build_simulation`
calls them in nanoBragg's order (which matters: the random misset and the mosaic domains share
one generator) and returns the :class:`~nbcupy.experiment.models.Simulation` with a
:class:`SetupReport` of what was decided, for the printed summary.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from nbcupy.errors import InputError
from nbcupy.experiment import cell as cellmod
from nbcupy.experiment import geometry as geo
from nbcupy.experiment.conventions import get_convention
from nbcupy.experiment.models import (
    Beam,
    Crystal,
    Detector,
    Mosaic,
    Sampling,
    Simulation,
    Sources,
    Spindle,
    StructureFactors,
)
from nbcupy.nanobragg import rules
from nbcupy.nanobragg.options import Options, validate_options

DEFAULT_WAVELENGTH = 1.0e-10
DEFAULT_FLUENCE = 125932015286227086360700780544.0


@dataclass
class SetupReport:
    """What the builders decided, for the printed summary."""

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
    #: what the structure-factor files and nbcupy's output options said (each line is also
    #: in ``lines`` or ``warnings``), for the API's notes
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LabAxes:
    """The lab-frame unit vectors a convention (and any custom vectors) fixes: beam direction,
    detector axes before rotation, two-theta axis, polarization E-vector, the vertical
    (beam x polarization) and the spindle."""

    beam: np.ndarray
    fdet: np.ndarray
    sdet: np.ndarray
    odet: np.ndarray
    twotheta_axis: np.ndarray
    polar: np.ndarray
    vert: np.ndarray
    spindle: np.ndarray
    pix0_override: np.ndarray | None


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise InputError(f"{name}: {value} is not a finite number")


def build_simulation(opts: Options, rng: object | None = None, write_cache: bool = False,
                     ) -> tuple[Simulation, SetupReport]:
    """Apply nanoBragg's rules to ``opts`` and build the models.

    ``rng`` is the shared :class:`nbcupy.nanobragg.rng.NanoBraggRandom` (created if None) so
    that the misset, mosaic and noise streams share one generator state as in nanoBragg.
    ``write_cache`` writes the ``Fdump.bin`` cache after reading ``-hkl``, as nanoBragg does,
    and caches a ``--model``'s structure factors next to it
    (:mod:`nbcupy.nanobragg.structure_inputs`).
    """
    from nbcupy.nanobragg import rng as nbrng
    from nbcupy.nanobragg.output_options import check_output_geometry, check_output_options
    from nbcupy.nanobragg.structure_inputs import (
        check_cell,
        crystal_options,
        read_structure_factor_input,
    )

    if rng is None:
        rng = nbrng.NanoBraggRandom()
    report = SetupReport()
    validate_options(opts)
    check_output_options(opts, report)

    size = detector_size(opts)
    wavelength = opts.wavelength if opts.wavelength is not None else DEFAULT_WAVELENGTH
    fluence_of(opts)
    sample_size = beam_clipped_sample(opts, report)
    axes = lab_axes(opts)
    detector = build_detector(opts, size, axes, report)
    given = read_structure_factor_input(opts, report)
    crystal = build_crystal(crystal_options(opts, given, report), wavelength, sample_size, rng,
                            report)
    if given.kind == "reflections":
        check_cell(opts, crystal.cell_parameters, given.cell, given.label, report)
    oversample, recommended = build_oversample(opts, crystal, wavelength, detector, report)
    spindle = build_spindle(opts, axes)
    sources = build_sources(opts, wavelength, axes, report)
    _check_settings(opts, sources)
    structure_factors = build_structure_factors(opts, crystal, report, write_cache,
                                                given=given, detector=detector,
                                                sources=sources)
    mosaic = build_mosaic(opts, rng, report)
    sampling = build_sampling(opts, detector, oversample, recommended)
    beam = build_beam(opts, wavelength, axes)
    report.noise_seed = opts.seed if opts.seed is not None else -int(time.time())
    sim = Simulation(beam=beam, sources=sources, detector=detector, crystal=crystal,
                     structure_factors=structure_factors, spindle=spindle, mosaic=mosaic,
                     sampling=sampling, corrected=opts.corrected)
    check_output_geometry(opts, sim)
    return sim, report


# ----------------------------------------------------------------------------------------
# beam and lab frame


def fluence_of(opts: Options) -> float:
    """Photons per m^2: ``-fluence``, or ``-flux`` x ``-exposure`` / ``-beamsize``^2."""
    fluence = opts.fluence if opts.fluence is not None else DEFAULT_FLUENCE
    if opts.flux != 0.0 and opts.exposure > 0.0 and opts.beamsize >= 0:
        fluence = opts.flux * opts.exposure / opts.beamsize / opts.beamsize
        if not math.isfinite(fluence):
            raise InputError(f"-flux {opts.flux:g} x -exposure {opts.exposure:g} s / "
                             f"(-beamsize {opts.beamsize * 1e3:g} mm)^2 gives a fluence of "
                             f"{fluence} photons/m^2")
    _check_finite("-fluence", fluence)
    return fluence


def beam_clipped_sample(opts: Options, report: SetupReport) -> tuple[float, float, float]:
    """The crystal size (m) along a, b, c, its height and width clipped to the beam size."""
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
    return opts.sample_x, sample_y, sample_z


def lab_axes(opts: Options) -> LabAxes:
    """The convention's lab-frame vectors, with the CUSTOM convention's given vectors."""
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
                if opts.corrected:
                    pix0_override = np.array(value, float)
                continue
            vec[key] = np.array(value, float)
    fast, _ = geo.unit(vec["fdet"])
    slow, _ = geo.unit(vec["sdet"])
    if geo.norm3(np.cross(fast, slow)) < 1e-9:
        from nbcupy.errors import InputRefused

        raise InputRefused(f"the fast axis ({_vector_text(vec['fdet'])}) and the slow axis "
                           f"({_vector_text(vec['sdet'])}) are parallel (-fdet_vector, "
                           "-sdet_vector): the detector has no area; nanoBragg.c would not "
                           "notice")
    beam_dir, _ = geo.unit(vec["beam"])
    polar_axis, _ = geo.unit(vec["polar"])
    vert, transverse = geo.unit(np.cross(beam_dir, polar_axis))
    if (opts.corrected and transverse < 1e-12 and opts.kahn_factor != 0.0
            and not opts.nopolar):
        # nanoBragg's polarization factor then treats every ray as lying in the E-plane
        given = " ".join(f"{x:g}" for x in vec["polar"])
        raise InputError(f"-polar_vector {given}: the E-vector lies along the beam; with -polar "
                         "it needs a component across the beam")
    twotheta_axis = vec["twotheta"]
    if opts.corrected:
        twotheta_axis, _ = geo.unit(twotheta_axis)
    return LabAxes(beam=beam_dir, fdet=vec["fdet"], sdet=vec["sdet"], odet=vec["odet"],
                   twotheta_axis=twotheta_axis, polar=polar_axis, vert=vert,
                   spindle=geo.unit(vec["spindle"])[0], pix0_override=pix0_override)


def _vector_text(v: np.ndarray) -> str:
    return " ".join(f"{float(x):g}" for x in v)


def build_beam(opts: Options, wavelength: float, axes: LabAxes) -> Beam:
    """The incident beam: wavelength (m), fluence, direction and polarization."""
    return Beam(wavelength=wavelength, fluence=fluence_of(opts), direction=axes.beam,
                polarization_axis=axes.polar, kahn_factor=opts.kahn_factor,
                polarization_enabled=not opts.nopolar)


# ----------------------------------------------------------------------------------------
# detector


def detector_size(opts: Options) -> tuple[int, int, float, float]:
    """(fpixels, spixels, detsize_f, detsize_s (m)): ``-detpixels`` win over ``-detsize``."""
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
    from nbcupy.nanobragg.sizes import check_image_size

    check_image_size(fpixels, spixels, opts)
    if fpixels * spixels > 2**31 - 1:
        raise InputError(f"detector of {fpixels}x{spixels} pixels is too large")
    return fpixels, spixels, detsize_f, detsize_s


def build_detector(opts: Options, size: tuple[int, int, float, float], axes: LabAxes,
                   report: SetupReport) -> Detector:
    """Beam centre, pivot, rotations and sensor of a detector of ``size`` (see
    :func:`detector_size`), by nanoBragg's rules."""
    pixel = opts.pixel_size
    fpixels, spixels, detsize_f, detsize_s = size
    # beam centre defaults and convention
    fclose = (opts.orgx - 0.5) * pixel if opts.orgx is not None else detsize_f / 2.0
    sclose = (opts.orgy - 0.5) * pixel if opts.orgy is not None else detsize_s / 2.0
    xclose = opts.xclose if opts.xclose is not None else fclose
    yclose = opts.yclose if opts.yclose is not None else sclose
    conv = get_convention(opts.convention)
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

    fdet, _ = geo.unit(axes.fdet)
    sdet, _ = geo.unit(axes.sdet)
    odet, odet_len = geo.unit(axes.odet)
    if odet_len != 1.0:
        report.warnings.append("WARNING: auto-generating odet_vector")
        odet, _ = geo.unit(np.cross(fdet, sdet))

    if pivot == "beam" and not opts.curved_detector:
        normal = geo.rotate_xyz(odet, opts.detector_rotx, opts.detector_roty,
                                opts.detector_rotz)
        if abs(geo.dot3(axes.beam, normal)) < 1e-12:
            raise InputError("the beam runs parallel to the detector plane, so with the BEAM "
                             "pivot (-distance) it never meets the detector; give "
                             "-close_distance (SAMPLE pivot) for a detector beside the beam")
    close_distance = opts.close_distance if opts.close_distance is not None else math.nan
    placement = geo.place_detector(
        fdet=fdet, sdet=sdet, odet=odet, beam=axes.beam, twotheta_axis=axes.twotheta_axis,
        rotx=opts.detector_rotx, roty=opts.detector_roty, rotz=opts.detector_rotz,
        twotheta=opts.twotheta, pivot=pivot, distance=opts.distance,
        close_distance=close_distance, fbeam=fbeam, sbeam=sbeam, fclose=fclose, sclose=sclose,
        pixel_size=pixel, pix0_override=axes.pix0_override)
    if not (placement.close_distance > 0 or opts.curved_detector):
        raise InputError(
            f"impossible geometry: the detector plane is {placement.close_distance * 1e3:g} mm "
            "from the sample (behind it or through it)")

    # sensor thickness
    mu = opts.detector_mu
    thick = opts.detector_thick
    if mu == 0.0 and opts.corrected:  # -detector_abs 0 or inf: no absorption
        # (nanoBragg zeroes the thickness only when -detector_thick comes before; a later
        # one is kept, and its layers then capture nothing: the image is zero)
        thick = 0.0
    thick, thickstep, thicksteps = rules.thickness_rule(thick, opts.detector_thicksteps)
    if thick > 0.0 and mu < 0.0:
        mu = 1.0 / thick
        report.warnings.append(f"WARNING: setting detector attenuation depth to {mu:g} m")

    return Detector(
        fpixels=fpixels, spixels=spixels, pixel_size=pixel, fdet=placement.fdet,
        sdet=placement.sdet, odet=placement.odet, pix0=placement.pix0,
        distance=placement.distance, close_distance=placement.close_distance,
        convention=conv.name, pivot=pivot, curved=opts.curved_detector,
        point_pixel=opts.point_pixel, thickness=thick, thicksteps=thicksteps,
        thickstep=thickstep, mu=mu, twotheta=opts.twotheta, xbeam=xbeam, ybeam=ybeam,
        fbeam=placement.fbeam, sbeam=placement.sbeam, xclose=xclose, yclose=yclose,
        fclose=placement.fclose, sclose=placement.sclose, orgx=placement.orgx,
        orgy=placement.orgy, dials_origin=placement.dials_origin, detsize=(detsize_f, detsize_s))


# ----------------------------------------------------------------------------------------
# crystal and structure factors


def build_crystal(opts: Options, wavelength: float, sample_size: tuple[float, float, float],
                  rng: object, report: SetupReport) -> Crystal:
    """The unit cell from ``-cell`` and/or ``-mat`` with any misset (real axes in metres),
    its size in cells (``-N``, or the crystal size divided by the cell edges) and its shape."""
    misset_seed = opts.misset_seed if opts.misset_seed is not None else -int(time.time())
    unit_cell = _unit_cell(opts, wavelength, rng, misset_seed, report)
    lengths = np.linalg.norm(unit_cell.cell, axis=1)
    na, nb, nc = opts.na, opts.nb, opts.nc
    size_x, size_y, size_z = sample_size
    if size_x > 0:
        na = math.ceil(size_x / lengths[0])
    if size_y > 0:
        nb = math.ceil(size_y / lengths[1])
    if size_z > 0:
        nc = math.ceil(size_z / lengths[2])
    na, nb, nc = (float(max(n, 1.0)) for n in (na, nb, nc))
    report.xtal_size_m = (lengths[0] * na, lengths[1] * nb, lengths[2] * nc)
    return Crystal(cell=unit_cell.cell, reciprocal=unit_cell.reciprocal, n_cells=(na, nb, nc),
                   shape=opts.xtal_shape, fudge=opts.fudge,
                   cell_parameters=unit_cell.cell_parameters, misset_deg=unit_cell.misset_deg)


def _unit_cell(opts: Options, wavelength: float, rng: object, misset_seed: int,
               report: SetupReport) -> Crystal:
    """The cell's real and reciprocal axes (a Crystal of one cell)."""
    from nbcupy.io.matrix import read_mosflm_matrix
    from nbcupy.nanobragg import rng as nbrng

    if opts.cell is None and opts.matrix_file is None:
        raise InputError("no unit cell: give -cell a b c alpha beta gamma or -mat FILE (or an "
                         "MTZ/mmCIF -hkl or a --model file, which have one)")
    user_volume = None
    user_lengths = None
    reciprocal = np.zeros((3, 3))
    if opts.cell is not None:
        # six positive edges and angles that form a cell (validate_options): nanoBragg's
        # defaults for missing or non-positive values never apply
        a, b, c, al, be, ga = opts.cell
        reciprocal, volume, warnings = cellmod.reciprocal_from_cell(
            a, b, c, al, be, ga, corrected=opts.corrected)
        report.warnings.extend(warnings)
        if volume <= cellmod.DBL_MIN:
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
    cv = cellmod.cell_vectors(reciprocal, user_volume, user_lengths)
    if not np.all(np.isfinite(cv.real)):
        raise InputError("the unit cell is not finite (check -mat or -cell)")
    if opts.matrix_file is not None:
        _check_matrix_cell(opts.matrix_file, cv, wavelength)
    return Crystal(cell=cv.real * 1e-10, reciprocal=cv.reciprocal, n_cells=(1.0, 1.0, 1.0),
                   cell_parameters=cv.parameters(), misset_deg=misset_deg)


def _check_matrix_cell(path: str, cv: cellmod.CellVectors, wavelength: float) -> None:
    """The cell of a ``-mat`` file: right-handed (a MOSFLM matrix is lambda U B with U a
    rotation) and with edges inside 0.1..100000 A at the wavelength it is divided by."""
    if cv.volume < 0.0:
        raise InputError(f"-mat {path}: the matrix is left-handed (its determinant is "
                         "negative), so it is not lambda U B with U a rotation")
    params = cv.parameters()
    if not all(0.1 <= x <= 1e5 for x in params[:3]):
        edges = " ".join(f"{x:g}" for x in params[:3])
        raise InputError(f"-mat {path}: at -lambda {wavelength * 1e10:g} A its cell edges are "
                         f"{edges} A, outside 0.1..100000 A (the matrix holds the reciprocal "
                         "axes times the wavelength it was made for: is -lambda that one?)")
    if not all(0.0 < x < 180.0 for x in params[3:]):
        raise InputError(f"-mat {path}: its axes are nearly coplanar (cell angles "
                         f"{' '.join(f'{x:g}' for x in params[3:])} deg)")


def build_structure_factors(opts: Options, crystal: Crystal, report: SetupReport,
                            write_cache: bool, *, given: object = None,
                            detector: Detector | None = None,
                            sources: Sources | None = None) -> StructureFactors:
    """Amplitudes from ``-hkl`` (writing the Fdump cache) or from a previous run's cache,
    ``-default_F`` elsewhere, and whether to interpolate (nanoBragg's automatic choice:
    when any crystal edge is at most 2 cells).

    ``given``: the :class:`~nbcupy.nanobragg.structure_inputs.StructureFactorInput` already
    read (an MTZ/mmCIF ``-hkl`` file's P1 reflections, or a ``--model``, whose amplitudes
    need the ``detector`` and the ``sources``); None reads ``-hkl`` as a text file.
    """
    _check_finite("-default_F", opts.default_F)
    grid = None
    kind = getattr(given, "kind", "text" if opts.hkl_file is not None else "none")
    if kind != "model" and (opts.hkl_file is not None or os.path.exists(opts.dump_file)):
        from nbcupy.io import fdump  # only loaded when there are structure factors to read
        from nbcupy.io.hkl import build_hkl_grid, read_hkl
    if kind == "model":
        from nbcupy.nanobragg.structure_inputs import model_grid

        if detector is None or sources is None:
            raise ValueError("--model structure factors need the detector and the sources")
        grid = model_grid(opts, given, detector, sources, crystal, report, write_cache)
    elif opts.hkl_file is not None:
        table = given.reflections.table if kind == "reflections" else read_hkl(opts.hkl_file)
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
        instead = (f" instead of -default_F {opts.default_F:g} everywhere"
                   if opts.default_F != 0.0 else "")
        report.notes.append(
            f"note: structure factors read from {opts.dump_file}, the cache an earlier -hkl run "
            f"left, although no -hkl was given (nanoBragg.c does the same){instead}; delete "
            "it or give -hkl to choose")
    elif opts.default_F == 0.0:
        raise InputError("no structure factors: give -hkl FILE, --model FILE or -default_F F "
                         f"(and no {opts.dump_file} cache was found)")
    interpolate = opts.interpolate
    if interpolate is None:
        # nanoBragg decides from the -N values as given, before crystal sizes become cells
        counts = crystal.n_cells if opts.corrected else (opts.na, opts.nb, opts.nc)
        interpolate = min(counts) <= 2
        report.lines.append("auto-selected tricubic interpolation of structure factors"
                            if interpolate else "auto-selected no interpolation")
    if grid is None:
        interpolate = False
    return StructureFactors(default_F=opts.default_F, grid=grid, interpolate=bool(interpolate))


# ----------------------------------------------------------------------------------------
# spindle, sources, mosaic, sampling


def build_spindle(opts: Options, axes: LabAxes) -> Spindle:
    """The spindle rotation of the exposure, by nanoBragg's phi rule."""
    osc, phistep, phisteps = rules.phi_rule(opts.osc, opts.phistep, opts.phisteps)
    return Spindle(phi0=opts.phi0, phistep=phistep, phisteps=phisteps, osc=osc,
                   spindle_axis=axes.spindle)


def build_sources(opts: Options, wavelength: float, axes: LabAxes,
                  report: SetupReport) -> Sources:
    """Point sources from ``-sourcefile`` or from the divergence x dispersion grid."""
    beam, polar, vert = axes.beam, axes.polar, axes.vert
    hdivrange, hdivstep, hdivsteps = rules.steps_rule(opts.hdivrange, opts.hdivstep,
                                                      opts.hdivsteps, 1.0)
    vdivrange, vdivstep, vdivsteps = rules.steps_rule(opts.vdivrange, opts.vdivstep,
                                                      opts.vdivsteps, 1.0)
    dispersion, dispstep, dispsteps = rules.steps_rule(opts.dispersion, -1.0, opts.dispsteps,
                                                       1.0)
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
    if (opts.corrected and opts.source_file is None and (hdivsteps > 1 or vdivsteps > 1)
            and geo.norm3(vert) == 0.0):
        # nanoBragg (reproduced by default) then gives every point the beam's own direction
        raise InputError(
            "the E-vector (-polar_vector) lies along the beam: the divergence is spread about "
            "the E-vector and beam x E-vector, so every divergence point would get the beam's "
            "own direction; give an E-vector across the beam")

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
        if np.any(lam < 1e-13) or np.any(lam > 1e-6):
            worst = float(lam[np.argmax(np.abs(np.log10(lam / 1e-10)))])
            raise InputError(f"-sourcefile {opts.source_file}: a wavelength of {worst:g} m "
                             f"({worst * 1e10:g} A) is outside the plausible range 0.001 to "
                             "10000 A (the file's wavelengths are in metres)")
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


def _check_settings(opts: Options, sources: Sources) -> None:
    """The engine's per-image tables must fit: sources x phi steps x mosaic domains (checked
    before the domains are drawn)."""
    from nbcupy.nanobragg.sizes import check_settings_count

    _, _, phisteps = rules.phi_rule(opts.osc, opts.phistep, opts.phisteps)
    _, domains = rules.mosaic_rule(opts.mosaic_spread, opts.mosaic_domains, [])
    check_settings_count(sources.count, phisteps, domains)


def build_mosaic(opts: Options, rng: object, report: SetupReport) -> Mosaic:
    """The mosaic domains, drawn with nanoBragg's generator from ``-mosaic_seed``."""
    from nbcupy.nanobragg import rng as nbrng

    spread, domains = rules.mosaic_rule(opts.mosaic_spread, opts.mosaic_domains,
                                        report.warnings)
    umats = rng.mosaic_umats(spread, domains, nbrng.SeedStream(opts.mosaic_seed))
    return Mosaic(spread=spread, umats=umats)


def build_oversample(opts: Options, crystal: Crystal, wavelength: float, detector: Detector,
                     report: SetupReport) -> tuple[int, int]:
    """(oversample, recommended oversample): ``-oversample``, or nanoBragg's automatic choice
    from the crystal size and the reciprocal pixel size."""
    size = max(report.xtal_size_m)
    recommended = rules.recommended_oversample(size, wavelength, detector.distance,
                                               detector.pixel_size)
    oversample = opts.oversample
    if oversample <= 0:
        oversample = recommended
        report.lines.append(f"auto-selected {oversample}-fold oversampling")
    if oversample < recommended:
        reciprocal_pixel = wavelength * detector.distance / detector.pixel_size
        report.warnings.append(
            f"WARNING: maximum dimension of sample is {size * 1e10:g} A\n"
            f"         but reciprocal pixel size is {reciprocal_pixel * 1e10:g} A\n"
            "         intensity may vary significantly across a pixel!\n"
            f"         recommend -oversample {recommended} to work around this")
    if oversample > 64:
        if opts.oversample > 0:
            raise InputError(f"-oversample {oversample}: more than 64 sub-pixels per edge is "
                             "not supported (use a smaller value)")
        raise InputError(f"the automatic oversampling would be {oversample} sub-pixels per "
                         f"pixel edge (a {size * 1e10:g} A crystal at {detector.distance * 1e3:g}"
                         " mm), more than the 64 supported; give -oversample (64 or less)")
    return oversample, recommended


def build_sampling(opts: Options, detector: Detector, oversample: int,
                   recommended: int) -> Sampling:
    """Sub-pixels, the -oversample_* rules, ROI, mask, resolution limit and water."""
    fpixels, spixels = detector.fpixels, detector.spixels
    roi = rules.roi_bounds(opts.roi, fpixels, spixels)
    mask = _mask(opts, fpixels, spixels)
    _check_rendered(opts, roi, mask, fpixels, spixels)
    return Sampling(
        oversample=oversample, oversample_omega=opts.oversample_omega,
        oversample_polar=opts.oversample_polar, oversample_thick=opts.oversample_thick,
        roi=roi, mask=mask, dmin=opts.dmin, water_size=opts.water_size,
        recommended_oversample=recommended)


def _check_rendered(opts: Options, roi: tuple[int, int, int, int], mask: np.ndarray | None,
                    fpixels: int, spixels: int) -> None:
    """At least one pixel is simulated: the ROI meets the detector, and the mask leaves a
    pixel of it on (nanoBragg.c writes an empty image otherwise)."""
    from nbcupy.errors import InputRefused

    fmin, fmax, smin, smax = roi
    if fmin > fpixels - 1 or smin > spixels - 1 or fmax < fmin or smax < smin:
        given = " ".join(str(v) for v in (opts.roi or roi))
        raise InputRefused(f"-roi {given} lies outside the {fpixels}x{spixels} detector (fast "
                           f"pixels 0..{fpixels - 1}, slow 0..{spixels - 1}): nothing would be "
                           "simulated (nanoBragg.c writes an empty image)")
    if mask is not None and not mask[smin:smax + 1, fmin:fmax + 1].any():
        where = "" if opts.roi is None else " inside the -roi"
        raise InputRefused(f"-mask {opts.mask_file}: every pixel{where} is switched off, so "
                           "nothing would be simulated (nanoBragg.c writes an empty image)")


def _mask(opts: Options, fpixels: int, spixels: int) -> np.ndarray | None:
    """The ``-mask`` pixels (True = render), checked against the detector size."""
    if opts.mask_pixels is None:
        return None
    mask = np.asarray(opts.mask_pixels, dtype=bool)
    if mask.ndim != 2 or mask.shape != (spixels, fpixels):
        name = f"-mask {opts.mask_file}" if opts.mask_file else "Options.mask_pixels"
        size = "x".join(str(n) for n in mask.shape[::-1])
        raise InputError(f"{name}: {size} pixels but the detector has {fpixels}x{spixels} "
                         "(a mask must be the detector's size)")
    return mask
