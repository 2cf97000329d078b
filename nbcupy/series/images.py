"""A rendered frame as the pixels of one image kind, exactly as the single-image command
writes them (``-noisefile``, ``-intfile``, ``-floatfile``)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["frame_pixels"]


def frame_pixels(result: Any, kind: str, noise: str = "exact") -> tuple[np.ndarray, dict]:
    """The pixels of ``kind`` for the :class:`nbcupy.api.SimulationResult` ``result``, and
    a few numbers for the manifest (``max_I`` photons; for noise images the photon total and
    the overloads).

    ``noise`` (``exact``: nanoBragg's generator, byte-identical; ``fast``: the backend's)
    matters only for ``kind == "noise"``, which draws from the result's own generator state.
    """
    from nbcupy import outputs
    from nbcupy.api import _roi_array

    opts = result.options
    img = result.image_f32
    info: dict[str, Any] = {"max_I": float(result.stats.max_I)}
    if kind == "float":
        return img, info
    roi = _roi_array(result.simulation)
    if kind == "int":
        scale = (opts.intfile_scale if opts.intfile_scale > 0
                 else outputs.auto_int_scale(result.stats.max_I))
        info["scale"] = float(scale)
        return outputs.int_image(img, scale, opts.adc_offset, roi), info
    if kind != "noise":
        raise ValueError(f"unknown image kind {kind!r}")
    from nbcupy import noise as nz
    from nbcupy.rng import SeedStream

    if noise == "fast":
        from nbcupy.backends import to_numpy

        xp = result.render.backend.xp
        counts = np.asarray(to_numpy(nz.poisson_counts_fast(
            result.image, xp, abs(int(result.report.noise_seed)))), dtype=np.float64)
        if roi is not None:
            counts = np.where(roi, counts, 0.0)
    else:
        counts = nz.poisson_counts_exact(img, result.rng, SeedStream(result.report.noise_seed),
                                         roi)
    pixels, photons, overloads = nz.noise_image_uint16(counts, opts.adc_offset, roi)
    info["photons"] = float(photons)
    info["overloads"] = int(overloads)
    return pixels, info
