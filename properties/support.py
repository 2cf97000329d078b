"""Helpers and Hypothesis strategies shared by the property tests.

Rendering goes through the public API (:func:`nbcupy.simulate`) with nanoBragg flags, always
on small detectors (at most 32 x 32 pixels) so that a property can afford several renders per
example.  Every render gets ``-dump`` pointing into a private scratch folder, so that a stray
``Fdump.bin`` in the working directory is never read and ``-hkl`` never writes one there.
"""

from __future__ import annotations

import atexit
import itertools
import math
import os
import shutil
import tempfile
from collections.abc import Sequence

import numpy as np
from hypothesis import assume, settings
from hypothesis import strategies as st

import nbcupy
from nbcupy.backends import to_numpy

# ----------------------------------------------------------------------------------------
# known library bugs (reasons of strict xfails)

# ----------------------------------------------------------------------------------------
# example budgets

#: max_examples of the ``ci`` profile (see conftest.py); other profiles scale every property's
#: count by the ratio of their max_examples to this.
CI_EXAMPLES = 20


def examples(n: int) -> int:
    """Example count for a property that wants ``n`` examples under the ``ci`` profile
    (``thorough`` gives 20 n)."""
    ratio = settings.default.max_examples / CI_EXAMPLES
    return max(1, int(round(n * ratio)))


# ----------------------------------------------------------------------------------------
# scratch files

_SCRATCH = tempfile.mkdtemp(prefix="nbcupy-properties-")
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
_COUNTER = itertools.count()


def scratch_path(name: str) -> str:
    """A fresh path (not yet existing) in the private scratch folder."""
    return os.path.join(_SCRATCH, f"{next(_COUNTER):06d}-{name}")


def write_text(name: str, text: str) -> str:
    """Write ``text`` to a fresh scratch file and return its path."""
    path = scratch_path(name)
    with open(path, "w", encoding="ascii") as fh:
        fh.write(text)
    return path


def fmt(x: float) -> str:
    """A float as a flag value that round-trips exactly (repr, 17 significant digits)."""
    return repr(float(x))


# ----------------------------------------------------------------------------------------
# rendering

QUIET = ["-noprogress", "-nonoise", "-nopgm"]


def render(flags: str | Sequence[str], **kwargs):
    """``nbcupy.simulate`` of ``flags`` (a string or list) with quiet output, one thread and a
    private ``-dump`` path; keyword arguments go to :func:`nbcupy.simulate`."""
    argv = flags.split() if isinstance(flags, str) else [str(f) for f in flags]
    if "-dump" not in argv:
        argv += ["-dump", scratch_path("Fdump.bin")]
    kwargs.setdefault("threads", 1)
    return nbcupy.simulate(argv + QUIET, **kwargs)


def build(flags: str | Sequence[str], corrected: bool = False):
    """The :class:`~nbcupy.experiment.models.Simulation` of ``flags`` without rendering it."""
    from nbcupy.nanobragg.build import build_simulation
    from nbcupy.nanobragg.flags import parse_flags
    from nbcupy.nanobragg.rng import NanoBraggRandom

    argv = flags.split() if isinstance(flags, str) else [str(f) for f in flags]
    if "-dump" not in argv:
        argv += ["-dump", scratch_path("Fdump.bin")]
    opts = parse_flags(argv + QUIET).options
    opts.corrected = corrected
    return build_simulation(opts, NanoBraggRandom())[0]


def image64(result) -> np.ndarray:
    """The engine-precision image of a result as a float64 NumPy array."""
    return np.asarray(to_numpy(result.image), dtype=np.float64)


def assert_images_close(actual: np.ndarray, expected: np.ndarray, rel: float,
                        what: str = "images") -> None:
    """Every pixel agrees within ``rel`` times the largest pixel of ``expected``."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shapes {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected)))
    assert scale > 0, f"{what}: the reference image is all zero"
    diff = np.abs(actual - expected)
    worst = float(diff.max())
    where = np.unravel_index(int(np.argmax(diff)), diff.shape)
    assert worst <= rel * scale, (
        f"{what}: max |difference| {worst:.3g} = {worst / scale:.3g} x max pixel "
        f"(> {rel:g}) at (s, f) = {tuple(int(i) for i in where)}: "
        f"{actual[where]:.9g} vs {expected[where]:.9g}")


def pixel_positions(det, oversample: int = 1, subpixel: tuple[int, int] | None = None,
                    ) -> np.ndarray:
    """Lab-frame positions (m) of pixel sample points, shape (spixels, fpixels, 3).

    Computed here from the detector model's axes and origin, independently of the engine:
    the centre of each pixel, or with ``subpixel=(js, jf)`` the centre of that sub-pixel of an
    ``oversample`` x ``oversample`` grid (``(0, 0)`` is the one nearest pixel (0, 0)).
    """
    s = np.arange(det.spixels, dtype=np.float64)[:, None, None]
    f = np.arange(det.fpixels, dtype=np.float64)[None, :, None]
    if subpixel is None:
        fs, ss = (f + 0.5), (s + 0.5)
    else:
        js, jf = subpixel
        fs = f + (jf + 0.5) / oversample
        ss = s + (js + 0.5) / oversample
    p = det.pixel_size
    return (np.asarray(det.pix0)[None, None, :] + fs * p * np.asarray(det.fdet)[None, None, :]
            + ss * p * np.asarray(det.sdet)[None, None, :])


# ----------------------------------------------------------------------------------------
# strategies


def finite(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Finite floats in [lo, hi], without subnormals (no physical input is that small)."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def log_uniform(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Floats spread evenly in log between ``lo`` and ``hi``."""
    return finite(math.log(lo), math.log(hi)).map(math.exp)


