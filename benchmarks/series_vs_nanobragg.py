#!/usr/bin/env python3
"""A rotation series with nbcupy against nanoBragg.c run once per frame, as a ratio.

The series of the series issue: 100 frames (``--frames``) of

    -cell 79.1 79.1 38.2 90 90 90 -default_F 100 -N 10 -lambda 1.0 -detpixels 1024
    -pixel 0.1 -distance 150 -mosaic 0.2 -mosaic_dom 4 -osc 0.1 -phisteps 3 -seed 1

with a noise image per frame.  nanoBragg.c (``NB_C_BIN`` or ``--c-bin``; never part of this
repository) runs in a shell loop, one process per frame with ``-phi (k-1)*0.1 -seed k
-noisefile`` (it also writes its float and int images, which it cannot skip, and
``-nopgm``), with ``OMP_NUM_THREADS=2`` (``--c-threads``).  nbcupy runs ``nbcupy series``
with the same flags, in one process and with ``--workers 2``, in float64 and float32.  Each
run gets a fresh temporary folder; the whole wall time is measured (``--runs R`` times, all
programs in turn, medians), and the throughput ratio C time / nbcupy time printed (above 1:
nbcupy is faster), with the peak resident memory of the largest process of each run
(``wait4``'s rusage).

Also measured:

* peak memory against the number of frames: ``nbcupy series`` (one process, float64) with
  ``--memory-frames A,B`` frames (default 100,1000) of the same experiment, optionally on a
  smaller detector (``--memory-detpixels``); flat means within 10 %;
* a run of ``--stills-frames`` (default 10 000) stills of a small detector
  (``--stills-detpixels``, default 64), with frames/s and peak memory, beside a run of a
  tenth as many stills (bounded memory: the two peaks within 10 %).

The float64 noise frames are compared with nanoBragg.c's byte for byte (frames whose first
phi step is exactly 0 excepted: multi-threaded nanoBragg.c changes the first pixel of every
OpenMP chunk there, see the README).  Only ratios measured in the same run mean anything;
the machine may be shared.

    NB_C_BIN=/path/to/nanoBragg python benchmarks/series_vs_nanobragg.py
    NB_C_BIN=... python benchmarks/series_vs_nanobragg.py --frames 10 --runs 2 \\
        --memory-frames 100,1000 --memory-detpixels 128        # shorter
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_nanobragg import nbcupy_command, run_in  # noqa: E402  (this folder's module)

FLAGS = ("-cell 79.1 79.1 38.2 90 90 90 -default_F 100 -N 10 -lambda 1.0 -detpixels 1024 "
         "-pixel 0.1 -distance 150 -mosaic 0.2 -mosaic_dom 4 -osc 0.1 -phisteps 3 -seed 1")
STILLS = ("-cell 79.1 79.1 38.2 90 90 90 -default_F 100 -N 10 -lambda 1.0 -pixel 0.1 "
          "-distance 150 -mosaic 0.2 -mosaic_dom 4 -seed 1")
MB = 1024.0 * 1024.0


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[float, int]:
    """Run ``cmd`` in ``cwd``: (wall seconds, peak RSS in bytes of its largest process); exit
    with the error when it fails."""
    wall, peak, err, _ = run_in(cmd, cwd, env, timeout)
    if err:
        raise SystemExit(f"{err} from {shlex.join(cmd)[:200]}")
    return wall, peak


def c_loop_script(c_bin: str, flags: list[str], frames: int) -> str:
    """A shell script that runs nanoBragg.c once per frame, as a user would."""
    base = [a for a in flags]
    seed = int(base[base.index("-seed") + 1])
    phi0 = Decimal("0")
    osc = Decimal(base[base.index("-osc") + 1])
    lines = ["set -e"]
    for k in range(1, frames + 1):
        phi = phi0 + (k - 1) * osc
        lines.append(shlex.join([c_bin, *base, "-phi", str(phi), "-seed", str(seed + k - 1),
                                 "-noisefile", f"img_{k:05d}.img", "-nopgm"]) + " >/dev/null")
    return "\n".join(lines) + "\n"


def rotation(opts: argparse.Namespace, nb: list[str], flags: list[str], env: dict,
             c_env: dict, root: Path, results: dict) -> None:
    """The rotation series: nanoBragg.c's loop and each nbcupy configuration, ``--runs``
    times in turn (so that a change of the machine's load hits all of them alike)."""
    configs = [(dtype, int(w)) for dtype in opts.dtypes.split(",")
               for w in opts.workers.split(",")]
    c_times: list[float] = []
    c_rss = 0
    times: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    rss: dict[tuple[str, int], int] = {c: 0 for c in configs}
    identical: dict[tuple[str, int], list[int]] = {}
    c_bin = (shutil.which(opts.c_bin) or opts.c_bin) if opts.c_bin else None
    if not c_bin:
        print("nanoBragg.c: not given (NB_C_BIN or --c-bin); nbcupy only")
    for rep in range(opts.runs):
        c_dir = root / f"c-{rep}"
        if c_bin:
            c_dir.mkdir()
            script = c_dir / "loop.sh"
            script.write_text(c_loop_script(c_bin, flags, opts.frames))
            wall, peak = run(["bash", str(script)], c_dir, c_env, opts.timeout)
            c_times.append(wall)
            c_rss = max(c_rss, peak)
            print(f"  run {rep + 1}: nanoBragg.c loop {wall:.2f} s", flush=True)
        for dtype, workers in configs:
            out = root / f"nb-{dtype}-{workers}-{rep}"
            out.mkdir()
            cmd = [*nb, "series", *flags, "--frames", str(opts.frames), "--template",
                   "img_#####.img", "--dtype", dtype, "--backend", opts.backend, "-noprogress"]
            if workers:
                cmd += ["--workers", str(workers)]
            wall, peak = run(cmd, out, env, opts.timeout)
            times[(dtype, workers)].append(wall)
            rss[(dtype, workers)] = max(rss[(dtype, workers)], peak)
            print(f"  run {rep + 1}: nbcupy {dtype} workers={workers} {wall:.2f} s", flush=True)
            if c_bin and dtype == "float64" and rep == 0:
                ks = [k for k in range(1, opts.frames + 1) if k != 1]  # phi 0: see above
                equal = sum((out / f"img_{k:05d}.img").read_bytes()
                            == (c_dir / f"img_{k:05d}.img").read_bytes() for k in ks)
                identical[(dtype, workers)] = [equal, len(ks)]
            shutil.rmtree(out)
        if c_dir.exists():
            shutil.rmtree(c_dir)
    c_time = statistics.median(c_times) if c_times else None
    if c_time:
        print(f"{'nanoBragg.c loop':<28} {c_time:9.2f} s {opts.frames / c_time:8.3f} frames/s "
              f"{c_rss / MB:8.0f} MB   (OMP_NUM_THREADS={opts.c_threads})")
        results.update(c_seconds=c_times, c_median=c_time, c_peak_rss=c_rss, c_bin=c_bin)
    for dtype, workers in configs:
        wall = statistics.median(times[(dtype, workers)])
        ratio = c_time / wall if c_time else float("nan")
        name = f"nbcupy {dtype}" + (f" --workers {workers}" if workers else "")
        same = ""
        if (dtype, workers) in identical:
            equal, n = identical[(dtype, workers)]
            same = f"   {equal}/{n} frames identical to nanoBragg.c's"
        print(f"{name:<28} {wall:9.2f} s {opts.frames / wall:8.3f} frames/s "
              f"{rss[(dtype, workers)] / MB:8.0f} MB   C/nbcupy {ratio:6.2f}{same}")
        results["nbcupy"].append({"dtype": dtype, "workers": workers,
                                  "seconds": times[(dtype, workers)], "median": wall,
                                  "peak_rss": rss[(dtype, workers)], "ratio": ratio,
                                  "identical_frames": identical.get((dtype, workers))})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--c-bin", default=os.environ.get("NB_C_BIN"),
                    help="nanoBragg.c binary (default: $NB_C_BIN)")
    ap.add_argument("--c-threads", type=int, default=2, help="OMP_NUM_THREADS of nanoBragg.c")
    ap.add_argument("--frames", type=int, default=100,
                    help="frames of the rotation series (0: skip it)")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--workers", default="0,2",
                    help="nbcupy runs: 0 = one process, K = --workers K (comma-separated)")
    ap.add_argument("--backend", default="numpy", choices=("numpy", "cupy", "auto"))
    ap.add_argument("--runs", type=int, default=1,
                    help="runs of each program on the rotation series (medians)")
    ap.add_argument("--memory-frames", default="100,1000",
                    help="two frame counts for the peak-memory check ('' to skip)")
    ap.add_argument("--memory-detpixels", type=int, default=1024,
                    help="detector of the peak-memory runs (pixels per side)")
    ap.add_argument("--stills-frames", type=int, default=10000,
                    help="frames of the stills run (0 to skip)")
    ap.add_argument("--stills-detpixels", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=7200.0, help="seconds per run")
    ap.add_argument("--json", type=Path, help="also write the results here")
    opts = ap.parse_args()

    if opts.frames < 0:
        ap.error("--frames must be 0 (skip) or more")
    if opts.runs < 1:
        ap.error("--runs must be at least 1")
    nb = nbcupy_command()
    flags = shlex.split(FLAGS)
    env = dict(os.environ)
    c_env = dict(env, OMP_NUM_THREADS=str(opts.c_threads))
    results: dict = {"frames": opts.frames, "flags": FLAGS, "c_threads": opts.c_threads,
                     "cpus": len(os.sched_getaffinity(0)), "nbcupy": [], "memory": None,
                     "stills": None}
    root = Path(tempfile.mkdtemp(prefix="nbseries-"))
    try:
        if opts.frames:
            print(f"rotation series: {opts.frames} frames of {FLAGS}, noise image per frame; "
                  f"{opts.runs} run(s) of each, alternating, medians")
            rotation(opts, nb, flags, env, c_env, root, results)

        if opts.memory_frames:
            a, b = (int(x) for x in opts.memory_frames.split(","))
            mflags = [*flags]
            mflags[mflags.index("-detpixels") + 1] = str(opts.memory_detpixels)
            rss = {}
            for n in (a, b):
                out = root / f"mem-{n}"
                out.mkdir()
                wall, rss[n] = run([*nb, "series", *mflags, "--frames", str(n), "--template",
                                    "img_#####.img", "-noprogress"], out, env, opts.timeout)
                print(f"{f'memory: {n} frames':<28} {wall:9.2f} s {n / wall:8.3f} frames/s "
                      f"{rss[n] / MB:8.0f} MB   (detector {opts.memory_detpixels}^2)",
                      flush=True)
                shutil.rmtree(out)
            growth = rss[b] / rss[a] - 1.0
            verdict = "flat" if abs(growth) <= 0.10 else "NOT flat"
            print(f"peak memory {a} -> {b} frames: {100 * growth:+.1f} % ({verdict}, limit "
                  "10 %)")
            results["memory"] = {"frames": [a, b], "peak_rss": [rss[a], rss[b]],
                                 "growth": growth, "detpixels": opts.memory_detpixels}

        if opts.stills_frames:
            sflags = shlex.split(STILLS) + ["-detpixels", str(opts.stills_detpixels)]
            srss = {}
            stimes = {}
            for n in (max(1, opts.stills_frames // 10), opts.stills_frames):
                out = root / f"stills-{n}"
                out.mkdir()
                stimes[n], srss[n] = run([*nb, "series", *sflags, "--stills",
                                          "--orientation-seed", "7", "--frames", str(n),
                                          "--template", "s_#####.img", "-noprogress"], out,
                                         env, opts.timeout)
                print(f"{f'stills: {n} frames':<28} {stimes[n]:9.2f} s "
                      f"{n / stimes[n]:8.1f} frames/s {srss[n] / MB:8.0f} MB   (detector "
                      f"{opts.stills_detpixels}^2)", flush=True)
                shutil.rmtree(out)
            small, big = sorted(srss)
            growth = srss[big] / srss[small] - 1.0
            print(f"stills peak memory {small} -> {big} frames: {100 * growth:+.1f} %")
            results["stills"] = {"frames": [small, big], "seconds": [stimes[small],
                                 stimes[big]], "peak_rss": [srss[small], srss[big]],
                                 "growth": growth, "detpixels": opts.stills_detpixels}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("ratio = C loop time / nbcupy time (above 1: nbcupy is faster); memory = peak RSS "
          "of the largest process of the run")
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
