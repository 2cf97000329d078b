"""Fixtures shared by the example-based tests."""

from __future__ import annotations

import numpy as np
import pytest

from tests.series_support import HEAVY, HEAVY_FRAMES, nexus_frames, ok, series


@pytest.fixture(scope="session")
def series_reference(tmp_path_factory) -> dict[int, bytes]:
    """The frames of HEAVY made in one process without interruption (frame -> bytes)."""
    folder = tmp_path_factory.mktemp("series-reference")
    ok(series(*HEAVY, "--frames", str(HEAVY_FRAMES), "--template", "ref/img_##.img",
              cwd=folder))
    return {k: (folder / "ref" / f"img_{k:02d}.img").read_bytes()
            for k in range(1, HEAVY_FRAMES + 1)}


@pytest.fixture(scope="session")
def nexus_reference(tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """The NeXus series of HEAVY (``--nexus``) made in one process without interruption:
    (omega of every frame (deg), the frames' counts (frames, slow, fast)) as the master
    gives them."""
    folder = tmp_path_factory.mktemp("nexus-reference")
    ok(series(*HEAVY, "--frames", str(HEAVY_FRAMES), "--nexus", "ref/run.h5", cwd=folder))
    omega, data = nexus_frames(folder / "ref" / "run.h5")
    assert data.shape[0] == HEAVY_FRAMES
    return omega, data
