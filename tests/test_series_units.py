"""Pieces of the series machinery on their own: templates, the format registry, the
manifest log, frame plans."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nbcupy.errors import InputError
from nbcupy.io.registry import FORMATS, format_for
from nbcupy.series.manifest import Manifest, read_log
from nbcupy.series.plan import SeriesPlan
from nbcupy.series.template import FrameTemplate


def test_template_names_and_manifest_paths(tmp_path):
    t = FrameTemplate.parse(str(tmp_path / "run" / "img_#####.img"))
    assert t.name(7) == "img_00007.img" and t.path(7) == str(tmp_path / "run" / "img_00007.img")
    assert t.extension == ".img" and t.stem == "img_#####"
    assert t.manifest_path == str(tmp_path / "run" / "img_#####.json")
    assert t.log_path == str(tmp_path / "run" / "img_#####.jsonl")
    assert FrameTemplate.parse("a/#.BIN").extension == ".bin"
    assert FrameTemplate.parse("shot#").extension == "" and FrameTemplate.parse("shot#").stem \
        == "shot#"
    t.check_numbers(99999)
    with pytest.raises(InputError, match="6 digits"):
        t.check_numbers(100000)
    for bad, words in (("run#/img_##.img", "file name only"), ("img.img", "no '#'"),
                       ("i_#_#.img", "more than one"), ("", "empty")):
        with pytest.raises(InputError, match=words):
            FrameTemplate.parse(bad)


def test_template_finds_only_its_own_temporary_files(tmp_path):
    t = FrameTemplate.parse(str(tmp_path / "img_###.img"))
    ours = [".img_001.img.0123456789ab.tmp", ".img_1234.img.00ff00ff00ff.tmp"]
    others = [".img_01.img.0123456789ab.tmp", ".other_001.img.0123456789ab.tmp",
              "img_001.img", ".img_001.img.tmp", ".img_001.bin.0123456789ab.tmp"]
    for name in ours + others:
        (tmp_path / name).write_bytes(b"x")
    # the private folder a CBF or NeXus writer (nbcupy.io.atomic.AtomicPath) writes in
    folder = tmp_path / ".img_002.img.00000000abcd.tmp"
    folder.mkdir()
    (folder / "img_002.img").write_bytes(b"partial")
    assert t.remove_temporaries() == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others)


def test_registry_picks_formats_by_extension_and_refuses_kinds():
    assert format_for("a/b.IMG").name == "smv" and format_for(".smv").name == "smv"
    assert format_for("x.bin").name == "float"
    assert set(FORMATS) >= {"smv", "float", "cbf", "nexus", "png"}
    with pytest.raises(InputError, match=".tif"):
        format_for("x.tif")
    format_for(".img").check_kind("int")
    with pytest.raises(InputError, match="float"):
        format_for(".img").check_kind("float")
    with pytest.raises(InputError, match="noise"):
        format_for(".bin").check_kind("noise")


def test_frame_writer_checksums_what_it_wrote(tmp_path):
    import hashlib
    from types import SimpleNamespace

    from nbcupy.nanobragg.options import Options
    from nbcupy.series.images import write_frame

    pixels = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "f.bin"
    result = SimpleNamespace(simulation=None, options=Options())
    sha = write_frame(format_for(".bin"), str(path), pixels, result, "float")
    assert path.read_bytes() == pixels.astype("<f4").tobytes()
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_log_survives_a_torn_line_and_refuses_garbage(tmp_path):
    t = FrameTemplate.parse(str(tmp_path / "i_##.img"))
    m = Manifest(t, range(1, 4))
    m.open({"seed": 1})
    m.add({"frame": 1, "file": "i_01.img", "sha256": "a", "bytes": 3})
    m.add({"frame": 2, "file": "i_02.img", "sha256": "b", "bytes": 3})
    m.add({"frame": 1, "file": "i_01.img", "sha256": "c", "bytes": 3})  # made again
    m.add({"frame": 9, "file": "i_09.img", "sha256": "d", "bytes": 3})  # outside the plan
    m.close()
    doc = json.loads((tmp_path / "i_##.json").read_text())
    assert doc["frames_done"] == 2 and not doc["complete"] and doc["run"]["seed"] == 1
    assert [r["sha256"] for r in doc["frames"]] == ["c", "b", "d"]
    assert doc["frames"][0] == {"frame": 1, "file": "i_01.img", "sha256": "c", "bytes": 3}
    log = tmp_path / "i_##.jsonl"
    with open(log, "ab") as fh:
        fh.write(b'{"type": "frame", "frame": 3, "sh')
    runs, frames = read_log(str(log))
    assert runs[0]["seed"] == 1 and sorted(frames) == [1, 2, 9] and frames[1]["sha256"] == "c"
    m2 = Manifest(t, range(1, 5))
    assert m2.load()["seed"] == 1
    assert m2.record(1)["sha256"] == "c" and m2.record(3) is None and m2.record(9)["bytes"] == 3
    assert [(k, r and r["sha256"]) for k, r in m2.planned_records()] == [
        (1, "c"), (2, "b"), (3, None), (4, None)]
    m2.open({"seed": 1})  # cuts the torn line off
    m2.close()
    assert all(line.endswith("}") for line in log.read_text().splitlines())
    assert len(read_log(str(log))[0]) == 2
    assert json.loads((tmp_path / "i_##.json").read_text())["frames_planned"] == 4
    log.write_text('{"type": "run", "format": "nbcupy-series"}\nnot json\n{"type": "frame"}\n')
    with pytest.raises(InputError, match="line 2"):
        read_log(str(log))
    log.write_text('{"type": "run", "format": "something else"}\n')
    with pytest.raises(InputError, match="not an nbcupy series"):
        read_log(str(log))


def test_plan_rotation_ranges_seeds_and_limits():
    plan = SeriesPlan(first=5, count=3, seed=-1, phi0_deg=10.0, osc_deg=0.1)
    frames = list(plan)
    assert [f.number for f in frames] == [5, 6, 7] and [f.seed for f in frames] == [-1, 0, 1]
    assert [f.phi_start_deg for f in frames] == [10.0, 10.1, 10.2]
    assert [f.phi_end_deg for f in frames] == [10.1, 10.2, 10.3]
    assert frames[0].orientation is None and "orientation" not in frames[0].record()
    with pytest.raises(ValueError):
        plan.frame(8)
    with pytest.raises(ValueError, match="seed"):
        SeriesPlan(first=1, count=3, seed=2**31 - 2, phi0_deg=0, osc_deg=0)
    with pytest.raises(ValueError):
        SeriesPlan(first=1, count=0, seed=1, phi0_deg=0, osc_deg=0)
    stills = SeriesPlan(first=1, count=2, seed=3, phi0_deg=0, osc_deg=0, stills=True,
                        orientation_seed=8)
    rec = stills.frame(2).record()
    assert rec["phi_deg"] == 0 and np.array(rec["orientation"]).shape == (3, 3)


def test_run_series_from_python_with_a_progress_bar(tmp_path):
    import io

    from nbcupy.series import SeriesConfig, run_series

    flags = ("-cell 60 70 80 90 90 90 -lambda 1.2 -N 4 -default_F 100 -detpixels 16 "
             "-pixel 0.5 -distance 50 -osc 0.5 -seed 5")
    out, err = io.StringIO(), io.StringIO()
    summary = run_series(SeriesConfig(flags=flags, template=str(tmp_path / "p_##.bin"),
                                      frames=3, image="float", progress=True), out=out, err=err)
    assert (summary.written, summary.skipped, summary.failed) == (3, 0, [])
    assert not summary.interrupted and summary.frames_per_second > 0
    assert "3/3" in err.getvalue() and "frame/s" in err.getvalue()  # tqdm's bar
    assert out.getvalue().splitlines()[-1] == summary.line()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "p_##.json", "p_##.jsonl", "p_01.bin", "p_02.bin", "p_03.bin"]
    quiet = io.StringIO()
    run_series(SeriesConfig(flags=flags, template=str(tmp_path / "q_##.bin"), frames=2,
                            image="float"), out=io.StringIO(), err=quiet)
    assert quiet.getvalue() == ""  # not a terminal: no bar
