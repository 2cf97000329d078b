"""Crystal orientations: turning the crystal's models, and uniformly random rotations.

A crystal orientation is a rotation ``U`` of the lab frame applied to the crystal's setting
(its real axes ``Crystal.cell`` and reciprocal axes ``Crystal.reciprocal``, rows in the lab
frame after any ``-misset``/``-mat``); the spindle rotation and the mosaic domains act on
the turned crystal as they act on the flags' crystal.

Random orientations are uniform over the rotation group SO(3) (the Haar measure: every
orientation equally likely, not a spherical cap).  They are made with Shoemake's method
from three uniform deviates, which come from :class:`numpy.random.SeedSequence` ``([seed,
frame])`` — a hash whose output is fixed across NumPy versions — so the orientation of any
frame can be recomputed alone from the seed and its number.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["random_rotation", "quaternion_matrix"]


def quaternion_matrix(q: Any) -> np.ndarray:
    """The 3x3 rotation matrix of the unit quaternion ``q = (w, x, y, z)``."""
    w, x, y, z = (float(v) for v in q)
    return np.array([
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - w * z), 2.0 * (x * z + w * y)],
        [2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x)],
        [2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y)],
    ])


def _uniforms(seed: int, frame: int, n: int) -> list[float]:
    """``n`` uniform deviates in [0, 1) with 53 random bits each, from ``[seed, frame]``."""
    words = np.random.SeedSequence([int(seed), int(frame)]).generate_state(2 * n, np.uint32)
    out = []
    for i in range(n):
        hi, lo = int(words[2 * i]) >> 5, int(words[2 * i + 1]) >> 6  # 27 + 26 bits
        out.append((hi * 67108864 + lo) / 9007199254740992.0)
    return out


def random_rotation(seed: int, frame: int) -> np.ndarray:
    """A uniformly random rotation matrix (3x3) for frame number ``frame`` of the series
    whose orientation seed is ``seed`` (both non-negative integers).

    Shoemake's method: with uniforms u1, u2, u3 in [0, 1), the quaternion (w, x, y, z) =
    (sqrt(u1) cos 2 pi u3, sqrt(1-u1) sin 2 pi u2, sqrt(1-u1) cos 2 pi u2, sqrt(u1) sin 2 pi u3)
    is uniform on the unit 3-sphere, so its rotation is uniform on SO(3).
    """
    if int(seed) < 0 or int(frame) < 0:
        raise ValueError(f"orientation seed and frame number must be >= 0, got {seed}, {frame}")
    u1, u2, u3 = _uniforms(seed, frame, 3)
    a, b = math.sqrt(1.0 - u1), math.sqrt(u1)
    t2, t3 = 2.0 * math.pi * u2, 2.0 * math.pi * u3
    return quaternion_matrix((b * math.cos(t3), a * math.sin(t2), a * math.cos(t2),
                              b * math.sin(t3)))
