"""nanoBragg's order-dependent rules, in one place.

nanoBragg.c evaluates pixel after pixel, sample after sample, setting after setting, and three
of its rules depend on that order.  The engine reproduces each of them here:

* the interpolation cut-off: tricubic interpolation switches off, for the rest of the image,
  at the first evaluation whose 4x4x4 neighbourhood leaves the grid (a pre-pass,
  :func:`first_out_of_range`, finds that evaluation's loop-order index; :func:`step_terms`
  interpolates only before it);
* the phi = 0 first pass: a step at exactly phi = 0 reuses the previous step's rotation, and
  for the very first evaluation of the image there is none (:func:`first_pass_plain`,
  :func:`first_pass_replace` swap in that one evaluation's terms);
* the running sums of ``-oversample_omega/_polar/_thick``: the factor multiplies the sum so
  far, not the step's own term, and steps nanoBragg skips (``-dmin`` culled, or a lattice
  factor of exactly zero without water) do not multiply it (:func:`tile_general`, which also
  applies ``-dmin`` culling and the polarization of the first non-culled sample).

Tiles that need none of them take the fast path in :mod:`nbcupy.engine.tiles`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nbcupy.backends import to_numpy
from nbcupy.engine import physics
from nbcupy.engine.amplitudes import (
    interpolation_out_of_range,
    nearest_amplitude,
    tricubic_amplitude,
)
from nbcupy.engine.context import ImageContext
from nbcupy.engine.kernels.plain import DeviceTerms, miller_indices
from nbcupy.engine.sample_geometry import (
    parallax,
    pixel_coordinates,
    polarization,
    sample_geometry,
)

# ----------------------------------------------------------------------------------------
# the terms of single evaluations, with the interpolation cut-off


def step_terms(ctx: ImageContext, h: Any, k: Any, l: Any, order0: int | None = None,
               row_stride: int = 0, with_lattice: bool = False,
               dev: DeviceTerms | None = None) -> Any:
    """F^2 F_latt^2 for fractional indices (N, S); with ``with_lattice`` also F_latt^2.

    Interpolates where nanoBragg would: ``order0`` is the loop-order index of element [0, 0]
    and ``row_stride`` the index step between rows (None: the order is unknown, so interpolate
    only if no cut-off was found)."""
    xp = ctx.xp
    dev = dev or ctx.dev
    sf = ctx.sim.structure_factors
    h0, k0, l0 = physics.nearest_index(h), physics.nearest_index(k), physics.nearest_index(l)
    flatt2 = physics.lattice_factor_squared(ctx.terms.shape, (h - h0, k - k0, l - l0),
                                            (0.0, 0.0, 0.0), ctx.terms.n_cells,
                                            ctx.terms.fudge, ctx.terms.recip)
    if ctx.grid is None:
        t = flatt2 * (sf.default_F * sf.default_F)
        return (t, flatt2) if with_lattice else t
    near = nearest_amplitude(dev.flat_grid, ctx.grid, sf.default_F, h0, k0, l0)
    if sf.interpolate and (ctx.interp_cutoff is None or order0 is not None):
        use_interp = interpolation_mask(ctx, h, order0, row_stride)
        if use_interp is not None:
            tri = tricubic_amplitude(dev.flat_grid, ctx.grid, h, k, l)
            near = xp.where(use_interp, tri, near)
    t = flatt2 * (near * near)
    return (t, flatt2) if with_lattice else t


def interpolation_mask(ctx: ImageContext, h: Any, order0: int | None, row_stride: int) -> Any:
    """Where to interpolate among elements shaped like ``h``: every element before the image's
    first out-of-range one (None: nowhere can be decided without the order)."""
    xp = ctx.xp
    if ctx.interp_cutoff is None:
        return xp.ones(h.shape, dtype=xp.bool)
    if order0 is None:
        return None
    n, s = h.shape
    rows = xp.reshape(xp.astype(xp.arange(n), xp.int64), (n, 1))
    cols = xp.reshape(xp.astype(xp.arange(s), xp.int64), (1, s))
    order = order0 + rows * row_stride + cols
    return order < ctx.interp_cutoff


def first_out_of_range(ctx: ImageContext, flat_pixels: np.ndarray | range,
                       tile_start_rank: int) -> int | None:
    """Global loop-order index of the first evaluation in this tile whose interpolation would
    leave the grid, or None (the pre-pass of the interpolation cut-off).

    Only evaluations that reach nanoBragg's range test count: it skips a (sub-pixel, source)
    culled by ``-dmin``, and a step whose lattice factor is exactly zero when there is no
    water background, before testing the range."""
    xp = ctx.xp
    fp, sp, P = pixel_coordinates(ctx, flat_pixels)
    comps, _ = sample_geometry(ctx, fp, sp)
    comps = [xp.permute_dims(c, (1, 0)) for c in comps]  # loop order: pixel-major
    dflat = [xp.reshape(c, (P * ctx.Q,)) for c in comps]
    h, k, l = miller_indices(ctx.dev, *dflat, 0, ctx.n_settings)
    bad = interpolation_out_of_range(ctx.grid, h, k, l)
    samp = ctx.sim.sampling
    if samp.water_size == 0.0:
        flatt2 = physics.lattice_factor_squared(
            ctx.terms.shape, tuple(x - physics.nearest_index(x) for x in (h, k, l)),
            (0.0, 0.0, 0.0), ctx.terms.n_cells, ctx.terms.fudge, ctx.terms.recip)
        bad = bad & (flatt2 != 0)
    if samp.dmin > 0.0:
        culled = dmin_culled(ctx, xp.stack(comps, axis=-1))
        bad = bad & ~_per_setting(ctx, culled, P)
    hits = np.flatnonzero(to_numpy(bad).reshape(-1))
    if hits.size == 0:
        return None
    return tile_start_rank * ctx.Q * ctx.n_settings + int(hits[0])


def dmin_culled(ctx: ImageContext, d: Any) -> Any:
    """(P, Q, sources) bool: where ``-dmin`` culls a sample point's source, for unit
    directions ``d`` (P, Q, 3): nanoBragg skips it when dmin > 1 / (2 stol) (stol > 0)."""
    xp = ctx.xp
    n_src = ctx.n_sources
    inc = xp.reshape(ctx.incident, (1, 1, n_src, 3))
    lam = xp.reshape(ctx.wavelengths, (1, 1, n_src))
    sv = (d[:, :, None, :] - inc) / lam[..., None]
    stol = 0.5 * xp.sqrt(xp.sum(sv * sv, axis=-1))
    safe = xp.where(stol > 0, stol, xp.ones_like(stol))
    return (stol > 0) & (ctx.sim.sampling.dmin > 0.5 / safe)


def _per_setting(ctx: ImageContext, per_source: Any, P: int) -> Any:
    """A (P, Q, sources) array repeated over each source's settings: (P*Q, settings)."""
    xp = ctx.xp
    shape = (P, ctx.Q, ctx.n_sources, ctx.per_source)
    return xp.reshape(xp.broadcast_to(per_source[:, :, :, None], shape),
                      (P * ctx.Q, ctx.n_settings))


