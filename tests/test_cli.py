"""The ``nbcupy`` command line: help, errors, notes, output files and the Fdump cache.

The command runs as ``python -m nbcupy.cli.app`` in a temporary folder (a subprocess, so
stdout and stderr are the real streams and every run starts fresh).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nbcupy.errors import InputError
from nbcupy.nanobragg.flags import parse_flags
from tests.support import assert_one_line_error, nbcupy

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
INPUTS = GOLDEN / "inputs"

N = 16  # detector pixels per side of the small test images
BASE = ["-cell", "100", "100", "100", "90", "90", "90", "-lambda", "1", "-N", "3",
        "-default_F", "100", "-detpixels", str(N), "-pixel", "0.1", "-distance", "100",
        "-noprogress"]
NO_DEFAULT_F = [a for i, a in enumerate(BASE)
                if a != "-default_F" and (i == 0 or BASE[i - 1] != "-default_F")]

OUTPUT_NAMES = ("floatimage.bin", "intimage.img", "image.pgm", "noiseimage.img", "out.bin",
                "Fdump.bin")




def read_float(path: Path, n: int = N) -> np.ndarray:
    raw = path.read_bytes()
    assert len(raw) == 4 * n * n
    return np.frombuffer(raw, "<f4").reshape(n, n)




def no_outputs(folder: Path) -> list[str]:
    return [n for n in OUTPUT_NAMES if (folder / n).exists()]


# --------------------------------------------------------------------------------------
# help


@pytest.mark.parametrize("word", ["--help", "-h", "-help"])
def test_help_lists_groups_and_flags(tmp_path, word):
    proc = nbcupy(word, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for group in ("Crystal", "Structure factors", "Beam", "Detector",
                  "Spindle, mosaicity and randomness", "Sampling and background",
                  "Output files and console", "nbcupy options"):
        assert group in text, group
    for flag in ("-cell", "-mat", "-misset", "-N", "-hkl", "-default_F", "-lambda",
                 "-fluence", "-detpixels", "-distance", "-twotheta", "-curved_det",
                 "-mosaic", "-phisteps", "-oversample_omega", "-roi", "-water", "-floatfile",
                 "-nonoise", "-nopgm", "--backend", "--dtype", "--memory-mb", "--threads"):
        assert re.search(rf"(^|[\s,]){re.escape(flag)}([\s,]|$)", text, re.M), flag
    # refused and accepted-without-effect flags say so in the help
    assert re.search(r"-printout\b.*refused", text)
    assert re.search(r"-coherent\b.*no effect", text)
    assert no_outputs(tmp_path) == []


@pytest.mark.parametrize("extra", [[], ["--threads", "2"], ["--", "--version"]])
def test_version(tmp_path, extra):
    import nbcupy as package

    proc = nbcupy("--version", *extra, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"nbcupy {package.__version__}\n"
    assert no_outputs(tmp_path) == []


def test_version_is_the_package_version():
    import nbcupy as package

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((GOLDEN.parent / "pyproject.toml").read_text())["project"]
    assert package.__version__ == project["version"]


def test_python_dash_m_nbcupy_runs_the_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nbcupy", *BASE, "-nonoise", "-nopgm"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "mosflm convention selected." in proc.stdout
    assert read_float(tmp_path / "floatimage.bin").max() > 0
    proc = subprocess.run([sys.executable, "-m", "nbcupy", "-defualt_F", "1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert_one_line_error(proc, "did you mean -default_F?")


def test_cupy_backend_without_cupy_is_one_plain_line(tmp_path):
    try:
        import cupy  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("CuPy is installed here")
    proc = nbcupy(*BASE, "--backend", "cupy", cwd=tmp_path)
    line = assert_one_line_error(proc, "--backend cupy", "pip install")
    assert "Error" not in line  # no exception class name
    assert no_outputs(tmp_path) == []


# --------------------------------------------------------------------------------------
# errors: exit 2, one line, nothing written


def test_unknown_flag(tmp_path):
    proc = nbcupy(*BASE, "-bogus_flag", "3", cwd=tmp_path)
    assert_one_line_error(proc, "-bogus_flag")
    assert no_outputs(tmp_path) == []


def test_refused_flag_gives_reason(tmp_path):
    proc = nbcupy(*BASE, "-printout", cwd=tmp_path)
    line = assert_one_line_error(proc, "-printout", "not supported")
    # a reason follows the flag name
    assert len(line.split("not supported", 1)[1].strip(" :")) > 10, line
    assert no_outputs(tmp_path) == []


@pytest.mark.parametrize("flag,value", [
    ("-distance", "abc"),
    ("-N", "2.5"),
    ("-lambda", "-1"),
    ("-detpixels", "0"),
    ("-distance", "nan"),
    ("-distance", "inf"),
    ("-pixel", "0"),
    ("-oversample", "x"),
])
def test_malformed_value(tmp_path, flag, value):
    proc = nbcupy(*BASE, flag, value, cwd=tmp_path)
    assert_one_line_error(proc, flag)
    assert no_outputs(tmp_path) == []


@pytest.mark.parametrize("flag,value", [("-distance", "abc"), ("-N", "2.5"),
                                        ("-distance", "nan"), ("-detpixels", "0")])
def test_malformed_value_message_quotes_input(tmp_path, flag, value):
    line = assert_one_line_error(nbcupy(*BASE, flag, value, cwd=tmp_path), flag)
    assert value in line, line


@pytest.mark.parametrize("flag,value", [("-lambda", "-1"), ("-distance", "-5")])
def test_positivity_message_quotes_input(tmp_path, flag, value):
    line = assert_one_line_error(nbcupy(*BASE, flag, value, cwd=tmp_path), flag)
    assert re.search(rf"(^|\s|'){re.escape(value)}('|\s|$)", line), line


def test_missing_value_at_end(tmp_path):
    assert_one_line_error(nbcupy(*BASE, "-distance", cwd=tmp_path), "-distance")


def test_missing_hkl_file(tmp_path):
    proc = nbcupy(*NO_DEFAULT_F, "-hkl", "nothere.hkl", "-floatfile", "out.bin", cwd=tmp_path)
    assert_one_line_error(proc, "nothere.hkl")
    assert no_outputs(tmp_path) == []


@pytest.mark.parametrize("bad_line", ["1 2", "1 2 x 4", "1 2 3 abc"])
def test_malformed_hkl_line_names_file_and_line(tmp_path, bad_line):
    (tmp_path / "bad.hkl").write_text(f"0 0 0 100\n1 0 0 50\n{bad_line}\n0 1 0 25\n")
    proc = nbcupy(*NO_DEFAULT_F, "-hkl", "bad.hkl", "-floatfile", "out.bin", cwd=tmp_path)
    line = assert_one_line_error(proc, "bad.hkl")
    assert re.search(r"\bline 3\b", line), line
    # the engine writes files only after a successful render: nothing at all is left
    assert not (tmp_path / "out.bin").exists()
    assert no_outputs(tmp_path) == []


@pytest.mark.parametrize("option,value", [("--backend", "bogus"), ("--dtype", "float16"),
                                          ("--noise", "loud"), ("--threads", "two"),
                                          ("--memory-mb", "lots"), ("--memory-mb", "nan"),
                                          ("--memory-mb", "inf"), ("--threads", "-1")])
def test_bad_nbcupy_option(tmp_path, option, value):
    proc = nbcupy(*BASE, option, value, cwd=tmp_path)
    assert_one_line_error(proc, option, value)
    assert no_outputs(tmp_path) == []


def test_nbcupy_option_without_value(tmp_path):
    proc = nbcupy(*BASE, "--threads", cwd=tmp_path)
    assert_one_line_error(proc, "--threads", "value")
    assert no_outputs(tmp_path) == []


def test_nanobragg_flags_run_without_typer(tmp_path):
    """Plain nanoBragg command lines (and nbcupy's options in their plain forms) do not load
    Typer: its imports cost more than a small simulation."""
    code = ("import sys; from nbcupy.cli.app import main; "
            "status = main(sys.argv[1:]); "
            "print('TYPER' if 'typer' in sys.modules else 'NO-TYPER'); sys.exit(status)")
    for extra in ([], ["--dtype", "float32", "--threads=1", "--corrected"]):
        proc = subprocess.run([sys.executable, "-c", code, *BASE, "-nonoise", *extra],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.rstrip().endswith("NO-TYPER"), proc.stdout[-200:]


def test_option_spellings_give_the_same_image(tmp_path):
    """``--opt value``, ``--opt=value`` and the Typer path (taken here because of an
    unusual spelling elsewhere on the line) run the same simulation."""
    images = []
    for i, opts in enumerate((["--dtype", "float32", "--threads", "1"],
                              ["--dtype=float32", "--threads=1"],
                              ["--dtype", "float32", "--threads", "1", "--", ])):
        folder = tmp_path / str(i)
        folder.mkdir()
        proc = nbcupy(*BASE, "-nonoise", *opts, cwd=folder)
        assert proc.returncode == 0, proc.stderr
        images.append(read_float(folder / "floatimage.bin"))
    assert np.array_equal(images[0], images[1]) and np.array_equal(images[0], images[2])


# --------------------------------------------------------------------------------------
# exact option matching


def test_misset_seed_does_not_trigger_misset():
    opts = parse_flags(["-misset_seed", "5"]).options
    assert opts.misset is None and not opts.misset_random
    assert opts.misset_seed == -5  # nanoBragg keeps minus the command-line seed

    opts = parse_flags(["-misset_seed", "5", "-misset", "random"]).options
    assert opts.misset_random and opts.misset is None and opts.misset_seed == -5

    opts = parse_flags(["-misset", "random", "-misset_seed", "5"]).options
    assert opts.misset_random and opts.misset is None and opts.misset_seed == -5

    opts = parse_flags(["-misset_seed", "5", "-misset", "10", "20", "30"]).options
    assert not opts.misset_random
    assert opts.misset == pytest.approx(tuple(np.radians([10.0, 20.0, 30.0])))
    assert opts.misset_seed == -5


def test_twotheta_axis_does_not_trigger_twotheta():
    opts = parse_flags(["-twotheta", "15", "-twotheta_axis", "0", "0", "-1"]).options
    assert opts.twotheta == pytest.approx(np.radians(15.0))


def test_prefix_of_a_flag_is_unknown():
    with pytest.raises(InputError, match="-mis"):
        parse_flags(["-mis", "1", "2", "3"])


def test_misset_seed_order_gives_same_image(tmp_path):
    cell = ["-cell", "70", "80", "90", "75", "85", "95"]
    rest = [a for a in BASE[7:]]
    a = nbcupy(*cell, "-misset_seed", "54321", "-misset", "random", *rest,
               "-floatfile", "a.bin", "-nonoise", "-nopgm", cwd=tmp_path)
    b = nbcupy(*cell, "-misset", "random", "-misset_seed", "54321", *rest,
               "-floatfile", "b.bin", "-nonoise", "-nopgm", cwd=tmp_path)
    c = nbcupy(*cell, "-misset_seed", "54321", *rest,
               "-floatfile", "c.bin", "-nonoise", "-nopgm", cwd=tmp_path)
    d = nbcupy(*cell, *rest, "-floatfile", "d.bin", "-nonoise", "-nopgm", cwd=tmp_path)
    for p in (a, b, c, d):
        assert p.returncode == 0, p.stderr
    ia, ib, ic, id_ = (read_float(tmp_path / f"{x}.bin") for x in "abcd")
    assert np.array_equal(ia, ib)          # order does not matter
    assert not np.array_equal(ia, ic)      # -misset random does rotate the crystal
    assert np.array_equal(ic, id_)         # -misset_seed alone changes nothing


# --------------------------------------------------------------------------------------
# accepted-without-effect flags


@pytest.mark.parametrize("extra", [["-coherent"], ["-density", "1.2"], ["-MW", "20000"]])
def test_noeffect_flag_runs_with_note(tmp_path, extra):
    ref = nbcupy(*BASE, "-floatfile", "ref.bin", "-nonoise", "-nopgm", cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    proc = nbcupy(*BASE, *extra, "-floatfile", "out.bin", "-nonoise", "-nopgm", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if extra[0] in ln]
    assert len(notes) == 1 and "note" in notes[0].lower() and "no effect" in notes[0], \
        proc.stderr
    assert extra[0] not in ref.stderr
    assert np.array_equal(read_float(tmp_path / "ref.bin"), read_float(tmp_path / "out.bin"))


# --------------------------------------------------------------------------------------
# output files


def test_default_output_names(tmp_path):
    proc = nbcupy(*BASE, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "floatimage.bin").stat().st_size == 4 * N * N
    for name in ("intimage.img", "noiseimage.img"):
        data = (tmp_path / name).read_bytes()
        assert len(data) == 512 + 2 * N * N, name
        assert data.startswith(b"{\nHEADER_BYTES=512;"), data[:40]
    pgm = (tmp_path / "image.pgm").read_bytes()
    assert pgm.startswith(f"P5\n{N} {N}\n".encode())
    assert pgm.endswith(b"\n255\n" + pgm[-N * N:]) and len(pgm) > N * N
    img = read_float(tmp_path / "floatimage.bin")
    assert np.all(np.isfinite(img)) and img.max() > 0
    for name in ("floatimage.bin", "intimage.img", "image.pgm", "noiseimage.img"):
        assert f"writing {name}" in proc.stdout, name
    assert not (tmp_path / "Fdump.bin").exists()  # only written with -hkl


@pytest.mark.parametrize("flag", ["-floatfile", "-intfile", "-pgmfile", "-noisefile"])
def test_unwritable_output_is_one_line_error(tmp_path, flag):
    """A file that cannot be written stops the run with one line, also while the noise image
    is being drawn on its own thread (images of 2^16 pixels or more), and leaves no noise
    image behind."""
    proc = nbcupy(*BASE, "-detpixels", "256", flag, str(tmp_path / "no-such-folder" / "out"),
                  cwd=tmp_path)
    assert_one_line_error(proc, "cannot write", "no-such-folder")
    assert not (tmp_path / "noiseimage.img").exists()
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_nonoise_nopgm_suppress_files(tmp_path):
    proc = nbcupy(*BASE, "-nonoise", "-nopgm", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "floatimage.bin").exists()
    assert (tmp_path / "intimage.img").exists()
    assert not (tmp_path / "image.pgm").exists()
    assert not (tmp_path / "noiseimage.img").exists()
    assert "noise image" not in proc.stdout


def test_named_outputs(tmp_path):
    proc = nbcupy(*BASE, "-floatfile", "f.bin", "-intfile", "i.img", "-noisefile", "n.img",
                  "-pgmfile", "p.pgm", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in ("f.bin", "i.img", "n.img", "p.pgm"):
        assert (tmp_path / name).is_file(), name
    assert no_outputs(tmp_path) == []


def test_fdump_written_and_read_back(tmp_path):
    shutil.copy(INPUTS / "pattern.hkl", tmp_path / "pattern.hkl")
    first = nbcupy(*NO_DEFAULT_F, "-hkl", "pattern.hkl", "-floatfile", "a.bin", "-nonoise",
                   "-nopgm", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "Fdump.bin").is_file()
    assert re.search(r"writing dump file.*Fdump\.bin", first.stdout)
    assert "6 initialized hkls" in first.stdout

    (tmp_path / "pattern.hkl").unlink()  # the second run can only use the cache
    second = nbcupy(*NO_DEFAULT_F, "-floatfile", "b.bin", "-nonoise", "-nopgm", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert re.search(r"reading Fs from Fdump\.bin", second.stdout), second.stdout
    a, b = read_float(tmp_path / "a.bin"), read_float(tmp_path / "b.bin")
    assert a.max() > 0
    assert np.array_equal(a, b)

    # without the cache the same flags give another image (default_F only)
    (tmp_path / "Fdump.bin").unlink()
    third = nbcupy(*NO_DEFAULT_F, "-default_F", "7", "-floatfile", "c.bin", "-nonoise",
                   "-nopgm", cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert "reading Fs from" not in third.stdout
    assert not np.array_equal(a, read_float(tmp_path / "c.bin"))


def test_roi_is_zero_outside(tmp_path):
    full = nbcupy(*BASE, "-floatfile", "full.bin", "-nonoise", "-nopgm", cwd=tmp_path)
    roi = nbcupy(*BASE, "-roi", "2", "5", "3", "9", "-floatfile", "roi.bin", "-nonoise",
                 "-nopgm", cwd=tmp_path)
    assert full.returncode == 0 and roi.returncode == 0, roi.stderr
    a, b = read_float(tmp_path / "full.bin"), read_float(tmp_path / "roi.bin")
    inside = np.zeros((N, N), bool)
    inside[3:10, 2:6] = True  # -roi xmin xmax ymin ymax, inclusive; x = fast = column
    assert np.all(b[~inside] == 0)
    assert np.all(b[inside] > 0)
    assert np.array_equal(b[inside], a[inside])
    assert np.any(a[~inside] > 0)


def test_roi_malformed(tmp_path):
    assert_one_line_error(nbcupy(*BASE, "-roi", "5", "2", "0", "3", cwd=tmp_path), "-roi")


# --------------------------------------------------------------------------------------
# the API behind the command


def test_run_honours_redirected_stdout(tmp_path, monkeypatch):
    import nbcupy.api

    monkeypatch.chdir(tmp_path)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        nbcupy.api.run(BASE + ["-nonoise", "-nopgm"])
    assert "max_I = " in buf.getvalue()


def test_run_writes_to_given_stream(tmp_path, monkeypatch):
    import nbcupy.api

    monkeypatch.chdir(tmp_path)
    buf = io.StringIO()
    res = nbcupy.api.run(BASE + ["-nonoise", "-nopgm", "-floatfile", "x.bin"], out=buf)
    text = buf.getvalue()
    m = re.search(r"^max_I = (\S+)", text, re.M)
    assert m and float(m.group(1)) == pytest.approx(float(res.image_f32.max()), rel=1e-5)
    assert np.array_equal(read_float(tmp_path / "x.bin"), res.image_f32)
