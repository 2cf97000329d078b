"""Array backends: the one place that imports CuPy or chooses an array namespace.

Physics code never imports NumPy or CuPy for computation; it receives arrays and asks
:func:`array_namespace` for their namespace.  The engine calls :func:`get_backend` once,
moves its inputs to the device with :func:`asarray` and brings the image back with
:func:`to_numpy` (the one host-copy helper).  What only a GPU library can do (compiling a
CUDA kernel, its own random generator) is reached through :func:`compile_raw_kernel`,
:func:`contiguous` and :func:`native_module`, so that no other module imports CuPy.

Belongs here: choosing, importing and bridging array libraries, and how much memory the
machine has (:mod:`nbcupy.backends.memory`).  Does not: physics, kernels'
sources, anything nanoBragg-specific.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbcupy.errors import BackendUnavailable

BACKEND_NAMES = ("numpy", "cupy", "auto", "strict")
DTYPE_NAMES = ("float64", "float32")


@dataclass(frozen=True)
class Backend:
    """An array namespace with a name for messages.

    ``xp`` is an Array-API-compatible namespace (array-api-compat's wrappers for NumPy and
    CuPy, or ``array_api_strict``).
    """

    name: str
    xp: Any

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    def dtype(self, name: str) -> Any:
        """The namespace's floating dtype called ``name`` ("float64" or "float32")."""
        if name not in DTYPE_NAMES:
            raise ValueError(f"unknown dtype {name!r}; choose float64 or float32")
        return getattr(self.xp, name)


def _numpy_is_array_api() -> bool:
    """NumPy 2.1 and later implement the Array API in the ``numpy`` namespace itself."""
    major, minor = (int(x) for x in np.__version__.split(".")[:2])
    return (major, minor) >= (2, 1)


def _numpy_backend() -> Backend:
    if _numpy_is_array_api():
        return Backend("numpy", np)
    import array_api_compat.numpy as xnp

    return Backend("numpy", xnp)


def _cupy_backend() -> Backend:
    try:
        import array_api_compat.cupy as xcp
        import cupy
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise BackendUnavailable(
            "--backend cupy needs CuPy: pip install 'nbcupy[cuda12]' or 'nbcupy[cuda13]'"
        ) from exc
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device")
        cupy.zeros(1).sum().item()
    except Exception as exc:  # pragma: no cover - depends on the machine
        raise BackendUnavailable(f"--backend cupy: no usable GPU ({exc})") from exc
    return Backend("cupy", xcp)


def _strict_backend() -> Backend:
    try:
        import array_api_strict
    except ImportError as exc:  # pragma: no cover
        raise BackendUnavailable(
            "--backend strict needs array-api-strict: pip install 'nbcupy[test]'") from exc
    return Backend("strict", array_api_strict)


def get_backend(name: str = "numpy") -> Backend:
    """Return the backend called ``name``.

    ``numpy`` (default), ``cupy`` (GPU; an error if CuPy or a GPU is missing), ``auto``
    (CuPy when a GPU is usable, else NumPy) or ``strict`` (``array_api_strict``, used by the
    tests to prove the engine only uses portable operations).  The environment variable
    ``NBCUPY_BACKEND`` supplies the default.
    """
    name = (name or os.environ.get("NBCUPY_BACKEND", "numpy")).lower()
    if name == "numpy":
        return _numpy_backend()
    if name == "cupy":
        return _cupy_backend()
    if name == "strict":
        return _strict_backend()
    if name == "auto":
        try:
            return _cupy_backend()
        except RuntimeError:
            return _numpy_backend()
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")


def array_namespace(*arrays: Any) -> Any:
    """The Array-API namespace of ``arrays``.

    NumPy arrays map to ``numpy`` itself on NumPy 2.1 and later (array-api-compat's wrapper
    before), anything else goes through array-api-compat.
    """
    if all(isinstance(a, (np.ndarray, np.generic)) for a in arrays) and _numpy_is_array_api():
        return np
    from array_api_compat import array_namespace as _ns

    return _ns(*arrays)


def asarray(backend: Backend, value: Any, dtype: Any = None) -> Any:
    """Move a host value (NumPy array or scalar) onto ``backend`` with ``dtype``."""
    xp = backend.xp
    if backend.name == "strict":
        value = np.ascontiguousarray(value)
    return xp.asarray(value, dtype=dtype)


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy array on the host holding ``x`` (an array of any backend, or array-like);
    NumPy arrays are returned as they are, device arrays are copied."""
    if isinstance(x, np.ndarray):
        return x
    mod = type(x).__module__
    if mod.startswith("cupy"):
        return x.get()
    if mod.startswith("array_api_strict"):
        return np.asarray(x._array) if hasattr(x, "_array") else np.asarray(x)
    return np.asarray(x)


def native_module(xp: Any) -> Any:
    """The array library behind the namespace ``xp``: the ``cupy`` module for CuPy namespaces,
    else ``numpy`` (for NumPy and for ``array_api_strict``, whose arrays are NumPy's)."""
    from array_api_compat import is_cupy_namespace

    if is_cupy_namespace(xp):
        import cupy

        return cupy
    return np


def contiguous(backend: Backend, x: Any, dtype: Any) -> Any:
    """``x`` as a C-contiguous array of ``dtype`` on ``backend`` (what a raw kernel reads)."""
    mod = native_module(backend.xp)
    return mod.ascontiguousarray(mod.asarray(x, dtype=dtype))


def compile_raw_kernel(source: str, name: str) -> Any:
    """Compile the CUDA C++ ``source`` and return its ``extern "C"`` kernel ``name`` (a CuPy
    ``RawKernel``, called as ``kernel(grid, block, args)``)."""
    import cupy

    return cupy.RawKernel(source, name)
