"""Preview PNGs opened with Pillow: size, mode and the dark-on-white grey mapping."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from nbcupy.errors import InputError
from nbcupy.io.png import preview_grey, write_png


def test_pillow_opens_greyscale_image_of_detector_size(tmp_path):
    values = np.zeros((30, 50))
    values[3, 7] = 100.0  # one strong spot: slow index 3 (row), fast index 7 (column)
    path = tmp_path / "preview.png"
    write_png(path, values)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "L"
        assert image.size == (50, 30)  # width = fast pixels, height = slow pixels
        grey = np.asarray(image)
    assert grey[3, 7] == 0  # dark spot
    assert (np.delete(grey.reshape(-1), 3 * 50 + 7) == 255).all()  # white background


def test_percentile_rule_and_brightness():
    # 100 pixels 0..99: the 90th-percentile pixel value is 90
    values = np.arange(100, dtype=np.float64).reshape(10, 10)
    grey = preview_grey(values).reshape(-1)
    expected = np.clip(256.0 * (1.0 - values.reshape(-1) * 0.4 / 90.0), 0, 255).astype(int)
    np.testing.assert_array_equal(grey, expected)
    assert grey[90] == 153  # the percentile pixel is mid-grey
    assert grey[0] == 255 and grey[99] == 143  # black only from 2.5 x p90 = 225 on
    brighter = preview_grey(values, brightness=200).reshape(-1)
    assert (brighter <= grey).all() and (brighter < grey).any()
    assert brighter[45] == int(256 * (1 - 45 * 0.8 / 90))


def test_sparse_image_and_pixels_without_data():
    values = np.zeros((4, 4))
    values[0, :4] = [1, 2, 5, -1]
    values[1, 0] = np.nan
    grey = preview_grey(values)
    assert list(grey[0]) == [204, 153, 0, 255]  # p90 = 0: one photon is light grey
    assert grey[1, 0] == 255


def test_log_scale_tells_weak_from_strong_spots():
    values = np.zeros((10, 10))
    values[0, 0], values[0, 1] = 5.0, 50000.0
    linear = preview_grey(values)
    logarithmic = preview_grey(values, log_scale=True)
    assert linear[0, 0] == linear[0, 1] == 0  # both black
    assert logarithmic[0, 0] == int(256 * (1 - np.log(6.0) / 5)) and logarithmic[0, 1] == 0
    np.testing.assert_array_equal(
        logarithmic, preview_grey(np.log1p(values), log_scale=False))


def test_bad_brightness_and_unwritable_path(tmp_path):
    for bad in (0, -5, float("nan"), "bright"):
        with pytest.raises(InputError):
            preview_grey(np.zeros((2, 2)), brightness=bad)
    with pytest.raises(InputError) as err:
        write_png(tmp_path / "missing" / "p.png", np.zeros((2, 2)))
    assert "\n" not in str(err.value)
    assert os.listdir(tmp_path) == []
