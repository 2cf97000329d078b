"""A series from start to end: check the request, prepare the models once, plan the frames,
skip what a resumed run already has, make the rest (here or on Dask) and keep the manifest.

:func:`run_series` is what ``nbcupy series`` does; Python callers use it with a
:class:`SeriesConfig`.  Bad input raises :class:`~nbcupy.errors.InputError` (one line)
before anything is written.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import secrets
import shlex
import sys
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from nbcupy.errors import InputError
from nbcupy.series.template import remove_temporaries, temporary_pattern_of

__all__ = ["SeriesConfig", "SeriesSummary", "run_series"]

#: nanoBragg flags that name single-image outputs: a series writes its frames to the
#: template instead.
_OUTPUT_FLAGS = {
    "-floatfile": "a series writes its frames to --template (choose the image with --image)",
    "-intfile": "a series writes its frames to --template (choose the image with --image)",
    "-noisefile": "a series writes its frames to --template (choose the image with --image)",
    "-pgmfile": "a series writes no PGM pictures",
    "-pgmscale": "a series writes no PGM pictures",
    "-nonoise": "choose the image with --image noise|int|float",
}
#: Flags that do not apply to stills (one step at -phi, no oscillation).
_ROTATION_FLAGS = ("-osc", "-phistep", "-phisteps")
#: Flags that do not change a frame's bytes (left out of the run's identity).
_SEED_FLAGS = ("-seed", "-misset_seed")
_CONSOLE_FLAGS = ("-noprogress", "-progress", "-nopgm")


@dataclass
class SeriesConfig:
    """One series.

    flags: nanoBragg flags (a list, or a string split like a shell would).  template: the
    frames' path with a run of ``#`` (``run/img_#####.img``; None with ``nexus``: the
    default ``<nexus stem>_#####.h5`` next to it).  frames: how many (>= 1); first: the
    first frame's number.  nexus: one NeXus NXmx file for the whole series, whose data map
    the frames' NeXus files (``--nexus``).  image: ``noise``, ``int`` or ``float``.  stills:
    random orientations (``orientation_seed``, drawn when None) instead of a rotation.
    workers: Dask worker processes on this machine (0: frames in this process);
    scheduler / scheduler_file: an existing Dask cluster; connect_timeout (s).  resume:
    continue the series the template's manifest records.  backend, dtype, memory_mb,
    threads, noise, corrected: as for one image.  progress: a progress bar (None: when
    stderr is a terminal and the flags have no ``-noprogress``).

    model_file, column (structure factors), png_brightness (percent), png_log,
    sensor_material and smv_adc_offset (the frame files): the :class:`~nbcupy.Options`
    fields of the single image's ``--model``, ``--column``, ``--png-brightness``, ...
    options (:mod:`nbcupy.nanobragg.option_fields`); None or False: the Options default.
    """

    flags: Sequence[str] | str
    template: str | None
    frames: int
    first: int = 1
    image: str = "noise"
    stills: bool = False
    orientation_seed: int | None = None
    workers: int = 0
    scheduler: str | None = None
    scheduler_file: str | None = None
    connect_timeout: float = 10.0
    resume: bool = False
    backend: str = "numpy"
    dtype: str = "float64"
    memory_mb: float | None = None
    threads: int = 0
    noise: str = "exact"
    corrected: bool = False
    progress: bool | None = None
    nexus: str | None = None
    model_file: str | None = None
    column: str | None = None
    png_brightness: float | None = None
    png_log: bool = False
    sensor_material: str | None = None
    smv_adc_offset: bool = False


@dataclass
class SeriesSummary:
    """How a series went: frames planned, written now, skipped (already complete), failed
    ``(frame, reason)``; seconds of the whole run; whether it was interrupted; the
    manifest's summary path and the run's seeds."""

    planned: int
    written: int = 0
    skipped: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    manifest: str = ""
    seed: int = 0
    misset_seed: int | None = None
    orientation_seed: int | None = None

    @property
    def frames_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """The one-line summary the command prints at the end."""
        parts = [f"series: {self.written} frames written"]
        if self.skipped:
            parts.append(f", {self.skipped} already complete")
        if self.failed:
            parts.append(f", {len(self.failed)} failed")
        parts.append(f" in {self.seconds:.2f} s ({self.frames_per_second:.3g} frames/s)")
        if self.interrupted:
            parts.append("; interrupted, rerun with --resume to finish")
        return "".join(parts) + f"; manifest {self.manifest}"


def _check_config(cfg: SeriesConfig) -> None:
    if isinstance(cfg.frames, bool) or not isinstance(cfg.frames, int) or cfg.frames < 1:
        raise InputError(f"--frames: expected a whole number >= 1, got {cfg.frames!r}")
    if isinstance(cfg.first, bool) or not isinstance(cfg.first, int) or cfg.first < 0:
        raise InputError(f"--first: expected a whole number >= 0, got {cfg.first!r}")
    if cfg.workers < 0:
        raise InputError(f"--workers: expected a whole number >= 0, got {cfg.workers!r}")
    given = [name for name, v in (("--workers", cfg.workers), ("--scheduler", cfg.scheduler),
                                  ("--scheduler-file", cfg.scheduler_file)) if v]
    if len(given) > 1:
        raise InputError(f"{given[0]} and {given[1]} exclude each other (one cluster)")
    if not (0 < cfg.connect_timeout < float("inf")):
        raise InputError(f"--connect-timeout: expected seconds > 0, got {cfg.connect_timeout!r}")
    if cfg.orientation_seed is not None:
        if not cfg.stills:
            raise InputError("--orientation-seed: only stills (--stills) have random "
                             "orientations")
        if not 0 <= cfg.orientation_seed < 2**64:
            raise InputError(f"--orientation-seed: expected 0..2^64-1, got "
                             f"{cfg.orientation_seed!r}")
    for option, value, choices in (("--backend", cfg.backend, ("numpy", "cupy", "auto")),
                                   ("--dtype", cfg.dtype, ("float64", "float32")),
                                   ("--noise", cfg.noise, ("exact", "fast"))):
        if value not in choices:
            raise InputError(f"{option}: expected one of {', '.join(choices)}, got {value!r}")
    if cfg.memory_mb is not None and not (0 < cfg.memory_mb < float("inf")):
        raise InputError(f"--memory-mb: expected a positive number, got {cfg.memory_mb!r}")
    if cfg.threads < 0:
        raise InputError(f"--threads: expected a whole number >= 0, got {cfg.threads!r}")


def _flag_names(argv: Sequence[str]) -> list[str]:
    """The flags (canonical names) in ``argv``, in order."""
    from nbcupy.nanobragg.flags import FLAG_BY_NAME

    return [FLAG_BY_NAME[t].name for t in argv if t in FLAG_BY_NAME]


def _identity_flags(argv: Sequence[str]) -> list[str]:
    """``argv`` without the seeds (recorded as numbers) and the console switches."""
    from nbcupy.nanobragg.flags import FLAG_BY_NAME

    out: list[str] = []
    skip = 0
    for token in argv:
        if skip:
            skip -= 1
            continue
        flag = FLAG_BY_NAME.get(token)
        if flag is not None and flag.name in _SEED_FLAGS:
            skip = 1
            continue
        if flag is not None and flag.name in _CONSOLE_FLAGS:
            continue
        out.append(token)
    return out


def _command(cfg: SeriesConfig, argv: Sequence[str], template: str, seed: int,
             misset_seed: int | None, orientation_seed: int | None) -> list[str]:
    """The command line that makes this series again, seeds included."""
    from nbcupy.nanobragg.option_fields import FIELD_OPTIONS

    cmd = ["nbcupy", "series", *_identity_flags(argv), "-seed", str(seed)]
    if misset_seed is not None:
        cmd += ["-misset_seed", str(misset_seed)]
    cmd += ["--frames", str(cfg.frames), "--first", str(cfg.first), "--template", template,
            "--image", cfg.image]
    if cfg.nexus:
        cmd += ["--nexus", cfg.nexus]
    if cfg.stills:
        cmd += ["--stills", "--orientation-seed", str(orientation_seed)]
    for option in FIELD_OPTIONS:
        if option.series and getattr(cfg, option.field) not in (None, False):
            value = getattr(cfg, option.field)
            cmd += [option.name] if option.is_switch else [option.name, str(value)]
    cmd += ["--dtype", cfg.dtype, "--noise", cfg.noise, "--backend", cfg.backend]
    if cfg.corrected:
        cmd.append("--corrected")
    return cmd


def _file_matches(path: str, record: dict[str, Any]) -> bool:
    """Whether ``path`` holds exactly the bytes ``record`` describes."""
    try:
        if os.path.getsize(path) != record.get("bytes"):
            return False
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return False
    return digest.hexdigest() == record.get("sha256")


def _progress_bar(total: int, initial: int, enabled: bool, err: TextIO) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit="frame", file=err, dynamic_ncols=True,
                smoothing=0.1)


@dataclass
class _Seeds:
    """The seeds of a series (flags' convention) and the lines announcing drawn ones."""

    noise: int
    misset: int | None
    orientation: int | None
    drawn: list[str]


@dataclass
class _Request:
    """What a series was asked to make, checked: the nanoBragg flags, the frames' template
    and format, the NeXus master (absolute path, or None), the formats written, and the
    Options fields of the options given (structure factors, then the writers')."""

    argv: list[str]
    template: Any
    fmt: Any
    master: str | None
    formats: set[str]
    structure: dict[str, Any]
    writers: dict[str, Any]


def _default_template(master: str, last: int) -> str:
    """``<master stem>_#####.h5`` next to ``master`` (more ``#`` when ``last`` needs them)."""
    folder, name = os.path.split(master)
    stem = os.path.splitext(name)[0]
    return os.path.join(folder, f"{stem}_{'#' * max(5, len(str(last)))}.h5")


def _check_master(path: str, template: Any, fmt: Any) -> str:
    """The absolute path of the NeXus master ``path``; InputError for a name it cannot have."""
    from nbcupy.io.registry import format_for

    if not str(path).strip():
        raise InputError("--nexus: expected a file name, got an empty string")
    try:
        is_nexus = format_for(path).name == "nexus"
    except InputError:
        is_nexus = False
    if not is_nexus:
        raise InputError(f"--nexus {path}: a NeXus file's name ends in .h5 or .nxs")
    if fmt.name != "nexus":
        raise InputError(f"--nexus {path}: the master maps NeXus frame files, but --template "
                         f"{template.text} makes {fmt.description.split(' (')[0]} files (use "
                         "a .h5 template, or leave --template out)")
    master = os.path.abspath(path)
    if os.path.isdir(master):
        raise InputError(f"--nexus {path}: it is a folder")
    folder, name = os.path.split(master)
    frame_name = re.compile(re.escape(template.prefix) + r"\d{" + str(template.width) + ",}"
                            + re.escape(template.suffix) + r"\Z")
    if folder == template.folder and frame_name.match(name):
        raise InputError(f"--nexus {path}: named like a frame of --template {template.text}")
    return master


def _check_request(cfg: SeriesConfig) -> _Request:
    """The request ``cfg`` checked (before any file is read); InputError for anything a
    series cannot do."""
    from nbcupy.io.registry import format_for
    from nbcupy.nanobragg.option_fields import FIELD_OPTIONS, STRUCTURE
    from nbcupy.series.template import FrameTemplate

    argv = shlex.split(cfg.flags) if isinstance(cfg.flags, str) else list(cfg.flags)
    _check_config(cfg)
    text = cfg.template
    if not text and cfg.nexus:
        text = _default_template(cfg.nexus, cfg.first + cfg.frames - 1)
    if not text:
        raise InputError("--template: give the frames' path (run/img_#####.img), or --nexus")
    template = FrameTemplate.parse(text)
    template.check_numbers(cfg.first + cfg.frames - 1)
    try:
        fmt = format_for(template.extension)
    except InputError:
        raise InputError(f"--template {text}: no image format for the extension "
                         f"{template.extension or '(none)'} (known: .img/.smv SMV, .bin raw "
                         "float, .cbf miniCBF, .h5/.nxs NeXus, .png preview)") from None
    fmt.check_kind(cfg.image)
    master = None if cfg.nexus is None else _check_master(cfg.nexus, template, fmt)
    for name in _flag_names(argv):
        if name in _OUTPUT_FLAGS:
            raise InputError(f"{name}: {_OUTPUT_FLAGS[name]}")
        if cfg.stills and name in _ROTATION_FLAGS:
            raise InputError(f"{name}: stills are single exposures at -phi (no oscillation "
                             "or phi steps)")
    given = {o.field: getattr(cfg, o.field) for o in FIELD_OPTIONS if o.series}
    given = {k: v for k, v in given.items() if v is not None and v is not False}
    structure_fields = {o.field for o in FIELD_OPTIONS if o.group == STRUCTURE}
    return _Request(argv, template, fmt, master, {fmt.name} | ({"nexus"} if master else set()),
                    {k: v for k, v in given.items() if k in structure_fields},
                    {k: v for k, v in given.items() if k not in structure_fields})


#: what the writer options are for, in the notes of options a series' files do not use
_WRITER_NEEDS = {"png_brightness": ".png frames", "png_log": ".png frames",
                 "sensor_material": ".cbf or .h5 frames", "smv_adc_offset": ".img frames"}


def _writer_options(req: _Request, opts: Any, err: TextIO) -> dict[str, Any]:
    """Check the writer options of the request for its formats (InputError for a value they
    cannot take, a note for an option none of them uses) and return the ones that change
    the files: part of the series' identity."""
    import dataclasses

    from nbcupy.nanobragg.option_fields import FIELD_OPTIONS
    from nbcupy.nanobragg.output_options import WRITER_OPTION_FORMATS, check_writer_options

    names = {o.field: o.name for o in FIELD_OPTIONS}
    unused = check_writer_options(dataclasses.replace(opts, **req.writers), req.formats)
    for field_name in unused:
        print(f"note: {names[field_name]} has no effect on {req.fmt.name.upper()} frames "
              f"(it is for {_WRITER_NEEDS[field_name]})", file=err)
    defaults = type(opts)()
    return {k: v for k, v in req.writers.items()
            if v != getattr(defaults, k) and set(WRITER_OPTION_FORMATS[k]) & req.formats}


def _geometry_notes(formats: set[str], sim: Any) -> list[str]:
    """What readers of the series' CBF or NeXus files will get wrong about its geometry (the
    notes the single image's writers give, once for the whole series)."""
    notes = []
    if "cbf" in formats:
        from nbcupy.io.cbf import cbf_geometry_notes

        notes += cbf_geometry_notes(sim)
    if "nexus" in formats and sim.detector.curved:
        notes.append("NeXus: the detector is curved; NXmx modules are flat, so pixel "
                     "positions away from the beam centre are misread")
    return notes


def _series_start(previous: dict[str, Any] | None) -> datetime.datetime:
    """When the series starts (UTC, whole seconds): the time its first run recorded, else
    now.  Frame i's headers say i exposures later."""
    if previous is not None and previous.get("start_time"):
        try:
            return datetime.datetime.fromisoformat(previous["start_time"])
        except (TypeError, ValueError):
            pass
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _choose_seeds(cfg: SeriesConfig, opts: Any, previous: dict[str, Any] | None) -> _Seeds:
    """The seeds as given, else the earlier run's, else drawn; stored into ``opts`` (which
    also gets the stills' single step)."""
    from nbcupy.series.plan import SeriesPlan

    drawn: list[str] = []
    if opts.seed is not None:
        seed = -opts.seed
    elif previous is not None:
        seed = int(previous["seed"])
    else:
        seed = int(time.time())
        drawn.append(f"noise seed {seed} drawn from the clock (give -seed {seed} to "
                     "repeat it)")
    misset = None
    if opts.misset_random:
        if opts.misset_seed is not None:
            misset = -opts.misset_seed
        elif previous is not None and previous.get("misset_seed") is not None:
            misset = int(previous["misset_seed"])
        else:
            misset = int(time.time())
            drawn.append(f"misset seed {misset} drawn from the clock (give -misset_seed "
                         f"{misset} to repeat the crystal)")
        opts.misset_seed = -misset
    orientation = None
    if cfg.stills:
        if cfg.orientation_seed is not None:
            orientation = int(cfg.orientation_seed)
        elif previous is not None and previous.get("orientation_seed") is not None:
            orientation = int(previous["orientation_seed"])
        else:
            orientation = secrets.randbits(32)
            drawn.append(f"orientation seed {orientation} drawn at random (give "
                         f"--orientation-seed {orientation} to repeat the stills)")
        opts.osc, opts.phistep, opts.phisteps = 0.0, -1.0, 1
    try:
        SeriesPlan(cfg.first, cfg.frames, seed, 0.0, 0.0, cfg.stills, orientation)
    except ValueError as exc:
        raise InputError(f"-seed: {exc}") from None
    opts.seed = -seed
    return _Seeds(seed, misset, orientation, drawn)


def _engine(cfg: SeriesConfig) -> Any:
    """Engine settings of every frame: the CPU threads shared by a LocalCluster's workers."""
    from nbcupy.engine.tiling import DEFAULT_MEMORY_MB, EngineSettings, default_threads

    threads = cfg.threads
    if cfg.workers and not threads:
        threads = max(1, default_threads() // cfg.workers)
    return EngineSettings(backend=cfg.backend, dtype=cfg.dtype,
                          memory_mb=cfg.memory_mb or DEFAULT_MEMORY_MB, threads=threads)


def _master_phis(plan: Any) -> np.ndarray:
    """The start angle (rad) of every frame of ``plan``, as ``-phi <start>`` converts it."""
    from nbcupy.nanobragg.flags import DEG

    return np.array([DEG(plan.frame(number).phi_start_deg) for number in plan.numbers])


def run_series(cfg: SeriesConfig, out: TextIO | None = None,
               err: TextIO | None = None) -> SeriesSummary:
    """Make the series ``cfg`` describes; see :class:`SeriesConfig` and the README.

    Prints the setup summary, the seeds and a one-line summary on ``out``, notes and the
    progress bar on ``err``.  Returns a :class:`SeriesSummary` (``interrupted`` after
    Ctrl-C, with every completed frame in the manifest).  Bad input raises InputError before
    anything is written.
    """
    from nbcupy.nanobragg.flags import parse_flags
    from nbcupy.series.manifest import IDENTITY_DEFAULTS, IDENTITY_KEYS, Manifest

    out = out or sys.stdout
    err = err or sys.stderr
    t_start = time.perf_counter()
    req = _check_request(cfg)
    argv, template, fmt = req.argv, req.template, req.fmt
    parsed = parse_flags(argv, corrected=cfg.corrected)
    opts = parsed.options
    for note in parsed.notes:
        print(note, file=err)
    for key, value in req.structure.items():
        setattr(opts, key, value)
    writers = _writer_options(req, opts, err)

    # an earlier run of this series, the seeds, and what a resumed run must keep
    manifest = Manifest(template, range(cfg.first, cfg.first + cfg.frames))
    previous: dict[str, Any] | None = None
    if os.path.exists(template.log_path):
        if not cfg.resume:
            raise InputError(f"{template.log_path} already records a series: add --resume "
                             "to continue it, or remove it (and its frames) first")
        previous = manifest.load()
    seeds = _choose_seeds(cfg, opts, previous)
    start_time = _series_start(previous)
    run: dict[str, Any] = {
        "flags": _identity_flags(argv), "mode": "stills" if cfg.stills else "rotation",
        "image": cfg.image, "file_format": fmt.name, "first": cfg.first, "seed": seeds.noise,
        "misset_seed": seeds.misset, "orientation_seed": seeds.orientation,
        "dtype": cfg.dtype, "noise": cfg.noise, "corrected": bool(cfg.corrected),
        "options": {**req.structure, **writers}, "nexus": req.master}
    if previous is not None:
        for key in IDENTITY_KEYS:
            before = previous.get(key, IDENTITY_DEFAULTS.get(key))
            if before != run.get(key):
                raise InputError(f"--resume: {template.log_path} records a series with other "
                                 f"{key} ({before!r}, now {run.get(key)!r}); "
                                 "use another --template or remove the old series")
    if req.master is not None:
        _check_folder(os.path.dirname(req.master), f"--nexus {cfg.nexus}")
    template.check_writable()

    # an existing cluster is checked before any work; a LocalCluster is started later
    executor = None
    gpu = cfg.backend == "cupy"
    if cfg.scheduler or cfg.scheduler_file:
        from nbcupy.series.cluster import ClusterExecutor

        executor = ClusterExecutor.connect(cfg.scheduler, cfg.scheduler_file,
                                           cfg.connect_timeout, gpu=gpu)
    opened = False
    master = None
    summary = SeriesSummary(planned=cfg.frames, manifest=template.manifest_path,
                            seed=seeds.noise, misset_seed=seeds.misset,
                            orientation_seed=seeds.orientation)
    bar = None
    try:
        from nbcupy import __version__
        from nbcupy.api import prepare
        from nbcupy.backends import get_backend
        from nbcupy.nanobragg.output_options import check_output_geometry
        from nbcupy.nanobragg.summary import print_summary
        from nbcupy.series.plan import SeriesPlan, degrees_of
        from nbcupy.series.renderer import SeriesJob

        chosen = cfg.backend
        if executor is None and not cfg.workers:
            try:
                chosen = get_backend(cfg.backend).name
            except RuntimeError as exc:
                raise InputError(str(exc)) from None
        prepared = prepare(opts, write_cache=True)._replace(notes=parsed.notes)
        for key, value in req.writers.items():  # read by the frames' writers only
            setattr(opts, key, value)
        sim = prepared.simulation
        check_output_geometry(opts, sim, req.formats)
        for note in _geometry_notes(req.formats, sim):
            print(f"note: {note}", file=err)
        print_summary(sim, prepared.report, opts, backend=cfg.backend, chosen=chosen,
                      dtype=cfg.dtype, out=out)
        phi0_deg, osc_deg = degrees_of(sim.spindle.phi0), degrees_of(sim.spindle.osc)
        plan = SeriesPlan(cfg.first, cfg.frames, seeds.noise, phi0_deg, osc_deg, cfg.stills,
                          seeds.orientation)
        run.update({"template": template.text, "frames": cfg.frames, "phi0_deg": phi0_deg,
                    "osc_deg": osc_deg, "phisteps": sim.spindle.phisteps,
                    "phistep_deg": degrees_of(sim.spindle.phistep), "backend": cfg.backend,
                    "workers": cfg.workers, "scheduler": cfg.scheduler or cfg.scheduler_file,
                    "start_time": start_time.isoformat(),
                    "command": _command(cfg, argv, template.text, seeds.noise, seeds.misset,
                                        seeds.orientation),
                    "cwd": os.getcwd(), "nbcupy": __version__})
        if req.master is not None:
            from nbcupy.series.master import SeriesMaster

            master = SeriesMaster(req.master, template, plan.numbers, sim, _master_phis(plan),
                                  exposure=opts.exposure, sensor_material=opts.sensor_material,
                                  start_time=start_time, name=cfg.nexus)

        todo = array("q")  # frame numbers to make (8 bytes each, whatever the count)
        for number, record in manifest.planned_records():
            if record is not None and _file_matches(template.path(number), record):
                summary.skipped += 1
                if master is not None:
                    master.mark(number)
            else:
                todo.append(number)
        for line in seeds.drawn:
            print(line, file=out)
        what = ("stills in random orientations" if cfg.stills else
                f"a rotation series from phi {phi0_deg:g} deg, {osc_deg:g} deg per frame in "
                f"{sim.spindle.phisteps} phi steps")
        print(f"series: frames {plan.first}..{plan.last}, {what}; {cfg.image} images as "
              f"{fmt.description} -> {template.text}", file=out)
        if master is not None:
            print(f"series: NeXus master {cfg.nexus} maps the frame files (virtual dataset), "
                  "rewritten as frames complete", file=out)
        print(f"series: frame k has noise seed {seeds.noise} + (k - {cfg.first})", file=out)
        if not cfg.stills and osc_deg == 0.0:
            print("note: the oscillation is 0: every frame has the same orientation, only "
                  "the noise differs", file=err)
        if previous is not None or cfg.resume:
            print(f"series: {summary.skipped} of {cfg.frames} frames already complete "
                  f"(checksums match), {len(todo)} to make", file=out)
        out.flush()

        template.make_folder()
        template.remove_temporaries()
        if master is not None:
            _make_folder(os.path.dirname(master.path), f"--nexus {cfg.nexus}")
            remove_temporaries(os.path.dirname(master.path), temporary_pattern_of(master.path))
        manifest.open(run)
        opened = True
        job = SeriesJob(prepared, _engine(cfg), cfg.image, cfg.noise, template, start_time)
        show = cfg.progress if cfg.progress is not None else (opts.progress and err.isatty())
        bar = _progress_bar(cfg.frames, summary.skipped, bool(show), err)

        def on_record(record: dict[str, Any]) -> None:
            manifest.add(record)
            summary.written += 1
            if master is not None:
                master.mark(int(record["frame"]))
                master.refresh()
            if bar is not None:
                bar.update(1)

        if todo:
            if executor is None and cfg.workers:
                from nbcupy.series.cluster import ClusterExecutor

                executor = ClusterExecutor.local(cfg.workers, gpu=gpu)
            frames = (plan.frame(number) for number in todo)  # made as they are needed
            if executor is not None:
                summary.failed = executor.run(job, frames, on_record)
            else:
                from nbcupy.series.local import run_local

                run_local(job, frames, on_record)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if bar is not None:
            bar.close()
        try:
            if opened:
                manifest.close()
        finally:
            try:
                if master is not None and opened:
                    master.refresh(force=True)
            finally:
                if executor is not None:
                    executor.close()
                if opened:
                    template.remove_temporaries()
    if master is not None:
        print(f"series: {master.describe()}", file=out)
    summary.seconds = time.perf_counter() - t_start
    print(summary.line(), file=out)
    return summary


def _check_folder(folder: str, what: str) -> None:
    """Refuse a folder that cannot be created or written (InputError naming ``what``)."""
    from nbcupy.io.atomic import folder_problem

    problem = folder_problem(folder)
    if problem is not None:
        raise InputError(f"{what}: {problem}")


def _make_folder(folder: str, what: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{what}: cannot create {folder}: {exc.strerror or exc}") from exc
