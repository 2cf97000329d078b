"""Round trips through the file formats and the orientation conventions:

* SMV: write -> read gives the same pixels, size and header numbers (as their %g text);
* raw float images: write -> read gives the float32 values;
* HKL text -> grid -> Fdump.bin -> grid gives the same grid, and the grid holds every listed
  amplitude, -default_F elsewhere in the index box and 0 in nanoBragg's extra plane;
* -sourcefile: the X Y Z weight lambda columns read back as written;
* MOSFLM matrix -> crystal -> matrix: the crystal's reciprocal axes times lambda are the file's
  columns, and its cell parameters those of the matrix (computed here from its inverse);
* misset angles <-> rotation: the x-y-z angles nanoBragg derives from a rotation rebuild it.

Exact equality for stored bits; 1e-12 relative for the matrix, 1e-9 for derived angles.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nbcupy.experiment import geometry as geo
from nbcupy.io.ctext import c_g
from nbcupy.io.fdump import read_fdump, write_fdump
from nbcupy.io.floatimage import read_float_image, write_float_image
from nbcupy.io.hkl import build_hkl_grid, read_hkl
from nbcupy.io.smv import SMVHeaderFields, read_smv, write_smv
from nbcupy.io.sourcefile import read_sourcefile
from nbcupy.nanobragg.rng import umat2misset

from .support import (
    build,
    cell_parameters,
    cells,
    examples,
    finite,
    fmt,
    real_basis,
    rodrigues,
    scratch_path,
    unit_vectors,
    write_matrix,
    write_text,
)

shapes = st.tuples(st.integers(1, 32), st.integers(1, 32))
mm = finite(-1e4, 1e4)


@st.composite
def smv_headers(draw, spix: int, fpix: int) -> SMVHeaderFields:
    return SMVHeaderFields(
        fpixels=fpix, spixels=spix, pixel_size_mm=draw(finite(0.01, 1.0)),
        distance_mm=draw(finite(1.0, 1e4)), wavelength_A=draw(finite(0.1, 10.0)),
        beam_center_x_mm=draw(mm), beam_center_y_mm=draw(mm), adxv_center_x=draw(mm),
        adxv_center_y=draw(mm), mosflm_center_x=draw(mm), mosflm_center_y=draw(mm),
        denzo_x_beam=draw(mm), denzo_y_beam=draw(mm),
        dials_origin=(draw(mm), draw(mm), draw(mm)), xds_orgx=draw(mm), xds_orgy=draw(mm),
        close_distance_mm=draw(finite(1.0, 1e4)), phi_deg=draw(finite(-360.0, 360.0)),
        osc_start_deg=draw(finite(-360.0, 360.0)), osc_range_deg=draw(finite(0.0, 360.0)),
        twotheta_deg=draw(finite(-90.0, 90.0)))


SMV_KEYS = {"PIXEL_SIZE": "pixel_size_mm", "DISTANCE": "distance_mm",
            "WAVELENGTH": "wavelength_A", "BEAM_CENTER_X": "beam_center_x_mm",
            "BEAM_CENTER_Y": "beam_center_y_mm", "ADXV_CENTER_X": "adxv_center_x",
            "MOSFLM_CENTER_Y": "mosflm_center_y", "DENZO_X_BEAM": "denzo_x_beam",
            "XDS_ORGX": "xds_orgx", "CLOSE_DISTANCE": "close_distance_mm",
            "PHI": "phi_deg", "OSC_RANGE": "osc_range_deg", "TWOTHETA": "twotheta_deg"}


@settings(max_examples=examples(240))
@given(shape=shapes, data=st.data())
def test_smv_write_then_read_returns_the_image_and_header(shape, data):
    spix, fpix = shape
    img = data.draw(hnp.arrays(np.uint16, shape), label="image")
    header = data.draw(smv_headers(spix, fpix), label="header")
    path = scratch_path("img.smv")
    write_smv(path, img, header)
    back = read_smv(path)
    assert (back.width, back.height) == (fpix, spix)
    np.testing.assert_array_equal(back.data, img)
    assert back.header_bytes % 512 == 0
    for key, name in SMV_KEYS.items():
        assert back.value(key) == float(c_g(getattr(header, name))), key


@settings(max_examples=examples(160))
@given(shape=shapes, data=st.data())
def test_float_image_write_then_read_returns_the_float32_values(shape, data):
    img = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(
        allow_nan=False, allow_infinity=False, width=32)), label="image")
    path = scratch_path("float.bin")
    write_float_image(path, img)
    np.testing.assert_array_equal(read_float_image(path, shape[1], shape[0]), img)


@st.composite
def hkl_tables(draw) -> dict[tuple[int, int, int], float]:
    keys = draw(st.lists(st.tuples(*[st.integers(-6, 6)] * 3), min_size=1, max_size=40,
                         unique=True))
    return {k: round(draw(finite(-1e4, 1e4)), 2) for k in keys}


@settings(max_examples=examples(240))
@given(table=hkl_tables(), default_F=finite(0.0, 100.0))
def test_hkl_to_grid_to_fdump_to_grid_keeps_every_amplitude(table, default_F):
    text = "".join(f"{h} {k} {l} {f:.2f}\n" for (h, k, l), f in table.items())
    grid = build_hkl_grid(read_hkl(write_text("t.hkl", text)), default_F)
    path = scratch_path("Fdump.bin")
    write_fdump(path, grid)
    back = read_fdump(path)
    np.testing.assert_array_equal(back.F, grid.F)
    assert (back.h_min, back.h_max, back.k_min, back.k_max, back.l_min, back.l_max) == (
        grid.h_min, grid.h_max, grid.k_min, grid.k_max, grid.l_min, grid.l_max)
    assert back.hkls == grid.h_range * grid.k_range * grid.l_range  # nanoBragg's count
    hs, ks, ls = zip(*table, strict=True)
    assert (grid.h_min, grid.h_max) == (min(hs), max(hs))
    assert (grid.k_min, grid.k_max) == (min(ks), max(ks))
    assert (grid.l_min, grid.l_max) == (min(ls), max(ls))
    expected = np.zeros(back.F.shape)
    expected[:-1, :-1, :-1] = default_F
    for (h, k, l), f in table.items():
        expected[h - grid.h_min, k - grid.k_min, l - grid.l_min] = f
    np.testing.assert_array_equal(back.F, expected)


@settings(max_examples=examples(240))
@given(rows=st.lists(st.tuples(*[finite(-1e3, 1e3)] * 3, finite(0.0, 10.0),
                               finite(1e-11, 1e-9)), min_size=1, max_size=10))
def test_a_source_file_reads_back_as_written(rows):
    text = "".join(" ".join(fmt(v) for v in row) + "\n" for row in rows)
    table = read_sourcefile(write_text("sources.txt", text))
    np.testing.assert_array_equal(table, np.array(rows, dtype=np.float64))


@settings(max_examples=examples(240))
@given(cell=cells(), axis=unit_vectors(), angle=finite(-math.pi, math.pi),
       lam=finite(0.5, 2.0))
def test_matrix_to_crystal_to_matrix(cell, axis, angle, lam):
    """A MOSFLM matrix A (columns lambda a*, b*, c*) read with -mat gives a crystal whose
    lambda x reciprocal axes are A's columns again and whose cell is A's cell."""
    real = real_basis(cell) @ rodrigues(axis, angle).T  # rows a, b, c (Angstrom)
    recip = np.linalg.inv(real).T  # rows a*, b*, c*
    path = write_matrix(recip, lam)
    with open(path) as fh:
        mat = np.array([[float(v) for v in fh.readline().split()] for _ in range(3)])
    sim = build(f"-mat {path} -lambda {fmt(lam)} -default_F 1 -detpixels 4")
    np.testing.assert_allclose(lam * sim.crystal.reciprocal.T, mat, rtol=0,
                               atol=1e-12 * np.abs(mat).max())
    np.testing.assert_allclose(sim.crystal.cell * 1e10, real, rtol=0,
                               atol=1e-10 * np.abs(real).max())
    np.testing.assert_allclose(sim.crystal.cell_parameters, cell_parameters(real), rtol=1e-9)
    np.testing.assert_allclose(sim.crystal.cell_parameters, cell, rtol=1e-9)


@settings(max_examples=examples(400))
@given(axis=unit_vectors(), angle=finite(-math.pi, math.pi))
def test_misset_angles_rebuild_their_rotation(axis, angle):
    u = rodrigues(axis, angle)
    assume(abs(u[2, 0]) < 1 - 1e-6)  # away from the gimbal-lock pole of the x-y-z angles
    np.testing.assert_allclose(geo.rotation_xyz(*umat2misset(u)), u, atol=1e-9)
