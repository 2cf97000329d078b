"""Bad input of every kind: one ``error:`` line and exit status 2 on the command line, the same
message as an InputError from the Python API, no traceback, no NumPy warning, no file written.

Where nanoBragg.c would run the input anyway (filling in a value, ignoring one, inventing one),
the error is an :class:`~nbcupy.errors.InputRefused` that says what nanoBragg.c would have done
(README, "nbcupy also differs from nanoBragg.c on purpose").  The command line runs as a
subprocess (its real stderr); the API in this process, so a NumPy warning is caught as a
warning.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import nbcupy
from nbcupy.errors import InputError, InputRefused
from tests.support import assert_one_line_error
from tests.support import nbcupy as run_nbcupy

INPUTS = Path(__file__).resolve().parent.parent / "golden" / "inputs"
DATA = Path(__file__).resolve().parent / "data"

CELL = "-cell 100 100 100 90 90 90"
REST = "-lambda 1 -N 3 -default_F 100 -detpixels 12 -pixel 0.1 -distance 100 -noprogress"
BASE = f"{CELL} {REST}"
OUTPUTS = ("floatimage.bin", "intimage.img", "noiseimage.img", "image.pgm", "Fdump.bin")


def cli_error(tmp_path: Path, args: str, *words: str) -> str:
    """The command's one error line (checked: exit 2, one line, no traceback or warning, no
    output file), without its ``error: `` prefix."""
    proc = run_nbcupy(*shlex.split(args), cwd=tmp_path)
    line = assert_one_line_error(proc, *words)
    assert "Warning" not in proc.stderr + proc.stdout, proc.stderr
    left = [name for name in OUTPUTS if (tmp_path / name).exists()]
    assert left == [], left
    return line.removeprefix("error: ")


def api_error(args: str | nbcupy.Options, kind: type = InputError) -> str:
    """The InputError message ``nbcupy.simulate(args)`` raises (no NumPy warning on the way)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(kind) as info:
            nbcupy.simulate(args)
    return str(info.value)


