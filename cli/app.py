"""The ``nbcupy`` command: nanoBragg's flags, run on NumPy or CuPy.

``nbcupy <nanoBragg flags>`` behaves like ``nanoBragg <same flags>``.  Typer handles nbcupy's
own double-dash options; nanoBragg's single-dash flags are passed through to the exact parser
in :mod:`nbcupy.flags`.  Errors the user can fix are printed as one line and exit with 2.
"""

from __future__ import annotations

import sys

import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                               "help_option_names": []})
def nbcupy(
    ctx: typer.Context,
    backend: str = typer.Option("numpy", "--backend", help="numpy, cupy or auto"),
    dtype: str = typer.Option("float64", "--dtype", help="float64 or float32"),
    memory_mb: float = typer.Option(0.0, "--memory-mb", help="engine memory budget (MiB)"),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0 = all)"),
    noise: str = typer.Option("exact", "--noise", help="exact (nanoBragg's) or fast"),
    corrected: bool = typer.Option(False, "--corrected", help="correct nanoBragg's defects"),
    show_help: bool = typer.Option(False, "--help", is_eager=True),
) -> None:
    """Simulate a diffraction image with nanoBragg's flags."""
    from nbcupy.flags import help_text

    argv = list(ctx.args)
    # single-dash help words are taken here: click would read "-h" inside nanoBragg flags
    show_help = show_help or any(a in ("-h", "-help") for a in argv)
    if show_help or not argv:
        typer.echo(help_text())
        raise typer.Exit(0 if show_help else 2)
    _check_choice("--backend", backend, ("numpy", "cupy", "auto"))
    _check_choice("--dtype", dtype, ("float64", "float32"))
    _check_choice("--noise", noise, ("exact", "fast"))
    if memory_mb < 0 or threads < 0:
        _fail("--memory-mb and --threads must not be negative")

    from nbcupy.api import run
    from nbcupy.errors import NbcupyError

    try:
        run(argv, backend=backend, dtype=dtype, memory_mb=memory_mb or None, threads=threads,
            noise=noise, corrected=corrected)
    except NbcupyError as exc:
        _fail(str(exc))
    except BrokenPipeError:  # output piped into a program that stopped reading
        sys.stderr.close()
        raise typer.Exit(0) from None
    except (RuntimeError, FloatingPointError, MemoryError, OSError) as exc:
        _fail(f"{type(exc).__name__}: {exc}")


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(f"{option}: expected one of {', '.join(choices)}, got {value!r}")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def main() -> None:
    """Console entry point."""
    app(prog_name="nbcupy")


if __name__ == "__main__":
    sys.exit(main())
