"""Project exceptions.

Every error that a user can cause through bad input (a malformed file, a missing
file, an impossible option value) is raised as :class:`InputError` with a
one-line message that names the option or file and, where it helps, the line,
e.g. ``-hkl P1.hkl line 17: expected 'h k l F', got 'h k'``.
"""

from __future__ import annotations

__all__ = ["NbcupyError", "InputError", "BackendUnavailable"]


class NbcupyError(Exception):
    """Base class of all errors raised on purpose by nbcupy."""


class InputError(NbcupyError):
    """A user-supplied input (file or option) is missing or malformed.

    The message is a single line meant to be shown to the user as is.
    """


class BackendUnavailable(NbcupyError, RuntimeError):
    """The array backend asked for cannot run here (no CuPy, no usable GPU).

    The message is one line that says what is missing and how to install it.
    """
