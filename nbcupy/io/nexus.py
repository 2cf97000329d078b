"""NeXus NXmx files (HDF5), as Eiger detectors write them and dxtbx reads them.

One file holds a whole series: ``/entry/data/data`` has shape (frames, slow, fast), int32,
one chunk per frame, compressed with bitshuffle-LZ4 through hdf5plugin (the compression of
Eiger files; a reader needs ``import hdf5plugin`` before it reads the pixels, as dxtbx does).
Or the pixels stay in other files, one NeXus file per frame, and ``/entry/data/data`` is an
HDF5 virtual dataset of the same shape that maps frame i onto ``/entry/data/data[0]`` of
the i-th file (:func:`write_master`): a master file, as Eiger masters point at their data
files, which readers (h5py, dxtbx) read as if the frames were in it; a frame whose file is
missing reads as -1 (no data).
What the pixels hold is described in :mod:`nbcupy.io.counts`: the photons a counting
detector records -- the noise image without the ``-adc`` offset, or with ``-nonoise`` the
noiseless image rounded to counts; -1 marks pixels that were not simulated.

The file follows the NXmx application definition as dxtbx (through the ``nxmx`` package)
reads it; every vector is in the McStas frame of NeXus, converted from nbcupy's lab frame by
:func:`nbcupy.experiment.frames.lab_to_mcstas` (beam along +z, rotation axis along -x)::

    /entry                       NXentry   definition = "NXmx", start_time, end_time(_estimated)
    /entry/data                  NXdata    data (frames, slow, fast) int32, signal = "data"
    /entry/source                NXsource  name
    /entry/instrument            NXinstrument  name
      beam                       NXbeam    incident_wavelength (angstrom)
      detector                   NXdetector
        depends_on = .../transformations/det_z
        sensor_material (Si unless told), sensor_thickness (m), saturation_value,
        underload_value = 0, count_time, frame_time (s), distance (m),
        beam_center_x/_y (pixels), x/y_pixel_size (m), bit_depth_image = 32, data (a link)
        transformations/det_z    translation along the detector normal by the sample-to-plane
                                 distance (mm), depends_on "."
        module                   NXdetector_module  data_origin (0, 0), data_size (slow, fast)
          module_offset          translation within the plane from the foot of the normal to
                                 the first pixel's outer corner (mm), depends_on det_z
          fast_pixel_direction   pixel size (mm) along the fast axis, depends_on module_offset
          slow_pixel_direction   pixel size (mm) along the slow axis, depends_on module_offset
    /entry/sample                NXsample  name, depends_on
      transformations/omega      rotation about the spindle, one start angle per frame (deg),
                                 with omega_end and omega_increment_set

The module places every pixel where nbcupy's detector model puts it: dxtbx takes the origin
of the chain (det_z + module_offset) as the outer corner of the first pixel, the centre of
pixel (i, j) lying at (i + 0.5, j + 0.5) pixel sizes along the fast and slow vectors, and
that corner is nanoBragg's ``pix0``; no half-pixel shift is needed.  Detector rotations and
two-theta are already in the vectors, so the chain has no rotations.  Stills (no
oscillation) have ``sample/depends_on = "."``.  Curved detectors cannot be described (NXmx
modules are flat); :attr:`NexusWriter.notes` says so.
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from nbcupy.errors import InputError
from nbcupy.io.counts import INT32_MAX, checked_counts

__all__ = ["SENSOR_MATERIALS", "NexusWriter", "write_nexus", "write_master", "write_image",
           "frame_start_angles"]

#: sensor materials dxtbx's NeXus reader knows
SENSOR_MATERIALS = ("Si", "CdTe", "GaAs")

_DETECTOR = "/entry/instrument/detector"
_DET_Z = _DETECTOR + "/transformations/det_z"
_MODULE = _DETECTOR + "/module"
_OMEGA = "/entry/sample/transformations/omega"


def _iso(when: datetime.datetime) -> str:
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def frame_start_angles(sim, frames: int) -> np.ndarray:
    """Default start angles (rad) of ``frames`` consecutive images: phi0 + i * osc."""
    return sim.spindle.phi0 + sim.spindle.osc * np.arange(frames, dtype=np.float64)


def _axis(group: Any, name: str, values: Sequence[float], *, kind: str, vector: np.ndarray,
          units: str, depends_on: str) -> Any:
    """A transformation dataset (NXtransformations axis) with its attributes."""
    ds = group.create_dataset(name, data=np.asarray(values, dtype=np.float64))
    ds.attrs["transformation_type"] = kind
    ds.attrs["vector"] = np.asarray(vector, dtype=np.float64)
    ds.attrs["offset"] = np.zeros(3)
    ds.attrs["offset_units"] = "mm"
    ds.attrs["units"] = units
    ds.attrs["depends_on"] = depends_on
    return ds


def _group(parent: Any, name: str, nx_class: str) -> Any:
    group = parent.create_group(name)
    group.attrs["NX_class"] = nx_class
    return group


def _quantity(group: Any, name: str, value: float, units: str, dtype: str = "f8") -> None:
    ds = group.create_dataset(name, data=np.asarray(value, dtype=dtype))
    ds.attrs["units"] = units


class NexusWriter:
    """Write a series of ``frames`` images of ``sim`` into one NXmx file, atomically.

    ``path``: the file; it appears (renamed from a temporary name) only when :meth:`close`
    succeeds, every frame having been written.  ``sim``: an
    :class:`nbcupy.experiment.models.Simulation` (geometry, wavelength, spindle, oscillation).
    ``phis``: the start angle of every frame (rad; default phi0 + i * osc); each frame
    covers ``sim.spindle.osc``.  ``exposure_time`` (s) per frame.  ``sensor_material``: one of
    :data:`SENSOR_MATERIALS`.  ``saturation``: the ``saturation_value``.  ``start_time``:
    default now; ``end_time``: default the time the file is closed (give both for a file
    whose bytes depend on its content only).  ``compression``: ``"bslz4"`` (bitshuffle-LZ4,
    default), ``"gzip"`` or ``None``.  ``data_files``: the frames' pixels are not written
    here but mapped from these NeXus files (one per frame, paths relative to ``path``'s
    folder or absolute; see the module docstring); :meth:`write_frame` is then refused.

    Frames may be written in any order with :meth:`write_frame`; use the writer as a context
    manager (closed on success, discarded when the block raises) or call :meth:`close` /
    :meth:`abort`.  ``notes`` lists what the file cannot describe (a curved detector).
    """

    def __init__(self, path: str | os.PathLike[str], sim, frames: int = 1, *,
                 phis: Sequence[float] | None = None, exposure_time: float = 1.0,
                 sensor_material: str = "Si", saturation: int = INT32_MAX,
                 start_time: datetime.datetime | None = None,
                 end_time: datetime.datetime | None = None,
                 compression: str | None = "bslz4",
                 data_files: Sequence[str | os.PathLike[str]] | None = None) -> None:
        import h5py

        from nbcupy.io.atomic import AtomicPath

        frames = int(frames)
        if frames < 1:
            raise InputError(f"NeXus: a series needs at least one frame, got {frames}")
        if sensor_material not in SENSOR_MATERIALS:
            raise InputError(f"NeXus: sensor material {sensor_material!r} is not one of "
                             f"{', '.join(SENSOR_MATERIALS)}")
        if not (math.isfinite(exposure_time) and exposure_time >= 0.0):
            raise InputError(f"NeXus: exposure time {exposure_time!r} must be finite and >= 0")
        angles = frame_start_angles(sim, frames) if phis is None else np.asarray(
            phis, dtype=np.float64).reshape(-1)
        if angles.shape != (frames,) or not np.isfinite(angles).all():
            raise InputError(f"NeXus: need {frames} finite start angles, got {angles.shape[0]}")
        if compression not in ("bslz4", "gzip", None):
            raise ValueError(f"unknown compression {compression!r}")
        if data_files is not None:
            data_files = [os.fspath(name) for name in data_files]
            if len(data_files) != frames:
                raise ValueError(f"NeXus: need {frames} data files, got {len(data_files)}")
        self.path = os.fspath(path)
        self.frames = frames
        self.sim = sim
        self.notes: list[str] = []
        self._shape = (sim.detector.spixels, sim.detector.fpixels)
        self._written = np.full(frames, data_files is not None, dtype=bool)
        self._data_files = data_files
        self._start = start_time or datetime.datetime.now(datetime.timezone.utc)
        self._end = end_time
        self._target = AtomicPath(self.path)
        try:
            self._file = h5py.File(self._target.path, "w")
            self._build(angles, exposure_time, sensor_material, int(saturation), compression)
        except BaseException:
            self.abort()
            raise

    # -- file layout --------------------------------------------------------------------
    def _build(self, angles: np.ndarray, exposure: float, material: str, saturation: int,
               compression: str | None) -> None:
        import h5py

        from nbcupy.experiment.frames import lab_to_mcstas
        from nbcupy.experiment.geometry import direct_beam

        sim, f = self.sim, self._file
        det, beam, spindle = sim.detector, sim.beam, sim.spindle
        rot = lab_to_mcstas(beam.direction, spindle.spindle_axis, beam.polarization_axis)

        f.attrs["NX_class"] = "NXroot"
        f.attrs["file_name"] = os.path.basename(self.path)
        f.attrs["file_time"] = _iso(self._start)
        f.attrs["HDF5_Version"] = h5py.version.hdf5_version
        f.attrs["creator"] = "nbcupy"
        entry = _group(f, "entry", "NXentry")
        entry["definition"] = "NXmx"
        entry["start_time"] = _iso(self._start)
        entry["end_time_estimated"] = _iso(self._end or self._start)
        entry["title"] = "nbcupy simulation"
        entry.attrs["default"] = "data"

        # data: one chunk per frame, or the frames of other files
        data_group = _group(entry, "data", "NXdata")
        data_group.attrs["signal"] = "data"
        if self._data_files is not None:
            self._data = self._virtual_data(data_group)
        else:
            kwargs: dict[str, Any] = {}
            if compression == "bslz4":
                import hdf5plugin

                kwargs.update(hdf5plugin.Bitshuffle(cname="lz4"))
            elif compression == "gzip":
                kwargs.update(compression="gzip", shuffle=True)
            self._data = data_group.create_dataset(
                "data", shape=(self.frames, *self._shape), dtype=np.int32,
                chunks=(1, *self._shape), fillvalue=-1, **kwargs)

        source = _group(entry, "source", "NXsource")
        source["name"] = "nbcupy simulation"

        instrument = _group(entry, "instrument", "NXinstrument")
        instrument["name"] = "nbcupy simulated beamline"
        instrument["name"].attrs["short_name"] = "nbcupy"
        nxbeam = _group(instrument, "beam", "NXbeam")
        _quantity(nxbeam, "incident_wavelength", beam.wavelength * 1e10, "angstrom")

        # detector: position chain det_z -> module_offset -> pixel directions
        nxdet = _group(instrument, "detector", "NXdetector")
        nxdet["depends_on"] = _DET_Z
        nxdet["description"] = "nbcupy simulated photon-counting detector"
        nxdet["type"] = "pixel"
        nxdet["sensor_material"] = material
        _quantity(nxdet, "sensor_thickness", det.thickness, "m")
        nxdet["saturation_value"] = np.int64(saturation)
        nxdet["underload_value"] = np.int64(0)
        nxdet["bit_depth_image"] = np.int32(32)
        _quantity(nxdet, "count_time", exposure, "s")
        _quantity(nxdet, "frame_time", exposure, "s")
        _quantity(nxdet, "x_pixel_size", det.pixel_size, "m")
        _quantity(nxdet, "y_pixel_size", det.pixel_size, "m")
        spot = direct_beam(det, beam.direction)
        if spot is not None:
            _quantity(nxdet, "distance", spot.distance, "m")
            _quantity(nxdet, "beam_center_x", spot.fast_px, "pixel")
            _quantity(nxdet, "beam_center_y", spot.slow_px, "pixel")
        nxdet["data"] = self._data  # hard link, as NXmx recommends

        fdet = np.asarray(det.fdet, dtype=np.float64)
        sdet = np.asarray(det.sdet, dtype=np.float64)
        odet = np.asarray(det.odet, dtype=np.float64)
        pix0 = np.asarray(det.pix0, dtype=np.float64)
        close = float(pix0 @ odet)  # signed distance of the plane along odet
        in_plane = pix0 - close * odet
        shift = float(np.linalg.norm(in_plane))
        det_transforms = _group(nxdet, "transformations", "NXtransformations")
        _axis(det_transforms, "det_z", [close * 1e3], kind="translation", vector=rot @ odet,
              units="mm", depends_on=".")
        module = _group(nxdet, "module", "NXdetector_module")
        module["data_origin"] = np.array([0, 0], dtype=np.int32)
        module["data_size"] = np.array(self._shape, dtype=np.int32)
        _axis(module, "module_offset", [shift * 1e3], kind="translation",
              vector=rot @ (in_plane / shift if shift > 0.0 else fdet), units="mm",
              depends_on=_DET_Z)
        for name, axis in (("fast_pixel_direction", fdet), ("slow_pixel_direction", sdet)):
            _axis(module, name, [det.pixel_size * 1e3], kind="translation", vector=rot @ axis,
                  units="mm", depends_on=_MODULE + "/module_offset")
        if det.curved:
            self.notes.append("NeXus: the detector is curved; NXmx modules are flat, so "
                              "pixel positions away from the beam centre are misread")

        # sample: the spindle, one start angle per frame (stills: no goniometer)
        sample = _group(entry, "sample", "NXsample")
        sample["name"] = "nbcupy simulated crystal"
        if spindle.osc == 0.0:
            sample["depends_on"] = "."
        else:
            sample["depends_on"] = _OMEGA
            sample_transforms = _group(sample, "transformations", "NXtransformations")
            axis = np.asarray(spindle.spindle_axis, dtype=np.float64)
            deg = np.degrees(angles)
            osc = math.degrees(spindle.osc)
            _axis(sample_transforms, "omega", deg, kind="rotation",
                  vector=rot @ (axis / np.linalg.norm(axis)), units="deg",
                  depends_on=".")
            for name, values in (("omega_end", deg + osc),
                                 ("omega_increment_set", np.full(self.frames, osc))):
                ds = sample_transforms.create_dataset(name, data=values)
                ds.attrs["units"] = "deg"

    def _virtual_data(self, group: Any) -> Any:
        """``data`` as a virtual dataset: frame i is ``/entry/data/data[0]`` of data file i.

        Made with h5py's low-level calls so that, like every other dataset of the file, it
        records no modification time: the file's bytes then depend on its content only."""
        import h5py

        shape = (self.frames, *self._shape)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_obj_track_times(False)
        dcpl.set_fill_value(np.array([-1], dtype=np.int32))
        source_space = h5py.h5s.create_simple((1, *self._shape))
        for index, name in enumerate(self._data_files or ()):
            frame_space = h5py.h5s.create_simple(shape)
            frame_space.select_hyperslab((index, 0, 0), (1, *self._shape))
            dcpl.set_virtual(frame_space, os.fsencode(name), b"/entry/data/data", source_space)
        dsid = h5py.h5d.create(group.id, b"data", h5py.h5t.py_create(np.dtype("<i4")),
                               h5py.h5s.create_simple(shape), dcpl=dcpl)
        return h5py.Dataset(dsid)

    # -- frames -------------------------------------------------------------------------
    def write_frame(self, index: int, counts: object) -> None:
        """Store the int32 counts (shape (spixels, fpixels)) of frame ``index`` (0-based)."""
        if self._file is None:
            raise ValueError("NeXus: the file is already closed")
        if self._data_files is not None:
            raise ValueError("NeXus: the frames of this file are in its data files")
        index = int(index)
        if not 0 <= index < self.frames:
            raise IndexError(f"NeXus: frame {index} is outside 0..{self.frames - 1}")
        self._data[index] = checked_counts(counts, self._shape, "NeXus")
        self._written[index] = True

    def close(self) -> None:
        """Finish the file and rename it onto ``path``.  Raises ValueError (and discards the
        file) when a frame was never written."""
        if self._file is None:
            return
        missing = np.flatnonzero(~self._written)
        if missing.size:
            self.abort()
            raise ValueError(f"NeXus: {missing.size} frame(s) never written, first {missing[0]}")
        self._file["/entry/end_time"] = _iso(self._end or
                                             datetime.datetime.now(datetime.timezone.utc))
        self._file.close()
        self._file = None
        self._target.commit()

    def abort(self) -> None:
        """Discard the file; ``path`` is left as it was."""
        file, self._file = getattr(self, "_file", None), None
        if file is not None:
            try:
                file.close()
            except Exception:  # noqa: BLE001 - discarding anyway
                pass
        self._target.discard()

    def __enter__(self) -> NexusWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_nexus(path: str | os.PathLike[str], sim, counts_stack: object, *,
                phis: Sequence[float] | None = None, **options: Any) -> list[str]:
    """Write a whole series at once: ``counts_stack`` of shape (frames, spixels, fpixels) (or
    one (spixels, fpixels) image).  ``phis`` and ``options`` as for :class:`NexusWriter`.
    Returns the writer's notes."""
    stack = np.asarray(counts_stack)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3:
        raise ValueError(f"NeXus: counts_stack must be 2- or 3-dimensional, got {stack.ndim}")
    with NexusWriter(path, sim, stack.shape[0], phis=phis, **options) as writer:
        for index, frame in enumerate(stack):
            writer.write_frame(index, frame)
    return writer.notes


