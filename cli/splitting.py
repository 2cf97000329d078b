"""Splitting a command line into nanoBragg's flags and nbcupy's double-dash options.

One splitter for ``nbcupy`` (:mod:`nbcupy.cli.app`) and ``nbcupy series``
(:mod:`nbcupy.cli.series`), each with its own table of options.  It takes ``--opt value`` and
``--opt=value``, and switches without a value; everything not starting with ``--`` is a
nanoBragg flag or a flag's value and is kept in order.  Nothing heavy is imported here: a
plain nanoBragg command line must not pay for more than it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from nbcupy.nanobragg.option_fields import FieldOption

__all__ = ["UnknownOption", "split_options", "field_options"]

#: option -> (keyword, converter) of the options that take a value
Valued = Mapping[str, tuple[str, Callable[[str], Any]]]


class UnknownOption(ValueError):
    """A double-dash option that is not in the table; ``name`` is the option."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown option {name}")
        self.name = name


def field_options(options: Iterable[FieldOption]) -> tuple[dict, dict]:
    """The splitter's tables (valued options, switches) of ``options`` from
    :data:`nbcupy.nanobragg.option_fields.FIELD_OPTIONS`: keywords are the Options fields."""
    options = list(options)
    valued = {o.name: (o.field, o.convert) for o in options if not o.is_switch}
    switches = {o.name: o.field for o in options if o.is_switch}
    return valued, switches


def _kind(convert: Callable[[str], Any]) -> str:
    if convert is int:
        return "a whole number"
    if convert is float:
        return "a number"
    return "a value"


def split_options(argv: Iterable[str], valued: Valued, switches: Mapping[str, str],
                  *, keep_unknown: bool = False) -> tuple[list[str], dict[str, Any]]:
    """(the other arguments, in order; keyword -> value of the options found).

    ``valued``: option -> (keyword, converter) of the options that take a value;
    ``switches``: option -> keyword of those that take none (set to True).  A missing or
    malformed value is a ValueError with a one-line message naming the option; so is a value
    that is a flag (``--cbf -nonoise``) for an option of text, and a value given to a
    switch.  An option in neither table raises :class:`UnknownOption`, or with
    ``keep_unknown`` is kept among the other arguments (for a parser that reports it later).
    """
    argv = list(argv)
    rest: list[str] = []
    kwargs: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--"):
            rest.append(arg)
            continue
        name, eq, value = arg.partition("=")
        if name in switches:
            if eq:
                raise ValueError(f"{name} takes no value (got {arg!r})")
            kwargs[switches[name]] = True
            continue
        if name not in valued:
            if keep_unknown:
                rest.append(arg)
                continue
            raise UnknownOption(name)
        key, convert = valued[name]
        if not eq:
            if i >= len(argv):
                raise ValueError(f"{name} needs a value")
            value = argv[i]
            i += 1
            if convert is str and value.startswith("-") and len(value) > 1:
                raise ValueError(f"{name} needs a value, got the flag {value}")
        try:
            kwargs[key] = convert(value)
        except ValueError:
            raise ValueError(f"{name}: expected {_kind(convert)}, got {value!r}") from None
    return rest, kwargs
