"""The lattice factor: the grating transform sincg(x, N) = sin(N x)/sin(x) is N at x = 0, never
larger than N in size, periodic in h (x = pi h) with period 1 up to the sign (-1)^(N+1); the
fractional form used by the engine equals the direct form; every spot shape peaks at
(Na Nb Nc)^2 on a node; and a rendered pixel at an exact Bragg condition scales as
(Na Nb Nc)^2.

Tolerances: sincg's rounding grows like N |x| eps / |sin x|, so h is kept 1e-3 away from whole
numbers and values compared within 1e-8 relative plus 1e-8 N (1e-8 N^2 for squares); the
rendered ratio within 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nbcupy.engine import physics

from .support import (
    build,
    examples,
    finite,
    fmt,
    image64,
    pixel_positions,
    render,
    rodrigues,
    unit_vectors,
    write_matrix,
)

cells_n = st.integers(1, 60)
#: fractional Miller indices at least 1e-3 from a whole number
hs = st.builds(lambda n, f: n + f, st.integers(-50, 49), finite(1e-3, 1 - 1e-3))


@settings(max_examples=examples(400))
@given(n=cells_n, x=st.lists(finite(-20.0, 20.0), min_size=1, max_size=8))
def test_sincg_is_n_at_zero_and_never_larger(n, x):
    arr = np.array([0.0, *x, 0.0])
    val = physics.sincg(arr, n)
    assert val[0] == n and val[-1] == n
    assert np.all(np.abs(val) <= n * (1 + 1e-12))
    for xi, v in zip(arr, val, strict=True):
        if xi == 0.0:
            assert v == n


@settings(max_examples=examples(400))
@given(n=cells_n, h=hs)
def test_sincg_has_period_one_in_h_up_to_sign(n, h):
    here = float(physics.sincg(np.array([math.pi * h]), n)[0])
    there = float(physics.sincg(np.array([math.pi * (h + 1.0)]), n)[0])
    sign = 1.0 if (n + 1) % 2 == 0 else -1.0
    assert abs(there - sign * here) <= 1e-8 * abs(here) + 1e-8 * n


@settings(max_examples=examples(400))
@given(n=cells_n, h=hs)
def test_fractional_form_equals_the_direct_form(n, h):
    direct = float(physics.sincg(np.array([math.pi * h]), n)[0]) ** 2
    frac = float(physics.sincg_squared_fractional(np.array([h - math.floor(h + 0.5)]), n)[0])
    assert abs(frac - direct) <= 1e-8 * direct + 1e-8 * n * n


@settings(max_examples=examples(400))
@given(n=cells_n, frac=finite(-0.5, 0.5))
def test_the_engines_grating_form_equals_the_direct_form(n, frac):
    """Whatever form the engine uses for sincg(pi h, N)^2 of the fractional index (the
    Chebyshev polynomial form ``physics.grating_squared`` where present) equals the direct
    form within 1e-12 N^2 (its rounding grows like (1 + sqrt 2)^N eps; N <= 12 uses it)."""
    grating = getattr(physics, "grating_squared", None)
    if grating is None:
        pytest.skip("physics.grating_squared is not in this version")
    value = float(grating(np.array([frac]), n)[0])
    direct = float(physics.sincg(np.array([math.pi * frac]), n)[0]) ** 2
    assert abs(value - direct) <= 1e-12 * n * n


@settings(max_examples=examples(400))
@given(n=st.tuples(cells_n, cells_n, cells_n),
       shape=st.sampled_from(["square", "round", "gauss", "tophat"]),
       node=st.tuples(*[st.integers(-20, 20)] * 3),
       off=st.tuples(*[finite(-0.5, 0.5)] * 3), fudge=finite(0.5, 2.0))
def test_every_spot_shape_peaks_at_the_node(n, shape, node, off, fudge):
    """F_latt^2 = (Na Nb Nc)^2 on a node (times the sphere scale for round spots), and no
    larger anywhere.  (Round spots are checked off the node only where sinc3's argument is at
    least 0.02: closer to the node sinc3 is wrong, see the xfail tests below.)"""
    recip = [[0.02, 0.0, 0.0], [0.0, 0.025, 0.0], [0.0, 0.0, 0.03]]
    node_arr = tuple(np.array([float(v)]) for v in node)
    at_node = physics.lattice_factor_squared(shape, node_arr, node_arr, n, fudge, recip)
    peak = float(np.prod(n)) ** 2
    if shape == "round":
        peak *= physics.ROUND_XTAL_SCALE ** 2
    assert float(at_node[0]) == pytest.approx(peak, rel=1e-12)
    if shape == "round":
        x = math.pi * math.sqrt(fudge * sum((ni * d) ** 2 for ni, d in zip(n, off, strict=True)))
        assume(x == 0.0 or x >= 0.02)
    hkl = tuple(np.array([v + d]) for v, d in zip(node, off, strict=True))
    hkl0 = tuple(np.ceil(x - 0.5) for x in hkl)
    near = physics.lattice_factor_squared(shape, hkl, hkl0, n, fudge, recip)
    assert float(near[0]) <= peak * (1 + 1e-12)


@st.composite
def bragg_targets(draw):
    """A detector pixel and a crystal (reciprocal axes) that puts reflection hkl exactly on
    the Ewald sphere at that pixel's centre."""
    pixels = draw(st.integers(8, 20))
    fi, si = draw(st.integers(0, pixels - 1)), draw(st.integers(0, pixels - 1))
    hkl = np.array([draw(st.integers(-3, 3)) for _ in range(3)], dtype=float)
    assume(np.any(hkl != 0))
    axis, angle = draw(unit_vectors()), draw(finite(-math.pi, math.pi))
    lengths = [draw(finite(0.01, 0.05)) for _ in range(3)]
    return pixels, (fi, si), hkl, rodrigues(axis, angle) @ np.diag(lengths)


