"""``nbcupy series``: many images from one command line (see :mod:`nbcupy.series`).

``nbcupy series <nanoBragg flags> --frames N --template run/img_#####.img [options]``.
nanoBragg's single-dash flags describe the experiment; the double-dash options below the
series.  Parsed here without Typer (``--opt value`` and ``--opt=value``); errors the user can
fix are one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

HELP = """\
usage: nbcupy series [nanoBragg flags] --frames N --template PATH [options]

Many images of one experiment: a rotation series (default) or stills in random
orientations, in this process or on a Dask cluster, with a manifest for checking and
resuming.  nanoBragg's flags describe every frame (nbcupy --help lists them).

series:
  --frames N                 number of frames (>= 1)
  --template PATH            frame files: one run of '#' is the zero-padded frame
                             number (run/img_#####.img); the extension picks the
                             format: .img/.smv SMV, .bin raw float32
  --first K                  number of the first frame (default 1)
  --image noise|int|float    what each file holds (default noise: what a detector
                             records; int: noiseless SMV; float: photons per pixel)
  --stills                   every frame a still (one step at -phi) of the crystal in
                             its own uniformly random orientation
  --orientation-seed S       seed of the stills' orientations (default: drawn, printed)
  --resume                   continue the series in the template's manifest: frames
                             whose file matches its recorded checksum are kept

  Rotation series: frame k covers -phi + (k-first)*osc to -phi + (k-first+1)*osc
  (-osc is ONE frame's range) in -phisteps steps.  Frame k uses noise seed
  -seed + (k-first) (-seed drawn from the clock and printed when not given).  Frame k
  equals `nbcupy <flags> -phi <its start> -seed <its seed>` byte for byte.

execution:
  --workers K                K Dask worker processes on this machine (LocalCluster)
  --scheduler ADDRESS        an existing Dask scheduler (tcp://host:8786)
  --scheduler-file FILE      an existing Dask cluster's scheduler file
  --connect-timeout S        seconds to reach the scheduler (default 10)
  --backend numpy|cupy|auto  array backend (cupy asks Dask for resources GPU=1)
  --dtype float64|float32    engine precision (default float64)
  --memory-mb MB             engine memory budget per frame (default 256)
  --threads N                CPU threads per frame (default: all cores, shared by workers)
  --noise exact|fast         noise images with nanoBragg's generator (default) or the
                             backend's
  --corrected                correct nanoBragg's known defects
  -noprogress                no progress bar (also off when stderr is not a terminal)

manifest: <template stem>.jsonl (log, appended as frames complete) and
<template stem>.json (summary), next to the frames; see the README."""

#: option -> (SeriesConfig field, converter)
_OPTIONS = {
    "--frames": ("frames", int), "--template": ("template", str), "--first": ("first", int),
    "--image": ("image", str), "--orientation-seed": ("orientation_seed", int),
    "--workers": ("workers", int), "--scheduler": ("scheduler", str),
    "--scheduler-file": ("scheduler_file", str), "--connect-timeout": ("connect_timeout", float),
    "--backend": ("backend", str), "--dtype": ("dtype", str), "--memory-mb": ("memory_mb", float),
    "--threads": ("threads", int), "--noise": ("noise", str),
}
_SWITCHES = {"--stills": "stills", "--resume": "resume", "--corrected": "corrected"}
_HELP_WORDS = ("-h", "-help", "--help")


def parse(argv: Sequence[str]) -> tuple[list[str], dict]:
    """(nanoBragg flags, SeriesConfig keyword arguments); ValueError with a one-line
    message for an unknown option or a malformed value."""
    flags: list[str] = []
    kwargs: dict = {}
    argv = list(argv)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            flags.append(arg)
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if name in _SWITCHES and not eq:
            kwargs[_SWITCHES[name]] = True
            i += 1
            continue
        if name not in _OPTIONS:
            raise ValueError(f"unknown option {name} (see nbcupy series --help)")
        if not eq:
            if i + 1 >= len(argv):
                raise ValueError(f"{name} needs a value")
            value = argv[i + 1]
            i += 1
        key, convert = _OPTIONS[name]
        try:
            kwargs[key] = convert(value)
        except ValueError:
            kind = ("a whole number" if convert is int else "a number" if convert is float
                    else "a value")
            raise ValueError(f"{name}: expected {kind}, got {value!r}") from None
        i += 1
    for name, key in (("--frames", "frames"), ("--template", "template")):
        if key not in kwargs:
            raise ValueError(f"{name} is required (see nbcupy series --help)")
    return flags, kwargs


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str]) -> int:
    """Run ``nbcupy series``; the exit status: 0 done, 1 some frames failed, 2 bad input,
    130 interrupted (every completed frame is kept)."""
    argv = list(argv)
    if not argv or any(a in _HELP_WORDS for a in argv):
        print(HELP)
        return 0 if argv else 2
    try:
        flags, kwargs = parse(argv)
    except ValueError as exc:
        return _fail(str(exc))

    from nbcupy.errors import NbcupyError
    from nbcupy.series.run import SeriesConfig, run_series

    try:
        summary = run_series(SeriesConfig(flags=flags, **kwargs))
    except NbcupyError as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:  # before any frame was made (afterwards run_series returns)
        print("interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, FloatingPointError, MemoryError, OSError) as exc:
        from nbcupy.cli.app import failure_message

        return _fail(failure_message(exc))
    except ValueError as exc:
        return _fail(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    if summary.interrupted:
        return 130
    if summary.failed:
        number, reason = summary.failed[0]
        print(f"error: {len(summary.failed)} frames failed (frame {number}: {reason}); "
              "rerun with --resume to make them", file=sys.stderr)
        return 1
    return 0
