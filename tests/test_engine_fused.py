"""Fused settings sums against the plain Array-API reference.

* NumPy: :mod:`nbcupy.engine.kernels.numpy_fused` mirrors
  :func:`nbcupy.engine.kernels.plain.settings_sum_plain` operation for operation, so the images
  must be bit-identical to the plain kernel on NumPy and to ``array_api_strict`` (which always
  runs the plain kernel), for any threads and tiles.
* CUDA: :mod:`nbcupy.engine.kernels.cuda`'s kernel (``settings_sum_kernel.h``) is compiled for
  the CPU with g++ and a few macros and compared with the plain sum within rounding, and with
  the CPU build of the same source (the C extension, ``tests/test_kernels_cpu.py``) bit for
  bit; with nvcc it must also compile to PTX; on a machine with CuPy and a GPU the whole
  engine is compared too.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nbcupy.backends import get_backend, to_numpy
from nbcupy.engine import EngineSettings, render
from nbcupy.engine.context import build_context
from nbcupy.engine.kernels import fused_kernel_applies
from nbcupy.engine.kernels import plain as kernels
from nbcupy.engine.sample_geometry import pixel_coordinates, sample_geometry
from nbcupy.engine.tiling import pixels_per_tile
from tests.support import require_extension

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
RANDOM20 = str(GOLDEN / "inputs" / "random20.hkl")

BASE = ("-cell 70 80 90 75 85 95 -misset 10 20 30 -lambda 1.0 -N 5 -default_F 100 "
        "-detpixels 24 -pixel 0.1 -distance 100")
FEATURES = {
    "plain": "",
    "mosaic_phi0": "-mosaic 0.5 -mosaic_dom 3 -phi 0 -osc 10 -phisteps 3",
    "polar": "-polar 0.9",
    "many_cells": "-N 20",
    "mixed_cells": "-Na 2 -Nb 1 -Nc 13",
    "one_cell": "-N 1",
    "round": "-round_xtal",
    "gauss": "-gauss_xtal",
    "tophat": "-tophat_spots -fudge 2",
    "curved_water": "-curved_det -water 10",
    "oversample": "-oversample 3",
    "thick_sensor": "-detector_abs 500 -detector_thick 450 -detector_thicksteps 2",
    "hkl_nearest": f"-hkl {RANDOM20} -nointerpolate",
    "hkl_phi_oversample": f"-hkl {RANDOM20} -nointerpolate -N 3 -oversample 2 -phi 0 -osc 5 "
                          "-phisteps 2",
    "sources": "-hdivrange 0.5 -hdivstep 0.25 -dispersion 2 -dispsteps 2",
    "roi": "-roi 3 20 5 22",
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    # -hkl writes Fdump.bin into the current folder, and a later run without -hkl reads it
    monkeypatch.chdir(tmp_path)


def _simulation(extra: str):
    from nbcupy.nanobragg.build import build_simulation
    from nbcupy.nanobragg.flags import parse_flags
    from nbcupy.nanobragg.rng import NanoBraggRandom

    argv = f"{BASE} {extra}".split() + ["-nonoise", "-noprogress"]
    return build_simulation(parse_flags(argv).options, NanoBraggRandom())[0]


def _context(sim, dtype, memory_mb, threads, kernel="auto"):
    return build_context(sim, get_backend("numpy"), dtype, memory_mb, threads, kernel)


def _image(sim, **kw) -> tuple[np.ndarray, str]:
    res = render(sim, EngineSettings(**kw))
    return to_numpy(res.device_image), res.kernel


# --------------------------------------------------------------------------------------
# NumPy: bit-identical to the plain kernel


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(FEATURES))
def test_numpy_fused_is_bit_identical_to_plain(name, dtype):
    sim = _simulation(FEATURES[name])
    assert fused_kernel_applies(sim)
    fused, kind = _image(sim, dtype=dtype, kernel="numpy-fused")
    assert kind == "numpy-fused"
    plain, kind = _image(sim, dtype=dtype, kernel="plain")
    assert kind == "plain"
    assert fused.max() > 0
    assert np.array_equal(fused, plain), float(np.max(np.abs(fused - plain)))
    # tiles and threads do not change a bit either
    tiled, _ = _image(sim, dtype=dtype, memory_mb=0.05, threads=2, kernel="numpy-fused")
    assert np.array_equal(fused, tiled)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("extra", ["", "-polar 0.8", "-point_pixel -twotheta 20"])
def test_flat_geometry_rows_match_pixel_by_pixel(extra, dtype):
    # whole-row tiles form positions by broadcasting: exactly the per-pixel numbers
    sim = _simulation(f"-oversample 1 {extra}")
    geo = _context(sim, dtype, 256.0, 1).kernel.flat_geometry
    fpixels = sim.detector.fpixels
    rows = [None if a is None else a.copy() for a in geo.rows(3, 5, fpixels)]
    flat = np.arange(3 * fpixels, 8 * fpixels)
    fast = (flat % fpixels).astype(dtype)
    slow = (flat // fpixels).astype(dtype)
    for a, b in zip(rows, geo(fast, slow), strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == np.dtype(dtype) and np.array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("extra", ["-oversample 2", "-oversample 3 -twotheta 15",
                                   "-oversample 2 -point_pixel -polar 0.7"])
def test_oversampled_rows_match_plain_geometry(extra, dtype):
    # oversampled whole-row tiles: the plain per-sample geometry's exact numbers
    sim = _simulation(extra)
    eng = _context(sim, dtype, 256.0, 1)
    assert eng.kernel.sub_geometry is not None
    fpixels = sim.detector.fpixels
    comps, air = eng.kernel.sub_geometry.rows(2, 3, fpixels)
    comps, air = [c.copy() for c in comps], air.copy()
    flat = np.arange(2 * fpixels, 5 * fpixels)
    ref_comps, ref_air = sample_geometry(eng, (flat % fpixels).astype(dtype),
                                         (flat // fpixels).astype(dtype))
    for a, b in zip([*comps, air], [*ref_comps, ref_air], strict=True):
        assert a.shape == b.shape and a.dtype == np.dtype(dtype)
        assert np.array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_fused_matches_array_api_strict(dtype):
    pytest.importorskip("array_api_strict")
    sim = _simulation(FEATURES["mosaic_phi0"] + " -polar 0.8")
    fused, kind = _image(sim, dtype=dtype, kernel="numpy-fused")
    assert kind == "numpy-fused"
    strict, kind = _image(sim, dtype=dtype, backend="strict")
    assert kind == "plain"
    assert np.array_equal(fused, strict)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("extra", ["", "-polar 0.8", "-nopolar", "-point_pixel",
                                   "-roi 3 20 5 22 -water 10",
                                   "-mosaic 0.5 -mosaic_dom 3 -phi 0 -osc 10 -phisteps 3"])
def test_numpy_flat_geometry_is_bit_identical_to_plain(extra, dtype):
    # one sample per pixel on a flat detector: the fused geometry replaces the plain one
    sim = _simulation(f"-oversample 1 {extra}")
    eng = _context(sim, dtype, 256.0, 1)
    assert eng.kernel.flat_geometry is not None
    fused, kind = _image(sim, dtype=dtype, kernel="numpy-fused")
    assert kind == "numpy-fused"
    plain, _ = _image(sim, dtype=dtype, kernel="plain")
    assert fused.max() > 0
    assert np.array_equal(fused, plain)
    assert np.array_equal(fused, _image(sim, dtype=dtype, threads=2, memory_mb=0.05,
                                        kernel="numpy-fused")[0])


def test_settings_sum_in_several_chunks():
    # more settings than one chunk: the chunked sum order is shared by both kernels
    sim = _simulation("-mosaic 0.3 -mosaic_dom 60 -phi 0 -osc 4 -phisteps 40 -detpixels 6")
    eng = _context(sim, "float64", 64.0, 1)
    assert eng.n_settings > kernels.SETTINGS_CHUNK
    assert len(eng.terms.chunks()) > 1
    fused, _ = _image(sim, kernel="numpy-fused")
    plain, _ = _image(sim, kernel="plain")
    assert np.array_equal(fused, plain)


def test_kernel_choice():
    assert not fused_kernel_applies(_simulation("-dmin 70"))
    assert not fused_kernel_applies(_simulation("-oversample 2 -oversample_omega"))
    assert not fused_kernel_applies(_simulation(f"-hkl {RANDOM20} -interpolate"))
    img, kind = _image(_simulation("-dmin 70"))
    assert kind == "plain" and img.max() > 0
    with pytest.raises(ValueError, match="no fused kernel"):
        _image(_simulation("-dmin 70"), kernel="fused")
    with pytest.raises(ValueError, match="unknown kernel"):
        _image(_simulation(""), kernel="fast")
    for budget in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="memory budget"):
            _image(_simulation(""), memory_mb=budget)


def test_tiles_are_bounded_and_independent_of_steps():
    one = _context(_simulation(""), "float64", 256.0, 2)
    many = _context(_simulation("-mosaic 0.5 -mosaic_dom 30 -phi 0 -osc 5 -phisteps 20"),
                    "float64", 256.0, 2)
    big = 4096 * 4096
    assert pixels_per_tile(one, big) == pixels_per_tile(many, big)
    assert pixels_per_tile(one, big) * one.Q <= 131072


# --------------------------------------------------------------------------------------
# CUDA source: compiled for the CPU, and to PTX


_SHIM = r"""
#include <cmath>
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
struct nb_index { long long x; };
static nb_index blockIdx = {0}, blockDim = {1}, threadIdx = {0};
extern "C" void nb_set_index(long long i) { blockIdx.x = i; }
"""


def _cpu_kernel(tmp_path: Path, dtype: str):
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("no g++ to compile the CUDA kernel for the CPU")
    from nbcupy.engine.kernels.cuda import kernel_source

    src = tmp_path / f"kernel_{dtype}.cpp"
    src.write_text(_SHIM + kernel_source(dtype))
    lib = tmp_path / f"kernel_{dtype}.so"
    # no contraction into fused multiply-adds: the same operations as the C extension
    subprocess.run([gxx, "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-o", str(lib),
                    str(src)], check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(lib))


def _run_cpu_kernel(lib, terms, dtype, dflat):
    from nbcupy.engine.kernels.cuda import kernel_arguments

    args = kernel_arguments(terms, dtype)
    real = ctypes.c_double if dtype == "float64" else ctypes.c_float
    d = [np.ascontiguousarray(to_numpy(c), dtype=dtype) for c in dflat]
    n = d[0].shape[0]
    out = np.zeros(n, dtype=dtype)
    arrays = [*d, args["coef"], args["offset"], args["grid"], args["recip"], out]
    ptrs = [a.ctypes.data_as(ctypes.c_void_p) for a in arrays]
    scalars = []
    for v in (np.int64(n), *args["scalars"]):
        if isinstance(v, np.int64):
            scalars.append(ctypes.c_longlong(int(v)))
        elif isinstance(v, np.int32):
            scalars.append(ctypes.c_int(int(v)))
        else:
            scalars.append(real(float(v)))
    for i in range(n):
        lib.nb_set_index(ctypes.c_longlong(i))
        lib.nb_settings_sum(*ptrs, *scalars)
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["plain", "mosaic_phi0", "mixed_cells", "round", "gauss",
                                  "tophat", "hkl_phi_oversample", "sources"])
def test_cuda_kernel_source_on_the_cpu_matches_plain(name, dtype, tmp_path):
    lib = _cpu_kernel(tmp_path, dtype)
    sim = _simulation(FEATURES[name] + " -detpixels 8")
    eng = _context(sim, dtype, 64.0, 1, kernel="plain")
    fp, sp, P = pixel_coordinates(eng, range(0, 64))
    comps, _ = sample_geometry(eng, fp, sp)
    dflat = [c.reshape(-1) for c in comps]
    want = to_numpy(kernels.settings_sum_plain(eng.dev, *dflat)).astype(np.float64)
    got = _run_cpu_kernel(lib, eng.terms, dtype, dflat).astype(np.float64)
    assert want.max() > 0
    rtol = 1e-12 if dtype == "float64" else 2e-5
    scale = float(np.max(np.abs(want)))
    assert np.max(np.abs(got - want)) <= rtol * scale, float(np.max(np.abs(got - want)) / scale)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["mosaic_phi0", "many_cells", "round", "gauss", "tophat",
                                  "hkl_phi_oversample"])
def test_cuda_kernel_source_on_the_cpu_equals_the_c_extension(name, dtype, tmp_path):
    # one source, two targets: the CUDA kernel (one thread per sample) and the CPU build
    # (vectorised blocks of samples) do the same operations in the same order
    require_extension(name="engine.kernels._settings_sum")
    from nbcupy.engine.kernels.cpu import CpuSettingsSum

    lib = _cpu_kernel(tmp_path, dtype)
    sim = _simulation(FEATURES[name] + " -detpixels 8")
    eng = build_context(sim, get_backend("numpy"), dtype, 64.0, 1, kernel="plain")
    fp, sp, P = pixel_coordinates(eng, range(0, 64))
    comps, _ = sample_geometry(eng, fp, sp)
    dflat = [c.reshape(-1) for c in comps]
    cuda = _run_cpu_kernel(lib, eng.terms, dtype, dflat)
    assert cuda.max() > 0
    assert np.array_equal(cuda, CpuSettingsSum(eng.terms, dtype)(*dflat))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_kernel_source_compiles_with_nvcc(dtype, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("no nvcc")
    from nbcupy.engine.kernels.cuda import kernel_source

    src = tmp_path / "kernel.cu"
    src.write_text(kernel_source(dtype))
    proc = subprocess.run([nvcc, "-ptx", "-o", str(tmp_path / "k.ptx"),
                           str(src)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "nb_settings_sum" in (tmp_path / "k.ptx").read_text()


# --------------------------------------------------------------------------------------
# CuPy on a GPU


def _gpu_or_skip():
    try:
        return get_backend("cupy")
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["plain", "mosaic_phi0", "round", "hkl_phi_oversample",
                                  "curved_water"])
def test_cupy_fused_matches_plain(name, dtype):
    _gpu_or_skip()
    sim = _simulation(FEATURES[name])
    fused, kind = _image(sim, backend="cupy", dtype=dtype)
    assert kind == "cupy-fused"
    plain, kind = _image(sim, backend="cupy", dtype=dtype, kernel="plain")
    assert kind == "plain"
    ref, _ = _image(sim, dtype=dtype)
    scale = float(np.max(np.abs(ref)))
    rtol = 1e-10 if dtype == "float64" else 1e-4
    assert np.max(np.abs(plain.astype(float) - ref)) <= rtol * scale
    assert np.max(np.abs(fused.astype(float) - ref)) <= rtol * scale
