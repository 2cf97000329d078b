"""nanoBragg's documented spellings, the closest-flag suggestion and exact matching.

nanoBragg.c matches its flags as substrings, so its README, help text and example command lines
use spellings that are not its flag names.  Each such spelling is in nbcupy's flag table either
as a synonym (where nanoBragg.c's matching lands on one of its flags) or as a flag accepted
with a note (where it lands on none, so nanoBragg.c skips it and its values).  Their images are
compared with nanoBragg.c in ``test_vs_nanobragg.py``.
"""

from __future__ import annotations

import shlex

import pytest

from nbcupy.errors import InputError
from nbcupy.nanobragg.flags import FLAG_BY_NAME, closest_flags, parse_flags, unknown_flag_message
from nbcupy.nanobragg.options import Options

#: command lines of nanoBragg's README, of the examples at the top of nanoBragg.c and of the
#: scripts in its repository (file names as they are; only the flags matter here)
DOCUMENTED = [
    "-hkl P1.hkl -matrix A.mat -lambda 6.2 -N 10",
    "-hkl P1.hkl -matrix A.mat -lambda 6.2 -N 10 -fluence 2e22 -water 4",
    "-mat bigcell.mat -hkl P1.hkl -lambda 1 -dispersion 0 -distance 1000 -detsize 100 "
    "-pixel 0.1 -hdiv 0 -vdiv 0 -fluence 1e32 -N 1",
    "-mat auto.mat -hkl P1.hkl -distance 2500",
    "-mat A.mat -hkl P1.hkl -lambda 1 -dispersion 0.1 -dispstep 3 -distance 100 -detsize 100 "
    "-pixel 0.1 -hdiv 0.28 -hdivstep 0.02 -vdiv 0.28 -vdivstep 0.02 -fluence 1e24 -N 0 "
    "-water 0",
    "-cell 74 74 36 90 90 90 -misset 10 20 30 -hkl P1.hkl -lambda 1 -dispersion 0.1 "
    "-dispstep 3 -distance 100 -detsize 100 -pixel 0.1 -hdiv 0.28 -hdivstep 0.02 -vdiv 0.28 "
    "-vdivstep 0.02 -fluence 1e24 -N 0 -water 0",
    "-cell 250 250 250 90 90 90 -misset 10 20 30 -hkl P1.hkl -lambda 1 -distance 1000 "
    "-detsize 100 -fluence 1e32 -N 1",
]

#: every option the README's option list names, with example values
README_OPTIONS = (
    "-hkl f -matrix f -cell 1 2 3 90 90 90 -misset 1 2 3 -Na 1 -Nb 1 -Nc 1 -N 1 -samplesize 1 "
    "-sample_thick 1 -sample_x 1 -sample_width 1 -sample_y 1 -sample_height 1 -sample_z 1 "
    "-distance 1 -close_distance 1 -detsize 1 -detsize_x 1 -detsize_y 1 -pixel 1 -detpixels 1 "
    "-detpixels_x 1 -detpixels_y 1 -Xbeam 1 -Ybeam 1 -Xclose 1 -Yclose 1 -ORGX 1 -ORGY 1 "
    "-detector_rotx 1 -detector_roty 1 -detector_rotz 1 -twotheta 1 -pivot sample "
    "-xdet_vector 1 0 0 -ydet_vector 0 1 0 -zdet_vector 0 0 1 -beam_vector 1 0 0 "
    "-polar_vector 0 0 1 -spindle_axis 0 0 1 -twotheta_axis 0 0 1 -pix0_vector 0 0 0 "
    "-curved_det -oversample 1 -roi 0 1 0 1 -lambda 1 -fluence 1 -flux 1 -exposure 1 "
    "-beamsize 1 -hdivrange 1 -vdivrange 1 -hdivstep 1 -vdivstep 1 -round_div -square_div "
    "-dispersion 1 -dispsteps 1 -sourcefile f -coherent -mosaic 1 -mosaic_domains 1 -phi 1 "
    "-osc 1 -phistep 1 -phisteps 1 -floatfile f -intfile f -pgmfile f -noisefile f -nonoise "
    "-nopgm -scale 1 -pgmscale 1 -adcoffset 1 -point_pixel -noprogress -nointerpolate "
    "-interpolate -round_xtal -square_xtal -binary_spots -seed 1 -mosaic_seed 1"
)

