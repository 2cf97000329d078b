"""``nbcupy series``: frames equal the single-image command byte for byte, the manifest,
--resume, stills, uniform orientations and bad input.

The command runs as ``python -m nbcupy.cli.app series`` in a temporary folder (a real
process, real files).  The Dask tests are in ``test_series_cluster.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.series_support import (
    HEAVY,
    HEAVY_FRAMES,
    files_in,
    log_lines,
    ok,
    run,
    series,
    start_series,
    wait_for_frames,
)
from tests.support import assert_one_line_error

# a triclinic crystal with a random misset and mosaic domains: every stream of nanoBragg's
# generator is used before the noise image
FLAGS = ["-cell", "70", "80", "90", "75", "85", "95", "-misset", "random", "-misset_seed", "5",
         "-lambda", "1.5", "-N", "3", "-default_F", "100", "-detpixels", "24", "-pixel",
         "0.5", "-distance", "60", "-mosaic", "0.5", "-mosaic_dom", "3", "-phi", "0.1",
         "-osc", "0.1", "-phisteps", "2", "-noprogress"]


# ---- each frame is the single-image command -------------------------------------------------

@pytest.mark.parametrize("image,ext,single_flag,seed", [
    ("noise", ".img", "-noisefile", "7"),
    ("noise", ".img", "-noisefile", "-2"),  # seeds -2, -1, 0: the shuffle table is reused
    ("int", ".img", "-intfile", "7"),
    ("float", ".bin", "-floatfile", "7"),
])
def test_frames_equal_the_single_image_command(tmp_path, image, ext, single_flag, seed):
    ok(series(*FLAGS, "-seed", seed, "--frames", "3", "--image", image,
              "--template", f"run/f_###{ext}", cwd=tmp_path))
    frames = {e["frame"]: e for e in log_lines(tmp_path / "run" / "f_###.jsonl")
              if e["type"] == "frame"}
    assert sorted(frames) == [1, 2, 3]
    # -phi 0.1 -osc 0.1: frame 3 starts at 0.3, the number a user types (not 0.1 + 2 * 0.1)
    starts = {1: "0.1", 2: "0.2", 3: "0.3"}
    for k, phi in starts.items():
        assert frames[k]["phi_start_deg"] == float(phi)
        assert frames[k]["seed"] == int(seed) + k - 1
    wanted = (1, 2, 3) if seed.startswith("-") or image == "noise" else (3,)
    for k in wanted:
        extra = [] if image == "noise" else ["-nonoise"]
        ok(run(*FLAGS, "-phi", starts[k], "-seed", str(int(seed) + k - 1), single_flag,
               f"single{ext}", "-nopgm", *extra, cwd=tmp_path))
        got = (tmp_path / "run" / f"f_{k:03d}{ext}").read_bytes()
        assert got == (tmp_path / f"single{ext}").read_bytes(), f"frame {k}"
        assert hashlib.sha256(got).hexdigest() == frames[k]["sha256"]
        assert len(got) == frames[k]["bytes"]


def test_frame_renderer_models_are_the_single_image_models():
    """The renderer's models of a frame are what prepare() builds for -phi/-seed."""
    import nbcupy
    from nbcupy.engine import EngineSettings
    from nbcupy.series.plan import SeriesPlan
    from nbcupy.series.renderer import FrameRenderer

    base = nbcupy.prepare([*FLAGS, "-seed", "7"])
    plan = SeriesPlan(first=1, count=4, seed=7, phi0_deg=0.1, osc_deg=0.1)
    frame = plan.frame(4)
    mine = FrameRenderer(base, EngineSettings()).models(frame)
    theirs = nbcupy.prepare([*FLAGS, "-phi", "0.4", "-seed", "10"])
    a, b = mine.simulation.spindle, theirs.simulation.spindle
    assert (a.phi0, a.phistep, a.phisteps, a.osc) == (b.phi0, b.phistep, b.phisteps, b.osc)
    assert mine.report.noise_seed == theirs.report.noise_seed == -10
    assert np.array_equal(mine.simulation.crystal.cell, theirs.simulation.crystal.cell)
    assert np.array_equal(mine.simulation.mosaic.umats, theirs.simulation.mosaic.umats)
    assert mine.rng.state() == theirs.rng.state()


# ---- manifest and --resume ------------------------------------------------------------------

