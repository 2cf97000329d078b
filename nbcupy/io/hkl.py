"""Structure-factor files (``-hkl``) and nanoBragg's dense F(h,k,l) grid.

File format read here: one reflection per line, ``h k l F`` separated by
white space, with ``h k l`` integer Miller indices (negative allowed) and
``F`` the structure-factor amplitude (electrons, any finite real number).
Extra columns (sigmas, phases, ...) are ignored, and blank lines and lines
whose first non-blank character is ``#`` are skipped. Anything else that is
not of that form is an error naming the file and line.

nanoBragg itself reads the file with ``fscanf``: it stops silently at the
first entry that does not parse, treats ``#`` as garbage and ignores line
breaks. This reader is stricter on purpose; it gives the same grid for every
file that nanoBragg reads completely.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from nbcupy.errors import InputError
from nbcupy.experiment.models import HKLGrid

__all__ = ["HKLTable", "HKLGrid", "read_hkl", "build_hkl_grid"]

_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_NONFINITE = re.compile(r"[+-]?(?:inf|infinity|nan)\Z", re.IGNORECASE)


@dataclass(frozen=True)
class HKLTable:
    """Reflections in file order.

    ``h``, ``k``, ``l``: int64 Miller indices; ``F``: float64 amplitudes
    (electrons). All four arrays have the same length, one entry per line
    read; a reflection listed twice appears twice (the last one wins in the
    grid, as in nanoBragg).
    """

    h: np.ndarray
    k: np.ndarray
    l: np.ndarray  # noqa: E741
    F: np.ndarray

    def __len__(self) -> int:
        return int(self.h.shape[0])


def _bad(name: str, lineno: int, what: str) -> InputError:
    return InputError(f"-hkl {name} line {lineno}: {what}")


def read_hkl(path: str | os.PathLike[str]) -> HKLTable:
    """Read an ``h k l F`` text file (see the module docstring for the format).

    Raises InputError, with file name and line number, for a line with fewer
    than four fields, a non-integer index, a non-numeric or non-finite F, and
    for a missing/unreadable file or a file without any reflection.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().split("\n")
    except OSError as exc:
        raise InputError(f"-hkl {name}: cannot read file: {exc.strerror or exc}") from exc

    hs: list[int] = []
    ks: list[int] = []
    ls: list[int] = []
    fs: list[float] = []
    for lineno, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < 4:
            raise _bad(name, lineno, f"expected 'h k l F', got {' '.join(fields)!r}")
        idx = []
        for label, tok in zip("hkl", fields[:3], strict=True):
            if not _INT.match(tok):
                if _FLOAT.match(tok):
                    raise _bad(name, lineno, f"Miller index {label} = {tok!r} is not an integer")
                raise _bad(name, lineno, f"Miller index {label} = {tok!r} is not a number")
            value = int(tok)
            if not -(2**31) < value < 2**31 - 1:
                raise _bad(name, lineno, f"Miller index {label} = {tok!r} is out of range")
            idx.append(value)
        ftok = fields[3]
        if _NONFINITE.match(ftok):
            raise _bad(name, lineno, f"F = {ftok!r} is not finite")
        if not _FLOAT.match(ftok):
            raise _bad(name, lineno, f"F = {ftok!r} is not a number")
        fval = float(ftok)
        if not math.isfinite(fval):
            raise _bad(name, lineno, f"F = {ftok!r} is not finite")
        hs.append(idx[0])
        ks.append(idx[1])
        ls.append(idx[2])
        fs.append(fval)
    if not fs:
        raise InputError(f"-hkl {name}: no 'h k l F' lines in file")
    return HKLTable(
        h=np.array(hs, dtype=np.int64),
        k=np.array(ks, dtype=np.int64),
        l=np.array(ls, dtype=np.int64),
        F=np.array(fs, dtype=np.float64),
    )


#: refuse grids larger than this many values (8 bytes each)
MAX_GRID_VALUES = 1 << 31
#: bytes a grid value costs while a run holds it: the float64 grid, the engine's copy on its
#: device and the Fdump.bin bytes written from it
GRID_BYTES_PER_VALUE = 24


def check_grid_size(shape: tuple[int, ...], what: str) -> None:
    """InputError (naming ``what``) when a dense grid of ``shape`` (the stored array,
    padding planes included) cannot fit: more than :data:`MAX_GRID_VALUES` values, or more
    than the machine's memory at :data:`GRID_BYTES_PER_VALUE` bytes a value."""
    from nbcupy.backends.memory import gib, host_memory_bytes

    values = math.prod(int(n) for n in shape)
    memory = host_memory_bytes()
    needed = values * GRID_BYTES_PER_VALUE
    if values > MAX_GRID_VALUES or (memory and needed > memory):
        raise InputError(f"{what} needs a dense grid of {values:.3g} amplitudes, about "
                         f"{gib(needed)} with its copies ({GRID_BYTES_PER_VALUE} bytes each), "
                         f"but this machine has {gib(memory)} of memory"
                         + (f" (and at most {MAX_GRID_VALUES:.3g} values are supported)"
                            if values > MAX_GRID_VALUES else ""))


def build_hkl_grid(table: HKLTable, default_F: float = 0.0) -> HKLGrid:
    """Build nanoBragg's dense grid from a reflection table.

    The index box is the min..max of each index over the table. The covered
    box is first filled with ``default_F`` (electrons), then every listed
    reflection overwrites its cell (a later duplicate wins); the extra plane
    at the high end of each axis stays 0.0. Raises InputError for an empty
    table or a box too large to allocate.
    """
    n = len(table)
    if n == 0:
        raise InputError("-hkl: no reflections to build a structure-factor grid from")
    h_min, h_max = int(table.h.min()), int(table.h.max())
    k_min, k_max = int(table.k.min()), int(table.k.max())
    l_min, l_max = int(table.l.min()), int(table.l.max())
    shape = (h_max - h_min + 2, k_max - k_min + 2, l_max - l_min + 2)
    check_grid_size(shape, f"-hkl: index range h {h_min}..{h_max} k {k_min}..{k_max} "
                    f"l {l_min}..{l_max}")
    F = np.zeros(shape, dtype=np.float64)
    F[:-1, :-1, :-1] = default_F
    flat = np.ravel_multi_index((table.h - h_min, table.k - k_min, table.l - l_min), shape)
    # keep only the last occurrence of each cell so "last line wins" is explicit
    rev_unique, rev_pos = np.unique(flat[::-1], return_index=True)
    F.reshape(-1)[rev_unique] = table.F[::-1][rev_pos]
    return HKLGrid(
        F=F,
        h_min=h_min,
        h_max=h_max,
        k_min=k_min,
        k_max=k_max,
        l_min=l_min,
        l_max=l_max,
        hkls=n,
    )
