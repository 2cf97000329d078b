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

__all__ = ["check_output_options", "check_output_geometry", "writer_options"]


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
    try:
        brightness = float(opts.png_brightness)
    except (TypeError, ValueError):
        brightness = math.nan
    if not (math.isfinite(brightness) and brightness > 0.0):
        raise InputError(f"--png-brightness: must be a positive number (percent), got "
                         f"{opts.png_brightness!r}")
    material = opts.sensor_material
    if opts.cbf_file is not None or opts.nexus_file is not None or material != "Si":
        from nbcupy.io.cbf import SENSOR_NAMES
        from nbcupy.io.nexus import SENSOR_MATERIALS

        if material not in SENSOR_MATERIALS:
            raise InputError(f"--sensor-material: {material!r} is not one of "
                             f"{', '.join(SENSOR_MATERIALS)}")
        if opts.cbf_file is not None and material not in SENSOR_NAMES:
            raise InputError(f"--sensor-material {material}: a miniCBF header names only "
                             f"{', '.join(SENSOR_NAMES)} (NeXus also {material})")
    if opts.smv_adc_offset:
        adc = float(opts.adc_offset)
        if not (math.isfinite(adc) and adc.is_integer() and abs(adc) < 2**31):
            raise InputError(f"--smv-adc-offset: ADC_OFFSET is a whole number of ADU, but -adc "
                             f"is {adc:g}")
    if (opts.cbf_file is not None or opts.nexus_file is not None) and not opts.exposure >= 0:
        raise InputError(f"-exposure {opts.exposure:g}: the CBF/NeXus headers need an exposure "
                         "time >= 0 s")
    unused = []
    if opts.png_file is None:
        unused += [(name, "--png FILE") for name, on in (
            ("--png-brightness", brightness != 100.0), ("--png-log", opts.png_log)) if on]
    if opts.cbf_file is None and opts.nexus_file is None and material != "Si":
        unused.append(("--sensor-material", "--cbf or --nexus"))
    for name, needs in unused:
        line = f"note: {name} has no effect without {needs}"
        report.lines.append(line)
        report.notes.append(line)


def check_output_geometry(opts: Options, sim: Any) -> None:
    """InputError when the geometry of ``sim`` cannot be written to a requested file: a
    miniCBF header needs the direct beam's spot on the detector plane."""
    if opts.cbf_file is not None:
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
