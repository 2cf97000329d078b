"""The ``nbcupy`` command: nanoBragg's flags, run on NumPy or CuPy.

``nbcupy <nanoBragg flags>`` behaves like ``nanoBragg <same flags>``.  nbcupy's own
double-dash options are declared as a Typer application (:mod:`nbcupy.cli.typer_app`);
nanoBragg's single-dash flags are passed through to the exact parser in
:mod:`nbcupy.nanobragg.flags`.
Command lines of nanoBragg flags and nbcupy's options in their plain ``--opt value``,
``--opt=value`` forms (every existing nanoBragg script, and nearly every nbcupy one) are split
here without loading Typer, whose imports would cost more than a small simulation; anything
else starting with ``--`` goes through the Typer application.  ``nbcupy series ...`` (many
images) is handled by :mod:`nbcupy.cli.series`.  Errors the user can fix are printed as one
line and exit with 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

HELP_WORDS = ("-h", "-help")


def execute(argv: Sequence[str], *, backend: str = "numpy", dtype: str = "float64",
            memory_mb: float = 0.0, threads: int = 0, noise: str = "exact",
            corrected: bool = False, show_help: bool = False, show_version: bool = False,
            **options: Any) -> int:
    """Run nbcupy on nanoBragg flags ``argv`` with nbcupy's options; return the exit status.

    Prints the version for ``--version`` and the help for ``-h``/``-help``/``--help`` (status
    0) or an empty command line (status 2), and one ``error:`` line on stderr for anything
    the user can fix (status 2).  ``options``: the :class:`~nbcupy.nanobragg.options.Options`
    fields that nbcupy's structure-factor and output options set (``cbf_file``,
    ``model_file``, ...; see :mod:`nbcupy.nanobragg.option_fields`).
    """
    argv = list(argv)
    if show_version:
        from nbcupy import __version__

        print(f"nbcupy {__version__}")
        return 0
    # single-dash help words are taken here: click would read "-h" inside nanoBragg flags
    show_help = show_help or any(a in HELP_WORDS for a in argv)
    if show_help or not argv:
        from nbcupy.nanobragg.flags import help_text

        print(help_text())
        return 0 if show_help else 2
    for option, value, choices in (("--backend", backend, ("numpy", "cupy", "auto")),
                                   ("--dtype", dtype, ("float64", "float32")),
                                   ("--noise", noise, ("exact", "fast"))):
        if value not in choices:
            return _fail(f"{option}: expected one of {', '.join(choices)}, got {value!r}")
    if not (0.0 <= memory_mb < float("inf")) or threads < 0:
        return _fail(f"--memory-mb must be a finite number >= 0 (got {memory_mb!r}) and "
                     f"--threads >= 0 (got {threads!r})")

    from nbcupy.api import run
    from nbcupy.errors import NbcupyError

    try:
        run(argv, backend=backend, dtype=dtype, memory_mb=memory_mb or None, threads=threads,
            noise=noise, corrected=corrected, **options)
    except NbcupyError as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # output piped into a program that stopped reading
        sys.stderr.close()
        return 0
    except (RuntimeError, FloatingPointError, MemoryError, OSError) as exc:
        return _fail(failure_message(exc))
    return 0


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else ""


def failure_message(exc: BaseException) -> str:
    """One line a user can act on for an error that is not bad input as such: the machine's
    memory, a file system, the GPU or the image itself failed."""
    text = _first_line(exc)
    if isinstance(exc, MemoryError):
        detail = f": {text[0].lower()}{text[1:]}" if text else ""
        return (f"out of memory{detail}; lower --memory-mb, or use fewer pixels, sources, phi "
                "steps or mosaic domains")
    if isinstance(exc, FloatingPointError):
        return f"the simulation failed: {text or 'the image is not finite'}"
    if isinstance(exc, OSError):
        what = exc.strerror or text or "input/output error"
        return f"{exc.filename}: {what}" if exc.filename else what
    return text or f"the computation failed ({type(exc).__name__}, no message)"


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


#: nbcupy's engine options: name -> (keyword of :func:`execute`, converter), and switches;
#: the options that set Options fields come from :mod:`nbcupy.nanobragg.option_fields`.
_ENGINE_OPTIONS = {"--backend": ("backend", str), "--dtype": ("dtype", str),
                   "--memory-mb": ("memory_mb", float), "--threads": ("threads", int),
                   "--noise": ("noise", str)}
_ENGINE_SWITCHES = {"--corrected": "corrected", "--help": "show_help",
                    "--version": "show_version"}


def _split_options(argv: list[str]) -> tuple[list[str], dict] | None:
    """Separate nbcupy's double-dash options from nanoBragg's flags without Typer.

    Returns (nanoBragg flags, keyword arguments for :func:`execute`), or None when the
    command line has anything else starting with ``--`` (an unknown option): those go
    through the Typer application.  A missing or malformed value is a ValueError
    with a one-line message.
    """
    from nbcupy.cli.splitting import UnknownOption, field_options, split_options
    from nbcupy.nanobragg.option_fields import FIELD_OPTIONS

    valued, switches = field_options(FIELD_OPTIONS)
    try:
        return split_options(argv, {**_ENGINE_OPTIONS, **valued},
                             {**_ENGINE_SWITCHES, **switches})
    except UnknownOption:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point.

    nanoBragg's flags and nbcupy's options in their plain forms are handled directly (see the
    module docstring); anything else that starts with ``--`` goes through Typer.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "series":
        from nbcupy.cli.series import main as series_main

        return series_main(argv[1:])
    try:
        split = _split_options(argv)
    except ValueError as exc:
        return _fail(str(exc))
    if split is not None:
        rest, kwargs = split
        return execute(rest, **kwargs)
    from nbcupy.cli.typer_app import app

    app(args=argv, prog_name="nbcupy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
