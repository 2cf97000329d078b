"""Build of the optional C extensions: ``nbcupy.nanobragg._sequential`` (nanoBragg's
sequential loops: the exact Poisson noise image and the left-to-right image sums) and
``nbcupy.engine.kernels._settings_sum`` (the engine's settings sum compiled for the CPU).

All package metadata lives in pyproject.toml; this file only declares the extensions.  They
are ``optional``: where no C compiler is available the installation still succeeds,
:mod:`nbcupy.nanobragg.noise` falls back to its pure-Python loop (same numbers, slower) and
the engine to its fused NumPy kernel.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Bit-exactness needs IEEE semantics: no fused multiply-add contraction, no fast-math.
_GCC_LIKE_FLAGS = ["-O2", "-ffp-contract=off", "-fno-fast-math"]
#: Added for the settings sum: vectorisation (-O3) and if-conversion of its branch-free
#: selects; neither errno nor floating-point traps change a value.
_EXTRA_FLAGS = {"nbcupy.engine.kernels._settings_sum": ["-O3", "-fno-math-errno",
                                                        "-fno-trapping-math"]}


class _BuildExt(build_ext):
    """build_ext adding the floating-point flags on gcc/clang-like compilers (not MSVC)."""

    def build_extensions(self):
        if self.compiler.compiler_type != "msvc":
            for ext in self.extensions:
                ext.extra_compile_args = (list(ext.extra_compile_args or []) + _GCC_LIKE_FLAGS
                                          + _EXTRA_FLAGS.get(ext.name, []))
        super().build_extensions()


setup(
    ext_modules=[
        Extension("nbcupy.nanobragg._sequential", ["nbcupy/nanobragg/_sequential.c"],
                  optional=True),
        Extension("nbcupy.engine.kernels._settings_sum",
                  ["nbcupy/engine/kernels/_settings_sum.c"],
                  depends=["nbcupy/engine/kernels/settings_sum_kernel.h"], optional=True),
    ],
    cmdclass={"build_ext": _BuildExt},
)
