"""Tiling: the engine cuts the detector into tiles and the crystal settings into chunks to fit
its memory budget, and may render tiles on several threads; none of that changes the image.
An ROI render equals the same region of the full render (and is zero outside).

Tolerance: 1e-12 of the largest pixel (chunking the settings sum may change the order of
float64 additions; in practice the images are bitwise equal).  The ROI property avoids the
one rule that depends on which pixel is rendered first (without --corrected, a phi = 0 step
reuses the previous rotation only for the first pixel), by drawing phi0 != 0 there.
"""

from __future__ import annotations

import numpy as np
import pytest
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
)

REL = 1e-12


@st.composite
def busy_setups(draw, nonzero_phi: bool = False) -> str:
    """A small experiment with many crystal settings (sources x phi x mosaic up to ~150) and
    optionally the running-sum oversampling rules, so that tiles and chunks really split."""
    s = draw(small_setups())
    flags = setup_flags(s)
    phi = draw(st.one_of(finite(1.0, 20.0), finite(-20.0, -1.0)) if nonzero_phi
               else st.one_of(st.just(0.0), finite(-20.0, 20.0)))
    flags += (f" -phi {fmt(phi)} -osc {fmt(draw(finite(0.0, 2.0)))} "
              f"-phisteps {draw(st.integers(1, 4))}")
    if draw(st.booleans()):
        flags += f" -mosaic {fmt(draw(finite(0.05, 1.0)))} -mosaic_dom {draw(st.integers(2, 12))}"
    if draw(st.booleans()):
        flags += " -hdivrange 0.5 -hdivsteps 3 -dispersion 1 -dispsteps 2"
    if draw(st.booleans()):
        flags = flags.replace("-oversample 1", f"-oversample {draw(st.integers(2, 3))}")
        if draw(st.booleans()):
            flags += " -oversample_omega -oversample_polar"
    if draw(st.booleans()):
        flags += " -detector_thick 100 -detector_abs 200 -detector_thicksteps 2"
    return flags


@settings(max_examples=examples(120))
@given(flags=busy_setups(), memory_mb=log_uniform(1e-4, 300.0), threads=st.integers(1, 3),
       corrected=st.booleans())
def test_any_memory_budget_and_thread_count_give_the_same_image(flags, memory_mb, threads,
                                                                corrected):
    reference = render(flags, corrected=corrected)
    tiled = render(flags, corrected=corrected, memory_mb=memory_mb, threads=threads)
    assert_images_close(image64(tiled), image64(reference), REL,
                        f"memory {memory_mb:.3g} MiB, {threads} threads")
    assert tiled.render.omega_sum == pytest.approx(reference.render.omega_sum, rel=1e-12)


@settings(max_examples=examples(120))
@given(flags=busy_setups(nonzero_phi=True), data=st.data(), memory_mb=log_uniform(1e-4, 300.0))
def test_an_roi_render_is_the_same_region_of_the_full_render(flags, data, memory_mb):
    full = render(flags)
    det = full.simulation.detector
    assert full.simulation.spindle.phi0 != 0.0  # see the module docstring
    f0 = data.draw(st.integers(0, det.fpixels - 1), label="fmin")
    f1 = data.draw(st.integers(f0, det.fpixels - 1), label="fmax")
    s0 = data.draw(st.integers(0, det.spixels - 1), label="smin")
    s1 = data.draw(st.integers(s0, det.spixels - 1), label="smax")
    roi = render(f"{flags} -roi {f0} {f1} {s0} {s1}", memory_mb=memory_mb)
    img, ref = image64(roi), image64(full)
    inside = np.zeros(img.shape, dtype=bool)
    inside[s0:s1 + 1, f0:f1 + 1] = True
    assert np.all(img[~inside] == 0.0), "pixels outside the ROI are not zero"
    assert_images_close(np.where(inside, img, 0.0), np.where(inside, ref, 0.0), REL,
                        f"ROI {f0}..{f1} x {s0}..{s1}")
