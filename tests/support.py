"""Helpers shared by the example-based tests."""

from __future__ import annotations

import importlib
import shutil
import sysconfig
from types import ModuleType

import pytest


def require_extension(module_level: bool = False, name: str = "_sequential") -> ModuleType:
    """The C extension ``nbcupy.<name>`` (:mod:`nbcupy._sequential` by default, or
    :mod:`nbcupy._settings_sum`).

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
