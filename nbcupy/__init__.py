"""nbcupy: nanoBragg's diffraction-image simulator as array programs on NumPy or CuPy.

The public API is :func:`simulate` (an image from nanoBragg flags or :class:`Options`) and
:func:`run` (what the ``nbcupy`` command does).  Heavy modules load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["simulate", "run", "Options", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("simulate", "run", "SimulationResult"):
        from nbcupy import api

        return getattr(api, name)
    if name == "Options":
        from nbcupy.nanobragg.options import Options

        return Options
    raise AttributeError(f"module 'nbcupy' has no attribute {name!r}")
