"""Evaluate one tile of pixels: geometry, the settings sum and the per-pixel factors.

:func:`evaluate_tile` picks the path: tiles under nanoBragg's order-dependent rules go to
:func:`nbcupy.engine.order_rules.tile_general`; all others take :func:`tile_fast`, with the
kernels chosen for the image (:func:`nbcupy.engine.kernels.select_kernel`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nbcupy.engine import order_rules, physics
from nbcupy.engine.context import ImageContext
from nbcupy.engine.kernels.plain import settings_sum_plain
from nbcupy.engine.sample_geometry import pixel_coordinates, sample_geometry


def evaluate_tile(ctx: ImageContext, flat_pixels: np.ndarray | range, tile_start_rank: int,
                  first_pass: bool) -> tuple[np.ndarray, float, bool]:
    """Render the pixels ``flat_pixels`` (row-major indices, an array or a range) that start
    at rank ``tile_start_rank`` among the rendered pixels; returns their values (an array of
    the backend in the engine's precision, photons), their solid-angle sum (sr x samples)
    and whether the phi = 0 first-pass rule was used."""
    fpixels = ctx.sim.detector.fpixels
    kern = ctx.kernel
    rows = None  # (first row, rows) when the tile is whole rows of the image
    if (isinstance(flat_pixels, range) and flat_pixels.start % fpixels == 0
            and len(flat_pixels) % fpixels == 0):
        rows = (flat_pixels.start // fpixels, len(flat_pixels) // fpixels, fpixels)
    if kern.flat_geometry is not None:
        P = len(flat_pixels)
        if rows is not None:  # positions by broadcasting
            flat = kern.flat_geometry.rows(*rows)
        else:
            flat = kern.flat_geometry(*pixel_coordinates(ctx, flat_pixels)[:2])
        return tile_fast(ctx, None, None, P, first_pass, flat)
    if kern.sub_geometry is not None and rows is not None:
        P = len(flat_pixels)
        comps, air = kern.sub_geometry.rows(*rows)
    else:
        fp, sp, P = pixel_coordinates(ctx, flat_pixels)
        comps, air = sample_geometry(ctx, fp, sp)
    if ctx.recurrence or ctx.sim.sampling.dmin > 0.0 or ctx.interpolating:
        # nanoBragg's order-dependent rules: pixel-major (P, Q) layout, loop order
        xp = ctx.xp
        comps = [xp.permute_dims(c, (1, 0)) for c in comps]
        return order_rules.tile_general(ctx, comps, xp.permute_dims(air, (1, 0)), P,
                                        tile_start_rank, first_pass)
    return tile_fast(ctx, comps, air, P, first_pass)


def settings_sum(ctx: ImageContext, dflat: list[Any]) -> Any:
    """acc (N,): sum over all settings of F^2 F_latt^2 for directions (N,) on the image's
    kernel (the fused one where chosen, else the plain reference)."""
    if ctx.kernel.settings_sum is not None:
        return ctx.kernel.settings_sum(*dflat)
    return settings_sum_plain(ctx.dev, *dflat)


def tile_fast(ctx: ImageContext, comps: list[Any] | None, air: Any, P: int, first_pass: bool,
              flat: tuple | None = None) -> tuple[np.ndarray, float, bool]:
    """A tile without order-dependent rules: per-pixel factors from the first sub-pixel
    (absorption from the last layer's), one settings sum per sample point.  ``comps``
    and ``air`` are (Q, P); or ``flat`` holds what the fused flat geometry computed
    (directions, air paths, solid angles and polarization factors of single samples)."""
    xp, dt = ctx.xp, ctx.dtype
    sim = ctx.sim
    det, beam = sim.detector, sim.beam
    Q, T, O = ctx.Q, ctx.T, ctx.O
    if flat is not None:
        x, y, z, air, omega, polar_first = flat
        comps = [xp.reshape(c, (1, P)) for c in (x, y, z)]
    else:
        omega = physics.solid_angle(det.pixel_size, air[0, :], det.close_distance,
                                    det.point_pixel)
    capture_last = None
    if det.thickness > 0.0:
        row = (T - 1) * O * O
        odet = det.odet
        cos_par = (comps[0][row, :] * float(odet[0]) + comps[1][row, :] * float(odet[1])
                   + comps[2][row, :] * float(odet[2]))
        layer = xp.reshape(xp.astype(xp.arange(T - 1, T), dt), (1,))
        capture_last = physics.capture_fraction(layer, det.thickstep, det.mu, cos_par)
    if flat is not None:
        pass
    elif beam.polarization_enabled:
        polar_first = physics.polarization_factor_components(
            beam.kahn_factor, -sim.sources.directions[0],
            (comps[0][0, :], comps[1][0, :], comps[2][0, :]), beam.polarization_axis)
    else:
        polar_first = None
    dflat = [xp.reshape(c, (Q * P,)) for c in comps]
    acc = settings_sum(ctx, dflat)
    used_first = False
    if first_pass:  # the first evaluation is sample 0 of pixel 0, flat index 0 here too
        acc, used_first = order_rules.first_pass_plain(ctx, acc, dflat, None, P, None)
    if Q > 1:
        acc = xp.sum(xp.reshape(acc, (Q, P)), axis=0)
    if ctx.kernel.on_host:
        # acc is this tile's own array: the same products, in place
        if ctx.i_bg != 0.0:  # acc >= +0, so adding zero would change nothing
            np.add(acc, ctx.i_bg, out=acc)
        np.multiply(acc, ctx.scale, out=acc)
        for factor in (capture_last, polar_first, omega):
            if factor is not None:
                np.multiply(acc, factor, out=acc)
        return acc, float(np.add.reduce(omega)) * Q, used_first
    value = (acc + ctx.i_bg) * ctx.scale
    if capture_last is not None:
        value = value * capture_last
    if polar_first is not None:
        value = value * polar_first
    value = value * omega
    return value, float(xp.sum(omega)) * Q, used_first
