"""The compiled noise loop (C extension nbcupy.nanobragg._sequential) against the pure-Python one.

Every comparison asks for identical counts AND an identical final generator state (LCG word,
shuffle table, gaussdev spare, poidev cache), followed by identical further draws.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tests.support import require_extension

_sequential = require_extension(module_level=True)

from nbcupy.nanobragg import noise  # noqa: E402
from nbcupy.nanobragg.noise import noise_image_uint16, poisson_counts_exact  # noqa: E402
from nbcupy.nanobragg.noise_compiled import (  # noqa: E402
    _pack_state,
    poidev_array_compiled,
    poisson_counts_compiled,
)
from nbcupy.nanobragg.rng import NanoBraggRandom, SeedStream  # noqa: E402

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
    # and the same Python types (ints stay ints, floats floats)
    assert [type(v) for v in sta] == [type(v) for v in stb]


@contextmanager
def _pure_path():
    """poisson_counts_exact forced onto the pure-Python path with the environment switch."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(noise.COMPILED_ENV, "0")
        yield


def _pure(image, rng, stream, roi):
    with _pure_path():
        return poisson_counts_exact(image, rng, stream, roi)


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
    image = _float_image(NAME)  # read-only array (np.frombuffer): accepted as is
    assert not image.flags.writeable
    ra, sa = _after_mosaic(7)
    rb, sb = _after_mosaic(7)
    ca = _pure(image, ra, sa, None)
    cb = poisson_counts_compiled(image, rb, sb, None)
    assert cb.dtype == np.float64 and cb.shape == image.shape
    assert np.array_equal(ca, cb)
    _same_state(ra, sa, rb, sb)
    assert _continue(ra, sa) == _continue(rb, sb)
    _same_state(ra, sa, rb, sb)

    raw = gzip.open(GOLDEN / "cases" / NAME / "noise.img.gz").read()
    # the golden noise image through the dispatching entry point, on both paths
    for env in ("1", "0"):
        monkeypatch.setenv(noise.COMPILED_ENV, env)
        rc, sc = _after_mosaic(7)
        counts = poisson_counts_exact(image, rc, sc, None)
        img, total, overloads = noise_image_uint16(counts, 40.0, None)
        assert img.astype("<u2").tobytes() == raw[512:]
        assert (f"{total:.0f}", overloads) == ("20003", 0)


def _arg(args, flag, n=1):
    i = args.index(flag)
    return args[i + 1:i + 1 + n]


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_golden_case_compiled_equals_pure(name):
    """The noise step of every golden case (seeds, -roi, mosaic seeds) on both paths."""
    args = CASES[name]["args"]
    image = _float_image(name)
    roi = None
    if "-roi" in args:
        x0, x1, y0, y1 = map(int, _arg(args, "-roi", 4))
        roi = np.zeros(image.shape, dtype=bool)
        roi[y0:y1 + 1, x0:x1 + 1] = True
    mosaic = -int(_arg(args, "-mosaic_seed")[0]) if "-mosaic_seed" in args else -12345678
    seed = -int(_arg(args, "-seed")[0])
    results = []
    for run in (_pure, poisson_counts_compiled):
        rng = NanoBraggRandom()
        rng.mosaic_umats(0.0, 1, SeedStream(mosaic))
        s = SeedStream(seed)
        results.append((run(image, rng, s, roi), rng, s))
    (ca, ra, sa), (cb, rb, sb) = results
    assert np.array_equal(ca, cb, equal_nan=True)
    _same_state(ra, sa, rb, sb)
    # the photon line nanoBragg printed for this case
    _, total, overloads = noise_image_uint16(cb, float(_arg(args, "-adc")[0])
                                             if "-adc" in args else 40.0, roi)
    stdout = (GOLDEN / "cases" / name / "stdout.txt").read_text()
    m = re.search(r"^(\S+) photons on noise image \((\d+) overloads\)$", stdout, re.M)
    assert m, "no noise line in stdout"
    assert (f"{total:.0f}", overloads) == (m.group(1), int(m.group(2)))


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
    m[sel == 12] = 1.0e6  # not above the Gaussian threshold
    m[sel == 13] = -np.inf
    img = m.astype(np.float32).reshape(shape)
    img[3, :40] = 5.0  # runs of the same mean (poidev cache hits)
    img[4, :40] = 500.0
    img[5, :40] = np.nan
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
    cb = poisson_counts_compiled(image, rb, sb, roi)
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
        cb = poisson_counts_compiled(im, rb, sb, None)
        assert np.array_equal(ca, cb, equal_nan=True)
        _same_state(ra, sa, rb, sb)
    assert _continue(ra, sa) == _continue(rb, sb)