def test_manifest_records_every_frame(tmp_path):
    proc = ok(series(*FLAGS, "-seed", "3", "--frames", "4", "--first", "10",
                     "--template", "out/img_####.img", cwd=tmp_path))
    out = tmp_path / "out"
    assert files_in(out) == ["img_####.json", "img_####.jsonl", "img_0010.img", "img_0011.img",
                             "img_0012.img", "img_0013.img"]
    doc = json.loads((out / "img_####.json").read_text())
    assert doc["format"] == "nbcupy-series" and doc["complete"] is True
    assert doc["frames_planned"] == doc["frames_done"] == 4
    run_ = doc["run"]
    assert run_["seed"] == 3 and run_["first"] == 10 and run_["mode"] == "rotation"
    assert run_["osc_deg"] == 0.1 and run_["phi0_deg"] == 0.1 and run_["phisteps"] == 2
    assert run_["misset_seed"] == 5 and run_["image"] == "noise"
    for i, rec in enumerate(doc["frames"]):
        k = 10 + i
        assert rec["frame"] == k and rec["file"] == f"img_{k:04d}.img"
        assert rec["seed"] == 3 + i
        assert rec["phi_start_deg"] == pytest.approx(0.1 + 0.1 * i, abs=1e-12)
        assert rec["phi_end_deg"] == pytest.approx(0.2 + 0.1 * i, abs=1e-12)
        data = (out / rec["file"]).read_bytes()
        assert rec["sha256"] == hashlib.sha256(data).hexdigest()
    assert "4 frames written" in proc.stdout.splitlines()[-1]
    assert "frames/s" in proc.stdout.splitlines()[-1]


def test_resume_makes_what_is_missing_or_damaged(tmp_path):
    ok(series(*FLAGS, "-seed", "3", "--frames", "5", "--template", "a/img_###.img",
              cwd=tmp_path))
    folder = tmp_path / "a"
    original = {k: (folder / f"img_{k:03d}.img").read_bytes() for k in range(1, 6)}
    (folder / "img_002.img").unlink()
    (folder / "img_004.img").write_bytes(original[4][:-10] + b"0123456789")  # same size
    (folder / ".img_005.img.0123456789ab.tmp").write_bytes(b"partial")  # a killed writer's
    with open(folder / "img_###.jsonl", "ab") as fh:
        fh.write(b'{"type":"frame","frame":3,"fi')  # a line cut short by a kill
    before = len(log_lines_tolerant(folder / "img_###.jsonl"))
    # the seed comes from the manifest; 2 more frames are added
    proc = ok(series(*FLAGS, "--frames", "7", "--resume", "--template", "a/img_###.img",
                     cwd=tmp_path))
    assert "3 of 7 frames already complete" in proc.stdout
    for k in range(1, 6):
        assert (folder / f"img_{k:03d}.img").read_bytes() == original[k], k
    assert not [n for n in files_in(folder) if n.endswith(".tmp")]
    lines = log_lines(folder / "img_###.jsonl")  # the torn line was cut off
    new = [e["frame"] for e in lines[before:] if e["type"] == "frame"]
    assert sorted(new) == [2, 4, 6, 7]
    doc = json.loads((folder / "img_###.json").read_text())
    assert doc["complete"] and [r["frame"] for r in doc["frames"]] == list(range(1, 8))
    # a second resume has nothing to do
    proc = ok(series(*FLAGS, "--frames", "7", "--resume", "--template", "a/img_###.img",
                     cwd=tmp_path))
    assert "0 frames written, 7 already complete" in proc.stdout


def log_lines_tolerant(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.endswith("}")]


