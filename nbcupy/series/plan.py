"""Frame plans: what each frame of a series is (its spindle range or orientation, its seed).

Frames are numbered from ``first`` (1 by default, as detectors number them).  Frame ``k`` of
``count`` frames is the ``i = k - first``-th and uses the noise seed ``seed + i``.

* Rotation series: frame ``k`` covers phi0 + i*osc to phi0 + (i+1)*osc (degrees), with the
  flags' ``-phisteps`` inside it; everything else (mosaic domains, misset) is one crystal.
  The start angle is computed in decimal arithmetic from phi0 and osc as the flags give them
  (to 15 significant digits), so that ``-phi 0 -osc 0.1`` puts frame 4 at exactly the double
  of ``0.3``, the number a user types for ``-phi``.
* Stills: every frame is a still (one step, no oscillation) at phi0, of the same crystal
  turned by its own uniformly random rotation (:func:`~nbcupy.series.orientation.random_rotation`
  of the orientation seed and the frame number ``k``, so a frame can be recomputed alone).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

#: The noise seed of every frame must be one that ``-seed`` accepts.
SEED_LIMIT = 2**31 - 1


def degrees_of(radians: float) -> float:
    """An angle in degrees to 15 significant digits: the number the flags gave, recovered
    from the radians they were converted to."""
    import math

    return float(f"{math.degrees(radians):.15g}")


@dataclass(frozen=True)
class Frame:
    """One frame of a series.

    number: the frame number k.  index: k - first.  seed: its noise seed (the value of
    ``-seed``).  phi_start_deg, phi_end_deg: the spindle range (degrees; equal for a
    still).  orientation: the rotation U (3x3, row-major, lab frame) applied to the crystal
    for a still, or None for a rotation series.
    """

    number: int
    index: int
    seed: int
    phi_start_deg: float
    phi_end_deg: float
    orientation: tuple[tuple[float, float, float], ...] | None = None

    def record(self) -> dict[str, Any]:
        """The frame's manifest fields (JSON-ready)."""
        out: dict[str, Any] = {"frame": self.number, "seed": self.seed}
        if self.orientation is None:
            out["phi_start_deg"] = self.phi_start_deg
            out["phi_end_deg"] = self.phi_end_deg
        else:
            out["phi_deg"] = self.phi_start_deg
            out["orientation"] = [list(row) for row in self.orientation]
        return out


@dataclass(frozen=True)
class SeriesPlan:
    """The frames ``first .. first + count - 1`` of a rotation series or of stills.

    phi0_deg: the first frame's start angle; osc_deg: the range of ONE frame (degrees).
    seed: the first frame's noise seed.  orientation_seed: the seed of the stills' random
    orientations (None for a rotation series).
    """

    first: int
    count: int
    seed: int
    phi0_deg: float
    osc_deg: float
    stills: bool = False
    orientation_seed: int | None = None

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"a series has at least one frame, got {self.count}")
        if self.first < 0:
            raise ValueError(f"frame numbers start at 0 or above, got {self.first}")
        for s in (self.seed, self.seed + self.count - 1):
            if abs(s) > SEED_LIMIT:
                raise ValueError(f"noise seed {s} of the series is outside "
                                 f"-{SEED_LIMIT}..{SEED_LIMIT}")
        if self.stills and (self.orientation_seed is None or self.orientation_seed < 0):
            raise ValueError("stills need an orientation seed >= 0")

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    @property
    def numbers(self) -> range:
        return range(self.first, self.first + self.count)

    def frame(self, number: int) -> Frame:
        """Frame ``number`` (any number of the plan)."""
        if number not in self.numbers:
            raise ValueError(f"frame {number} is not in {self.first}..{self.last}")
        i = number - self.first
        seed = self.seed + i
        if self.stills:
            from nbcupy.series.orientation import random_rotation

            assert self.orientation_seed is not None
            u = random_rotation(self.orientation_seed, number)
            rows = tuple(tuple(float(x) for x in row) for row in u)
            return Frame(number, i, seed, self.phi0_deg, self.phi0_deg, rows)
        phi0, osc = Decimal(repr(self.phi0_deg)), Decimal(repr(self.osc_deg))
        return Frame(number, i, seed, float(phi0 + i * osc), float(phi0 + (i + 1) * osc))

    def __iter__(self) -> Iterator[Frame]:
        for number in self.numbers:
            yield self.frame(number)

    def __len__(self) -> int:
        return self.count