def test_stream_continued_from_scalar_draws_and_spare_gaussdev():
    """A run picking up a stream mid-way: spare gaussdev pending, poidev cache warm."""
    image = _mixed_image(9, (70, 90))
    states = []
    for _ in range(2):
        rng, s = _after_mosaic(13)
        _continue(rng, s)  # ends with a spare gaussdev? make sure one is pending
        if rng.state()[2] == 0:
            rng.gaussdev(s)
        assert rng.state()[2] == 1
        states.append((rng, s))
    (ra, sa), (rb, sb) = states
    ca = _pure(image, ra, sa, None)
    cb = poisson_counts_compiled(image, rb, sb, None)
    assert np.array_equal(ca, cb, equal_nan=True)
    _same_state(ra, sa, rb, sb)
    assert _continue(ra, sa) == _continue(rb, sb)


@pytest.mark.parametrize("with_roi", [False, True])
def test_chunk_and_block_boundaries(with_roi):
    """More pixels than one chunk of the pure path (2**18) and many of its ran1 blocks
    (2**16 draws), with bright pixels whose draws straddle the block ends."""
    g = np.random.default_rng(17)
    shape = (520, 530)  # 275600 pixels > 2**18
    means = g.exponential(1.5, shape[0] * shape[1])
    sel = g.integers(0, 50, means.size)
    means[sel == 0] = g.uniform(12.0, 5e4, int((sel == 0).sum()))
    means[sel == 1] = 3e6
    means[sel == 2] = 0.0
    image = means.astype(np.float32).reshape(shape)
    roi = None
    if with_roi:
        roi = np.ones(shape, dtype=bool)
        roi[::7, :] = False
        roi[:, 3::11] = False
    ra, sa = _after_mosaic(3)
    rb, sb = _after_mosaic(3)
    ca = _pure(image, ra, sa, roi)
    cb = poisson_counts_compiled(image, rb, sb, roi)
    assert np.array_equal(ca, cb)
    _same_state(ra, sa, rb, sb)
    assert _continue(ra, sa) == _continue(rb, sb)


def test_poidev_array_compiled_equals_scalar_calls():
    means = [0.0, -0.0, -1.0, -79.0, -80.0, -85.0, -1e30, 1e-45, 0.7, 11.999999, 12.0,
             12.000001, 30.0, 30.0, 1e6, 1.0000001e6, 3e7, float("nan"), float("inf"), 5.0,
             float("-inf"), float("nan"), 40.0, 1e38, 5.0]
    ra, sa = NanoBraggRandom(), SeedStream(-3)
    rb, sb = NanoBraggRandom(), SeedStream(-3)
    ref = [ra.poidev(x, sa) for x in means]
    got = poidev_array_compiled(means, rb, sb)
    assert got.dtype == np.float64 and got.shape == (len(means),)
    assert np.array_equal(np.array(ref), got, equal_nan=True)
    _same_state(ra, sa, rb, sb)
    # nothing to do: no draw, no state change
    before = rb.state(), sb.idum
    assert poidev_array_compiled([], rb, sb).shape == (0,)
    assert (rb.state(), sb.idum) == before


def test_positive_idum_without_table_rebuilds_like_c():
    """idum > 0 with a never-built table (iy == 0) rebuilds it from idum = 1, as in C."""
    image = _mixed_image(6, (30, 30))
    ra, sa = NanoBraggRandom(), SeedStream(5)
    rb, sb = NanoBraggRandom(), SeedStream(5)
    assert np.array_equal(_pure(image, ra, sa, None),
                          poisson_counts_compiled(image, rb, sb, None), equal_nan=True)
    _same_state(ra, sa, rb, sb)


