"""miniCBF images, as Pilatus and Eiger detectors write them and dxtbx reads them.

A miniCBF file is a CIF text header plus one byte-offset compressed array of int32 counts,
fast index fastest.  It is written with fabio (:class:`fabio.cbfimage.CbfImage`).  The
header follows the convention dxtbx's ``FormatCBFMini`` reader understands:
``_array_data.header_convention "GENERIC_MINI"`` (detectors of any size; "PILATUS" would make
dxtbx expect Pilatus module gaps) and ``_array_data.header_contents`` lines

=========================================  ================================================
``# Detector: ...``                        a description (no vendor name: dxtbx would pick
                                           a vendor-specific reader)
``# 2026-06-01T12:00:00.000``              the time stamp (UTC)
``# Pixel_size P m x P m``                 pixel size
``# Silicon sensor, thickness T m``        sensor material and thickness (0 when the
                                           simulation models no sensor depth)
``# Exposure_time``, ``# Exposure_period``  seconds (the same: a simulated detector has no
                                           dead time)
``# Count_cutoff N counts``                the saturation value: 2^31 - 1, nothing saturates
``# Wavelength L A``                       Angstrom
``# Detector_distance D m``                sample to the direct-beam spot along the beam
``# Beam_xy (X, Y) pixels``                the direct-beam spot in pixels along the fast
                                           (X) and slow (Y) axes from the outer corner of
                                           the first pixel, as dxtbx reads it
``# Start_angle``, ``# Angle_increment``    phi at the start of the image and its
                                           oscillation range, degrees
=========================================  ================================================

plus ``# Polarization`` (the fraction polarized along the E-vector, (1 + K) / 2 for
nanoBragg's Kahn factor K), ``# Detector_2theta`` and ``# Phi`` for other readers.

What the pixels hold is described in :mod:`nbcupy.io.counts`: the photons a counting detector
records, as int32 -- the noise image without the ``-adc`` offset, or with ``-nonoise`` the
noiseless image rounded to counts; -1 marks pixels that were not simulated.

A miniCBF header has no axis vectors: dxtbx assumes a detector perpendicular to the beam
whose fast axis runs along the rotation axis (imgCIF +X) and whose slow axis runs along
imgCIF -Y (down).  That is nanoBragg's geometry in the MOSFLM, DENZO and XDS conventions
without detector rotations (ADXV's slow axis points up, DIALS' fast axis is perpendicular to
its rotation axis).  For any other geometry :func:`cbf_geometry_notes` says what a
reader will get wrong; a NeXus file (:mod:`nbcupy.io.nexus`) describes every geometry exactly.
"""

from __future__ import annotations

import datetime
import math
import os

import numpy as np

from nbcupy.errors import InputError
from nbcupy.io.counts import INT32_MAX, checked_counts

__all__ = ["SENSOR_NAMES", "cbf_header_lines", "cbf_geometry_notes", "write_cbf",
           "write_image"]

#: sensor materials the miniCBF header can name, as dxtbx reads them
SENSOR_NAMES = {"Si": "Silicon", "CdTe": "CdTe"}

#: vectors closer than this (in each component) count as the same direction
_SAME = 1e-6


def _g(value: float) -> str:
    """A float with enough digits to be read back exactly enough (10 significant)."""
    return f"{value:.10g}"


def _timestamp(when: datetime.datetime | None) -> str:
    when = when or datetime.datetime.now(datetime.timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}"


def cbf_header_lines(sim, *, phi: float | None = None, exposure_time: float = 1.0,
                     sensor_material: str = "Si", count_cutoff: int = INT32_MAX,
                     timestamp: datetime.datetime | None = None) -> list[str]:
    """The ``_array_data.header_contents`` lines of one image of ``sim``.

    ``sim``: a :class:`~nbcupy.experiment.models.Simulation`.  ``phi``: phi at the start of
    this image (rad; default ``sim.spindle.phi0``); the oscillation range is
    ``sim.spindle.osc``.
    ``exposure_time`` (s).  ``sensor_material``: ``"Si"`` or ``"CdTe"``.
    ``count_cutoff``: the saturation value.  ``timestamp``: default now (UTC).
    Raises InputError when the direct beam does not meet the detector plane (there is then
    no beam centre to write) or for an unknown sensor material.
    """
    from nbcupy.experiment.geometry import direct_beam

    if sensor_material not in SENSOR_NAMES:
        raise InputError(f"CBF: sensor material {sensor_material!r} is not one of "
                         f"{', '.join(SENSOR_NAMES)}")
    if not (math.isfinite(exposure_time) and exposure_time >= 0.0):
        raise InputError(f"CBF: exposure time {exposure_time!r} must be finite and >= 0")
    det, beam, spindle = sim.detector, sim.beam, sim.spindle
    spot = direct_beam(det, beam.direction)
    if spot is None:
        raise InputError("CBF: the direct beam does not meet the detector plane, so there is"
                         " no beam centre for the header")
    phi = spindle.phi0 if phi is None else phi
    px = det.pixel_size
    return [
        "# Detector: nbcupy simulated photon-counting detector, S/N 0",
        f"# {_timestamp(timestamp)}",
        f"# Pixel_size {_g(px)} m x {_g(px)} m",
        f"# {SENSOR_NAMES[sensor_material]} sensor, thickness {_g(det.thickness)} m",
        f"# Exposure_time {exposure_time:.7f} s",
        f"# Exposure_period {exposure_time:.7f} s",
        "# Tau = 0 s",
        f"# Count_cutoff {int(count_cutoff)} counts",
        f"# Wavelength {_g(beam.wavelength * 1e10)} A",
        f"# Detector_distance {_g(spot.distance)} m",
        f"# Beam_xy ({spot.fast_px:.6f}, {spot.slow_px:.6f}) pixels",
        f"# Start_angle {math.degrees(phi):.6f} deg.",
        f"# Angle_increment {math.degrees(spindle.osc):.6f} deg.",
        f"# Detector_2theta {math.degrees(det.twotheta):.6f} deg.",
        f"# Polarization {(1.0 + beam.kahn_factor) / 2.0:.6f}",
        f"# Phi {math.degrees(phi):.6f} deg.",
    ]


