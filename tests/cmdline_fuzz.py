"""Random nanoBragg command lines drawn from the flag table, run through nbcupy and nanoBragg.c.

Every flag of :data:`nbcupy.nanobragg.flags.FLAGS` has a value sampler here (:data:`SAMPLERS`) or a
reason why it is never drawn (:data:`NOT_DRAWN`); a test keeps the two in step with the table,
so a flag added to the table is drawn from the next run on.  A case is a base (a cell or a
matrix, structure factors, a small detector, a wavelength and distance) plus a few flags drawn
from the table, each with a random spelling from its synonyms and valid values of its kind, in
random order.  Cases whose work (pixels x steps x sensor layers) would exceed a small budget are
drawn again, so each case runs in well under a second.

:func:`draw_case` is a pure function of (seed, index): the same pair always gives the same
command line.  :func:`run_case` runs it through nbcupy and, when a nanoBragg.c binary is
given, through nanoBragg.c too (single-threaded), each in its own folder holding a copy of
``golden/inputs`` and the case's own files, and lists every disagreement: exit status,
float image (golden criteria: correlation >= 0.99999, max |difference| <= 1e-5 x max), SMV and
noise images byte for byte, and the printed output line by line (numbers to their printed
precision).

Run many cases from the command line::

    NB_C_BIN=/path/to/nanoBragg python -m tests.cmdline_fuzz --cases 300 --seed 1
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nbcupy.nanobragg.flags import FLAGS, Flag

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ROOT / "golden" / "inputs"

#: what every case writes and compares
OUTPUTS = ["-floatfile", "float.bin", "-intfile", "int.img", "-noisefile", "noise.img",
           "-nopgm", "-noprogress", "-seed", "7"]
#: work per case: pixels x sub-pixels x sources x mosaic domains x phi steps x layers
WORK_BUDGET = 300_000
MAX_DRAWS = 50


@dataclass
class Context:
    """What the base of a case chose, for the samplers that depend on it."""

    fpixels: int
    spixels: int
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """One command line (without :data:`OUTPUTS`) and the files it needs in its folder."""

    seed: int
    index: int
    argv: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()

    @property
    def command_line(self) -> str:
        return shlex.join([*self.argv, *OUTPUTS])


# ----------------------------------------------------------------------------------------
# values of each kind


def _num(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}g}"


def _unit_vector(rng: random.Random) -> list[str]:
    v = np.array([rng.gauss(0, 1) for _ in range(3)])
    v /= np.linalg.norm(v)
    return [_num(x) for x in v]


def _near_axis(rng: random.Random, axis: tuple[float, float, float], spread: float = 0.15,
               ) -> list[str]:
    """A vector near ``axis`` (the detector and beam must stay roughly where MOSFLM has them,
    or the detector ends up behind the sample)."""
    v = np.array(axis, float) + np.array([rng.uniform(-spread, spread) for _ in range(3)])
    return [_num(x) for x in v]


def _cell(rng: random.Random) -> list[str]:
    edges = [_num(rng.uniform(20, 150), 4) for _ in range(3)]
    if rng.random() < 0.5:
        return [*edges, "90", "90", "90"]
    while True:
        angles = [rng.uniform(60, 120) for _ in range(3)]
        al, be, ga = (math.radians(a) for a in angles)
        s = (al + be + ga) / 2
        skew = math.sin(s) * math.sin(s - al) * math.sin(s - be) * math.sin(s - ga)
        if skew > 0.05:
            return [*edges, *(_num(a, 4) for a in angles)]


def _smv_bytes(rng: random.Random, fpixels: int, spixels: int, mask: bool) -> bytes:
    """An SMV file of ``fpixels`` x ``spixels`` with a random header (and zeros if a mask)."""
    from nbcupy.io.smv import SMVHeaderFields, write_smv

    data = np.ones((spixels, fpixels), np.uint16)
    if mask:
        f0, s0 = rng.randrange(fpixels), rng.randrange(spixels)
        data[s0:s0 + rng.randint(1, spixels), f0:f0 + rng.randint(1, fpixels)] = 0
    pixel = rng.uniform(0.05, 0.2)
    fields = SMVHeaderFields(
        fpixels=fpixels, spixels=spixels, pixel_size_mm=float(_num(pixel)),
        distance_mm=float(_num(rng.uniform(40, 200))),
        wavelength_A=float(_num(rng.uniform(0.7, 2.0))),
        beam_center_x_mm=float(_num(rng.uniform(0, fpixels * pixel))),
        beam_center_y_mm=float(_num(rng.uniform(0, spixels * pixel))),
        adxv_center_x=0, adxv_center_y=0, mosflm_center_x=0, mosflm_center_y=0,
        denzo_x_beam=0, denzo_y_beam=0, dials_origin=(0.0, 0.0, 0.0), xds_orgx=0, xds_orgy=0,
        close_distance_mm=float(_num(rng.uniform(40, 200))),
        phi_deg=float(_num(rng.uniform(-10, 10))), osc_start_deg=0.0,
        osc_range_deg=float(_num(rng.uniform(0, 2))))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.img"
        write_smv(path, data, fields)
        return path.read_bytes()


Sampler = Callable[[random.Random, Context, str], list[str]]


def _fixed(*values: str) -> Sampler:
    return lambda rng, ctx, name: [name, *values]


def _real(lo: float, hi: float, zero: float = 0.0) -> Sampler:
    """A number in [lo, hi]; with probability ``zero``, exactly 0."""
    return lambda rng, ctx, name: [name, "0" if rng.random() < zero
                                   else _num(rng.uniform(lo, hi))]


def _log(lo: float, hi: float) -> Sampler:
    return lambda rng, ctx, name: [name, _num(10 ** rng.uniform(lo, hi))]


def _count(lo: int, hi: int) -> Sampler:
    return lambda rng, ctx, name: [name, str(rng.randint(lo, hi))]


def _vector(axis: tuple[float, float, float] | None, spread: float = 0.15) -> Sampler:
    def draw(rng: random.Random, ctx: Context, name: str) -> list[str]:
        return [name, *(_unit_vector(rng) if axis is None else _near_axis(rng, axis, spread))]
    return draw


def _misset(rng: random.Random, ctx: Context, name: str) -> list[str]:
    if rng.random() < 0.3:
        # nanoBragg.c also runs -misset's handler on -misset_seed, so the seed goes first
        return ["-misset_seed", str(rng.randint(1, 10**6)), name, "random"]
    return [name, *(_num(rng.uniform(-180, 180)) for _ in range(3))]


def _twotheta_axis(rng: random.Random, ctx: Context, name: str) -> list[str]:
    # nanoBragg.c also runs -twotheta's handler on -twotheta_axis, so -twotheta follows
    return [name, *_unit_vector(rng), "-twotheta", _num(rng.uniform(-20, 20))]


def _polar_vector(rng: random.Random, ctx: Context, name: str) -> list[str]:
    choice = rng.random()
    if choice < 0.2:
        return [name, "1", "0", "0"]  # along the MOSFLM beam
    if choice < 0.5:
        return [name, *rng.choice([["0", "0", "1"], ["0", "1", "0"], ["0", "-1", "0"]])]
    return [name, *_unit_vector(rng)]


def _size_mm(rng: random.Random, ctx: Context, name: str) -> list[str]:
    return [name, _num(rng.uniform(0.1, 12) * 1e-5)]  # 10..1200 Angstrom


def _detsize(rng: random.Random, ctx: Context, name: str) -> list[str]:
    return [name, _num(rng.uniform(0.8, 5))]


def _roi(rng: random.Random, ctx: Context, name: str) -> list[str]:
    x0, x1 = sorted(rng.randrange(ctx.fpixels) for _ in range(2))
    y0, y1 = sorted(rng.randrange(ctx.spixels) for _ in range(2))
    return [name, str(x0), str(x1), str(y0), str(y1)]


def _detector_abs(rng: random.Random, ctx: Context, name: str) -> list[str]:
    return [name, rng.choice(["inf", "0", _num(rng.uniform(20, 1000))])]


def _header_file(mask: bool) -> Sampler:
    """-img or -mask: the file is made once the whole command line is known
    (:func:`_make_header_files`), since a mask must have the detector's final size."""
    def draw(rng: random.Random, ctx: Context, name: str) -> list[str]:
        fname = "mask.img" if mask else "header.img"
        ctx.files[fname] = b""
        return [name, fname]
    return draw


