"""The Python API: simulate an image from nanoBragg flags or :class:`Options`.

>>> import nbcupy
>>> result = nbcupy.simulate("-cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -default_F 100 "
...                          "-detpixels 64 -pixel 0.1 -distance 100")
>>> result.image.shape, result.stats.max_I  # doctest: +SKIP

:func:`prepare` builds the models once (reading every input file); the :class:`Prepared`
models can then be changed (:meth:`Prepared.with_phi`, :meth:`Prepared.with_orientation`,
:meth:`Prepared.with_seed`, or :func:`dataclasses.replace` on ``.simulation``) and simulated
many times without reading the files again:

>>> models = nbcupy.prepare("-cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -default_F 100 "
...                         "-detpixels 64 -pixel 0.1 -distance 100 -osc 0.5")
>>> images = [nbcupy.simulate(models.with_phi(0.5 * k)).image for k in range(3)]  # doctest: +SKIP

:func:`run` is what the command line does: simulate, print nanoBragg's summary and write
the output files.
"""

from __future__ import annotations

import copy
import dataclasses
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TextIO

import numpy as np

from nbcupy.engine import EngineSettings, Renderer, RenderResult, render
from nbcupy.experiment.models import Simulation
from nbcupy.experiment.regions import roi_pixels
from nbcupy.io.registry import format_named
from nbcupy.nanobragg.build import SetupReport, build_simulation
from nbcupy.nanobragg.flags import parse_flags
from nbcupy.nanobragg.model_checks import check_simulation
from nbcupy.nanobragg.options import Options
from nbcupy.nanobragg.output_options import writer_options
from nbcupy.nanobragg.stats import ImageStats, image_statistics


@dataclass
class SimulationResult:
    """One simulated image.

    image: the image on the chosen backend (engine precision), photons per pixel, shape
    (spixels, fpixels).  image_f32: the float32 NumPy image nanoBragg would write.
    stats: max_I, mean, rms, rmsd as nanoBragg prints them.  simulation: the models used.
    """

    image: Any
    image_f32: np.ndarray
    stats: ImageStats
    simulation: Simulation
    report: SetupReport
    render: RenderResult
    options: Options
    notes: list[str] = field(default_factory=list)
    rng: Any = None


def _options_from(args: str | Sequence[str] | Options | None) -> tuple[Options, list[str]]:
    if args is None:
        return Options(), []
    if isinstance(args, Options):
        return args, []
    argv = shlex.split(args) if isinstance(args, str) else list(args)
    parsed = parse_flags(argv)
    return parsed.options, parsed.notes


class Prepared(NamedTuple):
    """The models of one simulation, built once by :func:`prepare`.

    simulation: the frozen SI models (beam, sources, detector, crystal, spindle, mosaic,
    sampling, structure factors).  report: what the set-up decided (printed summary lines,
    the noise seed).  options: the :class:`Options` they were built from.  rng: nanoBragg's
    generator state after the set-up drew the misset and mosaic domains; the noise image
    starts from it (:func:`simulate` works on a copy, so one ``Prepared`` gives the same
    result every time).  notes: lines about flags accepted without effect.

    It unpacks as the 5-tuple ``(simulation, report, options, rng, notes)``.
    """

    simulation: Simulation
    report: SetupReport
    options: Options
    rng: Any
    notes: list[str]

    def with_simulation(self, simulation: Simulation) -> Prepared:
        """The same, with other models (e.g. made with :func:`dataclasses.replace`)."""
        return self._replace(simulation=simulation)

    def with_phi(self, phi_deg: float) -> Prepared:
        """The same crystal with the spindle's first step at ``phi_deg`` degrees, exactly as
        ``-phi phi_deg`` gives it (the steps and the range stay as they were)."""
        from nbcupy.nanobragg.flags import DEG

        phi0 = DEG(float(phi_deg))  # as the -phi flag converts it
        sim = self.simulation
        spindle = dataclasses.replace(sim.spindle, phi0=phi0)
        return self._replace(simulation=dataclasses.replace(sim, spindle=spindle),
                             options=dataclasses.replace(self.options, phi0=phi0))

    def with_orientation(self, u: Any) -> Prepared:
        """The crystal turned by the rotation matrix ``u`` (3x3, lab frame, applied after
        any ``-misset``/``-mat`` setting and before the spindle rotation).  The options
        keep the flags' orientation; only the models change."""
        from nbcupy.experiment.geometry import rotate_crystal

        sim = self.simulation
        return self._replace(simulation=dataclasses.replace(
            sim, crystal=rotate_crystal(sim.crystal, u)))

    def with_seed(self, seed: int) -> Prepared:
        """The same models with the noise seed ``seed`` (the value of ``-seed``)."""
        from nbcupy.nanobragg.rng import SeedStream

        internal = -int(seed)
        SeedStream(internal)  # the range nanoBragg's generator accepts
        return self._replace(report=dataclasses.replace(self.report, noise_seed=internal),
                             options=dataclasses.replace(self.options, seed=internal))


