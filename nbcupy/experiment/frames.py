"""From nbcupy's lab frame to the McStas frame of NeXus (and the imgCIF frame of dxtbx).

nbcupy's lab frame is nanoBragg's: each detector convention puts the beam along its own lab
axis (MOSFLM and DENZO along +x with the spindle along +z; XDS and ADXV along +z with the
spindle along +x; DIALS along +z with the spindle along +y) and any vector may be changed
by the user.  Files that processing programs read fix the frame instead:

* NeXus (NXmx) uses the McStas frame: +z along the beam, +y up, +x completing a
  right-handed set (horizontal, to the left when looking downstream).  Goniometers at
  synchrotrons rotate about a horizontal axis, which NXmx files from Diamond, and dxtbx's
  own NeXus writer, give as (-1, 0, 0).
* dxtbx works in the imgCIF frame, X along the principal goniometer axis and the beam along
  -Z, and reads NeXus vectors through ``diag(-1, 1, -1)``, so McStas -x is imgCIF +X.

:func:`lab_to_mcstas` is the one place where the frames meet.  It is the rotation that takes
the beam direction to McStas +z and the part of the spindle axis perpendicular to the beam to
McStas -x (so imgCIF +X); McStas +y is then fixed by handedness.  Because it is built from
the two physical directions and not from the convention's name, every convention (and every
user-set vector) maps consistently: the default geometries of MOSFLM, XDS, ADXV and DIALS
all give a beam along +z and a rotation axis along -x, and the whole experiment is turned
rigidly, so every angle between beam, spindle and detector axes is kept.  When the spindle
is (nearly) parallel to the beam the polarization E-vector takes its place (it is also
horizontal at a synchrotron), and failing that the lab axis most perpendicular to the beam.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lab_to_mcstas", "MCSTAS_TO_IMGCIF"]

#: McStas (NeXus) vectors to dxtbx's imgCIF frame, as dxtbx converts them
MCSTAS_TO_IMGCIF = np.diag([-1.0, 1.0, -1.0])

#: a reference axis closer than this to the beam direction (|sin| of the angle) is not used
_PARALLEL = 1e-6


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def lab_to_mcstas(beam_direction: np.ndarray, spindle_axis: np.ndarray,
                  polarization_axis: np.ndarray | None = None) -> np.ndarray:
    """3x3 rotation ``R`` with ``R @ v_lab == v_mcstas`` for every lab-frame vector.

    ``beam_direction``: direction the X-rays travel (any length, not zero);
    ``spindle_axis``: the rotation axis of the crystal; ``polarization_axis``: the
    E-vector, used when the spindle is parallel to the beam.  Rows of ``R`` are the McStas
    x, y and z axes written in lab coordinates:
    z = beam, x = -(spindle made perpendicular to the beam), y = z cross x.  ``R`` is proper
    (determinant +1), so positions and right-handed rotations keep their meaning.
    """
    z = _unit(beam_direction)
    candidates = [np.asarray(spindle_axis, dtype=np.float64)]
    if polarization_axis is not None:
        candidates.append(np.asarray(polarization_axis, dtype=np.float64))
    candidates += list(np.eye(3)[np.argsort(np.abs(z))])
    for ref in candidates:
        norm = np.linalg.norm(ref)
        if not np.isfinite(norm) or norm == 0.0:
            continue
        perp = ref / norm - float(z @ (ref / norm)) * z
        if np.linalg.norm(perp) > _PARALLEL:
            break
    x = -_unit(perp)
    y = np.cross(z, x)
    return np.vstack([x, y, z])
