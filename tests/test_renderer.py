"""The engine's Renderer: many images of one experiment with what they share built once.

Every frame a Renderer makes must be byte for byte the image a fresh render of the same
models gives, whatever the kernel, threads, tiles, structure factors or ROI; and what does
not depend on the frame (the amplitude grid on the device, the kernels' padded grid, the
worker threads) must really be kept from frame to frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nbcupy
from nbcupy.backends import to_numpy
from nbcupy.engine import EngineSettings, Renderer, render
from nbcupy.experiment.geometry import rotation_about_axis

RANDOM20 = str(Path(__file__).resolve().parent.parent / "golden" / "inputs" / "random20.hkl")
BASE = ("-cell 70 80 90 75 85 95 -misset 10 20 30 -lambda 1.0 -N 5 -default_F 100 "
        "-detpixels 24 -pixel 0.1 -distance 100 -osc 0.5 -phisteps 2 -mosaic 0.3 "
        "-mosaic_dom 3")
CASES = {
    "default": "",
    "grid": f"-hkl {RANDOM20} -nointerpolate -oversample 2",
    "interpolate": f"-hkl {RANDOM20} -interpolate -N 2",
    "roi_dmin": "-roi 3 20 5 22 -dmin 30",
    "round_thick": "-round_xtal -detector_abs 300 -detector_thick 200 -thicksteps 2",
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # -hkl writes Fdump.bin


def _frames(extra: str) -> list:
    """Simulations of four frames of one experiment: two spindle starts, two orientations
    (the models share every frame-independent object, as a series' frames do)."""
    p = nbcupy.prepare(f"{BASE} {extra}")
    turn = rotation_about_axis(np.array([0.6, 0.0, 0.8]), 0.3)
    return [p.with_phi(0.0).simulation, p.with_phi(2.5).simulation,
            p.with_orientation(turn).simulation, p.with_phi(7.0).simulation]


@pytest.mark.parametrize("kernel", ["auto", "numpy-fused", "plain"])
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_frame_equals_a_fresh_render(name, kernel, dtype):
    frames = _frames(CASES[name])
    settings = EngineSettings(dtype=dtype, threads=2, memory_mb=0.2, kernel=kernel)
    try:
        with Renderer(frames[0], settings) as renderer:
            kept = [renderer.render(sim) for sim in frames]
    except ValueError:  # a named fused kernel where only the plain one applies
        assert kernel != "auto"
        return
    for sim, got in zip(frames, kept, strict=True):
        want = render(sim, settings)
        assert got.kernel == want.kernel
        assert got.image.max() > 0
        assert np.array_equal(got.image, want.image)
        assert np.array_equal(to_numpy(got.device_image), to_numpy(want.device_image))
        assert got.omega_sum == want.omega_sum
    assert not np.array_equal(kept[0].image, kept[1].image)  # the frames do differ


def test_frame_independent_parts_are_built_once():
    frames = _frames(CASES["grid"])
    with Renderer(frames[0], EngineSettings(threads=2, memory_mb=0.2)) as renderer:
        renderer.render(frames[0])
        first = renderer._ctx
        pool = renderer._pool
        renderer.render(frames[1])
        second = renderer._ctx
        assert second.dev.flat_grid is first.dev.flat_grid
        assert second.kernel.settings_sum is not first.kernel.settings_sum
        assert second.kernel.settings_sum.grid is first.kernel.settings_sum.grid
        assert second.kernel.flat_geometry is first.kernel.flat_geometry
        assert second.kernel.sub_geometry is first.kernel.sub_geometry
        assert renderer._pool is pool and pool is not None
        # another experiment (other structure factors): prepared again, still right
        other = nbcupy.prepare(BASE).simulation
        got = renderer.render(other)
        assert renderer._ctx.dev.flat_grid is None
        assert np.array_equal(got.image, render(other, renderer.settings).image)
    assert renderer._pool is None  # closed with the block


def test_simulate_takes_a_renderer():
    p = nbcupy.prepare(BASE + " -noprogress")
    with Renderer(p.simulation, EngineSettings(threads=1)) as renderer:
        for phi in (0.0, 1.5):
            frame = p.with_phi(phi)
            kept = nbcupy.simulate(frame, renderer=renderer)
            fresh = nbcupy.simulate(frame, threads=1)
            assert np.array_equal(kept.image_f32, fresh.image_f32)
            assert kept.stats == fresh.stats
