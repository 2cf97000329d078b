"""Which file gives the structure factors, and the unit cell it brings.

nanoBragg reads amplitudes only from ``-hkl`` text (``h k l F``, P1).  nbcupy also takes, by
content, an MTZ or mmCIF structure-factor file given with ``-hkl`` (read and expanded to P1
by :mod:`nbcupy.io.reflections`; ``--column LABEL`` picks the column) and an atomic model
given with ``--model`` (amplitudes computed by :mod:`nbcupy.io.model`).  Both files know
their unit cell: it is the crystal's cell when neither ``-cell`` nor ``-mat`` is given, and a
given cell that differs from it by more than 1 % gets a warning.

The rules, in the order they are checked:

* ``--model`` and ``-hkl`` together are an error (two sources of amplitudes);
* ``--column`` needs an MTZ or mmCIF ``-hkl`` file: with a text file, with ``--model`` or
  with no file it is an error;
* a ``--model``'s amplitudes reach the detector's highest resolution
  (:func:`nbcupy.io.model.detector_d_min`), so they are computed after the detector, the
  sources and the crystal; the command line caches them next to ``-dump``'s ``Fdump.bin``
  (or in ``Options.model_cache_dir``), the API only in ``Options.model_cache_dir``.  They
  do not write ``Fdump.bin``: that cache holds no key saying which model and resolution it
  came from, so a later run could not tell it was stale.

What was read and chosen goes to the report's lines (printed in the summary) and to its
``notes`` (the API's notes); warnings to its warnings and notes.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

from nbcupy.errors import InputError
from nbcupy.nanobragg.options import Options

__all__ = ["StructureFactorInput", "read_structure_factor_input", "crystal_options",
           "check_cell", "model_grid", "model_cache_dir"]


@dataclass(frozen=True)
class StructureFactorInput:
    """What the structure-factor options name, read before the crystal is built.

    ``kind``: ``"none"`` (``-default_F`` or ``Fdump.bin`` only), ``"text"`` (an ``h k l F``
    ``-hkl`` file), ``"reflections"`` (an MTZ/mmCIF ``-hkl`` file, already read into
    ``reflections``, a :class:`~nbcupy.io.reflections.ReflectionData`) or ``"model"``
    (``--model``).  ``label``: the option and file, for messages.  ``cell``: the file's
    a, b, c (Angstrom), alpha, beta, gamma (degrees), when known yet.
    """

    kind: str
    label: str = ""
    cell: tuple[float, ...] | None = None
    reflections: Any = None


def _note(report: Any, line: str) -> None:
    report.lines.append(line)
    report.notes.append(line)


def _warn(report: Any, line: str) -> None:
    report.warnings.append(line)
    report.notes.append(line)


def read_structure_factor_input(opts: Options, report: Any) -> StructureFactorInput:
    """Check the structure-factor options against each other (module docstring) and read
    what must be known before the crystal: an MTZ/mmCIF ``-hkl`` file whole, a ``--model``'s
    cell when neither ``-cell`` nor ``-mat`` is given.  One-line InputError otherwise."""
    column = opts.column
    if column is not None and not str(column).strip():
        raise InputError("--column: expected a column label, got an empty string")
    if opts.model_file is not None:
        label = f"--model {opts.model_file}"
        if opts.hkl_file is not None:
            raise InputError(f"--model {opts.model_file} and -hkl {opts.hkl_file} both give "
                             "structure factors; use one of them")
        if column is not None:
            raise InputError(f"--column {column}: --column selects a column of an MTZ or "
                             "mmCIF -hkl file, not of a --model")
        if opts.cell is None and opts.matrix_file is None:
            from nbcupy.io.model import read_model_cell

            cell, _ = read_model_cell(opts.model_file)
            return StructureFactorInput("model", label, tuple(cell))
        return StructureFactorInput("model", label)
    if opts.hkl_file is None:
        if column is not None:
            raise InputError(f"--column {column}: needs an MTZ or mmCIF file given with -hkl")
        return StructureFactorInput("none")
    from nbcupy.io.reflections import read_reflections, reflection_file_format

    label = f"-hkl {opts.hkl_file}"
    if reflection_file_format(opts.hkl_file) is None:
        if column is not None:
            raise InputError(f"--column {column}: -hkl {opts.hkl_file} is not an MTZ or "
                             "mmCIF file (an h k l F text file has one amplitude column)")
        return StructureFactorInput("text", label)
    data = read_reflections(opts.hkl_file, column)
    for line in data.notes:
        _note(report, line)
    return StructureFactorInput("reflections", label, tuple(data.cell), data)


def crystal_options(opts: Options, given: StructureFactorInput, report: Any) -> Options:
    """``opts`` for building the crystal: with the file's cell as ``-cell`` when neither
    ``-cell`` nor ``-mat`` is given (``opts`` itself is not changed)."""
    if given.cell is None or opts.cell is not None or opts.matrix_file is not None:
        return opts
    a, b, c, al, be, ga = given.cell
    _note(report, f"unit cell from {given.label}: {a:g} {b:g} {c:g} {al:g} {be:g} {ga:g}")
    return dataclasses.replace(opts, cell=(a, b, c, math.radians(al), math.radians(be),
                                           math.radians(ga)))


def check_cell(opts: Options, cell_parameters: tuple[float, ...],
               file_cell: tuple[float, ...] | None, label: str, report: Any) -> None:
    """Warn when the cell given with ``-cell``/``-mat`` (``cell_parameters``, as built: a, b,
    c in Angstrom, angles in degrees) differs from ``file_cell`` by more than 1 %."""
    if file_cell is None or (opts.cell is None and opts.matrix_file is None):
        return
    from nbcupy.io.reflections import cell_mismatch

    worst = cell_mismatch(tuple(cell_parameters), tuple(file_cell))
    if worst is not None:
        given = "-cell" if opts.cell is not None else f"-mat {opts.matrix_file}"
        cell = " ".join(f"{v:g}" for v in file_cell)
        _warn(report, f"WARNING: the unit cell given with {given} differs from the cell of "
                      f"{label} ({cell}) by more than 1 % ({worst}); the given cell is "
                      "simulated")


def model_cache_dir(opts: Options, write_cache: bool) -> str | None:
    """The folder of the ``--model`` cache: ``opts.model_cache_dir``, else (when the caller
    writes nanoBragg's caches, as the command line does) the folder of ``opts.dump_file``,
    else None (no cache)."""
    if opts.model_cache_dir is not None:
        return opts.model_cache_dir
    if write_cache:
        return os.path.dirname(opts.dump_file)  # "": the working folder
    return None


def model_grid(opts: Options, given: StructureFactorInput, detector: Any, sources: Any,
               crystal: Any, report: Any, write_cache: bool) -> Any:
    """The :class:`~nbcupy.experiment.models.HKLGrid` of a ``--model``'s amplitudes to the
    resolution the detector reaches (with ``-default_F`` in the box around them)."""
    from nbcupy.io.hkl import build_hkl_grid
    from nbcupy.io.model import detector_d_min, model_structure_factors

    d_min = detector_d_min(detector, sources, crystal)
    data = model_structure_factors(opts.model_file, d_min,
                                   cache_dir=model_cache_dir(opts, write_cache))
    for line in data.notes:
        _note(report, line)
    check_cell(opts, crystal.cell_parameters, data.cell, given.label, report)
    return build_hkl_grid(data.table, opts.default_F)
