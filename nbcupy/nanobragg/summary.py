"""nanoBragg's printed summary of a run, line for line in nanoBragg's order.

Everything is taken from the built models and the set-up report: the conventions, the cell
(direct and reciprocal, volume, axes), the crystal size and MW estimate, the structure-factor
files, the sensor layers, phi steps, divergence points, wavelengths and the list of sources,
and the geometry block.  Numbers use nanoBragg's printf formats.
"""

from __future__ import annotations

import math
from typing import Any, TextIO

RTD = 180.0 / math.pi


#: nanoBragg's Avogadro constant (1/mol) and the density (g/m^3) of its MW estimate
AVOGADRO = 6.02214179e23
PROTEIN_DENSITY = 1.2e6

#: the set-up's messages by where nanoBragg prints them (matched by how they start)
_BEFORE_CONVENTION = ("WARNING: clipping sample", "WARNING: auto-generating odet_vector",
                      "WARNING: setting detector attenuation", "WARNING: finite mosaicity",
                      "WARNING: no mosaic spread", "WARNING: zero mosaic spread")
_CELL_WARNINGS = ("WARNING: impossible unit cell", "WARNING: impossible reciprocal cell")
_OVERSAMPLE_WARNINGS = ("WARNING: maximum dimension of sample",)
_DUMP_WARNINGS = ("WARNING: unable to write dump file",)


#: nanoBragg's labels of the cell angles it finds out of range: (angle, sin 0 / cos 1) -> label
_REAL_ANGLE_LABELS = {(0, 0): "sin_alpha = ", (0, 1): "cos_alpha = ", (1, 0): "sin_beta  = ",
                      (1, 1): "cos_beta  = ", (2, 0): "sin_gamma = ", (2, 1): "cos_gamma = "}
_RECIPROCAL_ANGLE_LABELS = {
    (0, 0): "sin(alpha_star) = ", (0, 1): "cos(alpha_star) = ", (1, 0): "sin(beta_star)  = ",
    (1, 1): "cos(beta_star)  = ", (2, 0): "sin(gamma_star) = ", (2, 1): "cos(gamma_star) = "}


def _v(vec: Any) -> str:
    return " ".join(f"{float(x):g}" for x in vec)


def _dot(u: Any, v: Any) -> float:
    """u . v summed left to right, as nanoBragg's ``dot_product``."""
    return float(u[0]) * float(v[0]) + float(u[1]) * float(v[1]) + float(u[2]) * float(v[2])


def _cross(u: Any, v: Any) -> tuple[float, float, float]:
    u0, u1, u2 = (float(x) for x in u)
    v0, v1, v2 = (float(x) for x in v)
    return (u1 * v2 - u2 * v1, u2 * v0 - u0 * v2, u0 * v1 - u1 * v0)


def _length(u: Any) -> float:
    return math.sqrt(_dot(u, u))


