"""Many images: rotation series and stills, in one process or on a Dask cluster.

What belongs here: frame plans (:mod:`~nbcupy.series.plan`, :mod:`~nbcupy.series.orientation`),
file-name templates (:mod:`~nbcupy.series.template`), rendering and writing one frame
(:mod:`~nbcupy.series.renderer`, :mod:`~nbcupy.series.images`), the manifest
(:mod:`~nbcupy.series.manifest`), the NeXus master of a series
(:mod:`~nbcupy.series.master`), and the executors (:mod:`~nbcupy.series.local`,
:mod:`~nbcupy.series.cluster`), tied together by :func:`run_series`
(:mod:`~nbcupy.series.run`), which ``nbcupy series`` calls; and frames as one array instead
of files, :func:`nbcupy.simulate_many` (:mod:`~nbcupy.series.stack`).  What does not: the
physics and the engine (a frame is rendered through :func:`nbcupy.simulate`), file formats
(:mod:`nbcupy.io.registry`).  Dask is imported only by the cluster executor and by the lazy
stack.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SeriesConfig", "SeriesSummary", "run_series", "SeriesPlan", "Frame",
           "FrameRenderer", "random_rotation"]


def __getattr__(name: str) -> Any:
    if name in ("SeriesConfig", "SeriesSummary", "run_series"):
        from nbcupy.series import run

        return getattr(run, name)
    if name in ("SeriesPlan", "Frame"):
        from nbcupy.series import plan

        return getattr(plan, name)
    if name == "FrameRenderer":
        from nbcupy.series.renderer import FrameRenderer

        return FrameRenderer
    if name == "random_rotation":
        from nbcupy.series.orientation import random_rotation

        return random_rotation
    raise AttributeError(f"module 'nbcupy.series' has no attribute {name!r}")
