"""miniCBF files: read back by fabio, header as dxtbx's miniCBF reader parses it, and the
counts equal to nanoBragg's noise image without its ADC offset."""

from __future__ import annotations

import datetime
import io
import os

import fabio
import numpy as np
import pytest

from nbcupy.api import prepare, run, simulate
from nbcupy.errors import InputError
from nbcupy.io.cbf import cbf_geometry_notes, write_cbf
from nbcupy.io.counts import (
    INT32_MAX,
    NO_DATA,
    counts_from_image,
    counts_from_noise,
    valid_pixels,
)
from nbcupy.nanobragg.noise import poisson_counts_exact
from nbcupy.nanobragg.rng import SeedStream

BASE = ("-cell 100 100 100 90 90 90 -lambda 1.2 -N 5 -default_F 100 -detpixels_f 40 "
        "-detpixels_s 30 -pixel 0.1 -distance 80")


def dxtbx_style_header(text: str) -> dict[str, str]:
    """The ``# key value`` dictionary, split the way dxtbx's FormatCBFMini does it."""
    out: dict[str, str] = {}
    for record in text.split("\n"):
        if record[:1] != "#":
            continue
        if len(record[1:].split()) <= 2 and record.count(":") == 2:
            out["timestamp"] = record[1:].strip()
            continue
        tokens = record.replace("=", "").replace(":", "").split()
        out[tokens[1]] = " ".join(tokens[2:])
    return out


def test_fabio_reads_back_values_and_header(tmp_path):
    sim, *_ = prepare(BASE + " -phi 10 -osc 0.5 -detector_thick 320")
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 5000, size=(30, 40)).astype(np.int32)
    counts[0, 0], counts[1, 2], counts[29, 39] = NO_DATA, INT32_MAX, 1_000_000
    when = datetime.datetime(2026, 5, 4, 3, 2, 1, 456000, tzinfo=datetime.timezone.utc)
    path = tmp_path / "image_00001.cbf"
    assert write_cbf(path, counts, sim, exposure_time=0.25, timestamp=when) == []

    raw = path.read_bytes()
    assert raw.startswith(b"###CBF")  # what dxtbx's FormatCBF.understand looks for
    image = fabio.open(str(path))
    assert image.data.dtype == np.int32 and image.data.shape == (30, 40)
    np.testing.assert_array_equal(image.data, counts)
    assert image.header["conversions"] == "x-CBF_BYTE_OFFSET"
    assert image.header["_array_data.header_convention"] == "GENERIC_MINI"
    assert b"data_image_00001\r\n" in raw  # the CIF block is named after the final file

    header = dxtbx_style_header(image.header["_array_data.header_contents"].replace("\r", ""))
    det = sim.detector
    pixel = header["Pixel_size"].replace("m", "").replace("x", "").split()
    assert [float(v) for v in pixel] == pytest.approx([det.pixel_size] * 2, rel=1e-9)
    assert float(header["Silicon"].split()[2]) == pytest.approx(0.32e-3, rel=1e-9)
    assert float(header["Exposure_time"].split()[0]) == 0.25
    assert float(header["Exposure_period"].split()[0]) == 0.25
    assert int(header["Count_cutoff"].split()[0]) == INT32_MAX
    assert float(header["Wavelength"].split()[0]) == pytest.approx(1.2, rel=1e-9)
    assert float(header["Detector_distance"].split()[0]) == pytest.approx(0.08, rel=1e-9)
    beam_xy = header["Beam_xy"].replace("(", "").replace(")", "").replace(",", "").split()[:2]
    # MOSFLM, no rotations: the direct beam is Fbeam, Sbeam from the first pixel's corner
    assert float(beam_xy[0]) == pytest.approx(det.fbeam / det.pixel_size, abs=1e-6)
    assert float(beam_xy[1]) == pytest.approx(det.sbeam / det.pixel_size, abs=1e-6)
    assert float(header["Start_angle"].split()[0]) == pytest.approx(10.0, abs=1e-6)
    assert float(header["Angle_increment"].split()[0]) == pytest.approx(0.5, abs=1e-6)
    assert datetime.datetime.fromisoformat(header["timestamp"]) == when.replace(tzinfo=None)
    # no vendor name: dxtbx's Pilatus/Eiger readers must not claim the file
    detector_line = header["Detector"].upper()
    assert not any(v in detector_line for v in ("PILATUS", "EIGER", "ADSC"))


