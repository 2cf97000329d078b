"""A rendered frame as the pixels a file format holds, exactly as the single-image command
writes them (``-noisefile``, ``-intfile``, ``-floatfile``, ``--cbf``, ``--png``)."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

import numpy as np

__all__ = ["frame_pixels", "write_frame", "frame_start_time"]


def frame_pixels(result: Any, kind: str, holds: str = "adu",
                 noise: str = "exact") -> tuple[np.ndarray, dict]:
    """The pixels of image ``kind`` (``noise``, ``int`` or ``float``) as a format that holds
    ``holds`` stores them (:mod:`nbcupy.io.registry`), for the
    :class:`nbcupy.api.SimulationResult` ``result``; and a few numbers for the manifest
    (``max_I`` photons; for noise images the photon total and the overloads).

    ``noise`` (``exact``: nanoBragg's generator, byte-identical; ``fast``: the backend's)
    matters only for ``kind == "noise"``, which draws from the result's own generator state.
    """
    from nbcupy.experiment.regions import roi_pixels
    from nbcupy.io.counts import counts_from_image, counts_from_noise, valid_pixels
    from nbcupy.nanobragg import adu
    from nbcupy.nanobragg import noise as nz

    opts, sim = result.options, result.simulation
    img = result.image_f32
    info: dict[str, Any] = {"max_I": float(result.stats.max_I)}
    if kind == "float":
        return img, info
    roi = roi_pixels(sim.detector, sim.sampling)
    if kind == "int":
        if holds == "counts":
            return counts_from_image(img, valid_pixels(sim)), info
        if holds == "photons":
            return img, info
        scale = adu.intfile_scale(opts.intfile_scale, result.stats.max_I)
        info["scale"] = float(scale)
        return adu.int_image(img, scale, opts.adc_offset, roi), info
    if kind != "noise":
        raise ValueError(f"unknown image kind {kind!r}")
    counts = nz.noise_counts(img, result.image, result.render.backend.xp, result.rng,
                             result.report.noise_seed, roi, noise)
    pixels, photons, overloads = nz.noise_image_uint16(counts, opts.adc_offset, roi)
    info["photons"] = float(photons)
    info["overloads"] = int(overloads)
    if holds == "counts":
        return counts_from_noise(counts, valid_pixels(sim)), info
    if holds == "photons":
        return counts, info
    return pixels, info


def write_frame(fmt: Any, path: str, pixels: np.ndarray, result: Any, kind: str,
                start_time: datetime.datetime | None = None) -> str:
    """Write one frame with the registry's format ``fmt`` (atomically) and return the
    SHA-256 of the file written.

    ``start_time``: when the frame's exposure starts (UTC), written into the headers that
    hold a time (the CBF time stamp; the NeXus start and end times, one exposure apart), so
    that a frame's bytes depend on the series alone and not on when it was made; None: now.
    """
    from nbcupy.nanobragg.output_options import writer_options

    options = writer_options(fmt.name, result.options, kind)
    if start_time is not None and fmt.name == "cbf":
        options["timestamp"] = start_time
    elif start_time is not None and fmt.name == "nexus":
        options["start_time"] = start_time
        options["end_time"] = start_time + datetime.timedelta(seconds=result.options.exposure)
    fmt.write(path, pixels, result.simulation, **options)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def frame_start_time(series_start: datetime.datetime, index: int, exposure: float
                     ) -> datetime.datetime:
    """When frame ``index`` (0-based) of a series that starts at ``series_start`` begins:
    one exposure (s) after the other, as a detector records them."""
    return series_start + datetime.timedelta(seconds=index * exposure)
