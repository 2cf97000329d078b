"""nbcupy's double-dash options that set :class:`~nbcupy.nanobragg.options.Options` fields.

One table for every place that names them: the ``nbcupy`` command (its splitter and the
Typer application), ``nbcupy series``, the help text and the suggestions for a misspelt
option.  The engine options (``--backend``, ``--dtype``, ...) are not here: they are
arguments of :func:`nbcupy.simulate`, not settings of the experiment.

Importing this module costs nothing (no NumPy), so that the command line can read the table
before it decides what else to load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["FieldOption", "FIELD_OPTIONS", "FIELD_OPTION_BY_NAME", "STRUCTURE", "OUTPUTS"]

#: the groups of the table (the help text lists them under these headings)
STRUCTURE = "structure factors"
OUTPUTS = "outputs"


@dataclass(frozen=True)
class FieldOption:
    """One option: ``name`` (``--png-brightness``) sets the Options field ``field``.

    convert: turns the command line's text into the field's value; None for a switch (no
    value; it sets the field to True).  metavar and help: for the help text (a help of
    several lines has them separated by newlines).  group:
    :data:`STRUCTURE` (read while the models are built) or :data:`OUTPUTS` (read by the file
    writers).  series: whether ``nbcupy series`` takes the option as this field (the single
    image's output files are replaced by the series' ``--template``; ``--nexus`` means the
    series' one NeXus file there).
    """

    name: str
    field: str
    convert: Callable[[str], Any] | None
    metavar: str
    help: str
    group: str
    series: bool

    @property
    def is_switch(self) -> bool:
        return self.convert is None

    @property
    def usage(self) -> str:
        """``--name METAVAR`` (or ``--name`` for a switch), as the help text shows it."""
        return self.name if self.is_switch else f"{self.name} {self.metavar}"


FIELD_OPTIONS: tuple[FieldOption, ...] = (
    FieldOption("--column", "column", str, "LABEL",
                "its column (default: FP, F, ...; else intensities)", STRUCTURE, True),
    FieldOption("--model", "model_file", str, "FILE",
                "PDB/mmCIF model: F to the detector's resolution\n(cached next to Fdump.bin)",
                STRUCTURE, True),
    FieldOption("--cbf", "cbf_file", str, "FILE", "miniCBF of the counts", OUTPUTS, False),
    FieldOption("--nexus", "nexus_file", str, "FILE", "NeXus NXmx (HDF5) of the counts",
                OUTPUTS, False),
    FieldOption("--png", "png_file", str, "FILE", "preview, dark spots on white", OUTPUTS,
                False),
    FieldOption("--png-brightness", "png_brightness", float, "N",
                "preview brightness, percent (default 100)", OUTPUTS, True),
    FieldOption("--png-log", "png_log", None, "", "preview of log(1 + value)", OUTPUTS, True),
    FieldOption("--sensor-material", "sensor_material", str, "Si|CdTe|GaAs",
                "sensor in the CBF/NeXus header (Si)", OUTPUTS, True),
    FieldOption("--smv-adc-offset", "smv_adc_offset", None, "",
                "write ADC_OFFSET=<adc> into the SMV headers", OUTPUTS, True),
)

FIELD_OPTION_BY_NAME: dict[str, FieldOption] = {o.name: o for o in FIELD_OPTIONS}
