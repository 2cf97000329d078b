"""``nbcupy series``: many images from one command line (see :mod:`nbcupy.series`).

``nbcupy series <nanoBragg flags> --frames N --template run/img_#####.img [options]``.
nanoBragg's single-dash flags describe the experiment; the double-dash options the series
(its own, and those of the single-image command that set Options fields and make sense for
many images).  Split without Typer by :func:`nbcupy.cli.splitting.split_options`, as the
single-image command is; errors the user can fix are one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

_HELP = """\
usage: nbcupy series [nanoBragg flags] --frames N --template PATH [options]
       nbcupy series [nanoBragg flags] --frames N --nexus FILE [--template PATH] [options]

Many images of one experiment: a rotation series (default) or stills in random
orientations, in this process or on a Dask cluster, with a manifest for checking and
resuming.  nanoBragg's flags describe every frame (nbcupy --help lists them).

series:
  --frames N                 number of frames (>= 1)
  --template PATH            frame files: one run of '#' is the zero-padded frame
                             number (run/img_#####.img); the extension picks the
                             format: .img/.smv SMV, .bin raw float32, .cbf miniCBF,
                             .h5/.nxs NeXus (photon counts), .png preview
  --nexus FILE               also one NeXus NXmx file for the whole series: its data
                             map frame i to the frames' NeXus files (default template
                             <FILE stem>_#####.h5 next to FILE); refreshed as frames
                             complete, so it always holds the frames done so far
  --first K                  number of the first frame (default 1)
  --image noise|int|float    what each file holds (default noise: what a detector
                             records; int: noiseless; float: photons per pixel)
  --stills                   every frame a still (one step at -phi) of the crystal in
                             its own uniformly random orientation
  --orientation-seed S       seed of the stills' orientations (default: drawn, printed)
  --resume                   continue the series in the template's manifest: frames
                             whose file matches its recorded checksum are kept

  Rotation series: frame k covers -phi + (k-first)*osc to -phi + (k-first+1)*osc
  (-osc is ONE frame's range) in -phisteps steps.  Frame k uses noise seed
  -seed + (k-first) (-seed drawn from the clock and printed when not given).  Frame k
  equals `nbcupy <flags> -phi <its start> -seed <its seed>` byte for byte.

structure factors (as for one image; see README):
  -hkl FILE.mtz | FILE.cif   MTZ/mmCIF file (by content), expanded to P1
{structure}

frame files:
{outputs}

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


def help_text() -> str:
    """``nbcupy series --help``."""
    from nbcupy.nanobragg.flags import field_option_lines
    from nbcupy.nanobragg.option_fields import OUTPUTS, STRUCTURE

    lines = {group: "\n".join(field_option_lines(group, series=True, width=26))
             for group in (STRUCTURE, OUTPUTS)}
    return _HELP.format(structure=lines[STRUCTURE], outputs=lines[OUTPUTS])


#: the series' own options: option -> (SeriesConfig field, converter), and switches
_OPTIONS = {
    "--frames": ("frames", int), "--template": ("template", str), "--first": ("first", int),
    "--nexus": ("nexus", str),
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
    message for an unknown option or a malformed value.

    Beyond the series' own options, the single image's options that set Options fields
    and make sense for a series (:mod:`nbcupy.nanobragg.option_fields`, ``series``) become
    SeriesConfig fields of the same names; the single image's output files are refused.
    """
    from nbcupy.cli.splitting import UnknownOption, field_options, split_options
    from nbcupy.nanobragg.option_fields import FIELD_OPTION_BY_NAME, FIELD_OPTIONS

    valued, switches = field_options(o for o in FIELD_OPTIONS if o.series)
    try:
        flags, kwargs = split_options(argv, {**valued, **_OPTIONS}, {**switches, **_SWITCHES})
    except UnknownOption as exc:
        if exc.name in FIELD_OPTION_BY_NAME:
            raise ValueError(f"{exc.name}: a series writes its frames to --template, whose "
                             "extension picks the format (.img, .bin, .cbf, .h5, .png)"
                             ) from None
        raise ValueError(f"unknown option {exc.name} (see nbcupy series --help)") from None
    if "frames" not in kwargs:
        raise ValueError("--frames is required (see nbcupy series --help)")
    if "template" not in kwargs and "nexus" not in kwargs:
        raise ValueError("--template (or --nexus) is required (see nbcupy series --help)")
    return flags, kwargs


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str]) -> int:
    """Run ``nbcupy series``; the exit status: 0 done, 1 some frames failed, 2 bad input,
    130 interrupted (every completed frame is kept)."""
    argv = list(argv)
    if not argv or any(a in _HELP_WORDS for a in argv):
        print(help_text())
        return 0 if argv else 2
    try:
        flags, kwargs = parse(argv)
    except ValueError as exc:
        return _fail(str(exc))

    from nbcupy.errors import NbcupyError
    from nbcupy.series.run import SeriesConfig, run_series

    try:
        kwargs.setdefault("template", None)  # with --nexus: the default template
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
