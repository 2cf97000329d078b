"""Rendering and writing one frame: the part of a series that runs wherever frames are made
(in the main process or on a Dask worker).

:class:`FrameRenderer` is built once per process from the prepared models; per frame only
the crystal's rotation (the spindle start, or the still's orientation) and the noise seed
change.  :meth:`FrameRenderer.render` is the one place where a frame meets the engine: an
:class:`nbcupy.engine.Renderer` kept for the process, which keeps the engine's
frame-independent parts between frames (worker threads, rendered pixels and tiles, the
structure factors on the device, the kernels' padded grid and compiled code).
:func:`produce_frame` turns a rendered frame into its file (written atomically: temporary
name in the same folder, then a rename) and returns the frame's manifest record.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import pickle
import time
from dataclasses import dataclass, field
from typing import Any

from nbcupy.engine import EngineSettings
from nbcupy.series.plan import Frame
from nbcupy.series.template import FrameTemplate

__all__ = ["FrameRenderer", "SeriesJob", "produce_frame"]


class FrameRenderer:
    """Renders the frames of one series from models prepared once.

    ``prepared``: the :class:`nbcupy.api.Prepared` models of the series' flags (for stills,
    with ``-osc 0 -phisteps 1``).  ``engine``: backend, precision, memory budget, threads.
    """

    def __init__(self, prepared: Any, engine: EngineSettings) -> None:
        from nbcupy.backends import get_backend
        from nbcupy.engine import DEFAULT_MEMORY_MB, Renderer

        self.prepared = prepared
        # "auto" is decided once per process, not once per frame
        self.engine = EngineSettings(backend=get_backend(engine.backend).name,
                                     dtype=engine.dtype,
                                     memory_mb=engine.memory_mb or DEFAULT_MEMORY_MB,
                                     threads=engine.threads, kernel=engine.kernel)
        # the engine's frame-independent parts (threads, pixels, structure factors on the
        # device, kernels), kept from frame to frame
        self.renderer = Renderer(prepared.simulation, self.engine)

    def models(self, frame: Frame) -> Any:
        """The frame's models: the prepared ones with its spindle start (rotation series) or
        its orientation (stills), and its noise seed; exactly what ``prepare`` gives for
        the flags plus ``-phi <start> -seed <seed>`` (rotation series)."""
        p = self.prepared.with_seed(frame.seed)
        if frame.orientation is None:
            return p.with_phi(frame.phi_start_deg)
        return p.with_orientation(frame.orientation)

    def render(self, frame: Frame) -> Any:
        """The :class:`nbcupy.api.SimulationResult` of ``frame``.

        What the rest of a series reads from it (:func:`nbcupy.series.images.frame_pixels`,
        :func:`produce_frame`): ``image_f32`` (the float32 host image), ``image`` and
        ``render.backend`` (the image on the backend, for ``--noise fast``), ``stats.max_I``,
        ``simulation`` (the frame's models, for file headers), ``options`` (``-scale``,
        ``-adc``), ``report.noise_seed`` and ``rng`` (the generator state the frame's noise
        image starts from; consumed by it).
        """
        from nbcupy.api import simulate

        return simulate(self.models(frame), renderer=self.renderer)


@dataclass(frozen=True)
class SeriesJob:
    """Everything a process needs to make frames of one series; picklable, shipped once to
    each Dask worker.

    prepared: the models.  engine: the engine settings.  image: ``noise``, ``int`` or
    ``float``.  noise: ``exact`` or ``fast``.  template: where the frames go.  start_time:
    when the series starts (a UTC datetime); frame i starts i exposures later, the time its
    file's header records (None: the time it is written).
    """

    prepared: Any
    engine: EngineSettings
    image: str
    noise: str
    template: FrameTemplate
    start_time: datetime.datetime | None = None
    digest: str = field(default="", compare=False)

    def payload(self) -> tuple[bytes, str]:
        """The pickled job and its SHA-256 (the job's identity in worker caches)."""
        data = pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)
        return data, hashlib.sha256(data).hexdigest()

    @staticmethod
    def load(data: bytes) -> SeriesJob:
        """A job from :meth:`payload`, carrying its digest."""
        job = pickle.loads(data)
        object.__setattr__(job, "digest", hashlib.sha256(data).hexdigest())
        return job

    def renderer(self) -> FrameRenderer:
        return FrameRenderer(self.prepared, self.engine)


def produce_frame(job: SeriesJob, renderer: FrameRenderer, frame: Frame) -> dict[str, Any]:
    """Render ``frame``, write its file atomically and return its manifest record.

    Idempotent: running it again (a rescheduled task) writes the same bytes under the same
    name by an atomic rename, so a reader sees the old complete file or the new one, never a
    partial one, and never two files.
    """
    from nbcupy.io.registry import format_for
    from nbcupy.series.images import frame_pixels, frame_start_time, write_frame

    t0 = time.perf_counter()
    result = renderer.render(frame)
    fmt = format_for(job.template.extension)
    pixels, info = frame_pixels(result, job.image, fmt.holds, job.noise)
    path = job.template.path(frame.number)
    start = (None if job.start_time is None else
             frame_start_time(job.start_time, frame.index, result.options.exposure))
    sha = write_frame(fmt, path, pixels, result, job.image, start)
    record: dict[str, Any] = {"frame": frame.number, "file": os.path.basename(path),
                              "sha256": sha, "bytes": os.stat(path).st_size}
    record.update(frame.record())
    record.update(info)
    record["seconds"] = round(time.perf_counter() - t0, 4)
    return record