def prepare(args: str | Sequence[str] | Options | None = None, *,
            corrected: bool | None = None, write_cache: bool = False) -> Prepared:
    """Parse ``args`` (nanoBragg flags as a string or a list, or an :class:`Options`) and
    build the models once: a :class:`Prepared` (simulation, report, options, rng, notes).

    Every input file (``-hkl``, ``-mat``, ``-img``, ``-mask``, ``-sourcefile``) is read
    here and nowhere else; :func:`simulate` takes the result without reading them again.
    ``corrected`` switches nanoBragg's known defects off.  ``write_cache`` writes
    nanoBragg's ``Fdump.bin`` structure-factor cache after reading ``-hkl`` (the command
    line does; the API does not by default).  Bad input raises
    :class:`nbcupy.errors.InputError` with a one-line message.
    """
    from nbcupy.nanobragg.rng import NanoBraggRandom

    opts, notes = _options_from(args)
    if corrected is not None:
        opts.corrected = corrected
    rng = NanoBraggRandom()
    sim, report = build_simulation(opts, rng, write_cache=write_cache)
    return Prepared(sim, report, opts, rng, notes + report.notes)


def simulate(args: str | Sequence[str] | Options | Prepared | None = None, *,
             backend: str = "numpy", dtype: str = "float64", memory_mb: float | None = None,
             threads: int = 0, corrected: bool | None = None, progress: Any = None,
             prepared: Prepared | tuple | None = None,
             renderer: Renderer | None = None) -> SimulationResult:
    """Simulate one image.

    ``args`` are nanoBragg flags (a string or a list), an :class:`Options`, or the
    :class:`Prepared` models from :func:`prepare` (then no file is read and ``corrected``
    is the models' own).  ``backend`` is ``numpy``, ``cupy``, ``auto`` or ``strict``;
    ``dtype`` ``float64`` or ``float32``; ``memory_mb`` the engine's memory budget for
    temporaries (MiB); ``threads`` CPU worker threads (0 = all cores); ``corrected`` switches
    nanoBragg's known defects off; ``progress(done, total)`` is called as pixels complete.
    ``renderer``: an :class:`nbcupy.engine.Renderer` kept between calls (many images of one
    experiment: it renders with its own backend, precision and threads, reusing what the
    images share).  No file is written.  The models are checked first
    (:func:`nbcupy.nanobragg.model_checks.check_simulation`), so models changed by hand get
    the same one-line :class:`nbcupy.errors.InputError` as bad flags.
    """
    from nbcupy.engine import DEFAULT_MEMORY_MB

    if prepared is None and isinstance(args, Prepared):
        prepared = args
    sim, report, opts, rng, notes = prepared or prepare(args, corrected=corrected)
    check_simulation(sim)  # models changed or built by hand get the builders' checks
    rng = copy.deepcopy(rng)  # the noise image advances it; the prepared state stays
    if renderer is not None:
        result = renderer.render(sim, progress=progress)
    else:
        settings = EngineSettings(backend=backend, dtype=dtype,
                                  memory_mb=memory_mb or DEFAULT_MEMORY_MB, threads=threads)
        result = render(sim, settings, progress=progress)
    mask = sim.sampling.mask
    stats = image_statistics(result.image, roi_pixels(sim.detector, sim.sampling),
                             None if mask is None else ~mask,
                             pixel_size_m=sim.detector.pixel_size,
                             oversample=sim.sampling.oversample)
    return SimulationResult(image=result.device_image, image_f32=result.image, stats=stats,
                            simulation=sim, report=report, render=result, options=opts,
                            notes=notes, rng=rng)