@pytest.mark.parametrize("idum", [2**31, -(2**31), 2**31 - 1, 1, -1])
def test_extreme_stream_words(idum):
    """The largest |idum| a SeedStream holds, without and with an existing table."""
    image = _mixed_image(8, (20, 25))
    for warm in (False, True):
        runs = []
        for _ in range(2):
            rng = NanoBraggRandom()
            if warm:
                rng.mosaic_umats(0.0, 1, SeedStream(-99))
            runs.append((rng, SeedStream(idum)))
        (ra, sa), (rb, sb) = runs
        assert np.array_equal(_pure(image, ra, sa, None),
                              poisson_counts_compiled(image, rb, sb, None), equal_nan=True)
        _same_state(ra, sa, rb, sb)


def test_compiled_libm_matches_python_math():
    """The extension's exp/log/tan/sqrt (called as the noise loop calls them, with the same
    compile flags) are the C library's, the ones Python's math module calls."""
    g = np.random.default_rng(0)
    x = np.concatenate([g.uniform(0, 1, 20000), g.uniform(0, 12, 20000),
                        g.uniform(12, 1e6, 5000)]).astype(np.float32).astype(np.float64)
    got = np.empty(4 * x.size)
    _sequential.libm_probe(x, got)
    ref = np.array([[math.exp(-v), math.log(v), math.tan(math.pi * v), math.sqrt(2.0 * v)]
                    for v in x]).reshape(-1)
    assert got.tobytes() == ref.tobytes()


def _loop_args(n=4):
    img = np.ones(n, dtype=np.float32)
    mask = np.ones(n, dtype=bool)
    ist, iv, fst = _pack_state(*_after_mosaic(1))
    out = np.zeros(n, dtype=np.float64)
    return [img, mask, True, ist, iv, fst, out]


@pytest.mark.parametrize("pos, bad, exc, words", [
    (0, np.ones(4, dtype=np.float64), TypeError, "img must be a float32"),
    (0, np.ones((2, 2), dtype=np.float32), ValueError, "img must be 1-D"),
    (0, np.ones(8, dtype=np.float32)[::2], TypeError, "C-contiguous"),
    (0, np.ones(4, dtype=">f4"), TypeError, "img must be a float32"),
    (0, [1.0, 2.0, 3.0, 4.0], TypeError, "buffer protocol"),
    (0, None, TypeError, "buffer protocol"),
    (1, np.ones(4, dtype=np.int8), TypeError, "mask must be a bool"),
    (1, np.ones(3, dtype=bool), ValueError, "mask must have 4 elements"),
    (1, None, TypeError, "mask"),
    (3, np.zeros(3, dtype=np.int32), TypeError, "ist must be a int64"),
    (3, np.zeros(3, dtype=np.uint64), TypeError, "ist must be a int64"),
    (3, np.zeros(2, dtype=np.int64), ValueError, "ist must have 3 elements"),
    (3, np.array([-1, 0, 2], dtype=np.int64), ValueError, "iset"),
    (4, np.zeros(31, dtype=np.int64), ValueError, "iv must have 32 elements"),
    (4, np.zeros(32, dtype=np.float64), TypeError, "iv must be a int64"),
    (5, np.zeros(5, dtype=np.float32), TypeError, "fst must be a float64"),
    (5, np.zeros(6, dtype=np.float64), ValueError, "fst must have 5 elements"),
    (6, np.zeros(5, dtype=np.float64), ValueError, "out must have 4 elements"),
    (6, np.zeros(4, dtype=np.float32), TypeError, "out must be a float64"),
    (6, b"\0" * 32, TypeError, "writable"),
])
def test_extension_rejects_wrong_arrays(pos, bad, exc, words):
    args = _loop_args()
    args[pos] = bad
    with pytest.raises(exc, match=re.escape(words)):
        _sequential.poidev_loop(*args)


def test_extension_rejects_read_only_state_and_bad_arity():
    args = _loop_args()
    args[3].flags.writeable = False
    with pytest.raises(TypeError, match="ist must be a C-contiguous, writable int64"):
        _sequential.poidev_loop(*args)
    with pytest.raises(TypeError):
        _sequential.poidev_loop(*_loop_args()[:6])


