"""Helpers shared by the example-based tests."""

from __future__ import annotations

import shutil
import sysconfig
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
