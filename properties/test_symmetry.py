"""Symmetry: an axis-aligned orthorhombic crystal on a detector centred on the beam gives an
image with the detector's mirror symmetries (and, for a cubic cell and an unpolarized beam, the
diagonal one); and relabelling the pixels of any geometry (reversing the fast or slow axis, or
swapping them, with the beam centre moved to the same physical point) reverses or transposes
the image of any crystal.

nanoBragg's pixel grid: pixel (f, s) is sampled at its centre ((f + 1/2) pixel along fast).
MOSFLM puts the direct beam at Fbeam = Ybeam + pixel/2 with the default Ybeam =
(detsize + pixel)/2, i.e. at (N/2 + 1) pixels, so its mirror pairs are f <-> N + 1 - f and the
symmetric part of the image is image[2:, 2:]; with -Xbeam = -Ybeam = (N - 1)/2 pixels the beam
is at N/2 pixels and the whole image is symmetric.  Tolerance: 1e-9 of the largest pixel.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from .support import (
    angles_deg,
    assert_images_close,
    cell_flag,
    cells,
    examples,
    finite,
    fmt,
    image64,
    render,
)

REL = 1e-9


@st.composite
def aligned_crystals(draw) -> tuple[str, bool]:
    """Flags of an orthorhombic crystal with its axes along the lab axes (misset by whole
    quarter turns), and whether it is cubic with equal N (square symmetry)."""
    cubic = draw(st.booleans())
    if cubic:
        a = draw(finite(30.0, 80.0))
        n = draw(st.integers(2, 6))
        cell, sizes = (a, a, a, 90.0, 90.0, 90.0), (n, n, n)
    else:
        cell = draw(cells(30.0, 80.0, triclinic=False))
        sizes = tuple(draw(st.integers(2, 6)) for _ in range(3))
    quarter = [90.0 * draw(st.integers(-2, 2)) for _ in range(3)]
    flags = (f"{cell_flag(cell)} -Na {sizes[0]} -Nb {sizes[1]} -Nc {sizes[2]} "
             f"-misset {' '.join(fmt(q) for q in quarter)} -default_F 10 "
             f"-lambda {fmt(draw(finite(1.0, 1.6)))} -oversample 1")
    return flags, cubic


@st.composite
def square_detectors(draw) -> tuple[str, int, float]:
    n = draw(st.integers(8, 24))
    pixel = draw(finite(0.15, 0.3))
    return (f"-detpixels {n} -pixel {fmt(pixel)} -distance {fmt(draw(finite(40.0, 80.0)))}",
            n, pixel)


def check_mirrors(img: np.ndarray, square: bool, what: str) -> None:
    assert_images_close(img[::-1, :], img, REL, f"{what}: slow-axis mirror")
    assert_images_close(img[:, ::-1], img, REL, f"{what}: fast-axis mirror")
    if square:
        assert_images_close(img.T, img, REL, f"{what}: diagonal mirror")


@settings(max_examples=examples(120))
@given(xtal=aligned_crystals(), det=square_detectors(),
       kahn=st.one_of(st.just(0.0), finite(0.0, 1.0)))
def test_a_beam_centred_detector_shows_the_crystal_mirrors(xtal, det, kahn):
    """MOSFLM with the beam at the detector centre: image = its fast and slow mirrors, and its
    transpose for a cubic crystal with an unpolarized beam (K = 0).  (The polarization factor
    keeps both mirrors for any K: the E-vector lies along an axis of the detector.)"""
    flags, cubic = xtal
    det_flags, n, pixel = det
    centre = (n - 1) / 2 * pixel
    res = render(f"{flags} {det_flags} -Xbeam {fmt(centre)} -Ybeam {fmt(centre)} "
                 f"-polar {fmt(kahn)}")
    check_mirrors(image64(res), cubic and kahn == 0.0, "beam-centred")


@settings(max_examples=examples(120))
@given(xtal=aligned_crystals(), det=square_detectors())
def test_the_default_mosflm_beam_centre_mirrors_about_pixel_n_over_2_plus_1(xtal, det):
    flags, cubic = xtal
    det_flags, n, pixel = det
    res = render(f"{flags} {det_flags}")
    det = res.simulation.detector
    for beam in (det.fbeam, det.sbeam):  # metres; the pixel is in mm
        assert abs(beam / (pixel * 1e-3) - (n / 2 + 1)) < 1e-9
    check_mirrors(image64(res)[2:, 2:], cubic, "default MOSFLM centre")


MOSFLM_AS_CUSTOM = "-beam_vector 1 0 0 -odet_vector 1 0 0 -polar_vector 0 0 1 " \
                   "-spindle_axis 0 0 1 -twotheta_axis 0 1 0"


@st.composite
def any_experiments(draw) -> dict:
    return dict(
        crystal=(f"{cell_flag(draw(cells(30.0, 80.0)))} -N {draw(st.integers(2, 5))} "
                 f"-default_F 10 -lambda {fmt(draw(finite(1.0, 1.6)))} "
                 f"-misset {' '.join(fmt(draw(angles_deg)) for _ in range(3))} "
                 f"-polar {fmt(draw(finite(0.0, 1.0)))} -oversample 1"),
        turns=(f"-distance {fmt(draw(finite(40.0, 80.0)))} "
               f"-detector_rotx {fmt(draw(finite(-10.0, 10.0)))} "
               f"-detector_roty {fmt(draw(finite(-10.0, 10.0)))} "
               f"-detector_rotz {fmt(draw(finite(-10.0, 10.0)))} "
               f"-twotheta {fmt(draw(finite(-15.0, 15.0)))} -pivot beam"),
        nf=draw(st.integers(8, 20)), ns=draw(st.integers(8, 20)),
        pixel=draw(finite(0.15, 0.3)), fb=draw(finite(0.0, 1.0)), sb=draw(finite(0.0, 1.0)),
    )


def custom_render(e: dict, fdet, sdet, nf: int, ns: int, fbeam: float, sbeam: float):
    vec = f"-fdet_vector {' '.join(str(x) for x in fdet)} " \
          f"-sdet_vector {' '.join(str(x) for x in sdet)}"
    return image64(render(
        f"{MOSFLM_AS_CUSTOM} {vec} {e['crystal']} -detpixels_f {nf} -detpixels_s {ns} "
        f"-pixel {fmt(e['pixel'])} -Xbeam {fmt(fbeam)} -Ybeam {fmt(sbeam)} {e['turns']}"))


@settings(max_examples=examples(96))
@given(e=any_experiments(), relabel=st.sampled_from(["slow", "fast", "swap"]))
def test_relabelling_the_pixels_reverses_or_transposes_the_image(e, relabel):
    """CUSTOM detector (MOSFLM's vectors), any crystal, rotations and two-theta: the mirrored
    labelling of the same physical pixels gives image[::-1, :] (slow axis reversed, beam at
    Ns pixel - Sbeam), image[:, ::-1] (fast) or image.T (axes and beam coordinates swapped)."""
    nf, ns, px = e["nf"], e["ns"], e["pixel"]
    fbeam, sbeam = e["fb"] * nf * px, e["sb"] * ns * px
    f, s = (0, 0, 1), (0, -1, 0)
    base = custom_render(e, f, s, nf, ns, fbeam, sbeam)
    if relabel == "slow":
        other, expected = custom_render(e, f, (0, 1, 0), nf, ns, fbeam, ns * px - sbeam), \
            base[::-1, :]
    elif relabel == "fast":
        other, expected = custom_render(e, (0, 0, -1), s, nf, ns, nf * px - fbeam, sbeam), \
            base[:, ::-1]
    else:
        other, expected = custom_render(e, s, f, ns, nf, sbeam, fbeam), base.T
    assert_images_close(other, expected, REL, f"{relabel} relabelling")
