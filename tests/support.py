"""Helpers shared by the example-based tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest


def require_extension(module_level: bool = False) -> ModuleType:
    """The C extension :mod:`nbcupy.nanobragg._sequential`.

    Skips the calling test where it is not installed and no C compiler is on this machine
    (the package then runs its NumPy/Python fallbacks); where a compiler exists the
    installation must have built it, so a missing module is a failure, not a skip.
    ``module_level``: called while a test module is imported (skips the whole module).
    """
    try:
        from nbcupy.nanobragg import _sequential
    except ImportError as exc:
        compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
        if shutil.which(compiler) or shutil.which("cc") or shutil.which("gcc"):
            pytest.fail(f"nbcupy.nanobragg._sequential is not importable although a C compiler is "
                        f"installed ({exc}); reinstall with pip install -e .")
        pytest.skip(f"nbcupy.nanobragg._sequential is not built (no C compiler): {exc}",
                    allow_module_level=module_level)
    return _sequential


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
