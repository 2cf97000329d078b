"""Detector conventions of nanoBragg as data: lab-frame axes, beam-centre rules and pivots.

Each convention names the lab-frame unit vectors of the beam, the detector's fast (``fdet``),
slow (``sdet``) and normal (``odet``) axes, the two-theta axis, the polarization E-vector and
the spindle, plus the rule that turns the user's beam centre (Xbeam, Ybeam) into the direct-beam
position on the fast/slow axes (Fbeam, Sbeam) and the pivot the convention forces.  nanoBragg's
lab frame has the beam along +x in MOSFLM; all vectors are dimensionless unit vectors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Vector = tuple[float, float, float]


@dataclass(frozen=True)
class Convention:
    """One detector convention.

    ``default_beam_centre(detsize_f, detsize_s, pixel, xclose, yclose)`` gives (Xbeam, Ybeam)
    in metres when the user gave none; ``beam_on_axes(xbeam, ybeam, detsize_s, pixel)`` gives
    (Fbeam, Sbeam) in metres.  ``pivot`` is ``"beam"``, ``"sample"`` or ``None`` (keep the
    user's choice).
    """

    name: str
    beam: Vector
    fdet: Vector
    sdet: Vector
    odet: Vector
    twotheta_axis: Vector
    polar: Vector
    spindle: Vector
    default_beam_centre: Callable[[float, float, float, float, float], tuple[float, float]]
    beam_on_axes: Callable[[float, float, float, float], tuple[float, float]]
    pivot: str | None


def _centre_mosflm(df: float, ds: float, px: float, xc: float, yc: float) -> tuple[float, float]:
    return (ds + px) / 2.0, (df + px) / 2.0


def _centre_adxv(df: float, ds: float, px: float, xc: float, yc: float) -> tuple[float, float]:
    return (df + px) / 2.0, (ds - px) / 2.0


def _centre_close(df: float, ds: float, px: float, xc: float, yc: float) -> tuple[float, float]:
    return xc, yc


CONVENTIONS: dict[str, Convention] = {
    "mosflm": Convention(
        "mosflm", beam=(1, 0, 0), fdet=(0, 0, 1), sdet=(0, -1, 0), odet=(1, 0, 0),
        twotheta_axis=(0, 0, -1), polar=(0, 0, 1), spindle=(0, 0, 1),
        default_beam_centre=_centre_mosflm,
        beam_on_axes=lambda x, y, ds, px: (y + 0.5 * px, x + 0.5 * px),
        pivot="beam"),
    "denzo": Convention(
        "denzo", beam=(1, 0, 0), fdet=(0, 0, 1), sdet=(0, -1, 0), odet=(1, 0, 0),
        twotheta_axis=(0, 0, -1), polar=(0, 0, 1), spindle=(0, 0, 1),
        default_beam_centre=_centre_mosflm,
        beam_on_axes=lambda x, y, ds, px: (y, x),
        pivot="beam"),
    "adxv": Convention(
        "adxv", beam=(0, 0, 1), fdet=(1, 0, 0), sdet=(0, -1, 0), odet=(0, 0, 1),
        twotheta_axis=(-1, 0, 0), polar=(1, 0, 0), spindle=(1, 0, 0),
        default_beam_centre=_centre_adxv,
        beam_on_axes=lambda x, y, ds, px: (x, ds - y),
        pivot="beam"),
    "xds": Convention(
        "xds", beam=(0, 0, 1), fdet=(1, 0, 0), sdet=(0, 1, 0), odet=(0, 0, 1),
        twotheta_axis=(1, 0, 0), polar=(1, 0, 0), spindle=(1, 0, 0),
        default_beam_centre=_centre_close,
        beam_on_axes=lambda x, y, ds, px: (x, y),
        pivot="sample"),
    "dials": Convention(
        "dials", beam=(0, 0, 1), fdet=(1, 0, 0), sdet=(0, 1, 0), odet=(0, 0, 1),
        twotheta_axis=(0, 1, 0), polar=(0, 1, 0), spindle=(0, 1, 0),
        default_beam_centre=_centre_close,
        beam_on_axes=lambda x, y, ds, px: (x, y),
        pivot="sample"),
    # CUSTOM starts from nanoBragg's built-in vectors (MOSFLM's, except the two-theta axis,
    # which is +y); every vector the user gives replaces one of them.
    "custom": Convention(
        "custom", beam=(1, 0, 0), fdet=(0, 0, 1), sdet=(0, -1, 0), odet=(1, 0, 0),
        twotheta_axis=(0, 1, 0), polar=(0, 0, 1), spindle=(0, 0, 1),
        default_beam_centre=_centre_close,
        beam_on_axes=lambda x, y, ds, px: (x, y),
        pivot=None),
}


def get_convention(name: str) -> Convention:
    """The convention called ``name`` (case-insensitive)."""
    try:
        return CONVENTIONS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown convention {name!r}; choose one of "
                         f"{', '.join(n.upper() for n in CONVENTIONS)}") from None
