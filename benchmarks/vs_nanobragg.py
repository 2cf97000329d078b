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
    NB_C_BIN=... python benchmarks/vs_nanobragg.py --cases H1,H1-f32 --engine
    python benchmarks/vs_nanobragg.py --engine-only --cases H1,H1-f32  # no nanoBragg.c

The cases: P1-P4 of issue 5, issue 13's heavy still H1 (120 settings per pixel) in float64
and as H1-f32 in float32 (those two fix nbcupy's --dtype), and the large detectors G4096 and
H4096 for GPUs.  ``--engine`` also times the engine alone in this process (``render`` after
a warm-up, on 1 thread and on all CPUs) and prints its rate in pixel-steps per second (pixels
x sub-pixel samples x crystal settings per second).

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


@dataclass(frozen=True)
class Case:
    """A benchmark case: nanoBragg flags, rendered pixels, and nbcupy's ``--dtype`` for it
    (None: the ``--dtype`` option)."""

    args: str
    pixels: int
    dtype: str | None = None


#: Issue 13's heavy still: 15 sources x 8 mosaic domains = 120 settings per pixel.
H1_ARGS = ("-cell 79.1 79.1 38.2 90 90 90 -default_F 100 -N 20 -lambda 1.0 "
           "-detpixels_f 1231 -detpixels_s 1263 -pixel 0.172 -distance 200 -mosaic 0.2 "
           "-mosaic_dom 8 -divergence 0.4 -divsteps 3 -dispersion 0.2 -dispsteps 3 "
           "-oversample 1 -nonoise")
#: The same crystal and beam on a 4096 x 4096 detector of about the same size (GPU check).
H4096_ARGS = (H1_ARGS.replace("-detpixels_f 1231 -detpixels_s 1263 -pixel 0.172",
                              "-detpixels 4096 -pixel 0.052"))

#: The cases of issue 5 (P1-P4), issue 13's heavy still H1 in float64 and float32, and large
#: detectors for GPUs (G4096, H4096; not run by default).
CASES: dict[str, Case] = {
    "P1": Case("-cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -default_F 100 -detpixels 1024 "
               "-pixel 0.1 -distance 100", 1024 * 1024),
    "P2": Case("-cell 100 100 100 90 90 90 -lambda 1.0 -N 10 -default_F 100 -detpixels 1024 "
               "-pixel 0.1 -distance 100 -oversample 2", 1024 * 1024),
    "P3": Case("-cell 70 80 90 75 85 95 -misset 10 5 3 -lambda 1.5 -N 8 -default_F 100 "
               "-detpixels 512 -pixel 0.1 -distance 100 -mosaic 0.5 -mosaic_dom 10 -phi 0 "
               "-osc 1 -phisteps 5", 512 * 512),
    "P4": Case("-cell 100 100 100 90 90 90 -lambda 1.0 -N 5 -default_F 100 -detpixels 2048 "
               "-pixel 0.05 -distance 100", 2048 * 2048),
    "H1": Case(H1_ARGS, 1231 * 1263, "float64"),
    "H1-f32": Case(H1_ARGS, 1231 * 1263, "float32"),
    "G4096": Case("-cell 100 100 100 90 90 90 -lambda 1.0 -N 5 -default_F 100 -detpixels 4096 "
                  "-pixel 0.025 -distance 100", 4096 * 4096),
    "H4096": Case(H4096_ARGS, 4096 * 4096),
}
DEFAULT_CASES = ("P1", "P2", "P3", "P4", "H1", "H1-f32")
MB = 1024.0 * 1024.0


@dataclass
class Runs:
    """Wall times (s), CPU times (user + system, s) and peak RSS (bytes) of one program on
    one case."""

    seconds: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

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


def run_in(cmd: list[str], cwd: str | Path, env: dict[str, str], timeout: float
           ) -> tuple[float, int, str, float]:
    """Run ``cmd`` in ``cwd``: (wall seconds, peak RSS bytes of its largest process, error or
    "", CPU seconds: user + system of the child and its children)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = t0 + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            return float("nan"), 0, f"timed out after {timeout:.0f} s", float("nan")
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        tail = (err.strip().splitlines() or [""])[-1]
        return wall, 0, f"exit {proc.returncode}: {tail[:200]}", float("nan")
    # ru_maxrss is in KiB on Linux
    return wall, int(usage.ru_maxrss) * 1024, "", usage.ru_utime + usage.ru_stime


def run_once(cmd: list[str], env: dict[str, str], timeout: float
             ) -> tuple[float, int, str, float]:
    """:func:`run_in` a fresh temporary folder."""
    with tempfile.TemporaryDirectory(prefix="nbbench-") as tmp:
        return run_in(cmd, tmp, env, timeout)


def engine_rates(name: str, case: Case, dtype: str, backend: str, threads: list[int],
                 runs: int) -> list[dict]:
    """In-process engine time of one case (``render`` after a warm-up, -nonoise; median of
    ``runs``) for each thread count, and its rate in pixel-steps per second: rendered pixels x
    sub-pixel samples (oversample^2 x sensor layers) x crystal settings (sources x phi steps x
    mosaic domains) per second."""
    from nbcupy.engine import EngineSettings, render
    from nbcupy.experiment.regions import active_pixels
    from nbcupy.nanobragg.build import build_simulation
    from nbcupy.nanobragg.flags import parse_flags
    from nbcupy.nanobragg.rng import NanoBraggRandom

    flags = shlex.split(case.args)
    flags = flags + [f for f in ("-nonoise", "-noprogress") if f not in flags]
    with tempfile.TemporaryDirectory(prefix="nbbench-") as tmp:
        here = os.getcwd()
        os.chdir(tmp)  # -hkl would write Fdump.bin
        try:
            sim = build_simulation(parse_flags(flags).options, NanoBraggRandom())[0]
        finally:
            os.chdir(here)
    samples = sim.sampling.oversample ** 2 * sim.detector.thicksteps
    settings = sim.sources.count * sim.spindle.phisteps * sim.mosaic.domains
    pixel_steps = int(active_pixels(sim.detector, sim.sampling).sum()) * samples * settings
    sync = _synchronizer(backend)
    out = []
    for n_threads in threads:
        opts = EngineSettings(backend=backend, dtype=dtype, threads=n_threads)
        res = render(sim, opts)  # warm-up: imports, kernel compilation, caches
        sync()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            res = render(sim, opts)
            sync()
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        out.append({"case": name, "dtype": dtype, "threads": n_threads, "seconds": times,
                    "median": t, "pixel_steps": pixel_steps, "rate": pixel_steps / t,
                    "kernel": res.kernel})
    return out


def _synchronizer(backend: str):
    """A function that waits for the device's queued work (a no-op on the CPU)."""
    if backend in ("cupy", "auto"):
        try:
            import cupy

            return cupy.cuda.Device().synchronize
        except Exception:  # noqa: BLE001 - no GPU: nothing to wait for
            pass
    return lambda: None


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
    ap.add_argument("--engine", action="store_true",
                    help="also time the engine alone in this process (render after a warm-up) "
                         "and print its pixel-steps per second")
    ap.add_argument("--engine-only", action="store_true",
                    help="only the engine timing (no nanoBragg.c needed)")
    ap.add_argument("--engine-threads", default="",
                    help="comma-separated thread counts for the engine timing (default: 1 "
                         "and all CPUs; 0 = all)")
    opts = ap.parse_args()

    c_bin = ""
    if not opts.engine_only:
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
    try:
        engine_threads = [int(t) for t in opts.engine_threads.split(",") if t.strip()]
    except ValueError:
        ap.error(f"--engine-threads must be comma-separated whole numbers, got "
                 f"{opts.engine_threads!r}")
    if any(t < 0 for t in engine_threads):
        ap.error("--engine-threads must be >= 0")

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not engine_threads:
        engine_threads = sorted({1, cpus or 1})
    engine_threads = [t or (cpus or 1) for t in engine_threads]
    c_threads = opts.c_threads or int(os.environ.get("OMP_NUM_THREADS", 0) or cpus or 1)
    results: list[dict] = []
    engine: list[dict] = []
    failed = False
    if not opts.engine_only:
        failed = whole_process(opts, names, c_bin, c_threads, cpus, results)
    if opts.engine or opts.engine_only:
        print(f"\nengine alone (in-process render, -nonoise, {opts.runs} runs after a warm-up, "
              f"median) on {opts.backend}")
        header = (f"{'case':<7} {'dtype':<8} {'threads':>7} {'render s':>9} "
                  f"{'pixel-steps':>12} {'Mpx-steps/s':>12}  kernel")
        print(header)
        print("-" * len(header))
        for name in names:
            case = CASES[name]
            for row in engine_rates(name, case, case.dtype or opts.dtype, opts.backend,
                                    engine_threads, opts.runs):
                engine.append(row)
                print(f"{name:<7} {row['dtype']:<8} {row['threads']:>7} {row['median']:9.3f} "
                      f"{row['pixel_steps']:12.4g} {row['rate'] / 1e6:12.1f}  {row['kernel']}",
                      flush=True)
    if opts.json:
        meta = {"c_bin": c_bin, "c_threads": c_threads, "cpus": cpus, "dtype": opts.dtype,
                "backend": opts.backend, "nonoise": opts.nonoise, "extra": opts.extra,
                "runs": opts.runs, "nbcupy_cmd": opts.nbcupy_cmd or nbcupy_command(),
                "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
        opts.json.write_text(json.dumps({"meta": meta, "results": results, "engine": engine},
                                        indent=1))
    return 1 if failed else 0


def whole_process(opts: argparse.Namespace, names: list[str], c_bin: str, c_threads: int,
                  cpus: int | None, results: list[dict]) -> bool:
    """The alternating whole-process runs of every case; appends to ``results`` and returns
    True when a run failed."""
    c_env = dict(os.environ, OMP_NUM_THREADS=str(c_threads))
    py_env = dict(os.environ)
    warm_env = {k: v for k, v in py_env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    nb_cmd = shlex.split(opts.nbcupy_cmd) if opts.nbcupy_cmd else nbcupy_command()
    extra = shlex.split(opts.extra)
    common = ["-nonoise"] if opts.nonoise else []

    print(f"nanoBragg.c: {c_bin} (OMP_NUM_THREADS={c_threads})")
    print(f"nbcupy:      {' '.join(nb_cmd)} --backend {opts.backend} --dtype <case> "
          f"{' '.join(extra)}".rstrip())
    load = ""
    if hasattr(os, "getloadavg"):
        load = " load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + ";"
    flags_note = "-nonoise" if opts.nonoise else "default (noise image written)"
    print(f"CPUs: {cpus};{load} runs: {opts.runs} (+{opts.warmup} warm-up) each, "
          f"alternating; flags: {flags_note}")
    header = (f"{'case':<7} {'dtype':<8} {'C s':>8} {'nbcupy s':>9} {'C/nbcupy':>9} "
              f"{'C RSS MB':>9} {'nb RSS MB':>10} {'RSS limit':>10} {'C cpu s':>8} "
              f"{'nb cpu s':>9}")
    print(header)
    print("-" * len(header))
    failed = False
    for name in names:
        case = CASES[name]
        dtype = case.dtype or opts.dtype
        flags = shlex.split(case.args)
        flags += [f for f in common if f not in flags]
        c_cmd = [c_bin, *flags]
        py_cmd = [*nb_cmd, "--backend", opts.backend, "--dtype", dtype, *extra, *flags]
        c_runs, py_runs = Runs(), Runs()
        error = ""
        for i in range(opts.warmup + opts.runs):
            warm = i < opts.warmup
            for cmd, env, runs in ((c_cmd, c_env, c_runs),
                                   (py_cmd, warm_env if warm else py_env, py_runs)):
                wall, rss, err, cpu = run_once(cmd, env, opts.timeout)
                if err:
                    error = f"{'nanoBragg' if runs is c_runs else 'nbcupy'}: {err}"
                    break
                if not warm:
                    runs.seconds.append(wall)
                    runs.rss.append(rss)
                    runs.cpu.append(cpu)
            if error:
                break
        if error:
            print(f"{name:<7} FAILED  {error}")
            failed = True
            results.append({"case": name, "error": error})
            continue
        limit = 3 * 4 * case.pixels + 300 * MB
        ratio = c_runs.median / py_runs.median
        print(f"{name:<7} {dtype:<8} {c_runs.median:8.3f} {py_runs.median:9.3f} {ratio:9.2f} "
              f"{max(c_runs.rss) / MB:9.0f} {max(py_runs.rss) / MB:10.0f} {limit / MB:10.0f} "
              f"{c_runs.cpu_median:8.2f} {py_runs.cpu_median:9.2f}", flush=True)
        results.append({"case": name, "args": case.args, "dtype": dtype, "pixels": case.pixels,
                        "c_seconds": c_runs.seconds, "nbcupy_seconds": py_runs.seconds,
                        "c_median": c_runs.median, "nbcupy_median": py_runs.median,
                        "ratio": ratio, "c_cpu_seconds": c_runs.cpu,
                        "nbcupy_cpu_seconds": py_runs.cpu, "c_peak_rss": max(c_runs.rss),
                        "nbcupy_peak_rss": max(py_runs.rss), "rss_limit": limit})
    print("ratio = C time / nbcupy time (throughput of nbcupy relative to nanoBragg.c); "
          "RSS limit = 3 x float-image bytes + 300 MB; cpu = user + system seconds (medians)")
    return failed


if __name__ == "__main__":
    sys.exit(main())
