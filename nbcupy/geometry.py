"""Rotations, detector placement and unit-cell construction, following nanoBragg.

All functions work on NumPy float64 host arrays (they run once per image, not per pixel).
Angles are radians; lengths are metres unless a docstring says Angstrom.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

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


def rotate_axis(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotate ``v`` by ``angle`` about ``axis`` (nanoBragg's ``rotate_axis``)."""
    v = np.asarray(v, dtype=np.float64)
    ax = np.asarray(axis, dtype=np.float64)
    c, s = math.cos(angle), math.sin(angle)
    dot = dot3(ax, v) * (1.0 - c)
    return np.array([
        ax[0] * dot + v[0] * c + (-ax[2] * v[1] + ax[1] * v[2]) * s,
        ax[1] * dot + v[1] * c + (ax[2] * v[0] - ax[0] * v[2]) * s,
        ax[2] * dot + v[2] * c + (-ax[1] * v[0] + ax[0] * v[1]) * s,
    ])


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
# unit cell


def reciprocal_from_cell(a: float, b: float, c: float, alpha: float, beta: float,
                         gamma: float, corrected: bool = False,
                         ) -> tuple[np.ndarray, float, list[str]]:
    """Reciprocal axes (rows a*, b*, c*, 1/Angstrom) in nanoBragg's default orientation.

    Cell lengths in Angstrom, angles in radians.  Returns the 3x3 matrix, the cell volume
    (Angstrom^3) and any warnings.  nanoBragg sets c*_z = c* V / (a b c sin gamma*), which is
    not the c* of the requested cell when the angles are not 90 degrees; ``corrected=True``
    uses c*_z = V* / (a* b* sin gamma*), which makes a*, b*, c* the true reciprocal basis.
    """
    warnings: list[str] = []
    s = (alpha + beta + gamma) / 2.0
    skew = abs(math.sin(s) * math.sin(s - alpha) * math.sin(s - beta) * math.sin(s - gamma))
    volume = 2.0 * a * b * c * math.sqrt(skew)
    if volume <= 0.0:
        warnings.append(f"WARNING: impossible unit cell volume: {volume:g}")
        volume = DBL_MIN
    v_star = 1.0 / volume
    a_s = b * c * math.sin(alpha) * v_star
    b_s = c * a * math.sin(beta) * v_star
    c_s = a * b * math.sin(gamma) * v_star
    if a_s <= 0.0 or b_s <= 0.0 or c_s <= 0.0:
        warnings.append(f"WARNING: impossible reciprocal cell lengths: {a_s:g} {b_s:g} {c_s:g}")
        a_s, b_s, c_s = (max(abs(x), DBL_MIN) for x in (a_s, b_s, c_s))
    ca, cb, cg = math.cos(alpha), math.cos(beta), math.cos(gamma)
    sa, sb, sg = math.sin(alpha), math.sin(beta), math.sin(gamma)
    cos_as = (cb * cg - ca) / (sb * sg)
    cos_bs = (cg * ca - cb) / (sg * sa)
    cos_gs = (ca * cb - cg) / (sa * sb)
    sin_gs = c * v_star / a_s / b_s
    sin_gs = max(-1.0, min(1.0, sin_gs))
    if cos_as * cos_as > 1.0:
        cos_as = 1.0
    if cos_bs * cos_bs > 1.0:
        cos_bs = 1.0
    if cos_gs * cos_gs > 1.0:
        cos_gs = 1.0
    a_star = np.array([a_s, 0.0, 0.0])
    b_star = np.array([b_s * cos_gs, b_s * sin_gs, 0.0])
    c_star_y = c_s * (cos_as - cos_bs * cos_gs) / sin_gs
    if corrected:
        # the reciprocal volume 1/V divided by the area of the a*, b* parallelogram
        c_star_z = v_star / (a_s * b_s * sin_gs)
    else:
        c_star_z = c_s * volume / (a * b * c * sin_gs)
    c_star = np.array([c_s * cos_bs, c_star_y, c_star_z])
    return np.vstack([a_star, b_star, c_star]), volume, warnings


@dataclass(frozen=True)
class CellVectors:
    """Real (rows a, b, c; Angstrom) and reciprocal (rows a*, b*, c*; 1/Angstrom) axes."""

    real: np.ndarray
    reciprocal: np.ndarray
    volume: float

    def parameters(self) -> tuple[float, float, float, float, float, float]:
        """a, b, c (Angstrom) and alpha, beta, gamma (degrees) of the real cell."""
        a, b, c = self.real
        la, lb, lc = (norm3(x) for x in (a, b, c))
        rec = self.reciprocal
        sin_al = norm3(rec[0]) * self.volume / lb / lc
        sin_be = norm3(rec[1]) * self.volume / la / lc
        sin_ga = norm3(rec[2]) * self.volume / la / lb
        cos_al = dot3(b, c) / lb / lc
        cos_be = dot3(a, c) / la / lc
        cos_ga = dot3(a, b) / la / lb

        def angle(s: float, co: float) -> float:
            s = max(-1.0, min(1.0, s))
            if co * co > 1.0:
                co = 1.0
            return math.degrees(math.atan2(s, co))

        return la, lb, lc, angle(sin_al, cos_al), angle(sin_be, cos_be), angle(sin_ga, cos_ga)


def cell_vectors(reciprocal: np.ndarray, user_volume: float | None,
                 user_lengths: tuple[float, float, float] | None) -> CellVectors:
    """Real and reciprocal axes from reciprocal axes, as nanoBragg completes a cell.

    ``reciprocal`` rows are a*, b*, c* (1/Angstrom, misset already applied).  When the cell
    came from ``-cell`` (``user_volume`` and ``user_lengths`` given), the real axes are forced
    to the requested lengths and volume; otherwise they follow from the reciprocal volume.
    The reciprocal axes are then rebuilt from the real ones.
    """
    a_s, b_s, c_s = reciprocal
    a_x_b = np.cross(a_s, b_s)
    b_x_c = np.cross(b_s, c_s)
    c_x_a = np.cross(c_s, a_s)
    v_star = dot3(a_s, b_x_c)
    if user_volume is not None and user_lengths is not None:
        la, lb, lc = user_lengths

        def rescale(v: np.ndarray, mag: float) -> np.ndarray:
            old = norm3(v)
            return mag / (old if old > 0 else 1.0) * v

        b_x_c = rescale(b_x_c, la / user_volume)
        c_x_a = rescale(c_x_a, lb / user_volume)
        a_x_b = rescale(a_x_b, lc / user_volume)
        v_star = 1.0 / user_volume
    volume = 1.0 / v_star
    a = b_x_c * volume
    b = c_x_a * volume
    c = a_x_b * volume
    rec = np.vstack([np.cross(b, c) * v_star, np.cross(c, a) * v_star, np.cross(a, b) * v_star])
    return CellVectors(real=np.vstack([a, b, c]), reciprocal=rec, volume=volume)
