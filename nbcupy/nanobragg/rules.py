"""nanoBragg's rules for turning what the user gave into what is simulated.

Small pure functions, one per rule of nanoBragg.c: the (range, step, count) rules of the
divergence, dispersion, spindle and sensor layers, the mosaic-domain rule, the automatic
oversampling, the region of interest's defaults, and how an SMV header (``-img``/``-mask``)
supplies detector defaults.  The builders (:mod:`nbcupy.nanobragg.build`) apply them.
Angles are radians and lengths metres unless a docstring says otherwise.
"""

from __future__ import annotations

import math

from nbcupy.nanobragg.options import Options

RTD = 180.0 / math.pi


#: the header keys nanoBragg reads (as substrings: DISTANCE also finds CLOSE_DISTANCE)
SMV_KEYS = ("PIXEL_SIZE", "DISTANCE", "CLOSE_DISTANCE", "WAVELENGTH", "BEAM_CENTER_X",
            "BEAM_CENTER_Y", "ORGX", "ORGY", "PHI", "OSC_RANGE")


def apply_smv_header(opts: Options, header: object, is_mask: bool,
                     label: str | None = None) -> None:
    """Take detector defaults from an SMV header (``-img`` or ``-mask``), as nanoBragg does.

    ``header`` is an :class:`nbcupy.io.smv.SMVImage`.  Flags given on
    the command line are applied afterwards and win.  The mask's BEAM_CENTER_Y is measured
    from the other edge (nanoBragg flips it).  A key nanoBragg reads whose value is NaN or
    infinite is an InputError naming the file (``label``, e.g. ``-img x.img``) and the key.
    """
    from nbcupy.errors import InputError
    from nbcupy.io.ctext import c_atof

    for key, text in header.fields.items():
        if any(name in key for name in SMV_KEYS) and not math.isfinite(c_atof(text)):
            where = label or ("-mask" if is_mask else "-img")
            raise InputError(f"{where}: header {key}={text} is not a finite number")
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


def steps_rule(range_: float, step: float, steps: int, default_range: float,
               ) -> tuple[float, float, int]:
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


def phi_rule(osc: float, phistep: float, phisteps: int) -> tuple[float, float, int]:
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


def thickness_rule(thick: float, steps: int) -> tuple[float, float, int]:
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


def mosaic_rule(spread: float, domains: int, warnings: list[str]) -> tuple[float, int]:
    """nanoBragg's rule for (mosaic spread, domains); appends its warnings to ``warnings``."""
    if domains <= 0:
        if spread < 0.0:
            return 0.0, 1
        if spread == 0.0:
            return 0.0, 1
        warnings.append(
            "WARNING: finite mosaicity with only one domain! upping to 10 mosaic domains")
        return spread, 10
    if spread < 0.0:
        warnings.append("WARNING: no mosaic spread specified.  setting mosaic_domains = 1")
        return 0.0, 1
    if spread == 0.0:
        warnings.append("WARNING: zero mosaic spread specified.  setting mosaic_domains = 1")
        return 0.0, 1
    return spread, domains


def recommended_oversample(crystal_size: float, wavelength: float, distance: float,
                           pixel: float) -> int:
    """nanoBragg's automatic oversampling: enough sub-pixels that the crystal's largest
    dimension ``crystal_size`` (m) is resolved, i.e. ceil(3 size / reciprocal pixel size),
    at least 1."""
    reciprocal_pixel = wavelength * distance / pixel
    recommended = int(math.ceil(3.0 * crystal_size / reciprocal_pixel))
    return recommended if recommended > 0 else 1


def roi_bounds(roi: tuple[int, int, int, int] | None, fpixels: int,
               spixels: int) -> tuple[int, int, int, int]:
    """nanoBragg's inclusive ROI bounds (fmin, fmax, smin, smax); a negative bound, or no
    ``-roi`` at all, means the detector's edge."""
    roi = roi or (-1, -1, -1, -1)
    return (roi[0] if roi[0] >= 0 else 0, roi[1] if roi[1] >= 0 else fpixels,
            roi[2] if roi[2] >= 0 else 0, roi[3] if roi[3] >= 0 else spixels)
