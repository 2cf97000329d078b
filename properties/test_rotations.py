"""Rotations: every rotation the code builds is proper (orthonormal, determinant +1) and
right-handed; rotating by phi then -phi is the identity; rotations keep the cell's lengths and
angles; and the crystal rotations (misset, phi, mosaic) all turn the crystal the same way.

Tolerances: 1e-12 absolute on matrix entries and unit vectors (float64 rounding of a few
products), 1e-9 of the largest pixel when two renders of the same rotated crystal are compared.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nbcupy.engine import EngineSettings
from nbcupy.engine import render as engine_render
from nbcupy.engine.crystal_settings import crystal_settings
from nbcupy.experiment import geometry as geo
from nbcupy.experiment.models import Mosaic
from nbcupy.nanobragg.rng import NanoBraggRandom, SeedStream, umat2misset

from .support import (
    angles_deg,
    assert_images_close,
    build,
    cell_flag,
    cell_parameters,
    cells,
    examples,
    finite,
    fmt,
    image64,
    render,
    rodrigues,
    setup_flags,
    small_setups,
    unit_vectors,
)

TOL = 1e-12
radians = finite(-2 * math.pi, 2 * math.pi)
EYE = np.eye(3)
LAB_AXES = {"x": np.array([1.0, 0.0, 0.0]), "y": np.array([0.0, 1.0, 0.0]),
            "z": np.array([0.0, 0.0, 1.0])}
seeds = st.integers(-(2**31) + 1, -1)


def assert_proper(r: np.ndarray, tol: float = TOL, what: str = "rotation") -> None:
    r = np.asarray(r, dtype=np.float64)
    assert np.abs(r @ r.T - EYE).max() <= tol, f"{what} is not orthonormal:\n{r}"
    assert abs(np.linalg.det(r) - 1.0) <= tol, f"{what} has determinant {np.linalg.det(r)}"


def rotation_angle(r: np.ndarray) -> float:
    """Angle of a rotation matrix, accurate for small angles too."""
    s = 0.5 * math.sqrt((r[2, 1] - r[1, 2]) ** 2 + (r[0, 2] - r[2, 0]) ** 2
                        + (r[1, 0] - r[0, 1]) ** 2)
    c = 0.5 * (np.trace(r) - 1.0)
    return math.atan2(s, c)


@settings(max_examples=examples(400))
@given(rx=radians, ry=radians, rz=radians, axis=unit_vectors(), angle=radians)
def test_every_rotation_matrix_is_proper(rx, ry, rz, axis, angle):
    for name, r in (("rotation_x", geo.rotation_x(rx)), ("rotation_y", geo.rotation_y(ry)),
                    ("rotation_z", geo.rotation_z(rz)),
                    ("rotation_xyz", geo.rotation_xyz(rx, ry, rz)),
                    ("rotation_about_axis", geo.rotation_about_axis(axis, angle))):
        assert_proper(r, what=name)


@settings(max_examples=examples(400))
@given(angle=radians)
def test_rotation_about_a_lab_axis_is_the_right_handed_lab_rotation(angle):
    """rotation_about_axis(e_x, t) = rotation_x(t) (same for y, z) = the textbook
    right-handed matrix: y -> z for a positive turn about x, and cyclically."""
    for name, fn in (("x", geo.rotation_x), ("y", geo.rotation_y), ("z", geo.rotation_z)):
        e = LAB_AXES[name]
        np.testing.assert_allclose(geo.rotation_about_axis(e, angle), fn(angle), atol=TOL)
        np.testing.assert_allclose(fn(angle), rodrigues(e, angle), atol=TOL)
    np.testing.assert_allclose(geo.rotation_x(math.pi / 2) @ LAB_AXES["y"], LAB_AXES["z"],
                               atol=TOL)


@settings(max_examples=examples(400))
@given(axis=unit_vectors(), angle=radians, v=unit_vectors(), length=finite(0.1, 10.0))
def test_rotation_about_an_axis_is_right_handed_and_matches_rotate_axis(axis, angle, v,
                                                                         length):
    """R(u, t) v = rotate_axis(v, u, t) = Rodrigues' formula, and for v perpendicular to u,
    u . (v x R v) = |v|^2 sin t (a right-handed turn)."""
    v = v * length
    r = geo.rotation_about_axis(axis, angle)
    np.testing.assert_allclose(r @ v, geo.rotate_axis(v, axis, angle), atol=TOL * length)
    np.testing.assert_allclose(r, rodrigues(axis, angle), atol=TOL)
    perp = v - float(v @ axis) * axis
    sense = float(axis @ np.cross(perp, r @ perp))
    assert abs(sense - float(perp @ perp) * math.sin(angle)) <= 10 * TOL * length ** 2


@settings(max_examples=examples(400))
@given(axis=unit_vectors(), phi=radians, v=unit_vectors())
def test_rotating_by_phi_then_minus_phi_is_the_identity(axis, phi, v):
    np.testing.assert_allclose(
        geo.rotation_about_axis(axis, -phi) @ geo.rotation_about_axis(axis, phi), EYE, atol=TOL)
    back = geo.rotate_axis(geo.rotate_axis(v, axis, phi), axis, -phi)
    np.testing.assert_allclose(back, v, atol=TOL)


@settings(max_examples=examples(400))
@given(rx=radians, ry=radians, rz=radians, v=unit_vectors())
def test_rotate_xyz_turns_about_x_then_y_then_z(rx, ry, rz, v):
    expected = (rodrigues(LAB_AXES["z"], rz) @ rodrigues(LAB_AXES["y"], ry)
                @ rodrigues(LAB_AXES["x"], rx))
    np.testing.assert_allclose(geo.rotation_xyz(rx, ry, rz), expected, atol=TOL)
    np.testing.assert_allclose(geo.rotate_xyz(v, rx, ry, rz), expected @ v, atol=TOL)


@settings(max_examples=examples(160))
@given(spread=finite(1e-4, 1.0), n=st.integers(1, 12), seed=seeds)
def test_mosaic_domains_are_proper_rotations_within_the_spread(spread, n, seed):
    """Every mosaic domain is a proper rotation by at most the spread (to float32 rounding,
    as nanoBragg computes the angle in float); domain 0 is the identity."""
    umats = NanoBraggRandom().mosaic_umats(spread, n, SeedStream(seed))
    assert umats.shape == (n, 3, 3)
    np.testing.assert_array_equal(umats[0], EYE)
    for k, u in enumerate(umats):
        assert_proper(u, what=f"mosaic domain {k}")
        assert rotation_angle(u) <= spread * (1 + 1e-6) + 1e-12, f"domain {k} turns too far"


@settings(max_examples=examples(160))
@given(seed=seeds)
def test_random_misset_is_a_proper_rotation_reproduced_by_its_angles(seed):
    umat, angles = NanoBraggRandom().random_misset(SeedStream(seed))
    assert_proper(umat, what="-misset random")
    np.testing.assert_allclose(geo.rotation_xyz(*angles), umat, atol=1e-9)


CONVENTION_FLAGS = ["-mosflm", "-denzo", "-adxv", "-xds", "-dials"]


@settings(max_examples=examples(240))
@given(conv=st.sampled_from(CONVENTION_FLAGS), rot=st.tuples(*[finite(-30.0, 30.0)] * 3),
       twotheta=finite(-40.0, 40.0))
def test_detector_rotations_keep_the_detector_frame_proper(conv, rot, twotheta):
    """The detector's fast, slow and normal axes after -detector_rotx/y/z and -twotheta are the
    convention's axes turned about x, then y, then z, then about the two-theta axis: still
    orthonormal with the handedness of the convention's own frame.  (Turns are kept small
    enough for the detector to stay in front of the sample.)"""
    flags = (f"{conv} -cell 50 50 50 90 90 90 -default_F 1 -detpixels 8 -distance 100 "
             f"-detector_rotx {fmt(rot[0])} -detector_roty {fmt(rot[1])} "
             f"-detector_rotz {fmt(rot[2])} -twotheta {fmt(twotheta)}")
    sim = build(flags)
    base = build(f"{conv} -cell 50 50 50 90 90 90 -default_F 1 -detpixels 8 -distance 100")
    frame0 = np.vstack([base.detector.fdet, base.detector.sdet, base.detector.odet])
    frame = np.vstack([sim.detector.fdet, sim.detector.sdet, sim.detector.odet])
    np.testing.assert_allclose(frame @ frame.T, EYE, atol=TOL)
    assert abs(np.linalg.det(frame) - np.linalg.det(frame0)) <= TOL
    from nbcupy.experiment.conventions import get_convention

    tt_axis = np.array(get_convention(conv[1:]).twotheta_axis, dtype=float)
    rx, ry, rz = (math.radians(x) for x in rot)
    turn = (rodrigues(tt_axis, math.radians(twotheta)) @ rodrigues(LAB_AXES["z"], rz)
            @ rodrigues(LAB_AXES["y"], ry) @ rodrigues(LAB_AXES["x"], rx))
    np.testing.assert_allclose(frame, frame0 @ turn.T, atol=TOL)


@settings(max_examples=examples(160))
@given(cell=cells(), misset=st.tuples(angles_deg, angles_deg, angles_deg),
       phi0=angles_deg, osc=finite(0.0, 90.0), phisteps=st.integers(1, 4),
       spread=finite(0.01, 5.0), domains=st.integers(2, 5), seed=seeds)
def test_crystal_rotations_keep_cell_lengths_and_angles(cell, misset, phi0, osc, phisteps,
                                                        spread, domains, seed):
    """After misset, every phi step and every mosaic domain, the crystal's axes have the
    requested lengths and angles (--corrected, which builds the exact triclinic cell): the
    metric a_i . a_j of every crystal setting equals that of the -cell parameters."""
    flags = (f"{cell_flag(cell)} -misset {' '.join(fmt(x) for x in misset)} -default_F 1 "
             f"-lambda 1 -detpixels 8 -phi {fmt(phi0)} -osc {fmt(osc)} -phisteps {phisteps} "
             f"-mosaic {fmt(spread)} -mosaic_dom {domains} -mosaic_seed {-seed}")
    sim = build(flags, corrected=True)
    real = sim.crystal.cell * 1e10
    np.testing.assert_allclose(cell_parameters(real), cell, rtol=1e-9)
    a, _ = crystal_settings(sim)
    lam = float(sim.sources.wavelengths[0]) * 1e10
    metric = real @ real.T
    assert a.shape[0] == phisteps * domains
    for k, m in enumerate(a * lam):
        np.testing.assert_allclose(m @ m.T, metric, rtol=1e-12, atol=1e-12 * metric.max(),
                                   err_msg=f"setting {k}")


@settings(max_examples=examples(96))
@given(s=small_setups(triclinic=False), axis=st.sampled_from(["x", "y", "z"]),
       angle=finite(-180.0, 180.0))
def test_misset_and_phi_about_the_same_lab_axis_give_the_same_image(s, axis, angle):
    """-misset by t about lab axis e equals -phi t with the spindle along e: both turn the
    crystal right-handedly (CUSTOM geometry with MOSFLM's vectors, so only the spindle moves).
    """
    e = LAB_AXES[axis]
    misset = [angle if axis == name else 0.0 for name in "xyz"]
    custom = (f"{setup_flags(s, misset=False)} -spindle_axis {' '.join(fmt(x) for x in e)}")
    by_misset = render(f"{custom} -misset {' '.join(fmt(x) for x in misset)}")
    by_phi = render(f"{custom} -phi {fmt(angle)}")
    assert_images_close(image64(by_phi), image64(by_misset), 1e-9, "phi vs misset")


@settings(max_examples=examples(96))
@given(s=small_setups(triclinic=False), axis=unit_vectors(), angle=finite(-math.pi, math.pi))
def test_a_mosaic_domain_turns_the_crystal_like_the_misset_of_its_angles(s, axis, angle):
    """One mosaic domain U (models built directly) renders like -misset with U's angles."""
    u = rodrigues(axis, angle)
    angles = [math.degrees(x) for x in umat2misset(u)]
    by_misset = render(f"{setup_flags(s, misset=False)} -misset "
                       f"{' '.join(fmt(x) for x in angles)}")
    sim = render(setup_flags(s, misset=False)).simulation
    sim = dataclasses.replace(sim, mosaic=Mosaic(spread=0.01, umats=u[None]))
    by_domain = engine_render(sim, EngineSettings(threads=1))
    assert_images_close(np.asarray(by_domain.device_image), image64(by_misset), 1e-9,
                        "mosaic domain vs misset")
