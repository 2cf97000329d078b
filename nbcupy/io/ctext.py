"""C's text conversions, as nanoBragg's files and console use them.

``printf("%g")`` (:func:`c_g`) for every number nanoBragg prints or writes into a header, and
``atof`` (:func:`c_atof`) for every number it reads from a text file or header, so that nbcupy
writes the same bytes and reads the same values.
"""

from __future__ import annotations

import math
import re

__all__ = ["c_g", "c_atof"]


def c_g(x: float) -> str:
    """Format ``x`` like C's ``printf("%g")`` (glibc), including ``-nan``."""
    x = float(x)
    if math.isnan(x):
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    return "%g" % x  # noqa: UP031  (printf semantics on purpose)


_C_SPACE = " \t\n\v\f\r"
_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?")
_SPECIAL = re.compile(r"([+-]?)(inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)", re.IGNORECASE)
_DEC = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def c_atof(text: str) -> float:
    """Convert the longest numeric prefix of ``text`` like C's ``atof``.

    Leading C white space is skipped; decimal, hexadecimal (``0x1p3``),
    ``inf``/``infinity`` and ``nan`` forms are recognised case-insensitively.
    Returns 0.0 when no number starts the string, and ±inf on overflow.
    """
    s = text.lstrip(_C_SPACE)
    m = _HEX.match(s)
    if m:
        tok = m.group(0)
        try:
            return float.fromhex(tok)
        except OverflowError:
            return -math.inf if tok.startswith("-") else math.inf
    m = _SPECIAL.match(s)
    if m:
        value = math.inf if m.group(2)[:3].lower() == "inf" else math.nan
        return -value if m.group(1) == "-" else value
    m = _DEC.match(s)
    if m:
        return float(m.group(0))
    return 0.0