def test_main_process_killed_then_resume_gives_the_same_bytes(tmp_path, series_reference):
    log = tmp_path / "run" / "img_##.jsonl"
    proc = start_series(*HEAVY, "--frames", str(HEAVY_FRAMES), "--template", "run/img_##.img",
                        cwd=tmp_path)
    try:
        wait_for_frames(log, 3, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    made = [n for n in files_in(tmp_path / "run") if n.endswith(".img")]
    assert 3 <= len(made) < HEAVY_FRAMES, made
    for name in made:  # every file there is complete: the frame of the reference
        k = int(name[4:6])
        assert (tmp_path / "run" / name).read_bytes() == series_reference[k], name
    ok(series(*HEAVY, "--frames", str(HEAVY_FRAMES), "--resume", "--template", "run/img_##.img",
              cwd=tmp_path))
    for k, data in series_reference.items():
        assert (tmp_path / "run" / f"img_{k:02d}.img").read_bytes() == data, k
    assert not [n for n in files_in(tmp_path / "run") if n.endswith(".tmp")]


def test_ctrl_c_keeps_completed_frames(tmp_path, series_reference):
    log = tmp_path / "run" / "img_##.jsonl"
    proc = start_series(*HEAVY, "--frames", str(HEAVY_FRAMES), "--template", "run/img_##.img",
                        cwd=tmp_path)
    try:
        wait_for_frames(log, 2, proc)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in out.splitlines()[-1]
    doc = json.loads((tmp_path / "run" / "img_##.json").read_text())
    assert not doc["complete"] and doc["frames_done"] == len(doc["frames"]) >= 2
    for rec in doc["frames"]:
        assert (tmp_path / "run" / rec["file"]).read_bytes() == series_reference[rec["frame"]]
    assert not [n for n in files_in(tmp_path / "run") if n.endswith(".tmp")]


# ---- stills ---------------------------------------------------------------------------------

STILL = ["-cell", "60", "70", "80", "90", "90", "90", "-lambda", "1.2", "-N", "4", "-default_F",
         "100", "-detpixels", "24", "-pixel", "0.5", "-distance", "50", "-noprogress"]


def test_a_still_recomputed_alone_equals_the_frame_of_the_run(tmp_path):
    from nbcupy.series.orientation import random_rotation

    ok(series(*STILL, "-seed", "10", "--stills", "--orientation-seed", "99", "--frames", "4",
              "--template", "all/s_###.img", cwd=tmp_path))
    ok(series(*STILL, "-seed", "12", "--stills", "--orientation-seed", "99", "--first", "3",
              "--frames", "1", "--template", "one/s_###.img", cwd=tmp_path))
    assert (tmp_path / "all" / "s_003.img").read_bytes() == \
        (tmp_path / "one" / "s_003.img").read_bytes()
    doc = json.loads((tmp_path / "all" / "s_###.json").read_text())
    mats = []
    for rec in doc["frames"]:
        u = np.array(rec["orientation"])
        assert np.array_equal(u, random_rotation(99, rec["frame"]))
        assert rec["phi_deg"] == 0.0 and rec["seed"] == 10 + rec["frame"] - 1
        mats.append(u)
    assert len({m.tobytes() for m in mats}) == 4
    images = [(tmp_path / "all" / f"s_{k:03d}.img").read_bytes() for k in range(1, 5)]
    assert len(set(images)) == 4
    # the same frame through the API: the prepared models turned by U
    import nbcupy

    models = nbcupy.prepare([*STILL, "-osc", "0", "-phisteps", "1"])
    res = nbcupy.simulate(models.with_orientation(mats[2]).with_seed(12))
    from nbcupy.series.images import frame_pixels

    pixels, _ = frame_pixels(res, "noise")
    assert images[2][-pixels.nbytes:] == pixels.astype("<u2").tobytes()


def _cos_z_and_angles(mats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cos_z = mats[:, 2, 2]  # z component of the turned z axis
    angle = np.arccos(np.clip((np.trace(mats, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0))
    return cos_z, angle


def _uniform_on_so3_pvalues(mats: np.ndarray) -> tuple[float, float]:
    """KS p-values: a turned axis uniform on the sphere (its z component uniform on
    [-1, 1]), and the rotation angle with the Haar density (1 - cos w) / pi."""
    from scipy import stats

    cos_z, angle = _cos_z_and_angles(mats)
    p_axis = stats.kstest(cos_z, stats.uniform(loc=-1.0, scale=2.0).cdf).pvalue
    p_angle = stats.kstest(angle, lambda w: (w - np.sin(w)) / math.pi).pvalue
    return float(p_axis), float(p_angle)


def test_still_orientations_are_uniform_over_rotations():
    from nbcupy.nanobragg.rng import NanoBraggRandom, SeedStream
    from nbcupy.series.orientation import random_rotation

    mats = np.array([random_rotation(2024, k) for k in range(3000)])
    assert np.allclose(np.einsum("nij,nkj->nik", mats, mats), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(mats), 1.0)
    p_axis, p_angle = _uniform_on_so3_pvalues(mats)
    assert p_axis > 1e-3 and p_angle > 1e-3, (p_axis, p_angle)
    # the same test rejects a spherical cap (rotations of at most 1 rad about random axes,
    # nanoBragg's mosaic-domain generator) and half of the rotations
    rng, stream = NanoBraggRandom(), SeedStream(-1)
    cap = np.array([rng.mosaic_rotation_umat(1.0, stream) for _ in range(3000)])
    assert max(_uniform_on_so3_pvalues(cap)) < 1e-6
    half = mats[mats[:, 2, 2] > -0.2]
    assert min(_uniform_on_so3_pvalues(half)) < 1e-6


# ---- bad input: one line, nothing written ---------------------------------------------------

@pytest.mark.parametrize("args,words", [
    (["--frames", "3", "--template", "out/img.img"], ["--template", "'#'"]),
    (["--frames", "3", "--template", "out/i_##_##.img"], ["--template", "more than one"]),
    (["--frames", "0", "--template", "out/i_##.img"], ["--frames", "1"]),
    (["--frames", "-2", "--template", "out/i_##.img"], ["--frames"]),
    (["--frames", "two", "--template", "out/i_##.img"], ["--frames", "two"]),
    (["--frames", "12", "--template", "out/i_#.img"], ["--template", "2 digits"]),
    (["--frames", "2"], ["--template", "required"]),
    (["--frames", "2", "--template", "out/i_##.xyz"], ["--template", ".xyz"]),
    (["--frames", "2", "--template", "out/i_##.img", "--image", "float"], ["--image float",
                                                                          "SMV"]),
    (["--frames", "2", "--template", "out/i_##.bin"], ["--image noise", "raw float"]),
    (["--frames", "2", "--template", "out/i_##.img", "--image", "pgm"], ["--image pgm"]),
    (["--frames", "2", "--template", "out/i_##.img", "-floatfile", "x.bin"], ["-floatfile"]),
    (["--frames", "2", "--template", "out/i_##.img", "--stills", "-osc", "1"], ["-osc",
                                                                               "stills"]),
    (["--frames", "2", "--template", "out/i_##.img", "--orientation-seed", "3"],
     ["--orientation-seed", "--stills"]),
    (["--frames", "2", "--template", "out/i_##.img", "--workers", "2", "--scheduler",
      "tcp://127.0.0.1:9"], ["--workers", "--scheduler"]),
    (["--frames", "2", "--template", "out/i_##.img", "--bogus"], ["--bogus"]),
    (["--frames", "2", "--template", "out/i_##.img", "-lambda", "1e10"], ["-lambda", "1e+10"]),
    (["--frames", "2", "--template", "out/i_##.img", "-seed", "2147483647"], ["-seed"]),
    (["--frames", "2", "--template", "file/i_##.img"], ["--template", "not a folder"]),
    (["--frames", "2", "--template", "out/i_##.img", "--scheduler-file", "nothere.json"],
     ["--scheduler-file", "nothere.json"]),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, words):
    (tmp_path / "file").write_text("a file, not a folder\n")
    before = files_in(tmp_path)
    proc = series(*STILL, *args, cwd=tmp_path)
    assert_one_line_error(proc, *words)
    assert files_in(tmp_path) == before


def test_unreachable_scheduler_is_one_line_and_writes_nothing(tmp_path):
    import socket

    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t0 = time.monotonic()
    proc = series(*STILL, "--frames", "2", "--template", "out/i_##.img", "--scheduler",
                  f"tcp://127.0.0.1:{port}", "--connect-timeout", "1", cwd=tmp_path)
    assert time.monotonic() - t0 < 30
    assert_one_line_error(proc, "--scheduler", f"127.0.0.1:{port}", "cannot reach")
    assert files_in(tmp_path) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="permissions do not bind the superuser")
def test_unwritable_folder_is_one_line_and_writes_nothing(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        proc = series(*STILL, "--frames", "2", "--template", "locked/i_##.img", cwd=tmp_path)
        assert_one_line_error(proc, "--template", "not writable")
        assert files_in(folder) == []
        proc = series(*STILL, "--frames", "2", "--template", "locked/sub/i_##.img",
                      cwd=tmp_path)
        assert_one_line_error(proc, "--template", "not writable")
        assert files_in(folder) == []
    finally:
        folder.chmod(0o700)


def test_an_existing_series_needs_resume_and_the_same_flags(tmp_path):
    ok(series(*STILL, "-seed", "1", "--frames", "2", "--template", "s/i_##.img", cwd=tmp_path))
    before = {n: (tmp_path / "s" / n).read_bytes() for n in files_in(tmp_path / "s")}
    proc = series(*STILL, "-seed", "1", "--frames", "2", "--template", "s/i_##.img",
                  cwd=tmp_path)
    assert_one_line_error(proc, "--resume")
    proc = series(*STILL, "-N", "5", "--frames", "2", "--resume", "--template", "s/i_##.img",
                  cwd=tmp_path)
    assert_one_line_error(proc, "--resume", "flags")
    proc = series(*STILL, "-seed", "2", "--frames", "2", "--resume", "--template",
                  "s/i_##.img", cwd=tmp_path)
    assert_one_line_error(proc, "--resume", "seed")
    proc = series(*STILL, "--frames", "2", "--resume", "--image", "int", "--template",
                  "s/i_##.img", cwd=tmp_path)
    assert_one_line_error(proc, "--resume", "image")
    assert {n: (tmp_path / "s" / n).read_bytes() for n in files_in(tmp_path / "s")} == before


def test_help_and_no_arguments(tmp_path):
    proc = ok(series("--help", cwd=tmp_path))
    assert "--template" in proc.stdout and "--workers" in proc.stdout
    assert series(cwd=tmp_path).returncode == 2
    assert "nbcupy series" in ok(run("--help", cwd=tmp_path)).stdout
