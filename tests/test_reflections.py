"""MTZ and mmCIF structure-factor files read and expanded to P1, compared with P1 lists the
tests build from the same files with gemmi's own symmetry operators."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import gemmi
import numpy as np
import pytest

from nbcupy.errors import InputError
from nbcupy.io.reflections import cell_mismatch, read_reflections, reflection_file_format

DATA = Path(__file__).parent / "data"
MTZ = DATA / "5e5z.mtz"
SF_CIF = DATA / "4aap-sf-subset.cif"


def independent_p1(hkl, f_plus, space_group, f_minus=None) -> dict[tuple[int, int, int], float]:
    """P1 list built reflection by reflection with gemmi's Op.apply_to_hkl."""
    out: dict[tuple[int, int, int], float] = {}
    minus = f_plus if f_minus is None else f_minus
    for sign, values in ((1, f_plus), (-1, minus)):
        for (h, k, l), value in zip(hkl, values, strict=True):
            if math.isnan(value):
                continue
            for op in space_group.operations():
                image = op.apply_to_hkl([sign * int(h), sign * int(k), sign * int(l)])
                out.setdefault(tuple(image), float(value))
    return out


def as_dict(table) -> dict[tuple[int, int, int], float]:
    keys = list(zip(table.h.tolist(), table.k.tolist(), table.l.tolist(), strict=True))
    assert len(set(keys)) == len(keys), "an index listed twice"
    return dict(zip(keys, table.F.tolist(), strict=True))


def mtz_columns(mtz, *labels):
    return [np.array(mtz.column_with_label(x).array) for x in labels]


def test_mtz_equals_independent_p1_list():
    mtz = gemmi.read_mtz_file(str(MTZ))
    h, k, l, fp = mtz_columns(mtz, "H", "K", "L", "FP")
    expected = independent_p1(np.stack([h, k, l], 1).astype(int), fp, mtz.spacegroup)
    data = read_reflections(MTZ)
    assert as_dict(data.table) == expected
    assert data.format == "MTZ" and data.column == "FP" and data.space_group == "P 1 21 1"
    assert data.cell == pytest.approx((9.643, 9.609, 19.029, 90, 101.224, 90))
    assert data.reflections == int(np.isfinite(fp).sum())
    assert any("without a value" in n for n in data.notes)


def test_sf_cif_equals_independent_p1_list():
    doc = gemmi.cif.read(str(SF_CIF))
    rb = gemmi.as_refln_blocks(doc)[0]
    expected = independent_p1(rb.make_miller_array(), rb.make_float_array("F_meas_au"),
                              rb.spacegroup)
    data = read_reflections(SF_CIF)
    assert as_dict(data.table) == expected
    assert data.format == "mmCIF" and data.column == "F_meas_au"
    assert data.space_group == "P 32 2 1"
    assert data.cell == pytest.approx((68.575, 68.575, 269.003, 90, 90, 120))
    calc = read_reflections(SF_CIF, column="_refln.F_calc")
    assert as_dict(calc.table) == independent_p1(
        rb.make_miller_array(), rb.make_float_array("F_calc"), rb.spacegroup)


def test_intensities_only_when_no_amplitude(tmp_path):
    mtz = gemmi.read_mtz_file(str(MTZ))
    h, k, l, i = mtz_columns(mtz, "H", "K", "L", "I")
    mtz.remove_column(mtz.column_with_label("SIGFP").idx)
    mtz.remove_column(mtz.column_with_label("FP").idx)
    path = tmp_path / "intensities.mtz"
    mtz.write_to_file(str(path))
    data = read_reflections(path)
    assert data.column == "I"
    assert any("sqrt(max(I, 0))" in n and "no amplitude" in n for n in data.notes)
    amplitudes = np.sqrt(np.maximum(i.astype(np.float64), 0.0))
    amplitudes[np.isnan(i)] = np.nan
    assert as_dict(data.table) == independent_p1(np.stack([h, k, l], 1).astype(int),
                                                 amplitudes, mtz.spacegroup)
    # asked for by label in the original file, which also has FP
    chosen = read_reflections(MTZ, column="I")
    assert as_dict(chosen.table) == as_dict(data.table)


def test_anomalous_pair_puts_f_minus_at_minus_h(tmp_path):
    mtz = gemmi.read_mtz_file(str(MTZ))
    h, k, l, fp = mtz_columns(mtz, "H", "K", "L", "FP")
    mtz.remove_column(mtz.column_with_label("SIGFP").idx)
    mtz.remove_column(mtz.column_with_label("FP").idx)
    mtz.add_column("F(+)", "G")
    mtz.add_column("F(-)", "G")
    fplus, fminus = fp * 1.1, fp * 0.9
    fminus[::7] = np.nan  # a few Bijvoet mates not measured
    table = np.array(mtz.array, copy=True)
    table[:, -2], table[:, -1] = fplus, fminus
    mtz.set_data(table.astype(np.float32))
    path = tmp_path / "anomalous.mtz"
    mtz.write_to_file(str(path))
    data = read_reflections(path)
    assert data.column == "F(+)/F(-)"
    plus32 = np.array(mtz.column_with_label("F(+)").array)
    minus32 = np.array(mtz.column_with_label("F(-)").array)
    expected = independent_p1(np.stack([h, k, l], 1).astype(int), plus32, mtz.spacegroup,
                              minus32)
    assert as_dict(data.table) == expected
    # with both an anomalous pair and intensities, amplitudes win; the pair is chosen
    # by either label
    assert read_reflections(path, column="F(-)").column == "F(+)/F(-)"


