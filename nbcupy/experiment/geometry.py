"""Vectors, rotations, detector placement and the direct beam's spot, following nanoBragg.

All functions work on NumPy float64 host arrays (they run once per image, not per pixel).
Angles are radians; lengths are metres unless a docstring says Angstrom.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

DBL_MIN = sys.float_info.min


def dot3(u: np.ndarray, v: np.ndarray) -> float:
    """u . v of two 3-vectors, summed left to right as nanoBragg sums it (so the last bits
    agree; a library dot product may round differently)."""
    return float(u[0]) * float(v[0]) + float(u[1]) * float(v[1]) + float(u[2]) * float(v[2])


def norm3(v: np.ndarray) -> float:
    """Length of a 3-vector, as nanoBragg's ``magnitude``."""
    return math.sqrt(dot3(v, v))


def unit(v: np.ndarray) -> tuple[np.ndarray, float]:
    """Unit vector along ``v`` and the length of ``v``; a zero vector stays zero."""
    v = np.asarray(v, dtype=np.float64)
    mag = norm3(v)
    return (v / mag if mag != 0.0 else np.zeros(3)), mag


def rotation_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_xyz(rotx: float, roty: float, rotz: float) -> np.ndarray:
    """Matrix of nanoBragg's ``rotate``: about x, then y, then z (fixed lab axes)."""
    return rotation_z(rotz) @ rotation_y(roty) @ rotation_x(rotx)


def rotate_xyz(v: np.ndarray, rotx: float, roty: float, rotz: float) -> np.ndarray:
    """Rotate ``v`` about the lab x, then y, then z axis, as nanoBragg's ``rotate``."""
    x, y, z = (float(c) for c in v)
    # nanoBragg's terms, in its order
    if rotx != 0:
        c, s = math.cos(rotx), math.sin(rotx)
        y, z = y * c + z * -s, y * s + z * c
    if roty != 0:
        c, s = math.cos(roty), math.sin(roty)
        x, z = x * c + y * 0.0 + z * s, x * -s + y * 0.0 + z * c
    if rotz != 0:
        c, s = math.cos(rotz), math.sin(rotz)
        x, y = x * c + y * -s, x * s + y * c
    return np.array([x, y, z])


