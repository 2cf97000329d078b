"""Differential tests against a nanoBragg.c binary, beyond the golden set.

They run only where ``NB_C_BIN`` names a nanoBragg executable (build it yourself from the public
repository; it is never part of this project).  Each case runs both programs single-threaded on
a small detector and requires the golden criteria plus identical printed statistics.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

NB = os.environ.get("NB_C_BIN")
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "inputs"
pytestmark = pytest.mark.skipif(not NB or not Path(NB).exists(),
                                reason="set NB_C_BIN to a nanoBragg binary to compare with")

BASE = ("-cell 100 100 100 90 90 90 -lambda 1.0 -N 5 -default_F 100 -detpixels 64 -pixel 0.1 "
        "-distance 100 -seed 1 -noprogress -nopgm -floatfile f.bin")
CASES = {
    "interp_out_of_range": "-cell 30 30 30 90 90 90 -hkl inputs/random20.hkl -lambda 1.0 -N 2 "
    "-detpixels 64 -pixel 0.2 -distance 40 -seed 1 -noprogress -nopgm -floatfile f.bin",
    "interp_forced": "-cell 100 100 100 90 90 90 -hkl inputs/random20.hkl -interpolate -lambda 1 "
    "-N 4 -detpixels 64 -pixel 0.1 -distance 100 -seed 1 -noprogress -nopgm -floatfile f.bin",
    "phi_negative_to_positive": BASE + " -phi -10 -osc 20 -phisteps 3",
    "phi0_dmin": BASE + " -phi 0 -osc 30 -phisteps 4 -dmin 15 -distance 50",
    "phi0_mosaic": BASE + " -phi 0 -osc 10 -phisteps 3 -mosaic 1 -mosaic_dom 3",
    "phistep": BASE + " -phi 3 -osc 2 -phistep 0.5",
    "phisteps_only": BASE + " -phisteps 4",
    "hdivsteps": BASE + " -hdivrange 1 -hdivsteps 3 -vdivrange 0.5 -vdivsteps 2",
    "square_div": BASE + " -divergence 0.4 -hdivstep 0.1 -vdivstep 0.2 -square_div",
    "xtalsize": BASE + " -xtalsize 0.0004",
    "detsize": BASE.replace("-detpixels 64", "-detsize 6.4"),
    "rectangular": BASE.replace("-detpixels 64", "-detpixels_f 48 -detpixels_s 64"),
    "xds_twotheta_orgx": BASE + " -xds -twotheta 10 -ORGX 20 -ORGY 30",
    "denzo_beam": BASE + " -denzo -Xbeam 3 -Ybeam 4",
    "adxv_rotz": BASE + " -adxv -detector_rotz 7 -Xbeam 2 -Ybeam 5",
    "custom_close_distance": BASE.replace("-distance 100", "-close_distance 90")
    + " -fdet_vector 0 0 1 -sdet_vector 0 -1 0 -odet_vector 1 0 0 -beam_vector 1 0 0 "
    "-Xclose 3 -Yclose 3.3 -detector_roty 5",
    "curved_xds": BASE + " -curved_det -xds",
    "mat_and_cell": "-mat inputs/A.mat -cell 78.9 84.1 91.3 82 95 101 -default_F 100 -lambda 1 "
    "-N 5 -detpixels 64 -pixel 0.1 -distance 100 -seed 1 -noprogress -nopgm -floatfile f.bin",
    "energy_dispersion": BASE + " -energy 9000 -dispersion 1 -dispsteps 4",
    "absorption_twotheta": BASE + " -detector_abs 300 -detector_thick 200 -thicksteps 3 "
    "-twotheta 20",
    "oversample_omega_only": BASE + " -oversample 3 -oversample_omega -distance 50",
    "oversample_polar_nopolar": BASE + " -oversample 2 -oversample_polar -nopolar -polar 0.5",
    "round_fudge": BASE + " -round_xtal -fudge 0.5 -Na 3 -Nb 7",
    "gauss_small": BASE + " -gauss_xtal -N 3 -oversample 1",
    "tophat_water": BASE + " -tophat_spots -water 5",
    "point_pixel_water": BASE + " -point_pixel -water 1",
    "roi_mosaic_seed": BASE + " -roi 5 40 10 50 -mosaic 0.3 -mosaic_dom 4 -mosaic_seed 77",
    "sourcefile_dmin": BASE + " -sourcefile inputs/sources.txt -dmin 20",
    "dmin_polar_divergence": BASE + " -dmin 12 -polar 0.8 -distance 60 -hdivrange 0.5 "
    "-hdivstep 0.25",
    "misset_random_seed": "-misset_seed 99 -misset random " + BASE
    + " -cell 50 60 70 80 90 100",
}

#: issue 12's reproducers of parity bugs; each adds ISSUE_OUTPUTS, and the SMV and noise
#: images must be identical too
ISSUE_OUTPUTS = "-floatfile f.bin -intfile int.img -noisefile noise.img -nopgm -noprogress -seed 7"
ISSUE_CASES = {
    # automatic interpolation is decided from -N, before crystal sizes become cell counts
    "interp_auto_from_N_samplesize": "-mat inputs/A.mat -N 1 -lambda 1.75 -detpixels 92 "
    "-pixel 0.1 -distance 100 -samplesize 3.82e-05 -hkl inputs/random20.hkl",
    "interp_auto_from_N_sample_size": "-mat inputs/A.mat -N 8 -lambda 1.75 -detpixels 92 "
    "-pixel 0.1 -distance 100 -sample_size 5.44e-06 -hkl inputs/random20.hkl",
    # an E-vector along the beam: nanoBragg's unitize() leaves the zero frame zero
    "polar_vector_along_beam": "-cell 100 100 100 90 90 90 -N 5 -lambda 1 -default_F 100 "
    "-detpixels 48 -pixel 0.1 -distance 60 -polar_vector 1 0 0 -polar 0.9",
    # -detector_abs inf before -detector_thick: nanoBragg keeps the thickness, with mu = 0
    "detector_abs_inf_then_thick": "-cell 100 100 100 90 90 90 -N 5 -lambda 1 -default_F 100 "
    "-detpixels 24 -distance 100 -detector_abs inf -detector_thick 100",
    "detector_abs_0_then_thick_layers": "-cell 100 100 100 90 90 90 -N 5 -lambda 1 "
    "-default_F 100 -detpixels 24 -distance 100 -detector_abs 0 -detector_thick 100 "
    "-thicksteps 3 -oversample_thick -oversample 2",
    "detector_thick_then_abs_inf": "-cell 100 100 100 90 90 90 -N 5 -lambda 1 -default_F 100 "
    "-detpixels 24 -distance 100 -detector_thick 100 -detector_abs inf",
    "polar_vector_along_beam_dmin": "-cell 100 100 100 90 90 90 -N 5 -lambda 1 -default_F 100 "
    "-detpixels 48 -pixel 0.1 -distance 60 -polar_vector 1 0 0 -polar 0.9 -dmin 30 "
    "-hdivrange 0.5 -hdivsteps 3",
    # the capture fraction of a zero-thickness layer is 0: nanoBragg writes an all-zero image
    "oversample_thick_without_sensor": "-cell 165.7 165.7 165.7 90 90 90 -N 8 -lambda 1.84 "
    "-default_F 286.4 -detpixels 58 -pixel 0.05 -distance 52.3 -oversample_thick",
    # the interpolation cut-off counts only evaluations that reach the range test
    "interp_cutoff_dmin": "-cell 100 100 100 90 90 90 -N 5 -lambda 1 -default_F 100 "
    "-detpixels 96 -pixel 0.2 -distance 30 -hkl inputs/random20.hkl -oversample 1 "
    "-interpolate -dmin 10",
    "interp_cutoff_dmin_tophat": "-cell 100 100 100 90 90 90 -N 5 -lambda 1 -default_F 100 "
    "-detpixels 96 -pixel 0.2 -distance 30 -hkl inputs/random20.hkl -oversample 1 "
    "-interpolate -dmin 10 -tophat_spots",
}

#: spellings from nanoBragg's README and examples (see test_flag_spellings.py)
SPELLING_CASES = {
    "matrix_adcoffset": "-matrix inputs/A.mat -hkl inputs/random20.hkl -lambda 1 -N 3 "
    "-detpixels 48 -distance 80 -adcoffset 25 -seed 1 -noprogress -nopgm -floatfile f.bin "
    "-intfile int.img -noisefile noise.img",
    "skipped_spellings": "-cell 74 74 36 90 90 90 -misset 10 20 30 -default_F 100 -lambda 1 "
    "-dispersion 0.1 -dispstep 3 -distance 100 -detsize 6 -pixel 0.1 -hdiv 0.28 -hdivstep 0.02 "
    "-vdiv 0.28 -vdivstep 0.02 -fluence 1e24 -N 0 -water 0 -detsize_x 20 -detsize_y 3 "
    "-xdet_vector 0 0 1 -ydet_vector 0 1 0 -zdet_vector 1 0 0 -source_distance 5000 -seed 1 "
    "-noprogress -nopgm -floatfile f.bin -intfile int.img -noisefile noise.img",
}



def _run(cmd: list[str], args: list[str], cwd: Path) -> tuple[np.ndarray, list[str]]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd + args, cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-500:] or proc.stdout[-500:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("max_I", "mean="))]
    return np.fromfile(cwd / "f.bin", "<f4").astype(np.float64), lines


def _both(args: list[str], tmp_path: Path, prepare=None) -> dict:
    """Run nanoBragg.c and nbcupy on ``args``, each in its own folder under ``tmp_path``
    holding the golden inputs (or what ``prepare(folder)`` makes): {"c": (image, lines),
    "py": (image, lines)}."""
    results = {}
    for who, cmd in (("c", [NB]), ("py", [sys.executable, "-m", "nbcupy.cli.app"])):
        work = tmp_path / who
        work.mkdir()
        if prepare is None:
            shutil.copytree(GOLDEN, work / "inputs")
        else:
            prepare(work)
        results[who] = _run(cmd, args, work)
    return results


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_image_as_nanobragg(name: str, tmp_path: Path) -> None:
    args = shlex.split(CASES[name])
    results = _both(args, tmp_path)
    ref, ref_lines = results["c"]
    got, got_lines = results["py"]
    assert ref.shape == got.shape
    scale = float(np.abs(ref).max())
    assert float(np.abs(ref - got).max()) <= 1e-5 * scale
    if ref.std() > 0:
        assert np.corrcoef(ref, got)[0, 1] >= 0.99999
    assert got_lines == ref_lines


@pytest.mark.parametrize("name", sorted(ISSUE_CASES) + sorted(SPELLING_CASES))
def test_issue_reproducers_and_spellings_as_nanobragg(name: str, tmp_path: Path) -> None:
    line = ISSUE_CASES[name] + " " + ISSUE_OUTPUTS if name in ISSUE_CASES else SPELLING_CASES[name]
    args = shlex.split(line)
    results = _both(args, tmp_path)
    ref, ref_lines = results["c"]
    got, got_lines = results["py"]
    assert np.all(np.isfinite(got))
    assert float(np.abs(ref - got).max()) <= 1e-5 * float(np.abs(ref).max())
    if ref.std() > 0:
        assert np.corrcoef(ref, got)[0, 1] >= 0.99999
    assert got_lines == ref_lines
    for image in ("int.img", "noise.img"):
        assert (tmp_path / "py" / image).read_bytes() == (tmp_path / "c" / image).read_bytes()


@pytest.mark.parametrize("extra", ["-img inputs/h.img", "-mask inputs/m.img",
                                   "-mask inputs/m.img -img inputs/h.img -roi 2 30 3 40"])
def test_header_and_mask_inputs_as_nanobragg(extra: str, tmp_path: Path) -> None:
    from nbcupy.io.smv import SMVHeaderFields, write_smv

    pixels = np.ones((48, 40), np.uint16)
    pixels[10:20, 5:25] = 0
    fields = SMVHeaderFields(
        fpixels=40, spixels=48, pixel_size_mm=0.1, distance_mm=90.0, wavelength_A=1.3,
        beam_center_x_mm=2.0, beam_center_y_mm=1.5, adxv_center_x=0, adxv_center_y=0,
        mosflm_center_x=0, mosflm_center_y=0, denzo_x_beam=0, denzo_y_beam=0,
        dials_origin=(0.0, 0.0, 0.0), xds_orgx=0, xds_orgy=0, close_distance_mm=80.0,
        phi_deg=3.0, osc_start_deg=3.0, osc_range_deg=2.0)
    args = shlex.split("-cell 100 100 100 90 90 90 -N 5 -default_F 100 -seed 1 -noprogress "
                       "-nopgm -floatfile f.bin " + extra)

    def inputs(work: Path) -> None:
        (work / "inputs").mkdir()
        write_smv(work / "inputs" / "h.img", np.ones((48, 40), np.uint16), fields)
        write_smv(work / "inputs" / "m.img", pixels, fields)

    results = _both(args, tmp_path, inputs)
    assert results["py"][1] == results["c"][1]
    np.testing.assert_allclose(results["py"][0], results["c"][0], rtol=0,
                               atol=1e-5 * float(np.abs(results["c"][0]).max()))