def _bragg_pixel_ratio(target, n, lam, F, shape, detune: float = 0.0,
                      ) -> tuple[float, float] | None:
    """(value with Na x Nb x Nc cells, value with one cell) of the pixel put on the exact
    Bragg condition of reflection hkl by :func:`bragg_targets` (the lattice scaled by
    1 + ``detune``); None when that pixel looks straight down the beam."""
    pixels, (fi, si), hkl, recip0 = target
    geometry = (f"-lambda {fmt(lam)} -default_F {fmt(F)} -detpixels {pixels} -pixel 0.3 "
                f"-distance 50 -oversample 1 {shape}")
    det = build(f"-cell 50 50 50 90 90 90 {geometry}").detector
    pos = pixel_positions(det)[si, fi]
    d = pos / np.linalg.norm(pos)
    s0 = np.array([1.0, 0.0, 0.0])  # MOSFLM beam
    scatter = (d - s0) / lam  # 1/Angstrom
    if np.linalg.norm(scatter) <= 1e-4:
        return None
    g0 = recip0 @ hkl  # columns of recip0 are a*, b*, c*
    # turn g0 onto the scattering vector and scale the lattice to match its length
    u = g0 / np.linalg.norm(g0)
    v = scatter / np.linalg.norm(scatter)
    axis = np.cross(u, v)
    if np.linalg.norm(axis) < 1e-12:
        axis = np.cross(u, [0.0, 0.0, 1.0] if abs(u[2]) < 0.9 else [1.0, 0.0, 0.0])
    turn = rodrigues(axis / np.linalg.norm(axis), math.acos(max(-1.0, min(1.0, u @ v))))
    recip = turn @ recip0 * (np.linalg.norm(scatter) / np.linalg.norm(g0))
    np.testing.assert_allclose(recip @ hkl, scatter, atol=1e-12)
    mat = write_matrix(recip.T * (1.0 + detune), lam)  # rows a*, b*, c*
    na, nb, nc = n
    one = image64(render(f"-mat {mat} -Na 1 -Nb 1 -Nc 1 {geometry}"))[si, fi]
    many = image64(render(f"-mat {mat} -Na {na} -Nb {nb} -Nc {nc} {geometry}"))[si, fi]
    return float(many), float(one)


@settings(max_examples=examples(120))
@given(target=bragg_targets(), n=st.tuples(*[st.integers(1, 9)] * 3), lam=finite(0.8, 2.0),
       F=finite(1.0, 100.0), shape=st.sampled_from(["", "-gauss_xtal", "-tophat_spots"]))
def test_a_pixel_at_the_exact_bragg_condition_scales_as_n_cubed_squared(target, n, lam, F,
                                                                       shape):
    """Choose a pixel, then a crystal whose reflection hkl sits exactly on the Ewald sphere at
    that pixel's centre (a -mat file: the columns of lambda (a* b* c*) are turned and scaled so
    that h a* + k b* + l c* = (d - s0)/lambda).  That pixel's value with Na x Nb x Nc cells is
    (Na Nb Nc)^2 times its value with one cell (the other factors do not depend on N)."""
    values = _bragg_pixel_ratio(target, n, lam, F, shape)
    assume(values is not None)
    many, one = values
    assert one > 0
    assert many / one == pytest.approx(float(np.prod(n)) ** 2, rel=1e-9)




@pytest.mark.parametrize("hkl", [(1, 0, 0), (1, -2, 3)])
def test_a_round_crystal_pixel_at_the_exact_bragg_condition_scales_as_n_cubed_squared(hkl):
    """The same for -round_xtal, with the lattice detuned by 1e-10 so that |dh| ~ 1e-10 is not
    left to rounding (physically still the peak: the relative change is ~ (N dh)^2): the
    node's sinc3(pi N |dh|) renders 0."""
    recip0 = rodrigues(np.array([1.0, 2.0, 3.0]) / math.sqrt(14.0), 0.7) @ np.diag(
        [0.02, 0.03, 0.04])
    target = (12, (3, 8), np.array(hkl, dtype=float), recip0)
    many, one = _bragg_pixel_ratio(target, (3, 4, 5), 1.2, 50.0, "-round_xtal", detune=1e-10)
    assert one > 0
    assert many / one == pytest.approx(60.0 ** 2, rel=1e-9)


@settings(max_examples=examples(240))
@given(x=finite(0.02, 50.0))
def test_sinc3_is_the_sphere_transform(x):
    """sinc3(x) = 3 (sin x - x cos x)/x^3, the transform of a sphere, where the direct formula
    is well conditioned (|x| >= 0.02), and is at most 1 in size."""
    value = float(physics.sinc3(np.array([x]))[0])
    assert value == pytest.approx(3 * (math.sin(x) - x * math.cos(x)) / x ** 3, rel=1e-9,
                                  abs=1e-12)
    assert abs(value) <= 1 + 1e-12


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("x, dtype", [(1e-9, np.float64), (1e-12, np.float64),
                                      (1e-200, np.float64), (1e-4, np.float32),
                                      (3e-4, np.float32)])
def test_sinc3_tends_to_one_at_small_arguments(x, dtype):
    """sinc3 is continuous at 0: sinc3(x) = 1 - x^2/10 + O(x^4), within 1e-6 (float64) or
    1e-3 (float32) for 0 < x <= 0.01."""
    value = float(physics.sinc3(np.array([x], dtype=dtype))[0])
    tol = 1e-6 if dtype is np.float64 else 1e-3
    assert abs(value - (1 - x * x / 10)) <= tol
