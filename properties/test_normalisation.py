"""Step-count normalisation: nanoBragg divides the sum over sources x phi steps x mosaic domains
x sub-pixels by their number ("steps"), so the image is a mean over them.

Hence repeating identical sources, phi steps of zero width or identical mosaic domains leaves
the image unchanged; joining two sets of steps gives the step-weighted mean of their images; and
a lattice-free crystal (N = 1) gives the same pixel value for any oversampling.
Tolerance: every pixel within 1e-12 (float64 rounding of the mean) of the largest pixel.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nbcupy.engine import EngineSettings
from nbcupy.engine import render as engine_render
from nbcupy.experiment.models import Mosaic

from .support import (
    angles_deg,
    assert_images_close,
    examples,
    finite,
    fmt,
    image64,
    log_uniform,
    pixel_positions,
    render,
    rodrigues,
    setup_flags,
    small_setups,
    unit_vectors,
    write_text,
)

REL = 1e-12


@st.composite
def source_lines(draw, lam_A: float) -> str:
    """One -sourcefile line: a source 10 m upstream of the MOSFLM beam (+x), tilted by up to
    2 mrad, with a wavelength within 5 % of ``lam_A``."""
    y, z = draw(finite(-0.02, 0.02)), draw(finite(-0.02, 0.02))
    lam = lam_A * draw(finite(0.95, 1.05)) * 1e-10
    return f"{fmt(-10.0)} {fmt(y)} {fmt(z)} 1.0 {fmt(lam)}\n"


@settings(max_examples=examples(80))
@given(s=small_setups(), data=st.data(), copies=st.integers(2, 5))
def test_duplicated_sources_leave_the_image_unchanged(s, data, copies):
    """A -sourcefile with one line repeated k times renders the image of that line alone."""
    line = data.draw(source_lines(s["lam"]))
    one = render(f"{setup_flags(s)} -sourcefile {write_text('src1.txt', line)}")
    many = render(f"{setup_flags(s)} -sourcefile {write_text('srck.txt', line * copies)}")
    assert many.simulation.sources.count == copies
    assert many.simulation.steps == copies * one.simulation.steps
    assert_images_close(image64(many), image64(one), REL, f"{copies} copies vs 1 source")


@settings(max_examples=examples(64))
@given(s=small_setups())
def test_a_source_file_holding_the_default_beam_gives_the_default_image(s):
    """One source on the beam axis at the -lambda wavelength equals no -sourcefile at all."""
    line = f"-10 0 0 1 {fmt(s['lam'] * 1e-10)}\n"
    plain = render(setup_flags(s))
    filed = render(f"{setup_flags(s)} -sourcefile {write_text('src.txt', line)}")
    assert_images_close(image64(filed), image64(plain), REL, "source file vs default beam")


@settings(max_examples=examples(80))
@given(s=small_setups(), data=st.data(), n1=st.integers(1, 3), n2=st.integers(1, 3))
def test_joining_two_source_sets_gives_their_step_weighted_mean(s, data, n1, n2):
    """img(S1 + S2) (n1 + n2) = n1 img(S1) + n2 img(S2), with -nopolar (nanoBragg takes the
    polarization of every source from the first one, so it is switched off here)."""
    lines1 = "".join(data.draw(source_lines(s["lam"])) for _ in range(n1))
    lines2 = "".join(data.draw(source_lines(s["lam"])) for _ in range(n2))
    flags = setup_flags(s) + " -nopolar"
    both = image64(render(f"{flags} -sourcefile {write_text('s12.txt', lines1 + lines2)}"))
    im1 = image64(render(f"{flags} -sourcefile {write_text('s1.txt', lines1)}"))
    im2 = image64(render(f"{flags} -sourcefile {write_text('s2.txt', lines2)}"))
    assert_images_close(both * (n1 + n2), n1 * im1 + n2 * im2, REL, "joined sources")


@settings(max_examples=examples(80))
@given(s=small_setups(), phi=st.one_of(st.just(0.0), angles_deg), steps=st.integers(2, 6))
def test_zero_width_phi_steps_leave_the_image_unchanged(s, phi, steps):
    """-osc 0 -phisteps n gives n steps all at -phi (nanoBragg's rule: phistep = osc/phisteps),
    and the image of the single step at -phi."""
    one = render(f"{setup_flags(s)} -phi {fmt(phi)}")
    many = render(f"{setup_flags(s)} -phi {fmt(phi)} -osc 0 -phisteps {steps}")
    scan = many.simulation.spindle
    assert scan.phisteps == steps and scan.phistep == 0.0
    assert many.simulation.steps == steps * one.simulation.steps
    assert_images_close(image64(many), image64(one), REL, f"{steps} zero-width phi steps")


@settings(max_examples=examples(80))
@given(s=small_setups(), osc=finite(0.05, 5.0), n=st.integers(1, 3), corrected=st.booleans(),
       data=st.data())
def test_a_phi_scan_is_the_mean_of_its_two_halves(s, osc, n, corrected, data):
    """Scan (phi0, osc, 2n steps) = mean of (phi0, osc/2, n) and (phi0 + osc/2, osc/2, n).
    (Without --corrected a phi = 0 step reuses the previous rotation, so phi0 != 0 then.)"""
    nonzero = st.one_of(finite(0.5, 90.0), finite(-90.0, -0.5))
    phi0 = data.draw(st.one_of(st.just(0.0), nonzero) if corrected else nonzero, label="phi0")
    base = setup_flags(s)
    full = image64(render(f"{base} -phi {fmt(phi0)} -osc {fmt(osc)} -phisteps {2 * n}",
                          corrected=corrected))
    first = image64(render(f"{base} -phi {fmt(phi0)} -osc {fmt(osc / 2)} -phisteps {n}",
                           corrected=corrected))
    second = image64(render(f"{base} -phi {fmt(phi0 + osc / 2)} -osc {fmt(osc / 2)} "
                            f"-phisteps {n}", corrected=corrected))
    # the two halves' phi values equal the full scan's to rounding; 1e-9 covers that
    assert_images_close(full, 0.5 * (first + second), 1e-9, "phi scan vs its halves")


def _with_domains(sim, umats: np.ndarray):
    mosaic = Mosaic(spread=0.01, umats=np.asarray(umats, dtype=np.float64))
    return dataclasses.replace(sim, mosaic=mosaic)


def _engine_image(sim) -> np.ndarray:
    res = engine_render(sim, EngineSettings(threads=1))
    return np.asarray(res.device_image, dtype=np.float64)


@settings(max_examples=examples(80))
@given(s=small_setups(), axis=unit_vectors(), angle=finite(-0.2, 0.2),
       copies=st.integers(2, 6))
def test_identical_mosaic_domains_leave_the_image_unchanged(s, axis, angle, copies):
    """k copies of one mosaic domain (models built directly: the flags force a single domain
    when the spread is 0) render the image of that domain alone."""
    sim = render(setup_flags(s)).simulation
    u = rodrigues(axis, angle)[None]
    one = _engine_image(_with_domains(sim, u))
    many_sim = _with_domains(sim, np.repeat(u, copies, axis=0))
    assert many_sim.steps == copies * sim.steps
    assert_images_close(_engine_image(many_sim), one, REL, f"{copies} identical domains")


@settings(max_examples=examples(48))
@given(s=small_setups(), domains=st.integers(2, 8))
def test_zero_mosaic_spread_is_one_domain(s, domains):
    """-mosaic 0 with any -mosaic_dom is a single, unrotated domain: the plain image."""
    plain = render(setup_flags(s))
    zero = render(f"{setup_flags(s)} -mosaic 0 -mosaic_dom {domains}")
    assert zero.simulation.mosaic.domains == 1
    assert_images_close(image64(zero), image64(plain), REL, "zero spread vs no mosaic")


@settings(max_examples=examples(80))
@given(s=small_setups(), data=st.data(), n1=st.integers(1, 4), n2=st.integers(1, 4))
def test_joining_two_domain_sets_gives_their_step_weighted_mean(s, data, n1, n2):
    """img(D1 + D2) (n1 + n2) = n1 img(D1) + n2 img(D2) for any domain rotations."""
    sim = render(setup_flags(s)).simulation
    rot = st.tuples(unit_vectors(), finite(-0.2, 0.2)).map(lambda t: rodrigues(*t))
    d1 = np.stack([data.draw(rot) for _ in range(n1)])
    d2 = np.stack([data.draw(rot) for _ in range(n2)])
    both = _engine_image(_with_domains(sim, np.concatenate([d1, d2])))
    im1 = _engine_image(_with_domains(sim, d1))
    im2 = _engine_image(_with_domains(sim, d2))
    assert_images_close(both * (n1 + n2), n1 * im1 + n2 * im2, REL, "joined mosaic domains")


@settings(max_examples=examples(80))
@given(pixels=st.integers(4, 16), pixel_mm=finite(0.05, 0.5), distance_mm=finite(20.0, 200.0),
       oversample=st.integers(1, 5), F=finite(1.0, 1e3), fluence=log_uniform(1e20, 1e30),
       xbeam=finite(-1.0, 3.0), ybeam=finite(-1.0, 3.0), lam=finite(0.5, 3.0))
def test_a_lattice_free_pixel_is_the_same_for_any_oversampling(pixels, pixel_mm, distance_mm,
                                                                oversample, F, fluence, xbeam,
                                                                ybeam, lam):
    """With N = 1 (lattice factor 1) every one of the O^2 sub-pixels adds F^2 and the sum is
    divided by O^2 again: pixel = r_e^2 fluence F^2 omega P, with the solid angle omega and the
    (unpolarized) polarization P of the first sub-pixel (nanoBragg's rule), computed here from
    the detector model.  Tolerance 1e-12 relative per pixel."""
    from nbcupy.engine.physics import R_E_SQR

    res = render(f"-cell 50 50 50 90 90 90 -lambda {fmt(lam)} -N 1 -default_F {fmt(F)} "
                 f"-detpixels {pixels} -pixel {fmt(pixel_mm)} -distance {fmt(distance_mm)} "
                 f"-Xbeam {fmt(xbeam)} -Ybeam {fmt(ybeam)} -fluence {fmt(fluence)} "
                 f"-oversample {oversample}")
    det = res.simulation.detector
    pos = pixel_positions(det, oversample, subpixel=(0, 0))
    R = np.linalg.norm(pos, axis=-1)
    close = float(np.dot(det.pix0, det.odet))
    omega = det.pixel_size ** 2 * close / R ** 3
    cos2t = (pos @ np.asarray(res.simulation.beam.direction)) / R
    polar = 0.5 * (1.0 + cos2t ** 2)
    expected = R_E_SQR * fluence * F * F * omega * polar
    np.testing.assert_allclose(image64(res), expected, rtol=1e-12, atol=0)
