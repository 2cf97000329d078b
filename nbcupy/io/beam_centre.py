"""Where the direct beam meets the detector, for file headers.

Processing programs want the beam centre as pixel coordinates on the detector's own fast and
slow axes, measured from the outer corner of the first pixel (so the centre of pixel (i, j)
is at (i + 0.5, j + 0.5)); that corner is nanoBragg's ``pix0``.  Computing it from the
detector vectors, instead of taking one convention's beam-centre numbers, gives the right
answer for every convention, pivot and detector rotation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DirectBeam", "direct_beam"]


@dataclass(frozen=True)
class DirectBeam:
    """The direct-beam spot on a flat detector.

    fast_px, slow_px: its position along the fast and slow axes in pixels from the corner
    of the first pixel.  distance: sample to the spot along the beam (m).
    close_distance: sample to the detector plane along its normal (m).
    perpendicular: True when the detector normal is parallel to the beam (to 1e-9).
    """

    fast_px: float
    slow_px: float
    distance: float
    close_distance: float
    perpendicular: bool


def direct_beam(detector, beam_direction: np.ndarray) -> DirectBeam | None:
    """The direct-beam spot of ``detector`` (an :class:`nbcupy.models.Detector`), or None when
    the beam never reaches the detector plane (it runs parallel to it or away from it)."""
    beam = np.asarray(beam_direction, dtype=np.float64)
    beam = beam / np.linalg.norm(beam)
    odet = np.asarray(detector.odet, dtype=np.float64)
    pix0 = np.asarray(detector.pix0, dtype=np.float64)
    close = float(pix0 @ odet)
    along = float(beam @ odet)
    if along == 0.0 or close / along <= 0.0:
        return None
    t = close / along  # the spot is t * beam
    offset = t * beam - pix0
    px = detector.pixel_size
    return DirectBeam(
        fast_px=float(offset @ np.asarray(detector.fdet, dtype=np.float64)) / px,
        slow_px=float(offset @ np.asarray(detector.sdet, dtype=np.float64)) / px,
        distance=t,
        close_distance=abs(close),
        perpendicular=abs(abs(along) - 1.0) < 1e-9,
    )
