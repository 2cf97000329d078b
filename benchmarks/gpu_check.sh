#!/usr/bin/env bash
# GPU check of nbcupy: golden parity on the GPU (float64 and float32), the engine alone in
# pixel-steps per second, and speed against nanoBragg.c on all of the machine's cores: cases
# P1-P4 of issue 5, issue 13's heavy still H1 (float64 and float32), its 4096x4096 variant
# H4096 and the 4096x4096 G4096, then the series benchmark (slot below).  Sized to finish in
# under 10 minutes on one H200 with 16 CPU cores.
#
# Needs: an NVIDIA GPU with CuPy (cupy-cuda12x or cupy-cuda13x), nbcupy's dependencies, and a
# nanoBragg.c binary built on this machine with OpenMP, named by NB_C_BIN.  This repository
# never contains nanoBragg.c or its binary; build it elsewhere and point NB_C_BIN at it.
#
#   NB_C_BIN=/path/to/nanoBragg bash benchmarks/gpu_check.sh
#
# Optional environment:
#   RUNS=3           timed runs per program and case (alternating A B A B, medians)
#   CASES=P1,P2,P3,P4,H1,H1-f32     whole-process cases, float64 (H1-f32 is float32)
#   CASES_F32=P1,P2,P3,P4           whole-process cases, float32
#   DEFAULT_CASES=P1,P2,P3,P4       whole-process cases with default flags (noise image), float64
#   LARGE_CASES=H4096,G4096         4096x4096 cases, float64 and float32, LARGE_RUNS=1 run each
#   ENGINE_CASES=P4,H1,H1-f32,H4096,G4096   engine-only timing, float64 (H1-f32: float32)
#   ENGINE_CASES_F32=P4,H4096,G4096         engine-only timing, float32
#   SKIP_GOLDEN=1    skip the golden parity part
#   SKIP_DEFAULT=1   skip the timing with default flags (noise image written)
#   SKIP_SERIES=1    skip the series benchmark
#   SERIES_FRAMES=100  frames of the series benchmark
#   WHEELS_DIR=.whl  folder of wheels for missing pure-Python dependencies (offline install)
#   PYTHON=python3   interpreter to use
#   BACKEND=cupy     nbcupy backend; BACKEND=numpy dry-runs this script on a machine without
#                    a GPU (the CuPy check is skipped and the numbers are CPU numbers)
# Exit status: 0 when every golden case passes and every benchmark ran, 1 otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
RUNS="${RUNS:-3}"
CASES="${CASES:-P1,P2,P3,P4,H1,H1-f32}"
CASES_F32="${CASES_F32:-P1,P2,P3,P4}"
DEFAULT_CASES="${DEFAULT_CASES:-P1,P2,P3,P4}"
LARGE_CASES="${LARGE_CASES:-H4096,G4096}"
LARGE_RUNS="${LARGE_RUNS:-1}"
ENGINE_CASES="${ENGINE_CASES:-P4,H1,H1-f32,H4096,G4096}"
ENGINE_CASES_F32="${ENGINE_CASES_F32:-P4,H4096,G4096}"
WHEELS_DIR="${WHEELS_DIR:-$ROOT/.whl}"
BACKEND="${BACKEND:-cupy}"
STATUS=0

say() { printf '\n=== %s\n' "$*"; }
die() { printf 'gpu_check: error: %s\n' "$*" >&2; exit 2; }

# ---------------------------------------------------------------------------------------
say "prerequisites"
command -v "$PYTHON" >/dev/null 2>&1 || die "no Python interpreter '$PYTHON' (set PYTHON)"
[ -n "${NB_C_BIN:-}" ] || die "set NB_C_BIN to a nanoBragg.c binary built on this machine"
[ -x "$NB_C_BIN" ] || die "NB_C_BIN=$NB_C_BIN is not an executable file"
[ -f "$ROOT/golden/manifest.json" ] || die "no golden/manifest.json under $ROOT"
NPROC="$(nproc 2>/dev/null || echo 1)"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$NPROC}"
echo "repository:  $ROOT"
echo "nanoBragg.c: $NB_C_BIN (OMP_NUM_THREADS=$OMP_NUM_THREADS of $NPROC CPUs)"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi

# missing pure-Python dependencies from local wheels, if any are there
for mod in array_api_compat typer; do
    if ! "$PYTHON" -c "import $mod" >/dev/null 2>&1; then
        pkg="${mod//_/-}"
        if [ -d "$WHEELS_DIR" ]; then
            echo "installing $pkg from $WHEELS_DIR"
            "$PYTHON" -m pip install --quiet --no-index --find-links "$WHEELS_DIR" "$pkg" \
                || die "cannot install $pkg from $WHEELS_DIR"
        else
            die "Python module $mod is missing (put its wheel in WHEELS_DIR=$WHEELS_DIR)"
        fi
    fi
done
if [ "$BACKEND" = "cupy" ]; then
"$PYTHON" - <<'EOF' || die "CuPy cannot use a GPU here (pip install cupy-cuda12x or cupy-cuda13x)"
import cupy
n = cupy.cuda.runtime.getDeviceCount()
assert n > 0, "no CUDA device"
props = cupy.cuda.runtime.getDeviceProperties(0)
print(f"cupy {cupy.__version__}: {n} device(s), device 0 = {props['name'].decode()}")
print("cupy check:", float(cupy.arange(10.0).sum()))
EOF
else
    echo "BACKEND=$BACKEND: dry run without the GPU"
fi

# how to run nbcupy: the installed package, else straight from this tree
if "$PYTHON" -c "import nbcupy.cli.app" >/dev/null 2>&1 \
        && "$PYTHON" -c "import nbcupy, sys; sys.exit(0 if nbcupy.__file__.startswith('$ROOT') else 1)"; then
    NBCUPY_CMD="$PYTHON -m nbcupy.cli.app"
else
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    # a string for Python's shlex, not for the shell
    # shellcheck disable=SC2089
    NBCUPY_CMD="$PYTHON -c 'import sys; from cli.app import main; sys.argv[0] = \"nbcupy\"; main()'"
    "$PYTHON" -c "from cli.app import main" >/dev/null || die "cannot import nbcupy from $ROOT"
    # the C extension (exact noise loop, sequential sums) in place; without it the pure
    # Python fallbacks give the same numbers, slower
    if ! "$PYTHON" -c "import nbcupy.nanobragg._sequential, nbcupy.engine.kernels._settings_sum" >/dev/null 2>&1; then
        (cd "$ROOT" && "$PYTHON" setup.py -q build_ext --inplace >/dev/null 2>&1) \
            || echo "note: C extensions not built here; the noise image uses pure Python and the
      CPU engine its fused NumPy kernel"
    fi
fi
echo "nbcupy:      $NBCUPY_CMD --backend $BACKEND"
# shellcheck disable=SC2090
export NBCUPY_CMD BACKEND

# ---------------------------------------------------------------------------------------
if [ "${SKIP_GOLDEN:-0}" != "1" ]; then
    for dtype in float64 float32; do
        say "golden parity on $BACKEND, $dtype"
        if ! GOLDEN="$ROOT/golden" DTYPE="$dtype" "$PYTHON" - <<'EOF'
import gzip, json, os, shlex, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

golden = Path(os.environ["GOLDEN"])
dtype = os.environ["DTYPE"]
backend = os.environ["BACKEND"]
cmd = shlex.split(os.environ["NBCUPY_CMD"]) + ["--backend", backend, "--dtype", dtype]
max_rel = 1e-5 if dtype == "float64" else 1e-4
manifest = json.loads((golden / "manifest.json").read_text())
cases = manifest["cases"] if isinstance(manifest, dict) else manifest
passed = 0
for case in cases:
    name, args = case["name"], list(case["args"])
    fp, sp = int(case["fpixels"]), int(case["spixels"])
    with tempfile.TemporaryDirectory(prefix=f"gpu-golden-{name}-") as tmp:
        work = Path(tmp)
        shutil.copytree(golden / "inputs", work / "inputs")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd + args, cwd=work, capture_output=True, text=True, timeout=900)
        secs = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or [""]
            print(f"FAIL  {name:<26} exit {proc.returncode}: {tail[0][:150]}", flush=True)
            continue
        if backend not in proc.stdout:
            print(f"FAIL  {name:<26} the summary does not name the {backend} backend",
                  flush=True)
            continue
        flag = "-floatfile" if "-floatfile" in args else "-floatimage"
        got = np.fromfile(work / args[args.index(flag) + 1], "<f4").astype(np.float64)
        ref = np.frombuffer(gzip.decompress((golden / "cases" / name / "float.bin.gz")
                                            .read_bytes()), "<f4").astype(np.float64)
        if got.size != fp * sp or not np.all(np.isfinite(got)):
            print(f"FAIL  {name:<26} bad float image", flush=True)
            continue
        rel = float(np.max(np.abs(ref - got))) / (float(np.max(np.abs(ref))) or 1.0)
        corr = float(np.corrcoef(ref, got)[0, 1]) if np.std(ref) and np.std(got) else 1.0
        ok = corr >= 0.99999 and rel <= max_rel
        files = ""
        for flag_name in ("-intfile", "-noisefile", "-pgmfile"):
            if flag_name in args:
                fname = args[args.index(flag_name) + 1]
                want = golden / "cases" / name / (Path(fname).name + ".gz")
                if want.exists():
                    same = (work / fname).exists() and gzip.decompress(
                        want.read_bytes()) == (work / fname).read_bytes()
                    files += f" {flag_name[1:]}:{'identical' if same else 'differs'}"
        passed += ok
        print(f"{'PASS' if ok else 'FAIL'}  {name:<26} corr={corr:.7f} "
              f"maxdiff/max={rel:.2e} {secs:.2f}s{files}", flush=True)