def _last_value(argv: list[str], names: tuple[str, ...]) -> int | None:
    found = [argv[i + 1] for i, token in enumerate(argv[:-1]) if token in names]
    return int(found[-1]) if found else None


def _make_header_files(rng: random.Random, argv: list[str], ctx: Context) -> None:
    """The SMV files of -img and -mask.  Without -detpixels flags the headers' sizes make the
    detector (the -img header's last), so both get one size; a mask has the final size."""
    if not ctx.files:
        return
    size = (rng.randint(8, 40), rng.randint(8, 40))
    fpixels = _last_value(argv, ("-detpixels", "-detpixels_f", "-detpixels_x"))
    spixels = _last_value(argv, ("-detpixels", "-detpixels_s", "-detpixels_y"))
    final = (fpixels or size[0], spixels or size[1])
    for fname in sorted(ctx.files):
        mask = fname == "mask.img"
        ctx.files[fname] = _smv_bytes(rng, *(final if mask or "mask.img" in ctx.files
                                             else size), mask)


def _pivot(rng: random.Random, ctx: Context, name: str) -> list[str]:
    return [name, rng.choice(["beam", "sample"])]


def _hkl(rng: random.Random, ctx: Context, name: str) -> list[str]:
    return [name, rng.choice(["inputs/random20.hkl", "inputs/pattern.hkl"])]


