"""The Numba-compiled noise loop against the pure-Python one (identical numbers and state)."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from nbcupy import noise  # noqa: E402
from nbcupy.noise import noise_image_uint16, poisson_counts_exact  # noqa: E402
from nbcupy.noise_jit import poidev_array_jit, poisson_counts_jit  # noqa: E402
from nbcupy.rng import NanoBraggRandom, SeedStream  # noqa: E402

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = {c["name"]: c for c in json.loads((GOLDEN / "manifest.json").read_text())}
NAME = "outputs_int_noise_pgm"


def _float_image(name: str) -> np.ndarray:
    case = CASES[name]
    raw = gzip.open(GOLDEN / "cases" / name / "float.bin.gz").read()
    return np.frombuffer(raw, "<f4").reshape(case["spixels"], case["fpixels"])


def _same_state(a: NanoBraggRandom, sa: SeedStream, b: NanoBraggRandom, sb: SeedStream):
    assert sa.idum == sb.idum
    sta, stb = a.state(), b.state()
    assert sta[:4] == stb[:4]  # iy, iv, iset, gset
    # poidev cache (oldm, sq, alxm, g): compare bit patterns so that nan == nan
    assert np.array(sta[4:]).tobytes() == np.array(stb[4:]).tobytes()


def _pure(image, rng, stream, roi):
    """poisson_counts_exact forced onto the pure-Python path."""
    saved = noise.JIT_MIN_PIXELS, noise.JIT_WARM_MIN_PIXELS
    noise.JIT_MIN_PIXELS = noise.JIT_WARM_MIN_PIXELS = 1 << 62
    try:
        return poisson_counts_exact(image, rng, stream, roi)
    finally:
        noise.JIT_MIN_PIXELS, noise.JIT_WARM_MIN_PIXELS = saved


def _after_mosaic(seed: int):
    rng = NanoBraggRandom()
    rng.mosaic_umats(0.0, 1, SeedStream(-12345678))  # as nanoBragg before its noise loop
    return rng, SeedStream(-seed)


def _continue(rng, s):
    """Draw a bit of everything after the image."""
    vals = [rng.ran1(s) for _ in range(5)]
    vals += [rng.gaussdev(s) for _ in range(3)]
    vals += [rng.poidev(x, s) for x in (0.5, 3.0, 40.0, 2e6, 40.0, 7.0)]
    return vals


def test_golden_image_compiled_equals_pure_and_golden_noise_img(monkeypatch):
    image = _float_image(NAME)
    ra, sa = _after_mosaic(7)
    rb, sb = _after_mosaic(7)
    ca = _pure(image, ra, sa, None)
    cb = poisson_counts_jit(image, rb, sb, None)
    assert cb.dtype == np.float64 and cb.shape == image.shape
    assert np.array_equal(ca, cb)
    _same_state(ra, sa, rb, sb)
    assert _continue(ra, sa) == _continue(rb, sb)
    _same_state(ra, sa, rb, sb)

    # the golden noise image through the dispatching entry point, compiled path forced
    # (monkeypatch restores the module state, so tests/test_noise.py keeps the pure path)
    rc, sc = _after_mosaic(7)
    monkeypatch.setattr(noise, "JIT_MIN_PIXELS", 0)
    monkeypatch.setattr(noise, "_JIT_WARM", False)
    counts = poisson_counts_exact(image, rc, sc, None)
    assert noise._JIT_WARM
    img, total, overloads = noise_image_uint16(counts, 40.0, None)
    raw = gzip.open(GOLDEN / "cases" / NAME / "noise.img.gz").read()
    assert img.astype("<u2").tobytes() == raw[512:]
    assert (f"{total:.0f}", overloads) == ("20003", 0)


def _mixed_image(seed: int, shape=(180, 250)) -> np.ndarray:
    g = np.random.default_rng(seed)
    n = shape[0] * shape[1]
    m = g.exponential(2.0, n)
    sel = g.integers(0, 40, n)
    m[sel == 0] = 0.0
    m[sel == 1] = 1e-30
    m[sel == 2] = g.uniform(12.0, 1e6, int((sel == 2).sum()))
    m[sel == 3] = g.uniform(1e6, 1e9, int((sel == 3).sum()))  # Gaussian approximation
    m[sel == 4] = np.nan
    m[sel == 5] = -g.uniform(0.0, 200.0, int((sel == 5).sum()))  # incl. <= -80 cache branch
    m[sel == 6] = g.uniform(5.0, 12.0, int((sel == 6).sum()))
    m[sel == 7] = 12.0
    m[sel == 8] = 11.999
    m[sel == 9] = g.uniform(12.0, 100.0, int((sel == 9).sum()))
    m[sel == 10] = np.inf
    m[sel == 11] = 1e-3
    img = m.astype(np.float32).reshape(shape)
    img[3, :40] = 5.0  # runs of the same mean (poidev cache hits)
    img[4, :40] = 500.0
    return img


@pytest.mark.parametrize("seed, stream_seed, with_mosaic", [(1, 7, True), (2, -5, True),
                                                            (3, 0, False)])
def test_mixed_image_with_roi_compiled_equals_pure(seed, stream_seed, with_mosaic):
    image = _mixed_image(seed)
    roi = np.zeros(image.shape, dtype=bool)
    roi[5:170, 9:231] = True
    roi[100, :] = True
    roi[:, 0] = True

    def start():
        if with_mosaic:
            return _after_mosaic(stream_seed)
        return NanoBraggRandom(), SeedStream(-stream_seed)

    ra, sa = start()
    rb, sb = start()
    ca = _pure(image, ra, sa, roi)
    cb = poisson_counts_jit(image, rb, sb, roi)
    assert np.array_equal(ca, cb, equal_nan=True)
    assert np.isnan(cb).any() and (cb > 1e6).any() and not cb[~roi].any()
    _same_state(ra, sa, rb, sb)
    assert _continue(ra, sa) == _continue(rb, sb)
    _same_state(ra, sa, rb, sb)


def test_mixed_image_without_roi_and_chained_calls():
    """Two images in a row through the same state, no roi (the gaussdev spare carries over)."""
    im1 = _mixed_image(4, (60, 77))  # odd pixel counts leave a spare gaussdev
    im2 = _mixed_image(5, (50, 50))
    ra, sa = _after_mosaic(11)
    rb, sb = _after_mosaic(11)
    for im in (im1, im2):
        ca = _pure(im, ra, sa, None)
        cb = poisson_counts_jit(im, rb, sb, None)
        assert np.array_equal(ca, cb, equal_nan=True)
        _same_state(ra, sa, rb, sb)
    assert _continue(ra, sa) == _continue(rb, sb)


def test_poidev_array_jit_equals_scalar_calls():
    means = [0.0, -0.0, -1.0, -79.0, -80.0, -85.0, -1e30, 1e-45, 0.7, 11.999999, 12.0,
             12.000001, 30.0, 30.0, 1e6, 1.0000001e6, 3e7, float("nan"), float("inf"), 5.0]
    ra, sa = NanoBraggRandom(), SeedStream(-3)
    rb, sb = NanoBraggRandom(), SeedStream(-3)
    ref = [ra.poidev(x, sa) for x in means]
    got = poidev_array_jit(means, rb, sb)
    assert np.array_equal(np.array(ref), got, equal_nan=True)
    _same_state(ra, sa, rb, sb)


def test_positive_idum_without_table_rebuilds_like_c():
    """idum > 0 with a never-built table (iy == 0) rebuilds it from idum = 1, as in C."""
    image = _mixed_image(6, (30, 30))
    ra, sa = NanoBraggRandom(), SeedStream(5)
    rb, sb = NanoBraggRandom(), SeedStream(5)
    assert np.array_equal(_pure(image, ra, sa, None), poisson_counts_jit(image, rb, sb, None),
                          equal_nan=True)
    _same_state(ra, sa, rb, sb)


def test_compiled_libm_matches_python_math():
    """The kernel's exp/log/tan/sqrt are the C library's, like Python's math module."""
    import numba

    @numba.njit
    def f(x):
        out = np.empty((4, x.size))
        for i in range(x.size):
            out[0, i] = math.exp(-x[i])
            out[1, i] = math.log(x[i])
            out[2, i] = math.tan(math.pi * x[i])
            out[3, i] = math.sqrt(2.0 * x[i])
        return out

    g = np.random.default_rng(0)
    x = np.concatenate([g.uniform(0, 1, 20000), g.uniform(0, 12, 20000),
                        g.uniform(12, 1e6, 5000)]).astype(np.float32).astype(np.float64)
    got = f(x)
    ref = np.array([[math.exp(-v) for v in x], [math.log(v) for v in x],
                    [math.tan(math.pi * v) for v in x], [math.sqrt(2.0 * v) for v in x]])
    assert got.tobytes() == ref.tobytes()


