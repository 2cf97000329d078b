"""nanoBragg's printed summary of a run (geometry, sampling, statistics)."""

from __future__ import annotations

import math
from typing import Any, TextIO

RTD = 180.0 / math.pi


def _v(vec: Any) -> str:
    return " ".join(f"{float(x):g}" for x in vec)


def print_summary(sim: Any, rep: Any, opts: Any, *, backend: str, chosen: str, dtype: str,
                  out: TextIO) -> None:
    """Print what nanoBragg prints before rendering, plus nbcupy's backend line."""
    det, beam, cr, samp = sim.detector, sim.beam, sim.crystal, sim.sampling
    p = lambda *a: print(*a, file=out)  # noqa: E731
    if backend == "auto":
        why = "a GPU is usable" if chosen == "cupy" else "no usable GPU or CuPy"
        p(f"nbcupy: --backend auto chose {chosen} ({why}), {dtype}")
    else:
        p(f"nbcupy: nanoBragg-compatible simulation on {chosen} ({dtype})")
    for line in rep.warnings:
        p(line)
    p(f"{det.convention} convention selected.")
    p("pivoting detector around sample" if det.pivot == "sample"
      else "pivoting detector around direct beam spot")
    if rep.misset_random_deg is not None:
        a = rep.misset_random_deg
        p(f"random orientation misset angles: {a[0]:f} {a[1]:f} {a[2]:f} deg")
    a, b, c, al, be, ga = cr.cell_parameters
    p(f"Unit Cell: {a:g} {b:g} {c:g} {al:g} {be:g} {ga:g}")
    p("crystal is {:g} x {:g} x {:g} microns".format(*(x * 1e6 for x in rep.xtal_size_m)))
    for line in rep.lines:
        p(line)
    if rep.fdump_used:
        p(f"reading Fs from {rep.fdump_used} (cache of a previous -hkl)")
    if rep.fdump_written:
        p(f"writing dump file for next time: {rep.fdump_written}")
    sf = sim.structure_factors
    p(f"  created a total of {sim.sources.count} sources")
    p(f"  created a total of {sim.mosaic.domains} mosaic domains")
    p(f"  {sf.hkls} initialized hkls (all others ={sf.default_F:g})")
    shape = {"square": "parallelpiped", "round": "ellipsoidal", "gauss": "gaussian",
             "tophat": "tophat-spot"}[cr.shape]
    na, nb, nc = cr.n_cells
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
    p("  dials origin= {:g} {:g} {:g}".format(*det.dials_origin))
    fmin, fmax, smin, smax = samp.roi
    p(f"  roi: {fmin} < x < {fmax} && {smin} < y < {smax}")
    p(f"  hdivrange={rep.hdivrange:g} hdivstep={rep.hdivstep:g}  radians")
    p(f"  vdivrange={rep.vdivrange:g} vdivstep={rep.vdivstep:g}  radians")
    p(f"  {sim.sources.count} sources")
    p(f"  {sim.mosaic.domains} mosaic domains over mosaic spread of "
      f"{sim.mosaic.spread * RTD:g} degrees")
    p(f"  {sim.spindle.phisteps} phi steps from {sim.spindle.phi0 * RTD:g} to "
      f"{(sim.spindle.phi0 + sim.spindle.osc) * RTD:g} degrees")
    flags = "".join(f for f, on in ((" +thick", samp.oversample_thick),
                                    (" +polar", samp.oversample_polar),
                                    (" +omega", samp.oversample_omega)) if on)
    p(f"  {samp.oversample}x{samp.oversample} pixel oversample steps{flags}")
    p(f"  {sim.steps} steps")
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
