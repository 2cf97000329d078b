"""Absorption in the sensor: the fractions of the photons captured by n layers of thickness t/n
sum to 1 - exp(-t mu/rho) (rho the cosine of the ray with the detector normal); each fraction
lies in [0, 1] and shrinks with depth; splitting a layer in two splits its fraction; and a
sensor with no absorption (-detector_abs 0 or inf) renders as no sensor at all.

Tolerance: 1e-12 absolute on fractions (sums of a few exponentials), the ratio of successive
layers exp(-(t/n) mu/rho) within 10 eps (1 + n step)/(1 - exp(-step)) relative (a difference of
exponentials loses that much); images 1e-12 of the largest pixel.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nbcupy.engine.physics import capture_fraction

from .support import (
    assert_images_close,
    examples,
    finite,
    fmt,
    image64,
    log_uniform,
    render,
    setup_flags,
    small_setups,
)

layers = st.integers(1, 50)
thickness = log_uniform(1e-6, 1e-3)  # m
mus = log_uniform(10.0, 1e5)  # 1/m
parallaxes = finite(0.05, 1.0)


def fractions(n: int, t: float, mu: float, rho: float) -> np.ndarray:
    return capture_fraction(np.arange(n, dtype=np.float64), t / n, mu, np.full(n, rho))


@settings(max_examples=examples(800))
@given(n=layers, t=thickness, mu=mus, rho=parallaxes)
def test_layer_fractions_sum_to_the_whole_sensor(n, t, mu, rho):
    f = fractions(n, t, mu, rho)
    assert abs(float(f.sum()) - (1.0 - math.exp(-t * mu / rho))) <= 1e-12


@settings(max_examples=examples(800))
@given(n=layers, t=thickness, mu=mus, rho=parallaxes)
def test_fractions_lie_in_0_1_and_shrink_with_depth(n, t, mu, rho):
    f = fractions(n, t, mu, rho)
    assert np.all(f >= 0) and np.all(f <= 1)
    assert np.all(np.diff(f) <= 0)
    # the ratio of successive layers is exp(-(t/n) mu / rho), where both are well above
    # underflow (each fraction is a difference of exponentials of arguments up to n step:
    # relative rounding about eps (1 + n step) / (1 - exp(-step)))
    step = (t / n) * mu / rho
    ok = (f[:-1] > 1e-250) & (f[1:] > 1e-250)
    if n > 1 and np.any(ok):
        rtol = 10 * np.finfo(float).eps * (1 + n * step) / -math.expm1(-step)
        np.testing.assert_allclose((f[1:] / np.where(ok, f[:-1], 1.0))[ok], math.exp(-step),
                                   rtol=rtol)


@settings(max_examples=examples(800))
@given(n=layers, t=thickness, mu=mus, rho=parallaxes)
def test_splitting_every_layer_in_two_splits_its_fraction(n, t, mu, rho):
    coarse = fractions(n, t, mu, rho)
    fine = fractions(2 * n, t, mu, rho)
    np.testing.assert_allclose(fine[0::2] + fine[1::2], coarse, rtol=0, atol=1e-12)


@settings(max_examples=examples(64))
@given(s=small_setups(), thick_um=finite(10.0, 500.0), steps=st.integers(1, 5),
       word=st.sampled_from(["0", "inf"]))
def test_a_sensor_that_absorbs_nothing_renders_as_no_sensor(s, thick_um, steps, word):
    plain = image64(render(setup_flags(s)))
    sensor = render(f"{setup_flags(s)} -detector_thick {fmt(thick_um)} "
                    f"-detector_thicksteps {steps} -detector_abs {word}")
    assert sensor.simulation.detector.thickness == 0.0
    assert_images_close(image64(sensor), plain, 1e-12, f"-detector_abs {word}")