def test_extension_mask_ignored_without_use_mask_and_corrupt_state():
    args = _loop_args()
    args[1], args[2] = None, False  # mask not read
    _sequential.poidev_loop(*args)
    assert np.all(args[6] >= 0) and args[3][0] > 0
    # iy pointing outside the shuffle table: an exception, and the state is left alone
    args = _loop_args()
    args[3][:2] = [5, 2**40]  # positive idum: no table rebuild that would reset iy
    ist, iv, fst = args[3].copy(), args[4].copy(), args[5].copy()
    with pytest.raises(ValueError, match="corrupt generator state"):
        _sequential.poidev_loop(*args)
    assert np.array_equal(args[3], ist) and np.array_equal(args[4], iv)
    assert args[5].tobytes() == fst.tobytes()


def test_runs_in_threads_without_the_gil():
    """Independent runs in parallel threads give the results of sequential runs."""
    images = [_mixed_image(20 + k, (100, 120)) for k in range(4)]
    ref = []
    for k, im in enumerate(images):
        ref.append(poisson_counts_compiled(im, *_after_mosaic(30 + k), None))
    got = [None] * len(images)

    def work(k):
        got[k] = poisson_counts_compiled(images[k], *_after_mosaic(30 + k), None)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(ref, got, strict=True):
        assert np.array_equal(a, b, equal_nan=True)


def test_dispatch_uses_compiled_for_any_size_and_env_disables(monkeypatch):
    image = _mixed_image(7, (40, 40))
    calls = []

    def spy(img, rng, stream, mask):
        calls.append(img.size if mask is None else int(mask.sum()))
        return poisson_counts_compiled(img, rng, stream, mask)

    monkeypatch.delenv(noise.COMPILED_ENV, raising=False)
    assert noise._compiled_kernel() is poisson_counts_compiled
    monkeypatch.setattr(noise, "_COMPILED", spy)
    # every size, with or without a mask, goes to the compiled loop
    one = image[:1, :1]
    roi = np.zeros(image.shape, dtype=bool)
    roi[:3, :5] = True
    for im, r in ((one, None), (image, None), (image, roi)):
        a = poisson_counts_exact(im, NanoBraggRandom(), SeedStream(-1), r)
        b = _pure(im, NanoBraggRandom(), SeedStream(-1), r)
        assert np.array_equal(a, b, equal_nan=True)
    assert calls == [1, image.size, 15]
    # the switch, read at every call
    for off in ("0", "false", "No", " off "):
        monkeypatch.setenv(noise.COMPILED_ENV, off)
        assert noise._compiled_kernel() is None
        poisson_counts_exact(image, NanoBraggRandom(), SeedStream(-1), None)
    assert len(calls) == 3
    monkeypatch.setenv(noise.COMPILED_ENV, "1")
    assert noise._compiled_kernel() is spy
    # without the extension (import failed once): the pure path, same numbers
    monkeypatch.setattr(noise, "_COMPILED", False)
    assert noise._compiled_kernel() is None
    c = poisson_counts_exact(image, NanoBraggRandom(), SeedStream(-1), None)
    assert np.array_equal(c, _pure(image, NanoBraggRandom(), SeedStream(-1), None),
                          equal_nan=True)
    assert len(calls) == 3


def test_missing_extension_falls_back_in_a_fresh_process(tmp_path):
    """Without the C extension (unimportable), nbcupy.nanobragg.noise still works (pure path)."""
    code = (
        "import sys\n"
        "sys.modules['nbcupy.nanobragg._sequential'] = None  # makes the import fail\n"
        "import numpy as np\n"
        "from nbcupy.nanobragg import noise\n"
        "from nbcupy.nanobragg.rng import NanoBraggRandom, SeedStream\n"
        "assert noise._compiled_kernel() is None and noise._COMPILED is False\n"
        "c = noise.poisson_counts_exact(np.full((8, 9), 3.5, np.float32),\n"
        "                               NanoBraggRandom(), SeedStream(-4), None)\n"
        "print(repr(c.sum()))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != noise.COMPILED_ENV}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    ref = poisson_counts_compiled(np.full((8, 9), 3.5, np.float32), NanoBraggRandom(),
                                  SeedStream(-4), None)
    assert res.stdout.strip() == repr(ref.sum())
