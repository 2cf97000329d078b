"""Structure factors from coordinates agree with an independent direct summation over the
atoms, are cached by content and resolution, and bad model files are refused."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import gemmi
import numpy as np
import pytest

from nbcupy.api import prepare
from nbcupy.errors import InputError
from nbcupy.io.model import detector_d_min, model_structure_factors, read_model_cell

DATA = Path(__file__).parent / "data"
#: |F(FFT) - F(direct)| <= TOLERANCE * mean |F| for every reflection
TOLERANCE = 1e-4


def direct_summation(path: Path, hkl: np.ndarray) -> np.ndarray:
    """|F(hkl)| = |sum over symmetry operators and atoms of occ f0(s) T(s) exp(2 pi i h.x)|,
    with the IT92 coefficients gemmi tabulates and the atoms' isotropic B or anisotropic U."""
    st = gemmi.read_structure(str(path))
    frac = np.array(st.cell.frac.mat.tolist())
    atoms = [cra.atom for cra in st[0].all()]
    x = np.array([frac @ np.array(a.pos.tolist()) for a in atoms])  # fractional
    occ = np.array([a.occ for a in atoms])
    coef = [a.element.it92 for a in atoms]
    ca = np.array([c.a for c in coef])
    cb = np.array([c.b for c in coef])
    cc = np.array([c.c for c in coef])
    aniso = [a.aniso.nonzero() for a in atoms]
    u = np.array([[[a.aniso.u11, a.aniso.u12, a.aniso.u13],
                   [a.aniso.u12, a.aniso.u22, a.aniso.u23],
                   [a.aniso.u13, a.aniso.u23, a.aniso.u33]] for a in atoms])
    b_iso = np.array([a.b_iso for a in atoms])
    hkl = np.asarray(hkl, dtype=np.float64)
    s2 = np.sum((hkl @ frac) ** 2, axis=1)  # |s|^2 = 1/d^2
    # f0[r, n] = sum_i a_ni exp(-b_ni s2_r / 4) + c_n  (s2 / 4 = (sin(theta)/lambda)^2)
    f0 = (ca[None, :, :] * np.exp(-cb[None, :, :] * s2[:, None, None] / 4.0)).sum(2) + cc[None]
    total = np.zeros(len(hkl), dtype=np.complex128)
    for op in st.find_spacegroup().operations():
        rot = np.array(op.rot, dtype=np.float64) / op.DEN
        tran = np.array(op.tran, dtype=np.float64) / op.DEN
        k = hkl @ rot  # h . (R x) = (h R) . x
        sk = k @ frac  # Cartesian reciprocal vector of h R
        debye = np.exp(-np.outer(s2, b_iso) / 4.0)
        if any(aniso):
            ani = np.exp(-2.0 * math.pi ** 2 * np.einsum("ri,nij,rj->rn", sk, u, sk))
            debye = np.where(np.array(aniso)[None, :], ani, debye)
        phase = np.exp(2j * math.pi * (k @ x.T + (hkl @ tran)[:, None]))
        total += (occ[None, :] * f0 * debye * phase).sum(1)
    return np.abs(total)


@pytest.mark.parametrize("name, d_min", [("5e5z.pdb", 1.4), ("1orc.pdb", 3.5)])
def test_amplitudes_agree_with_direct_summation(name, d_min):
    data = model_structure_factors(DATA / name, d_min)
    hkl = np.stack([data.table.h, data.table.k, data.table.l], axis=1)
    expected = direct_summation(DATA / name, hkl)
    error = np.abs(data.table.F - expected)
    assert error.max() <= TOLERANCE * expected.mean()
    # P1 with Friedel mates: every index and its mate, nothing beyond d_min
    keys = set(map(tuple, hkl.tolist()))
    assert all((-h, -k, -l) in keys for h, k, l in keys)
    st = gemmi.read_structure(str(DATA / name))
    d = np.array([st.cell.calculate_d(list(map(int, h))) for h in hkl])
    assert d.min() >= d_min * (1 - 1e-9)
    assert data.atoms == st[0].count_atom_sites()
    assert data.space_group == st.find_spacegroup().hm
    assert data.cell == pytest.approx(st.cell.parameters)


