"""The format modules import their libraries (gemmi, fabio, h5py, hdf5plugin, Pillow) only
when a file is read or written, so the command line starts without them."""

from __future__ import annotations

import subprocess
import sys

MODULES = ("io.cbf", "io.nexus", "io.png", "io.reflections", "io.model", "io.counts",
           "experiment.frames", "io.atomic")
HEAVY = ("gemmi", "fabio", "h5py", "hdf5plugin", "PIL")


def test_format_modules_import_no_format_library():
    code = ("import sys\n"
            + "".join(f"import nbcupy.{m}\n" for m in MODULES)
            + f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
