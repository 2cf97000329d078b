"""``nbcupy series`` on a real Dask LocalCluster of worker processes: the frames equal the
in-process run, a worker killed mid-run (SIGKILL of its pid) loses nothing, and a killed main
process takes its workers with it and resumes to the same bytes."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.series_support import (
    HEAVY,
    HEAVY_FRAMES,
    check_nexus_folder,
    files_in,
    log_lines,
    ok,
    series,
    start_series,
    wait_for_frames,
)

pytest.importorskip("distributed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead: its parent has not collected it yet
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def _check_all_frames(folder, reference) -> None:
    names = [n for n in files_in(folder) if n.endswith(".img")]
    assert names == [f"img_{k:02d}.img" for k in range(1, HEAVY_FRAMES + 1)]
    for k, data in reference.items():
        assert (folder / f"img_{k:02d}.img").read_bytes() == data, k
    assert not [n for n in files_in(folder) if n.endswith(".tmp")]
    doc = json.loads((folder / "img_##.json").read_text())
    assert doc["complete"] and doc["frames_done"] == HEAVY_FRAMES


def test_two_workers_give_the_in_process_frames(tmp_path, series_reference):
    proc = ok(series(*HEAVY, "--frames", str(HEAVY_FRAMES), "--workers", "2",
                     "--template", "w/img_##.img", cwd=tmp_path))
    assert "Traceback" not in proc.stderr
    _check_all_frames(tmp_path / "w", series_reference)
    pids = {e["worker_pid"] for e in log_lines(tmp_path / "w" / "img_##.jsonl")
            if e["type"] == "frame"}
    assert len(pids) == 2 and os.getpid() not in pids  # both worker processes made frames


def test_a_worker_killed_mid_run_loses_no_frame(tmp_path, series_reference):
    log = tmp_path / "w" / "img_##.jsonl"
    proc = start_series(*HEAVY, "--frames", str(HEAVY_FRAMES), "--workers", "2",
                        "--template", "w/img_##.img", cwd=tmp_path)
    try:
        first = wait_for_frames(log, 1, proc)
        victim = first[0]["worker_pid"]
        os.kill(victim, signal.SIGKILL)
        assert proc.poll() is None
        killed_after = len(first)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert killed_after < HEAVY_FRAMES
    assert not _alive(victim)
    frames = [e for e in log_lines(log) if e["type"] == "frame"]
    assert sorted(e["frame"] for e in frames) == list(range(1, HEAVY_FRAMES + 1))
    assert all(e["worker_pid"] != victim for e in frames[killed_after:])
    _check_all_frames(tmp_path / "w", series_reference)


def test_main_process_killed_with_workers_then_resume(tmp_path, series_reference):
    log = tmp_path / "w" / "img_##.jsonl"
    proc = start_series(*HEAVY, "--frames", str(HEAVY_FRAMES), "--workers", "2",
                        "--template", "w/img_##.img", cwd=tmp_path)
    try:
        frames = wait_for_frames(log, 2, proc)
        workers = {e["worker_pid"] for e in frames}
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate(timeout=60)
    t0 = time.monotonic()  # the workers notice that their parent is gone and stop
    while any(_alive(pid) for pid in workers) and time.monotonic() - t0 < 30:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)
    folder = tmp_path / "w"
    for name in files_in(folder):
        if name.endswith(".img"):  # whatever is there is a complete frame
            assert (folder / name).read_bytes() == series_reference[int(name[4:6])], name
    ok(series(*HEAVY, "--frames", str(HEAVY_FRAMES), "--workers", "2", "--resume",
              "--template", "w/img_##.img", cwd=tmp_path))
    _check_all_frames(folder, series_reference)


def test_a_worker_killed_mid_run_with_nexus_loses_no_frame(tmp_path, nexus_reference):
    """Frame files written by two worker processes, one of them killed; the main process's
    NeXus master maps every frame, equal to the in-process series."""
    folder = tmp_path / "w"
    log = folder / "img_#####.jsonl"
    proc = start_series(*HEAVY, "--frames", str(HEAVY_FRAMES), "--workers", "2",
                        "--nexus", "w/run.h5", "--template", "w/img_#####.h5", cwd=tmp_path)
    try:
        first = wait_for_frames(log, 1, proc)
        victim = first[0]["worker_pid"]
        os.kill(victim, signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert not _alive(victim)
    frames = [e for e in log_lines(log) if e["type"] == "frame"]
    assert sorted(e["frame"] for e in frames) == list(range(1, HEAVY_FRAMES + 1))
    assert all(e["worker_pid"] != victim for e in frames[len(first):])
    assert f"frames 1..{HEAVY_FRAMES} (all frames)" in out
    assert check_nexus_folder(folder, nexus_reference) == HEAVY_FRAMES
    assert not [n for n in files_in(folder) if n.endswith(".tmp")]
