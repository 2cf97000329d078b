"""--corrected: each of nanoBragg's known defects, reproduced by default, is switched off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nbcupy
from nbcupy.api import prepare
from nbcupy.engine import physics
from nbcupy.errors import InputError

BASE = ("-cell 100 100 100 90 90 90 -lambda 1.0 -N 5 -default_F 100 -detpixels 32 "
        "-pixel 0.1 -distance 100 -noprogress")


def test_corrected_cell_has_the_requested_angles():
    args = BASE.replace("90 90 90", "75 85 95")
    default = nbcupy.simulate(args).simulation.crystal.cell_parameters
    fixed = nbcupy.simulate(args, corrected=True).simulation.crystal.cell_parameters
    assert default[3:] == pytest.approx((75.0391, 85.0136, 95.0081), abs=1e-4)
    assert fixed[3:] == pytest.approx((75.0, 85.0, 95.0), abs=1e-9)
    cryst = nbcupy.simulate(args, corrected=True).simulation.crystal
    dual = (cryst.cell * 1e10) @ cryst.reciprocal.T
    np.testing.assert_allclose(dual, np.eye(3), atol=1e-12)


def test_corrected_phi_zero_step_is_unrotated():
    sweep = BASE + " -phi 0 -osc 20 -phisteps 2"
    first = BASE + " -phi 0 -osc 10 -phisteps 1"
    second = BASE + " -phi 10 -osc 10 -phisteps 1"
    a = nbcupy.simulate(first).image_f32.astype(float)
    b = nbcupy.simulate(second).image_f32.astype(float)
    fixed = nbcupy.simulate(sweep, corrected=True).image_f32.astype(float)
    np.testing.assert_allclose(fixed, (a + b) / 2, rtol=1e-5, atol=1e-6 * a.max())
    default = nbcupy.simulate(sweep).image_f32.astype(float)
    # nanoBragg reuses the phi = 10 rotation for phi = 0 (except for the very first pixel)
    np.testing.assert_allclose(default.reshape(-1)[1:], b.reshape(-1)[1:], rtol=1e-5,
                               atol=1e-6 * b.max())


def test_corrected_water_background_scales_linearly_with_fluence():
    args = BASE.replace("-default_F 100", "-default_F 1e-30") + " -water 50"
    lo = nbcupy.simulate(args + " -fluence 1e20", corrected=True).image_f32.astype(float)
    hi = nbcupy.simulate(args + " -fluence 1e22", corrected=True).image_f32.astype(float)
    np.testing.assert_allclose(hi, 100 * lo, rtol=1e-5)
    dlo = nbcupy.simulate(args + " -fluence 1e20").image_f32.astype(float)
    dhi = nbcupy.simulate(args + " -fluence 1e22").image_f32.astype(float)
    np.testing.assert_allclose(dhi, 1e4 * dlo, rtol=1e-5)  # nanoBragg: fluence squared


def test_corrected_oversample_omega_weights_each_term_once():
    args = BASE + " -oversample 3 -distance 300"
    plain = nbcupy.simulate(args, corrected=True).image_f32.astype(float)
    fixed = nbcupy.simulate(args + " -oversample_omega", corrected=True).image_f32.astype(float)
    np.testing.assert_allclose(fixed, plain, rtol=2e-3, atol=1e-6 * plain.max())
    default = nbcupy.simulate(args + " -oversample_omega").image_f32.astype(float)
    # nanoBragg multiplies the running sum by omega at every step, so every sub-pixel but the
    # last is suppressed by further factors of ~1e-8 and about 1/9 of the signal is left
    assert default.max() < 0.3 * plain.max()


def test_corrected_pix0_vector_places_the_first_pixel():
    vec = "-pix0_vector 0.1 0.002 -0.003"
    fixed = nbcupy.simulate(BASE + " " + vec, corrected=True).simulation.detector
    np.testing.assert_allclose(fixed.pix0, [0.1, 0.002, -0.003])
    default = nbcupy.simulate(BASE + " " + vec).simulation.detector
    assert not np.allclose(default.pix0, [0.1, 0.002, -0.003])


def test_corrected_oversample_thick_without_sensor_keeps_the_image():
    # nanoBragg multiplies every step by the capture fraction of a zero-thickness layer, 0
    args = BASE + " -oversample 2 -oversample_thick"
    assert nbcupy.simulate(args).image_f32.max() == 0.0
    fixed = nbcupy.simulate(args, corrected=True).image_f32
    plain = nbcupy.simulate(BASE + " -oversample 2").image_f32
    assert fixed.max() > 0
    np.testing.assert_allclose(fixed, plain, rtol=1e-6)


GOLDEN_INPUTS = Path(__file__).resolve().parent.parent / "golden" / "inputs"
HKL = GOLDEN_INPUTS / "random20.hkl"


@pytest.mark.parametrize(("sizes", "default", "fixed"), [
    ("-N 1 -samplesize 3.82e-05", True, False),  # 1 cell given, 3 x 3 x 3 cells built
    ("-N 8 -sample_size 5.44e-06", False, True),  # 8 cells given, 1 cell built
])
def test_corrected_auto_interpolation_follows_the_cells_built(sizes, default, fixed, tmp_path):
    args = (f"-mat {GOLDEN_INPUTS / 'A.mat'} -lambda 1.75 -detpixels 8 -hkl {HKL} "
            f"-dump {tmp_path / 'Fdump.bin'} " + sizes)
    sim = prepare(args)[0]
    assert sim.structure_factors.interpolate is default  # nanoBragg: decided from -N
    sim = prepare(args, corrected=True)[0]
    assert sim.structure_factors.interpolate is fixed
    assert (min(sim.crystal.n_cells) <= 2) is fixed


def test_e_vector_along_the_beam_is_finite_by_default_and_refused_corrected():
    args = BASE + " -polar_vector 1 0 0 -polar 0.9"
    img = nbcupy.simulate(args).image_f32
    assert np.all(np.isfinite(img)) and img.max() > 0
    culled = nbcupy.simulate(args + " -dmin 40").image_f32
    assert np.all(np.isfinite(culled)) and culled.max() > 0
    with pytest.raises(InputError, match="-polar_vector 1 0 0: the E-vector lies along the beam"):
        nbcupy.simulate(args, corrected=True)
    # without -polar the E-vector is not used, so there is nothing to refuse
    assert np.all(np.isfinite(nbcupy.simulate(BASE + " -polar_vector 1 0 0",
                                              corrected=True).image_f32))


@pytest.mark.parametrize("vectorised", [True, False])
def test_polarization_with_the_e_vector_along_the_ray_is_nanobraggs(vectorised):
    """nanoBragg's unitize() leaves the zero frame zero: psi = 0, so the factor is
    0.5 (1 + cos^2 2theta - K sin^2 2theta) for every ray."""
    rng = np.random.default_rng(3)
    d = rng.normal(size=(50, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    inc = np.array([1.0, 0.0, 0.0])
    c2 = d @ inc
    want = 0.5 * (1 + c2 * c2 - 0.9 * (1 - c2 * c2))
    if vectorised:
        got = physics.polarization_factor(0.9, inc, d, inc)
    else:
        got = physics.polarization_factor_components(0.9, inc, (d[:, 0], d[:, 1], d[:, 2]), inc)
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_corrected_detector_abs_inf_means_no_absorption_in_any_order():
    plain = nbcupy.simulate(BASE).image_f32
    for flags in ("-detector_abs inf -detector_thick 100", "-detector_thick 100 -detector_abs 0"):
        fixed = nbcupy.simulate(BASE + " " + flags, corrected=True)
        assert fixed.simulation.detector.thickness == 0.0
        np.testing.assert_array_equal(fixed.image_f32, plain)
    # nanoBragg keeps a thickness given after -detector_abs; with mu = 0 its layers capture
    # nothing and the image is zero
    default = nbcupy.simulate(BASE + " -detector_abs inf -detector_thick 100")
    assert default.simulation.detector.thickness == pytest.approx(100e-6)
    assert default.image_f32.max() == 0.0
    np.testing.assert_array_equal(
        nbcupy.simulate(BASE + " -detector_thick 100 -detector_abs inf").image_f32, plain)
