"""Structure factors from MTZ/mmCIF ``-hkl`` files (``--column``) and from ``--model``
coordinates, end to end on the command line and in the API, with the real files of
``tests/data``.  The P1 lists the images are compared with are made here, with gemmi's own
symmetry operators, not with nbcupy's expansion."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import gemmi
import numpy as np
import pytest

from nbcupy.api import simulate, write_outputs
from nbcupy.nanobragg.options import Options
from tests.support import assert_one_line_error, nbcupy, ok

DATA = Path(__file__).parent / "data"
MTZ = DATA / "5e5z.mtz"
PDB = DATA / "5e5z.pdb"
SF_CIF = DATA / "4aap-sf-subset.cif"

N = 24
#: a small detector close to a small crystal: reflections out to ~2 A, enough spots
GEOMETRY = ["-lambda", "1", "-N", "4", "-detpixels", str(N), "-pixel", "0.4", "-distance", "40",
            "-noprogress", "-nonoise", "-nopgm"]








def image(folder: Path, name: str = "floatimage.bin") -> np.ndarray:
    return np.frombuffer((folder / name).read_bytes(), "<f4").reshape(N, N)


def write_p1_text(path: Path, mtz_path: Path, label: str, transform=None) -> tuple:
    """``h k l F`` lines of every symmetry equivalent and Friedel mate of ``label``'s values
    (gemmi's Op.apply_to_hkl); returns the MTZ cell parameters."""
    mtz = gemmi.read_mtz_file(str(mtz_path))
    hkl = np.stack([np.array(mtz.column_with_label(x).array) for x in "HKL"], 1).astype(int)
    hkl = hkl.tolist()
    values = np.array(mtz.column_with_label(label).array, dtype=np.float64)
    if transform is not None:
        values = transform(values)
    seen: dict[tuple[int, int, int], float] = {}
    for sign in (1, -1):
        for (h, k, l), value in zip(hkl, values, strict=True):
            if math.isnan(value):
                continue
            for op in mtz.spacegroup.operations():
                seen.setdefault(tuple(op.apply_to_hkl([sign * h, sign * k, sign * l])),
                                float(value))
    path.write_text("".join(f"{h} {k} {l} {f!r}\n" for (h, k, l), f in seen.items()))
    return tuple(mtz.cell.parameters)


def cell_args(cell) -> list[str]:
    return ["-cell", *(repr(float(v)) for v in cell)]


def test_mtz_image_equals_image_of_independent_p1_text(tmp_path):
    mtz_run, text_run = tmp_path / "mtz", tmp_path / "text"
    mtz_run.mkdir()
    text_run.mkdir()
    cell = write_p1_text(text_run / "p1.hkl", MTZ, "FP")
    proc = ok("-hkl", str(MTZ), *GEOMETRY, cwd=mtz_run)  # the cell from the file
    ok("-hkl", "p1.hkl", *cell_args(cell), *GEOMETRY, cwd=text_run)
    assert f"unit cell from -hkl {MTZ}" in proc.stdout
    assert "column FP" in proc.stdout
    got, expected = image(mtz_run), image(text_run)
    assert expected.max() > 10 * np.median(expected)  # Bragg spots, not only default_F
    np.testing.assert_array_equal(got, expected)
    # nanoBragg's cache is written as after a text file, and read back by a later run
    assert (mtz_run / "Fdump.bin").read_bytes() == (text_run / "Fdump.bin").read_bytes()
    again = ok(*cell_args(cell), *GEOMETRY, "-floatfile", "again.bin", cwd=mtz_run)
    assert "reading Fs from Fdump.bin" in again.stdout
    np.testing.assert_array_equal(image(mtz_run, "again.bin"), expected)


def test_column_selects_intensities(tmp_path):
    mtz_run, text_run = tmp_path / "mtz", tmp_path / "text"
    mtz_run.mkdir()
    text_run.mkdir()
    cell = write_p1_text(text_run / "p1.hkl", MTZ, "I",
                         transform=lambda i: np.sqrt(np.maximum(i, 0.0)))
    proc = ok("-hkl", str(MTZ), "--column", "I", *GEOMETRY, cwd=mtz_run)
    assert "column I: intensities, amplitudes taken as sqrt(max(I, 0))" in proc.stdout
    ok("-hkl", "p1.hkl", *cell_args(cell), *GEOMETRY, cwd=text_run)
    np.testing.assert_array_equal(image(mtz_run), image(text_run))
    default = ok("-hkl", str(MTZ), *GEOMETRY, "-floatfile", "fp.bin", cwd=mtz_run)
    assert "column FP" in default.stdout
    assert not np.array_equal(image(mtz_run, "fp.bin"), image(mtz_run))


@pytest.mark.parametrize("args,words", [
    (["-hkl", str(MTZ), "--column", "NOPE"], ["5e5z.mtz", "'NOPE' not found", "FP", "SIGI"]),
    (["-hkl", str(MTZ), "--column", "SIGFP"], ["SIGFP", "standard deviation"]),
    (["-hkl", "p1.hkl", "-cell", "10", "10", "10", "90", "90", "90", "--column", "FP"],
     ["--column FP", "p1.hkl", "not an MTZ or mmCIF"]),
    (["-cell", "10", "10", "10", "90", "90", "90", "-default_F", "1", "--column", "FP"],
     ["--column FP", "-hkl"]),
    (["--model", str(PDB), "--column", "FP"], ["--column", "--model"]),
    (["--model", str(PDB), "-hkl", str(MTZ)], ["--model", "-hkl", "one of them"]),
    (["-hkl", "bad.mtz"], ["bad.mtz", "MTZ"]),
    (["-hkl", "truncated.mtz"], ["truncated.mtz"]),
    (["-hkl", "nocell.cif"], ["nocell.cif", "no unit cell"]),
    (["--model", "noatoms.pdb"], ["noatoms.pdb", "no atoms"]),
    (["--model", "missing.pdb"], ["missing.pdb", "cannot read"]),
])
def test_bad_structure_factor_input_is_one_line_and_no_file(tmp_path, args, words):
    (tmp_path / "p1.hkl").write_text("0 0 1 10\n")
    (tmp_path / "bad.mtz").write_bytes(b"MTZ \x00\x00\x00\x00 this is not an MTZ file")
    (tmp_path / "truncated.mtz").write_bytes(MTZ.read_bytes()[:400])
    text = SF_CIF.read_text()
    (tmp_path / "nocell.cif").write_text(
        "\n".join(ln for ln in text.splitlines() if not ln.startswith("_cell.")) + "\n")
    (tmp_path / "noatoms.pdb").write_text(
        "".join(ln + "\n" for ln in PDB.read_text().splitlines()
                if not ln.startswith(("ATOM", "HETATM", "ANISOU"))))
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = nbcupy(*args, *GEOMETRY, "--cbf", "out.cbf", cwd=tmp_path)
    assert_one_line_error(proc, *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_given_cell_is_checked_against_the_file(tmp_path):
    mtz = gemmi.read_mtz_file(str(MTZ))
    cell = list(mtz.cell.parameters)
    close = ok("-hkl", str(MTZ), *cell_args([cell[0] * 1.005, *cell[1:]]), *GEOMETRY,
               cwd=tmp_path)
    assert "WARNING" not in close.stdout
    off = ok("-hkl", str(MTZ), *cell_args([cell[0] * 1.02, *cell[1:]]), *GEOMETRY,
             cwd=tmp_path)
    warning = [ln for ln in off.stdout.splitlines() if ln.startswith("WARNING")]
    assert len(warning) == 1 and "differs from the cell of -hkl" in warning[0]
    assert "by more than 1 %" in warning[0] and "a 9.83" in warning[0]
    assert f"Unit Cell: {cell[0] * 1.02:g}" in off.stdout  # the given cell is simulated
    angle = ok("-hkl", str(MTZ), *cell_args([*cell[:4], cell[4] + 2.0, cell[5]]), *GEOMETRY,
               cwd=tmp_path)
    assert "differs from the cell" in angle.stdout and "beta" in angle.stdout


def test_mmcif_structure_factors_with_the_file_cell(tmp_path):
    proc = ok("-hkl", str(SF_CIF), *GEOMETRY, cwd=tmp_path)
    assert "Unit Cell: 68.575 68.575 269.003 90 90 120" in proc.stdout
    assert "mmCIF, space group P 32 2 1, column F_meas_au" in proc.stdout


def test_model_end_to_end_with_its_cache(tmp_path):
    model = tmp_path / "model.pdb"
    shutil.copy(PDB, model)
    first = ok("--model", "model.pdb", *GEOMETRY, cwd=tmp_path)
    assert "unit cell from --model model.pdb" in first.stdout
    assert "computed by FFT" in first.stdout and "cached in" in first.stdout
    caches = sorted(tmp_path.glob("Fmodel-*.npz"))
    assert len(caches) == 1
    assert not (tmp_path / "Fdump.bin").exists()  # the keyed cache, not nanoBragg's
    img = image(tmp_path)
    assert img.max() > 10 * np.median(img) > 0  # spots from the atoms

    second = ok("--model", "model.pdb", *GEOMETRY, "-floatfile", "second.bin", cwd=tmp_path)
    assert f"read from {caches[0].name}" in second.stdout
    assert "computed by FFT" not in second.stdout
    np.testing.assert_array_equal(image(tmp_path, "second.bin"), img)

    # keyed on the resolution the detector reaches ...
    farther = ok("--model", "model.pdb", *[a if a != "40" else "45" for a in GEOMETRY],
                 "-floatfile", "far.bin", cwd=tmp_path)
    assert "computed by FFT" in farther.stdout
    assert len(list(tmp_path.glob("Fmodel-*.npz"))) == 2
    # ... and on the file's content (one B factor changed)
    lines = model.read_text().splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith("ATOM"))
    lines[i] = lines[i][:60] + f"{float(lines[i][60:66]) + 5:6.2f}" + lines[i][66:]
    model.write_text("\n".join(lines) + "\n")
    changed = ok("--model", "model.pdb", *GEOMETRY, "-floatfile", "changed.bin", cwd=tmp_path)
    assert "computed by FFT" in changed.stdout
    assert len(list(tmp_path.glob("Fmodel-*.npz"))) == 3
    assert not np.array_equal(image(tmp_path, "changed.bin"), img)


def test_model_ignores_an_existing_fdump_and_warns_about_a_wrong_cell(tmp_path):
    ok("-cell", "9.6", "9.6", "19", "90", "101", "90", "-default_F", "5", "-hkl",
       str(MTZ), *GEOMETRY, cwd=tmp_path)
    assert (tmp_path / "Fdump.bin").exists()
    proc = ok("--model", str(PDB), "-cell", "9.643", "9.609", "25", "90", "101.22", "90",
              *GEOMETRY, cwd=tmp_path)
    assert "reading Fs from" not in proc.stdout
    assert "differs from the cell of --model" in proc.stdout and "c 25 vs 19.029" in proc.stdout


def test_api_model_without_and_with_a_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = simulate(Options(model_file=str(PDB), default_F=0.0, na=4, nb=4, nc=4,
                           fpixels=N, spixels=N, pixel_size=0.4e-3, distance=40e-3,
                           wavelength=1e-10, progress=False))
    assert list(tmp_path.iterdir()) == []  # the API writes no cache unless asked
    assert any("computed by FFT" in note for note in res.notes)
    assert any("unit cell from --model" in note for note in res.notes)
    assert res.stats.max_I > 0
    cache = tmp_path / "cache"
    cache.mkdir()
    opts = Options(model_file=str(PDB), model_cache_dir=str(cache), default_F=0.0,
                   na=4, nb=4, nc=4, fpixels=N, spixels=N, pixel_size=0.4e-3,
                   distance=40e-3, wavelength=1e-10, progress=False)
    cached = simulate(opts)
    assert len(list(cache.glob("Fmodel-*.npz"))) == 1
    np.testing.assert_array_equal(cached.image_f32, res.image_f32)


def test_api_writes_the_count_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = simulate(["-hkl", str(MTZ), *GEOMETRY])
    assert any("column FP" in note for note in res.notes)
    res.options.cbf_file = "api.cbf"
    res.options.png_file = "api.png"
    res.options.floatfile = "api.bin"
    res.options.intfile = "api.img"
    write_outputs(res)
    import fabio

    counts = fabio.open("api.cbf").data
    np.testing.assert_array_equal(counts, np.floor(res.image_f32.astype(np.float64) + 0.5))
    assert (tmp_path / "api.png").exists()
    off = simulate(["-hkl", str(MTZ), "-cell", "9.9", "9.609", "19.029", "90", "101.224", "90",
                    *GEOMETRY])
    assert any(n.startswith("WARNING: the unit cell given with -cell") for n in off.notes)
