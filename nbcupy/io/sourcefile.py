"""Multi-column text files as nanoBragg reads them (``-sourcefile``).

nanoBragg reads its column files with its own small tokeniser rather than a
CSV parser. This module reproduces that tokeniser, quirks included, so a
file gives the same numbers here as in nanoBragg:

* The file is read in chunks of at most 10239 characters, each ending at a
  newline (a longer line is split into several records).
* Leading delimiters (space, tab, ``,;:!``) are skipped; a record that is then
  just a newline is blank and ignored.
* Each field is converted with C's ``atof`` (longest numeric prefix; ``0``
  when there is none, so a word such as ``#`` or ``abc`` reads as 0 and a
  ``nan`` reads as NaN). After the numeric characters of a field, anything up
  to the next delimiter is skipped.
* A field that reads as NaN or infinity (``nan``, ``inf``) is an error naming the file and
  line (nanoBragg would put a source at an infinite distance or a NaN wavelength).
* Columns a record does not reach stay NaN ("missing") -- but only when the
  record ends in a newline right after its last field. A record with no final
  newline (the last line of a file), with a carriage return (CRLF files) or
  with trailing junk after its last field fills every remaining column with
  0.0 instead. Comment lines are *not* skipped: ``# text`` gives a row of
  zeros.
"""

from __future__ import annotations

import math
import os

import numpy as np

from nbcupy.errors import InputError
from nbcupy.io.ctext import c_atof

__all__ = ["read_text_columns", "read_sourcefile"]

#: characters nanoBragg treats as field separators
DELIMITERS = " \t,;:!"
#: characters nanoBragg skips as "part of a number" after converting a field
NUMBER_CHARS = "0123456789-+.EGeg"
#: fgets() buffer of nanoBragg (10240 bytes including the terminating NUL)
_CHUNK = 10239

def _span(text: str, pos: int, chars: str) -> int:
    """Like ``strspn``: first index at or after ``pos`` not in ``chars``."""
    n = len(text)
    while pos < n and text[pos] in chars:
        pos += 1
    return pos


def _cspan(text: str, pos: int, chars: str) -> int:
    """Like ``strcspn``: first index at or after ``pos`` that is in ``chars``."""
    n = len(text)
    while pos < n and text[pos] not in chars:
        pos += 1
    return pos


def _records(raw: str) -> list[str]:
    """Split file text into the pieces successive ``fgets`` calls return."""
    # fgets splits on \n only (str.splitlines would also split on \r, \f, ...)
    out: list[str] = []
    start = 0
    n = len(raw)
    while start < n:
        end = raw.find("\n", start)
        end = n if end < 0 else end + 1
        while end - start > _CHUNK:
            out.append(raw[start : start + _CHUNK])
            start += _CHUNK
        out.append(raw[start:end])
        start = end
    # C string functions stop at the first NUL byte
    return [r.split("\0", 1)[0] for r in out]


class _NonFinite(ValueError):
    """A field of a record reads as NaN or infinity (column index, the field's text)."""

    def __init__(self, col: int, text: str) -> None:
        super().__init__(col, text)
        self.col, self.text = col, text


def _parse_record(text: str, ncols: int) -> list[float] | None:
    """Fields of one record, NaN for those not reached; None if blank."""
    pos = _span(text, 0, DELIMITERS)
    if text[pos:] == "\n":
        return None
    row = [math.nan] * ncols
    col = 0
    while True:
        row[col] = c_atof(text[pos:])
        if not math.isfinite(row[col]):
            raise _NonFinite(col, text[pos:_cspan(text, pos, DELIMITERS + "\n")])
        pos = _span(text, pos, NUMBER_CHARS)
        if text[pos:] == "\n":
            break
        pos = _cspan(text, pos, DELIMITERS)
        pos = _span(text, pos, DELIMITERS)
        if text[pos:] == "\n":
            break
        col += 1
        if col >= ncols:
            break
    return row


def read_text_columns(
    path: str | os.PathLike[str], ncols: int, option: str = "-sourcefile"
) -> np.ndarray:
    """Read a nanoBragg column file into a float64 array of shape (n, ncols).

    Values missing from a record are NaN (but see the module notes for the
    cases where nanoBragg stores 0.0 instead). ``option`` only labels error
    messages. Raises InputError when the file cannot be read.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            raw = fh.read().decode("latin-1")
    except OSError as exc:
        raise InputError(f"{option} {name}: cannot read file: {exc.strerror or exc}") from exc
    rows = []
    line = 1
    for record in _records(raw):
        try:
            row = _parse_record(record, ncols)
        except _NonFinite as bad:
            raise InputError(f"{option} {name} line {line}: column {bad.col + 1} "
                             f"({bad.text!r}) is not a finite number") from None
        if row is not None:
            rows.append(row)
        line += record.count("\n")
    if not rows:
        return np.empty((0, ncols), dtype=np.float64)
    return np.array(rows, dtype=np.float64)


def read_sourcefile(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ``-sourcefile``: float64 array of shape (n, 5).

    Columns are X, Y, Z (source position, metres), weight and wavelength
    (metres), as given in the file; NaN marks a value missing from a line
    (nanoBragg then substitutes its defaults: the position ``source_distance``
    upstream along the beam, weight 1, and ``lambda0``). Raises InputError
    for a missing, unreadable or empty file (nanoBragg stops there too).
    """
    table = read_text_columns(path, 5, option="-sourcefile")
    if table.shape[0] == 0:
        raise InputError(f"-sourcefile {os.fspath(path)}: no sources in file")
    return table
