"""The manifest of a series: which frames exist, how each was made, and its checksum.

Two files lie next to the frames, named after the template's stem (``run/img_#####.img``
gives ``run/img_#####.jsonl`` and ``run/img_#####.json``):

* The log, ``<stem>.jsonl``: JSON lines, appended as frames complete.  Every start of the
  command appends a ``{"type": "run", ...}`` line (flags, seeds, settings); every frame
  written appends a ``{"type": "frame", ...}`` line (file, spindle range or orientation,
  seed, SHA-256 of the file's bytes).  A line is appended with one ``write`` on a file
  opened for appending and flushed at once, so a process killed at any moment (SIGKILL
  included) leaves every earlier line intact; at most the last line is cut short, which a
  reader ignores and the next run removes.  A frame that is written again (``--resume`` of
  a frame whose file was damaged) gets a new line; the last line of a frame counts.  The log
  is what ``--resume`` reads.
* The summary, ``<stem>.json``: one JSON document with the latest run and the latest record
  of every frame, sorted by frame number, and whether the series is complete.  It is
  replaced atomically (never half-written) every few seconds while frames complete and at
  the end; after a SIGKILL it can lag the log by those few seconds, and the next run
  (``--resume``) brings it up to date.

Files are not forced to the disk (no ``fsync``), like the frames themselves; after a crash
of the machine, ``--resume`` checks every frame against its checksum and makes again what is
missing or damaged.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from nbcupy.errors import InputError
from nbcupy.series.template import FrameTemplate

__all__ = ["Manifest", "FORMAT", "VERSION", "IDENTITY_KEYS", "read_log"]

FORMAT = "nbcupy-series"
VERSION = 1

#: What a frame's bytes depend on: a run resumed with any of these changed is refused.
IDENTITY_KEYS = ("flags", "mode", "image", "file_format", "first", "seed", "misset_seed",
                 "orientation_seed", "dtype", "noise", "corrected")

#: Seconds between rewrites of the summary while frames complete.
SUMMARY_INTERVAL = 2.0


def read_log(path: str) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """The run lines and the latest record of every frame in the log ``path``.

    A cut-short last line is ignored; any other line that is not a JSON object is an
    InputError naming the file and line.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise InputError(f"cannot read the manifest log {path}: {exc.strerror or exc}") from exc
    lines = raw.split(b"\n")
    runs: list[dict[str, Any]] = []
    frames: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
        except ValueError:
            if number == len(lines):  # no newline after it: cut short by a kill
                break
            raise InputError(f"manifest log {path} line {number}: not a JSON object") from None
        if entry.get("type") == "run":
            if entry.get("format") != FORMAT:
                raise InputError(f"{path} is not an nbcupy series manifest log")
            runs.append(entry)
        elif entry.get("type") == "frame" and isinstance(entry.get("frame"), int):
            frames[entry["frame"]] = entry
    if not runs:
        raise InputError(f"{path} is not an nbcupy series manifest log (no run line)")
    return runs, frames


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Manifest:
    """The manifest of one series: its log (appended) and its summary (replaced).

    ``frames`` holds the latest record of every frame known (from earlier runs and this
    one); :meth:`add` records a new one.
    """

    def __init__(self, template: FrameTemplate, frames: dict[int, dict] | None = None) -> None:
        self.template = template
        self.frames: dict[int, dict[str, Any]] = dict(frames or {})
        self.run: dict[str, Any] = {}
        self.planned: range = range(0)
        self._fd: int | None = None
        self._last_summary = 0.0

    # -- the log ---------------------------------------------------------------------------
    def open(self, run: dict[str, Any], planned: range) -> None:
        """Open the log for appending (creating it), cut off a torn last line, and append
        this run's line."""
        path = self.template.log_path
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        try:
            self._drop_torn_tail(path)
            self._fd = os.open(path, flags, 0o666)
        except OSError as exc:
            raise InputError(f"cannot write the manifest {path}: {exc.strerror or exc}") from exc
        self.run = {"type": "run", "format": FORMAT, "version": VERSION, "started": _now(),
                    **run}
        self.planned = planned
        self._append(self.run)

    @staticmethod
    def _drop_torn_tail(path: str) -> None:
        try:
            fh = open(path, "r+b")
        except FileNotFoundError:
            return
        with fh:
            data = fh.read()
            if data and not data.endswith(b"\n"):
                fh.truncate(data.rfind(b"\n") + 1)

    def _append(self, entry: dict[str, Any]) -> None:
        assert self._fd is not None, "the manifest log is not open"
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        view = memoryview(line)
        while view:  # one write in practice; a short write is finished, not lost
            n = os.write(self._fd, view)
            view = view[n:]

    def add(self, record: dict[str, Any]) -> None:
        """Record a frame that was written (a record from
        :func:`nbcupy.series.renderer.produce_frame`): a log line now, the summary soon."""
        entry = {"type": "frame", **record}
        self._append(entry)
        self.frames[int(record["frame"])] = entry
        if time.monotonic() - self._last_summary >= SUMMARY_INTERVAL:
            self.write_summary()

    def close(self) -> None:
        """Write the summary and close the log."""
        try:
            if self._fd is not None:
                self.write_summary()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    # -- the summary -----------------------------------------------------------------------
    def done(self) -> list[int]:
        """The planned frames that have a record."""
        return [k for k in self.planned if k in self.frames]

    def write_summary(self) -> None:
        """Replace the summary atomically."""
        from nbcupy.io.atomic import atomic_write

        done = len(self.done())
        head = {"format": FORMAT, "version": VERSION, "updated": _now(),
                "template": os.path.basename(self.template.text),
                "log": os.path.basename(self.template.log_path),
                "run": {k: v for k, v in self.run.items() if k not in ("type", "format")},
                "frames_planned": len(self.planned), "frames_done": done,
                "complete": done == len(self.planned)}
        # one line per key and per frame: valid JSON that a person can read and grep
        lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
        frames = [json.dumps(self._public(self.frames[k])) for k in sorted(self.frames)]
        lines.append(' "frames": [' + ("\n  " + ",\n  ".join(frames) + "\n " if frames else "")
                     + "]")
        lines.append("}\n")
        atomic_write(self.template.manifest_path, "\n".join(lines).encode())
        self._last_summary = time.monotonic()

    @staticmethod
    def _public(entry: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in entry.items() if k != "type"}
