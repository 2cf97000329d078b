"""Atomic output for libraries that insist on writing to a path themselves (fabio, h5py).

:func:`nbcupy.io.atomic.atomic_open` hands out an open file object; fabio's CBF writer and
HDF5 need a file *name* instead.  :class:`AtomicPath` gives them one: a file of the final
base name inside a private temporary folder next to the destination.  :meth:`~AtomicPath.commit`
renames it onto the destination (``os.replace``, atomic on one file system) and removes the
folder; :meth:`~AtomicPath.discard` removes both and leaves any earlier file at the
destination as it was.  Keeping the base name matters for CBF: fabio names the CIF data block
after the file it writes.  :func:`atomic_path` is the same as a ``with`` block.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

from nbcupy.errors import InputError
from nbcupy.io.atomic import _default_mode

__all__ = ["AtomicPath", "atomic_path"]


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
