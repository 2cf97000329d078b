"""Project exceptions.

Every error that a user can cause through bad input (a malformed file, a missing
file, an impossible option value) is raised as :class:`InputError` with a
one-line message that names the option or file and, where it helps, the line,
e.g. ``-hkl P1.hkl line 17: expected 'h k l F', got 'h k'``.
"""

from __future__ import annotations

__all__ = ["NbcupyError", "InputError", "InputRefused", "BackendUnavailable"]


class NbcupyError(Exception):
    """Base class of all errors raised on purpose by nbcupy."""


class InputError(NbcupyError):
    """A user-supplied input (file or option) is missing or malformed.

    The message is a single line meant to be shown to the user as is.
    """


class InputRefused(InputError):
    """An input that nanoBragg.c accepts but silently changes or completes (a cell with
    fewer than six numbers, a zero-length axis, a count it ignores, ...): nbcupy refuses it on
    purpose and the message says what nanoBragg.c would have done instead.

    README ("nbcupy also differs from nanoBragg.c on purpose") lists every such refusal.
    """


class BackendUnavailable(NbcupyError, RuntimeError):
    """The array backend asked for cannot run here (no CuPy, no usable GPU).

    The message is one line that says what is missing and how to install it.
    """