def cbf_geometry_notes(sim) -> list[str]:
    """What a miniCBF reader will get wrong about ``sim``'s geometry (empty when nothing).

    dxtbx rebuilds a miniCBF detector perpendicular to the beam with its fast axis along the
    rotation axis (imgCIF +X) and its slow axis along imgCIF -Y; every difference from that
    is reported, in the frame of :func:`nbcupy.experiment.frames.lab_to_mcstas`.
    """
    from nbcupy.experiment.frames import MCSTAS_TO_IMGCIF, lab_to_mcstas
    from nbcupy.experiment.geometry import direct_beam

    det, beam = sim.detector, sim.beam
    to_img = MCSTAS_TO_IMGCIF @ lab_to_mcstas(beam.direction, sim.spindle.spindle_axis,
                                              beam.polarization_axis)
    notes = []
    if det.curved:
        notes.append("CBF: the detector is curved; miniCBF describes a flat detector, so "
                     "pixel positions away from the beam centre will be misread")
    spot = direct_beam(det, beam.direction)
    if spot is not None and not spot.perpendicular:
        notes.append("CBF: the detector is not perpendicular to the beam; miniCBF cannot say "
                     "so and readers will assume it is (write NeXus for the exact geometry)")
    fast = to_img @ np.asarray(det.fdet, dtype=np.float64)
    slow = to_img @ np.asarray(det.sdet, dtype=np.float64)
    if (np.abs(fast - (1.0, 0.0, 0.0)).max() > _SAME
            or np.abs(slow - (0.0, -1.0, 0.0)).max() > _SAME):
        notes.append("CBF: the detector's fast/slow axes are not along the rotation axis and "
                     "'down' as miniCBF readers assume (write NeXus for the exact geometry)")
    spindle = np.asarray(sim.spindle.spindle_axis, dtype=np.float64)
    if abs(float(spindle @ np.asarray(beam.direction, dtype=np.float64))) > _SAME * (
            np.linalg.norm(spindle) * np.linalg.norm(beam.direction)):
        notes.append("CBF: the rotation axis is not perpendicular to the beam; miniCBF "
                     "readers assume it is")
    return notes


def write_cbf(path: str | os.PathLike[str], counts: object, sim, *,
              phi: float | None = None, exposure_time: float = 1.0,
              sensor_material: str = "Si", count_cutoff: int = INT32_MAX,
              timestamp: datetime.datetime | None = None) -> list[str]:
    """Write one miniCBF image, atomically; return :func:`cbf_geometry_notes`.

    ``counts``: int32 (or any integer type that fits) array of shape (spixels, fpixels), as
    :mod:`nbcupy.io.counts` makes them.  The other arguments are those of
    :func:`cbf_header_lines`.  Raises InputError when the file cannot be written.
    """
    import fabio.cbfimage

    data = checked_counts(counts, (sim.detector.spixels, sim.detector.fpixels), "CBF")
    lines = cbf_header_lines(sim, phi=phi, exposure_time=exposure_time,
                             sensor_material=sensor_material, count_cutoff=count_cutoff,
                             timestamp=timestamp)
    header = {
        "_array_data.header_convention": "GENERIC_MINI",
        "_array_data.header_contents": "\r\n".join(lines),
    }
    from nbcupy.io.atomic import atomic_path

    image = fabio.cbfimage.CbfImage(data=data, header=header)
    try:
        with atomic_path(path) as tmp:
            image.write(tmp)
    except OSError as exc:
        raise InputError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from exc
    return cbf_geometry_notes(sim)


def write_image(path: str | os.PathLike[str], pixels: object, sim, **options) -> list[str]:
    """The format registry's writer: int32 counts ``pixels`` of an image of ``sim`` as
    miniCBF; ``options`` those of :func:`write_cbf`.  Returns its notes."""
    return write_cbf(path, pixels, sim, **options)
