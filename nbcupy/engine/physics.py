"""The physics of nanoBragg as plain, named array functions.

Every function takes arrays (NumPy, CuPy or any Array-API namespace) and finds its namespace
from them.  Units are stated in each docstring; angles are radians, lengths metres unless said.
"""

from __future__ import annotations

import math
from typing import Any

from nbcupy.backends import array_namespace

#: Thomson cross-section r_e^2 (m^2), the value nanoBragg uses.
R_E_SQR = 7.94079248018965e-30
#: Avogadro's number as nanoBragg uses it (mol^-1).
AVOGADRO = 6.02214179e23
#: Forward-scattering structure factor of water (electrons) and its molecular weight (g/mol).
WATER_F = 2.57
WATER_MW = 18.0
#: Scale that gives a sphere the same integral as the cube in ``-round_xtal`` spots.
ROUND_XTAL_SCALE = 0.723601254558268
#: Gaussian and top-hat spot-shape constants of nanoBragg.
GAUSS_XTAL_WIDTH = 0.63
TOPHAT_XTAL_RADIUS_SQR = 0.3969


def nearest_index(h: Any) -> Any:
    """Nearest whole Miller index, nanoBragg's ``ceil(h - 0.5)`` (halves round down)."""
    xp = array_namespace(h)
    return xp.ceil(h - 0.5)


def sincg(x: Any, n: float) -> Any:
    """Grating (lattice) transform sin(n x)/sin(x), equal to n at x = 0.  ``x`` in radians."""
    xp = array_namespace(x)
    zero = x == 0
    safe = xp.where(zero, xp.ones_like(x), x)
    return xp.where(zero, xp.full_like(x, float(n)), xp.sin(n * safe) / xp.sin(safe))


def sincg_squared_fractional(frac: Any, n: float) -> Any:
    """Squared lattice transform ``sincg(pi h, n)**2`` from the fractional index ``h - h0``.

    For a whole number of cells ``n``, sin(n pi h)/sin(pi h) differs from
    sin(n pi f)/sin(pi f), f = h - round(h), only by a sign, so the square is the same.  The
    fractional form keeps full relative accuracy in float32 even for large ``h`` because the
    argument of the sines stays within [-pi/2, pi/2].  Dimensionless.
    """
    xp = array_namespace(frac)
    zero = frac == 0
    safe = xp.where(zero, xp.ones_like(frac), frac)
    ratio = xp.sin((math.pi * n) * safe) / xp.sin(math.pi * safe)
    return xp.where(zero, xp.full_like(frac, float(n) * float(n)), ratio * ratio)


#: Largest number of cells for which :func:`grating_squared` uses the Chebyshev form in
#: double precision (its rounding grows like (1 + sqrt 2)^N eps near a node).
CHEBYSHEV_MAX_CELLS = 12


