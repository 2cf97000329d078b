"""Which pixels of a detector are simulated: nanoBragg's region of interest and the mask.

Masks are (spixels, fpixels) bool NumPy arrays, True where a pixel is rendered, indexed
[slow, fast] like the images.
"""

from __future__ import annotations

import numpy as np

from nbcupy.experiment.models import Detector, Sampling


def roi_mask(fpixels: int, spixels: int, xmin: int = 0, xmax: int | None = None,
             ymin: int = 0, ymax: int | None = None) -> np.ndarray:
    """Boolean (spixels, fpixels) mask of nanoBragg's region of interest.

    ``-roi xmin xmax ymin ymax`` selects fast pixels ``xmin..xmax`` and slow
    pixels ``ymin..ymax``, both ends inclusive; None means the last pixel.
    """
    xmax = fpixels - 1 if xmax is None else xmax
    ymax = spixels - 1 if ymax is None else ymax
    f = np.arange(fpixels)
    s = np.arange(spixels)
    return ((s >= ymin) & (s <= ymax))[:, None] & ((f >= xmin) & (f <= xmax))[None, :]


def roi_pixels(detector: Detector, sampling: Sampling) -> np.ndarray | None:
    """The ROI's pixels (masked or not), or None when the ROI is the whole detector."""
    if sampling.roi is None:
        return None
    xmin, xmax, ymin, ymax = sampling.roi
    if (xmin <= 0 and ymin <= 0 and (xmax is None or xmax >= detector.fpixels - 1)
            and (ymax is None or ymax >= detector.spixels - 1)):
        return None
    return roi_mask(detector.fpixels, detector.spixels, xmin, xmax, ymin, ymax)


def active_pixels(detector: Detector, sampling: Sampling) -> np.ndarray:
    """The pixels rendered: inside the ROI (inclusive bounds) and not masked."""
    active = roi_mask(detector.fpixels, detector.spixels, *sampling.roi)
    if sampling.mask is not None:
        active = active & sampling.mask
    return active
