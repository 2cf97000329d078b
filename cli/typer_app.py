"""The Typer application for command lines that use nbcupy's own double-dash options.

:func:`nbcupy.cli.app.main` loads it only when such an option is present; everything else
(nanoBragg's single-dash flags) is passed through to :func:`nbcupy.cli.app.execute`.  The
engine options are declared here; the options that set Options fields (``--cbf``,
``--model``, ...) are taken from the remaining arguments with the same table and splitter as
the plain command line (:mod:`nbcupy.nanobragg.option_fields`, :mod:`nbcupy.cli.splitting`).
"""

from __future__ import annotations

import typer

from nbcupy.cli.app import _fail, execute

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
    show_version: bool = typer.Option(False, "--version", is_eager=True),
) -> None:
    """Simulate a diffraction image with nanoBragg's flags."""
    from nbcupy.cli.splitting import field_options, split_options
    from nbcupy.nanobragg.option_fields import FIELD_OPTIONS

    try:
        flags, fields = split_options(ctx.args, *field_options(FIELD_OPTIONS),
                                      keep_unknown=True)
    except ValueError as exc:
        raise typer.Exit(_fail(str(exc))) from None
    status = execute(flags, backend=backend, dtype=dtype, memory_mb=memory_mb,
                     threads=threads, noise=noise, corrected=corrected, show_help=show_help,
                     show_version=show_version, **fields)
    if status:
        raise typer.Exit(status)
