"""Frames made in this process, one after the other, from models prepared once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from nbcupy.series.plan import Frame
from nbcupy.series.renderer import SeriesJob, produce_frame

__all__ = ["run_local"]


def run_local(job: SeriesJob, frames: Iterable[Frame],
              on_record: Callable[[dict[str, Any]], None]) -> list[tuple[int, str]]:
    """Make ``frames`` in order; ``on_record(record)`` is called as each file is complete.

    An error in a frame stops the run (the next frames would fail the same way): it is
    raised after the frames before it were recorded.  Returns the failed frames (none).
    """
    renderer = job.renderer()
    for frame in frames:
        on_record(produce_frame(job, renderer, frame))
    return []
