"""Bragg's law: a crystal with a single reflection hkl, oriented so that the reflection is in
diffracting position, puts its spot where 2 d sin(theta) = lambda predicts.

The prediction is made here from the cell only: d = 1/sqrt((h/a)^2 + (k/b)^2 + (l/c)^2) for an
orthorhombic cell, 2 theta from Bragg's law, an azimuth psi drawn at random, and the spot at
distance * tan(2 theta) from the direct beam on a detector normal to the beam (MOSFLM).  The
crystal is given as a MOSFLM matrix whose reflection hkl points along (d_out - s0)/lambda.  The
spot's intensity-weighted centroid must lie within 0.5 pixel of the prediction in both
directions, and its brightest pixel within one pixel.  Pixels are integrated over 3 x 3
sub-pixels so that narrow spots are binned rather than point-sampled (a binned centroid is
within half a pixel of the true one); measured centroid errors stay below 0.3 pixel.

-dmin, Bragg's law read the other way, keeps exactly the pixels whose resolution
lambda / (2 sin theta) is at least d_min (values unchanged to 1e-12) and zeroes the rest.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from .support import (
    examples,
    finite,
    fmt,
    image64,
    pixel_positions,
    render,
    rodrigues,
    setup_flags,
    small_setups,
    write_matrix,
    write_text,
)


@st.composite
def single_reflections(draw) -> dict:
    cell = tuple(draw(finite(40.0, 100.0)) for _ in range(3))
    hkl = tuple(draw(st.integers(-2, 2)) for _ in range(3))
    assume(any(hkl))
    lam = draw(finite(0.8, 1.6))
    inv_d = math.sqrt(sum((i / a) ** 2 for i, a in zip(hkl, cell, strict=True)))
    sin_theta = lam * inv_d / 2  # Bragg's law
    two_theta = 2 * math.asin(sin_theta)
    return dict(cell=cell, hkl=hkl, lam=lam, two_theta=two_theta,
                psi=draw(finite(-math.pi, math.pi)), spin=draw(finite(-math.pi, math.pi)),
                N=draw(st.integers(2, 5)), F=draw(finite(10.0, 1000.0)),
                pixels=32, distance=draw(finite(20.0, 200.0)), radius=draw(finite(5.0, 11.0)))


@settings(max_examples=examples(120))
@given(r=single_reflections())
def test_a_single_reflection_lands_where_braggs_law_puts_it(r):
    # pixel size (mm) that puts the spot `radius` pixels from the beam
    distance = r["distance"]
    r["pixel"] = distance * math.tan(r["two_theta"]) / r["radius"]
    s0 = np.array([1.0, 0.0, 0.0])  # MOSFLM beam along +x; fast axis +z, slow axis -y
    u = np.array([0.0, math.cos(r["psi"]), math.sin(r["psi"])])
    out = math.cos(r["two_theta"]) * s0 + math.sin(r["two_theta"]) * u
    scatter = (out - s0) / r["lam"]
    # reciprocal axes of the cell (columns), turned so that h a* + k b* + l c* || scatter
    recip = np.diag([1.0 / a for a in r["cell"]])
    g = recip @ np.array(r["hkl"], dtype=float)
    assert abs(np.linalg.norm(g) - np.linalg.norm(scatter)) <= 1e-12 * np.linalg.norm(g)
    gu, su = g / np.linalg.norm(g), scatter / np.linalg.norm(scatter)
    axis = np.cross(gu, su)
    if np.linalg.norm(axis) < 1e-9:
        axis = np.cross(gu, [0.0, 0.0, 1.0] if abs(gu[2]) < 0.9 else [1.0, 0.0, 0.0])
    turn = rodrigues(axis / np.linalg.norm(axis), math.acos(max(-1.0, min(1.0, gu @ su))))
    turn = rodrigues(su, r["spin"]) @ turn  # any spin about the scattering vector
    mat = write_matrix((turn @ recip).T, r["lam"])
    h, k, l = r["hkl"]
    hkl = write_text("one.hkl", f"{h} {k} {l} {fmt(r['F'])}\n")
    n, px = r["pixels"], r["pixel"]
    centre = (n - 1) / 2 * px  # MOSFLM: the beam at n/2 pixels on both axes
    res = render(f"-mat {mat} -hkl {hkl} -default_F 0 -nointerpolate -N {r['N']} "
                 f"-lambda {fmt(r['lam'])} -detpixels {n} -pixel {fmt(px)} "
                 f"-distance {fmt(distance)} -Xbeam {fmt(centre)} -Ybeam {fmt(centre)} "
                 f"-oversample 3")
    img = image64(res)
    # predicted spot, in pixels from the corner of pixel (0, 0)
    radius_mm = distance * math.tan(r["two_theta"])
    f_pred = n / 2 + radius_mm * math.sin(r["psi"]) / px
    s_pred = n / 2 - radius_mm * math.cos(r["psi"]) / px
    s_max, f_max = np.unravel_index(int(np.argmax(img)), img.shape)
    assert abs(f_max + 0.5 - f_pred) <= 1.0 and abs(s_max + 0.5 - s_pred) <= 1.0, (
        f"brightest pixel (f, s) = ({f_max}, {s_max}), predicted ({f_pred:.2f}, {s_pred:.2f})")
    # centroid of the spot: pixels within 3 of the brightest one
    lo_s, hi_s = max(0, s_max - 3), min(n, s_max + 4)
    lo_f, hi_f = max(0, f_max - 3), min(n, f_max + 4)
    win = img[lo_s:hi_s, lo_f:hi_f]
    ss, ff = np.mgrid[lo_s:hi_s, lo_f:hi_f]
    f_cen = float((win * (ff + 0.5)).sum() / win.sum())
    s_cen = float((win * (ss + 0.5)).sum() / win.sum())
    assert abs(f_cen - f_pred) <= 0.5 and abs(s_cen - s_pred) <= 0.5, (
        f"spot centroid (f, s) = ({f_cen:.2f}, {s_cen:.2f}), predicted ({f_pred:.2f}, "
        f"{s_pred:.2f})")


@settings(max_examples=examples(60))
@given(s=small_setups(), dmin_frac=finite(0.0, 1.0))
def test_dmin_keeps_exactly_the_pixels_at_or_below_that_resolution(s, dmin_frac):
    """-dmin d_min zeroes every pixel whose resolution d = lambda / (2 sin theta) (Bragg's law,
    from the pixel-centre ray computed here) is finer than d_min and leaves the others as they
    were.  d_min is drawn between the finest and the coarsest resolution on the detector;
    pixels within 1e-9 of it either way are not judged."""
    plain = render(setup_flags(s))
    det = plain.simulation.detector
    pos = pixel_positions(det)
    d_out = pos / np.linalg.norm(pos, axis=-1, keepdims=True)
    two_sin = np.linalg.norm(d_out - np.array([1.0, 0.0, 0.0]), axis=-1)  # 2 sin(theta)
    with np.errstate(divide="ignore"):
        res = s["lam"] / two_sin  # Angstrom (inf on the direct beam, which is never cut)
    lo, hi = float(res.min()), float(np.minimum(res, 1e3).max())
    dmin = lo + dmin_frac * (hi - lo)
    cut = render(f"{setup_flags(s)} -dmin {fmt(dmin)}")
    img, ref = image64(cut), image64(plain)
    keep = res >= dmin * (1 + 1e-9)
    drop = res <= dmin * (1 - 1e-9)
    assert np.all(img[drop] == 0.0)
    # -dmin runs the plain kernel, the image without it the compiled one where it is built:
    # the same to 1e-12 of the image maximum (their stated agreement), exactly where both plain
    np.testing.assert_allclose(img[keep], ref[keep], rtol=1e-12, atol=1e-12 * float(ref.max()))