#: angles in degrees: 0 or at least 1e-6 in size (a misset of 1e-40 degrees makes fractional
#: indices that are float32 subnormals, where sin(pi f) has only a few significant bits)
angles_deg = st.one_of(st.just(0.0), finite(1e-6, 180.0), finite(-180.0, -1e-6))


@st.composite
def unit_vectors(draw) -> np.ndarray:
    """Uniformly oriented unit vectors (float64, shape (3,))."""
    v = np.array([draw(finite(-1.0, 1.0)) for _ in range(3)])
    n = float(np.linalg.norm(v))
    if n < 0.1:
        v, n = np.array([0.0, 0.0, 1.0]), 1.0
    return v / n


def cell_volume_factor(al: float, be: float, ga: float) -> float:
    """V / (a b c) for angles in degrees; positive for a cell that exists."""
    ca, cb, cg = (math.cos(math.radians(x)) for x in (al, be, ga))
    return math.sqrt(max(0.0, 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg))


@st.composite
def cells(draw, lo: float = 20.0, hi: float = 120.0, triclinic: bool = True,
          ) -> tuple[float, float, float, float, float, float]:
    """Valid unit cells: a, b, c (Angstrom) and alpha, beta, gamma (degrees).

    Triclinic angles lie in 60..120 degrees with V/(abc) >= 0.5 (far from degenerate).
    """
    a, b, c = (draw(finite(lo, hi)) for _ in range(3))
    if not triclinic:
        return a, b, c, 90.0, 90.0, 90.0
    al, be, ga = (draw(finite(60.0, 120.0)) for _ in range(3))
    assume(cell_volume_factor(al, be, ga) >= 0.5)
    return a, b, c, al, be, ga


def cell_flag(cell: Sequence[float]) -> str:
    return "-cell " + " ".join(fmt(x) for x in cell)


def real_basis(cell: Sequence[float]) -> np.ndarray:
    """Rows a, b, c (Angstrom) of a cell in a standard orientation, built here from the cell
    parameters with the textbook formulas (independent of nbcupy.experiment.geometry)."""
    a, b, c = cell[:3]
    al, be, ga = (math.radians(x) for x in cell[3:])
    ax = np.array([a, 0.0, 0.0])
    bx = np.array([b * math.cos(ga), b * math.sin(ga), 0.0])
    cx = c * math.cos(be)
    cy = c * (math.cos(al) - math.cos(be) * math.cos(ga)) / math.sin(ga)
    cz = math.sqrt(max(0.0, c * c - cx * cx - cy * cy))
    return np.vstack([ax, bx, np.array([cx, cy, cz])])


def cell_parameters(real: np.ndarray) -> tuple[float, ...]:
    """a, b, c and alpha, beta, gamma (degrees) of the rows of ``real``."""
    a, b, c = real
    la, lb, lc = (float(np.linalg.norm(v)) for v in (a, b, c))

    def ang(u: np.ndarray, v: np.ndarray, lu: float, lv: float) -> float:
        return math.degrees(math.acos(max(-1.0, min(1.0, float(u @ v) / lu / lv))))

    return la, lb, lc, ang(b, c, lb, lc), ang(a, c, la, lc), ang(a, b, la, lb)


def rodrigues(axis: np.ndarray, angle: float) -> np.ndarray:
    """Right-handed rotation matrix about the unit ``axis`` (written out here, for checks)."""
    x, y, z = (float(v) for v in axis)
    c, s = math.cos(angle), math.sin(angle)
    C = 1.0 - c
    return np.array([
        [c + x * x * C, x * y * C - z * s, x * z * C + y * s],
        [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
        [z * x * C - y * s, z * y * C + x * s, c + z * z * C],
    ])


def write_matrix(reciprocal: np.ndarray, wavelength_A: float) -> str:
    """A MOSFLM matrix file for reciprocal axes ``reciprocal`` (rows a*, b*, c*, 1/Angstrom)
    refined at ``wavelength_A``: the file's rows are x, y, z, its columns a*, b*, c*,
    multiplied by the wavelength."""
    mat = wavelength_A * np.asarray(reciprocal, dtype=np.float64).T
    lines = [" ".join(f"{v:.17g}" for v in row) for row in mat]
    return write_text("matrix.mat", "\n".join(lines) + "\n0 0 0\n")


#: A compact default experiment: 24 x 24 pixels of 0.2 mm at 50 mm, so a cell of 30..80 A at
#: 1..1.6 A shows its low-order spots and the direct-beam (000) spot sits in the middle.
@st.composite
def small_setups(draw, triclinic: bool = True, max_pixels: int = 24) -> dict:
    """A small random experiment as a dict of flag strings and numbers."""
    cell = draw(cells(30.0, 80.0, triclinic=triclinic))
    return dict(
        cell=cell,
        lam=draw(finite(1.0, 1.6)),
        N=draw(st.integers(2, 6)),
        F=draw(finite(1.0, 200.0)),
        pixels=draw(st.integers(12, max_pixels)),
        pixel_mm=draw(finite(0.15, 0.3)),
        distance_mm=draw(finite(40.0, 80.0)),
        misset=tuple(draw(angles_deg) for _ in range(3)),
    )


def setup_flags(s: dict, misset: bool = True) -> str:
    """Flags of a :func:`small_setups` experiment (nanoBragg's MOSFLM convention)."""
    out = (f"{cell_flag(s['cell'])} -lambda {fmt(s['lam'])} -N {s['N']} "
           f"-default_F {fmt(s['F'])} -detpixels {s['pixels']} -pixel {fmt(s['pixel_mm'])} "
           f"-distance {fmt(s['distance_mm'])} -oversample 1")
    if misset:
        out += " -misset " + " ".join(fmt(x) for x in s["misset"])
    return out
