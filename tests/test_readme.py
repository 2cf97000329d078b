"""The README's flag table and set-up commands stay in step with the code."""

from __future__ import annotations

from pathlib import Path

from nbcupy.nanobragg.flags import FLAGS, markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_readme_flag_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "refresh the table with: python -m nbcupy.nanobragg.flags"


def test_every_flag_has_a_status_and_refusals_have_reasons() -> None:
    for flag in FLAGS:
        assert flag.status in ("ok", "noeffect", "refused")
        if flag.status != "ok":
            assert flag.reason, flag.name
        if flag.status != "refused":
            assert flag.apply is not None, flag.name


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m pytest\n" in readme
    assert ci.rstrip().splitlines()[-1] == "python3 -m pytest"