#: Images with at least this many pixels draw their exact noise on a second thread.
_THREADED_NOISE_PIXELS = 1 << 16


def write_outputs(res: SimulationResult, noise: str = "exact", out: TextIO | None = None,
                  ) -> None:
    """Write the files nanoBragg writes: float image, SMV int image, PGM and noise image;
    then nbcupy's CBF, NeXus and PNG files when ``res.options`` names them (photon counts:
    :mod:`nbcupy.io.counts`).  Their notes (what a reader will get wrong) go to stderr and
    to ``res.notes``."""
    out = out or sys.stdout
    from nbcupy.nanobragg import noise as nz
    from nbcupy.nanobragg.rng import SeedStream

    opts = res.options
    sim = res.simulation
    img = res.image_f32
    roi = roi_pixels(sim.detector, sim.sampling)
    exact = opts.calculate_noise and noise != "fast"
    # nanoBragg's exact noise loop is sequential; its compiled version releases the GIL, so
    # it runs on a second thread while the other images are converted and written (where
    # the image is large enough for that to outweigh starting the thread)
    noise_job = None
    if exact and img.size >= _THREADED_NOISE_PIXELS and nz.compiled_available():
        from concurrent.futures import ThreadPoolExecutor, wait

        with ThreadPoolExecutor(max_workers=1) as pool:
            noise_job = pool.submit(nz.poisson_counts_exact, img, res.rng,
                                    SeedStream(res.report.noise_seed), roi)
            try:
                _write_images(res, img, roi, out)
            except BaseException:
                wait([noise_job])  # the generator is not in use once this call returns
                raise
    else:
        _write_images(res, img, roi, out)
    if not opts.calculate_noise:
        _write_count_files(res, None, out)
        return
    if noise_job is not None:
        counts = noise_job.result()
    else:
        counts = nz.noise_counts(img, res.image, res.render.backend.xp, res.rng,
                                 res.report.noise_seed, roi, noise)
    noisy, photons, overloads = nz.noise_image_uint16(counts, opts.adc_offset, roi)
    print(f"{photons:.0f} photons on noise image ({overloads} overloads)", file=out)
    print(f"writing {opts.noisefile} as 2-byte integers", file=out)
    format_named("smv").write(opts.noisefile, noisy, sim,
                              **writer_options("smv", opts, "noise"))
    del noisy
    _write_count_files(res, counts, out)


def _write_count_files(res: SimulationResult, noise_counts: Any, out: TextIO) -> None:
    """The CBF, NeXus and PNG files ``res.options`` names, with their console lines.

    CBF and NeXus hold int32 photon counts: ``noise_counts`` (the noise loop's counts, the
    noise image without ``-adc``) or, with ``-nonoise`` (``noise_counts`` None), the
    noiseless image rounded; -1 where nothing was simulated.  The PNG previews the counts,
    or the noiseless image itself."""
    opts, sim = res.options, res.simulation
    if opts.cbf_file is None and opts.nexus_file is None and opts.png_file is None:
        return
    from nbcupy.io.counts import counts_from_image, counts_from_noise, valid_pixels

    valid = valid_pixels(sim)
    counts = (counts_from_image(res.image_f32, valid) if noise_counts is None
              else counts_from_noise(noise_counts, valid))
    for path, name, what in ((opts.cbf_file, "cbf", "miniCBF"),
                             (opts.nexus_file, "nexus", "NeXus NXmx")):
        if path is None:
            continue
        print(f"writing {path} as {what} 4-byte integer photon counts", file=out)
        for note in format_named(name).write(path, counts, sim,
                                             **writer_options(name, opts, "noise")) or ():
            print(f"note: {note}", file=sys.stderr)
            res.notes.append(note)
    if opts.png_file is not None:
        print(f"writing {opts.png_file} as an 8-bit PNG preview", file=out)
        format_named("png").write(opts.png_file, res.image_f32 if noise_counts is None
                                  else counts, sim, **writer_options("png", opts, "noise"))


