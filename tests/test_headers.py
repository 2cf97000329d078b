"""-img and -mask: SMV headers supply detector defaults, the mask skips pixels."""

from __future__ import annotations

import numpy as np
import pytest

import nbcupy
from nbcupy.errors import InputError
from nbcupy.io.smv import SMVHeaderFields, write_smv

CELL = "-cell 100 100 100 90 90 90 -N 5 -default_F 100 -noprogress"


def _write(path, fpixels=40, spixels=48, values=None, pixels=None):
    fields = dict(fpixels=fpixels, spixels=spixels, pixel_size_mm=0.1, distance_mm=90.0,
                  wavelength_A=1.3, beam_center_x_mm=2.0, beam_center_y_mm=1.5,
                  adxv_center_x=0.0, adxv_center_y=0.0, mosflm_center_x=0.0,
                  mosflm_center_y=0.0, denzo_x_beam=0.0, denzo_y_beam=0.0,
                  dials_origin=(0.0, 0.0, 0.0), xds_orgx=0.0, xds_orgy=0.0,
                  close_distance_mm=80.0, phi_deg=3.0, osc_start_deg=3.0, osc_range_deg=2.0)
    fields.update(values or {})
    data = np.ones((spixels, fpixels), np.uint16) if pixels is None else pixels
    write_smv(path, data, SMVHeaderFields(**fields))


def test_img_header_sets_detector_and_beam(tmp_path):
    _write(tmp_path / "h.img")
    sim = nbcupy.simulate(f"{CELL} -img {tmp_path / 'h.img'}").simulation
    det = sim.detector
    assert (det.fpixels, det.spixels) == (40, 48)
    assert det.pixel_size == pytest.approx(1e-4)
    assert sim.beam.wavelength == pytest.approx(1.3e-10)
    assert (det.xbeam, det.ybeam) == pytest.approx((2.0e-3, 1.5e-3))
    assert sim.spindle.phi0 == pytest.approx(np.radians(3.0))
    assert sim.spindle.osc == pytest.approx(np.radians(2.0))
    # nanoBragg finds DISTANCE inside CLOSE_DISTANCE (the later key) and uses 80 mm
    assert det.distance == pytest.approx(0.080)


def test_corrected_header_lookup_uses_exact_keys(tmp_path):
    _write(tmp_path / "h.img")
    sim = nbcupy.simulate(["-img", str(tmp_path / "h.img"), *CELL.split()], corrected=True)
    assert sim.simulation.detector.close_distance == pytest.approx(0.080)
    from nbcupy.nanobragg.flags import parse_flags

    opts = parse_flags(["-img", str(tmp_path / "h.img")], corrected=True).options
    assert opts.distance == pytest.approx(0.090)


def test_flags_override_header_values(tmp_path):
    _write(tmp_path / "h.img")
    sim = nbcupy.simulate(f"{CELL} -img {tmp_path / 'h.img'} -lambda 1.0 -detpixels 32").simulation
    assert sim.beam.wavelength == pytest.approx(1e-10)
    assert sim.detector.fpixels == 32


def test_mask_flips_beam_y_and_skips_zero_pixels(tmp_path):
    pixels = np.ones((48, 40), np.uint16)
    pixels[10:20, 5:25] = 0
    _write(tmp_path / "m.img", pixels=pixels)
    res = nbcupy.simulate(f"{CELL} -mask {tmp_path / 'm.img'}")
    det = res.simulation.detector
    assert det.ybeam == pytest.approx(48 * 1e-4 - 1.5e-3)
    assert np.all(res.image_f32[10:20, 5:25] == 0)
    assert np.all(res.image_f32[pixels != 0] > 0)
    full = nbcupy.simulate(f"{CELL} -img {tmp_path / 'm.img'} -Ybeam {det.ybeam * 1e3!r}")
    keep = pixels != 0
    np.testing.assert_array_equal(res.image_f32[keep], full.image_f32[keep])


def test_img_header_wins_over_mask_header(tmp_path):
    _write(tmp_path / "m.img", values={"wavelength_A": 2.0})
    _write(tmp_path / "h.img", values={"wavelength_A": 1.7})
    for order in (("-mask", "m.img", "-img", "h.img"), ("-img", "h.img", "-mask", "m.img")):
        argv = [order[0], str(tmp_path / order[1]), order[2], str(tmp_path / order[3])]
        sim = nbcupy.simulate(argv + CELL.split()).simulation
        assert sim.beam.wavelength == pytest.approx(1.7e-10)


def test_mask_of_the_wrong_size_is_refused(tmp_path):
    _write(tmp_path / "m.img", fpixels=16, spixels=16)
    with pytest.raises(InputError, match="-mask"):
        nbcupy.simulate(f"{CELL} -mask {tmp_path / 'm.img'} -detpixels 32")


def test_not_an_smv_file_is_refused(tmp_path):
    (tmp_path / "bad.img").write_bytes(b"hello" * 200)
    with pytest.raises(InputError, match="-img"):
        nbcupy.simulate(f"{CELL} -img {tmp_path / 'bad.img'}")