#: flag name -> how to draw it (the tokens, flag name first)
SAMPLERS: dict[str, Sampler] = {
    # crystal
    "-cell": lambda rng, ctx, name: [name, *_cell(rng)],
    "-mat": _fixed("inputs/A.mat"),
    "-misset": _misset,
    "-N": _count(0, 10), "-Na": _count(1, 10), "-Nb": _count(1, 10), "-Nc": _count(1, 10),
    "-xtalsize": _size_mm, "-xtal_thick": _size_mm, "-xtal_width": _size_mm,
    "-xtal_height": _size_mm,
    "-square_xtal": _fixed(), "-round_xtal": _fixed(), "-gauss_xtal": _fixed(),
    "-tophat_spots": _fixed(), "-fudge": _real(0.3, 2.0),
    "-density": _real(0.5, 2), "-MW": _real(1000, 50000),
    # structure factors
    "-hkl": _hkl, "-default_F": _real(1, 500), "-dump": _fixed("other.bin"),
    "-interpolate": _fixed(), "-nointerpolate": _fixed(),
    # beam
    "-lambda": _real(0.6, 3.0), "-energy": _real(4000, 20000), "-fluence": _log(20, 30),
    "-flux": _log(8, 14), "-exposure": _real(0.1, 10), "-beamsize": _real(0.001, 0.2),
    "-polar": _real(0, 1), "-nopolar": _fixed(), "-polar_vector": _polar_vector,
    "-dispersion": _real(0, 5, zero=0.1), "-dispsteps": _count(1, 4),
    "-divergence": _real(0, 2, zero=0.1), "-hdivrange": _real(0, 2, zero=0.1),
    "-vdivrange": _real(0, 2, zero=0.1), "-hdivstep": _real(0.1, 1),
    "-vdivstep": _real(0.1, 1), "-hdivsteps": _count(1, 4), "-vdivsteps": _count(1, 4),
    "-divsteps": _count(1, 4), "-hdiv": _real(0, 1), "-vdiv": _real(0, 1),
    "-dispstep": _count(1, 4), "-round_div": _fixed(), "-square_div": _fixed(),
    "-sourcefile": _fixed("inputs/sources.txt"), "-source_dist": _real(100, 20000),
    "-coherent": _fixed(),
    # detector
    "-detpixels": _count(8, 40), "-detpixels_f": _count(8, 40), "-detpixels_s": _count(8, 40),
    "-detsize": _detsize, "-detsize_f": _detsize, "-detsize_s": _detsize,
    "-detsize_x": _detsize, "-detsize_y": _detsize,
    "-pixel": _real(0.05, 0.3), "-distance": _real(30, 300), "-close_distance": _real(30, 300),
    "-Xbeam": _real(-1, 5), "-Ybeam": _real(-1, 5), "-Xclose": _real(-1, 5),
    "-Yclose": _real(-1, 5), "-ORGX": _real(-5, 45), "-ORGY": _real(-5, 45), "-pivot": _pivot,
    "-mosflm": _fixed(), "-denzo": _fixed(), "-adxv": _fixed(), "-xds": _fixed(),
    "-dials": _fixed(),
    "-fdet_vector": _vector((0, 0, 1)), "-sdet_vector": _vector((0, -1, 0)),
    "-odet_vector": _vector((1, 0, 0)), "-beam_vector": _vector((1, 0, 0)),
    "-spindle_axis": _vector(None), "-twotheta_axis": _twotheta_axis,
    "-pix0_vector": _vector((0.1, 0.002, -0.003), 0.01),
    "-xdet_vector": _vector(None), "-ydet_vector": _vector(None), "-zdet_vector": _vector(None),
    "-detector_rotx": _real(-10, 10), "-detector_roty": _real(-10, 10),
    "-detector_rotz": _real(-10, 10), "-twotheta": _real(-30, 30),
    "-curved_det": _fixed(), "-point_pixel": _fixed(),
    "-detector_abs": _detector_abs, "-detector_thick": _real(10, 500),
    "-detector_thicksteps": _count(1, 4),
    "-img": _header_file(mask=False), "-mask": _header_file(mask=True),
    # spindle, mosaicity
    "-phi": _real(-20, 20, zero=0.3), "-osc": _real(0, 5), "-phistep": _real(0.2, 3),
    "-phisteps": _count(1, 4), "-mosaic": _real(0, 2, zero=0.1), "-mosaic_dom": _count(1, 4),
    "-mosaic_seed": lambda rng, ctx, name: [name, str(rng.randint(-10**6, 10**6))],
    # sampling
    "-oversample": _count(1, 3), "-oversample_omega": _fixed(), "-oversample_polar": _fixed(),
    "-oversample_thick": _fixed(), "-roi": _roi, "-dmin": _real(1, 30),
    "-water": _real(0, 10, zero=0.2),
    # outputs
    "-scale": _log(-1, 3), "-adc": _real(0, 100), "-stolout": _fixed("table.stol"),
}

