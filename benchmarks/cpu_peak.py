#!/usr/bin/env python3
"""This CPU's clock and peak floating-point rates, measured with tight C loops.

Compiles a small C program with the system's C compiler (``CC``, default ``cc``) for the
machine it runs on (``-march=native``), runs it on one core and prints:

* the clock: a chain of dependent integer additions (one cycle each on any x86-64 or
  AArch64 core) timed for 0.5 s of the thread's CPU time (so that other processes on shared
  cores do not lower it; every rate here is per second of CPU time);
* the peak rate of separate multiplications and additions (no fused multiply-add, as the
  engine's kernel is compiled): 8 independent multiply chains and 8 independent add chains
  on SIMD vectors of 16, 32 and 64 bytes, in float64 and float32, values that neither drift
  nor become subnormal;
* the throughput of vector divisions.

    python benchmarks/cpu_peak.py            # one core; run it on a quiet machine

The numbers are the yardstick of RESULTS.md's limit analysis: the peak pixel-step rate is the
peak flop rate divided by the multiplications and additions one pixel-step needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = r"""
#include <stdio.h>
#include <time.h>

/* this thread's CPU time: the loops are timed while they run, whatever else the machine
 * runs (other processes on shared cores would halve a wall-clock rate) */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* hide a value from the optimiser */
#define HIDE(v) __asm__ volatile("" : "+x"(v))

static double clock_ghz(void)
{
    long x = 0;
    long n = 0;
    const double t0 = now();
    double t1;
    do {
        for (int i = 0; i < 1000000; ++i) {
#if defined(__x86_64__)
            __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                             "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
                             : "+r"(x));
#else
            __asm__ volatile("add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"
                             "add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"
                             "add %0, %0, #1\n\tadd %0, %0, #1"
                             : "+r"(x));
#endif
        }
        n += 8000000;
        t1 = now();
    } while (t1 - t0 < 0.5);
    return n / (t1 - t0) / 1e9;
}

/* 8 multiply chains (x 2, x 0.5, ...) and 8 add chains (+1, -1, ...) in registers: the
 * loop runs in a function of its own, without calls, from and back to memory */
#define PEAK(NAME, T, BYTES)                                                             \
    typedef T NAME##_vec __attribute__((vector_size(BYTES)));                            \
    __attribute__((noinline)) static void NAME##_loop(NAME##_vec *s, const NAME##_vec *k) \
    {                                                                                    \
        NAME##_vec m0 = s[0], m1 = s[1], m2 = s[2], m3 = s[3], m4 = s[4], m5 = s[5];     \
        NAME##_vec m6 = s[6], m7 = s[7], a0 = s[8], a1 = s[9], a2 = s[10], a3 = s[11];   \
        NAME##_vec a4 = s[12], a5 = s[13], a6 = s[14], a7 = s[15];                       \
        const NAME##_vec up = k[0], down = k[1], plus = k[2], minus = k[3];              \
        for (int it = 0; it < 100000; ++it) {                                            \
            m0 *= up; m1 *= up; m2 *= up; m3 *= up;                                      \
            m4 *= up; m5 *= up; m6 *= up; m7 *= up;                                      \
            a0 += plus; a1 += plus; a2 += plus; a3 += plus;                              \
            a4 += plus; a5 += plus; a6 += plus; a7 += plus;                              \
            m0 *= down; m1 *= down; m2 *= down; m3 *= down;                              \
            m4 *= down; m5 *= down; m6 *= down; m7 *= down;                              \
            a0 += minus; a1 += minus; a2 += minus; a3 += minus;                          \
            a4 += minus; a5 += minus; a6 += minus; a7 += minus;                          \
        }                                                                                \
        s[0] = m0; s[1] = m1; s[2] = m2; s[3] = m3; s[4] = m4; s[5] = m5; s[6] = m6;     \
        s[7] = m7; s[8] = a0; s[9] = a1; s[10] = a2; s[11] = a3; s[12] = a4;             \
        s[13] = a5; s[14] = a6; s[15] = a7;                                              \
    }                                                                                    \
    static double NAME(void)                                                             \
    {                                                                                    \
        const int lanes = BYTES / sizeof(T);                                             \
        NAME##_vec s[16], k[4];                                                          \
        T *sp = (T *)s, *kp = (T *)k;                                                    \
        for (int i = 0; i < 16; ++i)                                                     \
            for (int j = 0; j < lanes; ++j)                                              \
                sp[i * lanes + j] = (T)(1 + i + j);                                      \
        for (int j = 0; j < lanes; ++j) {                                                \
            kp[j] = 2;                                                                   \
            kp[lanes + j] = (T)0.5;                                                      \
            kp[2 * lanes + j] = 1;                                                       \
            kp[3 * lanes + j] = -1;                                                      \
        }                                                                                \
        long n = 0;                                                                      \
        const double t0 = now();                                                         \
        double t1;                                                                       \
        do {                                                                             \
            NAME##_loop(s, k);                                                           \
            n += 100000L * 32 * lanes;                                                   \
            t1 = now();                                                                  \
        } while (t1 - t0 < 0.5);                                                         \
        T sink = 0;                                                                      \
        for (int i = 0; i < 16 * lanes; ++i)                                             \
            sink += sp[i];                                                               \
        if (sink == (T)12345.678)                                                        \
            printf(" ");                                                                 \
        return n / (t1 - t0) / 1e9;                                                      \
    }

