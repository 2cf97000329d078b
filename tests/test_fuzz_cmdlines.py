"""Randomised differential test: command lines drawn from the flag table (tests/cmdline_fuzz.py).

Each case runs through nbcupy and, where ``NB_C_BIN`` names a nanoBragg.c binary, through
nanoBragg.c as well, and must agree with it: the float image to the golden criteria, the SMV
and noise images byte for byte, the printout line by line.  Without ``NB_C_BIN`` nbcupy must
run every case to a finite image.  The series is seeded: ``NBCUPY_FUZZ_SEED`` (default 12)
and ``NBCUPY_FUZZ_CASES`` (default 8 with nanoBragg.c, 4 without) choose it, and a failure
prints the command line, so ``python -m tests.cmdline_fuzz --seed S --start I --cases 1``
reruns it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbcupy.nanobragg.flags import FLAGS
from tests.cmdline_fuzz import NOT_DRAWN, SAMPLERS, draw_case, known_disagreement, run_case

NB = os.environ.get("NB_C_BIN") or None
if NB is not None and not Path(NB).exists():
    NB = None
SEED = int(os.environ.get("NBCUPY_FUZZ_SEED", "12"))
CASES = int(os.environ.get("NBCUPY_FUZZ_CASES", "8" if NB else "4"))


def test_every_flag_is_drawn_or_says_why_not() -> None:
    names = {f.name for f in FLAGS}
    assert set(SAMPLERS) | set(NOT_DRAWN) == names
    assert not set(SAMPLERS) & set(NOT_DRAWN)
    assert all(reason for reason in NOT_DRAWN.values())


def test_cases_are_reproducible_and_varied() -> None:
    first = [draw_case(SEED, i) for i in range(6)]
    assert first == [draw_case(SEED, i) for i in range(6)]
    assert len({c.command_line for c in first}) == 6
    assert draw_case(SEED + 1, 0) != first[0]


def test_synonyms_and_drawn_flags_cover_the_table() -> None:
    """Over a long series every drawable flag name, synonyms included, comes up."""
    import random

    from tests.cmdline_fuzz import _draw_once, drawable_flags

    seen = set()
    for i in range(2000):
        seen.update(t for t in _draw_once(random.Random(i))[0] if t.startswith("-"))
    wanted = {name for flag in drawable_flags() for name in flag.names}
    assert wanted - seen == set()


@pytest.mark.parametrize("index", range(CASES))
def test_random_command_line(index: int, tmp_path: Path) -> None:
    case = draw_case(SEED, index)
    problems = run_case(case, tmp_path, NB)
    if problems and (known := known_disagreement(case, tmp_path)):
        pytest.xfail(known)
    assert not problems, (f"case {SEED}/{index} (rerun: python -m tests.cmdline_fuzz --seed "
                          f"{SEED} --start {index} --cases 1):\n  nbcupy {case.command_line}\n"
                          + "\n".join(f"  {p}" for p in problems))
