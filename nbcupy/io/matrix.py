"""MOSFLM orientation matrix files (``-mat``).

A MOSFLM matrix file starts with the 3x3 matrix ``A = lambda * U * B``: line 1
holds the x components of a*, b*, c*, line 2 the y components and line 3 the
z components (so the reciprocal axes are the *columns*). The values are
reciprocal-lattice vectors in inverse Angstrom multiplied by the wavelength
(in Angstrom) the matrix was refined at, i.e. they are dimensionless. Further
lines (missetting angles, U, cell, ...) are ignored; nanoBragg reads only the
first nine numbers, whatever the line breaks.
"""

from __future__ import annotations

import os

import numpy as np

from nbcupy.errors import InputError
from nbcupy.io.ctext import c_atof

__all__ = ["read_mosflm_matrix"]


def _is_number(tok: str) -> bool:
    try:
        float(tok.replace("_", "!"))  # Python accepts 1_000, C does not
    except ValueError:
        return False
    return True


def read_mosflm_matrix(path: str | os.PathLike[str]) -> np.ndarray:
    """Read the first nine numbers of a MOSFLM matrix file.

    Returns a float64 array ``A`` of shape (3, 3) in the file's layout, so
    ``A[:, 0]``, ``A[:, 1]``, ``A[:, 2]`` are a*, b*, c* as (x, y, z) in
    inverse Angstrom times the matrix wavelength in Angstrom. (nanoBragg
    divides them by ``lambda0`` in Angstrom to get inverse Angstrom.)
    Raises InputError for a missing file, a non-numeric entry among the first
    nine, a NaN/infinite value, or fewer than nine numbers.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8", errors="replace") as fh:
            tokens = fh.read().split()
    except OSError as exc:
        raise InputError(f"-mat {name}: cannot read file: {exc.strerror or exc}") from exc
    values: list[float] = []
    for tok in tokens[:9]:
        if not _is_number(tok):
            raise InputError(
                f"-mat {name}: expected 9 numbers (MOSFLM A matrix), got {tok!r} "
                f"as number {len(values) + 1}"
            )
        value = c_atof(tok)
        if not np.isfinite(value):
            raise InputError(f"-mat {name}: number {len(values) + 1} ({tok!r}) is not finite")
        values.append(value)
    if len(values) < 9:
        raise InputError(f"-mat {name}: expected 9 numbers (MOSFLM A matrix), found {len(values)}")
    return np.array(values, dtype=np.float64).reshape(3, 3)
