"""The benchmark scripts still run against the current code (they are not part of the
package, so nothing else would notice an import or a model field they use going away)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
NB = os.environ.get("NB_C_BIN")


def _run(*args: str, timeout: float = 600) -> str:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:] or proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_engine_rates_of_vs_nanobragg():
    out = _run(str(BENCH / "vs_nanobragg.py"), "--engine-only", "--cases", "P1", "--runs", "1")
    assert "Mpx-steps/s" in out and "P1" in out


@pytest.mark.skipif(not NB or not Path(NB).exists(),
                    reason="set NB_C_BIN to a nanoBragg binary to compare with")
def test_series_benchmark_runs(tmp_path):
    out = _run(str(BENCH / "series_vs_nanobragg.py"), "--c-bin", NB, "--frames", "2",
               "--runs", "1", "--dtypes", "float32", "--workers", "0",
               "--memory-frames", "2,3", "--memory-detpixels", "32",
               "--stills-frames", "20", "--stills-detpixels", "16",
               "--json", str(tmp_path / "series.json"))
    assert "C/nbcupy" in out and (tmp_path / "series.json").is_file()
