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

__all__ = ["Manifest", "FORMAT", "VERSION", "IDENTITY_KEYS", "IDENTITY_DEFAULTS", "read_log"]

FORMAT = "nbcupy-series"
VERSION = 1

#: What a frame's bytes depend on: a run resumed with any of these changed is refused.
#: ``options``: the Options fields of the double-dash options that change the frames
#: (``--model``, ``--sensor-material``, ...); ``nexus``: the series' NeXus master file.
IDENTITY_KEYS = ("flags", "mode", "image", "file_format", "first", "seed", "misset_seed",
                 "orientation_seed", "dtype", "noise", "corrected", "options", "nexus")
#: The value of an identity key that a log written before the key existed stands for.
IDENTITY_DEFAULTS: dict[str, Any] = {"options": {}}

#: Seconds between rewrites of the summary while frames complete.
SUMMARY_INTERVAL = 2.0


def _scan_log(path: str):
    """Yield ``(offset, entry)`` for every line of the log ``path`` (a cut-short last line
    is skipped); an InputError names a line that is not a JSON object, or a log without a
    run line, or one of another program."""
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot read the manifest log {path}: {exc.strerror or exc}") from exc
    seen_run = False
    with fh:
        offset = 0
        number = 0
        for line in fh:  # one line in memory at a time
            number += 1
            here, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise ValueError("not an object")
            except ValueError:
                if not line.endswith(b"\n"):  # the last line, cut short by a kill
                    break
                raise InputError(f"manifest log {path} line {number}: not a JSON object") \
                    from None
            if not line.endswith(b"\n"):
                break  # complete JSON but no newline yet: treated as cut short
            if entry.get("type") == "run":
                if entry.get("format") != FORMAT:
                    raise InputError(f"{path} is not an nbcupy series manifest log")
                seen_run = True
            yield here, entry
    if not seen_run:
        raise InputError(f"{path} is not an nbcupy series manifest log (no run line)")


def read_log(path: str) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """The run lines and the latest record of every frame in the log ``path``.

    A cut-short last line is ignored; any other line that is not a JSON object is an
    InputError naming the file and line.  (For reading a manifest; a series itself keeps
    only the offsets of the records, see :class:`Manifest`.)
    """
    runs: list[dict[str, Any]] = []
    frames: dict[int, dict[str, Any]] = {}
    for _, entry in _scan_log(path):
        if entry.get("type") == "run":
            runs.append(entry)
        elif entry.get("type") == "frame" and isinstance(entry.get("frame"), int):
            frames[entry["frame"]] = entry
    return runs, frames


