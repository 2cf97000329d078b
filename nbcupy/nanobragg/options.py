"""The settings of one nanoBragg-style run, as the user gave them (SI units, radians).

The command line fills an :class:`Options` from nanoBragg's flags (converting mm, Angstrom,
degrees, microns and mrad as it reads them); :func:`nbcupy.nanobragg.build.build_simulation` applies
nanoBragg's defaults and auto-selection rules to turn it into the experiment models.  ``None``
means "not given"; the setup decides the default.

Beyond nanoBragg's flags, the fields set by nbcupy's double-dash options: the structure-factor
inputs ``column`` (``--column LABEL``) and ``model_file`` (``--model FILE``), with
``model_cache_dir`` (the folder of the cached model structure factors; None: the command line
caches next to ``dump_file``, as nanoBragg does ``Fdump.bin``, and the API not at all), and
the outputs written next to nanoBragg's: ``cbf_file``, ``nexus_file`` (photon counts, see
:mod:`nbcupy.io.counts`), ``png_file`` with ``png_brightness`` (percent) and ``png_log``,
``sensor_material`` (``Si``, ``CdTe`` or, NeXus only, ``GaAs``) and ``smv_adc_offset`` (add
``ADC_OFFSET=`` to the SMV headers; off by default, so that they stay nanoBragg's bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Options:
    # crystal
    cell: tuple[float, ...] | None = None  # a b c (Angstrom), alpha beta gamma (rad)
    matrix_file: str | None = None
    misset: tuple[float, float, float] | None = None  # rad
    misset_random: bool = False
    na: float = 1.0
    nb: float = 1.0
    nc: float = 1.0
    sample_x: float = 0.0  # crystal size along a, b, c (m); 0 = use N
    sample_y: float = 0.0
    sample_z: float = 0.0
    xtal_shape: str = "square"
    fudge: float = 1.0
    # structure factors
    hkl_file: str | None = None
    default_F: float = 0.0
    dump_file: str = "Fdump.bin"
    interpolate: bool | None = None
    column: str | None = None  # --column: amplitude/intensity column of an MTZ/mmCIF -hkl
    model_file: str | None = None  # --model: PDB/mmCIF coordinates, F computed with gemmi
    model_cache_dir: str | None = None  # folder of the --model cache (None: see build.py)
    # beam
    wavelength: float | None = None  # m
    fluence: float | None = None  # photons/m^2
    flux: float = 0.0  # photons/s
    exposure: float = 1.0  # s
    beamsize: float = 1e-4  # m
    kahn_factor: float = 0.0
    nopolar: bool = False
    dispersion: float = 0.0  # fraction (delta lambda / lambda)
    dispsteps: int = -1
    hdivrange: float = -1.0  # rad
    vdivrange: float = -1.0
    hdivstep: float = -1.0
    vdivstep: float = -1.0
    hdivsteps: int = -1
    vdivsteps: int = -1
    round_div: bool = True
    source_file: str | None = None
    source_distance: float = 10.0  # m
    # detector
    convention: str = "mosflm"
    pivot: str = "beam"
    fpixels: int = 0
    spixels: int = 0
    detsize_f: float = 102.4e-3  # m
    detsize_s: float = 102.4e-3
    pixel_size: float = 0.1e-3  # m
    distance: float = 100.0e-3  # m
    close_distance: float | None = None  # m
    xbeam: float | None = None  # m
    ybeam: float | None = None
    xclose: float | None = None
    yclose: float | None = None
    orgx: float | None = None  # pixels
    orgy: float | None = None
    vectors: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    detector_rotx: float = 0.0  # rad
    detector_roty: float = 0.0
    detector_rotz: float = 0.0
    twotheta: float = 0.0  # rad
    curved_detector: bool = False
    point_pixel: bool = False
    detector_mu: float = -1.0  # 1/m; 0 = no absorption
    detector_thick: float = 0.0  # m
    detector_thicksteps: int = -1
    # scan and mosaic
    phi0: float = 0.0  # rad
    osc: float = -1.0
    phistep: float = -1.0
    phisteps: int = -1
    mosaic_spread: float = -1.0  # rad
    mosaic_domains: int = -1
    # sampling
    oversample: int = -1
    oversample_omega: bool = False
    oversample_polar: bool = False
    oversample_thick: bool = False
    roi: tuple[int, int, int, int] | None = None
    dmin: float = 0.0  # m
    water_size: float = 0.0  # m
    mask_file: str | None = None
    mask_pixels: Any = None  # (spixels, fpixels) bool from -mask, True where rendered
    img_file: str | None = None
    # randomness (nanoBragg's internal seeds: minus the command-line values)
    seed: int | None = None
    mosaic_seed: int = -12345678
    misset_seed: int | None = None
    # outputs
    floatfile: str = "floatimage.bin"
    intfile: str = "intimage.img"
    pgmfile: str = "image.pgm"
    noisefile: str = "noiseimage.img"
    write_pgm: bool = True
    calculate_noise: bool = True
    intfile_scale: float = 0.0
    pgm_scale: float = 0.0
    adc_offset: float = 40.0
    smv_adc_offset: bool = False  # --smv-adc-offset: ADC_OFFSET=<adc> in the SMV headers
    # nbcupy's own outputs (photon counts / preview; see nbcupy.io.counts)
    cbf_file: str | None = None  # --cbf: miniCBF, int32 counts
    nexus_file: str | None = None  # --nexus: NeXus NXmx (HDF5), int32 counts
    png_file: str | None = None  # --png: 8-bit greyscale preview
    png_brightness: float = 100.0  # --png-brightness: percent, as DIALS' image viewer
    png_log: bool = False  # --png-log: grey levels of log(1 + value)
    sensor_material: str = "Si"  # --sensor-material: named in the CBF/NeXus headers
    progress: bool = True
    # reproduce nanoBragg's known defects (False) or use the corrected physics (True)
    corrected: bool = False
