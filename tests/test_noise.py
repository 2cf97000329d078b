"""Poisson noise images against nanoBragg's golden outputs."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from nbcupy.nanobragg.noise import noise_image_uint16, poisson_counts_exact, poisson_counts_fast
from nbcupy.nanobragg.rng import NanoBraggRandom, SeedStream

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = {c["name"]: c for c in json.loads((GOLDEN / "manifest.json").read_text())}


def _float_image(name: str) -> np.ndarray:
    case = CASES[name]
    raw = gzip.open(GOLDEN / "cases" / name / "float.bin.gz").read()
    return np.frombuffer(raw, "<f4").reshape(case["spixels"], case["fpixels"])


def _arg(args, flag, n=1):
    i = args.index(flag)
    return args[i + 1:i + 1 + n]


def _roi_mask(case) -> np.ndarray | None:
    """nanoBragg's -roi xmin xmax ymin ymax (inclusive; x = fast, y = slow)."""
    args = case["args"]
    if "-roi" not in args:
        return None
    x0, x1, y0, y1 = map(int, _arg(args, "-roi", 4))
    mask = np.zeros((case["spixels"], case["fpixels"]), dtype=bool)
    mask[y0:y1 + 1, x0:x1 + 1] = True
    return mask


def _nanobragg_noise(name: str):
    """Run the noise step as nanoBragg does for a golden case."""
    case = CASES[name]
    args = case["args"]
    rng = NanoBraggRandom()
    # nanoBragg always creates at least one mosaic domain before the noise loop
    mosaic_seed = -int(_arg(args, "-mosaic_seed")[0]) if "-mosaic_seed" in args else -12345678
    rng.mosaic_umats(0.0, 1, SeedStream(mosaic_seed))
    seed = SeedStream(-int(_arg(args, "-seed")[0]))
    adc = float(_arg(args, "-adc")[0]) if "-adc" in args else 40.0
    roi = _roi_mask(case)
    counts = poisson_counts_exact(_float_image(name), rng, seed, roi)
    return noise_image_uint16(counts, adc, roi), counts, roi


def test_noise_image_bytes_match_golden():
    name = "outputs_int_noise_pgm"
    (img, total, overloads), counts, _ = _nanobragg_noise(name)
    raw = gzip.open(GOLDEN / "cases" / name / "noise.img.gz").read()
    header = raw[:512].decode("ascii", "replace")
    assert "BYTE_ORDER=little_endian" in header and "TYPE=unsigned_short" in header
    ref = np.frombuffer(raw[512:], "<u2").reshape(img.shape)
    assert img.dtype == np.uint16
    assert np.array_equal(img, ref)
    assert img.astype("<u2").tobytes() == raw[512:]
    line = f"{total:.0f} photons on noise image ({overloads} overloads)"
    assert line in (GOLDEN / "cases" / name / "stdout.txt").read_text()
    assert line == "20003 photons on noise image (0 overloads)"
    assert np.all(counts == np.floor(counts)) and counts.min() >= 0


def test_wrong_seed_or_missing_table_state_changes_image():
    """The comparison above is sensitive: another seed gives another image."""
    name = "outputs_int_noise_pgm"
    raw = gzip.open(GOLDEN / "cases" / name / "noise.img.gz").read()
    ref = np.frombuffer(raw[512:], "<u2").reshape(64, 64)
    counts = poisson_counts_exact(_float_image(name), NanoBraggRandom(), SeedStream(-8), None)
    img, _, _ = noise_image_uint16(counts, 40.0, None)
    assert not np.array_equal(img, ref)


@pytest.mark.parametrize(
    "cli_seed, photons, sha256, needs_mosaic_draws",
    [
        # -seed -5: idum = +5, so the table is NOT rebuilt; the noise continues the table the
        # mosaic stream (-12345678, 3 draws) left behind
        (-5, 20145, "bc2c69f271888ba7451458c2c776d3eeeca262cd197d4d5adfe47f609eceae3e", True),
        # -seed 0: idum = 0 is rebuilt as idum = 1, the same as -seed 1
        (0, 20140, "6fb7db3ab6b4ae2cdf56792f0c16a18915047e8fb98d08405598c2f046ea9b18", False),
    ],
)
def test_nonnegative_internal_seed_matches_nanobragg(cli_seed, photons, sha256, needs_mosaic_draws):
    """Noise images of nanoBragg runs identical to outputs_int_noise_pgm but for -seed.

    References: sha256 of the uint16 pixel data of the C program's noise image.
    """
    image = _float_image("outputs_int_noise_pgm")

    def run(with_mosaic: bool):
        rng = NanoBraggRandom()
        if with_mosaic:
            rng.mosaic_umats(0.0, 1, SeedStream(-12345678))
        counts = poisson_counts_exact(image, rng, SeedStream(-cli_seed), None)
        return noise_image_uint16(counts, 40.0, None)

    img, total, overloads = run(True)
    assert (total, overloads) == (photons, 0)
    assert hashlib.sha256(img.astype("<u2").tobytes()).hexdigest() == sha256
    img_no_mosaic, _, _ = run(False)
    assert np.array_equal(img_no_mosaic, img) != needs_mosaic_draws