class _Messages:
    """The set-up's lines, handed out in nanoBragg's order by how they start."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = list(lines)

    def take(self, *starts: str, containing: str = "") -> list[str]:
        found = [ln for ln in self._lines if ln.startswith(starts) and containing in ln]
        self._lines = [ln for ln in self._lines if ln not in found]
        return found

    def rest(self) -> list[str]:
        rest, self._lines = self._lines, []
        return rest


def cell_lines(crystal: Any) -> list[str]:
    """nanoBragg's lines on the unit cell: direct and reciprocal cell, volume and axes.

    From the built crystal (real axes in m, reciprocal axes in 1/Angstrom), with nanoBragg's
    formulas for the reciprocal angles (sin from the volume, cos from the dot products).
    """
    real = [[float(x) * 1e10 for x in row] for row in crystal.cell]  # Angstrom
    rec = [[float(x) for x in row] for row in crystal.reciprocal]
    lens = [_length(x) for x in rec]
    # nanoBragg rebuilds a* = (b x c) V*, where V* is 1/V of the requested cell after -cell
    # (not of the axes it builds, whose angles can differ) or a* . (b* x c*) after -mat
    volume = _length(_cross(real[1], real[2])) / lens[0]

    reals = [_length(x) for x in real]
    # sin and cos of the real and the reciprocal cell angles as nanoBragg takes them
    sins = [lens[i] * volume / reals[(i + 1) % 3] / reals[(i + 2) % 3] for i in range(3)]
    coss = [_dot(real[(i + 1) % 3], real[(i + 2) % 3]) / reals[(i + 1) % 3]
            / reals[(i + 2) % 3] for i in range(3)]
    sins_star = [reals[i] * (1.0 / volume) / lens[(i + 1) % 3] / lens[(i + 2) % 3]
                 for i in range(3)]
    coss_star = [_dot(rec[(i + 1) % 3], rec[(i + 2) % 3]) / lens[(i + 1) % 3]
                 / lens[(i + 2) % 3] for i in range(3)]
    out = []
    for title, labels, values in (
            ("cell angles", _REAL_ANGLE_LABELS, (sins, coss)),
            ("reciprocal cell angles", _RECIPROCAL_ANGLE_LABELS, (sins_star, coss_star))):
        if any(abs(x) > 1.0000001 for x in (*values[0], *values[1])):
            out.append(f"WARNING: oddball {title}:")
            out += [f"{label}{values[k][i]:.25g}" for (i, k), label in labels.items()]

    def angle(i: int) -> float:
        sin = max(-1.0, min(1.0, sins_star[i]))
        cos = coss_star[i]
        if cos * cos > 1.0:
            cos = 1.0
        return math.atan2(sin, cos) * RTD

    a, b, c, al, be, ga = crystal.cell_parameters
    out += [f"Unit Cell: {a:g} {b:g} {c:g} {al:g} {be:g} {ga:g}",
            "Recp Cell: {:g} {:g} {:g} {:g} {:g} {:g}".format(*lens,
                                                            *(angle(i) for i in range(3))),
            f"volume = {volume:g} A^3",
            "real-space cell vectors (Angstrom):",
            f"     {'a':<10}  {'b':<10}  {'c':<10}"]
    out += [f"{axis}: {real[0][i]:11.8f} {real[1][i]:11.8f} {real[2][i]:11.8f}"
            for i, axis in enumerate("XYZ")]
    out += ["reciprocal-space cell vectors (Angstrom^-1):",
            f"     {'a_star':<10}  {'b_star':<10}  {'c_star':<10}"]
    out += [f"{axis}: {rec[0][i]:11.8f} {rec[1][i]:11.8f} {rec[2][i]:11.8f}"
            for i, axis in enumerate("XYZ")]
    return out


def source_lines(sim: Any, rep: Any, opts: Any) -> list[str]:
    """nanoBragg's lines on the sensor layers, phi steps, divergence, wavelengths and sources."""
    det, scan = sim.detector, sim.spindle
    out = [f"thick{i} = {det.thickstep * i * 1e6:g} um" for i in range(det.thicksteps)]
    out += [f"phi{i} = {(scan.phi0 + scan.phistep * i) * RTD:g}" for i in range(scan.phisteps)]
    if opts.source_file is None:  # generated sources
        out += [f"divergence deviation: {h:g} {v:g}" for h, v in rep.divergence]
        out += [f"lambda{i} = {float(lam):.15g}"
                for i, lam in enumerate(sim.sources.wavelengths[:rep.dispsteps])]
    out.append(f"  created a total of {sim.sources.count} sources:")
    if rep.source_table is not None:
        out += ["{:g} {:g} {:g}   {:g} {:g}".format(*(float(x) for x in row))
                for row in rep.source_table]
    return out


