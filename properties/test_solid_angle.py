"""Solid angle: the pixels' solid angles omega = pixel^2 d_close/R^3 summed over a flat detector
approach the analytic solid angle of the rectangle; with -point_pixel a pixel gets 1/R^2.

Analytic solid angle of the rectangle [x1, x2] x [y1, y2] in a plane at distance D from the
sample, measured from the foot of the perpendicular:
    Omega = sum over corners of +- atan(x y / (D sqrt(D^2 + x^2 + y^2))).
The pixel sum is the midpoint rule for that integral, whose relative error is bounded by
(pixel/D)^2 / 4: the rule's error is p^2/24 times the integrand's Laplacian, and the Laplacian
of D/(D^2 + r^2)^(3/2) is at most 6/D^2 times the integrand (at the foot; the bound is reached
by small detectors far away).  5 % is added for the rule's higher-order terms (pixel <= D/10).
The foot, D and the rectangle come from the detector model's origin and axes.  The rendered
check uses a lattice-free crystal (N = 1, F_latt = 1) and -nopolar, so pixel = r_e^2 fluence
F^2 omega.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbcupy.engine.physics import R_E_SQR

from .support import (
    examples,
    finite,
    fmt,
    image64,
    log_uniform,
    pixel_positions,
    render,
)


def rectangle_solid_angle(x1: float, x2: float, y1: float, y2: float, d: float) -> float:
    def corner(x: float, y: float) -> float:
        return math.atan(x * y / (d * math.sqrt(d * d + x * x + y * y)))

    return corner(x2, y2) - corner(x1, y2) - corner(x2, y1) + corner(x1, y1)


@st.composite
def flat_detectors(draw) -> dict:
    pixel = draw(finite(0.1, 1.0))
    return dict(
        nf=draw(st.integers(16, 32)), ns=draw(st.integers(16, 32)), pixel=pixel,
        distance=pixel * draw(finite(10.0, 200.0)),
        # the beam anywhere from off one edge to off the other (in units of the detector size)
        xb=draw(finite(-0.5, 1.5)), yb=draw(finite(-0.5, 1.5)),
        rot=tuple(draw(finite(-20.0, 20.0)) for _ in range(3)),
        F=draw(finite(1.0, 100.0)), fluence=draw(log_uniform(1e20, 1e28)),
    )


def detector_flags(g: dict, extra: str = "") -> str:
    return (f"-cell 40 40 40 90 90 90 -N 1 -lambda 1 -default_F {fmt(g['F'])} -nopolar "
            f"-fluence {fmt(g['fluence'])} -oversample 1 -detpixels_f {g['nf']} "
            f"-detpixels_s {g['ns']} -pixel {fmt(g['pixel'])} -distance {fmt(g['distance'])} "
            f"-Xbeam {fmt(g['xb'] * g['ns'] * g['pixel'])} "
            f"-Ybeam {fmt(g['yb'] * g['nf'] * g['pixel'])} "
            f"-detector_rotx {fmt(g['rot'][0])} -detector_roty {fmt(g['rot'][1])} "
            f"-detector_rotz {fmt(g['rot'][2])} {extra}")


@settings(max_examples=examples(160))
@given(g=flat_detectors())
def test_pixel_solid_angles_sum_to_the_rectangle_solid_angle(g):
    res = render(detector_flags(g))
    det = res.simulation.detector
    pix0, f, s, o = (np.asarray(v) for v in (det.pix0, det.fdet, det.sdet, det.odet))
    d_close = float(pix0 @ o)
    f_foot, s_foot = -float(pix0 @ f), -float(pix0 @ s)  # foot of the perpendicular
    size_f, size_s = det.fpixels * det.pixel_size, det.spixels * det.pixel_size
    exact = rectangle_solid_angle(-f_foot, size_f - f_foot, -s_foot, size_s - s_foot, d_close)
    bound = 1.05 * (det.pixel_size / d_close) ** 2 / 4
    omega = image64(res) / (R_E_SQR * g["fluence"] * g["F"] ** 2)
    assert omega.sum() == pytest.approx(exact, rel=bound)
    assert res.render.omega_sum == pytest.approx(exact, rel=bound)


@settings(max_examples=examples(120))
@given(g=flat_detectors(), oversample=st.integers(1, 4))
def test_a_point_pixel_gets_the_inverse_square_law(g, oversample):
    """-point_pixel: pixel = r_e^2 fluence F^2 / R^2, R from the sample to the pixel centre, or
    with -oversample O to the centre of its first sub-pixel (nanoBragg evaluates the solid angle
    once per pixel, at the first sub-pixel, unless -oversample_omega)."""
    res = render(detector_flags(g, "-point_pixel").replace("-oversample 1",
                                                         f"-oversample {oversample}"))
    r = np.linalg.norm(pixel_positions(res.simulation.detector, oversample, (0, 0)), axis=-1)
    expected = R_E_SQR * g["fluence"] * g["F"] ** 2 / r ** 2
    np.testing.assert_allclose(image64(res), expected, rtol=1e-12, atol=0)
