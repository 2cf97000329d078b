"""Conventions: one physical geometry written in a named convention (MOSFLM, DENZO, ADXV, XDS,
DIALS) and in CUSTOM vectors with the equivalent beam centre renders the same image.

The expected CUSTOM equivalents are written here from nanoBragg's documented rules, not taken
from ``nbcupy.experiment.conventions``: the lab-frame beam, fast, slow, normal, two-theta,
polarization and spindle vectors of each convention, and the beam centre on the detector's
fast/slow axes (Fbeam, Sbeam) that each convention derives from -Xbeam/-Ybeam (or the near point
from
-ORGX/-ORGY).  Detector rotations, two-theta, phi, misset and a polarization factor are drawn
too, so every vector matters.  Tolerance: 1e-9 of the largest pixel (rounding of the beam
centre).
"""

from __future__ import annotations

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

# beam, fdet, sdet, odet, twotheta axis, polarization, spindle
VECTORS = {
    "mosflm": ((1, 0, 0), (0, 0, 1), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0, 0, 1), (0, 0, 1)),
    "denzo": ((1, 0, 0), (0, 0, 1), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0, 0, 1), (0, 0, 1)),
    "adxv": ((0, 0, 1), (1, 0, 0), (0, -1, 0), (0, 0, 1), (-1, 0, 0), (1, 0, 0), (1, 0, 0)),
    "xds": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0), (1, 0, 0), (1, 0, 0)),
    "dials": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 0), (0, 1, 0), (0, 1, 0)),
}
NAMES = ("-beam_vector", "-fdet_vector", "-sdet_vector", "-odet_vector", "-twotheta_axis",
         "-polar_vector", "-spindle_axis")


def custom_vectors(conv: str) -> str:
    return " ".join(f"{name} {' '.join(str(x) for x in vec)}"
                    for name, vec in zip(NAMES, VECTORS[conv], strict=True))


def beam_on_axes(conv: str, x: float, y: float, detsize_s: float, pixel: float,
                 ) -> tuple[float, float]:
    """(Fbeam, Sbeam) in mm from the convention's -Xbeam/-Ybeam (mm)."""
    if conv == "mosflm":
        return y + 0.5 * pixel, x + 0.5 * pixel
    if conv == "denzo":
        return y, x
    if conv == "adxv":
        return x, detsize_s - y
    raise ValueError(conv)


@st.composite
def experiments(draw) -> dict:
    fpix, spix = draw(st.integers(10, 24)), draw(st.integers(10, 24))
    pixel = draw(finite(0.15, 0.3))
    return dict(
        crystal=(f"{cell_flag(draw(cells(30.0, 80.0)))} -N {draw(st.integers(2, 5))} "
                 f"-default_F 10 -lambda {fmt(draw(finite(1.0, 1.6)))} "
                 f"-misset {' '.join(fmt(draw(angles_deg)) for _ in range(3))} "
                 f"-phi {fmt(draw(finite(-30.0, 30.0)))} "
                 f"-polar {fmt(draw(finite(0.0, 1.0)))} -oversample 1"),
        detector=(f"-detpixels_f {fpix} -detpixels_s {spix} -pixel {fmt(pixel)} "
                  f"-distance {fmt(draw(finite(40.0, 80.0)))} "
                  f"-detector_rotx {fmt(draw(finite(-10.0, 10.0)))} "
                  f"-detector_roty {fmt(draw(finite(-10.0, 10.0)))} "
                  f"-detector_rotz {fmt(draw(finite(-10.0, 10.0)))} "
                  f"-twotheta {fmt(draw(finite(-15.0, 15.0)))}"),
        fpix=fpix, spix=spix, pixel=pixel,
        # beam centre anywhere on the detector (mm, in the convention's own X/Y)
        x=draw(finite(0.0, 1.0)), y=draw(finite(0.0, 1.0)),
    )


@settings(max_examples=examples(120))
@given(e=experiments(), conv=st.sampled_from(["mosflm", "denzo", "adxv"]))
def test_beam_pivot_conventions_equal_their_custom_vectors(e, conv):
    """-mosflm/-denzo/-adxv with -Xbeam/-Ybeam (BEAM pivot, also under -twotheta) equal CUSTOM
    with the same vectors, -Xbeam Fbeam -Ybeam Sbeam and -pivot beam."""
    size_f, size_s = e["fpix"] * e["pixel"], e["spix"] * e["pixel"]
    # X runs along slow for MOSFLM/DENZO (Xbeam <-> Sbeam), along fast for ADXV
    x = e["x"] * (size_s if conv in ("mosflm", "denzo") else size_f)
    y = e["y"] * (size_f if conv in ("mosflm", "denzo") else size_s)
    fbeam, sbeam = beam_on_axes(conv, x, y, size_s, e["pixel"])
    named = render(f"-{conv} {e['crystal']} {e['detector']} -Xbeam {fmt(x)} -Ybeam {fmt(y)}")
    custom = render(f"{custom_vectors(conv)} {e['crystal']} {e['detector']} "
                    f"-Xbeam {fmt(fbeam)} -Ybeam {fmt(sbeam)} -pivot beam")
    assert named.simulation.detector.convention == conv
    assert custom.simulation.detector.convention == "custom"
    assert_images_close(image64(custom), image64(named), 1e-9, f"{conv} vs CUSTOM")


@settings(max_examples=examples(120))
@given(e=experiments(), conv=st.sampled_from(["xds", "dials"]))
def test_sample_pivot_conventions_equal_their_custom_vectors(e, conv):
    """-xds/-dials with -ORGX/-ORGY (pixels; SAMPLE pivot) equal CUSTOM with the same vectors,
    the near point -Xbeam (ORGX - 0.5) pixel -Ybeam (ORGY - 0.5) pixel and -pivot sample."""
    orgx = 0.5 + e["x"] * e["fpix"]
    orgy = 0.5 + e["y"] * e["spix"]
    fclose, sclose = (orgx - 0.5) * e["pixel"], (orgy - 0.5) * e["pixel"]
    named = render(f"-{conv} {e['crystal']} {e['detector']} -ORGX {fmt(orgx)} "
                   f"-ORGY {fmt(orgy)}")
    custom = render(f"{custom_vectors(conv)} {e['crystal']} {e['detector']} "
                    f"-Xbeam {fmt(fclose)} -Ybeam {fmt(sclose)} -pivot sample")
    assert named.simulation.detector.pivot == custom.simulation.detector.pivot == "sample"
    assert_images_close(image64(custom), image64(named), 1e-9, f"{conv} vs CUSTOM")
