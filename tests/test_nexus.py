"""NeXus NXmx files read by the ``nxmx`` package (the reader dxtbx uses): wavelength,
distance, pixel size, beam centre, axes and data come back as the models have them."""

from __future__ import annotations

import datetime
import math
import os

import h5py
import hdf5plugin  # noqa: F401 - registers the bitshuffle filter for reading
import numpy as np
import nxmx
import pytest

from nbcupy.api import prepare
from nbcupy.errors import InputError
from nbcupy.io.nexus import NexusWriter, write_nexus

BASE = ("-cell 100 100 100 90 90 90 -lambda 0.9 -N 5 -default_F 100 -detpixels_f 24 "
        "-detpixels_s 18 -pixel 0.172 -distance 120")
BITSHUFFLE = 32008  # HDF5 filter id of bitshuffle


def dxtbx_panel(detector: nxmx.NXdetector) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin (mm), fast and slow unit vectors (McStas) and pixel size (mm) of the module,
    computed the way dxtbx.nexus.get_dxtbx_detector does for a flat detector."""
    module = detector.modules[0]
    fast_axis = module.fast_pixel_direction
    chain = nxmx.get_dependency_chain(fast_axis.depends_on)
    rotations = [t for t in chain if t.transformation_type == "rotation"]
    rot = (nxmx.get_cumulative_transformation(rotations)[0, :3, :3] if rotations
           else np.identity(3))
    origin = nxmx.get_cumulative_transformation(chain)[0, :3, 3]
    if fast_axis.offset is not None:
        origin = origin + fast_axis.offset.to("mm").magnitude
    fast = rot @ fast_axis.vector
    slow = rot @ module.slow_pixel_direction.vector
    size = fast_axis[()].to("mm").magnitude.item()
    assert module.slow_pixel_direction[()].to("mm").magnitude.item() == pytest.approx(size)
    return origin, fast, slow, size


def pixel_centres_lab(sim) -> np.ndarray:
    """Centres (mm) of the four corner pixels as nanoBragg places them."""
    det = sim.detector
    out = []
    for i, j in ((0, 0), (det.fpixels - 1, 0), (0, det.spixels - 1),
                 (det.fpixels - 1, det.spixels - 1)):
        p = det.pix0 + (i + 0.5) * det.pixel_size * det.fdet + (j + 0.5) * det.pixel_size * det.sdet
        out.append(p * 1e3)
    return np.array(out)


def pixel_centres_file(detector: nxmx.NXdetector, sim) -> np.ndarray:
    origin, fast, slow, size = dxtbx_panel(detector)
    det = sim.detector
    out = []
    for i, j in ((0, 0), (det.fpixels - 1, 0), (0, det.spixels - 1),
                 (det.fpixels - 1, det.spixels - 1)):
        out.append(origin + (i + 0.5) * size * fast + (j + 0.5) * size * slow)
    return np.array(out)


@pytest.mark.parametrize("flags", [
    "-mosflm -phi 10 -osc 0.25",
    "-xds -phi 3 -osc 0.5 -detector_rotx 4 -detector_roty -2",
    "-dials -phi -5 -osc 1 -twotheta 8",
    "-mosflm -phi 0 -osc 0.2 -spindle_axis 0 0.6 0.8 -detector_rotz 30",
    "-mosflm -phi 1 -osc 0.2 -spindle_axis 0.3 0 1 -pivot sample -detector_roty 5",
])
def test_nxmx_reads_back_the_models(tmp_path, flags):
    sim, *_ = prepare(f"{BASE} {flags}")
    det, beam, spindle = sim.detector, sim.beam, sim.spindle
    rng = np.random.default_rng(1)
    stack = rng.integers(-1, 3000, size=(3, 18, 24)).astype(np.int32)
    start = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    path = tmp_path / "series.h5"
    phis = spindle.phi0 + spindle.osc * np.arange(3)
    assert write_nexus(path, sim, stack, phis=phis, exposure_time=0.1,
                       start_time=start) == []

    with h5py.File(path, "r") as handle:
        entries = nxmx.NXmx(handle).entries
        assert len(entries) == 1
        entry = entries[0]
        assert entry.definition == "NXmx"
        assert entry.start_time == start
        instrument = entry.instruments[0]
        nxbeam = instrument.beams[0]
        assert nxbeam.incident_wavelength.to("angstrom").magnitude == pytest.approx(0.9)
        detector = instrument.detectors[0]
        assert detector.sensor_material == "Si"
        assert detector.sensor_thickness.to("m").magnitude == pytest.approx(det.thickness)
        assert detector.saturation_value == 2**31 - 1
        assert detector.depends_on.path.endswith("det_z")
        assert detector.depends_on.transformation_type == "translation"
        assert detector.frame_time.to("s").magnitude == pytest.approx(0.1)

        # every pixel where the model puts it: compare frame-free quantities with the beam
        # (McStas +z, as NXmx readers assume) and the rotation axis
        sample = entry.samples[0]
        axes = nxmx.get_rotation_axes(nxmx.get_dependency_chain(sample.depends_on))
        assert list(axes.names) == ["omega"]
        axis_file = axes.axes[0]
        beam_file = np.array([0.0, 0.0, 1.0])
        lab = pixel_centres_lab(sim)
        got = pixel_centres_file(detector, sim)
        axis_lab = spindle.spindle_axis / np.linalg.norm(spindle.spindle_axis)
        for p_lab, p_file in zip(lab, got, strict=True):
            assert np.linalg.norm(p_file) == pytest.approx(np.linalg.norm(p_lab), rel=1e-12)
            assert p_file @ beam_file == pytest.approx(p_lab @ beam.direction, abs=1e-9)
            assert p_file @ axis_file == pytest.approx(p_lab @ axis_lab, abs=1e-9)
            assert p_file @ np.cross(beam_file, axis_file) == pytest.approx(
                p_lab @ np.cross(beam.direction, axis_lab), abs=1e-9)
        origin, fast, slow, size = dxtbx_panel(detector)
        assert size == pytest.approx(det.pixel_size * 1e3)
        assert fast @ axis_file == pytest.approx(det.fdet @ axis_lab, abs=1e-12)
        assert slow @ beam_file == pytest.approx(det.sdet @ beam.direction, abs=1e-12)

        # beam centre and distance: where the beam (+z) meets the module's plane
        normal = np.cross(fast, slow)
        t = (origin @ normal) / normal[2]
        spot = t * beam_file - origin
        assert detector.distance.to("mm").magnitude == pytest.approx(t, rel=1e-12)
        assert detector.beam_center_x.to("pixel").magnitude == pytest.approx(
            spot @ fast / size, abs=1e-9)
        assert detector.beam_center_y.to("pixel").magnitude == pytest.approx(
            spot @ slow / size, abs=1e-9)

        # the scan: one start angle per frame, and the oscillation of each
        omega = nxmx.get_dependency_chain(sample.depends_on)[0]
        np.testing.assert_allclose(omega[()].to("deg").magnitude, np.degrees(phis), atol=1e-12)
        np.testing.assert_allclose((omega.end[()] - omega[()]).to("deg").magnitude,
                                   math.degrees(spindle.osc), atol=1e-12)

        # the data, one chunk per frame, bitshuffle-LZ4
        data = handle["/entry/data/data"]
        assert entry.data[0].signal == "data"
        assert data.shape == (3, 18, 24) and data.dtype == np.int32
        assert data.chunks == (1, 18, 24)
        assert BITSHUFFLE in data._filters or str(BITSHUFFLE) in data._filters
        np.testing.assert_array_equal(data[()], stack)
        module = detector.modules[0]
        assert list(module.data_size) == [18, 24] and list(module.data_origin) == [0, 0]


def test_mosflm_default_geometry_in_the_mcstas_frame(tmp_path):
    """Beam +z, rotation axis -x as at Diamond; MOSFLM's fast axis along the spindle."""
    sim, *_ = prepare(f"{BASE} -phi 0 -osc 1")
    write_nexus(tmp_path / "a.h5", sim, np.zeros((18, 24), np.int32))
    with h5py.File(tmp_path / "a.h5") as handle:
        entry = nxmx.NXmx(handle).entries[0]
        axes = nxmx.get_rotation_axes(nxmx.get_dependency_chain(entry.samples[0].depends_on))
        np.testing.assert_allclose(axes.axes[0], [-1, 0, 0], atol=1e-15)
        origin, fast, slow, _ = dxtbx_panel(entry.instruments[0].detectors[0])
        np.testing.assert_allclose(fast, [-1, 0, 0], atol=1e-15)
        np.testing.assert_allclose(slow, [0, -1, 0], atol=1e-15)
        assert origin[2] == pytest.approx(120.0)