def ordered_settings_sum(ctx: ImageContext, dflat: list[Any], culled: Any, P: int,
                         order0: int | None) -> Any:
    """acc (P*Q,): the settings sum with the interpolation cut-off and ``-dmin`` culling
    (``culled``: (P, Q, sources) bool, or None)."""
    xp = ctx.xp
    n_set, n_src, per_src = ctx.n_settings, ctx.n_sources, ctx.per_source
    keep = None if culled is None else xp.reshape(~culled, (P * ctx.Q, n_src))
    acc = xp.zeros(dflat[0].shape, dtype=ctx.dtype)
    for start, stop in ctx.terms.chunks():
        h, k, l = miller_indices(ctx.dev, *dflat, start, stop)
        t = step_terms(ctx, h, k, l, None if order0 is None else order0 + start, n_set)
        if keep is not None:
            src_of = np.arange(start, stop) // per_src
            keep_c = xp.take(keep, ctx.conv(src_of.astype(np.int64), xp.int64), axis=1)
            t = xp.where(keep_c, t, xp.zeros_like(t))
        acc = acc + xp.sum(t, axis=1)
    return acc


# ----------------------------------------------------------------------------------------
# the phi = 0 first pass


def _first_element(ctx: ImageContext, culled: Any, P: int) -> tuple[int, int] | None:
    """(sample row n, source) of the first evaluation in the tile, or None."""
    n_src = ctx.n_sources
    if culled is None:
        return 0, 0
    keep = to_numpy(~culled).reshape(P * ctx.Q, n_src)
    hits = np.flatnonzero(keep.reshape(-1))
    if hits.size == 0:
        return None
    first = int(hits[0])
    return first // n_src, first % n_src