def print_summary(sim: Any, rep: Any, opts: Any, *, backend: str, chosen: str, dtype: str,
                  out: TextIO) -> None:
    """Print what nanoBragg prints before rendering, in its order, after nbcupy's backend
    line (which takes the place of nanoBragg's banner)."""
    det, beam, cr, samp = sim.detector, sim.beam, sim.crystal, sim.sampling
    p = lambda *a: print(*a, file=out)  # noqa: E731
    if backend == "auto":
        why = "a GPU is usable" if chosen == "cupy" else "no usable GPU or CuPy"
        p(f"nbcupy: --backend auto chose {chosen} ({why}), {dtype}")
    else:
        p(f"nbcupy: nanoBragg-compatible simulation on {chosen} ({dtype})")
    for smv_file in (opts.mask_file, opts.img_file):  # read first, the mask before the image
        if smv_file is not None:
            p(f"reading {smv_file}")
    warnings, lines = _Messages(rep.warnings), _Messages(rep.lines)
    later = {name: warnings.take(*starts) for name, starts in (
        ("cell", _CELL_WARNINGS), ("oversample", _OVERSAMPLE_WARNINGS), ("dump", _DUMP_WARNINGS))}
    for line in warnings.take(*_BEFORE_CONVENTION) + warnings.rest():
        p(line)
    p(f"{det.convention} convention selected.")
    p("pivoting detector around sample" if det.pivot == "sample"
      else "pivoting detector around direct beam spot")
    p("XDS incident beam: {:g} {:g} {:g}".format(
        *(_dot(beam.direction, axis) for axis in (det.fdet, det.sdet, det.odet))))
    for line in lines.take("auto-selected", containing="interpolation") + later["cell"]:
        p(line)
    for line in lines.take("reading "):
        p(line)
    if rep.misset_random_deg is not None:
        a = rep.misset_random_deg
        p(f"random orientation misset angles: {a[0]:f} {a[1]:f} {a[2]:f} deg")
    for line in cell_lines(cr):
        p(line)
    p("crystal is {:g} x {:g} x {:g} microns".format(*(x * 1e6 for x in rep.xtal_size_m)))
    for line in lines.take("auto-selected", containing="oversampling") + later["oversample"]:
        p(line)
    for line in lines.rest():
        p(line)
    xa, xb, xc = rep.xtal_size_m
    na, nb, nc = cr.n_cells
    p(f"approximate MW = {xa * xb * xc * PROTEIN_DENSITY * AVOGADRO / (na * nb * nc):g}")
    if rep.fdump_used:
        p(f"reading Fs from {rep.fdump_used} (cache of a previous -hkl)")
    if opts.hkl_file is not None:
        p(f"counting entries in {opts.hkl_file}")
        if opts.default_F != 0.0:
            p(f"initializing to default_F = {opts.default_F:g}:")
            p("done initializing:")
        p(f"re-reading {opts.hkl_file}")
    for line in later["dump"]:
        p(line)
    if rep.fdump_written:
        p(f"writing dump file for next time: {rep.fdump_written}")
    for line in source_lines(sim, rep, opts):
        p(line)
    sf = sim.structure_factors
    p(f"  created a total of {sim.mosaic.domains} mosaic domains")
    p(f"  {sf.hkls} initialized hkls (all others ={sf.default_F:g})")
    shape = {"square": "parallelpiped", "round": "ellipsoidal", "gauss": "gaussian",
             "tophat": "tophat-spot"}[cr.shape]
    p(f"  {shape} xtal: {na:.0f}x{nb:.0f}x{nc:.0f} cells")
    p(f"  wave={beam.wavelength:g} meters +/- {rep.dispersion * 100:g}% in {rep.dispsteps} steps")
    if not beam.polarization_enabled:
        p("  polarization effect disabled")
    else:
        p(f"  Kahn polarization factor: {beam.kahn_factor:f}")
    if det.curved:
        p("  curved detector: all pixels same distance from origin")
    if det.point_pixel:
        p("  pixel obliquity effect disabled")
    p(f"  incident fluence: {beam.fluence:g} photons/m^2")
    p(f"  distance={det.distance:g} detsize={det.size_f:g}x{det.size_s:g}  pixel="
      f"{det.pixel_size:g} meters ({det.fpixels}x{det.spixels} pixels)")
    p(f"  sensor is {det.thickness:g} m thick in {det.thicksteps} layers with mu= {det.mu:g}")
    p(f"  Xbeam={det.xbeam:g} Ybeam={det.ybeam:g}")
    p(f"  Fbeam={det.fbeam:g} Sbeam={det.sbeam:g}")
    p(f"  Xclose={det.xclose:g} Yclose={det.yclose:g}")
    p(f"  Fclose={det.fclose:g} Sclose={det.sclose:g}")
    p(f"  DIRECTION_OF_DETECTOR_X-AXIS= {_v(det.fdet)}")
    p(f"  DIRECTION_OF_DETECTOR_Y-AXIS= {_v(det.sdet)}")
    p(f"  DIRECTION_OF_DETECTOR_Z-AXIS= {_v(det.odet)}")
    p(f"  INCIDENT_BEAM_DIRECTION= {_v(beam.direction)}")
    p(f"  spindle ROTATION_AXIS= {_v(sim.spindle.spindle_axis)}")
    p(f"  POLARIZATION_PLANE_NORMAL= {_v(_cross(beam.direction, beam.polarization_axis))}")
    p("  dials origin= {:g} {:g} {:g}".format(*det.dials_origin))
    fmin, fmax, smin, smax = samp.roi
    p(f"  roi: {fmin} < x < {fmax} && {smin} < y < {smax}")
    p(f"  hdivrange={rep.hdivrange:g} hdivstep={rep.hdivstep:g}  radians")
    p(f"  vdivrange={rep.vdivrange:g} vdivstep={rep.vdivstep:g}  radians")
    p(f"  {sim.sources.divergence_steps} divergence steps")
    p(f"  {sim.sources.count} sources")
    p(f"  {sim.mosaic.domains} mosaic domains over mosaic spread of "
      f"{sim.mosaic.spread * RTD:g} degrees")
    p(f"  {sim.spindle.phisteps} phi steps from {sim.spindle.phi0 * RTD:g} to "
      f"{(sim.spindle.phi0 + sim.spindle.osc) * RTD:g} degrees")
    flags = "".join(f for f, on in ((" +thick", samp.oversample_thick),
                                    (" +polar", samp.oversample_polar),
                                    (" +omega", samp.oversample_omega)) if on)
    p(f"  {samp.oversample}x{samp.oversample} pixel oversample steps{flags}")
    if samp.mask is not None:
        p(f"  skipping zero-flagged pixels in {opts.mask_file}")
    if opts.calculate_noise:
        p("")
        p("  noise image paramters:")
        p(f"  seed: {rep.noise_seed}")
        p(f"  water droplet size: {samp.water_size:g} m")


def print_solid_angle(res: Any, out: TextIO) -> None:
    """nanoBragg's line on the solid angle the rendered pixels subtend."""
    sim = res.simulation
    omega = res.render.omega_sum / sim.steps
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p("")
    p(f"solid angle subtended by detector = {omega:g} steradian ( "
      f"{100 * omega / 4 / math.pi:g}% sphere)")
