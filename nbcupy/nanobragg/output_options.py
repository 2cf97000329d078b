"""Checks of nbcupy's output options before anything is simulated.

The CBF, NeXus and PNG files are written after the image (with nanoBragg's files), so their
options are checked first: a value they cannot take is a one-line error before minutes of
simulation, not after some files were written.  The writers themselves are in
:mod:`nbcupy.io`; the files are written by :func:`nbcupy.api.write_outputs`.
"""

from __future__ import annotations

import math
import os
from typing import Any

from nbcupy.errors import InputError
from nbcupy.nanobragg.options import Options

__all__ = ["check_output_options", "check_writer_options", "check_output_geometry",
           "output_formats", "writer_options", "WRITER_OPTION_FORMATS"]


#: the formats each writer option is for (registry names, :mod:`nbcupy.io.registry`)
WRITER_OPTION_FORMATS = {"png_brightness": ("png",), "png_log": ("png",),
                         "sensor_material": ("cbf", "nexus"), "smv_adc_offset": ("smv",)}


def output_formats(opts: Options) -> set[str]:
    """The formats a single-image run writes: SMV (nanoBragg's int and noise images) and the
    CBF, NeXus and PNG files ``opts`` names."""
    return {"smv", *(name for name, path in (("cbf", opts.cbf_file), ("nexus", opts.nexus_file),
                                             ("png", opts.png_file)) if path is not None)}


def check_output_options(opts: Options, report: Any) -> None:
    """InputError for an output option value that cannot be written (an empty name, a
    missing folder, a sensor material or brightness the format cannot take, a fractional
    ``-adc`` for ``--smv-adc-offset``); a note (in the report's lines and notes) for an
    option that has no effect without its file."""
    for name, path in (("--cbf", opts.cbf_file), ("--nexus", opts.nexus_file),
                       ("--png", opts.png_file)):
        if path is None:
            continue
        if not str(path).strip():
            raise InputError(f"{name}: expected a file name, got an empty string")
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise InputError(f"cannot write {path}: it is a folder")
        if not os.path.isdir(folder):
            raise InputError(f"cannot write {path}: no folder {os.path.dirname(path)}")
    needs = {"png_brightness": ("--png-brightness", "--png FILE"),
             "png_log": ("--png-log", "--png FILE"),
             "sensor_material": ("--sensor-material", "--cbf or --nexus")}
    for unused in check_writer_options(opts, output_formats(opts)):
        name, needed = needs[unused]
        line = f"note: {name} has no effect without {needed}"
        report.lines.append(line)
        report.notes.append(line)


def check_writer_options(opts: Options, formats: Any) -> list[str]:
    """Check the writer options of ``opts`` (brightness, log scale, sensor material, ADC
    offset, and the exposure time the headers need) for files of the registry's
    ``formats``: InputError for a value they cannot take.  Returns the Options fields of
    the writer options given (not at their defaults) that none of ``formats`` uses, in the
    order of :data:`WRITER_OPTION_FORMATS`."""
    formats = set(formats)
    try:
        brightness = float(opts.png_brightness)
    except (TypeError, ValueError):
        brightness = math.nan
    if not (math.isfinite(brightness) and brightness > 0.0):
        raise InputError(f"--png-brightness: must be a positive number (percent), got "
                         f"{opts.png_brightness!r}")
    material = opts.sensor_material
    counts = bool(formats & {"cbf", "nexus"})
    if counts or material != "Si":
        from nbcupy.io.cbf import SENSOR_NAMES
        from nbcupy.io.nexus import SENSOR_MATERIALS

        if material not in SENSOR_MATERIALS:
            raise InputError(f"--sensor-material: {material!r} is not one of "
                             f"{', '.join(SENSOR_MATERIALS)}")
        if "cbf" in formats and material not in SENSOR_NAMES:
            raise InputError(f"--sensor-material {material}: a miniCBF header names only "
                             f"{', '.join(SENSOR_NAMES)} (NeXus also {material})")
    if opts.smv_adc_offset and "smv" in formats:
        adc = float(opts.adc_offset)
        if not (math.isfinite(adc) and adc.is_integer() and abs(adc) < 2**31):
            raise InputError(f"--smv-adc-offset: ADC_OFFSET is a whole number of ADU, but -adc "
                             f"is {adc:g}")
    if counts and not opts.exposure >= 0:
        raise InputError(f"-exposure {opts.exposure:g}: the CBF/NeXus headers need an exposure "
                         "time >= 0 s")
    given = {"png_brightness": brightness != 100.0, "png_log": bool(opts.png_log),
             "sensor_material": material != "Si", "smv_adc_offset": bool(opts.smv_adc_offset)}
    return [name for name, used_by in WRITER_OPTION_FORMATS.items()
            if given[name] and not formats & set(used_by)]


def check_output_geometry(opts: Options, sim: Any, formats: Any = None) -> None:
    """InputError when the geometry of ``sim`` cannot be written to a requested file (the
    registry's ``formats``; default those ``opts`` names): a miniCBF header needs the direct
    beam's spot on the detector plane."""
    if "cbf" in (output_formats(opts) if formats is None else formats):
        from nbcupy.io.cbf import cbf_header_lines

        cbf_header_lines(sim, exposure_time=opts.exposure, sensor_material=opts.sensor_material)


def writer_options(format_name: str, opts: Options, kind: str) -> dict[str, Any]:
    """The keyword arguments the registry's writer of ``format_name`` takes from ``opts``
    for an image of ``kind`` (``noise``, ``int`` or ``float``)."""
    if format_name == "smv":
        return {"noise_image": kind == "noise",
                "adc_offset": int(opts.adc_offset) if opts.smv_adc_offset else None}
    if format_name in ("cbf", "nexus"):
        return {"exposure_time": opts.exposure, "sensor_material": opts.sensor_material}
    if format_name == "png":
        return {"brightness": opts.png_brightness, "log_scale": opts.png_log}
    return {}