def test_stills_have_no_goniometer(tmp_path):
    sim, *_ = prepare(BASE)
    write_nexus(tmp_path / "still.h5", sim, np.ones((2, 18, 24), np.int32))
    with h5py.File(tmp_path / "still.h5") as handle:
        entry = nxmx.NXmx(handle).entries[0]
        assert entry.samples[0].depends_on is None
        assert handle["/entry/sample/depends_on"][()] == b"."
        assert handle["/entry/data/data"].shape == (2, 18, 24)


def test_writer_frames_in_any_order_atomically(tmp_path):
    sim, *_ = prepare(f"{BASE} -osc 0.1")
    path = tmp_path / "run.h5"
    with NexusWriter(path, sim, 3) as writer:
        for index in (2, 0, 1):
            writer.write_frame(index, np.full((18, 24), index, np.int64))
            assert not path.exists()  # only the temporary file so far
    with h5py.File(path) as handle:
        data = handle["/entry/data/data"][()]
        np.testing.assert_array_equal(data[:, 0, 0], [0, 1, 2])
        omega = handle["/entry/sample/transformations/omega"][()]
        np.testing.assert_allclose(omega, np.degrees(sim.spindle.phi0 + 0.1 * np.pi / 180 *
                                                     np.arange(3)), atol=1e-12)
    assert sorted(os.listdir(tmp_path)) == ["run.h5"]


def test_incomplete_or_failed_series_leave_no_file(tmp_path):
    sim, *_ = prepare(BASE)
    path = tmp_path / "run.h5"
    path.write_bytes(b"old")
    writer = NexusWriter(path, sim, 2)
    writer.write_frame(0, np.zeros((18, 24), np.int32))
    with pytest.raises(ValueError, match="never written"):
        writer.close()
    with pytest.raises(RuntimeError), NexusWriter(path, sim, 1) as writer:
        raise RuntimeError("simulation failed")
    with pytest.raises(TypeError):
        write_nexus(path, sim, np.zeros((18, 24)))
    with pytest.raises(IndexError), NexusWriter(path, sim, 1) as writer:
        writer.write_frame(1, np.zeros((18, 24), np.int32))
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["run.h5"]
    with pytest.raises(InputError) as err:
        write_nexus(tmp_path / "no" / "run.h5", sim, np.zeros((18, 24), np.int32))
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="sensor material"):
        NexusWriter(path, sim, 1, sensor_material="Ge")
