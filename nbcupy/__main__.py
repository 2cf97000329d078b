"""``python -m nbcupy``: the same command as ``nbcupy``."""

from __future__ import annotations

import sys

from nbcupy.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
