"""The format registry: every format by name and extension, with what its pixels hold, and
writers of the one signature ``write(path, pixels, sim, **options)`` whose files the real
readers open."""

from __future__ import annotations

import fabio
import h5py
import hdf5plugin  # noqa: F401 - registers the bitshuffle filter for reading
import numpy as np
import pytest
from PIL import Image

from nbcupy.api import prepare
from nbcupy.errors import InputError
from nbcupy.io.registry import FORMATS, PIXEL_KINDS, format_for, format_named


@pytest.mark.parametrize("path,name,holds", [
    ("a.bin", "float", "photons"), ("a.img", "smv", "adu"), ("a.pgm", "pgm", "grey"),
    ("a.cbf", "cbf", "counts"), ("run/a_00001.CBF", "cbf", "counts"),
    ("a.h5", "nexus", "counts"), ("a.nxs", "nexus", "counts"), ("a.png", "png", "photons"),
])
def test_formats_by_extension(path, name, holds):
    fmt = format_for(path)
    assert fmt.name == name and fmt.holds == holds and format_named(name) is fmt


def test_every_format_names_a_kind_and_an_importable_writer():
    for fmt in FORMATS.values():
        assert fmt.holds in PIXEL_KINDS
        assert callable(fmt.writer())
    with pytest.raises(InputError, match="known: .*cbf"):
        format_named("tiff")
    with pytest.raises(InputError, match=r"\.tif"):
        format_for("a.tif")


def test_count_writers_through_the_registry(tmp_path):
    sim, *_ = prepare("-cell 50 50 50 90 90 90 -lambda 1 -N 3 -default_F 10 -detpixels_f 12 "
                      "-detpixels_s 9 -distance 80 -phi 1 -osc 0.1")
    counts = np.arange(9 * 12, dtype=np.int32).reshape(9, 12) - 1
    assert format_named("cbf").write(tmp_path / "a.cbf", counts, sim,
                                     sensor_material="CdTe") == []
    np.testing.assert_array_equal(fabio.open(str(tmp_path / "a.cbf")).data, counts)
    assert format_named("nexus").write(tmp_path / "a.h5", counts, sim, exposure_time=0.5) == []
    with h5py.File(tmp_path / "a.h5", "r") as handle:
        np.testing.assert_array_equal(handle["/entry/data/data"][()], counts[None])
        assert handle["/entry/sample/transformations/omega"][()] == pytest.approx([1.0])
    assert format_named("png").write(tmp_path / "a.png", counts, sim, log_scale=True) is None
    with Image.open(tmp_path / "a.png") as png:
        assert png.size == (12, 9)
    with pytest.raises(ValueError, match="2 dimensions"):
        format_named("nexus").write(tmp_path / "b.h5", counts[None], sim)
    assert not (tmp_path / "b.h5").exists()