def test_column_choice_errors():
    with pytest.raises(InputError) as err:
        read_reflections(MTZ, column="FOBS")
    message = str(err.value)
    assert "\n" not in message and "5e5z.mtz" in message
    assert "FOBS" in message and "H K L FREE FP SIGFP I SIGI" in message
    with pytest.raises(InputError, match="standard deviation"):
        read_reflections(MTZ, column="SIGFP")
    with pytest.raises(InputError, match="not an amplitude"):
        read_reflections(SF_CIF, column="phase_calc")
    with pytest.raises(InputError, match="columns: crystal_id"):
        read_reflections(SF_CIF, column="intensity_meas")


def test_no_amplitude_column(tmp_path):
    mtz = gemmi.read_mtz_file(str(MTZ))
    for label in ("SIGI", "I", "SIGFP", "FP"):
        mtz.remove_column(mtz.column_with_label(label).idx)
    path = tmp_path / "flags.mtz"
    mtz.write_to_file(str(path))
    with pytest.raises(InputError, match=r"no amplitude or intensity column; columns: H\(H\)"):
        read_reflections(path)


def test_malformed_files_are_refused_cleanly(tmp_path):
    truncated = tmp_path / "truncated.mtz"
    raw = MTZ.read_bytes()
    # inside the header, inside the data, and with the data but not the header records
    for size in (100, 2000, 14000, 14200):
        truncated.write_bytes(raw[:size])
        with pytest.raises(InputError) as err:
            read_reflections(truncated)
        assert "\n" not in str(err.value) and "truncated.mtz" in str(err.value)
    coordinates = tmp_path / "model.cif"
    st = gemmi.read_structure(str(DATA / "5e5z.pdb"))
    st.make_mmcif_document().write_file(str(coordinates))
    with pytest.raises(InputError, match="without a _refln loop"):
        read_reflections(coordinates)
    no_cell = tmp_path / "nocell.cif"
    no_cell.write_text("\n".join(line for line in SF_CIF.read_text().splitlines()
                                 if not line.startswith("_cell.")) + "\n")
    with pytest.raises(InputError, match="no unit cell"):
        read_reflections(no_cell)
    text = SF_CIF.read_text()
    start = text.index("loop_\n_symmetry_equiv.id")
    no_symmetry = text[:start] + text[text.index("#", start):]
    no_symmetry = no_symmetry.replace("_symmetry.space_group_name_H-M   'P 32 2 1'", "")
    no_sg = tmp_path / "nosg.cif"
    no_sg.write_text(no_symmetry)
    with pytest.raises(InputError, match="no space group"):
        read_reflections(no_sg)
    broken = tmp_path / "broken.cif"
    broken.write_text("data_x\nloop_\n_refln.index_h\n_refln.index_k\n'unterminated\n")
    with pytest.raises(InputError, match="not a readable CIF"):
        read_reflections(broken)
    with pytest.raises(InputError, match="not an MTZ or mmCIF"):
        read_reflections(DATA / "5e5z.pdb")
    with pytest.raises(InputError, match="cannot read"):
        read_reflections(tmp_path / "absent.mtz")


def test_format_is_recognised_by_content(tmp_path):
    disguised = tmp_path / "P1.hkl"
    shutil.copy(MTZ, disguised)
    assert reflection_file_format(disguised) == "MTZ"
    cif = tmp_path / "data.txt"
    cif.write_text("# comment\n\n" + SF_CIF.read_text())
    assert reflection_file_format(cif) == "mmCIF"
    text = tmp_path / "hkl.mtz"
    text.write_text("1 2 3 100\n")
    assert reflection_file_format(text) is None
    assert reflection_file_format(tmp_path / "absent") is None


def test_cell_mismatch():
    cell = (9.643, 9.609, 19.029, 90.0, 101.224, 90.0)
    assert cell_mismatch(cell, cell) is None
    assert cell_mismatch((9.7, 9.609, 19.029, 90, 101.224, 90), cell) is None  # 0.6 %
    assert cell_mismatch((9.9, 9.609, 19.029, 90, 101.224, 90), cell) == "a 9.9 vs 9.643"
    assert cell_mismatch((9.643, 9.609, 19.029, 90, 90, 90), cell) == "beta 90 vs 101.224"


def test_first_of_several_refln_blocks(tmp_path):
    text = SF_CIF.read_text()
    second = text.replace("data_r4aapsf", "data_r4aapAsf").replace(" o    106.8", " o    999.9")
    path = tmp_path / "two-blocks.cif"
    path.write_text(text + "\n" + second)
    data = read_reflections(path)
    assert any("2 data blocks" in n and "r4aapsf" in n for n in data.notes)
    assert as_dict(data.table) == as_dict(read_reflections(SF_CIF).table)
