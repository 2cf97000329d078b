"""The compiled CPU settings sum (:mod:`nbcupy.engine.kernels.cpu`, C extension
``nbcupy.engine.kernels._settings_sum``) against the plain Array-API reference, and the
kernel selection around it.

Tolerances (the kernel evaluates the grating sines as polynomials of the fractional index and
sums float32 terms in double precision, so it is not bit-identical to the plain kernel):
images agree with the plain kernel to 1e-12 (float64) and 1e-5 (float32) of their maximum;
single terms to 1e-13 relative (float64).  Bit for bit, the kernel's result does not depend
on the threads, the tiles or the CPU's vector instruction set.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from nbcupy.backends import get_backend, to_numpy
from nbcupy.engine import EngineSettings, physics, render
from nbcupy.engine import kernels as kernel_choice
from nbcupy.engine.context import build_context
from nbcupy.engine.kernels.plain import LatticeTerms
from nbcupy.engine.sample_geometry import pixel_coordinates, sample_geometry
from nbcupy.experiment.models import HKLGrid
from tests.support import require_extension
from tests.test_engine_fused import FEATURES, _simulation

_settings_sum = require_extension(module_level=True, name="engine.kernels._settings_sum")

from nbcupy.engine.kernels.cpu import CpuSettingsSum, levels  # noqa: E402

RTOL = {"float64": 1e-12, "float32": 1e-5}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    # -hkl writes Fdump.bin into the current folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(kernel_choice.COMPILED_ENV, raising=False)


def _image(sim, **kw) -> tuple[np.ndarray, str]:
    res = render(sim, EngineSettings(**kw))
    return to_numpy(res.device_image), res.kernel


def _close(got: np.ndarray, want: np.ndarray, dtype: str) -> float:
    scale = float(np.max(np.abs(want)))
    assert scale > 0
    err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) / scale
    assert err <= RTOL[dtype], err
    return err


# --------------------------------------------------------------------------------------
# the engine with the compiled kernel


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(FEATURES))
def test_compiled_kernel_matches_plain(name, dtype):
    sim = _simulation(FEATURES[name])
    got, kind = _image(sim, dtype=dtype)
    assert kind == "c-fused"  # chosen by default where the extension is built
    want, kind = _image(sim, dtype=dtype, kernel="plain")
    assert kind == "plain"
    _close(got, want, dtype)
    # threads and tiles do not change a bit
    tiled, kind = _image(sim, dtype=dtype, memory_mb=0.05, threads=2)
    assert kind == "c-fused"
    assert np.array_equal(got, tiled)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("extra", ["-N 20 -mosaic 0.5 -mosaic_dom 4 -hdivrange 0.4 "
                                   "-hdivstep 0.2", "-N 37 -oversample 2", "-Na 1 -Nb 1 -Nc 1",
                                   "-N 12"])
def test_compiled_kernel_many_cells(extra, dtype):
    # large N (where the plain kernel takes two sines per axis) and N = 1 (no grating)
    sim = _simulation(extra)
    got, kind = _image(sim, dtype=dtype)
    assert kind == "c-fused"
    _close(got, _image(sim, dtype=dtype, kernel="plain")[0], dtype)


def test_every_instruction_set_gives_the_same_bits():
    assert levels() and levels()[-1] == 0 and list(levels()) == sorted(levels(), reverse=True)
    for name in ("mosaic_phi0", "hkl_phi_oversample", "round", "gauss", "tophat", "mixed_cells"):
        for dtype in ("float64", "float32"):
            eng = build_context(_simulation(FEATURES[name]), get_backend("numpy"), dtype, 64.0, 1)
            fp, sp, _ = pixel_coordinates(eng, range(0, 24 * 24))
            comps, _ = sample_geometry(eng, fp, sp)
            d = [c.reshape(-1) for c in comps]
            results = [CpuSettingsSum(eng.terms, dtype, level=lv)(*d) for lv in levels()]
            assert results[0].max() > 0
            for other in results[1:]:
                assert np.array_equal(results[0], other), (name, dtype)


# --------------------------------------------------------------------------------------
# single terms and the kernel's own functions


def _axis_terms(n_cells: tuple[int, int, int], shape: str = "square") -> LatticeTerms:
    """One setting with h = 1000 dx, k = 1000 dy, l = 1000 dz (no offset)."""
    coef = np.zeros((3, 3, 1))
    for i in range(3):
        coef[i, i, 0] = 1000.0
    recip = ((0.01, 0.0, 0.0), (0.0, 0.01, 0.0), (0.0, 0.0, 0.01))
    return LatticeTerms(coef=coef, offset=np.zeros((3, 1)), shape=shape,
                        n_cells=tuple(float(n) for n in n_cells), fudge=1.0, recip=recip,
                        default_F=1.0)


@pytest.mark.parametrize("n", [2, 5, 12, 13, 20, 50, 101])
def test_grating_terms_pointwise(n):
    # fractional indices from exactly 0 through tiny, small and large, to +-1/2
    fracs = np.array([0.0, 1e-300, 1e-30, 1e-19, 1e-12, 1e-6, 1e-3, 0.01, 0.1, 0.2, 0.25,
                      0.3, 1 / 3, 0.4, 0.49, 0.5, -0.5, -0.49, -0.25, -1e-6, -1e-30])
    h = 7.0 + fracs  # a node at h = 7
    dx = h / 1000.0
    zeros = np.zeros_like(dx)
    terms = _axis_terms((n, 1, 1))
    got = CpuSettingsSum(terms, "float64")(dx, zeros, zeros)
    frac = dx * 1000.0 - np.ceil(dx * 1000.0 - 0.5)
    want = physics.sincg_squared_fractional(frac, float(n))
    # pointwise, except where the value itself is zero to rounding (the grating's nodes)
    tol = 1e-13 * np.abs(want) + 1e-15 * n * n
    assert np.all(np.abs(got - want) <= tol), np.max(np.abs(got - want) / (n * n))
    assert got[0] == n * n and got[2] == n * n  # exactly at and next to the node


def test_empty_and_non_finite_directions():
    terms = _axis_terms((5, 5, 5))
    fn = CpuSettingsSum(terms, "float64")
    assert fn(np.zeros(0), np.zeros(0), np.zeros(0)).shape == (0,)
    d = np.array([np.nan, np.inf, 0.0015])
    out = fn(d, d, d)
    assert math.isnan(out[0]) and math.isnan(out[1]) and np.isfinite(out[2])
    # with a grid: non-finite indices must stay inside it
    grid = np.arange(27, dtype=np.float64).reshape(3, 3, 3)
    gterms = LatticeTerms(coef=terms.coef, offset=terms.offset, shape="square",
                          n_cells=terms.n_cells, fudge=1.0, recip=terms.recip, default_F=1.0,
                          grid=HKLGrid(F=grid, h_min=-1, h_max=1, k_min=-1, k_max=1, l_min=-1,
                                       l_max=1, hkls=27))
    out = CpuSettingsSum(gterms, "float64")(d, d, d)
    assert math.isnan(out[0]) and math.isnan(out[1]) and np.isfinite(out[2])


def _longdouble_is_extended() -> bool:
    return np.finfo(np.longdouble).eps < 1e-18


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_functions_are_accurate(dtype):
    probe = _settings_sum.math_probe
    ref_t = np.longdouble if dtype == "float64" else np.float64
    if dtype == "float64" and not _longdouble_is_extended():
        pytest.skip("no extended-precision long double for the reference")
    eps = float(np.finfo(dtype).eps)
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-0.5, 0.5, 20000), rng.uniform(-40.0, 40.0, 20000),
                        np.arange(-8.0, 8.0, 0.125)]).astype(dtype)
    pi = ref_t("3.141592653589793238462643383279502884")
    xr = x.astype(ref_t)
    out = np.empty_like(x)
    for which, ref in ((0, np.sin(pi * xr)), (1, np.cos(pi * xr))):
        probe(which, x, out)
        assert float(np.max(np.abs(out.astype(ref_t) - ref))) <= 2 * eps, which
    lo = -700.0 if dtype == "float64" else -85.0
    xe = np.concatenate([rng.uniform(lo, 0.0, 20000), rng.uniform(-1.0, 1.0, 2000)]).astype(dtype)
    out = np.empty_like(xe)
    probe(2, xe, out)
    ref = np.exp(xe.astype(ref_t))
    assert float(np.max(np.abs(out.astype(ref_t) - ref) / ref)) <= 2 * eps
    special = np.array([-1e4, 0.0, np.nan, np.inf, -np.inf, 1e4], dtype=dtype)
    out = np.empty_like(special)
    probe(2, special, out)
    assert out[0] == 0 and out[1] == 1 and math.isnan(out[2]) and out[3] == np.inf
    assert out[4] == 0 and out[5] == np.inf
    # sinc3 at pi u, against physics.sinc3 in double precision (both sides of its series)
    u = np.concatenate([np.linspace(0.0, 0.2, 2001), np.linspace(0.2, 30.0, 5000)])
    out = np.empty(u.size, dtype=dtype)
    probe(3, u.astype(dtype), out)
    want = physics.sinc3(math.pi * u.astype(dtype).astype(np.float64))
    # just above the series' limit both closed forms lose ~eps / (x^2 / 3) to cancellation
    tol = 2e-11 if dtype == "float64" else 2e-5
    assert float(np.max(np.abs(out - want))) <= tol


def test_extension_checks_its_arguments():
    terms = _axis_terms((5, 5, 5))
    fn = CpuSettingsSum(terms, "float64")
    d = np.full(4, 0.001)
    args = [d, d, d, fn.coef, fn.offset, fn.grid, fn.recip, np.empty(4), *fn.scalars]
    _settings_sum.settings_sum(*args)
    with pytest.raises(TypeError):  # mixed precisions
        _settings_sum.settings_sum(d.astype(np.float32), *args[1:])
    with pytest.raises(ValueError):  # output of the wrong length
        _settings_sum.settings_sum(*args[:7], np.empty(3), *fn.scalars)
    with pytest.raises(ValueError):  # coefficients for another number of settings
        _settings_sum.settings_sum(*args[:8], 2, *fn.scalars[1:])
    for index, value in ((8, -3.0), (8, 0.5), (14, 2)):  # h_lo, h_lo, stride_k
        bad = list(fn.scalars)
        bad[7] = 1  # use_grid, with bounds that do not fit the one-node grid
        bad[index] = value
        with pytest.raises(ValueError, match="grid"):
            _settings_sum.settings_sum(*args[:8], *bad)
    with pytest.raises(ValueError, match="level"):
        _settings_sum.settings_sum(*args, level=7)


# --------------------------------------------------------------------------------------
# the selection


def test_selection_falls_back_to_numpy(monkeypatch):
    sim = _simulation(FEATURES["mosaic_phi0"])
    compiled, kind = _image(sim)
    assert kind == "c-fused"
    # switched off by the environment: the NumPy kernel, as without a compiler
    monkeypatch.setenv(kernel_choice.COMPILED_ENV, "0")
    numpy_img, kind = _image(sim)
    assert kind == "numpy-fused"
    assert _image(sim, kernel="c-fused")[1] == "c-fused"  # asked for by name
    monkeypatch.delenv(kernel_choice.COMPILED_ENV)
    # the extension missing (not built): the NumPy kernel, and an error when asked for
    monkeypatch.setitem(sys.modules, "nbcupy.engine.kernels._settings_sum", None)
    monkeypatch.delitem(sys.modules, "nbcupy.engine.kernels.cpu", raising=False)
    img, kind = _image(sim)
    assert kind == "numpy-fused"
    assert np.array_equal(img, numpy_img)
    with pytest.raises(ValueError, match="_settings_sum is not available"):
        _image(sim, kernel="c-fused")
    _close(compiled, numpy_img, "float64")


def test_named_kernels():
    sim = _simulation(FEATURES["round"])
    assert _image(sim, kernel="numpy-fused")[1] == "numpy-fused"
    assert _image(sim, kernel="fused")[1] == "c-fused"
    with pytest.raises(ValueError, match="no cupy-fused kernel for backend 'numpy'"):
        _image(sim, kernel="cupy-fused")
    with pytest.raises(ValueError, match="no fused kernel"):
        _image(_simulation("-dmin 70"), kernel="c-fused")
    assert set(kernel_choice.KERNEL_CHOICES) >= {"auto", "plain", "fused", "c-fused",
                                                 "numpy-fused", "cupy-fused"}


def test_grids_beyond_32_bit_indices_are_left_to_the_numpy_kernel():
    from nbcupy.engine.kernels.cuda import kernel_applies

    terms = _axis_terms((5, 5, 5))
    big = LatticeTerms(coef=terms.coef, offset=terms.offset, shape="square",
                       n_cells=terms.n_cells, fudge=1.0, recip=terms.recip, default_F=1.0,
                       grid=HKLGrid(F=np.zeros((1, 1, 1)), h_min=0, h_max=2000, k_min=0,
                                    k_max=2000, l_min=0, l_max=1000, hkls=1))
    assert kernel_applies(terms) and not kernel_applies(big)
    with pytest.raises(ValueError, match="does not apply"):
        CpuSettingsSum(big, "float64")
