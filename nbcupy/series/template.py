"""File-name templates of a series: ``run/img_#####.img``.

One run of ``#`` in the file name stands for the zero-padded frame number (``#####`` and
frame 7 give ``00007``); the extension picks the file format (:mod:`nbcupy.io.registry`).
The manifest sits next to the frames, named after the template's stem:
``run/img_#####.json`` (the summary) and ``run/img_#####.jsonl`` (the log).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from nbcupy.errors import InputError

__all__ = ["FrameTemplate", "remove_temporaries", "temporary_pattern_of"]


@dataclass(frozen=True)
class FrameTemplate:
    """A parsed template: ``folder`` (absolute), ``prefix`` + number + ``suffix`` names.

    width: the number of ``#`` (numbers with more digits are refused, so that the file
    names sort in frame order).  text: the template as given.
    """

    text: str
    folder: str
    prefix: str
    width: int
    suffix: str

    @classmethod
    def parse(cls, text: str) -> FrameTemplate:
        """Parse ``text``; an InputError names what is wrong with it."""
        if not text:
            raise InputError("--template: empty; give a path such as run/img_#####.img")
        folder, name = os.path.split(text)
        if "#" in folder:
            raise InputError(f"--template {text}: '#' may appear in the file name only")
        runs = re.findall(r"#+", name)
        if not runs:
            raise InputError(f"--template {text}: no '#' for the frame number "
                             "(e.g. run/img_#####.img)")
        if len(runs) > 1:
            raise InputError(f"--template {text}: more than one run of '#' (use one, e.g. "
                             "img_#####.img)")
        prefix, _, suffix = name.partition(runs[0])
        return cls(text=text, folder=os.path.abspath(folder or "."), prefix=prefix,
                   width=len(runs[0]), suffix=suffix)

    @property
    def extension(self) -> str:
        """The file extension, lower case, with its dot (``.img``), or ``""``."""
        return os.path.splitext("x" + self.suffix)[1].lower()

    def name(self, number: int) -> str:
        """The file name (no folder) of frame ``number``."""
        return f"{self.prefix}{number:0{self.width}d}{self.suffix}"

    def path(self, number: int) -> str:
        """The absolute path of frame ``number``."""
        return os.path.join(self.folder, self.name(number))

    def check_numbers(self, last: int) -> None:
        """Refuse frame numbers up to ``last`` that do not fit in the ``#`` run."""
        if len(str(last)) > self.width:
            raise InputError(f"--template {self.text}: frame {last} needs {len(str(last))} "
                             f"digits but the template has {self.width} '#'")

    @property
    def stem(self) -> str:
        """The template's file name without its extension (``img_#####``)."""
        name = f"{self.prefix}{'#' * self.width}{self.suffix}"
        ext = os.path.splitext(name)[1]
        return name[: len(name) - len(ext)] if ext and "#" not in ext else name

    @property
    def manifest_path(self) -> str:
        """The manifest summary, ``<folder>/<stem>.json``."""
        return os.path.join(self.folder, self.stem + ".json")

    @property
    def log_path(self) -> str:
        """The manifest log, ``<folder>/<stem>.jsonl``."""
        return os.path.join(self.folder, self.stem + ".jsonl")

    def temporary_pattern(self) -> re.Pattern[str]:
        """Names of the temporaries :mod:`nbcupy.io.atomic` leaves behind when its process is
        killed while writing a frame: ``.<frame name>.<hex>.tmp`` (a file, or a folder for
        the writers that need a path of their own: CBF, NeXus)."""
        return re.compile(r"\." + re.escape(self.prefix) + r"\d{" + str(self.width) + ",}"
                          + re.escape(self.suffix) + r"\.[0-9a-f]+\.tmp\Z")

    def remove_temporaries(self) -> int:
        """Remove frames' temporary files left by killed writers; returns how many."""
        return remove_temporaries(self.folder, self.temporary_pattern())

    def check_writable(self) -> None:
        """Refuse a folder that cannot be created or written, before anything is written."""
        from nbcupy.io.atomic import folder_problem

        problem = folder_problem(self.folder)
        if problem is not None:
            raise InputError(f"--template {self.text}: {problem}")

    def make_folder(self) -> None:
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--template {self.text}: cannot create {self.folder}: "
                             f"{exc.strerror or exc}") from exc


def temporary_pattern_of(path: str) -> re.Pattern[str]:
    """Names of the temporaries :mod:`nbcupy.io.atomic` makes while it writes ``path``."""
    return re.compile(r"\." + re.escape(os.path.basename(path)) + r"\.[0-9a-f]+\.tmp\Z")


def remove_temporaries(folder: str, pattern: re.Pattern[str]) -> int:
    """Remove the files and folders of ``folder`` whose names match ``pattern`` (temporaries
    of writers that were killed); returns how many."""
    import shutil

    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        if not pattern.match(name):
            continue
        path = os.path.join(folder, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed += 1
        except OSError:
            pass
    return removed