#: spellings nanoBragg.c's substring matching maps onto one of its flags
SYNONYMS = {"-matrix": "-mat", "-adcoffset": "-adc"}
#: spellings nanoBragg.c matches to none of its flags (it skips them and their values)
SKIPPED = ("-hdiv", "-vdiv", "-dispstep", "-detsize_x", "-detsize_y", "-xdet_vector",
           "-ydet_vector", "-zdet_vector", "-source_distance")


@pytest.mark.parametrize("line", DOCUMENTED)
def test_documented_command_lines_parse(line: str) -> None:
    parse_flags(shlex.split(line))


def test_every_option_of_nanobraggs_readme_is_known() -> None:
    tokens = [t for t in shlex.split(README_OPTIONS) if t.startswith("-") and t[1:2].isalpha()]
    assert [t for t in tokens if t not in FLAG_BY_NAME] == []
    parse_flags(shlex.split(README_OPTIONS.replace("-hkl f ", "").replace("-matrix f ", "")
                            .replace("-sourcefile f ", "")))


@pytest.mark.parametrize(("spelling", "flag"), sorted(SYNONYMS.items()))
def test_synonyms_set_what_the_flag_sets(spelling: str, flag: str) -> None:
    value = "A.mat" if flag == "-mat" else "25"
    got = parse_flags([spelling, value]).options
    want = parse_flags([flag, value]).options
    assert got == want
    assert got != Options()
    assert parse_flags([spelling, value]).notes == []


@pytest.mark.parametrize("spelling", SKIPPED)
def test_skipped_spellings_change_nothing_and_say_so(spelling: str) -> None:
    flag = FLAG_BY_NAME[spelling]
    values = ["0.5"] * len(flag.args)
    parsed = parse_flags([spelling, *values, "-N", "3"])
    assert parsed.options == parse_flags(["-N", "3"]).options
    assert len(parsed.notes) == 1
    assert parsed.notes[0].startswith(f"note: {spelling} is accepted but has no effect (")
    assert "nanoBragg.c" in parsed.notes[0]


@pytest.mark.parametrize("spelling", SKIPPED)
def test_skipped_spellings_still_need_numbers(spelling: str) -> None:
    flag = FLAG_BY_NAME[spelling]
    with pytest.raises(InputError, match=f"{spelling}: expected a number"):
        parse_flags([spelling, *(["abc"] * len(flag.args))])
    with pytest.raises(InputError, match="expected"):
        parse_flags([spelling])


@pytest.mark.parametrize(("typo", "want"), [
    ("-defualt_F", "did you mean -default_F?"),
    ("-xbeam", "did you mean -Xbeam?"),
    ("-n", "did you mean -N?"),
    ("-matrx", "did you mean -matrix?"),
    ("-backend", "did you mean --backend?"),
    ("-mosaic_domain", "did you mean -mosaic_domains or -mosaic_dom?"),
])
def test_unknown_flag_names_the_closest_flags(typo: str, want: str) -> None:
    with pytest.raises(InputError) as err:
        parse_flags(["-N", "3", typo, "1"])
    message = str(err.value)
    assert message == f"unknown flag {typo}; {want}"
    assert "\n" not in message


def test_unknown_flag_without_a_close_one() -> None:
    assert unknown_flag_message("-qqqqqq") == "unknown flag -qqqqqq (see nbcupy --help)"
    assert closest_flags("-qqqqqq") == []


@pytest.mark.parametrize("token", ["-mosaic_seed_x", "-misset_seedy", "-Nab", "-cells",
                                   "-lambdas", "-xds_convention", "-phis"])
def test_matching_stays_exact(token: str) -> None:
    """Substrings that nanoBragg.c would act on are still refused here."""
    with pytest.raises(InputError, match="unknown flag"):
        parse_flags([token, "1"])
