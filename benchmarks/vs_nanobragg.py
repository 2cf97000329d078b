#!/usr/bin/env python3
"""Whole-process speed and peak memory of nbcupy against nanoBragg.c, as a ratio.

Runs nanoBragg.c (the binary named by ``NB_C_BIN`` or ``--c-bin``; never part of this
repository) and nbcupy on the same nanoBragg flags, alternating A B A B, each run in a fresh
temporary folder, and prints per case the median wall time of each program, the throughput
ratio C_time / nbcupy_time (above 1: nbcupy is faster) and the peak resident memory of each
(from ``wait4``'s rusage of that very child process).

    NB_C_BIN=/path/to/nanoBragg python benchmarks/vs_nanobragg.py
    NB_C_BIN=... python benchmarks/vs_nanobragg.py --dtype float32 --runs 5 --cases P1,P4
    NB_C_BIN=... python benchmarks/vs_nanobragg.py --nonoise            # both get -nonoise
    NB_C_BIN=... python benchmarks/vs_nanobragg.py --backend cupy --cases P4,G4096

nanoBragg.c runs with ``OMP_NUM_THREADS`` = the CPUs this process may use (unless the
variable is already set); nbcupy with its own default (all those CPUs).  The warm-up runs of
nbcupy are made without ``PYTHONDONTWRITEBYTECODE``, so that Python's bytecode caches exist
as they do for any installed package.  Only ratios measured in the same run are meaningful;
absolute times depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The cases of issue 5 (P1-P4) and a large detector for GPUs (G4096, not run by default).
CASES: dict[str, tuple[str, int]] = {
    "P1": ("-cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -default_F 100 -detpixels 1024 "
           "-pixel 0.1 -distance 100", 1024 * 1024),
    "P2": ("-cell 100 100 100 90 90 90 -lambda 1.0 -N 10 -default_F 100 -detpixels 1024 "
           "-pixel 0.1 -distance 100 -oversample 2", 1024 * 1024),
    "P3": ("-cell 70 80 90 75 85 95 -misset 10 5 3 -lambda 1.5 -N 8 -default_F 100 "
           "-detpixels 512 -pixel 0.1 -distance 100 -mosaic 0.5 -mosaic_dom 10 -phi 0 -osc 1 "
           "-phisteps 5", 512 * 512),
    "P4": ("-cell 100 100 100 90 90 90 -lambda 1.0 -N 5 -default_F 100 -detpixels 2048 "
           "-pixel 0.05 -distance 100", 2048 * 2048),
    "G4096": ("-cell 100 100 100 90 90 90 -lambda 1.0 -N 5 -default_F 100 -detpixels 4096 "
              "-pixel 0.025 -distance 100", 4096 * 4096),
}
DEFAULT_CASES = ("P1", "P2", "P3", "P4")
MB = 1024.0 * 1024.0


@dataclass
class Runs:
    """Wall times (s) and peak RSS (bytes) of one program on one case."""

    seconds: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def nbcupy_command() -> list[str]:
    """The installed ``nbcupy`` console script of this interpreter (not a shell shim such as
    pyenv's, which adds its own start-up time), else ``python -m nbcupy.cli.app``."""
    script = Path(sysconfig.get_path("scripts")) / "nbcupy"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "nbcupy.cli.app"]