#: (id, flags, words of the message, refused on purpose): nanoBragg.c runs every one of them
CASES = [
    # incomplete value lists
    ("cell-3-numbers", f"-cell 100 100 100 {REST}", ("-cell", "6 numbers", "got 3", "90 deg"),
     True),
    ("cell-1-number", f"-cell 100 {REST}", ("-cell", "got 1"), True),
    ("cell-negative", f"-cell 100 -100 100 90 90 90 {REST}", ("-cell", "before -100"), True),
    ("vector-2-numbers", f"{BASE} -fdet_vector 0 0 -seed 1", ("-fdet_vector", "x y z"), False),
    ("vector-at-end", f"{BASE} -beam_vector 1 0", ("-beam_vector", "got 2"), False),
    ("roi-3-numbers", f"{BASE} -roi 1 5 2 -seed 1", ("-roi", "xmin xmax ymin ymax"), False),
    ("misset-2-numbers", f"{BASE} -misset 10 20 -seed 1", ("-misset", "rotx roty rotz"), False),
    ("detector-abs-last", f"{BASE} -detector_abs", ("-detector_abs", "value"), False),
    # cells that cannot exist
    ("cell-angles", f"-cell 100 100 100 10 10 170 {REST}", ("do not form a cell",), True),
    ("cell-planar", f"-cell 100 100 100 120 120 120 {REST}", ("do not form a cell",), True),
    ("cell-zero-edge", f"-cell 100 0 100 90 90 90 {REST}", ("edge b", "positive", "a instead"),
     True),
    ("cell-zero-a", f"-cell 0 100 100 90 90 90 {REST}", ("edge a", "positive"), False),
    ("cell-zero-angle", f"-cell 100 100 100 90 0 90 {REST}", ("beta", "above 0", "90"), True),
    ("cell-180", f"-cell 100 100 100 90 90 180 {REST}", ("gamma", "180"), False),
    # degenerate directions
    *[(f"zero-{flag[1:]}", f"{BASE} {flag} 0 0 0", (flag, "zero-length"), True)
      for flag in ("-fdet_vector", "-sdet_vector", "-odet_vector", "-beam_vector",
                   "-spindle_axis", "-polar_vector", "-twotheta_axis")],
    ("zero-polar-without-polar", f"{BASE} -polar_vector 0 0 0 -polar 0", ("-polar_vector",),
     True),
    ("huge-axis", f"{BASE} -twotheta_axis 0 0 -1e300 -twotheta 10", ("-twotheta_axis",
                                                                      "plausible"), False),
    ("fast-parallel-slow", f"{BASE} -fdet_vector 0 0 1 -sdet_vector 0 0 -2",
     ("fast axis", "slow axis", "parallel"), True),
    ("beam-along-detector", f"{BASE} -beam_vector 0 0 1", ("parallel to the detector plane",
                                                          "-close_distance"), False),
    # counts
    ("mosaic-domains-0", f"{BASE} -mosaic 0.5 -mosaic_dom 0", ("-mosaic_dom", "at least 1",
                                                                "10"), True),
    ("mosaic-domains-negative", f"{BASE} -mosaic 0.5 -mosaic_domains -2",
     ("-mosaic_domains", "got -2"), True),
    ("phisteps-0", f"{BASE} -phisteps 0 -osc 1", ("-phisteps", "at least 1"), True),
    ("oversample-0", f"{BASE} -oversample 0", ("-oversample", "at least 1"), True),
    ("thicksteps-0", f"{BASE} -detector_thick 100 -thicksteps 0", ("-thicksteps",), True),
    ("thicksteps-1", f"{BASE} -detector_thick 100 -detector_thicksteps 1",
     ("-detector_thicksteps 1", "2 layers", "twice as thick"), True),
    ("cells-negative", f"{BASE} -Nb -1", ("-Nb", "0 or more"), True),
    ("dispsteps-0", f"{BASE} -dispersion 1 -dispsteps 0", ("-dispsteps",), True),
    ("dispsteps-1", f"{BASE} -dispersion 1 -dispsteps 1", ("-dispsteps 1", "cannot span"), True),
    ("divsteps-0", f"{BASE} -divergence 1 -divsteps 0", ("-divsteps", "at least 1"), True),
    ("hdivsteps-1", f"{BASE} -hdivrange 1 -hdivsteps 1", ("-hdivsteps 1", "2 points"), True),
    ("divsteps-alone", f"{BASE} -divsteps 3", ("1 radian",), True),
    ("vdivsteps-ignored", f"{BASE} -vdivstep 0.1 -vdivsteps 5", ("ignore 5", "-vdivrange 0.4"),
     True),
    ("phisteps-ignored", f"{BASE} -phistep 0.1 -phisteps 5", ("ignore 5", "-osc 0.5"), True),
    ("too-much-oversampling", f"{CELL} -lambda 1 -N 5 -default_F 100 -detpixels 4 "
     "-distance 0.01 -noprogress", ("automatic oversampling", "64"), False),
    # wavelengths and fluence
    ("dispersion-200", f"{BASE} -dispersion 200", ("-dispersion", "200"), False),
    ("energy-0", f"{BASE} -energy 0", ("-energy", "positive"), False),
    ("lambda-0", f"{BASE} -lambda 0", ("-lambda", "positive"), False),
    ("flux-beamsize-0", f"{BASE} -flux 1e12 -beamsize 0", ("-flux", "-beamsize", "infinite"),
     True),
    ("flux-exposure-0", f"{BASE} -flux 1e12 -exposure 0", ("-flux", "-exposure", "ignore"),
     True),
    ("flux-and-fluence", f"{BASE} -flux 1e12 -fluence 1e24", ("-flux", "-fluence"), True),
    ("flux-overflow", f"{BASE} -flux 1e300 -beamsize 1e-200", ("-flux", "fluence of inf"),
     False),
    # region of interest
    ("roi-outside", f"{BASE} -roi 20 30 0 5", ("-roi 20 30 0 5", "outside", "12x12"), True),
    ("roi-below", f"{BASE} -roi 0 5 12 20", ("outside",), True),
    ("roi-empty", f"{BASE} -roi 5 3 0 4", ("-roi", "min <= max"), False),
    # numbers in flags
    *[(f"non-finite{flag}", f"{BASE} {flag} {values}", (flag, f"'{bad}'"), False)
      for flag, values, bad in (("-distance", "nan", "nan"), ("-phi", "inf", "inf"),
                                ("-mosaic", "-inf", "-inf"), ("-misset", "nan 0 0", "nan"),
                                ("-fdet_vector", "0 NaN 1", "NaN"), ("-roi", "0 inf 0 3", "inf"),
                                ("-detector_abs", "nan", "nan"), ("-seed", "nan", "nan"))],
    ("fudge-0", f"{BASE} -fudge 0", ("-fudge",), False),
    # sizes
    ("huge-detector", f"{BASE} -detpixels 100000", ("100000x100000", "GiB", "memory"), False),
    ("huge-phi-table", f"{BASE} -osc 1 -phisteps 2000000000",
     ("2000000000 phi step", "crystal settings", "GiB"), False),
    ("huge-mosaic-table", f"{BASE} -mosaic 1 -mosaic_dom 900000000",
     ("900000000 mosaic domain", "GiB"), False),
]


