"""Polarization: the Kahn factor lies in [0, 1] for K in [0, 1], is exactly 1 in the forward
direction (2 theta = 0), vanishes along the E-vector of a fully polarized beam at 2 theta = 90
degrees, and equals the textbook expression 0.5 (1 + cos^2 2t - K cos 2psi sin^2 2t) with
cos 2psi = (e^2 - b^2)/(e^2 + b^2) computed here from the components e, b of the diffracted
ray along the E-vector and along beam x E.  In a render, -polar K divided by -nopolar is that
factor at each pixel centre.

Tolerances: 1e-12 absolute on the factor; 1e-9 relative per pixel for the rendered ratio.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nbcupy.engine.physics import polarization_factor

from .support import (
    examples,
    finite,
    fmt,
    image64,
    pixel_positions,
    render,
    setup_flags,
    small_setups,
    unit_vectors,
)

kahns = st.one_of(st.sampled_from([0.0, 1.0]), finite(0.0, 1.0))


def textbook(kahn: float, inc: np.ndarray, diff: np.ndarray, axis: np.ndarray) -> float:
    e_hat = axis - float(axis @ inc) * inc
    e_hat /= np.linalg.norm(e_hat)
    b_hat = np.cross(inc, e_hat)
    e, b = float(diff @ e_hat), float(diff @ b_hat)
    cos2t = float(inc @ diff)
    sin2t_sqr = 1.0 - cos2t * cos2t
    cos2psi = (e * e - b * b) / (e * e + b * b) if e * e + b * b > 1e-300 else 0.0
    return 0.5 * (1.0 + cos2t * cos2t - kahn * cos2psi * sin2t_sqr)


def factor(kahn, inc, diff, axis) -> float:
    return float(polarization_factor(kahn, np.asarray(inc)[None, :], np.asarray(diff)[None, :],
                                     np.asarray(axis))[0])


@settings(max_examples=examples(800))
@given(kahn=kahns, inc=unit_vectors(), diff=unit_vectors(), axis=unit_vectors())
def test_the_factor_is_in_0_1_and_matches_the_textbook_expression(kahn, inc, diff, axis):
    assume(np.linalg.norm(np.cross(axis, inc)) > 0.1)  # the E-vector must not lie along the beam
    p = factor(kahn, inc, diff, axis)
    assert -1e-12 <= p <= 1 + 1e-12
    assert abs(p - textbook(kahn, inc, diff, axis)) <= 1e-12


@settings(max_examples=examples(400))
@given(kahn=kahns, inc=unit_vectors(), axis=unit_vectors())
def test_the_factor_is_one_in_the_forward_direction(kahn, inc, axis):
    assume(np.linalg.norm(np.cross(axis, inc)) > 0.1)
    assert abs(factor(kahn, inc, inc, axis) - 1.0) <= 1e-12
    e = np.array([1.0, 0.0, 0.0])
    assert factor(kahn, e, e, np.array([0.0, 0.0, 1.0])) == 1.0


@settings(max_examples=examples(400))
@given(kahn=kahns, inc=unit_vectors(), axis=unit_vectors())
def test_a_polarized_beam_scatters_least_along_its_e_vector(kahn, inc, axis):
    """At 2 theta = 90 degrees the factor is (1 - K)/2 along the E-vector and (1 + K)/2
    perpendicular to it."""
    assume(np.linalg.norm(np.cross(axis, inc)) > 0.1)
    e_hat = axis - float(axis @ inc) * inc
    e_hat /= np.linalg.norm(e_hat)
    b_hat = np.cross(inc, e_hat)
    assert abs(factor(kahn, inc, e_hat, axis) - (1 - kahn) / 2) <= 1e-12
    assert abs(factor(kahn, inc, b_hat, axis) - (1 + kahn) / 2) <= 1e-12


@settings(max_examples=examples(96))
@given(s=small_setups(), kahn=kahns)
def test_a_render_carries_the_factor_at_each_pixel_centre(s, kahn):
    """-polar K / -nopolar = the textbook factor of the pixel-centre ray, MOSFLM beam (+x) and
    E-vector (+z)."""
    polar = render(f"{setup_flags(s)} -polar {fmt(kahn)}")
    plain = render(f"{setup_flags(s)} -nopolar")
    det = polar.simulation.detector
    pos = pixel_positions(det)
    d = pos / np.linalg.norm(pos, axis=-1, keepdims=True)
    inc, axis = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
    expected = np.array([[textbook(kahn, inc, d[i, j], axis) for j in range(d.shape[1])]
                         for i in range(d.shape[0])])
    np.testing.assert_allclose(image64(polar), expected * image64(plain), rtol=1e-9, atol=0)
