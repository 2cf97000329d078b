"""The unit cell: reciprocal axes from cell parameters and real axes from reciprocal ones,
following nanoBragg (including, by default, its defect in c* for non-90-degree cells).

Lengths are Angstrom and angles radians; functions work on NumPy float64 host arrays.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from nbcupy.experiment.geometry import dot3, norm3

DBL_MIN = sys.float_info.min


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