@pytest.mark.parametrize(("flags", "words", "on_purpose"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_flags(tmp_path, monkeypatch, flags, words, on_purpose):
    line = cli_error(tmp_path, flags, *words)
    monkeypatch.chdir(tmp_path)
    message = api_error(flags, InputRefused if on_purpose else InputError)
    assert line == message
    if not on_purpose:
        with pytest.raises(InputError) as info:
            nbcupy.simulate(flags)
        assert not isinstance(info.value, InputRefused), message


def test_an_image_that_overflows_is_one_line_without_numpy_warnings(tmp_path):
    """The engine's own last check (a FloatingPointError, not bad input as such): one line on
    the command line, and no NumPy warning before it, in the API either."""
    flags = f"{BASE} -default_F 1e30"
    assert "FloatingPointError" not in cli_error(tmp_path, flags, "simulation failed",
                                                 "not finite")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FloatingPointError, match="not finite"):
            nbcupy.simulate(flags)


def test_documented_n_0_is_one_isolated_cell():
    """nanoBragg.c's own examples give -N 0 for an isolated unit cell: accepted, as -N 1."""
    zero = nbcupy.simulate(f"{CELL} -lambda 1 -N 0 -default_F 100 -detpixels 8 -distance 100")
    one = nbcupy.simulate(f"{CELL} -lambda 1 -N 1 -default_F 100 -detpixels 8 -distance 100")
    assert zero.simulation.crystal.n_cells == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(zero.image_f32, one.image_f32)


def test_kept_nanobragg_defaults_still_run():
    """Defaults real scripts rely on stay: -phisteps alone (1 degree), -mosaic alone
    (10 domains, with nanoBragg's warning), a step without a range (2 points), a zero range
    with several steps (one point), a non-unit -odet_vector (replaced, with a warning), and a
    ROI reaching past the detector's edge."""
    res = nbcupy.simulate(f"{BASE} -phisteps 3 -mosaic 0.2 -hdivstep 0.1 -dispersion 0 "
                          "-dispsteps 3 -roi 4 40 -1 40 -fdet_vector 0 0 1 "
                          "-sdet_vector 0 -1 0 -odet_vector 2 0 0")
    sim = res.simulation
    assert sim.spindle.phisteps == 3 and math.isclose(sim.spindle.osc, math.radians(1.0))
    assert sim.mosaic.domains == 10
    assert sim.sources.count == 2
    assert any("auto-generating odet_vector" in w for w in res.report.warnings)
    assert np.all(res.image_f32[:, :4] == 0) and res.image_f32[:, 4:].max() > 0


# --------------------------------------------------------------------------------------
# the Python API: Options and models built by hand


@pytest.mark.parametrize(("changes", "kind", "words"), [
    ({"cell": (100.0, 100.0, 100.0, 0.2, 0.2, 3.0)}, InputRefused, ("do not form a cell",)),
    ({"cell": (100.0, 100.0)}, InputError, ("-cell", "got 2 numbers")),
    ({"na": 0.5}, InputError, ("-Na", "whole number")),
    ({"phisteps": 0}, InputRefused, ("-phisteps", "at least 1")),
    ({"oversample": 0}, InputRefused, ("-oversample",)),
    ({"mosaic_domains": 2.5}, InputError, ("-mosaic_dom", "whole number")),
    ({"misset": (0.1, float("nan"), 0.0)}, InputError, ("-misset", "finite")),
    ({"vectors": {"fast": (0.0, 0.0, 1.0)}}, InputError, ("unknown vector", "'fast'")),
    ({"vectors": {"beam": (1.0, 0.0)}}, InputError, ("-beam_vector", "three numbers")),
    ({"convention": "custom", "vectors": {"spindle": (0.0, 0.0, 0.0)}}, InputRefused,
     ("-spindle_axis", "zero-length")),
    ({"roi": (0, 3, 5, 2)}, InputError, ("-roi", "min <= max")),
    ({"roi": (0, 3.5, 0, 2)}, InputError, ("-roi", "whole number")),
    ({"hdivsteps": 3}, InputRefused, ("1 radian",)),
    ({"flux": 1e12, "beamsize": 0.0}, InputRefused, ("-beamsize",)),
    ({"mask_pixels": np.ones((5, 12), bool)}, InputError, ("Options.mask_pixels", "12x5")),
    ({"mask_pixels": np.zeros((12, 12), bool)}, InputRefused, ("every pixel",)),
])
def test_options_are_checked_like_flags(changes, kind, words):
    base = dict(cell=(100.0, 100.0, 100.0, math.pi / 2, math.pi / 2, math.pi / 2),
                wavelength=1e-10, na=3, nb=3, nc=3, default_F=100.0, fpixels=12, spixels=12)
    message = api_error(nbcupy.Options(**{**base, **changes}), kind)
    for word in words:
        assert word in message, (word, message)


def test_options_give_the_flags_message(tmp_path):
    line = cli_error(tmp_path, f"{BASE} -phisteps 0")
    opts = nbcupy.prepare(BASE).options
    assert api_error(dataclasses.replace(opts, phisteps=0), InputRefused) == line


def _models():
    return nbcupy.prepare(f"{BASE} -seed 1")


@pytest.mark.parametrize(("model", "changes", "words"), [
    ("detector", {"fdet": np.zeros(3)}, ("Detector.fdet", "zero-length")),
    ("detector", {"sdet": np.array([0.0, 0.0, -1.0])}, ("parallel",)),
    ("detector", {"thicksteps": 0}, ("Detector.thicksteps", "at least 1")),
    ("detector", {"pixel_size": float("nan")}, ("Detector.pixel_size", "finite")),
    ("beam", {"wavelength": -1e-10}, ("Beam.wavelength", "above 0")),
    ("beam", {"direction": np.array([np.inf, 0.0, 0.0])}, ("Beam.direction", "finite")),
    ("sources", {"wavelengths": np.array([0.0])}, ("Sources.wavelengths", "positive")),
    ("sources", {"directions": np.zeros((2, 3))}, ("Sources",)),
    ("crystal", {"n_cells": (1.0, 0.0, 1.0)}, ("Crystal.n_cells[1]",)),
    ("crystal", {"cell": np.zeros((3, 3))}, ("Crystal.cell", "coplanar")),
    ("spindle", {"phisteps": 0}, ("Spindle.phisteps",)),
    ("spindle", {"spindle_axis": np.zeros(3)}, ("Spindle.spindle_axis", "zero-length")),
    ("mosaic", {"umats": np.zeros((0, 3, 3))}, ("Mosaic.umats", "at least one")),
    ("sampling", {"oversample": 0}, ("Sampling.oversample",)),
    ("sampling", {"roi": (20, 30, 0, 5)}, ("Sampling.roi", "no pixel")),
    ("sampling", {"mask": np.ones((3, 3), bool)}, ("Sampling.mask", "shape")),
    ("sampling", {"mask": np.zeros((12, 12), bool)}, ("Sampling.mask", "switched off")),
    ("detector", {"fpixels": 100000, "spixels": 100000}, ("GiB", "memory")),
])
def test_models_changed_by_hand_are_checked(model, changes, words):
    models = _models()
    sim = models.simulation
    changed = dataclasses.replace(getattr(sim, model), **changes)
    bad = models.with_simulation(dataclasses.replace(sim, **{model: changed}))
    message = api_error(bad)
    for word in words:
        assert word in message, (word, message)


def test_models_built_by_the_builders_pass():
    from nbcupy.nanobragg.model_checks import check_simulation

    for flags in (BASE, f"{BASE} -mosaic 0.3 -mosaic_dom 3 -phisteps 2 -osc 1 -roi 2 5 -1 -1",
                  f"-mat {INPUTS / 'A.mat'} {REST} -sourcefile {INPUTS / 'sources.txt'}",
                  f"{BASE} -detector_thick 100 -detector_abs 200 -curved_det -point_pixel"):
        check_simulation(nbcupy.prepare(flags).simulation)


# --------------------------------------------------------------------------------------
# files


def _smv(path: Path, fpixels: int = 12, spixels: int = 12, pixels=None, **values) -> None:
    from nbcupy.io.smv import SMVHeaderFields, write_smv

    fields = dict(fpixels=fpixels, spixels=spixels, pixel_size_mm=0.1, distance_mm=90.0,
                  wavelength_A=1.3, beam_center_x_mm=0.6, beam_center_y_mm=0.6,
                  adxv_center_x=0.0, adxv_center_y=0.0, mosflm_center_x=0.0,
                  mosflm_center_y=0.0, denzo_x_beam=0.0, denzo_y_beam=0.0,
                  dials_origin=(0.0, 0.0, 0.0), xds_orgx=0.0, xds_orgy=0.0,
                  close_distance_mm=80.0)
    fields.update(values)
    data = np.ones((spixels, fpixels), np.uint16) if pixels is None else pixels
    write_smv(path, data, SMVHeaderFields(**fields))


def _file_case(tmp_path: Path, kind: str) -> tuple[str, tuple[str, ...]]:
    """Flags naming a bad file of ``kind`` written into ``tmp_path``, and the message's words."""
    nodef = f"{CELL} -lambda 1 -N 3 -detpixels 12 -distance 100 -noprogress"
    if kind == "hkl-nan":
        (tmp_path / "f.hkl").write_text("0 0 0 100\n1 0 0 nan\n")
        return f"{nodef} -hkl f.hkl", ("f.hkl line 2", "not finite")
    if kind == "hkl-range":
        (tmp_path / "f.hkl").write_text("-3000 -3000 -3000 10\n3000 3000 3000 20\n")
        return f"{nodef} -hkl f.hkl", ("index range", "dense grid", "GiB", "memory")
    if kind == "fdump-nan":
        from nbcupy.io.fdump import write_fdump
        from nbcupy.io.hkl import HKLTable, build_hkl_grid

        one = np.array([0, 1])
        grid = build_hkl_grid(HKLTable(h=one, k=one, l=one, F=np.array([1.0, 2.0])))
        F = grid.F.copy()
        F[1, 1, 1] = np.nan
        write_fdump(tmp_path / "Fdump.bin", dataclasses.replace(grid, F=F))
        return nodef, ("Fdump.bin", "not finite")
    if kind == "matrix-inf":
        (tmp_path / "A.mat").write_text("0.01 0 0\n0 inf 0\n0 0 0.01\n")
        return f"-mat A.mat {REST}", ("-mat A.mat", "not finite")
    if kind == "matrix-left-handed":
        (tmp_path / "A.mat").write_text("0.01 0 0\n0 0.01 0\n0 0 -0.01\n")
        return f"-mat A.mat {REST}", ("-mat A.mat", "left-handed")
    if kind == "matrix-wrong-lambda":
        shutil.copy(INPUTS / "A.mat", tmp_path / "A.mat")
        return f"-mat A.mat {REST} -lambda 1e-3", ("-mat A.mat", "-lambda 0.001", "cell edges")
    if kind == "sourcefile-inf":
        (tmp_path / "s.txt").write_text("-10 0 0 1 1e-10\n-10 0.1 0 1 inf\n")
        return f"{BASE} -sourcefile s.txt", ("s.txt line 2", "column 5", "not a finite")
    if kind == "sourcefile-metres":
        (tmp_path / "s.txt").write_text("-10 0 0 1 1.0\n")
        return f"{BASE} -sourcefile s.txt", ("s.txt", "plausible", "metres")
    if kind in ("img-nan", "mask-nan"):
        _smv(tmp_path / "h.img", distance_mm=math.nan)
        flag = kind.split("-")[0]
        return f"{CELL} -lambda 1 -N 3 -default_F 100 -{flag} h.img -noprogress", (
            f"-{flag} h.img", "DISTANCE=nan", "not a finite number")
    if kind == "mask-size":
        _smv(tmp_path / "m.img", fpixels=8, spixels=9)
        return f"{BASE} -mask m.img", ("-mask m.img", "8x9", "12x12")
    if kind == "mask-all-off":
        _smv(tmp_path / "m.img", pixels=np.zeros((12, 12), np.uint16))
        return f"{BASE} -mask m.img", ("-mask m.img", "every pixel")
    if kind == "mtz-inf":
        import gemmi

        mtz = gemmi.read_mtz_file(str(DATA / "5e5z.mtz"))
        data = np.array(mtz, copy=True)
        data[3, [c.label for c in mtz.columns].index("FP")] = np.inf
        mtz.set_data(data)
        mtz.write_to_file(str(tmp_path / "x.mtz"))
        return f"-hkl x.mtz {REST}", ("x.mtz", "FP", "infinite")
    if kind == "mmcif-nan":
        text = (DATA / "4aap-sf-subset.cif").read_text()
        first = next(ln for ln in text.splitlines() if ln.startswith("1 1 1"))
        fields = first.split()
        fields[7] = "nan"
        (tmp_path / "x.cif").write_text(text.replace(first, " ".join(fields), 1))
        return f"-hkl x.cif {REST}", ("x.cif", "F_meas_au", "row 1", "'nan'")
    if kind == "model-nan":
        lines = (DATA / "5e5z.pdb").read_text().splitlines()
        i = next(k for k, ln in enumerate(lines) if ln.startswith("ATOM"))
        lines[i] = lines[i][:30] + "     nan" + lines[i][38:]
        (tmp_path / "x.pdb").write_text("\n".join(lines) + "\n")
        return f"--model x.pdb {REST.replace('-default_F 100 ', '')}", ("x.pdb", "atom",
                                                                         "not a finite")
    raise ValueError(kind)


FILE_KINDS = ["hkl-nan", "hkl-range", "fdump-nan", "matrix-inf", "matrix-left-handed",
              "matrix-wrong-lambda", "sourcefile-inf", "sourcefile-metres", "img-nan",
              "mask-nan", "mask-size", "mask-all-off", "mtz-inf", "mmcif-nan", "model-nan"]


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_bad_files(tmp_path, monkeypatch, kind):
    flags, words = _file_case(tmp_path, kind)
    proc = run_nbcupy(*shlex.split(flags), cwd=tmp_path)
    line = assert_one_line_error(proc, *words)
    assert "Warning" not in proc.stderr
    written = [n for n in OUTPUTS if (tmp_path / n).exists() and n != "Fdump.bin"]
    assert written == []
    monkeypatch.chdir(tmp_path)
    if "--model" in flags:  # an Options field in the API, not a nanoBragg flag
        from nbcupy.nanobragg.flags import parse_flags

        rest = shlex.split(flags)
        model = rest.pop(rest.index("--model") + 1)
        rest.remove("--model")
        flags = dataclasses.replace(parse_flags(rest).options, model_file=model)
    assert api_error(flags) == line.removeprefix("error: ")


def test_stale_fdump_is_in_the_api_notes(tmp_path, monkeypatch):
    """nanoBragg reads Fdump.bin whenever no -hkl is given; the API's notes say so, as the
    command line's summary does."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(INPUTS / "pattern.hkl", tmp_path / "pattern.hkl")
    nbcupy.prepare(f"{CELL} -hkl pattern.hkl -lambda 1 -N 3 -detpixels 8", write_cache=True)
    assert (tmp_path / "Fdump.bin").exists()
    models = nbcupy.prepare(f"{BASE}")
    stale = [n for n in models.notes if "Fdump.bin" in n]
    assert len(stale) == 1 and "no -hkl" in stale[0] and "-default_F 100" in stale[0], stale
    res = nbcupy.simulate(BASE)
    assert any("Fdump.bin" in n for n in res.notes)
    proc = run_nbcupy(*shlex.split(BASE), "-nonoise", "-nopgm", cwd=tmp_path)
    assert proc.returncode == 0 and "reading Fs from Fdump.bin" in proc.stdout


def test_no_stale_fdump_note_without_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not [n for n in nbcupy.prepare(BASE).notes if "Fdump" in n]


# --------------------------------------------------------------------------------------
# failures that are not bad input as such


def test_failure_messages_name_no_exception_class():
    from nbcupy.cli.app import failure_message

    assert failure_message(MemoryError()).startswith("out of memory; lower --memory-mb")
    line = failure_message(MemoryError("Unable to allocate 13.4 GiB for an array"))
    assert line.startswith("out of memory: unable to allocate 13.4 GiB") and "\n" not in line
    assert failure_message(OSError(28, "No space left on device", "out.img")) == (
        "out.img: No space left on device")
    assert failure_message(FloatingPointError("3 pixels are not finite")) == (
        "the simulation failed: 3 pixels are not finite")
    assert failure_message(RuntimeError("cudaErrorLaunchFailure: unspecified launch failure\n"
                                        "more")) == (
        "cudaErrorLaunchFailure: unspecified launch failure")
    assert "RuntimeError" in failure_message(RuntimeError())  # nothing else to say


def test_out_of_memory_is_one_line(tmp_path):
    """A run the size checks let through (it fits the machine) but that a memory limit stops:
    one line, exit 2, no traceback."""
    import subprocess
    import sys

    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))"
            "\nfrom nbcupy.cli.app import main; sys.exit(main(sys.argv[1:]))")
    args = shlex.split(f"{CELL} -lambda 1 -N 1 -default_F 1 -detpixels 10000 -pixel 0.01 "
                       "-distance 100 -oversample 1 -noprogress -nonoise -nopgm --threads 1")
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    line = assert_one_line_error(proc, "out of memory", "763")  # MiB: the float64 image
    assert "MemoryError" not in line