def test_mmcif_coordinates_give_the_same_amplitudes(tmp_path):
    st = gemmi.read_structure(str(DATA / "5e5z.pdb"))
    path = tmp_path / "5e5z.txt"  # recognised by content, not by name
    st.make_mmcif_document().write_file(str(path))
    pdb = model_structure_factors(DATA / "5e5z.pdb", 2.0)
    cif = model_structure_factors(path, 2.0)
    assert "mmCIF" in cif.notes[0] and "PDB" in pdb.notes[0]
    np.testing.assert_array_equal(cif.table.h, pdb.table.h)
    np.testing.assert_allclose(cif.table.F, pdb.table.F, rtol=1e-5)


def test_cache_is_keyed_on_content_and_resolution(tmp_path):
    model = tmp_path / "model.pdb"
    shutil.copy(DATA / "5e5z.pdb", model)
    first = model_structure_factors(model, 2.0, cache_dir=tmp_path)
    assert not first.cached
    caches = [p for p in os.listdir(tmp_path) if p.endswith(".npz")]
    assert len(caches) == 1 and caches[0].startswith("Fmodel-")
    again = model_structure_factors(model, 2.0, cache_dir=tmp_path)
    assert again.cached
    for field in ("h", "k", "l", "F"):
        np.testing.assert_array_equal(getattr(again.table, field), getattr(first.table, field))
    assert again.cell == first.cell and again.space_group == first.space_group
    assert not model_structure_factors(model, 2.5, cache_dir=tmp_path).cached
    lines = model.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("ATOM"))
    lines[index] = lines[index][:60] + " 0.50" + lines[index][65:]  # change one B factor
    model.write_text("\n".join(lines) + "\n")
    changed = model_structure_factors(model, 2.0, cache_dir=tmp_path)
    assert not changed.cached
    assert not np.array_equal(changed.table.F, first.table.F)
    # a damaged cache file is recomputed and replaced
    cache = tmp_path / caches[0]
    cache.write_bytes(b"not a cache")
    shutil.copy(DATA / "5e5z.pdb", model)
    redone = model_structure_factors(model, 2.0, cache_dir=tmp_path)
    assert not redone.cached and model_structure_factors(model, 2.0, cache_dir=tmp_path).cached


def test_bad_model_files(tmp_path):
    lines = (DATA / "5e5z.pdb").read_text().splitlines()
    cryst1 = [line for line in lines if line.startswith("CRYST1")]
    no_atoms = tmp_path / "empty.pdb"
    no_atoms.write_text("\n".join(cryst1 + ["END"]) + "\n")
    no_cell = tmp_path / "nocell.pdb"
    no_cell.write_text("\n".join(line for line in lines if not line.startswith("CRYST1")) + "\n")
    garbage = tmp_path / "garbage.cif"
    garbage.write_text("data_x\n_cell.length_a 'unterminated\n")
    for path, message in ((no_atoms, "no atoms"), (no_cell, "no unit cell"),
                          (garbage, "not a readable mmCIF"),
                          (tmp_path / "absent.pdb", "cannot read file")):
        with pytest.raises(InputError) as err:
            model_structure_factors(path, 2.0)
        assert message in str(err.value) and path.name in str(err.value)
        assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="positive"):
        model_structure_factors(DATA / "5e5z.pdb", 0.0)
    with pytest.raises(InputError, match="no unit cell"):
        read_model_cell(no_cell)
    assert read_model_cell(DATA / "1orc.pdb") == (
        pytest.approx((34.77, 39.17, 48.31, 90.0, 90.0, 90.0)), "P 21 21 21")


def test_detector_resolution():
    sim, *_ = prepare("-cell 50 60 70 90 90 90 -lambda 1.0 -N 5 -default_F 1 -detpixels 200 "
                      "-pixel 0.5 -distance 100")
    # the farthest corner of the 100 mm detector from the direct beam, at 100 mm
    det = sim.detector
    far = math.hypot(max(det.fbeam, 0.1 - det.fbeam), max(det.sbeam, 0.1 - det.sbeam))
    two_theta = math.atan(far / 0.1)
    corner = 1.0 / (2.0 * math.sin(two_theta / 2.0))
    assert detector_d_min(sim.detector, sim.sources) == pytest.approx(corner, rel=1e-12)
    extended = 1.0 / (1.0 / corner + 2.0 * (1 / 50 + 1 / 60 + 1 / 70))
    assert detector_d_min(sim.detector, sim.sources, sim.crystal) == pytest.approx(
        extended, rel=1e-12)
