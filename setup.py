"""Build of the optional C extension ``nbcupy.nanobragg._sequential`` (nanoBragg's sequential
loops: the exact Poisson noise image and the left-to-right image sums).

All package metadata lives in pyproject.toml; this file only declares the extension.  It is
``optional``: where no C compiler is available the installation still succeeds and
:mod:`nbcupy.nanobragg.noise` falls back to its pure-Python loop (same numbers, slower).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Bit-exactness needs IEEE semantics: no fused multiply-add contraction, no fast-math.
_GCC_LIKE_FLAGS = ["-O2", "-ffp-contract=off", "-fno-fast-math"]


class _BuildExt(build_ext):
    """build_ext adding the floating-point flags on gcc/clang-like compilers (not MSVC)."""

    def build_extensions(self):
        if self.compiler.compiler_type != "msvc":
            for ext in self.extensions:
                ext.extra_compile_args = list(ext.extra_compile_args or []) + _GCC_LIKE_FLAGS
        super().build_extensions()


setup(
    ext_modules=[
        Extension("nbcupy.nanobragg._sequential", ["nbcupy/nanobragg/_sequential.c"],
                  optional=True),
    ],
    cmdclass={"build_ext": _BuildExt},
)
