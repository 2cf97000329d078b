"""Hypothesis profiles of the property tests in ``properties/``.

The environment variable ``NBCUPY_HYPOTHESIS_PROFILE`` picks the profile:

* ``ci`` (the default): tens to hundreds of examples per property, so that the whole
  ``properties/`` suite runs in well under 3 minutes on 2 CPU cores (about 45 s on the
  development machine).  Used by CI and by a plain ``python3 -m pytest``.
* ``thorough``: twenty times as many examples (about 15-20 minutes), for a long run before a
  release or after touching the physics::

      NBCUPY_HYPOTHESIS_PROFILE=thorough python3 -m pytest properties

Both profiles have no per-example deadline (render times vary with the machine, and the first
render of a run imports the array backends) and suppress the ``too_slow`` health check, because
examples that render an image are slow by Hypothesis' standards.  Examples are drawn at random
(not derandomized); a failure prints the seed and the ``@reproduce_failure`` blob needed to
replay it.  Known library bugs are strict xfails with fixed examples (no search needed).

Hypothesis' own ``--hypothesis-profile ci|thorough`` option of pytest works too when the
variable is not set.  Every property sets its example count with
:func:`properties.support.examples`, which scales it by the loaded profile, so ``thorough``
multiplies every property's count by twenty.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE_ENV = "NBCUPY_HYPOTHESIS_PROFILE"
PROFILES = ("ci", "thorough")

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

settings.register_profile("ci", max_examples=20, **_COMMON)
settings.register_profile("thorough", max_examples=400, **_COMMON)

_requested = os.environ.get(PROFILE_ENV, "").strip().lower()
if _requested and _requested not in PROFILES:
    raise ValueError(f"{PROFILE_ENV}={_requested!r}: choose one of {', '.join(PROFILES)}")
if _requested or settings.get_current_profile_name() == "default":
    # the variable wins; without it, keep a profile chosen with pytest's --hypothesis-profile
    settings.load_profile(_requested or "ci")
