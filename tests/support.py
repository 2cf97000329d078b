"""Helpers shared by the example-based tests."""

from __future__ import annotations

import importlib
import math
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest


def require_extension(module_level: bool = False,
                      name: str = "nanobragg._sequential") -> ModuleType:
    """The C extension ``nbcupy.<name>`` (``nanobragg._sequential`` by default, or
    ``engine.kernels._settings_sum``).

    Skips the calling test where it is not installed and no C compiler is on this machine
    (the package then runs its NumPy/Python fallbacks); where a compiler exists the
    installation must have built it, so a missing module is a failure, not a skip.
    ``module_level``: called while a test module is imported (skips the whole module).
    """
    try:
        return importlib.import_module(f"nbcupy.{name}")
    except ImportError as exc:
        compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
        if shutil.which(compiler) or shutil.which("cc") or shutil.which("gcc"):
            pytest.fail(f"nbcupy.{name} is not importable although a C compiler is "
                        f"installed ({exc}); reinstall with pip install -e .")
        pytest.skip(f"nbcupy.{name} is not built (no C compiler): {exc}",
                    allow_module_level=module_level)


def nbcupy(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the ``nbcupy`` command (this interpreter's) in ``cwd``; stdout and stderr kept."""
    return subprocess.run([sys.executable, "-m", "nbcupy.cli.app", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def ok(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """:func:`nbcupy`, which must succeed."""
    proc = nbcupy(*args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 2, exactly one non-empty line on stderr starting with 'error:', naming words;
    no traceback anywhere.  Returns the line."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    for w in words:
        assert w in line, (w, line)
    return line


#: a number as printf writes it (%g, %f, %11.8f, %d, %.15g)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)")


def _last_digit(token: str) -> float:
    """The value of one unit in the last printed digit of ``token``."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _tolerance(token: str, value: float) -> float:
    """One unit in the last printed digit, but no finer than double precision carries: a
    ``%.25g`` number is compared to 1e-14 of its value, or 1e-14 below 1 (the sines and
    cosines nanoBragg prints this way are differences of products)."""
    digits = len(token.lower().partition("e")[0].lstrip("+-").replace(".", "").lstrip("0"))
    unit = _last_digit(token)
    return max(unit, 1e-14 * max(abs(value), 1.0)) if digits > 15 else unit


def printed_line_differs(want: str, got: str) -> str | None:
    """Why printed line ``got`` is not ``want`` to its printed precision (None when equal).

    The words must be the same (spaces may differ where a number's width does); whole
    numbers must be equal (``-0`` equals ``0``); the other numbers may differ by one unit in
    the last digit ``want`` prints, as two correctly rounded printings of nearly equal values
    do (numbers printed with more digits than a double holds: see :func:`_tolerance`).
    """
    if want == got:
        return None
    if " ".join(_NUMBER.sub("#", want).split()) != " ".join(_NUMBER.sub("#", got).split()):
        return f"words differ: {want!r} vs {got!r}"
    for w, g in zip(_NUMBER.findall(want), _NUMBER.findall(got), strict=True):
        a, b = float(w), float(g)
        if a == b or (math.isnan(a) and math.isnan(b)):
            continue
        if not any(c in w.lower() for c in ".e") or abs(a - b) > _tolerance(w, a) * (1 + 1e-9):
            return f"{g} is not {w}: {want!r} vs {got!r}"
    return None


def printout_differences(want: list[str], got: list[str]) -> list[str]:
    """Line-by-line differences of two printouts (see :func:`printed_line_differs`)."""
    pairs = zip(want, got, strict=False)  # a length difference is reported below
    problems = [f"line {i + 1}: {why}" for i, (w, g) in enumerate(pairs)
                if (why := printed_line_differs(w, g)) is not None]
    if len(want) != len(got):
        n = min(len(want), len(got))
        extra = want[n:] if len(want) > n else got[n:]
        side = "missing" if len(want) > n else "extra"
        problems.append(f"{len(extra)} {side} lines from line {n + 1}: {extra[:3]}")
    return problems
