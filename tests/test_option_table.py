"""The one table of the double-dash options that set Options fields, and the one splitter
that the single-image command, its Typer application and ``nbcupy series`` use."""

from __future__ import annotations

import dataclasses

import pytest

from nbcupy.cli.splitting import UnknownOption, field_options, split_options
from nbcupy.nanobragg.flags import OWN_OPTIONS, help_text
from nbcupy.nanobragg.option_fields import FIELD_OPTIONS, OUTPUTS, STRUCTURE
from nbcupy.nanobragg.options import Options
from nbcupy.series.run import SeriesConfig


def test_every_option_sets_an_options_field_and_the_series_has_those_it_takes():
    options = {f.name: f for f in dataclasses.fields(Options)}
    series = {f.name for f in dataclasses.fields(SeriesConfig)}
    for option in FIELD_OPTIONS:
        assert option.field in options, option
        assert option.group in (STRUCTURE, OUTPUTS)
        if option.is_switch:
            assert options[option.field].default is False
        if option.series:
            assert option.field in series, option
    assert {o.name for o in FIELD_OPTIONS if o.series} == {
        "--model", "--column", "--sensor-material", "--png-brightness", "--png-log",
        "--smv-adc-offset"}


def test_help_and_suggestions_come_from_the_table():
    text = help_text()
    for option in FIELD_OPTIONS:
        assert f"  {option.usage} " in text, option.name
        assert option.name in OWN_OPTIONS


def test_the_splitter():
    valued, switches = field_options(FIELD_OPTIONS)
    valued["--threads"] = ("threads", int)
    rest, kwargs = split_options(
        ["-N", "5", "--cbf", "a.cbf", "--png-brightness=150", "-nonoise", "--png-log",
         "--threads", "2", "-phi", "-1"], valued, switches)
    assert rest == ["-N", "5", "-nonoise", "-phi", "-1"]
    assert kwargs == {"cbf_file": "a.cbf", "png_brightness": 150.0, "png_log": True,
                      "threads": 2}
    for argv, words in ((["--cbf"], "--cbf needs a value"),
                        (["--cbf", "-nonoise"], "got the flag -nonoise"),
                        (["--threads", "two"], "--threads: expected a whole number, got 'two'"),
                        (["--png-brightness", "x"], "expected a number"),
                        (["--png-log=1"], "--png-log takes no value")):
        with pytest.raises(ValueError, match=words):
            split_options(argv, valued, switches)
    with pytest.raises(UnknownOption) as info:
        split_options(["-N", "5", "--bogus", "1"], valued, switches)
    assert info.value.name == "--bogus"
    rest, kwargs = split_options(["--bogus", "--model", "m.pdb"], valued, switches,
                                 keep_unknown=True)
    assert rest == ["--bogus"] and kwargs == {"model_file": "m.pdb"}
