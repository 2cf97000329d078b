"""Example-based tests of nbcupy (a package, so that test modules may share :mod:`.support`
and may have the same base names as the property tests in ``properties/``)."""
