"""Image statistics and integer conversions compared with nanoBragg's output."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from nbcupy.experiment.regions import roi_mask
from nbcupy.io.ctext import c_g
from nbcupy.nanobragg.adu import auto_int_scale, auto_pgm_scale, int_image, pgm_image
from nbcupy.nanobragg.stats import (
    format_summary_lines,
    image_statistics,
    last_subpixel_coordinate,
)
from tests.support import require_extension

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
MANIFEST = {c["name"]: c for c in json.loads((GOLDEN / "manifest.json").read_text())}


def golden_float(name: str) -> np.ndarray:
    case = MANIFEST[name]
    raw = gzip.open(GOLDEN / "cases" / name / "float.bin.gz").read()
    return np.frombuffer(raw, "<f4").reshape(case["spixels"], case["fpixels"])


def arg_values(case: dict, flag: str, n: int = 1) -> list[str] | None:
    args = case["args"]
    if flag not in args:
        return None
    i = args.index(flag)
    return args[i + 1 : i + 1 + n]


def case_stats(name: str):
    case = MANIFEST[name]
    fp, sp = case["fpixels"], case["spixels"]
    roi = None
    r = arg_values(case, "-roi", 4)
    if r is not None:
        roi = roi_mask(fp, sp, *(int(v) for v in r))
    pixel = float((arg_values(case, "-pixel") or ["0.1"])[0]) / 1000.0
    return image_statistics(
        golden_float(name), roi, None, pixel_size_m=pixel, oversample=case["stats"]["oversample"]
    )


SEVERAL = [
    "cubic_mosflm_128",
    "pixel_0.4mm",
    "dmin_roi",
    "oversample_3",
    "water_background",
    "phi_sweep",
    "matrix_file",
    "detector_rotations",
    "outputs_int_noise_pgm",
]


@pytest.mark.parametrize("name", SEVERAL)
def test_statistics_match_manifest(name):
    st = case_stats(name)
    expected = MANIFEST[name]["stats"]
    # the manifest holds the %g values nanoBragg printed
    assert float(c_g(st.max_I)) == expected["max_I"]
    assert float(c_g(st.max_I_x)) == expected["max_I_location_m"]["fast"]
    assert float(c_g(st.max_I_y)) == expected["max_I_location_m"]["slow"]
    assert float(c_g(st.mean)) == expected["mean"]
    assert float(c_g(st.rms)) == expected["rms"]
    assert float(c_g(st.rmsd)) == expected["rmsd"]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_summary_lines_match_stdout(name):
    lines = format_summary_lines(case_stats(name))
    stdout = (GOLDEN / "cases" / name / "stdout.txt").read_text().splitlines()
    printed = [s for s in stdout if s.startswith(("max_I = ", "mean= "))]
    assert lines == printed


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_intfile_scale_matches_stdout(name):
    st = case_stats(name)
    assert float(c_g(auto_int_scale(st.max_I))) == MANIFEST[name]["stats"]["intfile_scale"]


def test_dmin_roi_counts_and_location():
    st = case_stats("dmin_roi")
    assert st.n_visited == st.n_roi == (100 - 10 + 1) * (90 - 20 + 1)
    s, f = st.max_I_index
    assert 20 <= s <= 90 and 10 <= f <= 100
    # oversample 3, 0.1 mm pixels: last sub-pixel is 5/6 of the way across
    assert st.max_I_x == pytest.approx(1e-4 * (f + 5 / 6), rel=1e-12)
    assert format_summary_lines(st) == [
        "max_I = 131.125  at 0.00658333 0.00658333",
        "mean= 5.86812 rms= 21.4205 rmsd= 20.6009",
    ]


def test_mask_is_skipped_for_mean_but_not_rmsd():
    # measured: nanoBragg with the cubic_mosflm_64 geometry, "-roi 5 60 0 50" and
    # an SMV -mask of this pattern printed these two lines; its float image was
    # the golden one with masked and non-ROI pixels left at 0.
    img = golden_float("cubic_mosflm_64")
    s, f = np.mgrid[0:64, 0:64]
    keep = (3 * s + 5 * f) % 7 != 0
    keep[32, 32] = keep[31, 32] = False
    roi = roi_mask(64, 64, 5, 60, 0, 50)
    rendered = np.where(roi & keep, img, np.float32(0))
    st = image_statistics(rendered, roi, ~keep, pixel_size_m=0.1 / 1000.0, oversample=1)
    assert format_summary_lines(st) == [
        "max_I = 7.26507  at 0.00335 0.00325",
        "mean= 1.03112 rms= 1.96773 rmsd= 1.59929",
    ]
    assert st.n_roi == 56 * 51 and st.n_visited < st.n_roi


def test_sums_are_sequential_with_float32_squares():
    img = golden_float("water_background")
    st = image_statistics(img, pixel_size_m=1e-4)
    v = img.ravel()
    total = 0.0
    total_sq = 0.0
    for x in v.tolist():  # x is the float32 value as a Python float
        total += x
        total_sq += float(np.float32(x) * np.float32(x))
    assert st.mean == total / v.size
    assert st.rms == math.sqrt(total_sq / (v.size - 1))
    dev = 0.0
    for x in v.tolist():
        dev += (x - st.mean) * (x - st.mean)
    assert st.rmsd == math.sqrt(dev / (v.size - 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_and_numpy_sequential_sums_agree_bit_for_bit(dtype):
    """nbcupy.nanobragg._sequential's sums against the NumPy fallback (and a Python loop) on values
    spanning many magnitudes, where any other summation order would round differently."""
    from nbcupy.nanobragg import stats

    sequential = require_extension()
    rng = np.random.default_rng(3)
    v = (rng.standard_normal(70_001) * 10.0 ** rng.uniform(-8, 8, 70_001)).astype(dtype)
    center = float(np.mean(v))
    for kind, args in ((0, (False, None)), (1, (True, None)), (2, (False, center))):
        c = sequential.sequential_sum(v, kind, center)
        assert c == stats._seq_sum_numpy(v, *args), kind
        assert c == stats._seq_sum(v, *args)
    total = 0.0
    for x in v[:5000].tolist():
        total += x
    assert sequential.sequential_sum(v[:5000], 0, 0.0) == total
    with np.errstate(invalid="ignore"):
        assert math.isnan(sequential.sequential_sum(np.array([1, np.nan], dtype), 0, 0.0))
    with pytest.raises(TypeError):
        sequential.sequential_sum(np.arange(4), 0, 0.0)
    with pytest.raises(TypeError):
        sequential.sequential_sum(np.ones((4, 4), dtype)[:, 1], 0, 0.0)
    with pytest.raises(ValueError):
        sequential.sequential_sum(v, 3, 0.0)


def test_first_maximum_wins_and_nan_ignored():
    img = np.zeros((3, 4), np.float32)
    img[1, 2] = img[2, 0] = 5.0
    img[0, 0] = np.nan
    st = image_statistics(img, pixel_size_m=1e-4, oversample=2)
    assert st.max_I == 5.0 and st.max_I_index == (1, 2)
    assert st.max_I_x == last_subpixel_coordinate(2, 1e-4, 2) == 5e-5 * 5 + 2.5e-5
    assert math.isnan(st.mean)


def test_degenerate_images():
    zero = np.zeros((2, 2), np.float32)
    st = image_statistics(zero, pixel_size_m=1e-4)
    assert (st.max_I, st.max_I_x, st.max_I_y, st.max_I_index) == (0.0, 0.0, 0.0, None)
    assert format_summary_lines(st) == ["max_I = 0  at 0 0", "mean= 0 rms= 0 rmsd= 0"]
    neg = np.full((2, 2), -1.0, np.float32)
    assert image_statistics(neg, pixel_size_m=1e-4).max_I == 0.0  # starts at 0.0
    one = np.zeros((2, 2), bool)
    one[0, 1] = True
    st = image_statistics(np.full((2, 2), 3.0, np.float32), one, pixel_size_m=1e-4)
    # n = 1: mean divides by 1, rms and rmsd by 2 - 1
    assert (st.mean, st.rms, st.rmsd) == (3.0, 3.0, 0.0)
    none = np.zeros((2, 2), bool)
    st = image_statistics(np.full((2, 2), 3.0, np.float32), none, pixel_size_m=1e-4)
    assert (st.max_I, st.mean, st.rms, st.rmsd, st.n_visited) == (0.0, 0.0, 0.0, 0.0, 0)


# ------------------------------------------------------------ int / pgm pixels


def test_int_image_rounds_through_float32_like_floorf():
    # 1.0 * 16777216.49 + 0 ... rounds differently in float32 than in double
    img = np.array([[0.49999997, 65535.0, 70000.0, -5.0, np.nan, 2.5]], np.float32)
    got = int_image(img, 1.0, 0.0)
    # 0.49999997 + 0.5 = 0.99999997 in double, rounds to 1.0 in float32 -> 1
    assert got.tolist() == [[1, 65535, 65535, 0, 0, 3]]
    assert got.dtype == np.uint16


def test_int_image_adc_and_roi():
    img = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    roi = np.array([[True, False], [True, True]])
    assert int_image(img, 10.0, 40.0, roi).tolist() == [[50, 0], [70, 80]]


def test_pgm_image_truncation_and_wrap():
    img = np.array([[1.9, 300.0, -1.5, np.nan, 254.99]], np.float32)
    assert pgm_image(img, 1.0).tolist() == [[1, 255, 255, 0, 254]]
    roi = np.array([[True, False, True, True, True]])
    assert pgm_image(img, 1.0, roi).tolist() == [[1, 0, 255, 0, 254]]


def test_auto_scales():
    assert auto_int_scale(0.0) == 1.0 and auto_int_scale(-3.0) == 1.0
    assert auto_int_scale(55.0) == 1000.0
    assert auto_pgm_scale(0.0, 7.0) == 7.0
    assert auto_pgm_scale(10.0, 7.0) == 5.0


def test_pgm_scale_matches_stdout():
    st = case_stats("outputs_int_noise_pgm")
    scale = auto_pgm_scale(st.rmsd, auto_int_scale(st.max_I))
    assert c_g(scale) == "3.54222"