#: flags never drawn, and why
NOT_DRAWN: dict[str, str] = {
    "-misset_seed": "drawn with -misset random (nanoBragg.c also runs -misset's handler on it)",
    "-seed": "every case sets it (OUTPUTS)",
    "-floatfile": "every case sets it (OUTPUTS)", "-intfile": "every case sets it (OUTPUTS)",
    "-noisefile": "every case sets it (OUTPUTS)", "-nopgm": "every case sets it (OUTPUTS)",
    "-noprogress": "every case sets it (OUTPUTS)",
    "-progress": "the progress meter's lines are not compared",
    "-pgmfile": "-nopgm is set (OUTPUTS)", "-pgmscale": "it also turns the PGM file on",
    "-nonoise": "the noise image is always compared",
    "-stol": "needs an amorphous-scattering table; neither program uses it in the image",
    "-printout": "refused", "-printout_pixel": "refused",
}


def _flag_names(flag: Flag) -> tuple[str, ...]:
    return flag.names


def drawable_flags() -> list[Flag]:
    """The flags of the table that cases are drawn from."""
    return [f for f in FLAGS if f.name in SAMPLERS]


# ----------------------------------------------------------------------------------------
# cases


def _draw_once(rng: random.Random) -> tuple[list[str], Context]:
    shape = rng.random()
    if shape < 0.7:
        n = rng.randint(8, 40)
        ctx = Context(n, n)
        base = [["-detpixels", str(n)]]
    elif shape < 0.85:
        ctx = Context(rng.randint(8, 40), rng.randint(8, 40))
        base = [["-detpixels_f", str(ctx.fpixels)], ["-detpixels_s", str(ctx.spixels)]]
    else:
        pixel = rng.uniform(0.05, 0.3)
        n = rng.randint(8, 40)
        ctx = Context(n, n)
        base = [["-detsize", _num(n * pixel, 6)], ["-pixel", _num(pixel, 6)]]
    crystal = rng.random()
    if crystal < 0.75:
        base.append(["-cell", *_cell(rng)])
    if crystal >= 0.65:
        base.append(["-mat", "inputs/A.mat"])
    if rng.random() < 0.7:
        base.append(["-default_F", _num(rng.uniform(1, 500))])
    else:
        base.append(_hkl(rng, ctx, "-hkl"))
    base.append(["-lambda", _num(rng.uniform(0.6, 3.0))])
    base.append(["-distance", _num(rng.uniform(30, 300))])
    base.append(["-N", str(rng.randint(1, 10))])
    flags = drawable_flags()
    drawn = rng.sample(flags, rng.randint(0, 7))
    groups = base + [SAMPLERS[f.name](rng, ctx, rng.choice(_flag_names(f))) for f in drawn]
    rng.shuffle(groups)
    argv = [t for g in groups for t in g]
    _make_header_files(rng, argv, ctx)
    return argv, ctx