def run_once(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[float, int, str]:
    """Run ``cmd`` in a fresh temporary folder; (wall seconds, peak RSS bytes, error or "")."""
    with tempfile.TemporaryDirectory(prefix="nbbench-") as tmp:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                return float("nan"), 0, f"timed out after {timeout:.0f} s"
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        if proc.returncode != 0:
            tail = (err.strip().splitlines() or [""])[-1]
            return wall, 0, f"exit {proc.returncode}: {tail[:200]}"
        # ru_maxrss is in KiB on Linux
        return wall, int(usage.ru_maxrss) * 1024, ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--c-bin", default=os.environ.get("NB_C_BIN"),
                    help="nanoBragg.c binary (default: $NB_C_BIN)")
    ap.add_argument("--nbcupy-cmd", default=None,
                    help="command that runs nbcupy (default: this interpreter's console script)")
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES),
                    help=f"comma-separated, from {', '.join(CASES)}")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each program (>= 1)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of each first")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--backend", default="numpy", choices=("numpy", "cupy", "auto"))
    ap.add_argument("--nonoise", action="store_true", help="pass -nonoise to both programs")
    ap.add_argument("--extra", default="", help="extra nbcupy arguments, e.g. '--noise fast'")
    ap.add_argument("--c-threads", type=int, default=0,
                    help="OMP_NUM_THREADS for nanoBragg.c (default: $OMP_NUM_THREADS or all "
                         "CPUs)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    ap.add_argument("--json", type=Path, help="also write the results here")
    opts = ap.parse_args()

    if not opts.c_bin:
        ap.error("set NB_C_BIN (or --c-bin) to a nanoBragg.c binary")
    c_bin = shutil.which(opts.c_bin) or opts.c_bin
    if not (os.path.isfile(c_bin) and os.access(c_bin, os.X_OK)):
        ap.error(f"nanoBragg binary {opts.c_bin!r} is not an executable file")
    names = [c.strip() for c in opts.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if opts.runs < 1:
        ap.error("--runs must be at least 1")

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    c_threads = opts.c_threads or int(os.environ.get("OMP_NUM_THREADS", 0) or cpus or 1)
    c_env = dict(os.environ, OMP_NUM_THREADS=str(c_threads))
    py_env = dict(os.environ)
    warm_env = {k: v for k, v in py_env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    nb_cmd = shlex.split(opts.nbcupy_cmd) if opts.nbcupy_cmd else nbcupy_command()
    nb_opts = ["--backend", opts.backend, "--dtype", opts.dtype, *shlex.split(opts.extra)]
    common = ["-nonoise"] if opts.nonoise else []

    print(f"nanoBragg.c: {c_bin} (OMP_NUM_THREADS={c_threads})")
    print(f"nbcupy:      {' '.join(nb_cmd + nb_opts)}")
    print(f"CPUs: {cpus}; runs: {opts.runs} (+{opts.warmup} warm-up) each, alternating; "
          f"flags: {'-nonoise' if opts.nonoise else 'default (noise image written)'}")
    header = (f"{'case':<6} {'C s':>8} {'nbcupy s':>9} {'C/nbcupy':>9} {'C RSS MB':>9} "
              f"{'nb RSS MB':>10} {'RSS limit':>10}")
    print(header)
    print("-" * len(header))
    results = []
    failed = False
    for name in names:
        args, pixels = CASES[name]
        flags = shlex.split(args) + common
        c_cmd = [c_bin, *flags]
        py_cmd = [*nb_cmd, *nb_opts, *flags]
        c_runs, py_runs = Runs(), Runs()
        error = ""
        for i in range(opts.warmup + opts.runs):
            warm = i < opts.warmup
            for cmd, env, runs in ((c_cmd, c_env, c_runs),
                                   (py_cmd, warm_env if warm else py_env, py_runs)):
                wall, rss, err = run_once(cmd, env, opts.timeout)
                if err:
                    error = f"{'nanoBragg' if runs is c_runs else 'nbcupy'}: {err}"
                    break
                if not warm:
                    runs.seconds.append(wall)
                    runs.rss.append(rss)
            if error:
                break
        if error:
            print(f"{name:<6} FAILED  {error}")
            failed = True
            results.append({"case": name, "error": error})
            continue
        limit = 3 * 4 * pixels + 300 * MB
        ratio = c_runs.median / py_runs.median
        print(f"{name:<6} {c_runs.median:8.3f} {py_runs.median:9.3f} {ratio:9.2f} "
              f"{max(c_runs.rss) / MB:9.0f} {max(py_runs.rss) / MB:10.0f} {limit / MB:10.0f}",
              flush=True)
        results.append({"case": name, "args": args, "pixels": pixels,
                        "c_seconds": c_runs.seconds, "nbcupy_seconds": py_runs.seconds,
                        "c_median": c_runs.median, "nbcupy_median": py_runs.median,
                        "ratio": ratio, "c_peak_rss": max(c_runs.rss),
                        "nbcupy_peak_rss": max(py_runs.rss), "rss_limit": limit})
    print("ratio = C time / nbcupy time (throughput of nbcupy relative to nanoBragg.c); "
          "RSS limit = 3 x float-image bytes + 300 MB")
    if opts.json:
        meta = {"c_bin": c_bin, "c_threads": c_threads, "cpus": cpus, "dtype": opts.dtype,
                "backend": opts.backend, "nonoise": opts.nonoise, "extra": opts.extra,
                "runs": opts.runs, "nbcupy_cmd": nb_cmd}
        opts.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
