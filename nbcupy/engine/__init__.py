"""The engine: how an image is computed from the experiment models.

nanoBragg's sum over sub-pixels x sensor layers x sources x phi steps x mosaic domains, as
broadcast array operations on any backend.  For a tile of P pixels the engine builds every
sample point (Q = layers x oversample^2 per pixel) once, with its unit diffracted direction
d, and sums over all crystal settings (S = sources x phi steps x mosaic domains):

    hkl[n, s] = A[s] . d[n] + offset[s]
    I[p]      = I_bg + sum_{q,s} F(hkl)^2 F_latt(hkl)^2

then applies r_e^2 fluence / steps and the solid-angle, polarization and absorption factors.

Modules, in the order the data flows through them:

* :mod:`~nbcupy.engine.tiling`: :func:`render` (one image), :class:`Renderer` (many images of
  one experiment), tile sizes, threads;
* :mod:`~nbcupy.engine.context`: what is prepared once per image;
* :mod:`~nbcupy.engine.crystal_settings`: the settings matrices (phi, mosaic, sources);
* :mod:`~nbcupy.engine.sample_geometry`: where each sample point is;
* :mod:`~nbcupy.engine.tiles`: one tile, fast path;
* :mod:`~nbcupy.engine.order_rules`: nanoBragg's order-dependent rules;
* :mod:`~nbcupy.engine.physics`, :mod:`~nbcupy.engine.amplitudes`: the formulas;
* :mod:`~nbcupy.engine.kernels`: the hot loops and the one function that chooses them.

Belongs here: computing images from models.  Does not: reading flags or files, nanoBragg's
set-up rules, output conversions (those are in :mod:`nbcupy.nanobragg` and :mod:`nbcupy.io`).
The engine reads only the experiment models, the backends and its own modules.
"""

from nbcupy.engine.tiling import (
    DEFAULT_MEMORY_MB,
    EngineSettings,
    Renderer,
    RenderResult,
    render,
)

__all__ = ["DEFAULT_MEMORY_MB", "EngineSettings", "RenderResult", "Renderer", "render"]
