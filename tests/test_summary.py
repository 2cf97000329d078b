"""nanoBragg's printed summary, compared line by line with every golden ``stdout.txt``.

The summary is built in-process (parse, set up, print; nothing is rendered) in a folder
holding the golden inputs, and every line nanoBragg printed before rendering must be printed
the same, in the same order, numbers to their printed precision.  nanoBragg's banner line is
the one exception: nbcupy prints its backend line there.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from nbcupy.api import prepare
from nbcupy.nanobragg.flags import parse_flags
from nbcupy.nanobragg.summary import print_summary
from tests.support import printed_line_differs, printout_differences

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = {c["name"]: c for c in json.loads((GOLDEN / "manifest.json").read_text())}


def golden_summary(name: str) -> list[str]:
    """The lines nanoBragg printed between its banner and the blank line before the solid
    angle (which is printed after rendering)."""
    lines = (GOLDEN / "cases" / name / "stdout.txt").read_text().splitlines()
    end = next(i for i, ln in enumerate(lines) if ln.startswith("solid angle subtended"))
    assert lines[end - 1] == ""
    return lines[1:end - 1]


def our_summary(args: list[str]) -> list[str]:
    parsed = parse_flags(args)
    sim, report, opts, _, _ = prepare(parsed.options, write_cache=True)
    out = io.StringIO()
    print_summary(sim, report, opts, backend="numpy", chosen="numpy", dtype="float64", out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("nbcupy: ")
    return lines[1:]


@pytest.mark.parametrize("name", sorted(CASES))
def test_summary_is_nanobraggs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    shutil.copytree(GOLDEN / "inputs", tmp_path / "inputs")
    monkeypatch.chdir(tmp_path)
    problems = printout_differences(golden_summary(name), our_summary(CASES[name]["args"]))
    assert not problems, "\n".join(problems)


def test_every_golden_summary_has_the_lines_added() -> None:
    """The vectors, reciprocal cell, volume, phi list, source list and polarization lines are
    in every golden case, so the comparison above covers them all."""
    for name in CASES:
        text = "\n".join(golden_summary(name))
        for start in ("Recp Cell: ", "volume = ", "real-space cell vectors",
                      "reciprocal-space cell vectors", "phi0 = ", "thick0 = ",
                      "  created a total of", "  POLARIZATION_PLANE_NORMAL= ",
                      "XDS incident beam: ", "approximate MW = "):
            assert start in text, (name, start)


@pytest.mark.parametrize(("want", "got", "same"), [
    ("X: 100.00000000 -0.00000000  0.00000000", "X: 100.00000000  0.00000000  0.00000000", True),
    ("volume = 481811 A^3", "volume = 481811 A^3", True),
    ("volume = 481811 A^3", "volume = 481812 A^3", False),  # whole numbers are exact
    ("Recp Cell: 0.014437 0.0130262", "Recp Cell: 0.014438 0.0130262", True),  # last digit
    ("Recp Cell: 0.014437 0.0130262", "Recp Cell: 0.014439 0.0130262", False),
    ("  1 sources", "  2 sources", False),
    ("  incident fluence: 1.25932e+29 photons/m^2", "  incident fluence: 1.25933e+29 photons/m^2",
     True),
    ("  incident fluence: 1.25932e+29 photons/m^2", "  incident fluence: 1.25932e+28 photons/m^2",
     False),
    ("XDS incident beam: 0 0 1", "XDS incident beam: 6.12323e-17 0 1", False),
    ("thick0 = 0 um", "thick0 = 0 mm", False),
    ("sin(beta_star)  = 1.028728170519995321896545", "sin(beta_star)  = 1.02872817051999509985194",
     True),  # beyond double precision
    ("sin(beta_star)  = 1.028728170519995321896545", "sin(beta_star)  = 1.028728170519895321896545",
     False),
])
def test_printed_numbers_are_compared_to_their_precision(want: str, got: str, same: bool):
    assert (printed_line_differs(want, got) is None) is same