def test_dispatch_threshold_and_disable(monkeypatch):
    image = _mixed_image(7, (40, 40))
    calls = []

    def fake(img, rng, stream, mask):
        calls.append(img.shape)
        return poisson_counts_jit(img, rng, stream, mask)

    monkeypatch.setattr(noise, "_JIT", fake)
    monkeypatch.setattr(noise, "_JIT_WARM", False)
    monkeypatch.setattr(noise, "JIT_MIN_PIXELS", image.size + 1)
    monkeypatch.setattr(noise, "JIT_WARM_MIN_PIXELS", 500)
    poisson_counts_exact(image, NanoBraggRandom(), SeedStream(-1), None)
    assert calls == [] and not noise._JIT_WARM
    monkeypatch.setattr(noise, "JIT_MIN_PIXELS", image.size)
    poisson_counts_exact(image, NanoBraggRandom(), SeedStream(-1), None)
    assert calls == [image.shape] and noise._JIT_WARM
    # once loaded, the lower threshold applies; only the visited pixels count
    roi = np.zeros(image.shape, dtype=bool)
    roi[:10] = True
    poisson_counts_exact(image, NanoBraggRandom(), SeedStream(-1), roi)
    assert len(calls) == 1
    roi[:13] = True
    poisson_counts_exact(image, NanoBraggRandom(), SeedStream(-1), roi)
    assert len(calls) == 2
    monkeypatch.setattr(noise, "JIT_MIN_PIXELS", 0)
    monkeypatch.setattr(noise, "_JIT", None)
    monkeypatch.setenv("NBCUPY_NOISE_JIT", "0")
    assert noise._jit_kernel() is None