def _first_terms(ctx: ImageContext, row: list[Any], n: int, src: int,
                 order0: int | None) -> Any:
    per = ctx.per_source
    assert ctx.dev_first is not None
    h, k, l = miller_indices(ctx.dev_first, *row, src * per, (src + 1) * per)
    o = None if order0 is None else order0 + n * ctx.n_settings + src * per
    return step_terms(ctx, h, k, l, o, ctx.n_settings, dev=ctx.dev_first)  # (1, per)


def first_pass_plain(ctx: ImageContext, acc: Any, dflat: list[Any], culled: Any, P: int,
                     order0: int | None) -> tuple[Any, bool]:
    """``acc`` with the tile's first evaluation computed as nanoBragg's very first one;
    and whether there was one to change."""
    where = _first_element(ctx, culled, P)
    if where is None:
        return acc, False
    n, src = where
    per = ctx.per_source
    row = [c[n:n + 1] for c in dflat]
    new = _first_terms(ctx, row, n, src, order0)
    h, k, l = miller_indices(ctx.dev, *row, src * per, (src + 1) * per)
    o = None if order0 is None else order0 + n * ctx.n_settings + src * per
    old = step_terms(ctx, h, k, l, o, ctx.n_settings)
    delta = float(ctx.xp.sum(new) - ctx.xp.sum(old))
    acc_host = to_numpy(acc).copy()
    acc_host[n] += delta
    return ctx.conv(acc_host), True


def first_pass_replace(ctx: ImageContext, t: Any, dflat: list[Any], culled: Any, P: int,
                       order0: int | None) -> tuple[Any, bool]:
    """Per-step terms ``t`` (P*Q, S) with the tile's first evaluation's terms replaced by
    nanoBragg's very first ones; and whether there was one to replace."""
    where = _first_element(ctx, culled, P)
    if where is None:
        return t, False
    n, src = where
    per = ctx.per_source
    new = to_numpy(_first_terms(ctx, [c[n:n + 1] for c in dflat], n, src, order0))[0]
    host = to_numpy(t).copy()
    host[n, src * per:(src + 1) * per] = new
    return ctx.conv(host), True


# ----------------------------------------------------------------------------------------
# a tile with the order-dependent rules


