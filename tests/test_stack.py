"""``nbcupy.simulate_many``: a stack of frames equal, byte for byte, to single
``nbcupy.simulate`` calls, on the chosen backend, and its lazy Dask form computed on a real
LocalCluster of two worker processes."""

from __future__ import annotations

import numpy as np
import pytest

import nbcupy
from nbcupy.errors import InputError
from nbcupy.series.images import frame_pixels
from nbcupy.series.orientation import random_rotation

FLAGS = ("-cell 70 80 90 75 85 95 -lambda 1.5 -N 3 -default_F 100 -detpixels_f 24 "
         "-detpixels_s 20 -pixel 0.5 -distance 60 -mosaic 0.5 -mosaic_dom 2 -osc 0.2 "
         "-phisteps 2 -seed 4")
PHIS = [0.0, 0.2, 0.4]


@pytest.fixture(scope="module")
def models():
    return nbcupy.prepare(FLAGS)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_stack_is_the_single_images(models, dtype):
    us = [random_rotation(3, k) for k in range(3)]
    stack = nbcupy.simulate_many(models, phis=PHIS, orientations=us, dtype=dtype)
    assert isinstance(stack, np.ndarray)
    assert stack.shape == (3, 20, 24) and stack.dtype == np.dtype(dtype)
    for i in range(3):
        one = nbcupy.simulate(models.with_phi(PHIS[i]).with_orientation(us[i]), dtype=dtype)
        assert stack[i].tobytes() == one.image.tobytes(), i
    assert not np.array_equal(stack[0], stack[1])


def test_noise_stack_is_the_single_images_counts(models):
    stack = nbcupy.simulate_many(models, phis=PHIS[:2], seeds=[10, 11], noise="exact")
    assert stack.dtype == np.int32 and stack.shape == (2, 20, 24)
    for i, seed in enumerate((10, 11)):
        res = nbcupy.simulate(models.with_seed(seed).with_phi(PHIS[i]))
        counts, _ = frame_pixels(res, "noise", "counts")
        assert stack[i].tobytes() == counts.tobytes(), i
    # without seeds: the models' seed (-seed 4) + i, as a series numbers them
    again = nbcupy.simulate_many(models, count=2, noise="exact")
    for i in range(2):
        counts, _ = frame_pixels(nbcupy.simulate(models.with_seed(4 + i)), "noise", "counts")
        assert again[i].tobytes() == counts.tobytes(), i


def test_stack_on_the_strict_backend_is_made_in_its_namespace(models):
    pytest.importorskip("array_api_strict")
    strict = nbcupy.simulate_many(models, phis=PHIS[:2], backend="strict")
    assert type(strict).__module__.startswith("array_api_strict")
    got = np.asarray(strict._array)
    for i in range(2):
        one = nbcupy.simulate(models.with_phi(PHIS[i]), backend="strict").image
        assert got[i].tobytes() == np.asarray(one._array).tobytes(), i
    # NumPy's compiled kernel sums in another order than the plain Array-API one
    np.testing.assert_allclose(got, nbcupy.simulate_many(models, phis=PHIS[:2]), rtol=1e-12)


@pytest.mark.parametrize("kwargs,words", [
    ({}, "give phis"),
    ({"phis": [0, 1], "seeds": [1, 2, 3], "noise": "exact"}, "phis has 2, seeds has 3"),
    ({"phis": [0, 1], "seeds": [1, 2]}, "noise"),
    ({"phis": [0, float("nan")]}, "finite"),
    ({"orientations": [np.eye(3) * 2]}, "rotation"),
    ({"orientations": [np.diag([1.0, 1.0, -1.0])]}, "rotation"),
    ({"orientations": np.eye(3)}, "(n, 3, 3)"),
    ({"phis": [0], "noise": "loud"}, "noise"),
    ({"phis": [0], "dtype": "float16"}, "dtype"),
    ({"phis": [0], "lazy": True, "backend": "strict"}, "NumPy or CuPy"),
])
def test_bad_requests_are_one_line(models, kwargs, words):
    with pytest.raises(InputError, match=words) as info:
        nbcupy.simulate_many(models, **kwargs)
    assert "\n" not in str(info.value)


def test_lazy_stack_on_two_worker_processes_is_the_stack(models):
    distributed = pytest.importorskip("distributed")
    import dask.array as da

    stack = nbcupy.simulate_many(models, phis=PHIS, threads=1)
    lazy = nbcupy.simulate_many(models, phis=PHIS, threads=1, lazy=True)
    assert isinstance(lazy, da.Array)
    assert type(lazy._meta) is np.ndarray and lazy._meta.shape == (0, 0, 0)
    assert lazy.dtype == np.float64 and lazy.shape == (3, 20, 24)
    assert lazy.chunks == ((1, 1, 1), (20,), (24,))
    graph = dict(lazy.__dask_graph__())
    assert len([k for k in graph if str(k).startswith("nbcupy-models-")]) == 1
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as tasks:
            computed = lazy.compute()
            noisy = nbcupy.simulate_many(models, count=2, noise="exact", lazy=True).compute()
        workers = set(client.scheduler_info()["workers"])
    assert type(computed) is np.ndarray
    assert computed.tobytes() == stack.tobytes()
    assert noisy.tobytes() == nbcupy.simulate_many(models, count=2, noise="exact").tobytes()
    frames = [t for t in tasks.data if "nbcupy-frames-" in str(t["key"])]
    shipped = [t for t in tasks.data if "nbcupy-models-" in str(t["key"])]
    assert len(frames) == 5  # one task per frame, on the worker processes
    assert {t["worker"] for t in frames} <= workers and len(workers) == 2
    assert len(shipped) == 2  # the models: one task per graph, not one per frame
