"""The Python API around prepared models: prepare() once, change phi / orientation / seed,
simulate() without reading files again; run() given a string; Options validated like flags."""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pytest

import nbcupy
from nbcupy.errors import InputError, InputRefused
from nbcupy.nanobragg.rng import SeedStream

FLAGS = ("-cell 70 80 90 75 85 95 -lambda 1.5 -N 3 -default_F 100 -detpixels 20 -pixel 0.5 "
         "-distance 60 -mosaic 0.5 -mosaic_dom 3 -osc 0.2 -phisteps 2")


def noise_counts(res) -> np.ndarray:
    from nbcupy.nanobragg.noise import poisson_counts_exact

    return poisson_counts_exact(res.image_f32, res.rng, SeedStream(res.report.noise_seed), None)


def test_prepared_models_simulate_like_flags():
    models = nbcupy.prepare(FLAGS + " -seed 4")
    assert isinstance(models, nbcupy.Prepared)
    sim, report, opts, rng, notes = models  # still unpacks as the 5-tuple
    assert sim is models.simulation and report.noise_seed == -4
    a = nbcupy.simulate(models)
    b = nbcupy.simulate(FLAGS + " -seed 4")
    assert np.array_equal(a.image_f32, b.image_f32)
    assert np.array_equal(noise_counts(a), noise_counts(b))


def test_one_prepared_gives_the_same_noise_every_time():
    models = nbcupy.prepare(FLAGS + " -seed -3")  # a positive internal seed reuses the table
    state = models.rng.state()
    first = noise_counts(nbcupy.simulate(models))
    second = noise_counts(nbcupy.simulate(models))
    assert np.array_equal(first, second)
    assert models.rng.state() == state


def test_with_phi_and_with_seed_equal_the_flags(tmp_path):
    models = nbcupy.prepare(FLAGS)
    changed = models.with_phi(0.3).with_seed(9)
    direct = nbcupy.prepare(FLAGS + " -phi 0.3 -seed 9")
    assert changed.simulation.spindle.phi0 == direct.simulation.spindle.phi0
    assert changed.options.phi0 == direct.options.phi0 and changed.options.seed == -9
    a, b = nbcupy.simulate(changed), nbcupy.simulate(direct)
    assert np.array_equal(a.image_f32, b.image_f32)
    assert np.array_equal(noise_counts(a), noise_counts(b))
    assert models.simulation.spindle.phi0 == 0.0  # the original is unchanged
    with pytest.raises(ValueError):
        models.with_seed(2**33)


def test_with_orientation_turns_the_crystal():
    from nbcupy.experiment.geometry import rotate_xyz

    models = nbcupy.prepare(FLAGS)
    u = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90 deg about z
    turned = models.with_orientation(u)
    assert np.allclose(turned.simulation.crystal.cell, models.simulation.crystal.cell @ u.T)
    assert np.allclose(turned.simulation.crystal.reciprocal,
                       models.simulation.crystal.reciprocal @ u.T)
    # the same as -misset 0 0 90 (within rounding: the flag path rebuilds the cell)
    misset = nbcupy.prepare(FLAGS + " -misset 0 0 90")
    assert np.allclose(turned.simulation.crystal.cell, misset.simulation.crystal.cell,
                       rtol=0, atol=1e-22)
    assert np.allclose(rotate_xyz(np.array([1.0, 0, 0]), 0, 0, np.pi / 2), u @ [1.0, 0, 0])
    identity = nbcupy.simulate(models.with_orientation(np.eye(3)))
    assert np.array_equal(identity.image_f32, nbcupy.simulate(models).image_f32)
    with pytest.raises(ValueError, match="rotation"):
        models.with_orientation(2 * np.eye(3))
    with pytest.raises(ValueError, match="rotation"):
        models.with_orientation(np.diag([1.0, 1.0, -1.0]))


def test_simulate_replaced_models_without_reading_files(tmp_path):
    hkl = tmp_path / "p1.hkl"
    hkl.write_text("0 0 1 50\n1 0 0 80\n0 1 0 70\n1 1 1 60\n")
    models = nbcupy.prepare(FLAGS + f" -hkl {hkl}")
    hkl.unlink()  # the models hold the amplitudes
    sim = models.simulation
    moved = models.with_simulation(dataclasses.replace(
        sim, beam=dataclasses.replace(sim.beam, fluence=2 * sim.beam.fluence)))
    a, b = nbcupy.simulate(models), nbcupy.simulate(moved)
    assert np.allclose(b.image_f32, 2 * a.image_f32, rtol=1e-6)


def test_run_splits_a_string_like_a_shell(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = FLAGS + " -seed 2 -floatfile 'a b.bin' -nopgm -nonoise -noprogress"
    res = nbcupy.run(line, out=open(os.devnull, "w"))
    assert (tmp_path / "a b.bin").stat().st_size == 4 * 20 * 20
    listed = nbcupy.run(line.replace("'a b.bin'", "c.bin").split(), out=open(os.devnull, "w"))
    assert np.array_equal(res.image_f32, listed.image_f32)
    assert (tmp_path / "a b.bin").read_bytes() == (tmp_path / "c.bin").read_bytes()


@pytest.mark.parametrize("field,value,flag,flag_value", [
    ("wavelength", 1.0, "-lambda", "1e10"),  # one metre
    ("distance", 150.0, "-distance", "150000"),  # 150 m
    ("pixel_size", 0.2, "-pixel", "200"),  # 20 cm pixels
    ("dispersion", 2.0, "-dispersion", "200"),
])
def test_options_are_validated_like_the_flags(field, value, flag, flag_value):
    base = dict(cell=(100.0, 100.0, 100.0, np.pi / 2, np.pi / 2, np.pi / 2), default_F=1.0,
                fpixels=8, spixels=8)
    with pytest.raises(InputError) as from_options:
        nbcupy.simulate(nbcupy.Options(**base, **{field: value}))
    message = str(from_options.value)
    assert message.startswith(flag + ":") and f"Options.{field}" in message
    with pytest.raises(InputError) as from_flags:
        nbcupy.simulate(f"-cell 100 100 100 90 90 90 -default_F 1 -detpixels 8 "
                        f"{flag} {flag_value}")
    assert str(from_flags.value).split(" (Options")[0].split(": ")[0] == flag
    assert "plausible range" in message and "plausible range" in str(from_flags.value)


def test_options_cell_angles_are_radians_and_numbers_finite():
    with pytest.raises(InputError, match="radians"):
        nbcupy.simulate(nbcupy.Options(cell=(100.0, 100.0, 100.0, 90.0, 90.0, 90.0),
                                       default_F=1.0, fpixels=8, spixels=8))
    with pytest.raises(InputError, match="finite"):
        nbcupy.simulate(nbcupy.Options(cell=(100.0, 100.0, 100.0, 0, 0, 0), default_F=1.0,
                                       fpixels=8, spixels=8, phi0=float("nan")))
    # nanoBragg's 0 for "90 degrees" is refused: an angle of 0 is no cell
    with pytest.raises(InputRefused, match="above 0 deg"):
        nbcupy.simulate(nbcupy.Options(cell=(100.0, 100.0, 100.0, 0, 0, 0), default_F=1.0,
                                       fpixels=8, spixels=8, wavelength=1e-10))
    right = math.pi / 2
    ok = nbcupy.simulate(nbcupy.Options(cell=(100.0, 100.0, 100.0, right, right, right),
                                        default_F=1.0, fpixels=8, spixels=8, wavelength=1e-10))
    assert ok.stats.max_I > 0
