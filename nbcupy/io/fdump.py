"""nanoBragg's structure-factor cache file, ``Fdump.bin``.

Layout (as nanoBragg writes it after reading an hkl file):

* an ASCII header ``"%d %d %d %d %d %d\\n\\f"`` holding
  ``h_min h_max k_min k_max l_min l_max``;
* then ``(h_range+1)*(k_range+1)*(l_range+1)`` float64 amplitudes in the
  machine's byte order (little-endian on every platform nanoBragg is run on;
  written here as little-endian), ``l`` varying fastest, then ``k``, then
  ``h`` -- i.e. the C-order bytes of :attr:`HKLGrid.F`, including the extra
  zero plane at the high end of each axis.

A file written by :func:`write_fdump` is byte-identical to nanoBragg's.

nanoBragg's own reader has a flaw: it parses the header with
``fscanf("%d%d%d%d%d%d\n\f")``, whose white-space directives swallow not only
the newline and form feed but also any leading data bytes that happen to be
white-space characters (0x09-0x0d, 0x20). When the first amplitude's
least-significant byte is one of those, every value it reads back is shifted
by those bytes and the tail is zero-padded. :func:`read_fdump` reads the file
correctly by default; ``nanobragg_quirk=True`` reproduces the flawed read.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np

from nbcupy.errors import InputError
from nbcupy.experiment.models import HKLGrid
from nbcupy.io.atomic import atomic_write

__all__ = ["fdump_bytes", "write_fdump", "read_fdump"]

_HEADER = re.compile(rb"\s*" + rb"\s+".join([rb"([+-]?[0-9]+)"] * 6) + rb"[ \t\r\v]*\n\Z")
#: the header is a few dozen bytes; look for its form feed no further than this
_MAX_HEADER = 256


def fdump_bytes(grid: HKLGrid) -> bytes:
    """The exact bytes of ``Fdump.bin`` for ``grid``."""
    expected = (grid.h_range + 1, grid.k_range + 1, grid.l_range + 1)
    if tuple(grid.F.shape) != expected:
        raise ValueError(f"grid array has shape {grid.F.shape}, expected {expected}")
    header = (
        f"{grid.h_min} {grid.h_max} {grid.k_min} {grid.k_max} {grid.l_min} {grid.l_max}\n\f"
    ).encode("ascii")
    return header + np.ascontiguousarray(grid.F, dtype="<f8").tobytes()


def write_fdump(path: str | os.PathLike[str], grid: HKLGrid) -> None:
    """Write ``grid`` to ``path`` in ``Fdump.bin`` format, atomically."""
    atomic_write(path, fdump_bytes(grid))


_C_SPACE = b" \t\n\v\f\r"


def read_fdump(path: str | os.PathLike[str], *, nanobragg_quirk: bool = False) -> HKLGrid:
    """Read an ``Fdump.bin`` file back into an :class:`HKLGrid`.

    ``hkls`` is set to ``h_range*k_range*l_range``, as nanoBragg does. Raises
    InputError for a missing file, a malformed header, empty index ranges or a
    data block that is shorter or longer than the header implies. With
    ``nanobragg_quirk`` the values are read the way nanoBragg reads them (see
    the module docstring); the size check is then done before the shift.
    """
    from nbcupy.io.hkl import check_grid_size

    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            head = fh.read(_MAX_HEADER)
            ff = head.find(b"\f")
            m = _HEADER.match(head[:ff]) if ff >= 0 else None
            if m is None:
                raise InputError(f"Fdump file {name}: header is not 'h_min h_max k_min k_max "
                                 "l_min l_max' + form feed")
            h_min, h_max, k_min, k_max, l_min, l_max = (int(v) for v in m.groups())
            ranges = (h_max - h_min + 1, k_max - k_min + 1, l_max - l_min + 1)
            if min(ranges) < 1:
                raise InputError(f"Fdump file {name}: empty index range in header")
            shape = tuple(r + 1 for r in ranges)
            nbytes = 8 * math.prod(shape)
            size = os.fstat(fh.fileno()).st_size - (ff + 1)
            if size != nbytes:
                what = "truncated" if size < nbytes else "has trailing data"
                raise InputError(f"Fdump file {name}: {what}: {size} data bytes, header "
                                 f"implies {nbytes}")
            check_grid_size(shape, f"Fdump file {name}: index range h {h_min}..{h_max} "
                            f"k {k_min}..{k_max} l {l_min}..{l_max}")
            fh.seek(ff + 1)
            data = fh.read()
    except OSError as exc:
        raise InputError(f"Fdump file {name}: cannot read file: {exc.strerror or exc}") from exc
    if len(data) != nbytes:  # changed while being read
        raise InputError(f"Fdump file {name}: truncated: {len(data)} data bytes, header "
                         f"implies {nbytes}")
    if nanobragg_quirk:
        skip = len(data) - len(data.lstrip(_C_SPACE))
        data = data[skip:] + bytes(skip)
    F = np.frombuffer(data, dtype="<f8").astype(np.float64).reshape(shape)
    if not np.isfinite(F).all():
        bad = int(np.count_nonzero(~np.isfinite(F)))
        raise InputError(f"Fdump file {name}: {bad} amplitude(s) are not finite (NaN or inf)")
    return HKLGrid(
        F=F,
        h_min=h_min,
        h_max=h_max,
        k_min=k_min,
        k_max=k_max,
        l_min=l_min,
        l_max=l_max,
        hkls=ranges[0] * ranges[1] * ranges[2],
    )
