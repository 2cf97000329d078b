"""Hypothesis property tests of the simulator's physical invariants (one module per theme).

A package so that its modules (``properties.test_noise`` ...) never clash with the unit tests of
the same base name in ``tests/``.  Shared helpers and strategies live in :mod:`.support`; the
Hypothesis profiles in ``conftest.py``.
"""