def chebyshev_grating_coefficients(n: int) -> tuple[bool, tuple[float, ...]]:
    """Coefficients of U_{n-1}, the Chebyshev polynomial of the second kind, in y = (2 cos x)^2.

    Returns ``(odd, coefs)``: U_{n-1}(cos x) = (2 cos x)^odd * sum_j coefs[j] y^(D - j), highest
    power first (coefs[0] = 1).  Exact small integers.
    """
    m = int(n) - 1
    odd = m % 2 == 1
    coefs = tuple(float((-1) ** k * math.comb(m - k, k)) for k in range(m // 2 + 1))
    return odd, coefs


def grating_squared_chebyshev(frac: Any, n: float) -> Any:
    """Squared lattice transform ``sincg(pi h, n)**2`` of a whole number ``n`` of cells, from
    the fractional index ``frac = h - h0``, without a division.

    sin(n x)/sin(x) = U_{n-1}(cos x) (Chebyshev polynomial of the second kind), so the square
    is a polynomial in y = 4 cos^2(pi frac) = 2 + 2 cos(2 pi frac), evaluated by Horner's rule.
    One cosine instead of two sines and no special case at frac = 0, where it is exactly n^2.
    Accurate to about (1 + sqrt 2)^n eps relative near a node: meant for double precision and
    n <= :data:`CHEBYSHEV_MAX_CELLS`.  Dimensionless.
    """
    xp = array_namespace(frac)
    y = xp.cos(frac * (2.0 * math.pi))
    y = y * 2.0
    y = y + 2.0
    odd, coefs = chebyshev_grating_coefficients(int(n))
    if len(coefs) == 1:
        return y if odd else xp.ones_like(frac)
    p = y + coefs[1]
    for c in coefs[2:]:
        p = p * y
        p = p + c
    p = p * p
    return p * y if odd else p


def uses_chebyshev_grating(n: float, dtype: Any, xp: Any) -> bool:
    """Whether :func:`grating_squared` takes the Chebyshev form for ``n`` cells and ``dtype``."""
    return dtype == xp.float64 and float(n) == int(n) and 1 < n <= CHEBYSHEV_MAX_CELLS


def grating_squared(frac: Any, n: float) -> Any:
    """Squared lattice transform ``sincg(pi h, n)**2`` from the fractional index ``h - h0``:
    :func:`grating_squared_chebyshev` in double precision for up to
    :data:`CHEBYSHEV_MAX_CELLS` cells, :func:`sincg_squared_fractional` otherwise (single
    precision or more cells).  Dimensionless."""
    xp = array_namespace(frac)
    if uses_chebyshev_grating(n, frac.dtype, xp):
        return grating_squared_chebyshev(frac, n)
    return sincg_squared_fractional(frac, n)


#: Below these |x|, :func:`sinc3` uses its Taylor series (the closed form cancels there).
SINC3_SERIES_BELOW = {"float64": 0.01, "float32": 0.3}


def sinc3(x: Any) -> Any:
    """Transform of a sphere, 3 (sin x / x - cos x) / x^2, equal to 1 at x = 0 (x in radians).

    Near 0 the closed form loses every digit to cancellation (nanoBragg's version returns 0 or
    NaN for |x| below ~1e-8); there the Taylor series 1 - x^2/10 + x^4/280 - x^6/15120 is used,
    below 0.01 in float64 (where both agree to 1e-12) and 0.3 in float32.
    """
    xp = array_namespace(x)
    limit = SINC3_SERIES_BELOW["float32" if x.dtype == xp.float32 else "float64"]
    small = xp.abs(x) < limit
    safe = xp.where(small, xp.ones_like(x), x)
    value = 3.0 * (xp.sin(safe) / safe - xp.cos(safe)) / (safe * safe)
    x2 = x * x
    series = 1.0 - x2 * (1.0 / 10.0 - x2 * (1.0 / 280.0 - x2 / 15120.0))
    return xp.where(small, series, value)


def polarization_factor(kahn: float, incident: Any, diffracted: Any, axis: Any) -> Any:
    """Kahn polarization factor of a diffracted ray (dimensionless, in [0, 1] for K in [0, 1]).

    ``incident`` and ``diffracted`` are unit vectors with the xyz components on the last axis
    (they broadcast against each other); ``axis`` is the unit E-vector direction of the beam
    (3,).  ``kahn`` is the fraction of polarization (0 = unpolarized).  Follows nanoBragg:
    0.5 (1 + cos^2 2theta - K cos(2 psi) sin^2 2theta), psi the azimuth of the diffracted ray
    about the beam, measured from the E-vector.
    """
    xp = array_namespace(incident, diffracted)
    cos2t = xp.sum(incident * diffracted, axis=-1)
    cos2t_sqr = cos2t * cos2t
    sin2t_sqr = 1.0 - cos2t_sqr
    if kahn == 0.0:
        return 0.5 * (1.0 + cos2t_sqr)
    b_in = _unitize(cross(axis, incident))
    e_in = _unitize(cross(incident, b_in))
    e_out = xp.sum(diffracted * e_in, axis=-1)
    b_out = xp.sum(diffracted * b_in, axis=-1)
    psi = -xp.atan2(b_out, e_out)
    return 0.5 * (1.0 + cos2t_sqr - kahn * xp.cos(2.0 * psi) * sin2t_sqr)


def polarization_factor_components(kahn: float, incident: Any, diffracted: tuple[Any, Any, Any],
                                   axis: Any) -> Any:
    """:func:`polarization_factor` of one incident direction for many diffracted rays.

    ``incident`` and ``axis`` are single unit vectors (three numbers each, host values);
    ``diffracted`` is the rays' unit vectors as three component arrays (dx, dy, dz) of any one
    shape.  The incident-frame vectors are computed once, in double precision, and the rays
    need no stacking or reductions.  Dimensionless.
    """
    dx, dy, dz = diffracted
    xp = array_namespace(dx)
    i0, i1, i2 = (float(c) for c in incident)
    cos2t = dx * i0 + dy * i1
    cos2t = cos2t + dz * i2
    cos2t_sqr = cos2t * cos2t
    if kahn == 0.0:
        return 0.5 * (1.0 + cos2t_sqr)
    a = [float(c) for c in axis]
    inc = [i0, i1, i2]
    b_in = [a[1] * inc[2] - a[2] * inc[1], a[2] * inc[0] - a[0] * inc[2],
            a[0] * inc[1] - a[1] * inc[0]]
    norm = math.sqrt(sum(c * c for c in b_in))
    b_in = [c / norm for c in b_in] if norm != 0.0 else [0.0, 0.0, 0.0]
    e_in = [inc[1] * b_in[2] - inc[2] * b_in[1], inc[2] * b_in[0] - inc[0] * b_in[2],
            inc[0] * b_in[1] - inc[1] * b_in[0]]
    norm = math.sqrt(sum(c * c for c in e_in))
    e_in = [c / norm for c in e_in] if norm != 0.0 else [0.0, 0.0, 0.0]
    e_out = dx * e_in[0] + dy * e_in[1] + dz * e_in[2]
    b_out = dx * b_in[0] + dy * b_in[1] + dz * b_in[2]
    psi = -xp.atan2(b_out, e_out)
    sin2t_sqr = 1.0 - cos2t_sqr
    return 0.5 * (1.0 + cos2t_sqr - kahn * xp.cos(2.0 * psi) * sin2t_sqr)


def _unitize(v: Any) -> Any:
    """Unit vectors along the last axis; a zero vector stays zero (nanoBragg's ``unitize``).

    With the E-vector along the incident beam the polarization frame has no direction: the
    zero frame then gives psi = 0 (or pi) and cos(2 psi) = 1, as in nanoBragg.
    """
    xp = array_namespace(v)
    norm = xp.sqrt(xp.sum(v * v, axis=-1, keepdims=True))
    zero = norm == 0.0
    return xp.where(zero, xp.zeros_like(v), v / xp.where(zero, xp.ones_like(norm), norm))


def cross(u: Any, v: Any) -> Any:
    """Cross product over the last axis (length 3), broadcasting."""
    xp = array_namespace(u, v)
    u0, u1, u2 = u[..., 0], u[..., 1], u[..., 2]
    v0, v1, v2 = v[..., 0], v[..., 1], v[..., 2]
    return xp.stack([u1 * v2 - u2 * v1, u2 * v0 - u0 * v2, u0 * v1 - u1 * v0], axis=-1)


def solid_angle(pixel_size: float, airpath: Any, close_distance: float, point_pixel: bool) -> Any:
    """Solid angle of a pixel (sr) as nanoBragg computes it.

    Flat pixel of side ``pixel_size`` (m) at distance ``airpath`` (m) from the sample, tilted
    by the obliquity ``close_distance / airpath``: (p / R)^2 * d_close / R.  With
    ``point_pixel`` only the inverse-square law 1 / R^2 (m^-2) is kept.
    """
    if point_pixel:
        return 1.0 / (airpath * airpath)
    return (pixel_size * pixel_size) / (airpath * airpath) * close_distance / airpath


def capture_fraction(layer: Any, thickstep: float, mu: float, parallax: Any) -> Any:
    """Fraction of photons absorbed in sensor layer ``layer`` (0-based), dimensionless.

    Layers are ``thickstep`` (m) deep; ``mu`` is the attenuation coefficient (1/m); ``parallax``
    the cosine of the ray with the detector normal.  exp(-i t mu / c) - exp(-(i+1) t mu / c).
    """
    xp = array_namespace(parallax)
    return xp.exp(-layer * thickstep * mu / parallax) - xp.exp(
        -(layer + 1) * thickstep * mu / parallax
    )


def lattice_factor_squared(shape: str, hkl: tuple[Any, Any, Any], hkl0: tuple[Any, Any, Any],
                           n_cells: tuple[float, float, float], fudge: float,
                           recip: Any = None) -> Any:
    """Squared lattice transform F_latt^2 of a crystal of ``n_cells`` unit cells.

    ``shape`` is one of ``square`` (parallelepiped, product of grating transforms), ``round``
    (ellipsoid, sinc3), ``gauss`` (Gaussian spots) or ``tophat`` (flat spots).  ``hkl`` are
    fractional Miller indices and ``hkl0`` their nearest whole indices.  ``recip`` is the
    3x3 matrix with rows a*, b*, c* in inverse Angstrom (needed by ``gauss`` and ``tophat``,
    which measure the distance to the nearest node in reciprocal space as nanoBragg does).
    """
    h, k, l = hkl
    xp = array_namespace(h)
    na, nb, nc = n_cells
    dh, dk, dl = h - hkl0[0], k - hkl0[1], l - hkl0[2]
    if shape == "square":
        value = None
        for frac, n in ((dh, na), (dk, nb), (dl, nc)):
            if n > 1:
                term = grating_squared(frac, n)
                value = term if value is None else value * term
        return value if value is not None else xp.ones_like(h)
    ncube = na * nb * nc
    if shape == "round":
        hrad_sqr = dh * dh * (na * na) + dk * dk * (nb * nb) + dl * dl * (nc * nc)
        f = (ncube * ROUND_XTAL_SCALE) * sinc3(math.pi * xp.sqrt(hrad_sqr * fudge))
        return f * f
    dx = dh * recip[0][0] + dk * recip[1][0] + dl * recip[2][0]
    dy = dh * recip[0][1] + dk * recip[1][1] + dl * recip[2][1]
    dz = dh * recip[0][2] + dk * recip[1][2] + dl * recip[2][2]
    rad_star_sqr = (dx * dx + dy * dy + dz * dz) * (na * na * nb * nb * nc * nc)
    if shape == "gauss":
        f = ncube * xp.exp(-(rad_star_sqr / GAUSS_XTAL_WIDTH * fudge))
        return f * f
    if shape == "tophat":
        inside = (rad_star_sqr * fudge) < TOPHAT_XTAL_RADIUS_SQR
        return xp.where(inside, xp.full_like(h, ncube * ncube), xp.zeros_like(h))
    raise ValueError(f"unknown crystal shape {shape!r}")


def water_background(water_size: float, fluence: float, corrected: bool = False) -> float:
    """Water background added to every pixel's sum before the final scale.

    ``water_size`` is the water thickness in metres, ``fluence`` in photons/m^2.  nanoBragg
    adds F_w^2 r_e^2 fluence size^3 1e6 N_A / MW (electrons^2 x r_e^2 fluence) to the sum that
    is then multiplied by r_e^2 fluence again and divided by the steps.  With ``corrected``
    the value is F_w^2 size^3 1e6 N_A / MW (electrons^2, the number of water molecules
    times F_w^2), which the engine scales once by r_e^2 fluence and not by the steps.
    """
    molecules_f2 = WATER_F * WATER_F * water_size ** 3 * 1e6 * AVOGADRO / WATER_MW
    if corrected:
        return molecules_f2
    return WATER_F * WATER_F * R_E_SQR * fluence * water_size ** 3 * 1e6 * AVOGADRO / WATER_MW
