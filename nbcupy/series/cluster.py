"""Frames made on a Dask cluster: a LocalCluster of worker processes on this machine
(``--workers K``) or an existing cluster (``--scheduler ADDRESS``, ``--scheduler-file``).

* The job (prepared models, engine settings, template) is pickled once on the client and
  submitted as a task whose only argument is those bytes.  A worker that runs frames gets
  its result as a dependency (from the worker that holds it, once per worker) and builds
  its :class:`~nbcupy.series.renderer.FrameRenderer` once per process (cached by the job's
  digest).  Nothing is read from the client's files on the workers, so they need no shared
  input folder; and because the job is a task rather than scattered data, the scheduler can
  compute it again if every worker holding it dies.
* Each frame is a task that renders, writes its file atomically (temporary name in the
  folder, then a rename) and returns the small manifest record; the client writes the
  manifest.  A task that Dask runs again after its worker died writes the same bytes under
  the same name, so no duplicate or partial frame can appear.  The frames' folder must be
  reachable by the workers at the same path.
* With ``--backend cupy`` each frame task asks for ``resources={"GPU": 1}``; the workers of
  an existing cluster must be started with ``--resources GPU=1`` (a LocalCluster is).
* At most a few tasks per worker thread are in flight, so that a run of any length keeps
  the client's and the scheduler's memory bounded.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from nbcupy.errors import InputError
from nbcupy.series.plan import Frame
from nbcupy.series.renderer import FrameRenderer, SeriesJob, produce_frame

__all__ = ["ClusterExecutor"]

#: The worker process's renderer, by job digest (one job at a time).
_RENDERERS: dict[str, FrameRenderer] = {}


def _load_job(data: bytes) -> SeriesJob:
    """Task: the job from its pickled bytes."""
    return SeriesJob.load(data)


def _worker_threads() -> int:
    """Engine threads for a frame on this worker: its CPUs shared by its task threads."""
    from nbcupy.engine.tiling import default_threads

    try:
        from distributed import get_worker

        worker = get_worker()
        state = getattr(worker, "state", worker)
        nthreads = int(getattr(state, "nthreads", 1) or 1)
    except (ImportError, ValueError):
        nthreads = 1
    return max(1, default_threads() // max(1, nthreads))


def _frame_task(job: SeriesJob, frame: Frame) -> dict[str, Any]:
    """Task: make one frame on this worker; returns its manifest record."""
    import dataclasses

    renderer = _RENDERERS.get(job.digest)
    if renderer is None:
        _RENDERERS.clear()
        engine = job.engine
        if engine.threads == 0:
            engine = dataclasses.replace(engine, threads=_worker_threads())
        renderer = FrameRenderer(job.prepared, engine)
        _RENDERERS[job.digest] = renderer
    record = produce_frame(job, renderer, frame)
    record["worker_pid"] = os.getpid()
    return record


def _dask() -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError("--workers/--scheduler need dask.distributed: "
                         "pip install 'nbcupy[cluster]'") from None
    return distributed


class ClusterExecutor:
    """A Dask client (and the LocalCluster it owns, if any) that makes frames."""

    def __init__(self, client: Any, cluster: Any = None, gpu: bool = False) -> None:
        self.client = client
        self.cluster = cluster
        self.gpu = gpu

    # -- getting a cluster -------------------------------------------------------------------
    @classmethod
    def connect(cls, address: str | None = None, scheduler_file: str | None = None,
                timeout: float = 10.0, gpu: bool = False) -> ClusterExecutor:
        """A client of an existing scheduler; an InputError in one line when it cannot be
        reached within ``timeout`` seconds."""
        distributed = _dask()
        if scheduler_file is not None:
            if not os.path.isfile(scheduler_file):
                raise InputError(f"--scheduler-file {scheduler_file}: no such file")
            what = f"--scheduler-file {scheduler_file}"
            kwargs: dict[str, Any] = {"scheduler_file": scheduler_file}
        else:
            what = f"--scheduler {address}"
            kwargs = {"address": address}
        try:
            client = distributed.Client(timeout=f"{timeout}s", set_as_default=False, **kwargs)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise InputError(f"{what}: cannot reach the Dask scheduler within {timeout:g} s "
                             f"({reason})") from None
        return cls(client, gpu=gpu)

    @classmethod
    def local(cls, workers: int, gpu: bool = False) -> ClusterExecutor:
        """A LocalCluster of ``workers`` worker processes (one task thread each)."""
        import logging
        import signal
        import threading

        distributed = _dask()
        # Ctrl-C in a terminal reaches every process of the group: the workers are started
        # with SIGINT ignored (inherited), so that only this process stops them, quietly
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR,
                resources={"GPU": 1} if gpu else None)
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
        try:
            client = distributed.Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
        return cls(client, cluster, gpu=gpu)

    # -- making frames -----------------------------------------------------------------------
    def threads(self) -> int:
        """Task threads of the cluster's workers now (at least 1)."""
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # noqa: BLE001 - a scheduler that cannot answer: assume one
            return 1

    def run(self, job: SeriesJob, frames: Iterable[Frame],
            on_record: Callable[[dict[str, Any]], None]) -> list[tuple[int, str]]:
        """Make ``frames``; ``on_record(record)`` as each completes (in completion order).

        Returns ``(frame, reason)`` for the frames whose task failed (an error in the task,
        or Dask gave up on it after its workers died repeatedly); the others are made.
        """
        distributed = _dask()
        data, digest = job.payload()
        token = f"{digest[:12]}-{uuid.uuid4().hex[:8]}"
        job_future = self.client.submit(_load_job, data, key=f"nbcupy-series-job-{token}",
                                        pure=False)
        resources = {"GPU": 1} if self.gpu else None
        pending = iter(frames)
        number_of: dict[str, int] = {}
        failed: list[tuple[int, str]] = []

        def submit() -> Any:
            frame = next(pending, None)
            if frame is None:
                return None
            key = f"nbcupy-series-{token}-frame-{frame.number}"
            number_of[key] = frame.number
            return self.client.submit(_frame_task, job_future, frame, key=key, pure=False,
                                      resources=resources)

        window = max(8, 4 * self.threads())
        futures: list[Any] = []
        try:
            for _ in range(window):
                fut = submit()
                if fut is None:
                    break
                futures.append(fut)
            queue = distributed.as_completed(list(futures), loop=self.client.loop)
            for fut in queue:
                number = number_of.pop(fut.key)
                try:
                    record = fut.result()
                except Exception as exc:  # noqa: BLE001 - reported per frame
                    reason = " ".join(str(exc).split()) or type(exc).__name__
                    failed.append((number, f"{type(exc).__name__}: {reason}"))
                else:
                    on_record(record)
                futures.remove(fut)
                fut.release()
                nxt = submit()
                if nxt is not None:
                    futures.append(nxt)
                    queue.add(nxt)
        finally:
            for fut in futures:
                fut.cancel()
            job_future.release()
        return sorted(failed)

    def close(self) -> None:
        """Close the client, and the LocalCluster if this executor started it."""
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