def tile_general(ctx: ImageContext, comps: list[Any], air: Any, P: int, tile_start_rank: int,
                 first_pass: bool) -> tuple[np.ndarray, float, bool]:
    """A tile with nanoBragg's order-dependent rules (running sums, -dmin culling,
    interpolation cut-off).  ``comps`` and ``air`` are (P, Q), in loop order.  Returns the
    pixels' values (backend array, engine precision), their solid-angle sum and whether the
    first-pass rule was used."""
    xp, dt = ctx.xp, ctx.dtype
    sim = ctx.sim
    det, samp, beam = sim.detector, sim.sampling, sim.beam
    Q, T, O = ctx.Q, ctx.T, ctx.O
    if samp.oversample_omega:
        omega = physics.solid_angle(det.pixel_size, air, det.close_distance, det.point_pixel)
    else:  # nanoBragg keeps the first sub-pixel's solid angle
        omega = physics.solid_angle(det.pixel_size, air[:, 0], det.close_distance,
                                    det.point_pixel)
    n_src, n_set = ctx.n_sources, ctx.n_settings

    # dmin culling per (pixel, sample, source)
    need_polar_all = samp.oversample_polar or samp.dmin > 0.0
    d = xp.stack(comps, axis=-1) if need_polar_all else None  # (P, Q, 3)
    culled = dmin_culled(ctx, d) if samp.dmin > 0.0 else None

    # capture fraction: per sample with -oversample_thick, else the last layer's first
    # sub-pixel (nanoBragg keeps the value of its last evaluation)
    capture = capture_last = None
    if det.thickness > 0.0:
        cos_par = parallax(ctx, comps)
        if samp.oversample_thick:
            layer = xp.reshape(xp.astype(xp.arange(T), dt), (1, T, 1))
            capture = xp.reshape(physics.capture_fraction(
                layer, det.thickstep, det.mu, xp.reshape(cos_par, (P, T, O * O))), (P, Q))
        else:
            layer = xp.reshape(xp.astype(xp.arange(T - 1, T), dt), (1,))
            capture_last = physics.capture_fraction(layer, det.thickstep, det.mu,
                                                    cos_par[:, (T - 1) * O * O])
    elif samp.oversample_thick:
        # nanoBragg evaluates the capture fraction of a layer of zero thickness,
        # exp(0) - exp(0) = 0, and multiplies it into every step: an all-zero image
        capture = (xp.ones if sim.corrected else xp.zeros)((P, Q), dtype=dt)

    # polarization
    polar_all = polarization(ctx, d) if need_polar_all else None  # (P, Q, src)
    if not beam.polarization_enabled and not samp.oversample_polar:
        polar_first = xp.ones((P,), dtype=dt)  # stays 1 even when the pixel is culled
    elif culled is None:
        if polar_all is not None:
            polar_first = polar_all[:, 0, 0]
        else:
            polar_first = physics.polarization_factor_components(
                beam.kahn_factor, -sim.sources.directions[0],
                (comps[0][:, 0], comps[1][:, 0], comps[2][:, 0]), beam.polarization_axis)
    else:
        keep = xp.reshape(~culled, (P, Q * n_src))
        anykeep = xp.any(keep, axis=1)
        first_idx = xp.argmax(xp.astype(keep, xp.int8), axis=1)
        flat_polar = xp.reshape(polar_all, (P, Q * n_src))
        picked = xp.take_along_axis(flat_polar, xp.reshape(first_idx, (P, 1)), axis=1)[:, 0]
        if beam.polarization_enabled:
            polar_first = xp.where(anykeep, picked, xp.zeros_like(picked))
        else:
            polar_first = xp.ones_like(picked)

    dflat = [xp.reshape(c, (P * Q,)) for c in comps]
    order0 = tile_start_rank * Q * n_set if ctx.grid is not None else None

    if not ctx.recurrence:
        acc = ordered_settings_sum(ctx, dflat, culled, P, order0)
        used_first = False
        if first_pass:
            acc, used_first = first_pass_plain(ctx, acc, dflat, culled, P, order0)
        if Q > 1:
            acc = xp.sum(xp.reshape(acc, (P, Q)), axis=1)
        intensity = acc + ctx.i_bg
    else:
        h, k, l = miller_indices(ctx.dev, *dflat, 0, n_set)
        t, flatt2 = step_terms(ctx, h, k, l, order0, n_set, with_lattice=True)  # (P*Q, S)
        used_first = False
        if first_pass:
            t, used_first = first_pass_replace(ctx, t, dflat, culled, P, order0)
        g = xp.ones((P, Q, n_src), dtype=dt)
        if samp.oversample_thick:
            g = g * capture[:, :, None]
        if samp.oversample_polar:
            g = g * polar_all
        if samp.oversample_omega:
            g = g * omega[:, :, None]
        g = _per_setting(ctx, g, P)
        skip = None
        if culled is not None:
            skip = _per_setting(ctx, culled, P)
            t = xp.where(skip, xp.zeros_like(t), t)
        if samp.water_size == 0.0:
            # nanoBragg skips a step whose lattice factor is exactly zero
            zero_latt = flatt2 == 0
            skip = zero_latt if skip is None else (skip | zero_latt)
        if skip is not None:
            g = xp.where(skip, xp.ones_like(g), g)
        t = xp.reshape(t, (P, Q * n_set))
        g = xp.reshape(g, (P, Q * n_set))
        if sim.corrected:
            # each step's term gets its own factors (nanoBragg multiplies the running
            # sum, so earlier steps and the background get every later factor too)
            intensity = ctx.i_bg * g[:, 0] + xp.sum(t * g, axis=1)
        else:
            rev = xp.flip(xp.cumulative_prod(xp.flip(g, axis=1), axis=1), axis=1)
            intensity = ctx.i_bg * rev[:, 0] + xp.sum(t * rev, axis=1)

    value = intensity * ctx.scale
    if not samp.oversample_thick:
        if capture_last is not None:
            value = value * capture_last
    if not samp.oversample_polar:
        value = value * polar_first
    if not samp.oversample_omega:
        value = value * omega
        osum = float(xp.sum(omega)) * Q
    else:
        osum = float(xp.sum(omega))
    return value, osum, used_first
