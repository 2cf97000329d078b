"""``--cbf``, ``--nexus``, ``--png`` and ``--smv-adc-offset`` from the command line, the files
read back by the readers processing programs use: fabio (CBF, SMV), nxmx with h5py and
hdf5plugin (NeXus), Pillow (PNG)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fabio
import h5py
import hdf5plugin  # noqa: F401 - registers the bitshuffle filter for reading
import numpy as np
import nxmx
import pytest
from PIL import Image

from nbcupy.io.smv import read_smv
from tests.support import assert_one_line_error, nbcupy, ok

F, S = 20, 14  # a small, non-square detector
BASE = ["-cell", "60", "60", "60", "90", "90", "90", "-lambda", "1", "-N", "5",
        "-default_F", "300", "-detpixels_f", str(F), "-detpixels_s", str(S), "-pixel", "0.2",
        "-distance", "60", "-phi", "2", "-osc", "0.5", "-noprogress", "-seed", "7"]






def float_image(path: Path) -> np.ndarray:
    return np.frombuffer(path.read_bytes(), "<f4").reshape(S, F)




@pytest.mark.parametrize("adc", ["40", "10"])
def test_cbf_nexus_png_hold_the_noise_counts(tmp_path, adc):
    proc = ok(*BASE, "-adc", adc, "--cbf", "img.cbf", "--nexus", "img.h5", "--png", "img.png",
              cwd=tmp_path)
    for name in ("img.cbf", "img.h5", "img.png"):
        assert f"writing {name} as" in proc.stdout
    noise = read_smv(tmp_path / "noiseimage.img").data.astype(np.int64)
    assert noise.max() < 65535  # no overloads, so every pixel is exact

    cbf = fabio.open(str(tmp_path / "img.cbf"))
    assert cbf.data.dtype == np.int32 and cbf.data.shape == (S, F)
    np.testing.assert_array_equal(cbf.data, noise - int(adc))
    assert cbf.data.sum() > 0
    contents = cbf.header["_array_data.header_contents"]
    assert cbf.header["_array_data.header_convention"] == "GENERIC_MINI"
    for line in ("# Pixel_size 0.0002 m x 0.0002 m", "# Wavelength 1 A",
                 "# Detector_distance 0.06 m", "# Start_angle 2.000000 deg.",
                 "# Angle_increment 0.500000 deg.", "# Exposure_time 1.0000000 s",
                 "# Silicon sensor, thickness 0 m"):
        assert line in contents, line

    with h5py.File(tmp_path / "img.h5", "r") as handle:
        entry = nxmx.NXmx(handle).entries[0]
        assert entry.definition == "NXmx"
        wavelength = entry.instruments[0].beams[0].incident_wavelength
        assert wavelength.to("angstrom").magnitude == pytest.approx(1.0)
        detector = entry.instruments[0].detectors[0]
        assert detector.distance.to("mm").magnitude == pytest.approx(60.0)
        assert detector.sensor_material == "Si"
        omega = nxmx.get_dependency_chain(entry.samples[0].depends_on)[0]
        np.testing.assert_allclose(omega[()].to("deg").magnitude, [2.0])
        data = handle["/entry/data/data"][()]
    assert data.shape == (1, S, F)
    np.testing.assert_array_equal(data[0], cbf.data)

    with Image.open(tmp_path / "img.png") as png:
        assert png.mode == "L" and png.size == (F, S)
        grey = np.asarray(png)
    # dark spots on white: the more counts, the darker, and the brightest pixel the darkest
    order = np.argsort(cbf.data.ravel(), kind="stable")
    assert (np.diff(grey.ravel()[order].astype(int)) <= 0).all()
    assert grey.ravel()[order[-1]] == grey.min() < grey.max()


def test_nonoise_counts_are_the_rounded_image_and_roi_pixels_are_minus_one(tmp_path):
    ok(*BASE, "-nonoise", "-roi", "2", "15", "3", "10", "--cbf", "img.cbf", "--nexus", "img.h5",
       cwd=tmp_path)
    assert not (tmp_path / "noiseimage.img").exists()
    image = float_image(tmp_path / "floatimage.bin").astype(np.float64)
    expected = np.floor(image + 0.5).astype(np.int32)
    inside = np.zeros((S, F), dtype=bool)
    inside[3:11, 2:16] = True
    expected[~inside] = -1
    cbf = fabio.open(str(tmp_path / "img.cbf")).data
    np.testing.assert_array_equal(cbf, expected)
    assert cbf[inside].max() > 0
    with h5py.File(tmp_path / "img.h5", "r") as handle:
        np.testing.assert_array_equal(handle["/entry/data/data"][0], expected)


def test_png_brightness_and_log_scale(tmp_path):
    ok(*BASE, "-nonoise", "--png", "a.png", cwd=tmp_path)
    ok(*BASE, "-nonoise", "--png", "b.png", "--png-brightness", "300", cwd=tmp_path)
    ok(*BASE, "-nonoise", "--png=c.png", "--png-log", cwd=tmp_path)
    a, b, c = (np.asarray(Image.open(tmp_path / n)).astype(int) for n in ("a.png", "b.png",
                                                                           "c.png"))
    assert (b <= a).all() and (b < a).any()  # brighter setting: darker spots
    image = float_image(tmp_path / "floatimage.bin")
    weak = (image > 0) & (image < np.percentile(image[image > 0], 50))
    assert c[weak].mean() < a[weak].mean()  # the log scale shows weak pixels


def test_smv_adc_offset_switch(tmp_path):
    plain, switched = tmp_path / "plain", tmp_path / "switched"
    plain.mkdir()
    switched.mkdir()
    ok(*BASE, "--cbf", "img.cbf", cwd=plain)
    ok(*BASE, "--cbf", "img.cbf", "--smv-adc-offset", cwd=switched)
    line = b"ADC_OFFSET=40;\n"
    for name in ("intimage.img", "noiseimage.img"):
        before, after = (plain / name).read_bytes(), (switched / name).read_bytes()
        assert line not in before and after.count(line) == 1
        assert len(before) == len(after) and before[512:] == after[512:]  # the same pixels
        assert after[:512].rstrip(b" ").replace(line, b"") == before[:512].rstrip(b" ")
    # dxtbx's rule (FormatSMVJHSim): the pedestal is ADC_OFFSET, or 1 when it is missing
    counts = fabio.open(str(switched / "img.cbf")).data
    for folder, pedestal in ((plain, 1), (switched, 40)):
        smv = fabio.open(str(folder / "noiseimage.img"))
        assert int(smv.header.get("ADC_OFFSET", 1)) == pedestal
    smv = fabio.open(str(switched / "noiseimage.img"))
    np.testing.assert_array_equal(smv.data.astype(np.int64) - int(smv.header["ADC_OFFSET"]),
                                  counts)
    assert_one_line_error(nbcupy(*BASE, "-adc", "12.5", "--smv-adc-offset", cwd=tmp_path),
                          "--smv-adc-offset", "12.5")


def test_geometry_a_cbf_cannot_describe_gives_a_note(tmp_path):
    proc = ok(*BASE, "-dials", "--cbf", "img.cbf", cwd=tmp_path)
    assert "note: CBF: the detector's fast/slow axes" in proc.stderr
    assert (tmp_path / "img.cbf").exists()


def test_sensor_material_in_both_headers(tmp_path):
    ok(*BASE, "--sensor-material", "CdTe", "-detector_thick", "750", "--cbf", "a.cbf",
       "--nexus", "a.h5", cwd=tmp_path)
    contents = fabio.open(str(tmp_path / "a.cbf")).header["_array_data.header_contents"]
    assert "# CdTe sensor, thickness 0.00075 m" in contents
    with h5py.File(tmp_path / "a.h5", "r") as handle:
        detector = nxmx.NXmx(handle).entries[0].instruments[0].detectors[0]
        assert detector.sensor_material == "CdTe"
        assert detector.sensor_thickness.to("um").magnitude == pytest.approx(750)


@pytest.mark.parametrize("args,words", [
    (["--cbf", "a.cbf", "--sensor-material", "GaAs"], ["GaAs", "miniCBF"]),
    (["--nexus", "a.h5", "--sensor-material", "Ge"], ["--sensor-material", "Ge"]),
    (["--png", "a.png", "--png-brightness", "0"], ["--png-brightness"]),
    (["--png", "a.png", "--png-brightness", "nan"], ["--png-brightness"]),
    (["--png", "a.png", "--png-brightness", "bright"], ["--png-brightness", "number"]),
    (["--cbf", "missing/a.cbf"], ["missing/a.cbf", "no folder"]),
    (["--nexus", "."], ["it is a folder"]),
    (["--cbf"], ["--cbf needs a value"]),
    (["--cbf", "-nonoise"], ["--cbf", "-nonoise"]),
    (["--cbf", ""], ["--cbf", "file name"]),
    (["--cbf", "a.cbf", "-exposure", "-1"], ["-exposure"]),
])
def test_bad_output_options_fail_before_any_file(tmp_path, args, words):
    proc = nbcupy(*BASE, *args, cwd=tmp_path)
    assert_one_line_error(proc, *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_options_without_their_file_say_so(tmp_path):
    proc = ok(*BASE, "-nonoise", "-nopgm", "--png-log", "--sensor-material", "CdTe",
              cwd=tmp_path)
    assert "note: --png-log has no effect without --png FILE" in proc.stdout
    assert "note: --sensor-material has no effect without --cbf or --nexus" in proc.stdout


def test_typer_application_takes_the_same_options(tmp_path):
    """Command lines the plain splitter cannot take go through the Typer application, which
    must know the new options too."""
    code = ("import sys\nfrom nbcupy.cli.typer_app import app\n"
            "app(args=sys.argv[1:], prog_name='nbcupy')\n")
    args = [*BASE, "-nonoise", "--cbf", "img.cbf", "--nexus", "img.h5", "--png", "img.png",
            "--png-log", "--png-brightness", "150", "--sensor-material", "CdTe",
            "--smv-adc-offset"]
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in ("img.cbf", "img.h5", "img.png"):
        assert (tmp_path / name).exists(), name
    assert b"ADC_OFFSET=40;" in (tmp_path / "intimage.img").read_bytes()[:512]
    assert "CdTe" in fabio.open(str(tmp_path / "img.cbf")).header[
        "_array_data.header_contents"]