def write_master(path: str | os.PathLike[str], sim, data_files: Sequence[str | os.PathLike[str]],
                 *, phis: Sequence[float] | None = None, **options: Any) -> list[str]:
    """Write a master file of ``len(data_files)`` frames whose pixels are those of the NeXus
    files ``data_files`` (one frame each, ``/entry/data/data`` of shape (1, spixels,
    fpixels) int32, as :func:`write_image` writes them; paths relative to ``path``'s folder
    or absolute): the same NXmx tree, with ``/entry/data/data`` a virtual dataset.  ``phis``
    and ``options`` as for :class:`NexusWriter`.  Returns the writer's notes."""
    with NexusWriter(path, sim, len(data_files), phis=phis, data_files=data_files,
                     **options) as writer:
        pass
    return writer.notes


def write_image(path: str | os.PathLike[str], pixels: object, sim, **options: Any
                ) -> list[str]:
    """The format registry's writer: one image (int32 counts ``pixels``, shape (spixels,
    fpixels)) of ``sim`` as a NeXus file of one frame at ``sim.spindle.phi0``; ``options``
    those of :class:`NexusWriter`.  Returns the writer's notes.  A series is written frame
    by frame with :class:`NexusWriter` itself."""
    frame = np.asarray(pixels)
    if frame.ndim != 2:
        raise ValueError(f"NeXus: one image has 2 dimensions, got {frame.ndim}")
    return write_nexus(path, sim, frame, **options)