class _nothing:
    """A context manager that gives None (no file to open)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Manifest:
    """The manifest of one series: its log (appended) and its summary (replaced).

    ``planned``: the frame numbers of this run.  Memory stays bounded whatever the number of
    frames: only the byte offset of every frame's latest log line is kept (8 bytes per
    planned frame), and the summary is written by streaming those lines from the log.
    """

    _FRAME_PREFIX = b'{"type":"frame",'

    def __init__(self, template: FrameTemplate, planned: range) -> None:
        import numpy as np

        self.template = template
        self.planned = planned
        self.run: dict[str, Any] = {}
        self._offsets = np.full(len(planned), -1, dtype=np.int64)  # planned frames
        self._other: dict[int, int] = {}  # frames of earlier runs outside ``planned``
        self._size = 0  # bytes of the log (this process is its only writer while open)
        self._fd: int | None = None
        self._last_summary = 0.0
        self._interval = SUMMARY_INTERVAL

    # -- reading an earlier log ----------------------------------------------------------------
    def load(self) -> dict[str, Any] | None:
        """Read the log if there is one: the offsets of every frame's latest record; returns
        the latest run line (None without a log)."""
        if not os.path.exists(self.template.log_path):
            return None
        last_run = None
        for offset, entry in _scan_log(self.template.log_path):
            kind = entry.get("type")
            if kind == "run":
                last_run = entry
            elif kind == "frame" and isinstance(entry.get("frame"), int):
                self._set_offset(entry["frame"], offset)
        return last_run

    def _set_offset(self, number: int, offset: int) -> None:
        if number in self.planned:
            self._offsets[number - self.planned.start] = offset
        else:
            self._other[number] = offset

    def _offset(self, number: int) -> int:
        if number in self.planned:
            return int(self._offsets[number - self.planned.start])
        return self._other.get(number, -1)

    def record(self, number: int) -> dict[str, Any] | None:
        """The latest record of frame ``number``, or None."""
        offset = self._offset(number)
        if offset < 0:
            return None
        with open(self.template.log_path, "rb") as fh:
            fh.seek(offset)
            return json.loads(fh.readline())

    def planned_records(self):
        """``(number, latest record or None)`` for every planned frame, in order."""
        with open(self.template.log_path, "rb") if self.done() else _nothing() as fh:
            for number in self.planned:
                offset = self._offset(number)
                if offset < 0 or fh is None:
                    yield number, None
                    continue
                fh.seek(offset)
                yield number, json.loads(fh.readline())

    def done(self) -> int:
        """How many planned frames have a record."""
        return int((self._offsets >= 0).sum())

    # -- the log ---------------------------------------------------------------------------
    def open(self, run: dict[str, Any]) -> None:
        """Open the log for appending (creating it), cut off a torn last line, and append
        this run's line."""
        path = self.template.log_path
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        try:
            self._drop_torn_tail(path)
            self._fd = os.open(path, flags, 0o666)
            self._size = os.fstat(self._fd).st_size
        except OSError as exc:
            raise InputError(f"cannot write the manifest {path}: {exc.strerror or exc}") from exc
        self.run = {"type": "run", "format": FORMAT, "version": VERSION, "started": _now(),
                    **run}
        self._append(self.run)

    @staticmethod
    def _drop_torn_tail(path: str) -> None:
        try:
            fh = open(path, "r+b")
        except FileNotFoundError:
            return
        with fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            # find the last newline, reading backwards in blocks
            pos = size
            while pos > 0:
                start = max(0, pos - 65536)
                fh.seek(start)
                block = fh.read(pos - start)
                i = block.rfind(b"\n")
                if i >= 0:
                    fh.truncate(start + i + 1)
                    return
                pos = start
            fh.truncate(0)

    def _append(self, entry: dict[str, Any]) -> int:
        """Append one line; returns its offset."""
        assert self._fd is not None, "the manifest log is not open"
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        offset = self._size
        view = memoryview(line)
        while view:  # one write in practice; a short write is finished, not lost
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += len(line)
        return offset

    def add(self, record: dict[str, Any]) -> None:
        """Record a frame that was written (a record from
        :func:`nbcupy.series.renderer.produce_frame`): a log line now, the summary soon."""
        offset = self._append({"type": "frame", **record})
        self._set_offset(int(record["frame"]), offset)
        if time.monotonic() - self._last_summary >= self._interval:
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
    def write_summary(self) -> None:
        """Replace the summary atomically, streaming the frames' records from the log."""
        from nbcupy.io.atomic import atomic_open

        t0 = time.monotonic()
        done = self.done()
        head = {"format": FORMAT, "version": VERSION, "updated": _now(),
                "template": os.path.basename(self.template.text),
                "log": os.path.basename(self.template.log_path),
                "run": {k: v for k, v in self.run.items() if k not in ("type", "format")},
                "frames_planned": len(self.planned), "frames_done": done,
                "complete": done == len(self.planned)}
        numbers = sorted([*(k for k in self._other), *(
            self.planned.start + i for i in map(int, (self._offsets >= 0).nonzero()[0]))])
        path = self.template.manifest_path
        try:
            with atomic_open(path) as out, open(self.template.log_path, "rb") as log:
                # one line per key and per frame: valid JSON that a person can read and grep
                out.write(b"{\n")
                for k, v in head.items():
                    out.write(f" {json.dumps(k)}: {json.dumps(v)},\n".encode())
                out.write(b' "frames": [')
                for i, number in enumerate(numbers):
                    log.seek(self._offset(number))
                    line = log.readline().rstrip(b"\n")
                    if line.startswith(self._FRAME_PREFIX):
                        line = b"{" + line[len(self._FRAME_PREFIX):]
                    else:  # written by another program: re-encode without its type
                        entry = json.loads(line)
                        entry.pop("type", None)
                        line = json.dumps(entry, separators=(",", ":")).encode()
                    out.write((b",\n  " if i else b"\n  ") + line)
                out.write(b"\n ]\n}\n" if numbers else b"]\n}\n")
        except OSError as exc:
            raise InputError(f"cannot write the manifest {path}: {exc.strerror or exc}") from exc
        self._last_summary = time.monotonic()
        # a large summary is rewritten less often, so that it costs little of the run
        self._interval = max(SUMMARY_INTERVAL, 20.0 * (self._last_summary - t0))