#: what :func:`_prepared` returns for input nbcupy refuses on purpose
ON_PURPOSE = "refused on purpose"


def _prepared(argv: list[str] | tuple[str, ...], files: dict[str, bytes] | tuple) -> object:
    """nbcupy's models of ``argv`` (set up in a folder holding its files), None when nbcupy
    refuses it, or :data:`ON_PURPOSE` when the refusal is one of those README lists
    (:class:`~nbcupy.errors.InputRefused`: input nanoBragg.c silently changes)."""
    from nbcupy.api import prepare
    from nbcupy.errors import InputRefused, NbcupyError
    from nbcupy.nanobragg.flags import parse_flags

    with tempfile.TemporaryDirectory() as folder:
        _populate(Path(folder), files)
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            return prepare(parse_flags(list(argv)).options)[0]
        except InputRefused:
            return ON_PURPOSE
        except NbcupyError:
            return None
        finally:
            os.chdir(cwd)


def _work(argv: list[str], files: dict[str, bytes]) -> float | None:
    """Pixels x steps x layers of ``argv`` as nbcupy sets it up; None if nbcupy refuses it,
    infinite if it refuses it on purpose (so that it is drawn again)."""
    sim = _prepared(argv, files)
    if sim is ON_PURPOSE:
        return math.inf
    if sim is None:
        return None
    det = sim.detector
    fmin, fmax, smin, smax = sim.sampling.roi
    pixels = (min(fmax, det.fpixels - 1) - fmin + 1) * (min(smax, det.spixels - 1) - smin + 1)
    return max(pixels, 1) * sim.steps * det.thicksteps


def known_disagreement(case: Case, folder: Path | None = None) -> str | None:
    """Why ``case`` is expected to disagree with nanoBragg.c, or None: a parity bug already
    filed and not fixed yet, or a difference on purpose (README).  ``folder`` is where
    :func:`run_case` ran it (some reasons need the two images)."""
    if folder is not None:
        a = _float_image(folder / "nanobragg")
        if (a is not None and not np.all(np.isfinite(a))
                and _float_image(folder / "nbcupy") is None):
            return ("on purpose (README): nanoBragg.c writes a non-finite image, nbcupy "
                    "refuses the input")
    sim = _prepared(case.argv, case.files)
    if sim is None or sim is ON_PURPOSE:
        return None
    if sim.crystal.shape == "round" and folder is not None:
        a = _float_image(folder / "nanobragg")
        b = _float_image(folder / "nbcupy")
        if a is not None and b is not None and a.shape == b.shape:
            det = sim.detector
            a = a.reshape(det.spixels, det.fpixels)
            b = b.reshape(det.spixels, det.fpixels)
            bad = np.abs(a - b) > 1e-5 * float(np.abs(a).max())
            # nanoBragg's closed form cancels next to a node, where the spot peaks
            padded = np.pad(b, 1, constant_values=-np.inf)
            neighbours = np.max([padded[1 + i:1 + i + b.shape[0], 1 + j:1 + j + b.shape[1]]
                                 for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j], axis=0)
            if bad.any() and np.all(b[bad] >= neighbours[bad]):
                return ("on purpose (README): nanoBragg's sphere transform cancels next to a "
                        "reciprocal-lattice node (0 or too low there), nbcupy's Taylor series "
                        "does not")
    return None