print(f"{passed}/{len(cases)} cases pass on {backend} in {dtype}")
sys.exit(0 if passed == len(cases) else 1)
EOF
        then
            STATUS=1
        fi
    done
fi

# ---------------------------------------------------------------------------------------
if [ "$BACKEND" = "cupy" ] && "$PYTHON" -c "import pytest" >/dev/null 2>&1; then
    say "the CUDA kernel (nbcupy/engine/kernels/settings_sum_kernel.h) against the plain kernel on the GPU"
    if ! (cd "$ROOT" && "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_engine_fused.py \
            -k "cupy or nvcc or cuda"); then
        STATUS=1
    fi
fi

# ---------------------------------------------------------------------------------------
say "engine alone (in-process render after a warm-up) on $BACKEND: seconds and pixel-steps/s"
for spec in "float64:$ENGINE_CASES" "float32:$ENGINE_CASES_F32"; do
    if ! "$PYTHON" "$ROOT/benchmarks/vs_nanobragg.py" --engine-only --backend "$BACKEND" \
            --dtype "${spec%%:*}" --runs 3 --engine-threads 0 --cases "${spec#*:}"; then
        STATUS=1
    fi
done

# ---------------------------------------------------------------------------------------
bench() {
    say "whole process: $*"
    if ! "$PYTHON" "$ROOT/benchmarks/vs_nanobragg.py" --c-bin "$NB_C_BIN" \
            --nbcupy-cmd "$NBCUPY_CMD" --backend "$BACKEND" --runs "$RUNS" --cases "$CASES" "$@"; then
        STATUS=1
    fi
}
bench --dtype float64 --nonoise
bench --dtype float32 --nonoise --cases "$CASES_F32"
bench --dtype float64 --nonoise --cases "$LARGE_CASES" --runs "$LARGE_RUNS"
bench --dtype float32 --nonoise --cases "$LARGE_CASES" --runs "$LARGE_RUNS"
if [ "${SKIP_DEFAULT:-0}" != "1" ]; then
    bench --dtype float64 --cases "$DEFAULT_CASES"
fi

# ---------------------------------------------------------------------------------------
# The series benchmark (issue 13: the 100-frame rotation series of the series issue, frames/s
# on one GPU and the ratio against nanoBragg.c run once per frame), with the memory and
# stills parts made small enough for this check's time.
if [ "${SKIP_SERIES:-0}" != "1" ]; then
    if [ -f "$ROOT/benchmarks/series_vs_nanobragg.py" ]; then
        say "series benchmark (${SERIES_FRAMES:-100} frames) on $BACKEND"
        if ! "$PYTHON" "$ROOT/benchmarks/series_vs_nanobragg.py" --c-bin "$NB_C_BIN" \
                --c-threads "$OMP_NUM_THREADS" --backend "$BACKEND" --frames "${SERIES_FRAMES:-100}" \
                --memory-frames 50,100 --stills-frames 1000; then
            STATUS=1
        fi
    else
        say "series benchmark: benchmarks/series_vs_nanobragg.py is not in this tree (slot)"
    fi
fi

say "done (status $STATUS)"
exit "$STATUS"
