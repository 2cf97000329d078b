"""Unit-cell duality: the reciprocal axes built from -cell are the dual basis of the real axes
(a . a* = 1, a . b* = 0, V V* = 1), their metric is the inverse of the real metric computed
here from the cell parameters, and -cell renders the same image as the equivalent MOSFLM
matrix written out here.

nanoBragg's own construction of c* is off when two or more cell angles differ from 90 degrees
(see ``nbcupy.experiment.cell.reciprocal_from_cell``); those cells are tested with
``corrected=True`` and the uncorrected construction only where it is exact (at most one
oblique angle).
Tolerances: 1e-10 relative on metrics and dot products, 1e-9 on cell parameters, 1e-9 of
the largest pixel between images.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbcupy.experiment import cell as cellmod

from .support import (
    angles_deg,
    assert_images_close,
    build,
    cell_flag,
    cell_parameters,
    cells,
    examples,
    finite,
    fmt,
    image64,
    real_basis,
    render,
    rodrigues,
    write_matrix,
)


@st.composite
def cells_one_oblique(draw):
    """Cells with at most one angle different from 90 degrees (monoclinic or orthogonal)."""
    a, b, c, al, be, ga = draw(cells(triclinic=False))
    angles = [al, be, ga]
    which = draw(st.integers(0, 3))
    if which < 3:
        angles[which] = draw(finite(60.0, 120.0))
    return (a, b, c, *angles)


@st.composite
def cells_and_modes(draw):
    """(cell, corrected): triclinic cells with --corrected, and cells with at most one oblique
    angle in both modes."""
    corrected = draw(st.booleans())
    cell = draw(cells()) if corrected else draw(cells_one_oblique())
    return cell, corrected


def metric(cell) -> np.ndarray:
    r = real_basis(cell)
    return r @ r.T


@settings(max_examples=examples(400))
@given(cm=cells_and_modes())
def test_reciprocal_metric_is_the_inverse_of_the_real_metric(cm):
    cell, corrected = cm
    a, b, c = cell[:3]
    al, be, ga = (math.radians(x) for x in cell[3:])
    rec, volume, warnings = cellmod.reciprocal_from_cell(a, b, c, al, be, ga, corrected=corrected)
    assert not warnings
    g = metric(cell)
    assert volume == pytest.approx(math.sqrt(np.linalg.det(g)), rel=1e-10)
    g_star = np.linalg.inv(g)
    np.testing.assert_allclose(rec @ rec.T, g_star, rtol=1e-10, atol=1e-10 * g_star.max())


@settings(max_examples=examples(240))
@given(cm=cells_and_modes(), misset=st.tuples(angles_deg, angles_deg, angles_deg))
def test_crystal_axes_are_dual_and_keep_the_requested_cell(cm, misset):
    """a . a* = b . b* = c . c* = 1, a . b* = ... = 0 and V V* = 1 for the crystal built from
    -cell and -misset; its lengths and angles are the requested ones."""
    cell, corrected = cm
    sim = build(f"{cell_flag(cell)} -misset {' '.join(fmt(x) for x in misset)} -default_F 1 "
                "-detpixels 4", corrected=corrected)
    real = sim.crystal.cell * 1e10  # rows a, b, c in Angstrom
    rec = sim.crystal.reciprocal  # rows a*, b*, c* in 1/Angstrom
    np.testing.assert_allclose(real @ rec.T, np.eye(3), atol=1e-10)
    assert np.linalg.det(real) * np.linalg.det(rec) == pytest.approx(1.0, rel=1e-10)
    np.testing.assert_allclose(cell_parameters(real), cell, rtol=1e-9)
    np.testing.assert_allclose(sim.crystal.cell_parameters, cell, rtol=1e-9)


@settings(max_examples=examples(240))
@given(cell=cells_one_oblique())
def test_the_correction_changes_nothing_with_at_most_one_oblique_angle(cell):
    a, b, c = cell[:3]
    al, be, ga = (math.radians(x) for x in cell[3:])
    plain, _, _ = cellmod.reciprocal_from_cell(a, b, c, al, be, ga, corrected=False)
    fixed, _, _ = cellmod.reciprocal_from_cell(a, b, c, al, be, ga, corrected=True)
    np.testing.assert_allclose(plain, fixed, rtol=1e-12, atol=1e-12 * np.abs(fixed).max())


def nanobragg_orientation(cell) -> np.ndarray:
    """Reciprocal axes (rows a*, b*, c*) in nanoBragg's standard orientation (a* along x, b*
    in the x-y plane, c* with positive z), built here as the Cholesky factor of the inverse
    real metric."""
    return np.linalg.cholesky(np.linalg.inv(metric(cell)))


@settings(max_examples=examples(96))
@given(cm=cells_and_modes(), misset=st.tuples(angles_deg, angles_deg, angles_deg),
       lam=finite(1.0, 1.6), N=st.integers(2, 5))
def test_cell_and_the_equivalent_mosflm_matrix_give_the_same_image(cm, misset, lam, N):
    """-cell + -misset renders like -mat with A = lambda_mat (a* b* c*) written out here from
    the cell parameters (misset turns about x, then y, then z).  The matrix's wavelength need
    must be the beam's: nanoBragg divides the file by -lambda."""
    cell, corrected = cm
    rx, ry, rz = (math.radians(x) for x in misset)
    turn = (rodrigues(np.array([0.0, 0, 1]), rz) @ rodrigues(np.array([0.0, 1, 0]), ry)
            @ rodrigues(np.array([1.0, 0, 0]), rx))
    rec = nanobragg_orientation(cell) @ turn.T
    mat = write_matrix(rec, lam)
    common = (f"-lambda {fmt(lam)} -N {N} -default_F 10 -detpixels 20 -pixel 0.25 "
              f"-distance 60 -oversample 1")
    by_cell = render(f"{cell_flag(cell)} -misset {' '.join(fmt(x) for x in misset)} {common}",
                     corrected=corrected)
    by_mat = render(f"-mat {mat} {common}", corrected=corrected)
    np.testing.assert_allclose(by_mat.simulation.crystal.cell, by_cell.simulation.crystal.cell,
                               rtol=0, atol=1e-10 * np.abs(by_cell.simulation.crystal.cell).max())
    assert_images_close(image64(by_mat), image64(by_cell), 1e-9, "-mat vs -cell")