PEAK(peak_f64_16, double, 16)
PEAK(peak_f64_32, double, 32)
PEAK(peak_f64_64, double, 64)
PEAK(peak_f32_16, float, 16)
PEAK(peak_f32_32, float, 32)
PEAK(peak_f32_64, float, 64)

/* 8 independent divisions per iteration, likewise */
#define DIVS(NAME, T, BYTES)                                                             \
    typedef T NAME##_vec __attribute__((vector_size(BYTES)));                            \
    __attribute__((noinline)) static void NAME##_loop(NAME##_vec *s, const NAME##_vec *k) \
    {                                                                                    \
        NAME##_vec s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3], s4 = s[4], s5 = s[5];     \
        NAME##_vec s6 = s[6], s7 = s[7];                                                 \
        const NAME##_vec n0 = k[0], n1 = k[1], n2 = k[2], n3 = k[3], n4 = k[4];          \
        const NAME##_vec n5 = k[5], n6 = k[6], n7 = k[7];                                \
        NAME##_vec den = k[8];                                                           \
        for (int it = 0; it < 100000; ++it) {                                            \
            HIDE(den);                                                                   \
            s0 += n0 / den; s1 += n1 / den; s2 += n2 / den; s3 += n3 / den;              \
            s4 += n4 / den; s5 += n5 / den; s6 += n6 / den; s7 += n7 / den;              \
        }                                                                                \
        s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3; s[4] = s4; s[5] = s5; s[6] = s6;     \
        s[7] = s7;                                                                       \
    }                                                                                    \
    static double NAME(void)                                                             \
    {                                                                                    \
        const int lanes = BYTES / sizeof(T);                                             \
        NAME##_vec s[8], k[9];                                                           \
        T *sp = (T *)s, *kp = (T *)k;                                                    \
        for (int i = 0; i < 8 * lanes; ++i)                                              \
            sp[i] = 0;                                                                   \
        for (int i = 0; i < 9 * lanes; ++i)                                              \
            kp[i] = (T)(1.5 + 0.01 * i);                                                 \
        long n = 0;                                                                      \
        const double t0 = now();                                                         \
        double t1;                                                                       \
        do {                                                                             \
            NAME##_loop(s, k);                                                           \
            n += 100000L * 8 * lanes;                                                    \
            t1 = now();                                                                  \
        } while (t1 - t0 < 0.5);                                                         \
        T sink = 0;                                                                      \
        for (int i = 0; i < 8 * lanes; ++i)                                              \
            sink += sp[i];                                                               \
        if (sink == (T)12345.678)                                                        \
            printf(" ");                                                                 \
        return n / (t1 - t0) / 1e9;                                                      \
    }

DIVS(div_f64_64, double, 64)
DIVS(div_f32_64, float, 64)

int main(void)
{
    const double ghz = clock_ghz();
    printf("clock %.3f GHz (dependent integer additions, per second of CPU time)\n", ghz);
    printf("%-8s %-6s %14s %14s\n", "dtype", "bytes", "GFLOP/s", "flops/cycle");
    const double r[6] = {peak_f64_16(), peak_f64_32(), peak_f64_64(),
                         peak_f32_16(), peak_f32_32(), peak_f32_64()};
    const char *dt[6] = {"float64", "float64", "float64", "float32", "float32", "float32"};
    const int bytes[6] = {16, 32, 64, 16, 32, 64};
    for (int i = 0; i < 6; ++i)
        printf("%-8s %-6d %14.2f %14.2f\n", dt[i], bytes[i], r[i], r[i] / ghz);
    const double d64 = div_f64_64(), d32 = div_f32_64();
    printf("divisions (64-byte vectors): float64 %.2f G/s (%.2f per cycle), "
           "float32 %.2f G/s (%.2f per cycle)\n", d64, d64 / ghz, d32, d32 / ghz);
    return 0;
}
"""


def main() -> int:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        print(f"cpu_peak: error: no C compiler {cc!r} (set CC)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cpu-peak-") as tmp:
        src = Path(tmp) / "peak.c"
        exe = Path(tmp) / "peak"
        src.write_text(SOURCE)
        flags = ["-O2", "-march=native", "-ffp-contract=off", "-fno-fast-math"]
        proc = subprocess.run([cc, *flags, "-o", str(exe), str(src)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            print(f"cpu_peak: error: the C compiler failed:\n{proc.stderr[-2000:]}",
                  file=sys.stderr)
            return 2
        if hasattr(os, "sched_setaffinity"):
            cpu = sorted(os.sched_getaffinity(0))[0]
            return subprocess.run(["taskset", "-c", str(cpu), str(exe)]
                                  if shutil.which("taskset") else [str(exe)]).returncode
        return subprocess.run([str(exe)]).returncode


if __name__ == "__main__":
    sys.exit(main())
