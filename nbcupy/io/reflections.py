"""Structure factors from MTZ and mmCIF reflection files (read with gemmi), expanded to P1.

nanoBragg reads only ``h k l F`` text that already lists every reflection it may meet.  The
files crystallographers have hold one asymmetric unit instead: MTZ files (CCP4, aimless,
refmac, phenix, ...) and the PDB's structure-factor files (``-sf.cif``, a ``_refln`` loop).
:func:`read_reflections` reads either and returns the P1 list nanoBragg needs.

Recognised by content, not by name (:func:`reflection_file_format`): an MTZ file starts with
the bytes ``MTZ ``; a CIF file starts, after blank and ``#`` lines, with a ``data_`` block
header.  Anything else is left to the ``h k l F`` text reader.

Which column (the rule, applied in this order; ``column=LABEL`` overrides it):

1. a mean amplitude.  MTZ: the first of FP, F, FOBS, F-obs, FMEAN, F_meas_au present with
   column type F, else the first type-F column in the file.  mmCIF: F_meas_au, then F_meas.
2. an anomalous pair of amplitudes: MTZ type-G columns ``F(+)``/``F(-)`` (or ``...PLUS`` /
   ``...MINUS``, ``...+``/``...-``); mmCIF pdbx_F_plus/pdbx_F_minus.
3. only when the file has no amplitude: intensities, as ``F = sqrt(max(I, 0))`` (with a
   note): MTZ IMEAN, I, IOBS, I-obs or the first type-J column, then a type-K ``I(+)``/``I(-)``
   pair; mmCIF intensity_meas, F_squared_meas, then pdbx_I_plus/pdbx_I_minus.

A given label may be any amplitude (MTZ types F, G, R) or intensity (J, K) column; naming one
member of an anomalous pair selects the pair.  The mmCIF ``_refln.`` prefix is optional.

Expansion to P1: nanoBragg applies no symmetry, so every reflection is placed at each of its
symmetry-equivalent indices ``h R`` (every operator of the space group, centring included)
and at their Friedel mates ``-h R`` with the same amplitude.  With an anomalous pair F(+)
goes to the equivalents of h and F(-) to those of -h (as nanoBragg's ``mtz_to_P1hkl.com``
does); where both land on one index (centric reflections) F(+) is kept.  Missing values (MTZ
missing-number flags, mmCIF ``?``) are skipped, so nanoBragg uses ``-default_F`` there.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from nbcupy.errors import InputError
from nbcupy.io.hkl import HKLTable

__all__ = [
    "ReflectionData",
    "reflection_file_format",
    "read_reflections",
    "expand_to_p1",
    "cell_mismatch",
]

#: preferred labels, in order (rule of the module docstring)
MTZ_AMPLITUDES = ("FP", "F", "FOBS", "F-obs", "FMEAN", "F_meas_au")
MTZ_INTENSITIES = ("IMEAN", "I", "IOBS", "I-obs")
CIF_AMPLITUDES = ("F_meas_au", "F_meas")
CIF_AMPLITUDE_PAIRS = (("pdbx_F_plus", "pdbx_F_minus"),)
CIF_INTENSITIES = ("intensity_meas", "F_squared_meas")
CIF_INTENSITY_PAIRS = (("pdbx_I_plus", "pdbx_I_minus"),)
#: mmCIF columns that are never structure-factor values
_CIF_NOT_VALUES = re.compile(
    r"(index_[hkl]|status|.*sigma.*|phase_.*|.*_id|scale_group_code|pdbx_HL_.*|fom|"
    r"pdbx_r_free_flag|pdbx_FWT|pdbx_PHWT|pdbx_DELFWT|pdbx_DELPHWT)\Z", re.IGNORECASE)
_MTZ_AMPLITUDE_TYPES = "FGR"
#: Miller indices must lie within +-(this - 1) (far beyond any real data set)
_INDEX_LIMIT = 1 << 20
_MTZ_INTENSITY_TYPES = "JK"
_MTZ_TYPE_NAMES = {
    "H": "Miller index", "I": "integer (e.g. free-R flag)", "Q": "standard deviation",
    "L": "standard deviation", "M": "standard deviation", "P": "phase", "W": "weight",
    "A": "Hendrickson-Lattman coefficient", "B": "batch number", "Y": "M/ISYM",
    "D": "anomalous difference", "E": "normalized amplitude",
}


@dataclass(frozen=True)
class ReflectionData:
    """Structure factors read from a reflection file, expanded to P1.

    ``table``: P1 reflections with Friedel mates (an :class:`~nbcupy.io.hkl.HKLTable`,
    amplitudes in the file's units, electrons for structure factors on an absolute scale).
    ``cell``: a, b, c (Angstrom), alpha, beta, gamma (degrees).  ``space_group``: its
    Hermann-Mauguin symbol.  ``format``: ``"MTZ"`` or ``"mmCIF"``.  ``column``: the
    column(s) used.  ``reflections``: values read before expansion.  ``notes``: lines to
    show the user (the choice made, skipped values, intensities converted, ...).
    """

    table: HKLTable
    cell: tuple[float, float, float, float, float, float]
    space_group: str
    format: str
    column: str
    reflections: int
    notes: tuple[str, ...] = field(default=())


def _first_text_line(head: bytes) -> str:
    for line in head.decode("latin-1").splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            return text
    return ""


def reflection_file_format(path: str | os.PathLike[str]) -> str | None:
    """``"MTZ"``, ``"mmCIF"`` or None (not a file of either kind, or unreadable: the
    ``h k l F`` text reader then reports what is wrong), judged by the content."""
    try:
        with open(os.fspath(path), "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return None
    if head[:4] == b"MTZ ":
        return "MTZ"
    if _first_text_line(head)[:5].lower() == "data_":
        return "mmCIF"
    return None


# -- symmetry expansion ----------------------------------------------------------------------
def expand_to_p1(hkl: np.ndarray, f_plus: np.ndarray, space_group,
                 f_minus: np.ndarray | None = None) -> tuple[HKLTable, int]:
    """Place each reflection at all its symmetry equivalents and their Friedel mates.

    ``hkl``: (n, 3) integer Miller indices; ``f_plus``: (n,) amplitudes at hkl (NaN =
    missing); ``space_group``: a :class:`gemmi.SpaceGroup`; ``f_minus``: (n,) amplitudes at
    -h-k-l for anomalous data (None: Friedel's law, ``f_plus`` there too).  Returns the P1
    table (each index once; the first value placed wins, F(+) before F(-)) and the number of
    indices that received two different values (0 for a proper asymmetric unit).
    """
    hkl = np.asarray(hkl, dtype=np.int64).reshape(-1, 3)
    f_plus = np.asarray(f_plus, dtype=np.float64).reshape(-1)
    f_minus = f_plus if f_minus is None else np.asarray(f_minus, dtype=np.float64).reshape(-1)
    rots = [np.array(op.rot, dtype=np.int64) // op.DEN for op in space_group.operations()]
    indices, values = [], []
    for sign, f in ((1, f_plus), (-1, f_minus)):
        keep = np.isfinite(f)
        h = sign * hkl[keep]
        for rot in rots:
            indices.append(h @ rot)
            values.append(f[keep])
    if not indices or sum(len(v) for v in values) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return HKLTable(h=empty, k=empty, l=empty, F=np.zeros(0)), 0
    idx = np.concatenate(indices)
    val = np.concatenate(values)
    if np.abs(idx).max() >= _INDEX_LIMIT:
        raise InputError(f"Miller index {int(np.abs(idx).max())} is out of range")
    # one integer per index, so that the duplicates are found by a 1-D sort
    key = ((idx[:, 0] + _INDEX_LIMIT) * (2 * _INDEX_LIMIT) + idx[:, 1] + _INDEX_LIMIT) * (
        2 * _INDEX_LIMIT) + idx[:, 2] + _INDEX_LIMIT
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    kept = val[first]
    differ = ~np.isclose(val, kept[inverse], rtol=1e-6, atol=0.0)
    conflicts = int(np.unique(inverse[differ]).size)
    first = np.sort(first)  # keep the order in which indices first appear
    unique, kept = idx[first], val[first]
    table = HKLTable(h=unique[:, 0].copy(), k=unique[:, 1].copy(), l=unique[:, 2].copy(),
                     F=kept.astype(np.float64))
    return table, conflicts


# -- column choice ---------------------------------------------------------------------------
def _partner(label: str, labels: list[str]) -> tuple[str, str] | None:
    """The (plus, minus) pair ``label`` belongs to, if its partner is among ``labels``."""
    swaps = (("(+)", "(-)"), ("PLUS", "MINUS"), ("plus", "minus"), ("+", "-"))
    for plus, minus in swaps:
        if label.endswith(plus):
            other = label[: -len(plus)] + minus
            if other in labels:
                return label, other
        if label.endswith(minus):
            other = label[: -len(minus)] + plus
            if other in labels:
                return other, label
    return None


@dataclass(frozen=True)
class _Choice:
    """Which columns to read: a mean column or a (plus, minus) pair; intensities or not."""

    plus: str
    minus: str | None
    intensity: bool

    @property
    def label(self) -> str:
        return self.plus if self.minus is None else f"{self.plus}/{self.minus}"


def _choose_mtz(mtz, column: str | None, name: str, option: str) -> _Choice:
    labels = [c.label for c in mtz.columns]
    types = {c.label: c.type for c in mtz.columns}
    if column is not None:
        if column not in types:
            raise InputError(f"{option} {name}: column {column!r} not found; columns: "
                             f"{' '.join(labels)}")
        kind = types[column]
        if kind not in _MTZ_AMPLITUDE_TYPES + _MTZ_INTENSITY_TYPES:
            what = _MTZ_TYPE_NAMES.get(kind, f"type {kind}")
            raise InputError(f"{option} {name}: column {column!r} holds {what} values, not "
                             "amplitudes (types F, G, R) or intensities (J, K)")
        intensity = kind in _MTZ_INTENSITY_TYPES
        if kind in "GK":
            pair = _partner(column, [x for x in labels if types[x] == kind])
            if pair is not None:
                return _Choice(pair[0], pair[1], intensity)
        return _Choice(column, None, intensity)

    def mean(kind: str, preferred: tuple[str, ...]) -> str | None:
        for label in preferred:
            if types.get(label) == kind:
                return label
        return next((x for x in labels if types[x] == kind), None)

    def pair(kind: str) -> tuple[str, str] | None:
        of_kind = [x for x in labels if types[x] == kind]
        for label in of_kind:
            found = _partner(label, of_kind)
            if found is not None:
                return found
        return None

    if (label := mean("F", MTZ_AMPLITUDES)) is not None:
        return _Choice(label, None, False)
    if (found := pair("G")) is not None:
        return _Choice(found[0], found[1], False)
    if (label := mean("J", MTZ_INTENSITIES)) is not None:
        return _Choice(label, None, True)
    if (found := pair("K")) is not None:
        return _Choice(found[0], found[1], True)
    raise InputError(f"{option} {name}: no amplitude or intensity column; columns: "
                     + " ".join(f"{x}({types[x]})" for x in labels))


def _choose_cif(labels: list[str], column: str | None, name: str, option: str) -> _Choice:
    def is_intensity(label: str) -> bool:
        low = label.lower()
        return low.startswith(("intensity", "f_squared", "pdbx_i_"))

    if column is not None:
        label = column[len("_refln."):] if column.lower().startswith("_refln.") else column
        match = next((x for x in labels if x.lower() == label.lower()), None)
        if match is None:
            raise InputError(f"{option} {name}: column {column!r} not found; columns: "
                             f"{' '.join(labels)}")
        if _CIF_NOT_VALUES.match(match):
            raise InputError(f"{option} {name}: column {match!r} is not an amplitude or "
                             "intensity column")
        for pairs in (CIF_AMPLITUDE_PAIRS, CIF_INTENSITY_PAIRS):
            for plus, minus in pairs:
                if match in (plus, minus) and plus in labels and minus in labels:
                    return _Choice(plus, minus, is_intensity(match))
        return _Choice(match, None, is_intensity(match))
    for label in CIF_AMPLITUDES:
        if label in labels:
            return _Choice(label, None, False)
    for plus, minus in CIF_AMPLITUDE_PAIRS:
        if plus in labels and minus in labels:
            return _Choice(plus, minus, False)
    for label in CIF_INTENSITIES:
        if label in labels:
            return _Choice(label, None, True)
    for plus, minus in CIF_INTENSITY_PAIRS:
        if plus in labels and minus in labels:
            return _Choice(plus, minus, True)
    raise InputError(f"{option} {name}: no amplitude or intensity column in _refln; "
                     f"columns: {' '.join(labels)}")


# -- readers ---------------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _valid_cell(params) -> bool:
    vals = [float(v) for v in params]
    return (len(vals) == 6 and all(math.isfinite(v) and v > 0 for v in vals)
            and all(v < 180 for v in vals[3:]) and vals[:3] != [1.0, 1.0, 1.0])


def _read_mtz(name: str, column: str | None, option: str):
    import gemmi

    try:
        mtz = gemmi.read_mtz_file(name)
    except (RuntimeError, ValueError, OSError) as exc:
        raise InputError(f"{option} {name}: not a readable MTZ file ({_one_line(exc)})"
                         ) from exc
    if len(mtz.columns) == 0 or mtz.nreflections == 0:
        raise InputError(f"{option} {name}: MTZ file without column headers or reflections "
                         "(truncated?)")
    if len(mtz.batches) > 0 or any(c.type in "BY" for c in mtz.columns):
        raise InputError(f"{option} {name}: unmerged MTZ (batches, M/ISYM); merge and "
                         "scale it first (e.g. aimless)")
    if mtz.spacegroup is None:
        raise InputError(f"{option} {name}: no space group in the MTZ file")
    choice = _choose_mtz(mtz, column, name, option)
    col = mtz.column_with_label(choice.plus)
    cell = mtz.datasets[col.dataset_id].cell if col.dataset_id < len(mtz.datasets) else None
    if cell is None or not _valid_cell(cell.parameters):
        cell = mtz.cell
    if not _valid_cell(cell.parameters):
        raise InputError(f"{option} {name}: no unit cell in the MTZ file")
    # read columns whole (ValueSigmaAsuData.value_array is wrong in gemmi 0.7.5)
    hkl = np.stack([np.asarray(mtz.column_with_label(x).array) for x in "HKL"], axis=1)
    plus = np.array(col.array, dtype=np.float64)
    minus = (None if choice.minus is None
             else np.array(mtz.column_with_label(choice.minus).array, dtype=np.float64))
    for label, values in ((choice.plus, plus), (choice.minus, minus)):
        if values is not None and np.isinf(values).any():
            raise InputError(f"{option} {name}: column {label} holds "
                             f"{int(np.isinf(values).sum())} infinite value(s)")
    return (np.rint(hkl).astype(np.int64), plus, minus, choice, tuple(cell.parameters),
            mtz.spacegroup, [])


def _check_cif_numbers(block, label: str, name: str, option: str) -> None:
    """Every value of ``_refln.<label>`` is a number or mmCIF's '?'/'.' (missing): gemmi
    reads anything else, ``nan`` and ``inf`` included, as missing."""
    import gemmi

    col = block.find_values(f"_refln.{label}")
    for i in range(len(col)):
        text = col[i]
        if text in ("?", ".") or math.isfinite(gemmi.cif.as_number(text)):
            continue
        raise InputError(f"{option} {name}: _refln.{label} row {i + 1} is {text!r}, not a "
                         "finite number (missing values are '?' or '.')")


def _read_cif(name: str, column: str | None, option: str):
    import gemmi

    try:
        doc = gemmi.cif.read(name)
    except (RuntimeError, ValueError, OSError) as exc:
        raise InputError(f"{option} {name}: not a readable CIF file ({_one_line(exc)})"
                         ) from exc
    if not any(block.find_values("_refln.index_h") for block in doc):
        if any(block.find_values("_diffrn_refln.index_h") for block in doc):
            raise InputError(f"{option} {name}: only unmerged _diffrn_refln data, no merged "
                             "_refln loop; merge the data first")
        raise InputError(f"{option} {name}: mmCIF file without a _refln loop (no structure "
                         "factors; for coordinates use --model)")
    blocks = [rb for rb in gemmi.as_refln_blocks(doc)
              if rb.block.find_values("_refln.index_h")]
    rb = blocks[0]
    extra = ([f"{option} {name}: {len(blocks)} data blocks with _refln; the first, "
              f"{rb.block.name}, is used"] if len(blocks) > 1 else [])
    labels = list(rb.column_labels())
    for index in ("index_h", "index_k", "index_l"):
        if index not in labels:
            raise InputError(f"{option} {name}: _refln loop without {index}")
    choice = _choose_cif(labels, column, name, option)
    block = rb.block
    for label in (choice.plus, choice.minus):
        if label is not None:
            _check_cif_numbers(block, label, name, option)
    if block.find_value("_cell.length_a") in (None, "?", ".") or not _valid_cell(
            rb.cell.parameters):
        raise InputError(f"{option} {name}: no unit cell (_cell.length_a ...) in block "
                         f"{block.name}")
    if rb.spacegroup is None:
        raise InputError(f"{option} {name}: no space group (_symmetry.space_group_name_H-M "
                         f"or _space_group.name_H-M_alt) in block {block.name}")
    hkl = np.asarray(rb.make_miller_array(), dtype=np.int64)
    plus = np.asarray(rb.make_float_array(choice.plus), dtype=np.float64)
    minus = (None if choice.minus is None
             else np.asarray(rb.make_float_array(choice.minus), dtype=np.float64))
    return hkl, plus, minus, choice, tuple(rb.cell.parameters), rb.spacegroup, extra


def read_reflections(path: str | os.PathLike[str], column: str | None = None,
                     option: str = "-hkl") -> ReflectionData:
    """Read an MTZ or mmCIF structure-factor file and expand it to P1 (module docstring).

    ``column``: the label of the column to use (default: the rule above).  ``option``
    labels error messages.  Raises a one-line InputError naming the file for a file that is
    neither MTZ nor mmCIF or cannot be read, an unmerged file, a missing column (listing the
    columns there), a file without an amplitude or intensity column, without a unit cell or
    space group, or without any value.
    """
    name = os.fspath(path)
    fmt = reflection_file_format(name)
    if fmt is None:
        if not os.path.isfile(name):
            raise InputError(f"{option} {name}: cannot read file")
        raise InputError(f"{option} {name}: not an MTZ or mmCIF file")
    reader = _read_mtz if fmt == "MTZ" else _read_cif
    hkl, plus, minus, choice, cell, sg, notes = reader(name, column, option)
    if choice.intensity:
        with np.errstate(invalid="ignore"):
            plus = np.sqrt(np.maximum(plus, 0.0))
            minus = None if minus is None else np.sqrt(np.maximum(minus, 0.0))
    present = np.isfinite(plus) if minus is None else (np.isfinite(plus) | np.isfinite(minus))
    if not present.any():
        raise InputError(f"{option} {name}: column {choice.label} has no values")
    table, conflicts = expand_to_p1(hkl, plus, sg, minus)
    source = f"{option} {name}: {fmt}, space group {sg.hm}, column {choice.label}"
    if choice.intensity:
        why = " (the file has no amplitude column)" if column is None else ""
        notes.append(f"{source}: intensities, amplitudes taken as sqrt(max(I, 0)){why}")
    else:
        notes.append(source)
    missing = int((~present).sum())
    if missing:
        notes.append(f"{option} {name}: {missing} reflection(s) without a value skipped "
                     "(they get -default_F)")
    if conflicts:
        notes.append(f"{option} {name}: {conflicts} symmetry-equivalent indices had "
                     "different values (not an asymmetric unit?); the first was kept")
    notes.append(f"{option} {name}: {int(present.sum())} reflections expanded to "
                 f"{len(table)} in P1 with Friedel mates")
    return ReflectionData(table=table, cell=tuple(float(v) for v in cell), space_group=sg.hm,
                          format=fmt, column=choice.label, reflections=int(present.sum()),
                          notes=tuple(notes))


def cell_mismatch(given: tuple[float, ...], from_file: tuple[float, ...],
                  tolerance: float = 0.01) -> str | None:
    """None when two cells agree, else a description of the worst disagreement.

    Cells are a, b, c (Angstrom), alpha, beta, gamma (degrees).  Lengths agree within the
    relative ``tolerance`` (1 %); angles within ``tolerance`` times 90 degrees.
    """
    worst, text = 0.0, None
    for i, (name, g, f) in enumerate(zip(("a", "b", "c", "alpha", "beta", "gamma"), given,
                                         from_file, strict=True)):
        scale = abs(f) if i < 3 else 90.0
        dev = abs(g - f) / scale if scale > 0 else math.inf
        if dev > tolerance and dev > worst:
            worst, text = dev, f"{name} {g:g} vs {f:g}"
    return text
