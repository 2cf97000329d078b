"""Scaling: the image is linear in the fluence and quadratic in the structure-factor amplitude,
and the water background adds a term that does not depend on the crystal, growing as the cube
of the water thickness.

Tolerance: every pixel within 1e-12 (1e-9 for the background, a difference of two images) of
the largest pixel of the reference.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

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
    write_text,
)


@settings(max_examples=examples(120))
@given(s=small_setups(), fluence=log_uniform(1e22, 1e30), k=log_uniform(1e-3, 1e3))
def test_the_image_is_linear_in_the_fluence(s, fluence, k):
    base = image64(render(f"{setup_flags(s)} -fluence {fmt(fluence)}"))
    scaled = image64(render(f"{setup_flags(s)} -fluence {fmt(k * fluence)}"))
    assert_images_close(scaled, k * base, 1e-12, "fluence x k")


@settings(max_examples=examples(120))
@given(s=small_setups(), k=log_uniform(1e-2, 1e2))
def test_the_image_is_quadratic_in_default_F(s, k):
    base = image64(render(setup_flags(s)))
    s2 = dict(s, F=k * s["F"])
    scaled = image64(render(setup_flags(s2)))
    assert_images_close(scaled, k * k * base, 1e-12, "default_F x k")


@settings(max_examples=examples(80))
@given(s=small_setups(), k=log_uniform(1e-2, 1e2),
       hkl=st.lists(st.tuples(*[st.integers(-3, 3)] * 3), min_size=1, max_size=12, unique=True),
       amps=st.lists(finite(0.0, 1e3), min_size=12, max_size=12))
def test_the_image_is_quadratic_in_listed_amplitudes(s, k, hkl, amps):
    """Scaling every amplitude of an -hkl file (and -default_F) by k scales the image by k^2
    (nearest-node lookup, -nointerpolate)."""
    def table(scale: float) -> str:
        rows = zip(hkl, amps[:len(hkl)], strict=True)
        return "".join(f"{h} {kk} {l} {fmt(scale * f)}\n" for (h, kk, l), f in rows)

    flags = setup_flags(s) + " -nointerpolate"
    one = render(f"{flags} -hkl {write_text('a.hkl', table(1.0))}")
    s2 = dict(s, F=k * s["F"])
    two = render(f"{setup_flags(s2)} -nointerpolate -hkl {write_text('b.hkl', table(k))}")
    base = image64(one)
    if np.max(base) == 0:
        return
    assert_images_close(image64(two), k * k * base, 1e-12, "amplitudes x k")


@settings(max_examples=examples(96))
@given(s1=small_setups(), data=st.data(), water_um=finite(1.0, 300.0))
def test_the_water_background_adds_a_crystal_independent_term(s1, data, water_um):
    """img(water, crystal) - img(crystal) is the same for two different crystals (cell,
    orientation, size, F) on the same detector, and is positive everywhere."""
    s2 = data.draw(small_setups())
    s2 = dict(s2, pixels=s1["pixels"], pixel_mm=s1["pixel_mm"], distance_mm=s1["distance_mm"],
              lam=s1["lam"])
    bg1 = image64(render(f"{setup_flags(s1)} -water {fmt(water_um)}")) - image64(
        render(setup_flags(s1)))
    bg2 = image64(render(f"{setup_flags(s2)} -water {fmt(water_um)}")) - image64(
        render(setup_flags(s2)))
    assert np.all(bg1 > 0)
    assert_images_close(bg2, bg1, 1e-9, "background of two crystals")


@settings(max_examples=examples(80))
@given(s=small_setups(), water_um=finite(1.0, 300.0), k=finite(0.2, 5.0))
def test_the_water_background_grows_as_the_cube_of_its_thickness(s, water_um, k):
    plain = image64(render(setup_flags(s)))
    bg1 = image64(render(f"{setup_flags(s)} -water {fmt(water_um)}")) - plain
    bgk = image64(render(f"{setup_flags(s)} -water {fmt(k * water_um)}")) - plain
    assert_images_close(bgk, k ** 3 * bg1, 1e-9, "background at k x thickness")
