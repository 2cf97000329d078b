"""``nbcupy series`` with the file formats of processing programs and the single image's
Options-field options: CBF frames read by fabio, NeXus frames and the series' NeXus master
read by nxmx and h5py, ``--model``/``--column``/``--sensor-material``/``--png-*``/
``--smv-adc-offset`` reaching the models and the writers, and the run's identity.

Each frame is compared with the single-image command for the same frame (``-phi <start>
-seed <seed>``), a real process reading real files.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
from pathlib import Path

import fabio
import h5py
import hdf5plugin  # noqa: F401 - registers the bitshuffle filter for reading
import numpy as np
import nxmx
import pytest

from tests.series_support import (
    HEAVY,
    HEAVY_FRAMES,
    check_nexus_folder,
    files_in,
    log_lines,
    nexus_frames,
    ok,
    run,
    series,
    start_series,
    wait_for_frames,
)
from tests.support import assert_one_line_error

DATA = Path(__file__).parent / "data"
FLAGS = ["-cell", "70", "80", "90", "75", "85", "95", "-lambda", "1.5", "-N", "3",
         "-default_F", "100", "-detpixels_f", "24", "-detpixels_s", "20", "-pixel", "0.5",
         "-distance", "60", "-mosaic", "0.5", "-mosaic_dom", "2", "-phi", "1", "-osc", "0.25",
         "-phisteps", "2", "-exposure", "0.5", "-noprogress"]
STARTS = {1: "1", 2: "1.25", 3: "1.5"}
BITSHUFFLE = 32008  # HDF5 filter id of bitshuffle


def without(flags: list[str], name: str, values: int) -> list[str]:
    """``flags`` without the flag ``name`` and its ``values``."""
    at = flags.index(name)
    return flags[:at] + flags[at + 1 + values:]


def run_line(log: Path) -> dict:
    return [e for e in log_lines(log) if e["type"] == "run"][-1]


def single(tmp_path: Path, k: int, seed: int, *args: str) -> Path:
    """The single-image command for frame k of the series of FLAGS, in its own folder."""
    folder = tmp_path / f"single{k}"
    folder.mkdir(exist_ok=True)
    ok(run(*FLAGS, "-phi", STARTS[k], "-seed", str(seed), "-nopgm", *args, cwd=folder))
    return folder


# ---- CBF frames, read by fabio ---------------------------------------------------------------

def test_cbf_series_frames_are_the_single_image_counts_read_by_fabio(tmp_path):
    ok(series(*FLAGS, "-seed", "7", "--frames", "3", "--template", "c/f_###.cbf",
              "--sensor-material", "CdTe", cwd=tmp_path))
    log = tmp_path / "c" / "f_###.jsonl"
    start = datetime.datetime.fromisoformat(run_line(log)["start_time"])
    assert run_line(log)["options"] == {"sensor_material": "CdTe"}
    for k in (1, 3):
        image = fabio.open(str(tmp_path / "c" / f"f_{k:03d}.cbf"))
        ref = fabio.open(str(single(tmp_path, k, 6 + k, "--cbf", "one.cbf",
                                    "--sensor-material", "CdTe") / "one.cbf"))
        assert image.data.dtype == np.int32 and image.data.shape == (20, 24)
        np.testing.assert_array_equal(image.data, ref.data)
        header = image.header["_array_data.header_contents"]
        assert "CdTe sensor" in header
        assert f"# Start_angle {float(STARTS[k]):.6f} deg." in header
        assert "# Angle_increment 0.250000 deg." in header
        # one exposure (0.5 s) after the other, from the series' start
        stamp = start + datetime.timedelta(seconds=0.5 * (k - 1))
        assert f"# {stamp.strftime('%Y-%m-%dT%H:%M:%S.')}{stamp.microsecond // 1000:03d}" \
            in header
        ref_lines = ref.header["_array_data.header_contents"].splitlines()
        got_lines = header.splitlines()
        # everything but the time stamp (the single image's is "now") is the single image's
        assert [x for x in got_lines if not x.startswith("# 20")] == \
            [x for x in ref_lines if not x.startswith("# 20")]


def test_geometry_a_cbf_cannot_describe_gives_one_note(tmp_path):
    proc = ok(series(*FLAGS, "-dials", "-seed", "7", "--frames", "2", "--template",
                     "c/f_###.cbf", cwd=tmp_path))
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("note: CBF:")]
    assert notes and len(notes) == len(set(notes))  # said once, not once per frame


@pytest.mark.parametrize("ext", [".cbf", ".h5"])
def test_a_frame_made_again_has_the_same_bytes(tmp_path, ext):
    """The header times come from the series, not from the clock: a damaged CBF or NeXus
    frame made again by --resume is byte for byte the one before."""
    ok(series(*FLAGS, "-seed", "7", "--frames", "2", "--template", f"c/f_###{ext}",
              cwd=tmp_path))
    path = tmp_path / "c" / f"f_002{ext}"
    before = path.read_bytes()
    path.write_bytes(before[:-8] + b"damaged!")
    ok(series(*FLAGS, "--frames", "2", "--resume", "--template", f"c/f_###{ext}",
              cwd=tmp_path))
    assert path.read_bytes() == before


# ---- the Options-field options reach the models and the writers ----------------------------

@pytest.mark.parametrize("extra,ext,single_args", [
    (["--smv-adc-offset"], ".img", ["-noisefile", "one.img", "--smv-adc-offset"]),
    (["-hkl", str(DATA / "5e5z.mtz"), "--column", "I"], ".img",
     ["-noisefile", "one.img", "-hkl", str(DATA / "5e5z.mtz"), "--column", "I"]),
    (["--model", str(DATA / "5e5z.pdb")], ".img",
     ["-noisefile", "one.img", "--model", str(DATA / "5e5z.pdb")]),
    (["--png-brightness", "150", "--png-log"], ".png",
     ["--png", "one.png", "--png-brightness", "150", "--png-log"]),
])
def test_options_reach_the_frames_as_in_the_single_image(tmp_path, extra, ext, single_args):
    # the structure-factor files bring their cell
    flags = without(FLAGS, "-cell", 6) if "-hkl" in extra or "--model" in extra else FLAGS
    proc = ok(series(*flags, "-seed", "7", "--frames", "2", "--template", f"s/f_##{ext}",
                     *extra, cwd=tmp_path))
    folder = tmp_path / "single2"
    folder.mkdir()
    ok(run(*flags, "-phi", STARTS[2], "-seed", "8", "-nopgm", *single_args, cwd=folder))
    got = (tmp_path / "s" / f"f_02{ext}").read_bytes()
    assert got == (folder / f"one{ext}").read_bytes()
    if "--smv-adc-offset" in extra:
        assert b"ADC_OFFSET=40;" in got[:512]
    if "--column" in extra:
        assert "column I: intensities" in proc.stdout
    # the command that makes the series again carries the options and their values
    command = run_line(tmp_path / "s" / "f_##.jsonl")["command"]
    for i, arg in enumerate(extra):
        if arg.startswith("--"):
            at = command.index(arg)
            if i + 1 < len(extra) and not extra[i + 1].startswith("-"):
                value = extra[i + 1]
                assert command[at + 1] == (str(float(value)) if arg == "--png-brightness"
                                           else value)


def test_options_change_the_identity_where_they_change_the_frames(tmp_path):
    ok(series(*FLAGS, "-seed", "1", "--frames", "2", "--template", "s/f_##.cbf",
              "--sensor-material", "CdTe", cwd=tmp_path))
    before = {n: (tmp_path / "s" / n).read_bytes() for n in files_in(tmp_path / "s")}
    proc = series(*FLAGS, "--frames", "2", "--resume", "--template", "s/f_##.cbf",
                  cwd=tmp_path)
    assert_one_line_error(proc, "--resume", "options", "CdTe")
    assert {n: (tmp_path / "s" / n).read_bytes() for n in files_in(tmp_path / "s")} == before
    # an option the frames do not use is a note, not part of the identity
    proc = ok(series(*FLAGS, "--frames", "2", "--resume", "--template", "s/f_##.cbf",
                     "--sensor-material", "CdTe", "--png-log", cwd=tmp_path))
    assert "note: --png-log has no effect on CBF frames (it is for .png frames)" in proc.stderr
    assert "0 frames written, 2 already complete" in proc.stdout


@pytest.mark.parametrize("args,words", [
    (["--template", "o/f_##.img", "--cbf", "x.cbf"], ["--cbf", "--template"]),
    (["--template", "o/f_##.img", "--png", "x.png"], ["--png", "--template"]),
    (["--template", "o/f_##.cbf", "--sensor-material", "GaAs"], ["GaAs", "miniCBF"]),
    (["--template", "o/f_##.img", "--sensor-material", "Ge"], ["--sensor-material", "Ge"]),
    (["--template", "o/f_##.png", "--png-brightness", "-3"], ["--png-brightness"]),
    (["--template", "o/f_##.png", "--png-log=yes"], ["--png-log", "no value"]),
    (["--template", "o/f_##.img", "--smv-adc-offset", "-adc", "2.5"], ["--smv-adc-offset"]),
    (["--template", "o/f_##.img", "--column", "FP"], ["--column"]),
    (["--template", "o/f_##.img", "--model", "missing.pdb"], ["missing.pdb"]),
    (["--nexus", "o/run.cbf"], ["--nexus", ".h5"]),
    (["--nexus", "o/run.h5", "--template", "o/f_##.cbf"], ["--nexus", "--template"]),
    (["--nexus", "o/run.h5", "--image", "float"], ["--image float"]),
    (["--nexus", "o/f_01.h5", "--template", "o/f_##.h5"], ["--nexus", "named like a frame"]),
    (["--nexus", "file/run.h5"], ["--nexus", "not a folder"]),
    (["--nexus", ""], ["--nexus"]),
])
def test_bad_series_options_are_one_line_and_write_nothing(tmp_path, args, words):
    (tmp_path / "file").write_text("a file, not a folder\n")
    before = files_in(tmp_path)
    proc = series(*FLAGS, "--frames", "2", *args, cwd=tmp_path)
    assert_one_line_error(proc, *words)
    assert files_in(tmp_path) == before


def test_help_lists_the_options(tmp_path):
    text = ok(series("--help", cwd=tmp_path)).stdout
    for option in ("--model FILE", "--column LABEL", "--png-brightness N", "--png-log",
                   "--sensor-material Si|CdTe|GaAs", "--smv-adc-offset", "--nexus FILE"):
        assert option in text, option
    assert "--cbf" not in text and "--png FILE" not in text


# ---- NeXus frames and the series' master, read by nxmx ---------------------------------------

def test_nexus_master_is_a_rotation_series_of_the_frame_files(tmp_path):
    proc = ok(series(*FLAGS, "-seed", "7", "--frames", "3", "--nexus", "n/run.h5",
                     "--sensor-material", "GaAs", cwd=tmp_path))
    folder = tmp_path / "n"
    assert "NeXus master n/run.h5: frames 1..3 (all frames)" in proc.stdout
    assert [n for n in files_in(folder) if n.endswith(".h5")] == [
        "run.h5", "run_00001.h5", "run_00002.h5", "run_00003.h5"]
    omega, data = nexus_frames(folder / "run.h5")
    np.testing.assert_allclose(omega, [1.0, 1.25, 1.5], atol=1e-12)
    assert data.shape == (3, 20, 24) and data.dtype == np.int32
    with h5py.File(folder / "run.h5") as handle:
        ds = handle["/entry/data/data"]
        assert ds.is_virtual
        assert [s.file_name for s in ds.virtual_sources()] == [
            "run_00001.h5", "run_00002.h5", "run_00003.h5"]  # relative to the master
        entry = nxmx.NXmx(handle).entries[0]
        detector = entry.instruments[0].detectors[0]
        assert detector.sensor_material == "GaAs"
        assert detector.frame_time.to("s").magnitude == pytest.approx(0.5)
        start = entry.start_time
        # 3 exposures of 0.5 s (NeXus times are written to the second)
        assert entry.end_time == (start + datetime.timedelta(seconds=1.5)).replace(microsecond=0)
    for k in (1, 2, 3):
        frame = folder / f"run_{k:05d}.h5"
        with h5py.File(frame) as handle:  # the frame files: int32, one chunk, bitshuffle-LZ4
            ds = handle["/entry/data/data"]
            assert ds.shape == (1, 20, 24) and ds.dtype == np.int32
            assert ds.chunks == (1, 20, 24)
            assert BITSHUFFLE in ds._filters or str(BITSHUFFLE) in ds._filters
            assert handle["/entry/start_time"][()].decode() == (
                start + datetime.timedelta(seconds=0.5 * (k - 1))).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        frame_omega, frame_data = nexus_frames(frame)
        np.testing.assert_allclose(frame_omega, [float(STARTS[k])], atol=1e-12)
        np.testing.assert_array_equal(data[k - 1], frame_data[0])
        # the single image's --nexus holds the same counts
        ref = single(tmp_path, k, 6 + k, "--nexus", "one.h5", "--sensor-material", "GaAs")
        np.testing.assert_array_equal(data[k - 1], nexus_frames(ref / "one.h5")[1][0])
    # the folder moved as a whole: the master still finds its frames
    shutil.move(str(folder), str(tmp_path / "moved"))
    np.testing.assert_array_equal(nexus_frames(tmp_path / "moved" / "run.h5")[1], data)


def test_nexus_master_of_stills_has_no_goniometer(tmp_path):
    ok(series(*without(without(FLAGS, "-osc", 1), "-phisteps", 1),
              "-seed", "3", "--stills", "--orientation-seed", "5", "--frames", "2",
              "--nexus", "st/shots.nxs", "--template", "st/shot_###.h5", cwd=tmp_path))
    omega, data = nexus_frames(tmp_path / "st" / "shots.nxs")
    assert omega is None and data.shape == (2, 20, 24)
    with h5py.File(tmp_path / "st" / "shots.nxs") as handle:
        assert handle["/entry/sample/depends_on"][()] == b"."
    for k in (1, 2):
        np.testing.assert_array_equal(
            data[k - 1], nexus_frames(tmp_path / "st" / f"shot_{k:03d}.h5")[1][0])
    assert not np.array_equal(data[0], data[1])


def test_resume_makes_lost_frames_and_the_master_again(tmp_path):
    """A series whose frame 2 and master were lost (and a killed writer left its temporary
    folder): --resume makes frame 2 and the master again, byte for byte the master of the
    uninterrupted run; the manifest records the master."""
    ok(series(*FLAGS, "-seed", "7", "--frames", "3", "--nexus", "n/run.h5", cwd=tmp_path))
    folder = tmp_path / "n"
    full = (folder / "run.h5").read_bytes()
    (folder / "run_00002.h5").unlink()
    (folder / "run.h5").unlink()
    (folder / ".run.h5.0123456789ab.tmp").mkdir()  # a killed writer's temporary folder
    (folder / ".run.h5.0123456789ab.tmp" / "run.h5").write_bytes(b"partial")
    doc = json.loads((folder / "run_#####.json").read_text())
    assert Path(doc["run"]["nexus"]).resolve() == (folder / "run.h5").resolve()
    ok(series(*FLAGS, "--frames", "3", "--resume", "--nexus", "n/run.h5", cwd=tmp_path))
    assert (folder / "run.h5").read_bytes() == full  # the master of an uninterrupted run
    assert not [n for n in files_in(folder) if n.endswith(".tmp")]
    # a resume that names another master is refused
    proc = series(*FLAGS, "--frames", "3", "--resume", "--nexus", "n/other.h5",
                  "--template", "n/run_#####.h5", cwd=tmp_path)
    assert_one_line_error(proc, "--resume", "nexus")


# ---- killed runs with --nexus ------------------------------------------------------------------

def test_main_process_killed_with_nexus_then_resume_gives_the_same_series(tmp_path,
                                                                          nexus_reference):
    folder = tmp_path / "run"
    args = ["--frames", str(HEAVY_FRAMES), "--nexus", "run/run.h5", "--template",
            "run/img_#####.h5"]
    proc = start_series(*HEAVY, *args, cwd=tmp_path)
    try:
        wait_for_frames(folder / "img_#####.jsonl", 3, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    made = [n for n in files_in(folder) if n.startswith("img_") and n.endswith(".h5")]
    assert 3 <= len(made) < HEAVY_FRAMES, made
    # nothing broken: each frame file and the master of the frames done so far are complete
    assert 1 <= check_nexus_folder(folder, nexus_reference) <= len(made)
    kept = {n: (folder / n).read_bytes() for n in made}
    ok(series(*HEAVY, *args, "--resume", cwd=tmp_path))
    assert check_nexus_folder(folder, nexus_reference) == HEAVY_FRAMES
    assert {n: (folder / n).read_bytes() for n in made} == kept  # complete frames are kept
    assert not [n for n in files_in(folder) if n.endswith(".tmp")]
