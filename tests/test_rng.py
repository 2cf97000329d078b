"""nbcupy.nanobragg.rng against numbers produced by nanoBragg's own C routines.

The reference values were generated with a small C harness that links the ran1 / gaussdev /
poidev / gammln / mosaic_rotation_umat / umat2misset functions of nanoBragg.c (gcc 12.2,
-O2, x86-64, the build flags of the golden data) and prints every float as a 17-digit
double, i.e. exactly.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from nbcupy.nanobragg.rng import RAN1_MAX, NanoBraggRandom, SeedStream, gammln, umat2misset

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
RTD = 57.29577951308232

# ---------------------------------------------------------------- reference data (from C)
RAN1_SEED_M1 = [
    0.41599935293197632, 0.091964893043041229, 0.75641047954559326, 0.52970021963119507,
    0.93043649196624756, 0.38350206613540649, 0.65391898155212402, 0.066842235624790192,
    0.72266042232513428, 0.67114937305450439, 0.38341563940048218, 0.63163471221923828,
    0.88470715284347534, 0.51941639184951782, 0.65151858329772949, 0.23777443170547485,
    0.26245298981666565, 0.76219803094863892, 0.75335586071014404, 0.90920811891555786,
]
RAN1_SEED_M7 = [
    0.12283650040626526, 0.42846998572349548, 0.64375424385070801, 0.46789565682411194,
    0.68850141763687134, 0.053887303918600082, 0.93726170063018799, 0.68451452255249023,
    0.68390953540802002, 0.90896975994110107, 0.19294990599155426, 0.33225160837173462,
    0.90833413600921631, 0.36546343564987183, 0.91199547052383423, 0.92434787750244141,
    0.16555039584636688, 0.15257319808006287, 0.29763957858085632, 0.37224581837654114,
]
RAN1_SEED_M12345678 = [
    0.76598930358886719, 0.023453664034605026, 0.58972662687301636, 0.53510159254074097,
    0.98223143815994263, 0.69301611185073853, 0.32814687490463257, 0.29564169049263,
    0.84991788864135742, 0.59226179122924805, 0.55813264846801758, 0.53492629528045654,
    0.54111945629119873, 0.59483134746551514, 0.41017231345176697, 0.92859798669815063,
    0.16102086007595062, 0.92872399091720581, 0.9520716667175293, 0.52217298746109009,
]
IDUM_AFTER_20 = {-1: 130060903, -7: 910426321, -12345678: 1473579805}

# stream -7 draws 5 numbers, then a stream with the POSITIVE idum 12345 draws 20: no table
# rebuild, so it continues with the table left by the first stream.
RAN1_POSITIVE_AFTER_TABLE = [
    0.053887303918600082, 0.93726170063018799, 0.68451452255249023, 0.68390953540802002,
    0.035878594964742661, 0.83399462699890137, 0.24200476706027985, 0.83717095851898193,
    0.76578718423843384, 0.70790135860443115, 0.096616528928279877, 0.87785202264785767,
    0.63591462373733521, 0.27349084615707397, 0.33538627624511719, 0.90833413600921631,
    0.94770252704620361, 0.54285025596618652, 0.72927218675613403, 0.69804567098617554,
]

GAUSS_SEED_M3 = [
    0.13518232107162476, 0.92346757650375366, 0.48010176420211792, 1.4383015632629395,
    -0.45301720499992371, 0.4056147038936615, 0.56509667634963989, -0.51824557781219482,
    0.28469648957252502, -0.46790871024131775, -0.92516517639160156, -1.0004364252090454,
    0.92379862070083618, 0.93734657764434814, -0.13994231820106506, -1.7642018795013428,
    -1.2607846260070801, 0.14619970321655273, 1.4669302701950073, 0.06832711398601532,
    -0.16096346080303192,
]
GAUSS_IDUM_AFTER = 322663608

# 20 poidev draws for a fixed mean, fresh state, idum = -11
POIDEV_SEED_M11 = {
    0.5: ([0, 1, 0, 2, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 1, 0, 0, 1, 0, 0], 913554038),
    5.0: ([2, 4, 7, 8, 3, 8, 4, 5, 4, 7, 6, 7, 1, 3, 1, 13, 4, 7, 2, 5], 1559630059),
    50.0: ([50, 52, 62, 43, 38, 56, 42, 60, 44, 49, 58, 46, 58, 49, 45, 49, 48, 53, 64, 43],
           1093001229),
    2e6: ([1999645.25, 1999179.25, 2000190.125, 2000090.125, 2000518.75, 2001814.25,
           1998494.5, 2003859.875, 2001550.75, 1998714.25, 1998288.125, 1999345.375,
           1997761.625, 2000186.625, 2000479.875, 2000869.5, 2000811.625, 2000809.0,
           1997692.0, 2000468.75], 1093847323),
}
# 3 draws each of these means in turn (idum = -5): all branches and the cached statics
POIDEV_MIXED_MEANS = [0, -2, 0.5, 11.5, 12, 5, 50, 5, 2e6, 3e6, 50]
POIDEV_MIXED = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 13, 12, 11, 14, 15, 10, 7, 6, 7, 55, 43, 52, 1, 8, 7,
    2001243.875, 2001432.125, 2000349.5, 3001330.25, 2999996, 2998639.5, 41, 37, 42,
]
POIDEV_MIXED_IDUM = 1775314303

# mosaic_umats: -mosaic 0.5 -mosaic_dom 5 -mosaic_seed 12345 (row-major umat[9] per domain)
MOSAIC_05_5_12345 = [
    1, 0, 0, 0, 1, 0, 0, 0, 1,
    0.99999434512720109, -0.0019765387663035656, -0.0027208469500075083,
    0.0019741020184754522, 0.99999764827489268, -0.00089797878857411813,
    0.002722615441210368, 0.00089260248116228833, 0.99999589530456068,
    0.99997850813623068, -0.0012789526961861724, -0.0064302057229281163,
    0.0012541746255750369, 0.99999177933825978, -0.0038559437119375312,
    0.0064350844319886816, 0.0038477962396656334, 0.99997189168118672,
    0.99997348360815963, -0.0070478548912174151, -0.001832981722262839,
    0.0070546456824235326, 0.99996817735962573, 0.0037250828666763945,
    0.0018066695484426263, -0.0037379151275123653, 0.9999913819306856,
    0.99996351765085134, 0.0025108625061742371, -0.008164492440470187,
    -0.0024963457186002944, 0.99999528610321509, 0.001787744221671452,
    0.008168942733832351, -0.0017672976048142305, 0.99996507190690775,
]
MOSAIC_IDUM_AFTER = 270947015

# -misset random -misset_seed 54321
MISSET_54321_UMAT = [
    -0.019563299502185605, -0.87413048292956042, -0.48529699785381042,
    0.59627164745520744, -0.3998221422042495, 0.6961338786787048,
    -0.80254432884024585, -0.27575016485314818, 0.52904106346277235,
]
MISSET_54321_ANGLES = (-0.48048416646628367, 0.9315478353714266, 1.6035939358130402)
MISSET_IDUM_AFTER = 1365006168


# ---------------------------------------------------------------- ran1
@pytest.mark.parametrize(
    "seed, expected",
    [(-1, RAN1_SEED_M1), (-7, RAN1_SEED_M7), (-12345678, RAN1_SEED_M12345678)],
)
def test_ran1_first_values(seed, expected):
    rng = NanoBraggRandom()
    s = SeedStream(seed)
    got = [rng.ran1(s) for _ in range(20)]
    assert got == expected  # exact: these are float32 values held in doubles
    assert s.idum == IDUM_AFTER_20[seed]


def test_ran1_zero_and_positive_seed_without_table_mean_seed_one():
    # idum 0 and any positive idum with no table yet both start like idum = -1
    for idum in (0, 5, 2**31):
        rng = NanoBraggRandom()
        s = SeedStream(idum)
        assert [rng.ran1(s) for _ in range(20)] == RAN1_SEED_M1


def test_ran1_positive_idum_reuses_shared_table():
    rng = NanoBraggRandom()
    first = SeedStream(-7)
    assert [rng.ran1(first) for _ in range(5)] == RAN1_SEED_M7[:5]
    second = SeedStream(12345)
    got = [rng.ran1(second) for _ in range(20)]
    assert got == RAN1_POSITIVE_AFTER_TABLE
    assert (first.idum, second.idum) == (1203943807, 359536365)
    # with a fresh generator the same positive idum gives seed-1 numbers instead
    assert [NanoBraggRandom().ran1(SeedStream(12345)) for _ in range(1)] == RAN1_SEED_M1[:1]


def test_negative_seed_rebuilds_table_and_ignores_previous_stream():
    rng = NanoBraggRandom()
    other = SeedStream(-12345678)
    for _ in range(17):
        rng.ran1(other)
    s = SeedStream(-7)
    assert [rng.ran1(s) for _ in range(20)] == RAN1_SEED_M7


def test_ran1_array_matches_scalar_calls_and_state():
    a, b = NanoBraggRandom(), NanoBraggRandom()
    sa, sb = SeedStream(-99), SeedStream(-99)
    arr = a.ran1_array(70000, sa)  # crosses the internal block size
    ref = [b.ran1(sb) for _ in range(70000)]
    assert arr.dtype == np.float32
    assert arr.astype(np.float64).tolist() == ref
    assert sa.idum == sb.idum and a.state() == b.state()
    assert 0.0 < arr.min() and arr.max() <= RAN1_MAX < 1.0


def test_ran1_clamps_at_rnmx():
    # draw 1285 of seed -1 would round to 1 - 2**-24; the C returns RNMX = 1 - 2**-23 instead
    a, b = NanoBraggRandom(), NanoBraggRandom()
    sa, sb = SeedStream(-1), SeedStream(-1)
    arr = a.ran1_array(1290, sa)
    scalar = [b.ran1(sb) for _ in range(1290)]
    assert RAN1_MAX == 0.99999988079071045 == 1.0 - 2.0**-23
    assert float(arr[1285]) == scalar[1285] == RAN1_MAX
    assert scalar[1283:1289] == [
        0.45687901973724365, 0.51375901699066162, 0.99999988079071045,
        0.96192061901092529, 0.7938721776008606, 0.29249492287635803,
    ]


def test_seedstream_range():
    with pytest.raises(ValueError):
        SeedStream(2**40)


# ---------------------------------------------------------------- gaussdev / poidev
def test_gaussdev_sequence():
    rng = NanoBraggRandom()
    s = SeedStream(-3)
    assert [rng.gaussdev(s) for _ in range(21)] == GAUSS_SEED_M3
    assert s.idum == GAUSS_IDUM_AFTER


@pytest.mark.parametrize("mean", sorted(POIDEV_SEED_M11))
def test_poidev_sequences(mean):
    expected, idum_after = POIDEV_SEED_M11[mean]
    rng = NanoBraggRandom()
    s = SeedStream(-11)
    got = [rng.poidev(mean, s) for _ in range(20)]
    assert got == [float(v) for v in expected]
    assert s.idum == idum_after
    # the bulk path gives the same numbers and leaves the stream in the same place
    rng2 = NanoBraggRandom()
    s2 = SeedStream(-11)
    bulk = rng2.poidev_array(np.full(20, mean, dtype=np.float32), s2)
    assert bulk.tolist() == got
    assert s2.idum == idum_after


def test_poidev_mixed_branches_share_statics():
    rng = NanoBraggRandom()
    s = SeedStream(-5)
    got = [rng.poidev(m, s) for m in POIDEV_MIXED_MEANS for _ in range(3)]
    assert got == [float(v) for v in POIDEV_MIXED]
    assert s.idum == POIDEV_MIXED_IDUM

    rng2 = NanoBraggRandom()
    s2 = SeedStream(-5)
    bulk = rng2.poidev_array(np.repeat(np.array(POIDEV_MIXED_MEANS, np.float32), 3), s2)
    assert bulk.tolist() == got
    assert s2.idum == POIDEV_MIXED_IDUM
    assert rng2.state()[:4] == rng.state()[:4]  # table, iy and the gaussdev spare


# Cases where the direct method's running product must be rounded to float after every
# multiplication: float(exp(-xm)) equals the rounded product exactly, so the unrounded
# product (slightly larger) would take one more draw.  (skipped draws, mean, C result, idum)
POIDEV_ROUNDING_CASES = [
    (2, 1.1999481916427612, 1.0, 587317117),
    (0, 3.384873867034912, 2.0, 125891516),
    (4, 3.358891010284424, 2.0, 905042008),
]


@pytest.mark.parametrize("skip, mean, expected, idum_after", POIDEV_ROUNDING_CASES)
def test_poidev_direct_method_rounds_running_product(skip, mean, expected, idum_after):
    rng = NanoBraggRandom()
    s = SeedStream(-7)
    for _ in range(skip):
        rng.ran1(s)
    assert rng.poidev(mean, s) == expected
    assert s.idum == idum_after
    # bulk path: each zero-mean pixel consumes exactly one draw
    rng2 = NanoBraggRandom()
    s2 = SeedStream(-7)
    out = rng2.poidev_array(np.array([0.0] * skip + [mean], dtype=np.float32), s2)
    assert out[-1] == expected and s2.idum == idum_after


def test_poidev_zero_negative_nan_draw_counts():
    # a mean <= 0 consumes exactly one ran1 value, nan two (and returns nan)
    for mean, draws in ((0.0, 1), (-3.0, 1), (math.nan, 2)):
        rng, ref = NanoBraggRandom(), NanoBraggRandom()
        s, sr = SeedStream(-9), SeedStream(-9)
        out = rng.poidev(mean, s)
        for _ in range(draws):
            ref.ran1(sr)
        assert s.idum == sr.idum
        assert (math.isnan(out) if math.isnan(mean) else out == 0.0)


def test_gammln_matches_c():
    xs = [0.5, 1, 2.5, 12, 13.7, 100.25, 1e6 + 1, 1e3, 55.5, 1.0000001]
    ref = [
        0.5723649263381958, 0.0, 0.28468286991119385, 17.502307891845703,
        21.77464485168457, 360.2845458984375, 12815518.0, 5905.22021484375,
        166.32150268554688, -6.8809455910923134e-08,
    ]
    assert [gammln(x) for x in xs] == ref


# ---------------------------------------------------------------- rotations
def test_mosaic_umats_match_c():
    rng = NanoBraggRandom()
    s = SeedStream(-12345)
    u = rng.mosaic_umats(0.5 / RTD, 5, s)
    assert u.shape == (5, 3, 3)
    np.testing.assert_allclose(u.ravel(), MOSAIC_05_5_12345, rtol=0, atol=1e-12)
    assert np.array_equal(u[0], np.eye(3))
    assert s.idum == MOSAIC_IDUM_AFTER


def test_mosaic_domain_zero_still_draws():
    rng = NanoBraggRandom()
    s = SeedStream(-12345678)
    rng.mosaic_umats(0.0, 1, s)
    ref = NanoBraggRandom()
    sr = SeedStream(-12345678)
    assert [ref.ran1(sr) for _ in range(3)] == RAN1_SEED_M12345678[:3]
    assert s.idum == sr.idum


def test_random_misset_matches_c_and_golden_stdout():
    rng = NanoBraggRandom()
    s = SeedStream(-54321)
    umat, angles = rng.random_misset(s)
    np.testing.assert_allclose(umat.ravel(), MISSET_54321_UMAT, rtol=0, atol=1e-12)
    np.testing.assert_allclose(angles, MISSET_54321_ANGLES, rtol=0, atol=1e-12)
    assert s.idum == MISSET_IDUM_AFTER
    rx, ry, rz = (a * RTD for a in angles)
    line = f"random orientation misset angles: {rx:f} {ry:f} {rz:f} deg"
    stdout = (GOLDEN / "cases" / "misset_random" / "stdout.txt").read_text()
    assert line in stdout
    # the matrix is a proper rotation and the angles reproduce it (x then y then z)
    assert np.allclose(umat @ umat.T, np.eye(3), atol=1e-12)
    assert math.isclose(np.linalg.det(umat), 1.0, abs_tol=1e-12)


def test_umat2misset_roundtrip_and_degenerate_rows():
    def rot(ax, ay, az):
        cx, sx, cy, sy, cz, sz = (math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay),
                                  math.cos(az), math.sin(az))
        rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        return rz @ ry @ rx

    for angles in [(0.1, 0.2, 0.3), (-1.0, 0.5, 2.5), (0.0, 0.0, 0.0)]:
        got = umat2misset(rot(*angles))
        np.testing.assert_allclose(got, angles, atol=1e-12)
    # a zero row is rebuilt from the cross product of the others
    u = rot(0.1, 0.2, 0.3)
    u0 = u.copy()
    u0[2] = 0.0
    np.testing.assert_allclose(umat2misset(u0), umat2misset(u), atol=1e-12)


def test_uniform3Ddev_unit_vectors():
    rng = NanoBraggRandom()
    s = SeedStream(-5)
    # first two vectors from the C uniform3Ddev with idum -5
    ref = [
        (-0.73643285036087036, 0.026442987844347954, 0.67599362134933472, 0.4727606475353241),
        (-0.80337804555892944, -0.57417261600494385, 0.15782719850540161, 0.68662893772125244),
    ]
    got = [rng.uniform3Ddev(s) for _ in range(2)]
    assert got == ref
    for dx, dy, dz, dr in got:
        assert abs(dx * dx + dy * dy + dz * dz - 1.0) < 1e-6 and 0.01 <= dr <= 1.0


def test_golden_mosaic_seed_text():
    # the golden "mosaic" case uses the same mosaic seed and spread as above
    stdout = (GOLDEN / "cases" / "mosaic" / "stdout.txt").read_text()
    assert re.search(r"5 mosaic domains over mosaic spread of 0\.5 degrees", stdout)