@pytest.mark.parametrize("name", sorted(CASES))
def test_noise_photon_line_matches_golden_stdout(name):
    """Every golden case prints the photon total / overloads of its noise image."""
    (img, total, overloads), _, roi = _nanobragg_noise(name)
    stdout = (GOLDEN / "cases" / name / "stdout.txt").read_text()
    m = re.search(r"^(\S+) photons on noise image \((\d+) overloads\)$", stdout, re.M)
    assert m, "no noise line in stdout"
    assert f"{total:.0f}" == m.group(1)
    assert overloads == int(m.group(2))
    if roi is not None:
        assert not img[~roi].any()


def test_bulk_path_matches_c_across_blocks_and_restores_state():
    """200k pixels covering every poidev branch (reference numbers from nanoBragg's C)."""
    n = 200_000
    k = np.arange(n, dtype=np.int64)
    h = (k * 2654435761) % 4294967296
    means = (h % 100000).astype(np.float64) / 20000.0  # direct method, 0 .. 5
    sel = h % 97
    means[sel == 0] = 12.0 + (h[sel == 0] % 5000) / 7.0  # rejection method
    means[sel == 1] = 0.0
    means[sel == 2] = -1.5
    means[sel == 3] = 2.5e6 + (h[sel == 3] % 1000)  # Gaussian approximation
    means[sel == 4] = 11.999
    image = means.astype(np.float32).reshape(400, 500)

    rng = NanoBraggRandom()
    rng.mosaic_umats(0.0, 1, SeedStream(-12345678))
    s = SeedStream(-7)
    counts = poisson_counts_exact(image, rng, s, None).ravel()
    assert float(np.cumsum(counts)[-1]) == 5129815784.25
    assert float(((k % 997) * counts).sum()) == 2552646644143.0
    assert int((counts > 0).sum()) == 158093
    # the stream ends exactly where the C one does: same idum, same following draws
    assert s.idum == 45436599
    assert [rng.ran1(s) for _ in range(3)] == [
        0.026274580508470535, 0.78513115644454956, 0.60360169410705566]


def test_bulk_path_equals_scalar_calls_with_roi():
    g = np.random.default_rng(3)
    image = g.exponential(2.0, (60, 70)).astype(np.float32)
    image[5:9, 10:20] = g.uniform(12, 300, (4, 10))
    image[20, 30] = 3e6
    roi = np.zeros(image.shape, dtype=bool)
    roi[3:50, 7:61] = True
    rng_a, rng_b = NanoBraggRandom(), NanoBraggRandom()
    sa, sb = SeedStream(-21), SeedStream(-21)
    counts = poisson_counts_exact(image, rng_a, sa, roi)
    ref = np.zeros(image.shape)
    for j, i in zip(*np.nonzero(roi), strict=True):  # row-major, like nanoBragg
        ref[j, i] = rng_b.poidev(float(image[j, i]), sb)
    assert np.array_equal(counts, ref)
    assert not counts[~roi].any()
    assert sa.idum == sb.idum and rng_a.state()[:4] == rng_b.state()[:4]


def test_noise_image_uint16_conversion_rules():
    counts = np.array([[0.0, 1.0, 65495.0, 65496.0], [70000.0, 2.75, -50.0, 3.0]])
    roi = np.array([[True, True, True, True], [True, True, True, False]])
    img, total, overloads = noise_image_uint16(counts, 40.0, roi)
    # 65495+40 = 65535 is not an overload; 65536 and 70040 are clipped and counted
    assert img.tolist() == [[40, 41, 65535, 65535], [65535, 42, 65526, 0]]
    assert overloads == 2
    assert total == 0.0 + 1 + 65495 + 65496 + 70000 + 2.75 - 50


def test_fast_path_statistics_numpy():
    lam = 3.7
    image = np.full((400, 500), lam, dtype=np.float32)
    c = poisson_counts_fast(image, np, seed=11)
    assert isinstance(c, np.ndarray) and c.shape == image.shape and c.dtype == np.float64
    n = c.size
    # mean and variance of a Poisson(3.7) sample of 200k pixels, 5-sigma bounds
    assert abs(c.mean() - lam) < 5 * np.sqrt(lam / n)
    assert abs(c.var() - lam) < 5 * np.sqrt((2 * lam**2 + lam) / n)
    assert np.all(c == np.floor(c)) and c.min() >= 0
    # reproducible for a seed, different for another
    assert np.array_equal(c, poisson_counts_fast(image, np, seed=11))
    assert not np.array_equal(c, poisson_counts_fast(image, np, seed=12))


def test_fast_path_special_means():
    image = np.array([[0.0, -5.0, np.nan, 4e6] * 2000], dtype=np.float32)
    c = poisson_counts_fast(image, np, seed=1)
    assert np.all(c[:, 0::4] == 0) and np.all(c[:, 1::4] == 0)
    assert np.all(np.isnan(c[:, 2::4]))
    big = c[:, 3::4]
    assert abs(big.mean() - 4e6) < 5 * 2000 / np.sqrt(big.size)
    assert abs(big.std() - 2000) < 0.1 * 2000