def rotation_about_axis(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues matrix of a right-handed rotation by ``angle`` about ``axis``.

    Like nanoBragg, ``axis`` is used as given (it should be a unit vector).
    """
    ax = np.asarray(axis, dtype=np.float64)
    c, s = math.cos(angle), math.sin(angle)
    k = np.array([[0.0, -ax[2], ax[1]], [ax[2], 0.0, -ax[0]], [-ax[1], ax[0], 0.0]])
    return c * np.eye(3) + (1.0 - c) * np.outer(ax, ax) + s * k


def rotate_components(v: Any, axis: Any, cos_angle: Any, sin_angle: Any) -> list[Any]:
    """Rotate the vector with components ``v = (x, y, z)`` about the unit ``axis`` by the angle
    whose cosine and sine are given (Rodrigues' formula, nanoBragg's ``rotate_axis``).

    The components and the cosine and sine may be floats or arrays of any backend that
    broadcast together (the engine rotates whole tiles of points, each by its own angle);
    the arithmetic is nanoBragg's, term by term.
    """
    ax = [float(a) for a in axis]
    dot = (ax[0] * v[0] + ax[1] * v[1] + ax[2] * v[2]) * (1.0 - cos_angle)
    return [ax[0] * dot + v[0] * cos_angle + (-ax[2] * v[1] + ax[1] * v[2]) * sin_angle,
            ax[1] * dot + v[1] * cos_angle + (ax[2] * v[0] - ax[0] * v[2]) * sin_angle,
            ax[2] * dot + v[2] * cos_angle + (-ax[1] * v[0] + ax[0] * v[1]) * sin_angle]


def rotate_axis(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotate the (3,) vector ``v`` by ``angle`` (rad) about the unit ``axis``."""
    v = np.asarray(v, dtype=np.float64)
    return np.array(rotate_components(v, axis, math.cos(angle), math.sin(angle)))


# ----------------------------------------------------------------------------------------
# detector


@dataclass(frozen=True)
class DetectorPlacement:
    """Result of placing the detector: rotated axes, pix0 and the derived beam centres (m)."""

    fdet: np.ndarray
    sdet: np.ndarray
    odet: np.ndarray
    pix0: np.ndarray
    distance: float
    close_distance: float
    fbeam: float
    sbeam: float
    fclose: float
    sclose: float
    orgx: float
    orgy: float
    dials_origin: tuple[float, float, float]


def place_detector(*, fdet: np.ndarray, sdet: np.ndarray, odet: np.ndarray, beam: np.ndarray,
                   twotheta_axis: np.ndarray, rotx: float, roty: float, rotz: float,
                   twotheta: float, pivot: str, distance: float, close_distance: float,
                   fbeam: float, sbeam: float, fclose: float, sclose: float,
                   pixel_size: float, pix0_override: np.ndarray | None = None,
                   ) -> DetectorPlacement:
    """Rotate the detector and find its origin as nanoBragg does.

    The detector is first rotated about x, y, z (``rotx``..``rotz``), then by ``twotheta``
    about ``twotheta_axis``.  With the ``sample`` pivot the near point (``fclose``,
    ``sclose``) at ``close_distance`` is fixed before the rotations and swings with them; with
    the ``beam`` pivot the direct-beam spot (``fbeam``, ``sbeam``) at ``distance`` along the
    beam stays put.  ``close_distance`` may be NaN (derived from ``distance``).
    ``pix0_override`` places the first pixel explicitly (corrected ``-pix0_vector``).
    """
    odet_rotated = rotate_xyz(odet, rotx, roty, rotz)
    ratio = dot3(beam, odet_rotated)
    if ratio == 0.0:
        ratio = DBL_MIN
    if math.isnan(close_distance):
        close_distance = abs(ratio * distance)
    distance = close_distance / ratio

    pix0 = np.zeros(3)
    if pivot == "sample":
        pix0 = -fclose * fdet - sclose * sdet + close_distance * odet
        pix0 = rotate_xyz(pix0, rotx, roty, rotz)
        pix0 = rotate_axis(pix0, twotheta_axis, twotheta)
    fdet = rotate_axis(rotate_xyz(fdet, rotx, roty, rotz), twotheta_axis, twotheta)
    sdet = rotate_axis(rotate_xyz(sdet, rotx, roty, rotz), twotheta_axis, twotheta)
    odet = rotate_axis(rotate_xyz(odet, rotx, roty, rotz), twotheta_axis, twotheta)
    if pivot == "beam":
        pix0 = -fbeam * fdet - sbeam * sdet + distance * beam
    if pix0_override is not None:
        pix0 = np.asarray(pix0_override, dtype=np.float64)

    fclose = -dot3(pix0, fdet)
    sclose = -dot3(pix0, sdet)
    close_distance = dot3(pix0, odet)
    to_beam = close_distance / ratio * beam - pix0
    fbeam = dot3(fdet, to_beam)
    sbeam = dot3(sdet, to_beam)
    distance = close_distance / ratio
    dials_origin = (1000.0 * float(pix0[2]), 1000.0 * float(pix0[1]), -1000.0 * float(pix0[0]))
    return DetectorPlacement(
        fdet=fdet, sdet=sdet, odet=odet, pix0=pix0, distance=distance,
        close_distance=close_distance, fbeam=fbeam, sbeam=sbeam, fclose=fclose, sclose=sclose,
        orgx=fclose / pixel_size + 0.5, orgy=sclose / pixel_size + 0.5,
        dials_origin=dials_origin)


# ----------------------------------------------------------------------------------------
# the direct beam on the detector, for file headers
#
# Processing programs want the beam centre as pixel coordinates on the detector's own fast
# and slow axes, measured from the outer corner of the first pixel (so the centre of pixel
# (i, j) is at (i + 0.5, j + 0.5)); that corner is nanoBragg's ``pix0``.  Computing it from
# the detector vectors, instead of taking one convention's beam-centre numbers, gives the
# right answer for every convention, pivot and detector rotation.


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
    """The direct-beam spot of ``detector`` (an :class:`~nbcupy.experiment.models.Detector`), or
    None when the beam never reaches the detector plane (it runs parallel to it or away from it)."""
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


# ----------------------------------------------------------------------------------------
# crystal orientation


def is_rotation(m: np.ndarray, tol: float = 1e-9) -> bool:
    """Whether ``m`` is a finite 3x3 rotation matrix: orthonormal with determinant +1 (to
    ``tol``)."""
    m = np.asarray(m, dtype=np.float64)
    return (m.shape == (3, 3) and bool(np.all(np.isfinite(m)))
            and bool(np.allclose(m @ m.T, np.eye(3), atol=tol, rtol=0.0))
            and abs(float(np.linalg.det(m)) - 1.0) <= tol)


def rotate_crystal(crystal: Any, u: Any) -> Any:
    """``crystal`` (a :class:`~nbcupy.experiment.models.Crystal`) turned by the rotation ``u``
    (3x3): every real and reciprocal axis ``v`` becomes ``u @ v``.  Raises ValueError when ``u`` is
    not a rotation (orthonormal with determinant +1, to 1e-9)."""
    m = np.asarray(u, dtype=np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise ValueError(f"an orientation must be a finite 3x3 matrix, got shape {m.shape}")
    if not is_rotation(m):
        raise ValueError("an orientation must be a rotation matrix (orthonormal, det +1)")
    return dataclasses.replace(crystal, cell=crystal.cell @ m.T,
                               reciprocal=crystal.reciprocal @ m.T)