@pytest.mark.parametrize("extra, adc", [("", 40.0), ("-adc 10 -roi 5 30 3 25", 10.0)])
def test_counts_equal_smv_noise_image_minus_adc(tmp_path, extra, adc):
    argv = (f"{BASE} -N 8 -default_F 500 -seed 11 {extra} -floatfile {tmp_path}/f.bin "
            f"-intfile {tmp_path}/i.img -noisefile {tmp_path}/noise.img -nopgm -noprogress")
    run(argv.split(), out=io.StringIO())
    # the same simulation through the API; the noise stream of the command line
    res = simulate(argv)
    valid = valid_pixels(res.simulation)
    noise = poisson_counts_exact(res.image_f32, res.rng, SeedStream(res.report.noise_seed),
                                 valid)
    counts = counts_from_noise(noise, valid)
    write_cbf(tmp_path / "noise.cbf", counts, res.simulation)

    smv = fabio.open(str(tmp_path / "noise.img")).data.astype(np.int64)
    cbf = fabio.open(str(tmp_path / "noise.cbf")).data.astype(np.int64)
    inside = np.ones(smv.shape, bool) if valid is None else valid
    below = inside & (smv < 65535)
    assert below.sum() > 0.9 * inside.sum()
    assert (smv[inside] >= 65535).any()  # the SMV ceiling is reached; the CBF has no ceiling
    np.testing.assert_array_equal(cbf[below], smv[below] - int(adc))
    assert (cbf[inside & ~below] >= 65535 - int(adc)).all()
    assert (cbf[~inside] == NO_DATA).all()
    assert (smv[~inside] == 0).all()


def test_counts_conversions():
    noise = np.array([[0.0, 3.0, 1.7e6 + 0.9], [np.nan, 5e12, -2.0]])
    np.testing.assert_array_equal(counts_from_noise(noise),
                                  [[0, 3, 1700000], [NO_DATA, INT32_MAX, 0]])
    image = np.array([[0.49, 0.5, 1.5], [2.4999, np.nan, np.inf]], dtype=np.float32)
    got = counts_from_image(image, valid=np.array([[True, True, True], [False, True, True]]))
    np.testing.assert_array_equal(got, [[0, 1, 2], [NO_DATA, NO_DATA, INT32_MAX]])
    assert got.dtype == np.int32


def test_valid_pixels_follow_roi_and_mask(tmp_path):
    sim, *_ = prepare(BASE)
    assert valid_pixels(sim) is None
    sim, *_ = prepare(BASE + " -roi 2 5 1 3")
    valid = valid_pixels(sim)
    assert valid.shape == (30, 40) and valid.sum() == 4 * 3
    assert valid[1:4, 2:6].all()


def test_geometry_notes():
    sim, *_ = prepare(BASE)
    assert cbf_geometry_notes(sim) == []
    sim, *_ = prepare(BASE + " -xds")
    assert cbf_geometry_notes(sim) == []
    for convention in ("-dials", "-adxv"):
        sim, *_ = prepare(f"{BASE} {convention}")
        assert any("fast/slow" in n for n in cbf_geometry_notes(sim))
    sim, *_ = prepare(BASE + " -detector_rotx 3")  # MOSFLM: a turn about the beam
    notes = cbf_geometry_notes(sim)
    assert len(notes) == 1 and "fast/slow" in notes[0]
    sim, *_ = prepare(BASE + " -detector_roty 3")
    assert any("not perpendicular" in n for n in cbf_geometry_notes(sim))


def test_refusals_leave_no_file(tmp_path):
    sim, *_ = prepare(BASE)
    path = tmp_path / "x.cbf"
    path.write_bytes(b"old")
    with pytest.raises(TypeError, match="integers"):
        write_cbf(path, np.zeros((30, 40)), sim)
    with pytest.raises(ValueError, match="shape"):
        write_cbf(path, np.zeros((40, 30), np.int32), sim)
    with pytest.raises(InputError) as err:
        write_cbf(tmp_path / "missing" / "x.cbf", np.zeros((30, 40), np.int32), sim)
    assert "\n" not in str(err.value) and "missing" in str(err.value)
    with pytest.raises(InputError, match="sensor material"):
        write_cbf(path, np.zeros((30, 40), np.int32), sim, sensor_material="Ge")
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["x.cbf"]