def _write_images(res: SimulationResult, img: np.ndarray, roi: np.ndarray | None,
                  out: TextIO) -> None:
    """The float image, the SMV int image and the PGM, with their console lines."""
    from nbcupy.nanobragg import adu

    opts, stats, sim = res.options, res.stats, res.simulation
    print(f"writing {opts.floatfile} as {img.size} 4-byte floats", file=out)
    format_named("float").write(opts.floatfile, img, sim)
    print(f"max_I = {stats.max_I:g}  at {stats.max_I_x:g} {stats.max_I_y:g}", file=out)
    print(f"mean= {stats.mean:g} rms= {stats.rms:g} rmsd= {stats.rmsd:g}", file=out)
    scale = adu.intfile_scale(opts.intfile_scale, stats.max_I)
    print(f"intfile_scale = {scale:g}", file=out)
    ints = adu.int_image(img, scale, opts.adc_offset, roi)
    print(f"writing {opts.intfile} as 2-byte integers", file=out)
    format_named("smv").write(opts.intfile, ints, sim, **writer_options("smv", opts, "int"))
    del ints
    if opts.write_pgm:
        pscale = opts.pgm_scale if opts.pgm_scale > 0 else adu.auto_pgm_scale(stats.rmsd, scale)
        print(f"pgm_scale = {pscale:g}", file=out)
        print(f"writing {opts.pgmfile} as 1-byte integers", file=out)
        format_named("pgm").write(opts.pgmfile, adu.pgm_image(img, pscale, roi), sim,
                                  pgm_scale=pscale)


def run(argv: str | Sequence[str], *, backend: str = "numpy", dtype: str = "float64",
        memory_mb: float | None = None, threads: int = 0, noise: str = "exact",
        corrected: bool = False, out: TextIO | None = None, **options: Any,
        ) -> SimulationResult:
    """Do what ``nanoBragg <argv>`` does: simulate, print the summary, write the files
    (including nanoBragg's ``Fdump.bin`` cache after reading ``-hkl``).  ``argv`` is a list
    of flags or one string, split as a POSIX shell would (:func:`shlex.split`).

    Further keywords set :class:`Options` fields that nbcupy's double-dash options set
    (``cbf_file="x.cbf"``, ``model_file=...``, ``column=...``, ...), after the flags."""
    out = out or sys.stdout
    from dataclasses import fields

    from nbcupy.backends import get_backend
    from nbcupy.nanobragg.summary import print_solid_angle, print_summary

    argv = shlex.split(argv) if isinstance(argv, str) else list(argv)
    parsed = parse_flags(argv, corrected=corrected)
    opts = parsed.options
    known = {f.name for f in fields(Options)}
    for key, value in options.items():
        if key not in known:
            raise TypeError(f"run() got an unexpected keyword argument {key!r}")
        setattr(opts, key, value)
    for note in parsed.notes:
        print(note, file=sys.stderr)
    prepared = prepare(opts, write_cache=True)
    chosen = get_backend(backend)
    print_summary(prepared[0], prepared[1], opts, backend=backend, chosen=chosen.name,
                  dtype=dtype, out=out)
    progress = _progress_printer(out) if opts.progress else None
    res = simulate(opts, backend=chosen.name, dtype=dtype, memory_mb=memory_mb,
                   threads=threads, progress=progress, prepared=prepared)
    res.notes = parsed.notes + res.notes
    print_solid_angle(res, out=out)
    write_outputs(res, noise=noise, out=out)
    return res


def _progress_printer(out: TextIO) -> Any:
    last = [-1]

    def report(done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if pct // 5 != last[0] // 5 or pct == 100:
            last[0] = pct
            print(f"{pct}% done", file=out, flush=True)

    return report

