"""Atomic file output.

A file is first written under a temporary name in the destination folder and
only renamed onto its final name (``os.replace``) once it is complete, so a
reader never sees a half-written file and a failure leaves any previous file
of that name untouched.

The data are not forced to the disk (no ``fsync``): like nanoBragg's own output, a file is
as durable as the operating system's page cache makes it.  Syncing every image cost more than
a small simulation on a local disk, and far more on network file systems.

:func:`atomic_open` and :func:`atomic_write` hand out a file object; libraries that insist on
writing to a path themselves (fabio, h5py) get one from :class:`AtomicPath`: a file of the
final base name inside a private temporary folder next to the destination, renamed onto it on
:meth:`~AtomicPath.commit` (keeping the base name matters for CBF: fabio names the CIF data
block after the file it writes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import BinaryIO

from nbcupy.errors import InputError

__all__ = ["atomic_write", "atomic_open", "AtomicPath", "atomic_path", "folder_problem"]


def _default_mode() -> int:
    """Permission bits a plain ``open(path, 'w')`` would give a new file."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # not thread-safe, only a fallback
    os.umask(mask)
    return 0o666 & ~mask


def _temporary_file(folder: str, base: str) -> tuple[int, str]:
    """Create a new, private file ``.<base>.<random>.tmp`` in ``folder``: (descriptor, path).

    What :func:`tempfile.mkstemp` does, without importing :mod:`tempfile` (and the modules it
    loads) into every run.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{base}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary name for {base} in {folder}")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open ``path`` for binary writing, atomically.

    Yields a binary file object on a temporary file in the same folder. When
    the ``with`` block ends normally the data are flushed and the temporary
    file replaces ``path``; if the block raises, the temporary file is removed
    and ``path`` is left as it was. Failing to create the temporary file or
    to rename it (missing folder, no permission, ``path`` is a folder) raises
    :class:`~nbcupy.errors.InputError`. The new file gets the permissions of the
    file it replaces, or the usual ``0666 & ~umask`` for a new file.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    try:
        fd, tmp = _temporary_file(folder, base)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = _default_mode()
        os.chmod(tmp, mode)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`).

    Any ``OSError`` (including one while writing, e.g. a full disk) becomes a
    one-line :class:`~nbcupy.errors.InputError`.
    """
    try:
        with atomic_open(path) as fh:
            fh.write(data)
    except OSError as exc:
        raise InputError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from exc


class AtomicPath:
    """A temporary path through which ``destination`` is written atomically.

    Creating it makes the private folder ``.<name>.<random>.tmp`` next to ``destination``;
    ``path`` is the file to write inside it.  A folder that cannot be created (missing
    folder, no permission) or a rename that fails (``destination`` is a folder, ...) raises
    a one-line :class:`~nbcupy.errors.InputError`.
    """

    def __init__(self, destination: str | os.PathLike[str]) -> None:
        self.destination = os.fspath(destination)
        folder = os.path.dirname(os.path.abspath(self.destination))
        base = os.path.basename(self.destination)
        if not base:
            raise InputError(f"cannot write {self.destination}: no file name")
        self._folder = None
        for _ in range(100):
            tmp = os.path.join(folder, f".{base}.{os.urandom(6).hex()}.tmp")
            try:
                os.mkdir(tmp, 0o700)
            except FileExistsError:
                continue
            except OSError as exc:
                raise InputError(f"cannot write {self.destination}: {exc.strerror or exc}"
                                 ) from exc
            self._folder = tmp
            break
        if self._folder is None:
            raise InputError(f"cannot write {self.destination}: no unused temporary name")
        self.path = os.path.join(self._folder, base)

    def commit(self) -> None:
        """Rename the written file onto the destination (with the permissions of the file it
        replaces, or ``0666 & ~umask``) and remove the temporary folder.  Nothing is renamed
        when no file was written."""
        if self._folder is None:
            return
        try:
            if os.path.exists(self.path):
                try:
                    mode = os.stat(self.destination).st_mode & 0o7777
                except OSError:
                    mode = _default_mode()
                try:
                    os.chmod(self.path, mode)
                    os.replace(self.path, self.destination)
                except OSError as exc:
                    raise InputError(f"cannot write {self.destination}: "
                                     f"{exc.strerror or exc}") from exc
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the temporary folder and whatever was written in it."""
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path to write ``destination`` through: committed when the block ends
    normally, discarded when it raises (see :class:`AtomicPath`)."""
    target = AtomicPath(destination)
    try:
        yield target.path
    except BaseException:
        target.discard()
        raise
    target.commit()


def folder_problem(folder: str | os.PathLike[str]) -> str | None:
    """Why files cannot be written into ``folder`` (created if missing), or None: the first
    existing folder on its path must be a folder that may be written and entered."""
    folder = os.fspath(folder) or "."
    probe = folder
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        if os.path.abspath(probe) == os.path.abspath(folder):
            return f"folder {folder} is not writable"
        return f"cannot create folder {folder}: {probe} is not writable"
    return None
