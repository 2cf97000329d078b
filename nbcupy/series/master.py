"""The NeXus master file of a series (``nbcupy series --nexus FILE``).

The frames are NeXus files of one frame each, written atomically where they are made (in
this process or on Dask workers) and checksummed in the manifest like every frame.  The
master is one NXmx file for the whole series, written by the main process only, atomically
(:class:`nbcupy.io.atomic.AtomicPath`): the series' geometry and scan (one omega value per
frame, or ``depends_on = "."`` for stills) and ``/entry/data/data`` (frames, slow, fast)
int32, an HDF5 virtual dataset that maps frame i onto ``/entry/data/data[0]`` of the i-th
frame file (relative paths, so the folder can be moved or copied as a whole).  HDF5 files
are never written by two processes and never left half-written: a process killed while
writing the master leaves the previous master (and a temporary folder that the next run
removes).

The master always describes frames that exist: the longest run of complete frames from the
first one on, rewritten every few seconds while it grows and at the end of the run, so that
an interrupted series has a master of the frames done so far, which processing programs can
read as a shorter series, and a resumed one the master of all the frames.  Its bytes depend
on the series alone (times from the series' start time, one exposure per frame), so a
resumed series has the same master as one that was never interrupted.
"""

from __future__ import annotations

import datetime
import os
import time
from typing import Any

import numpy as np

__all__ = ["SeriesMaster"]

#: seconds between rewrites of the master while frames complete
MASTER_INTERVAL = 2.0


class SeriesMaster:
    """The master ``path`` of the frames ``planned`` (frame numbers) of ``template``.

    sim: the series' models (geometry; for stills, no oscillation).  phis: the start angle
    (rad) of every planned frame, in order.  exposure (s), sensor_material: as the frames'
    headers have them.  start_time: the series' start (UTC).  name: the path as the user
    gave it, for messages.
    """

    def __init__(self, path: str, template: Any, planned: range, sim: Any, phis: np.ndarray,
                 *, exposure: float, sensor_material: str,
                 start_time: datetime.datetime, name: str | None = None) -> None:
        self.path = path
        self.name = name or path
        self.template = template
        self.planned = planned
        self.sim = sim
        self.phis = np.asarray(phis, dtype=np.float64)
        self.exposure = float(exposure)
        self.sensor_material = sensor_material
        self.start_time = start_time
        self._good = np.zeros(len(planned), dtype=bool)
        self.frames = 0  # complete frames from the first one on
        self.written = 0  # frames of the master on disk (0: none written by this run)
        self._last = 0.0
        self._interval = MASTER_INTERVAL

    def mark(self, number: int) -> None:
        """Frame ``number`` is complete (its file written, or checked against its checksum)."""
        if number in self.planned:
            self._good[number - self.planned.start] = True
            while self.frames < len(self._good) and self._good[self.frames]:
                self.frames += 1

    def refresh(self, force: bool = False) -> bool:
        """Rewrite the master if it has grown, at most every few seconds unless ``force``;
        whether it was written."""
        if self.frames == 0 or self.frames == self.written:
            return False
        if not force and time.monotonic() - self._last < self._interval:
            return False
        self.write()
        return True

    def write(self) -> None:
        """Write the master of the complete frames from the first one on (atomically)."""
        from nbcupy.io.nexus import write_master

        t0 = time.monotonic()
        count = self.frames
        folder = os.path.dirname(self.path)
        names = [os.path.relpath(self.template.path(self.planned.start + i), folder)
                 for i in range(count)]
        end = self.start_time + datetime.timedelta(seconds=count * self.exposure)
        write_master(self.path, self.sim, names, phis=self.phis[:count],
                     exposure_time=self.exposure, sensor_material=self.sensor_material,
                     start_time=self.start_time, end_time=end)
        self.written = count
        self._last = time.monotonic()
        # a large master is rewritten less often, so that it costs little of the run
        self._interval = max(MASTER_INTERVAL, 20.0 * (self._last - t0))

    @property
    def complete(self) -> bool:
        return self.frames == len(self.planned)

    def describe(self) -> str:
        """One line on what the master on disk holds."""
        if self.written == 0:
            return f"no NeXus master written ({self.name}: no complete first frame)"
        last = self.planned.start + self.written - 1
        what = ("all frames" if self.written == len(self.planned) else
                f"{self.written} of {len(self.planned)} frames; --resume completes it")
        return (f"NeXus master {self.name}: frames {self.planned.start}..{last} ({what}), a "
                "virtual dataset of the frame files")
