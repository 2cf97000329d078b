"""Where the sample points of a tile of pixels are, in the plain Array-API form.

Every pixel has Q = sensor layers x oversample^2 sample points (nanoBragg's loop order: layer,
sub-pixel row, sub-pixel column).  For a tile of P pixels these functions give each point's
unit diffracted direction and air path, on flat and curved detectors.  The fused NumPy
variants for flat detectors (:mod:`nbcupy.engine.kernels.numpy_geometry`) reproduce them bit
for bit.  Lengths are metres.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nbcupy.engine.context import ImageContext
from nbcupy.experiment.geometry import rotate_components


def pixel_coordinates(ctx: ImageContext, flat_pixels: np.ndarray | range,
                      ) -> tuple[Any, Any, int]:
    """Fast and slow pixel indices (as floats on the backend) of row-major indices, given
    as a range (made on the backend itself) or an index array (sent from the host), and
    their count."""
    xp, dt = ctx.xp, ctx.dtype
    fpixels = ctx.sim.detector.fpixels
    if isinstance(flat_pixels, range):
        # exact: the indices are integers far below 2**53 and floor(i / F) is exact
        idx = xp.arange(flat_pixels.start, flat_pixels.stop, dtype=xp.float64)
        slow = xp.floor(idx / fpixels)
        fast = idx - slow * fpixels
        return xp.astype(fast, dt), xp.astype(slow, dt), len(flat_pixels)
    slow_i = flat_pixels // fpixels
    fast_i = flat_pixels - slow_i * fpixels
    return (ctx.conv(fast_i.astype(np.float64)), ctx.conv(slow_i.astype(np.float64)),
            int(flat_pixels.shape[0]))


def sample_geometry(ctx: ImageContext, fidx: Any, sidx: Any) -> tuple[list[Any], Any]:
    """Unit diffracted vectors as three (Q, P) component arrays, and air paths (Q, P) (m).

    Sample q = (layer * O + sub-pixel row) * O + sub-pixel column, nanoBragg's loop order;
    the pixels run along the last, contiguous axis."""
    xp, dt = ctx.xp, ctx.dtype
    det = ctx.sim.detector
    O, T = ctx.O, ctx.T
    P = fidx.shape[0]
    sub = det.pixel_size / O
    j = xp.astype(xp.arange(O), dt)
    f = xp.reshape(fidx, (1, 1, 1, P))
    s = xp.reshape(sidx, (1, 1, 1, P))
    if O == 1:  # f * 1 + 0 is f
        fdet_pos = sub * f + sub / 2.0
        sdet_pos = sub * s + sub / 2.0
    else:
        fdet_pos = sub * (f * O + xp.reshape(j, (1, 1, O, 1))) + sub / 2.0
        sdet_pos = sub * (s * O + xp.reshape(j, (1, O, 1, 1))) + sub / 2.0
    odet_pos = None
    if T > 1:  # layer 0 adds exactly zero
        odet_pos = xp.reshape(xp.astype(xp.arange(T), dt), (T, 1, 1, 1)) * det.thickstep
    comps = []
    for c in range(3):
        v = fdet_pos * float(det.fdet[c]) + sdet_pos * float(det.sdet[c])
        if odet_pos is not None:
            v = v + odet_pos * float(det.odet[c])
        comps.append(v + float(det.pix0[c]))
    shape4 = (T, O, O, P)
    comps = [xp.reshape(xp.broadcast_to(c, shape4), (ctx.Q, P)) for c in comps]
    if det.curved:
        comps = curve(ctx, comps)
    x, y, z = comps
    air = xp.sqrt(x * x + y * y + z * z)
    return [x / air, y / air, z / air], air


def curve(ctx: ImageContext, comps: list[Any]) -> list[Any]:
    """nanoBragg's spherical detector: the flat position's y and z components, divided by
    the distance, become rotations of the beam-axis point about sdet then fdet."""
    xp = ctx.xp
    det = ctx.sim.detector
    dist = det.distance
    beam = ctx.sim.beam.direction
    ang1 = comps[1] / dist
    ang2 = comps[2] / dist
    v = [dist * float(beam[0]) + 0 * ang1, dist * float(beam[1]) + 0 * ang1,
         dist * float(beam[2]) + 0 * ang1]
    v = rotate_components(v, det.sdet, xp.cos(ang1), xp.sin(ang1))
    return rotate_components(v, det.fdet, xp.cos(ang2), xp.sin(ang2))


def parallax(ctx: ImageContext, comps: list[Any]) -> Any:
    """Cosine of each ray with the detector normal, (P, Q)."""
    odet = ctx.sim.detector.odet
    return comps[0] * float(odet[0]) + comps[1] * float(odet[1]) + comps[2] * float(odet[2])


def polarization(ctx: ImageContext, d: Any) -> Any:
    """Polarization factor for (P, Q, src) from unit directions d (P, Q, 3)."""
    from nbcupy.engine import physics

    beam = ctx.sim.beam
    axis = ctx.xp.reshape(ctx.conv(beam.polarization_axis), (1, 1, 3))
    inc = ctx.xp.reshape(ctx.incident, (1, 1, -1, 3))
    return physics.polarization_factor(beam.kahn_factor, inc, d[:, :, None, :], axis)
