"""Helpers of the series tests: the command as a real process, its log, and a heavier
experiment whose frames take long enough (about 0.2-0.5 s each) to interrupt a run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HEAVY = ["-cell", "70", "80", "90", "75", "85", "95", "-lambda", "1.5", "-N", "3",
         "-default_F", "100", "-detpixels", "128", "-pixel", "0.2", "-distance", "60",
         "-mosaic", "0.5", "-mosaic_dom", "10", "-osc", "0.1", "-phisteps", "3",
         "-oversample", "2", "-seed", "21", "-noprogress"]
HEAVY_FRAMES = 10


def run(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """``nbcupy <args>`` as a process in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "nbcupy.cli.app", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def series(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """``nbcupy series <args>`` as a process in ``cwd``."""
    return run("series", *args, cwd=cwd, timeout=timeout)


def start_series(*args: str, cwd: Path) -> subprocess.Popen:
    """``nbcupy series <args>`` started in the background."""
    return subprocess.Popen([sys.executable, "-m", "nbcupy.cli.app", "series", *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr
    return proc


def log_lines(path: Path) -> list[dict]:
    """The entries of a manifest log (every line complete)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def wait_for_frames(log: Path, count: int, proc: subprocess.Popen,
                    limit: float = 120) -> list[dict]:
    """The log's frame entries once there are ``count`` of them, the process still running."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if log.exists():
            text = log.read_text()
            if text.endswith("\n"):
                frames = [e for e in log_lines(log) if e["type"] == "frame"]
                if len(frames) >= count:
                    return frames
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the series did not write its frames in time")


def nexus_frames(path: Path) -> tuple[np.ndarray | None, np.ndarray]:
    """(omega (deg) of every frame, or None for stills; the counts (frames, slow, fast)) of
    the NeXus file ``path`` as nxmx and h5py read it (the frames of a master come through
    its virtual dataset)."""
    import h5py
    import hdf5plugin  # noqa: F401 - the bitshuffle filter
    import nxmx

    with h5py.File(path) as handle:
        entry = nxmx.NXmx(handle).entries[0]
        data = entry.data[0]
        assert data.signal == "data"
        pixels = data[data.signal][()]
        sample = entry.samples[0]
        if sample.depends_on is None:
            return None, pixels
        chain = nxmx.get_dependency_chain(sample.depends_on)
        assert list(nxmx.get_rotation_axes(chain).names) == ["omega"]
        return np.asarray(chain[0][()].to("deg").magnitude), pixels


def check_nexus_folder(folder: Path, reference: tuple[np.ndarray, np.ndarray]) -> int:
    """Every NeXus file in ``folder`` is complete and holds the reference's frames; returns
    how many frames the master maps (0 without a master)."""
    omega_ref, data_ref = reference
    for name in files_in(folder):
        if name.startswith("img_") and name.endswith(".h5"):
            k = int(name[4:9])
            omega, data = nexus_frames(folder / name)
            np.testing.assert_allclose(omega, omega_ref[k - 1:k], atol=1e-12)
            np.testing.assert_array_equal(data[0], data_ref[k - 1], err_msg=name)
    if not (folder / "run.h5").exists():
        return 0
    omega, data = nexus_frames(folder / "run.h5")
    count = data.shape[0]
    np.testing.assert_allclose(omega, omega_ref[:count], atol=1e-12)
    np.testing.assert_array_equal(data, data_ref[:count])
    return count