def draw_case(seed: int, index: int, budget: float = WORK_BUDGET) -> Case:
    """Case ``index`` of the series ``seed`` (the same pair always gives the same case).

    Draws are repeated until one fits the work budget; one that nbcupy refuses is kept (the
    refusal is then what the case reports), except the refusals on purpose that README lists
    (input nanoBragg.c quietly changes; ``tests/test_bad_input.py`` tests each), which are
    drawn again.
    """
    rng = random.Random(f"nbcupy-fuzz-{seed}-{index}")
    for _ in range(MAX_DRAWS):
        argv, ctx = _draw_once(rng)
        work = _work(argv, ctx.files)
        if work is None or work <= budget:
            break
    return Case(seed, index, tuple(argv), tuple(sorted(ctx.files.items())))


# ----------------------------------------------------------------------------------------
# running and comparing


def _populate(folder: Path, files: dict[str, bytes] | tuple) -> None:
    shutil.copytree(INPUTS, folder / "inputs")
    for name, data in dict(files).items():
        (folder / name).write_bytes(data)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    folder: Path


def _run(cmd: list[str], case: Case, folder: Path) -> Run:
    folder.mkdir(parents=True)
    _populate(folder, case.files)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([*cmd, *case.argv, *OUTPUTS], cwd=folder, capture_output=True,
                          text=True, env=env, timeout=600)
    return Run(proc.returncode, proc.stdout, proc.stderr, folder)


def nanobragg_lines(stdout: str) -> list[str]:
    """nanoBragg.c's printout without its banner (nbcupy prints its backend line first
    instead), the addresses it prints when it maps an SMV file, and the interpolation
    warnings it prints while rendering (nbcupy does not print those)."""
    out = []
    for line in stdout.splitlines():
        if line.startswith(("nanoBragg nanocrystal diffraction simulator", "mmap(")):
            continue
        if line.startswith("WARNING: out of range for three point interpolation"):
            continue
        if line.startswith("WARNING: further warnings will not be printed!"):
            line = line.split("!", 1)[1].strip()
            if not line:
                out.append("")  # the blank line nbcupy prints before the solid angle
                continue
        out.append(line)
    return out


def _float_image(folder: Path) -> np.ndarray | None:
    path = folder / "float.bin"
    return np.fromfile(path, "<f4").astype(np.float64) if path.exists() else None


def smv_difference(ref: bytes, got: bytes) -> str | None:
    """How SMV file ``got`` differs from nanoBragg.c's ``ref`` (None: the same).

    Byte for byte, except where nanoBragg's header text outgrows its 512 bytes: nbcupy then
    writes a valid 1024-byte header on purpose, so the header lines and the pixels are
    compared instead.
    """
    if ref == got:
        return None
    ref_text = ref[:ref.index(b"}") + 1] if b"}" in ref else b""
    got_text = got[:got.index(b"}") + 1] if b"}" in got else b""
    overflow = len(ref_text) + 1 > 512  # the header text, its '}' and a form feed
    if not overflow or b"HEADER_BYTES=1024;" not in got_text:
        lines = [(a, b) for a, b in zip(ref_text.split(b";"), got_text.split(b";"), strict=False)
                 if a != b]
        return f"differs (header {lines[:2]})" if lines else "pixels differ"
    if ref_text.split(b";")[1:] != got_text.split(b";")[1:]:
        return "header lines differ"
    if ref[-(len(got) - 1024):] != got[1024:]:
        return "pixels differ"
    return None


