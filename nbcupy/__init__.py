"""nbcupy: nanoBragg's diffraction-image simulator as array programs on NumPy or CuPy.

The public API is :func:`simulate` (an image from nanoBragg flags, :class:`Options` or
prepared models), :func:`prepare` (the models, built once from flags or :class:`Options`),
:func:`simulate_many` (a stack of frames on the backend, or a lazy Dask array of them),
:func:`run` (what the ``nbcupy`` command does) and :mod:`nbcupy.series` (many images as
files).
Heavy modules load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["simulate", "simulate_many", "prepare", "run", "Options", "Prepared",
           "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("simulate", "prepare", "run", "SimulationResult", "Prepared"):
        from nbcupy import api

        return getattr(api, name)
    if name == "simulate_many":
        from nbcupy.series.stack import simulate_many

        return simulate_many
    if name == "series":
        import importlib

        return importlib.import_module("nbcupy.series")
    if name == "Options":
        from nbcupy.nanobragg.options import Options

        return Options
    raise AttributeError(f"module 'nbcupy' has no attribute {name!r}")
