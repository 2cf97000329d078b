"""Fused NumPy variants of the engine's sample geometry for flat detectors.

Same floating-point operations in the same order as the plain geometry
(:func:`nbcupy.engine.sample_geometry.sample_geometry`, :func:`nbcupy.engine.physics.solid_angle`
and :func:`nbcupy.engine.physics.polarization_factor_components`), so bit-identical, but the
fast and slow terms of each position are formed once per column and once per row and added by
broadcasting, into per-thread scratch buffers.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from nbcupy.engine import physics


def broadcast_positions(f: np.ndarray, s: np.ndarray, fdet: list[float], sdet: list[float],
                        pix0: list[float], outs: tuple[np.ndarray, ...]) -> None:
    """Sample positions of whole rows into ``outs`` (x, y, z; flat, laid out sub-row,
    sub-column, row, column): ``(f fdet + s sdet) + pix0`` with ``f`` (O, columns) and ``s``
    (O, rows) from :func:`subpixel_positions`, each term formed once and added by
    broadcasting (the plain geometry's operations, so its numbers)."""
    shape = (s.shape[0], f.shape[0], s.shape[1], f.shape[1])
    for c, v in enumerate(outs):
        np.add(np.multiply(f, fdet[c])[None, :, None, :],
               np.multiply(s, sdet[c])[:, None, :, None], out=v.reshape(shape))
        np.add(v, pix0[c], out=v)


def normalise_directions(comps: tuple[np.ndarray, ...] | list[np.ndarray], air: np.ndarray,
                         t: np.ndarray) -> None:
    """``air = sqrt((x x + y y) + z z)`` and the components divided by it, in place (``t`` is
    scratch): the plain geometry's air paths and unit diffracted vectors."""
    x, y, z = comps
    np.multiply(x, x, out=air)
    np.multiply(y, y, out=t)
    np.add(air, t, out=air)
    np.multiply(z, z, out=t)
    np.add(air, t, out=air)
    np.sqrt(air, out=air)
    for v in comps:
        np.divide(v, air, out=v)


def subpixel_positions(first: int, count: int, oversample: int, sub: float,
                       dtype: Any) -> np.ndarray:
    """(oversample, count) detector coordinates (m) ``sub * (i * O + j) + sub / 2`` of the
    sub-pixels j of pixels i = first .. first + count - 1 along one axis, in ``dtype``, with
    the plain geometry's operations (for O = 1, ``sub * i + sub / 2`` exactly)."""
    dt = np.dtype(dtype)
    i = np.arange(first, first + count, dtype=np.float64).astype(dt)[None, :]
    j = np.arange(oversample, dtype=np.float64).astype(dt)[:, None]
    return np.add(np.multiply(np.add(np.multiply(i, oversample), j), sub), sub / 2.0)


class NumpyOversampledGeometry:
    """Fused variant of :func:`nbcupy.engine.sample_geometry.sample_geometry` for whole rows of
    a flat detector with one sensor layer and ``oversample`` x ``oversample`` sub-pixels.

    ``rows(row0, nrows, fpixels)`` returns the unit diffracted directions as three (Q, P)
    arrays and the air paths (Q, P) of every sub-pixel (q = sub-row * O + sub-column) of the
    pixels of those rows (P = nrows * fpixels, row-major): the same operations in the same
    order as the plain geometry, so bit-identical, but the fast and slow terms of each position
    are formed once per sub-column and once per sub-row and added by broadcasting, into
    per-thread scratch buffers that the next call of the same thread overwrites.
    """

    def __init__(self, detector: Any, oversample: int, dtype: Any, capacity: int) -> None:
        self.O = int(oversample)
        self.dtype = np.dtype(dtype)
        self.capacity = int(capacity)
        self.sub = detector.pixel_size / self.O
        self.fdet = [float(c) for c in detector.fdet]
        self.sdet = [float(c) for c in detector.sdet]
        self.pix0 = [float(c) for c in detector.pix0]
        self._local = threading.local()

    def rows(self, row0: int, nrows: int, fpixels: int) -> tuple[list[np.ndarray], np.ndarray]:
        O = self.O
        n = O * O * nrows * fpixels
        buf = getattr(self._local, "buf", None)
        if buf is None or buf["x"].shape[0] < n:
            size = max(n, self.capacity)
            buf = {name: np.empty(size, self.dtype) for name in ("x", "y", "z", "air", "t")}
            self._local.buf = buf
        f = subpixel_positions(0, fpixels, O, self.sub, self.dtype)  # (sub-columns, fpixels)
        s = subpixel_positions(row0, nrows, O, self.sub, self.dtype)  # (sub-rows, nrows)
        comps = [buf[name][:n] for name in ("x", "y", "z")]
        broadcast_positions(f, s, self.fdet, self.sdet, self.pix0, comps)
        air = buf["air"][:n]
        normalise_directions(comps, air, buf["t"][:n])
        Q, P = O * O, nrows * fpixels
        return [v.reshape(Q, P) for v in comps], air.reshape(Q, P)


class NumpyFlatGeometry:
    """Fused variant of the engine's per-sample geometry and per-pixel factors for the
    commonest detector: flat, one sensor layer, no oversampling (one sample per pixel).

    Callable ``(fast, slow) -> (dx, dy, dz, air, omega, polar)`` on float arrays of pixel
    indices; the same operations in the same order as the plain sample geometry,
    :func:`nbcupy.engine.physics.solid_angle` and
    :func:`nbcupy.engine.physics.polarization_factor_components` (so bit-identical), written into
    per-thread scratch buffers that the next call of the same thread overwrites.  ``polar``
    is None when the beam's polarization factor is off.
    """

    def __init__(self, detector: Any, beam: Any, incident: Any, dtype: Any,
                 capacity: int) -> None:
        self.det = detector
        self.dtype = np.dtype(dtype)
        self.capacity = int(capacity)
        self.sub = detector.pixel_size / 1
        self.fdet = [float(c) for c in detector.fdet]
        self.sdet = [float(c) for c in detector.sdet]
        self.pix0 = [float(c) for c in detector.pix0]
        self.kahn = float(beam.kahn_factor)
        self.polarized = bool(beam.polarization_enabled)
        self.incident = [float(c) for c in incident]
        self.axis = beam.polarization_axis
        self._local = threading.local()

    def _scratch(self, n: int) -> dict[str, np.ndarray]:
        buf = getattr(self._local, "buf", None)
        if buf is None or buf["x"].shape[0] < n:
            size = max(n, self.capacity)
            buf = {name: np.empty(size, self.dtype)
                   for name in ("x", "y", "z", "air", "f", "s", "t", "omega", "polar")}
            self._local.buf = buf
        return {name: a[:n] for name, a in buf.items()}

    def __call__(self, fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, ...]:
        n = fast.shape[0]
        b = self._scratch(n)
        sub = self.sub
        f, s, t = b["f"], b["s"], b["t"]
        # fdet_pos = sub * f + sub / 2, sdet_pos likewise
        np.multiply(fast, sub, out=f)
        np.add(f, sub / 2.0, out=f)
        np.multiply(slow, sub, out=s)
        np.add(s, sub / 2.0, out=s)
        comps = (b["x"], b["y"], b["z"])
        for c, v in enumerate(comps):
            np.multiply(f, self.fdet[c], out=v)
            np.multiply(s, self.sdet[c], out=t)
            np.add(v, t, out=v)
            np.add(v, self.pix0[c], out=v)
        return self._finish(comps, b)

    def rows(self, row0: int, nrows: int, fpixels: int) -> tuple[np.ndarray, ...]:
        """Like calling the object on every pixel of rows ``row0 .. row0 + nrows - 1`` (whole
        rows of ``fpixels`` pixels, row-major): the same numbers, but the fast and slow terms
        of the position are formed once per column and once per row and added by
        broadcasting."""
        n = nrows * fpixels
        b = self._scratch(n)
        comps = (b["x"], b["y"], b["z"])
        broadcast_positions(subpixel_positions(0, fpixels, 1, self.sub, self.dtype),
                            subpixel_positions(row0, nrows, 1, self.sub, self.dtype),
                            self.fdet, self.sdet, self.pix0, comps)
        return self._finish(comps, b)

    def _finish(self, comps: tuple[np.ndarray, ...],
                b: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        """Directions, air paths, solid angles and polarization from the positions."""
        t = b["t"]
        x, y, z = comps
        air = b["air"]
        normalise_directions(comps, air, t)
        # solid angle: (p p) / (air air) * close / air, or 1 / (air air)
        det = self.det
        omega = b["omega"]
        np.multiply(air, air, out=omega)
        if det.point_pixel:
            np.divide(1.0, omega, out=omega)
        else:
            np.divide(det.pixel_size * det.pixel_size, omega, out=omega)
            np.multiply(omega, det.close_distance, out=omega)
            np.divide(omega, air, out=omega)
        polar = None
        if self.polarized:
            if self.kahn != 0.0:
                polar = physics.polarization_factor_components(self.kahn, self.incident,
                                                               comps, self.axis)
            else:
                # 0.5 (1 + cos^2 2theta), cos 2theta = d . incident
                polar = b["polar"]
                i0, i1, i2 = self.incident
                np.multiply(x, i0, out=polar)
                np.multiply(y, i1, out=t)
                np.add(polar, t, out=polar)
                np.multiply(z, i2, out=t)
                np.add(polar, t, out=polar)
                np.multiply(polar, polar, out=polar)
                np.add(1.0, polar, out=polar)
                np.multiply(0.5, polar, out=polar)
        return x, y, z, air, omega, polar
