"""The crystal settings of one image: every (source, phi step, mosaic domain) as a matrix.

A setting s turns a unit diffracted direction d into fractional Miller indices,
hkl = A[s] d + offset[s] with A = M / lambda (the rows of M are the rotated real-space axes,
m) and offset = A . source direction.  They are computed once per image on the host, in
nanoBragg's loop order (source, then phi step, then mosaic domain), including its rule that a
step at exactly phi = 0 reuses the previous step's rotation.
"""

from __future__ import annotations

import numpy as np

from nbcupy.engine.kernels.plain import LatticeTerms
from nbcupy.experiment.geometry import rotation_about_axis
from nbcupy.experiment.models import Simulation


def phi_rotations(sim: Simulation, first_pass: bool) -> list[np.ndarray]:
    """Rotation used at every phi step.

    nanoBragg rotates the crystal only when phi != 0; a phi = 0 step reuses the rotation left
    from the previous non-zero step (in the previous pass over phi, for the first step), or
    the unrotated crystal if there was none (``first_pass``: the very first evaluation).
    """
    phis = sim.spindle.phi_values
    axis = sim.spindle.spindle_axis
    mats = [rotation_about_axis(axis, float(p)) if p != 0 else None for p in phis]
    if sim.corrected:
        return [m if m is not None else np.eye(3) for m in mats]
    nonzero = [i for i, m in enumerate(mats) if m is not None]
    out = []
    for j, m in enumerate(mats):
        if m is not None:
            out.append(m)
            continue
        earlier = [i for i in nonzero if i < j]
        if earlier:
            out.append(mats[earlier[-1]])
        elif nonzero and not first_pass:
            out.append(mats[nonzero[-1]])
        else:
            out.append(np.eye(3))
    return out


def crystal_settings(sim: Simulation, first_pass: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Matrices that turn a diffracted unit vector into fractional Miller indices.

    Returns ``A`` (S, 3, 3) and ``offset`` (S, 3) with hkl = A @ d + offset for every setting
    s = (source, phi step, mosaic domain) in nanoBragg's loop order.  A = M / lambda where the
    rows of M are the rotated real-space axes (m); offset = A @ source_direction.
    """
    cell = sim.crystal.cell
    rots = phi_rotations(sim, first_pass)
    umats = sim.mosaic.umats
    apply_mosaic = sim.mosaic.spread > 0.0
    per_step = []
    for rot in rots:
        m_phi = cell @ rot.T
        for u in umats:
            per_step.append(m_phi @ u.T if apply_mosaic else m_phi)
    m_steps = np.stack(per_step)  # (phi*mos, 3, 3)
    lam = sim.sources.wavelengths
    a = m_steps[None, :, :, :] / lam[:, None, None, None]  # (src, phi*mos, 3, 3)
    offset = np.einsum("spij,sj->spi", a, sim.sources.directions)
    return a.reshape(-1, 3, 3), offset.reshape(-1, 3)


def needs_first_pass(sim: Simulation) -> bool:
    """True when the phi = 0 rule makes the first evaluation differ from the others."""
    if sim.corrected:
        return False
    phis = sim.spindle.phi_values
    return bool(np.any(phis == 0) and np.any(phis != 0))


def lattice_terms(sim: Simulation, first_pass: bool = False) -> LatticeTerms:
    """The settings sum's inputs (:class:`~nbcupy.engine.kernels.plain.LatticeTerms`): the
    settings of :func:`crystal_settings` and the crystal's spot shape and amplitudes."""
    a, offset = crystal_settings(sim, first_pass)
    cr = sim.crystal
    sf = sim.structure_factors
    recip = tuple(tuple(float(x) for x in row) for row in cr.reciprocal)
    return LatticeTerms(coef=np.ascontiguousarray(np.transpose(a, (1, 2, 0))),
                        offset=np.ascontiguousarray(offset.T), shape=cr.shape,
                        n_cells=tuple(float(n) for n in cr.n_cells), fudge=float(cr.fudge),
                        recip=recip, default_F=float(sf.default_F), grid=sf.grid)
