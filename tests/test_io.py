"""File readers and writers checked against nanoBragg's own files.

Reference hashes marked "measured" were taken from files written by the
nanoBragg binary (same build as the golden set) for the inputs named.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from nbcupy.errors import InputError, NbcupyError
from nbcupy.experiment.regions import roi_mask
from nbcupy.io.atomic import atomic_open, atomic_write
from nbcupy.io.ctext import c_atof
from nbcupy.io.fdump import fdump_bytes, read_fdump, write_fdump
from nbcupy.io.floatimage import read_float_image, write_float_image
from nbcupy.io.hkl import HKLTable, build_hkl_grid, read_hkl
from nbcupy.io.matrix import read_mosflm_matrix
from nbcupy.io.pgm import pgm_bytes, read_pgm, write_pgm
from nbcupy.io.smv import (
    SMVHeaderFields,
    c_g,
    read_smv,
    smv_bytes,
    smv_header,
    write_smv,
)
from nbcupy.io.sourcefile import read_sourcefile
from nbcupy.nanobragg.adu import (
    auto_int_scale,
    auto_pgm_scale,
    int_image,
    pgm_image,
)
from nbcupy.nanobragg.stats import image_statistics

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
INPUTS = GOLDEN / "inputs"
CASES = GOLDEN / "cases"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_case(name: str) -> dict:
    return {c["name"]: c for c in json.loads((GOLDEN / "manifest.json").read_text())}[name]


def golden_float(name: str) -> np.ndarray:
    case = manifest_case(name)
    raw = gzip.open(CASES / name / "float.bin.gz").read()
    return np.frombuffer(raw, "<f4").reshape(case["spixels"], case["fpixels"])


def printed_geometry(name: str) -> dict[str, float]:
    """Detector numbers nanoBragg printed for a case (metres / mm for dials)."""
    text = (CASES / name / "stdout.txt").read_text()
    out: dict[str, float] = {}
    for key in ("Xbeam", "Ybeam", "Fbeam", "Sbeam", "Fclose", "Sclose", "distance", "pixel"):
        out[key] = float(re.search(rf"\b{key}=(\S+)", text).group(1))
    m = re.search(r"detsize=(\S+)x(\S+)", text)
    out["detsize_f"], out["detsize_s"] = float(m.group(1)), float(m.group(2))
    dials = re.search(r"dials origin= (\S+) (\S+) (\S+)", text)
    out["dials"] = tuple(float(v) for v in dials.groups())
    out["lambda0"] = float(re.search(r"lambda0 = (\S+)", text).group(1))
    return out


def header_from_stdout(name: str, fpixels: int, spixels: int, noise: bool = False):
    g = printed_geometry(name)
    return SMVHeaderFields.from_detector(
        fpixels=fpixels,
        spixels=spixels,
        pixel_size_m=g["pixel"],
        distance_m=g["distance"],
        lambda0_m=g["lambda0"],
        xbeam_m=g["Xbeam"],
        ybeam_m=g["Ybeam"],
        fbeam_m=g["Fbeam"],
        sbeam_m=g["Sbeam"],
        detsize_s_m=g["detsize_s"],
        dials_origin_mm=g["dials"],
        orgx_px=g["Fclose"] / g["pixel"] + 0.5,
        orgy_px=g["Sclose"] / g["pixel"] + 0.5,
        close_distance_m=g["distance"],  # untilted detector
        noise_image=noise,
    )


# --------------------------------------------------------------------- errors


def test_error_hierarchy():
    assert issubclass(InputError, NbcupyError)
    assert issubclass(NbcupyError, Exception)


# ------------------------------------------------------------------------ hkl


def test_read_pattern_hkl():
    t = read_hkl(INPUTS / "pattern.hkl")
    assert len(t) == 6
    assert t.h.tolist() == [0, 1, 0, 1, 2, 0]
    assert t.k.tolist() == [0, 0, 1, 1, 0, 2]
    assert t.l.tolist() == [0, 0, 0, 0, 0, 0]
    assert t.F.tolist() == [100, 50, 25, 12.5, 200, 150]
    assert t.F.dtype == np.float64


def test_hkl_grid_layout():
    g = build_hkl_grid(read_hkl(INPUTS / "pattern.hkl"), default_F=7.0)
    assert (g.h_min, g.h_max, g.k_min, g.k_max, g.l_min, g.l_max) == (0, 2, 0, 2, 0, 0)
    assert (g.h_range, g.k_range, g.l_range) == (3, 3, 1)
    assert g.F.shape == (4, 4, 2)
    assert g.hkls == 6
    # extra planes stay zero, the real box gets default_F then the file values
    assert np.all(g.F[3] == 0) and np.all(g.F[:, 3] == 0) and np.all(g.F[:, :, 1] == 0)
    assert g.F[0, 0, 0] == 100 and g.F[2, 0, 0] == 200 and g.F[0, 2, 0] == 150
    assert g.F[2, 2, 0] == 7.0 and g.F[1, 2, 0] == 7.0


def test_hkl_comments_blank_extra_columns_negative_and_duplicates(tmp_path):
    p = tmp_path / "x.hkl"
    p.write_text(
        "# a comment\n\n   \n-3 0 2 10.5 0.3 extra\n  # indented comment\n"
        "1 -1 -2 5e1\n-3 0 2 11\n+1 1 1 -.5\n"
    )
    t = read_hkl(p)
    assert t.h.tolist() == [-3, 1, -3, 1]
    assert t.F.tolist() == [10.5, 50.0, 11.0, -0.5]
    g = build_hkl_grid(t, 0.0)
    assert (g.h_min, g.k_min, g.l_min) == (-3, -1, -2)
    assert g.F[-3 - g.h_min, 0 - g.k_min, 2 - g.l_min] == 11.0  # last line wins


@pytest.mark.parametrize(
    "line, message",
    [
        ("1 2 3", "expected 'h k l F', got '1 2 3'"),
        ("h k", "expected 'h k l F', got 'h k'"),
        ("1 2 x 4", "Miller index l = 'x' is not a number"),
        ("1.5 2 3 4", "Miller index h = '1.5' is not an integer"),
        ("1 2.0 3 4", "Miller index k = '2.0' is not an integer"),
        ("1 2 3 abc", "F = 'abc' is not a number"),
        ("1 2 3 1_000", "F = '1_000' is not a number"),
        ("1 2 3 nan", "F = 'nan' is not finite"),
        ("1 2 3 -inf", "F = '-inf' is not finite"),
        ("1 2 3 1e999", "F = '1e999' is not finite"),
    ],
)
def test_hkl_malformed_line(tmp_path, line, message):
    p = tmp_path / "P1.hkl"
    p.write_text(f"0 0 0 1\n\n{line}\n1 1 1 2\n")
    with pytest.raises(InputError) as exc:
        read_hkl(p)
    assert str(exc.value) == f"-hkl {p} line 3: {message}"
    assert "\n" not in str(exc.value)


def test_hkl_missing_and_empty(tmp_path):
    with pytest.raises(InputError, match=r"^-hkl .*nope\.hkl: cannot read file"):
        read_hkl(tmp_path / "nope.hkl")
    p = tmp_path / "empty.hkl"
    p.write_text("# nothing\n\n")
    with pytest.raises(InputError, match="no 'h k l F' lines"):
        read_hkl(p)
    with pytest.raises(InputError):
        build_hkl_grid(HKLTable(*(np.zeros(0, dtype=np.int64),) * 3, np.zeros(0)))


# ---------------------------------------------------------------------- Fdump

# measured: sha256 and size of the Fdump.bin nanoBragg wrote for these inputs
FDUMP_REFERENCE = [
    ("pattern.hkl", 0.0, 269, "2067675984c65d70df08ff96a9d5988ed60025a379e786283a0f3e710e8593de"),
    ("pattern.hkl", 7.0, 269, "51b7dc0416d12810dd815c4205fe2a8ca2a034115d5cda944765657341c1aed3"),
    (
        "random20.hkl",
        0.0,
        314454,
        "3a308aa0a058ad2f09f97c30bbb63244f2aa2fccee6673c44c9bcb844db5c1a7",
    ),
]


@pytest.mark.parametrize("hkl, default_F, size, digest", FDUMP_REFERENCE)
def test_fdump_byte_identical_to_nanobragg(tmp_path, hkl, default_F, size, digest):
    grid = build_hkl_grid(read_hkl(INPUTS / hkl), default_F)
    out = tmp_path / "Fdump.bin"
    write_fdump(out, grid)
    data = out.read_bytes()
    assert len(data) == size
    assert sha256(data) == digest
    assert data == fdump_bytes(grid)


def test_fdump_documented_layout():
    grid = build_hkl_grid(read_hkl(INPUTS / "pattern.hkl"), 0.0)
    data = fdump_bytes(grid)
    assert data[:13] == b"0 2 0 2 0 0\n\f"
    values = struct.unpack("<32d", data[13:])
    assert values[0] == 100.0  # F(0,0,0)
    assert values[1] == 0.0  # extra l plane
    assert values[2 * 2 * 4] == 200.0  # F(2,0,0): h stride (4*2), k stride 2


def test_hkl_fdump_grid_round_trip(tmp_path):
    grid = build_hkl_grid(read_hkl(INPUTS / "random20.hkl"), 3.0)
    write_fdump(tmp_path / "Fdump.bin", grid)
    back = read_fdump(tmp_path / "Fdump.bin")
    assert np.array_equal(back.F, grid.F)
    assert (back.h_min, back.h_max, back.k_min, back.k_max, back.l_min, back.l_max) == (
        -16,
        16,
        -16,
        16,
        -16,
        16,
    )
    assert back.hkls == 33**3  # h_range*k_range*l_range, as nanoBragg sets it
    assert grid.hkls == 35937


def test_fdump_nanobragg_whitespace_quirk(tmp_path):
    # F(0,0,0) whose low byte is 0x20: nanoBragg's fscanf eats it as white space
    odd = struct.unpack("<d", struct.pack("<Q", 0x4059000000000020))[0]
    t = HKLTable(np.array([0, 1]), np.array([0, 0]), np.array([0, 0]), np.array([odd, 50.0]))
    grid = build_hkl_grid(t)
    write_fdump(tmp_path / "F.bin", grid)
    assert read_fdump(tmp_path / "F.bin").F[0, 0, 0] == odd
    quirky = read_fdump(tmp_path / "F.bin", nanobragg_quirk=True)
    raw = fdump_bytes(grid)[13:]
    expected = np.frombuffer(raw[1:] + b"\0", "<f8").reshape(grid.F.shape)
    assert np.array_equal(quirky.F, expected)


def test_fdump_errors(tmp_path):
    grid = build_hkl_grid(read_hkl(INPUTS / "pattern.hkl"))
    good = fdump_bytes(grid)
    cases = {
        "truncated": good[:-3],
        "trailing": good + b"\0" * 8,
        "header": b"0 2 0 2 0\n\f" + good[13:],
        "nofeed": good.replace(b"\f", b" ", 1),
        "range": b"2 0 0 2 0 0\n\f" + good[13:],
    }
    messages = {
        "truncated": "truncated",
        "trailing": "trailing data",
        "header": "header",
        "nofeed": "header",
        "range": "empty index range",
    }
    for key, data in cases.items():
        p = tmp_path / f"{key}.bin"
        p.write_bytes(data)
        with pytest.raises(InputError, match=messages[key]):
            read_fdump(p)
    with pytest.raises(InputError, match="cannot read"):
        read_fdump(tmp_path / "missing.bin")


# --------------------------------------------------------------------- matrix


def test_read_mosflm_matrix():
    A = read_mosflm_matrix(INPUTS / "A.mat")
    assert A.shape == (3, 3)
    # file line 1 = x components of a*, b*, c*
    assert A[0].tolist() == [0.01054745, -0.00437218, -0.00155901]
    assert A[:, 0].tolist() == [0.01054745, 0.00579193, 0.00474994]  # a*


def test_mosflm_matrix_numbers_across_lines(tmp_path):
    p = tmp_path / "A.mat"
    p.write_text("1 2\n3 4 5 6 7\n8 9 extra stuff\n")
    assert read_mosflm_matrix(p).tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 2 3\n4 5 6\n7 8\n", "found 8"),
        ("1 2 3\n4 x 6\n7 8 9\n", "got 'x' as number 5"),
        ("1 2 3\n4 nan 6\n7 8 9\n", "not finite"),
        ("", "found 0"),
    ],
)
def test_mosflm_matrix_errors(tmp_path, text, message):
    p = tmp_path / "A.mat"
    p.write_text(text)
    with pytest.raises(InputError, match=message):
        read_mosflm_matrix(p)
    with pytest.raises(InputError, match="cannot read"):
        read_mosflm_matrix(tmp_path / "missing.mat")


# ----------------------------------------------------------------- sourcefile


def test_read_golden_sourcefile():
    s = read_sourcefile(INPUTS / "sources.txt")
    assert s.shape == (3, 5)
    assert s[:, 0].tolist() == [-10, -10, -10]
    assert s[:, 3].tolist() == [1, 0.5, 2]
    assert s[:, 4].tolist() == [1e-10, 1e-10, 1e-10]


def test_sourcefile_tokeniser_matches_nanobragg(tmp_path):
    # nanoBragg (with its defaults for NaN) printed exactly these sources for
    # this file; NaN below is what it then replaced by a default.
    text = (
        "1 2 3 4 5\n  6,7;8\n9 abc 10\n# comment\n\n \t \n1.5e-3xyz 2\n3 4\r\n"
        "0x10 1\n-5 !! 7 : 8\n1 2 3 4 5 6 7\n2e 3\n.5 -.5\nlast 1 2"
    )
    p = tmp_path / "s.txt"
    p.write_bytes(text.encode())
    nan = math.nan
    expected = [
        [1, 2, 3, 4, 5],
        [6, 7, 8, nan, nan],
        [9, 0, 10, nan, nan],
        [0, 0, 0, 0, 0],  # comment lines are not skipped
        [0.0015, 2, nan, nan, nan],
        [3, 4, 0, 0, 0],  # CR before the newline: zeros, not NaN
        [16, 1, nan, nan, nan],
        [-5, 7, 8, nan, nan],
        [1, 2, 3, 4, 5],
        [2, 3, nan, nan, nan],
        [0.5, -0.5, nan, nan, nan],
        [0, 1, 2, 0, 0],  # last line without newline: zeros, not NaN
    ]
    np.testing.assert_array_equal(read_sourcefile(p), np.array(expected))


@pytest.mark.parametrize("line", ["nan 1 2 3 4", "1 2 3 1 INFINITY", "0 0 -inf", "1e999 0 0"])
def test_sourcefile_non_finite_number_is_refused(tmp_path, line):
    """nanoBragg's atof reads nan and inf as numbers (a source at an infinite distance, a NaN
    wavelength); nbcupy names the file, the line and the column instead."""
    p = tmp_path / "s.txt"
    p.write_text(f"-10 0 0 1 1e-10\n\n# two\n{line}\n")
    with pytest.raises(InputError, match=r"s\.txt line 4: column \d \(.*\) is not a finite"):
        read_sourcefile(p)


def test_sourcefile_long_line_is_split_like_fgets(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text(" " * 10238 + "1 2\n")
    # the first 10239 characters form a record of their own (one column read
    # as atof("1") with junk after it -> zeros), the rest another
    got = read_sourcefile(p)
    nan = math.nan
    np.testing.assert_array_equal(got, [[1, 0, 0, 0, 0], [2, nan, nan, nan, nan]])


def test_sourcefile_errors(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_text("\n \n\t\n")
    with pytest.raises(InputError, match="no sources"):
        read_sourcefile(p)
    with pytest.raises(InputError, match="cannot read"):
        read_sourcefile(tmp_path / "missing.txt")


@pytest.mark.parametrize(
    "text, value",
    [
        ("12", 12.0),
        ("  -1.5e3abc", -1500.0),
        ("\n\t+.25", 0.25),
        ("abc", 0.0),
        ("", 0.0),
        ("-", 0.0),
        ("1e", 1.0),
        ("0x1p4", 16.0),
        ("-Infinity", -math.inf),
        ("1e999", math.inf),
    ],
)
def test_c_atof(text, value):
    assert c_atof(text) == value
    assert math.isnan(c_atof("nan(123)"))


# ------------------------------------------------------------------------ SMV


def test_smv_header_reproduces_golden_int_and_noise_headers():
    int_raw = gzip.open(CASES / "outputs_int_noise_pgm" / "int.img.gz").read()
    noise_raw = gzip.open(CASES / "outputs_int_noise_pgm" / "noise.img.gz").read()
    assert smv_header(header_from_stdout("outputs_int_noise_pgm", 64, 64)) == int_raw[:512]
    noise_fields = header_from_stdout("outputs_int_noise_pgm", 64, 64, noise=True)
    assert smv_header(noise_fields) == noise_raw[:512]


def test_smv_int_image_reproduces_golden_file():
    name = "outputs_int_noise_pgm"
    img = golden_float(name)
    stats = image_statistics(img, pixel_size_m=0.1 / 1000.0, oversample=2)
    scale = auto_int_scale(stats.max_I)
    assert c_g(scale) == "711.988"
    data = smv_bytes(int_image(img, scale, adc=40.0), header_from_stdout(name, 64, 64))
    assert data == gzip.open(CASES / name / "int.img.gz").read()


def test_pgm_reproduces_golden_file(tmp_path):
    name = "outputs_int_noise_pgm"
    img = golden_float(name)
    stats = image_statistics(img, pixel_size_m=0.1 / 1000.0, oversample=2)
    scale = auto_pgm_scale(stats.rmsd, auto_int_scale(stats.max_I))
    assert c_g(scale) == "3.54222"
    write_pgm(tmp_path / "img.pgm", pgm_image(img, scale), scale)
    expected = gzip.open(CASES / name / "img.pgm.gz").read()
    assert (tmp_path / "img.pgm").read_bytes() == expected
    np.testing.assert_array_equal(read_pgm(tmp_path / "img.pgm"), pgm_image(img, scale))


def test_roi_int_and_pgm_match_nanobragg():
    # measured: intimage.img / image.pgm nanoBragg wrote for the dmin_roi case
    img = golden_float("dmin_roi")
    roi = roi_mask(128, 128, 10, 100, 20, 90)
    stats = image_statistics(img, roi, pixel_size_m=0.1 / 1000.0, oversample=3)
    scale = auto_int_scale(stats.max_I)
    ints = int_image(img, scale, 40.0, roi)
    assert np.all(ints[~roi] == 0)
    data = smv_bytes(ints, header_from_stdout("dmin_roi", 128, 128))
    assert sha256(data) == "ddc0e60fca498fd709639189528a7da6aa12184f3eae34cb1375c8b643bee6b8"
    pscale = auto_pgm_scale(stats.rmsd, scale)
    pgm = pgm_bytes(pgm_image(img, pscale, roi), pscale)
    assert sha256(pgm) == "54d4b623a86dce63d66d01c9d657925aeb588222be90d336e0020fb2b81e754c"


def test_read_golden_smv(tmp_path):
    p = tmp_path / "int.img"
    p.write_bytes(gzip.open(CASES / "outputs_int_noise_pgm" / "int.img.gz").read())
    im = read_smv(p)
    assert (im.width, im.height, im.header_bytes) == (64, 64, 512)
    assert im.byte_order == "little_endian"
    assert im.data.shape == (64, 64) and im.data.dtype == np.uint16
    assert im.fields["DIALS_ORIGIN"] == "-3.3,3.3,-100"
    assert im.value("DISTANCE") == 100.0
    assert im.value("BEAM_CENTER_X") == 3.25
    assert im.value("NOT_THERE") is None
    # nanoBragg's substring lookup: ORGX finds XDS_ORGX, DISTANCE finds CLOSE_DISTANCE
    assert im.value_of("ORGX") == 33.5
    assert im.value_of("DISTANCE") == im.value("CLOSE_DISTANCE")
    assert math.isnan(im.value_of("NOT_THERE"))
    assert int(im.data.max()) == 55040  # 55000 at max_I, plus adc 40


def _fields(fp: int = 5, sp: int = 3) -> SMVHeaderFields:
    return SMVHeaderFields(
        fpixels=fp,
        spixels=sp,
        pixel_size_mm=0.172,
        distance_mm=250.5,
        wavelength_A=0.9795,
        beam_center_x_mm=1.1,
        beam_center_y_mm=2.2,
        adxv_center_x=3.3,
        adxv_center_y=-4.4,
        mosflm_center_x=5.5,
        mosflm_center_y=6.6,
        denzo_x_beam=7.7,
        denzo_y_beam=8.8,
        dials_origin=(-1.0, 2.5, -250.5),
        xds_orgx=10.5,
        xds_orgy=11.5,
        close_distance_mm=249.0,
        phi_deg=10.0,
        osc_start_deg=10.0,
        osc_range_deg=0.1,
        twotheta_deg=-5.0,
    )


def test_smv_round_trip(tmp_path):
    img = (np.arange(15, dtype=np.uint16) * 4000).reshape(3, 5)
    write_smv(tmp_path / "a.img", img, _fields())
    raw = (tmp_path / "a.img").read_bytes()
    assert len(raw) == 512 + 30
    assert raw[:2] == b"{\n" and b"}\f" in raw[:512] and raw[500:512] == b" " * 12
    im = read_smv(tmp_path / "a.img")
    np.testing.assert_array_equal(im.data, img)
    assert im.value("SIZE1") == 5 and im.value("SIZE2") == 3
    assert im.value("OSC_RANGE") == 0.1 and im.value("TWOTHETA") == -5.0
    assert im.fields["DIALS_ORIGIN"] == "-1,2.5,-250.5"
    assert "DIALS_ORIGIN=-1,2.5,-250.5\nXDS_ORGX" in im.header
    # dict form gives the same header
    assert smv_header(_fields().__dict__) == raw[:512]


# measured: the header nanoBragg wrote (539 bytes, yet HEADER_BYTES=512) for
# -lambda 0.979513 -detpixels 8 -pixel 0.172 -distance 250.123 -Xbeam 12.3456
# -Ybeam 13.4567 -phi 12.3456 -osc 0.123457 -twotheta 1.23457
LONG_HEADER = (
    b"{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
    b"SIZE1=8;\nSIZE2=8;\nPIXEL_SIZE=0.172;\nDISTANCE=250.065;\nWAVELENGTH=0.979513;\n"
    b"BEAM_CENTER_X=12.3456;\nBEAM_CENTER_Y=13.4567;\nADXV_CENTER_X=13.5427;\n"
    b"ADXV_CENTER_Y=-11.0569;\nMOSFLM_CENTER_X=12.3469;\nMOSFLM_CENTER_Y=13.4567;\n"
    b"DENZO_X_BEAM=12.4329;\nDENZO_Y_BEAM=13.5427;\nDIALS_ORIGIN=-13.5427,12.4287,-250.391\n"
    b"XDS_ORGX=79.2366;\nXDS_ORGY=104.108;\nCLOSE_DISTANCE=250.065;\nPHI=12.3456;\n"
    b"OSC_START=12.3456;\nOSC_RANGE=0.123457;\nTWOTHETA=1.23457;\nDETECTOR_SN=000;\n"
    b"BEAMLINE=fake;\n}\f"
)


def _long_fields() -> SMVHeaderFields:
    return SMVHeaderFields(
        fpixels=8,
        spixels=8,
        pixel_size_mm=0.172,
        distance_mm=250.065,
        wavelength_A=0.979513,
        beam_center_x_mm=12.3456,
        beam_center_y_mm=13.4567,
        adxv_center_x=13.5427,
        adxv_center_y=-11.0569,
        mosflm_center_x=12.3469,
        mosflm_center_y=13.4567,
        denzo_x_beam=12.4329,
        denzo_y_beam=13.5427,
        dials_origin=(-13.5427, 12.4287, -250.391),
        xds_orgx=79.2366,
        xds_orgy=104.108,
        close_distance_mm=250.065,
        phi_deg=12.3456,
        osc_start_deg=12.3456,
        osc_range_deg=0.123457,
        twotheta_deg=1.23457,
    )


def test_smv_header_overflow(tmp_path):
    assert len(LONG_HEADER) == 539
    assert smv_header(_long_fields(), overflow="nanobragg") == LONG_HEADER
    with pytest.raises(ValueError, match="539 bytes"):
        smv_header(_long_fields(), overflow="error")
    extended = smv_header(_long_fields())
    assert len(extended) == 1024
    assert extended.startswith(b"{\nHEADER_BYTES=1024;\nDIM=2;")
    assert extended[:540].replace(b"1024", b"512", 1).rstrip(b" ") == LONG_HEADER
    img = np.arange(64, dtype=np.uint16).reshape(8, 8)
    write_smv(tmp_path / "long.img", img, _long_fields())
    back = read_smv(tmp_path / "long.img")
    assert back.header_bytes == 1024
    np.testing.assert_array_equal(back.data, img)
    assert back.value("OSC_RANGE") == 0.123457
    with pytest.raises(ValueError):
        smv_header(_long_fields(), overflow="pad")


def test_smv_header_worst_case_extends():
    big = -1.23456789e-300
    f = SMVHeaderFields(
        fpixels=2**31 - 1,
        spixels=2**31 - 1,
        pixel_size_mm=big,
        distance_mm=big,
        wavelength_A=big,
        beam_center_x_mm=big,
        beam_center_y_mm=big,
        adxv_center_x=big,
        adxv_center_y=big,
        mosflm_center_x=big,
        mosflm_center_y=big,
        denzo_x_beam=big,
        denzo_y_beam=big,
        dials_origin=(big, big, big),
        xds_orgx=big,
        xds_orgy=big,
        close_distance_mm=big,
        phi_deg=big,
        osc_start_deg=big,
        osc_range_deg=big,
        twotheta_deg=big,
    )
    assert len(smv_header(f)) == 1024


def test_read_smv_big_endian_and_longer_header(tmp_path):
    header = (
        b"{\nHEADER_BYTES=1024;\nDIM=2;\nBYTE_ORDER=big_endian;\nTYPE=unsigned_short;\n"
        b"SIZE1=4;\nSIZE2=2;\nPIXEL_SIZE=0.1;\n}\f"
    ).ljust(1024, b" ")
    pixels = np.array([[1, 2, 3, 258], [65535, 0, 7, 8]], dtype=np.uint16)
    (tmp_path / "b.img").write_bytes(header + pixels.astype(">u2").tobytes() + b"junk")
    im = read_smv(tmp_path / "b.img")
    assert im.header_bytes == 1024 and im.byte_order == "big_endian"
    np.testing.assert_array_equal(im.data, pixels)


def test_read_smv_errors(tmp_path):
    good = smv_bytes(np.zeros((3, 5), np.uint16), _fields())
    bad = {
        "notsmv.img": (b"P5\n5 3\n255\n" + bytes(600), "not an SMV image"),
        "short.img": (good[:100], "not an SMV image|truncated"),
        "trunc.img": (good[:-1], "truncated"),
        "type.img": (good.replace(b"unsigned_short", b"float_ieee_32"), "TYPE"),
    }
    for name, (data, message) in bad.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=message):
            read_smv(tmp_path / name)
    with pytest.raises(InputError, match=r"^-mask .*missing\.img: cannot read"):
        read_smv(tmp_path / "missing.img", option="-mask")


def test_write_smv_rejects_wrong_shape_or_dtype(tmp_path):
    with pytest.raises(ValueError):
        write_smv(tmp_path / "x.img", np.zeros((5, 3), np.uint16), _fields())
    with pytest.raises(ValueError):
        write_smv(tmp_path / "x.img", np.zeros((3, 5), np.int32), _fields())
    assert list(tmp_path.iterdir()) == []


def test_denzo_sign_of_zero_differs_between_int_and_noise_headers():
    kw = dict(
        fpixels=2,
        spixels=2,
        pixel_size_m=1e-4,
        distance_m=0.1,
        lambda0_m=1e-10,
        xbeam_m=0.0,
        ybeam_m=0.0,
        fbeam_m=-0.0,
        sbeam_m=-0.0,
        detsize_s_m=2e-4,
        dials_origin_mm=(0.0, 0.0, 0.0),
        orgx_px=0.5,
        orgy_px=0.5,
        close_distance_m=0.1,
    )
    assert b"DENZO_X_BEAM=-0;" in smv_header(SMVHeaderFields.from_detector(**kw))
    assert b"DENZO_X_BEAM=0;" in smv_header(SMVHeaderFields.from_detector(noise_image=True, **kw))


def test_c_g_matches_printf():
    assert [c_g(v) for v in (0.1, 100.0, 1e-10 * 1e10, 123456789.0, -0.0, 1e-5)] == [
        "0.1",
        "100",
        "1",
        "1.23457e+08",
        "-0",
        "1e-05",
    ]
    assert c_g(math.nan) == "nan" and c_g(-math.nan) == "-nan" and c_g(math.inf) == "inf"


# ---------------------------------------------------------------- float image


def test_float_image_round_trip(tmp_path):
    img = golden_float("cubic_mosflm_64")
    write_float_image(tmp_path / "f.bin", img)
    raw = (tmp_path / "f.bin").read_bytes()
    assert sha256(raw) == manifest_case("cubic_mosflm_64")["files"]["float.bin.gz"]["raw_sha256"]
    back = read_float_image(tmp_path / "f.bin", 64, 64)
    assert back.dtype == np.float32 and back.shape == (64, 64)
    np.testing.assert_array_equal(back, img)


def test_float_image_size_check(tmp_path):
    write_float_image(tmp_path / "f.bin", np.ones((4, 6)))
    with pytest.raises(InputError, match="96 bytes, expected 100"):
        read_float_image(tmp_path / "f.bin", 5, 5)
    with pytest.raises(InputError, match="cannot read"):
        read_float_image(tmp_path / "none.bin", 5, 5)


# --------------------------------------------------------------------- atomic


def test_atomic_write_replaces_and_keeps_mode(tmp_path):
    p = tmp_path / "out.bin"
    atomic_write(p, b"one")
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(p, 0o640)
    atomic_write(p, b"two")
    assert p.read_bytes() == b"two"
    assert p.stat().st_mode & 0o777 == 0o640
    assert [q.name for q in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_open_failure_leaves_old_file(tmp_path):
    p = tmp_path / "out.bin"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(p) as fh:
            fh.write(b"half")
            raise RuntimeError("boom")
    assert p.read_bytes() == b"old"
    assert [q.name for q in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_write_to_missing_folder(tmp_path):
    with pytest.raises(InputError, match=r"^cannot write .*nodir/x\.bin: "):
        atomic_write(tmp_path / "nodir" / "x.bin", b"x")


def test_writers_leave_nothing_on_error(tmp_path):
    with pytest.raises(ValueError):
        write_pgm(tmp_path / "a.pgm", np.zeros((2, 2), np.float32), 1.0)
    assert list(tmp_path.iterdir()) == []
