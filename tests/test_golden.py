"""End-to-end regression against nanoBragg.c's golden outputs (golden/manifest.json).

Every case runs the real command line (``python -m nbcupy.cli.app <the case's exact args>``)
in a fresh folder holding a copy of ``golden/inputs``, exactly as the reference data were
made, and compares the float image, the printed statistics and (for
``outputs_int_noise_pgm``) the SMV/PGM files byte for byte.

The command runs in a subprocess rather than through ``typer.testing.CliRunner``: the
summary is printed to a stream bound when :mod:`nbcupy.api` is imported, so in-process
runs after the first one cannot be captured (see ``test_cli.py``).
"""

from __future__ import annotations

import gzip
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support import printout_differences

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = json.loads((GOLDEN / "manifest.json").read_text())
CASES = CASES["cases"] if isinstance(CASES, dict) else CASES
BY_NAME = {c["name"]: c for c in CASES}

MIN_CORR = 0.99999
MAX_REL_DIFF_F64 = 1e-5
MAX_REL_DIFF_F32 = 1e-4
STATS_RTOL = 1e-5

#: a representative subset that is also run with the float32 engine
FLOAT32_CASES = [
    "cubic_mosflm_128",
    "triclinic_misset",
    "matrix_file",
    "interpolate",
    "phi_sweep",
    "mosaic",
    "divergence_dispersion",
    "oversample_flags",
    "curved_det",
    "dmin_roi",
    "sample_pivot",
]

MAX_RE = re.compile(r"^max_I = (\S+)\s+at (\S+) (\S+)\s*$", re.M)
MEAN_RE = re.compile(r"^mean= (\S+) rms= (\S+) rmsd= (\S+)\s*$", re.M)

# the files named by these flags must be byte-identical to the stored .gz files
EXTRA_OUTPUT_FLAGS = ("-intfile", "-intimage", "-noisefile", "-noiseimage", "-pgmfile",
                      "-pgmimage")


def test_manifest_has_all_cases():
    assert len(CASES) >= 32
    assert len(BY_NAME) == len(CASES)  # names are unique
    for case in CASES:
        assert (GOLDEN / "cases" / case["name"] / "float.bin.gz").is_file(), case["name"]
    assert set(FLOAT32_CASES) <= set(BY_NAME)


def _read_float(raw: bytes, case: dict) -> np.ndarray:
    fp, sp = int(case["fpixels"]), int(case["spixels"])
    assert len(raw) == 4 * fp * sp, f"{len(raw)} bytes, expected {4 * fp * sp}"
    return np.frombuffer(raw, "<f4").reshape(sp, fp).astype(np.float64)


def _reference(case: dict) -> np.ndarray:
    raw = gzip.decompress((GOLDEN / "cases" / case["name"] / "float.bin.gz").read_bytes())
    return _read_float(raw, case)


def _float_name(args: list[str]) -> str:
    flag = "-floatfile" if "-floatfile" in args else "-floatimage"
    return args[args.index(flag) + 1]


def _run_case(case: dict, tmp_path: Path, extra: tuple[str, ...] = ()) -> tuple[Path, str]:
    shutil.copytree(GOLDEN / "inputs", tmp_path / "inputs")
    cmd = [sys.executable, "-m", "nbcupy.cli.app", *case["args"], *extra]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == case.get("exit_code", 0), (
        f"exit {proc.returncode}\nstderr:\n{proc.stderr[-2000:]}")
    assert "Traceback" not in proc.stderr
    return tmp_path, proc.stdout


def _compare(ref: np.ndarray, got: np.ndarray) -> tuple[float, float]:
    assert got.shape == ref.shape
    assert np.all(np.isfinite(got))
    scale = float(np.max(np.abs(ref)))
    assert scale > 0
    rel = float(np.max(np.abs(ref - got))) / scale
    assert np.std(ref) > 0 and np.std(got) > 0
    corr = float(np.corrcoef(ref.ravel(), got.ravel())[0, 1])
    return corr, rel


def _close(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=STATS_RTOL, abs_tol=0.0)


@pytest.mark.parametrize("name", [c["name"] for c in CASES])
def test_golden_case(name, tmp_path):
    case = BY_NAME[name]
    work, stdout = _run_case(case, tmp_path)

    # float image
    out = work / _float_name(case["args"])
    assert out.is_file(), "no float image written"
    got = _read_float(out.read_bytes(), case)
    ref = _reference(case)
    corr, rel = _compare(ref, got)
    assert corr >= MIN_CORR, f"correlation {corr:.8f}"
    assert rel <= MAX_REL_DIFF_F64, f"max |diff| / max = {rel:.3e}"

    # printed statistics
    stats = case["stats"]
    m = MAX_RE.search(stdout)
    assert m, "no 'max_I = ... at ...' line on stdout"
    assert _close(float(m.group(1)), stats["max_I"]), (m.group(1), stats["max_I"])
    loc = stats.get("max_I_location_m")
    if loc is not None:
        assert _close(float(m.group(2)), loc["fast"]), (m.group(2), loc)
        assert _close(float(m.group(3)), loc["slow"]), (m.group(3), loc)
    m = MEAN_RE.search(stdout)
    assert m, "no 'mean= ... rms= ... rmsd= ...' line on stdout"
    assert _close(float(m.group(1)), stats["mean"]), (m.group(1), stats["mean"])
    assert _close(float(m.group(2)), stats["rms"]), (m.group(2), stats["rms"])
    if "rmsd" in stats:
        assert _close(float(m.group(3)), stats["rmsd"]), (m.group(3), stats["rmsd"])
    # the printed maximum is the maximum of the image that was written
    assert _close(float(got.max()), stats["max_I"])

    # everything else nanoBragg printed, line by line (nbcupy's backend line replaces its
    # banner), numbers to their printed precision
    printed = (GOLDEN / "cases" / name / "stdout.txt").read_text().splitlines()
    problems = printout_differences(printed[1:], stdout.splitlines()[1:])
    assert not problems, "\n".join(problems)

    # extra output files, byte for byte
    args = case["args"]
    named = [args[i + 1] for i, a in enumerate(args[:-1]) if a in EXTRA_OUTPUT_FLAGS]
    stored = [n for n in named if (GOLDEN / "cases" / name / (Path(n).name + ".gz")).exists()]
    if name == "outputs_int_noise_pgm":
        assert sorted(stored) == ["img.pgm", "int.img", "noise.img"]
    for fname in stored:
        mine = work / fname
        assert mine.is_file(), f"{fname} not written"
        want = gzip.decompress((GOLDEN / "cases" / name / (Path(fname).name + ".gz"))
                               .read_bytes())
        data = mine.read_bytes()
        assert len(data) == len(want), f"{fname}: {len(data)} bytes, expected {len(want)}"
        assert data == want, f"{fname} differs from nanoBragg's"


@pytest.mark.parametrize("name", FLOAT32_CASES)
def test_golden_case_float32(name, tmp_path):
    case = BY_NAME[name]
    work, stdout = _run_case(case, tmp_path, extra=("--dtype", "float32"))
    assert "float32" in stdout, "the float32 engine was not selected"
    got = _read_float((work / _float_name(case["args"])).read_bytes(), case)
    corr, rel = _compare(_reference(case), got)
    assert corr >= MIN_CORR, f"correlation {corr:.8f}"
    assert rel <= MAX_REL_DIFF_F32, f"max |diff| / max = {rel:.3e}"
