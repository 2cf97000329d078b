"""Fixtures shared by the example-based tests."""

from __future__ import annotations

import pytest

from tests.series_support import HEAVY, HEAVY_FRAMES, ok, series


@pytest.fixture(scope="session")
def series_reference(tmp_path_factory) -> dict[int, bytes]:
    """The frames of HEAVY made in one process without interruption (frame -> bytes)."""
    folder = tmp_path_factory.mktemp("series-reference")
    ok(series(*HEAVY, "--frames", str(HEAVY_FRAMES), "--template", "ref/img_##.img",
              cwd=folder))
    return {k: (folder / "ref" / f"img_{k:02d}.img").read_bytes()
            for k in range(1, HEAVY_FRAMES + 1)}