def compare(ref: Run, got: Run) -> list[str]:
    """Every disagreement between nanoBragg.c's run ``ref`` and nbcupy's run ``got``."""
    from tests.support import printout_differences

    problems = []
    if got.returncode != 0:
        return [f"nbcupy exit {got.returncode}: {got.stderr.strip()[-300:]}"]
    a, b = _float_image(ref.folder), _float_image(got.folder)
    if a is None or b is None or a.shape != b.shape:
        return [f"float images: {None if a is None else a.shape} vs "
                f"{None if b is None else b.shape}"]
    if not np.all(np.isfinite(b)):
        problems.append(f"{int(np.sum(~np.isfinite(b)))} non-finite pixels")
    scale = float(np.abs(a).max())
    diff = float(np.abs(a - b).max())
    if diff > 1e-5 * scale:
        problems.append(f"max |difference| {diff:.4g} = {diff / scale if scale else math.inf:.3g}"
                        f" x max ({scale:.4g})")
    if a.std() > 0 and b.std() > 0:
        corr = float(np.corrcoef(a, b)[0, 1])
        if not corr >= 0.99999:
            problems.append(f"correlation {corr:.7f}")
    elif a.std() != b.std():
        problems.append(f"one image is flat: std {a.std():.4g} vs {b.std():.4g}")
    for name in ("int.img", "noise.img"):
        x, y = ref.folder / name, got.folder / name
        if x.exists() != y.exists():
            problems.append(f"{name} written by one program only")
        elif x.exists() and (why := smv_difference(x.read_bytes(), y.read_bytes())):
            problems.append(f"{name}: {why}")
    lines = printout_differences(nanobragg_lines(ref.stdout), got.stdout.splitlines()[1:])
    problems += [f"printout {p}" for p in lines[:5]]
    return problems


def run_case(case: Case, folder: Path, nanobragg: str | None = None) -> list[str]:
    """Run ``case`` through nbcupy (and nanoBragg.c when given); the disagreements.

    Without nanoBragg.c, nbcupy must succeed with a finite image.  With it, a case that
    nanoBragg.c itself fails on is skipped (nothing to compare).
    """
    got = _run([sys.executable, "-m", "nbcupy.cli.app"], case, folder / "nbcupy")
    if "Traceback" in got.stderr:
        return ["nbcupy traceback: " + got.stderr.strip().splitlines()[-1]]
    if nanobragg is None:
        if got.returncode != 0:
            return [f"nbcupy exit {got.returncode}: {got.stderr.strip()[-300:]}"]
        img = _float_image(got.folder)
        if img is None or not np.all(np.isfinite(img)):
            return ["no finite float image"]
        return []
    ref = _run([nanobragg], case, folder / "nanobragg")
    if ref.returncode != 0:
        return []
    return compare(ref, got)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the folders of failed cases")
    args = parser.parse_args(argv)
    nanobragg = os.environ.get("NB_C_BIN")
    failed = 0
    for index in range(args.start, args.start + args.cases):
        case = draw_case(args.seed, index)
        folder = Path(tempfile.mkdtemp(prefix=f"fuzz-{args.seed}-{index}-"))
        problems = run_case(case, folder, nanobragg)
        known = known_disagreement(case, folder) if problems else None
        if problems:
            failed += known is None
            print(f"case {args.seed}/{index}: {case.command_line}")
            if known:
                print(f"    known: {known}")
            for p in problems:
                print(f"    {p}")
            if args.keep:
                print(f"    folder: {folder}")
        if not (problems and args.keep):
            shutil.rmtree(folder, ignore_errors=True)
        sys.stdout.flush()
    print(f"{failed} of {args.cases} cases disagree beyond the known bugs (seed {args.seed}, "
          f"{'against ' + nanobragg if nanobragg else 'nbcupy only'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
