"""The Typer application for command lines that use nbcupy's own double-dash options.

:func:`nbcupy.cli.app.main` loads it only when such an option is present; everything else
(nanoBragg's single-dash flags) is passed through to :func:`nbcupy.cli.app.execute`.
"""

from __future__ import annotations

import typer

from nbcupy.cli.app import execute

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
    cbf: str = typer.Option(None, "--cbf", help="miniCBF file of photon counts"),
    nexus: str = typer.Option(None, "--nexus", help="NeXus NXmx file of photon counts"),
    png: str = typer.Option(None, "--png", help="PNG preview"),
    png_brightness: float = typer.Option(100.0, "--png-brightness", help="percent"),
    png_log: bool = typer.Option(False, "--png-log", help="log-scale preview"),
    model: str = typer.Option(None, "--model", help="PDB/mmCIF model: F computed"),
    column: str = typer.Option(None, "--column", help="MTZ/mmCIF column of -hkl"),
    sensor_material: str = typer.Option("Si", "--sensor-material", help="Si, CdTe, GaAs"),
    smv_adc_offset: bool = typer.Option(False, "--smv-adc-offset",
                                        help="ADC_OFFSET= in SMV headers"),
    show_version: bool = typer.Option(False, "--version", is_eager=True),
) -> None:
    """Simulate a diffraction image with nanoBragg's flags."""
    status = execute(ctx.args, backend=backend, dtype=dtype, memory_mb=memory_mb,
                     threads=threads, noise=noise, corrected=corrected, show_help=show_help,
                     cbf_file=cbf, nexus_file=nexus, png_file=png,
                     png_brightness=png_brightness, png_log=png_log, model_file=model,
                     column=column, sensor_material=sensor_material,
                     smv_adc_offset=smv_adc_offset, show_version=show_version)
    if status:
        raise typer.Exit(status)
