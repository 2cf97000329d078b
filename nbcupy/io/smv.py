"""SMV (ADSC) images as written and read by nanoBragg.

nanoBragg writes ``-intfile`` and ``-noisefile`` as a 512-byte ASCII header
followed by ``fpixels*spixels`` unsigned 16-bit pixels, fast index fastest.
The header lists fixed keys in a fixed order with C ``%g`` numbers, e.g.::

    {
    HEADER_BYTES=512;
    ...
    DIALS_ORIGIN=-3.3,3.3,-100        <- the only line without ';'
    ...
    BEAMLINE=fake;
    }<form feed><spaces up to byte 512>

:func:`smv_header` reproduces it byte for byte from an
:class:`SMVHeaderFields`; :meth:`SMVHeaderFields.from_detector` computes those
numbers from nanoBragg's detector quantities with the same floating-point
expressions nanoBragg uses, so the ``%g`` strings come out identical.

One deliberate difference: when the ``%g`` numbers are long enough to push
the text past 512 bytes (it happens with realistic fractional beam centres),
nanoBragg writes a longer, unpadded header that still claims
``HEADER_BYTES=512``, i.e. a corrupt file. By default this module then
writes a valid 1024-byte header instead; ``overflow="nanobragg"`` gives
nanoBragg's bytes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbcupy.errors import InputError
from nbcupy.io.atomic import atomic_write
from nbcupy.io.sourcefile import c_atof

__all__ = [
    "HEADER_BYTES",
    "SMVHeaderFields",
    "SMVImage",
    "c_g",
    "smv_header",
    "smv_bytes",
    "write_smv",
    "read_smv",
]

HEADER_BYTES = 512
#: nanoBragg's radians-to-degrees factor, ``180.0*M_1_PI``
RTD = 180.0 * 0.318309886183790671537767526745028724


def c_g(x: float) -> str:
    """Format ``x`` like C's ``printf("%g")`` (glibc), including ``-nan``."""
    x = float(x)
    if math.isnan(x):
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    return "%g" % x  # noqa: UP031  (printf semantics on purpose)


@dataclass(frozen=True)
class SMVHeaderFields:
    """The numbers nanoBragg puts in an SMV header, as written (mm, deg, px).

    Each field is the final value printed with ``%g`` under the key shown.
    ``from_detector`` documents which nanoBragg quantity each one comes from.

    * ``fpixels``, ``spixels``: SIZE1 / SIZE2, detector pixels along the fast
      and slow axes.
    * ``pixel_size_mm``: PIXEL_SIZE. ``distance_mm``: DISTANCE.
      ``wavelength_A``: WAVELENGTH (Angstrom).
    * ``beam_center_x_mm``, ``beam_center_y_mm``: BEAM_CENTER_X/Y (the
      user-convention Xbeam, Ybeam).
    * ``adxv_center_x``, ``adxv_center_y``: ADXV_CENTER_X/Y (mm).
    * ``mosflm_center_x``, ``mosflm_center_y``: MOSFLM_CENTER_X/Y (mm).
    * ``denzo_x_beam``, ``denzo_y_beam``: DENZO_X_BEAM / DENZO_Y_BEAM (mm).
    * ``dials_origin``: DIALS_ORIGIN, three components in mm.
    * ``xds_orgx``, ``xds_orgy``: XDS_ORGX/ORGY (pixels).
    * ``close_distance_mm``: CLOSE_DISTANCE.
    * ``phi_deg``, ``osc_start_deg``, ``osc_range_deg``: PHI, OSC_START,
      OSC_RANGE. ``twotheta_deg``: TWOTHETA.
    """

    fpixels: int
    spixels: int
    pixel_size_mm: float
    distance_mm: float
    wavelength_A: float
    beam_center_x_mm: float
    beam_center_y_mm: float
    adxv_center_x: float
    adxv_center_y: float
    mosflm_center_x: float
    mosflm_center_y: float
    denzo_x_beam: float
    denzo_y_beam: float
    dials_origin: tuple[float, float, float]
    xds_orgx: float
    xds_orgy: float
    close_distance_mm: float
    phi_deg: float = 0.0
    osc_start_deg: float = 0.0
    osc_range_deg: float = 0.0
    twotheta_deg: float = 0.0

    @classmethod
    def from_detector(
        cls,
        *,
        fpixels: int,
        spixels: int,
        pixel_size_m: float,
        distance_m: float,
        lambda0_m: float,
        xbeam_m: float,
        ybeam_m: float,
        fbeam_m: float,
        sbeam_m: float,
        detsize_s_m: float,
        dials_origin_mm: tuple[float, float, float],
        orgx_px: float,
        orgy_px: float,
        close_distance_m: float,
        phi0_rad: float = 0.0,
        osc_rad: float = 0.0,
        twotheta_rad: float = 0.0,
        noise_image: bool = False,
    ) -> SMVHeaderFields:
        """Header numbers from nanoBragg's final detector geometry.

        Inputs are nanoBragg's variables after its geometry set-up (metres,
        radians): ``distance_m`` is the sample-to-beam-spot distance along the
        beam (``close_distance/ratio``), ``close_distance_m`` the distance of
        the detector plane along its normal, ``xbeam_m``/``ybeam_m`` the beam
        centre as given in the user's convention, ``fbeam_m``/``sbeam_m`` the
        direct-beam position along the fast/slow axes from pixel (0,0)'s
        corner, ``detsize_s_m`` the slow-axis detector size, ``orgx_px``,
        ``orgy_px`` the XDS origin in pixels and ``dials_origin_mm`` the DIALS
        origin in mm. The expressions (evaluated in the same order as in
        nanoBragg, so the last bits agree) are:

        * ADXV_CENTER = (Fbeam, detsize_s - Sbeam): beam centre from the
          lower-left corner, ADXV style.
        * MOSFLM_CENTER = (Sbeam - pixel/2, Fbeam - pixel/2): slow/fast
          swapped, measured from the first pixel's centre.
        * DENZO_X/Y_BEAM = (Sbeam, Fbeam); nanoBragg writes ``S - 0.0*pixel``
          in the int image and ``S + 0.0*pixel`` in the noise image, which
          differ only for a beam centre of exactly -0.0 (``noise_image``
          selects the latter).
        * PHI and OSC_START are both ``phi0``; OSC_RANGE is ``osc``.
        """
        pix = pixel_size_m
        if noise_image:
            denzo_x, denzo_y = sbeam_m + 0.0 * pix, fbeam_m + 0.0 * pix
        else:
            denzo_x, denzo_y = sbeam_m - 0.0 * pix, fbeam_m - 0.0 * pix
        return cls(
            fpixels=int(fpixels),
            spixels=int(spixels),
            pixel_size_mm=pix * 1000.0,
            distance_mm=distance_m * 1000.0,
            wavelength_A=lambda0_m * 1e10,
            beam_center_x_mm=xbeam_m * 1000.0,
            beam_center_y_mm=ybeam_m * 1000.0,
            adxv_center_x=fbeam_m * 1000.0,
            adxv_center_y=(detsize_s_m - sbeam_m) * 1000.0,
            mosflm_center_x=(sbeam_m - 0.5 * pix) * 1000.0,
            mosflm_center_y=(fbeam_m - 0.5 * pix) * 1000.0,
            denzo_x_beam=denzo_x * 1000.0,
            denzo_y_beam=denzo_y * 1000.0,
            dials_origin=(
                float(dials_origin_mm[0]),
                float(dials_origin_mm[1]),
                float(dials_origin_mm[2]),
            ),
            xds_orgx=float(orgx_px),
            xds_orgy=float(orgy_px),
            close_distance_mm=close_distance_m * 1000.0,
            phi_deg=phi0_rad * RTD,
            osc_start_deg=phi0_rad * RTD,
            osc_range_deg=osc_rad * RTD,
            twotheta_deg=twotheta_rad * RTD,
        )

    @classmethod
    def from_simulation(cls, sim: Any, noise_image: bool = False) -> SMVHeaderFields:
        """Header numbers of an image of ``sim`` (a :class:`nbcupy.models.Simulation`):
        :meth:`from_detector` with its detector, wavelength and spindle."""
        det = sim.detector
        return cls.from_detector(
            fpixels=det.fpixels, spixels=det.spixels, pixel_size_m=det.pixel_size,
            distance_m=det.distance, lambda0_m=sim.beam.wavelength, xbeam_m=det.xbeam,
            ybeam_m=det.ybeam, fbeam_m=det.fbeam, sbeam_m=det.sbeam, detsize_s_m=det.size_s,
            dials_origin_mm=det.dials_origin, orgx_px=det.orgx, orgy_px=det.orgy,
            close_distance_m=det.close_distance, phi0_rad=sim.scan.phi0,
            osc_rad=sim.scan.osc, twotheta_rad=det.twotheta, noise_image=noise_image)


def smv_header(
    values: SMVHeaderFields | dict,
    byte_order: str = "little_endian",
    overflow: str = "extend",
) -> bytes:
    """The SMV header nanoBragg writes for the given numbers.

    ``values`` may also be a dict of :class:`SMVHeaderFields` field names.
    ``byte_order`` is the BYTE_ORDER text (nanoBragg writes the machine's,
    ``little_endian`` on x86/ARM).

    The result is nanoBragg's 512-byte header whenever the text fits, which
    it does for most geometries. With long ``%g`` numbers (fractional beam
    centres, a twotheta, an oscillation...) the text can exceed 512 bytes;
    nanoBragg then writes it unpadded but still says ``HEADER_BYTES=512``,
    so its pixels start after byte 512 and every reader misplaces them.
    ``overflow`` chooses what to do then: ``"extend"`` (default) writes a
    valid header with HEADER_BYTES the next multiple of 512 and pads to it;
    ``"nanobragg"`` returns nanoBragg's bytes unchanged (unpadded, claiming
    512); ``"error"`` raises ValueError.
    """
    if overflow not in ("extend", "nanobragg", "error"):
        raise ValueError(f"overflow must be 'extend', 'nanobragg' or 'error', not {overflow!r}")
    v = values if isinstance(values, SMVHeaderFields) else SMVHeaderFields(**values)
    d = v.dials_origin

    def render(header_bytes: int) -> bytes:
        return (
            "{\n"
            f"HEADER_BYTES={header_bytes};\n"
            "DIM=2;\n"
            f"BYTE_ORDER={byte_order};\n"
            "TYPE=unsigned_short;\n"
            f"SIZE1={int(v.fpixels)};\n"
            f"SIZE2={int(v.spixels)};\n"
            f"PIXEL_SIZE={c_g(v.pixel_size_mm)};\n"
            f"DISTANCE={c_g(v.distance_mm)};\n"
            f"WAVELENGTH={c_g(v.wavelength_A)};\n"
            f"BEAM_CENTER_X={c_g(v.beam_center_x_mm)};\n"
            f"BEAM_CENTER_Y={c_g(v.beam_center_y_mm)};\n"
            f"ADXV_CENTER_X={c_g(v.adxv_center_x)};\n"
            f"ADXV_CENTER_Y={c_g(v.adxv_center_y)};\n"
            f"MOSFLM_CENTER_X={c_g(v.mosflm_center_x)};\n"
            f"MOSFLM_CENTER_Y={c_g(v.mosflm_center_y)};\n"
            f"DENZO_X_BEAM={c_g(v.denzo_x_beam)};\n"
            f"DENZO_Y_BEAM={c_g(v.denzo_y_beam)};\n"
            f"DIALS_ORIGIN={c_g(d[0])},{c_g(d[1])},{c_g(d[2])}\n"
            f"XDS_ORGX={c_g(v.xds_orgx)};\n"
            f"XDS_ORGY={c_g(v.xds_orgy)};\n"
            f"CLOSE_DISTANCE={c_g(v.close_distance_mm)};\n"
            f"PHI={c_g(v.phi_deg)};\n"
            f"OSC_START={c_g(v.osc_start_deg)};\n"
            f"OSC_RANGE={c_g(v.osc_range_deg)};\n"
            f"TWOTHETA={c_g(v.twotheta_deg)};\n"
            "DETECTOR_SN=000;\n"
            "BEAMLINE=fake;\n"
            "}\f"
        ).encode("ascii")

    text = render(HEADER_BYTES)
    if len(text) <= HEADER_BYTES or overflow == "nanobragg":
        return text.ljust(HEADER_BYTES, b" ")
    if overflow == "error":
        raise ValueError(f"SMV header text is {len(text)} bytes, more than {HEADER_BYTES}")
    size = HEADER_BYTES
    while len(text) > size:
        size += HEADER_BYTES
        text = render(size)
    return text.ljust(size, b" ")


def smv_bytes(
    image_uint16: np.ndarray,
    header_fields: SMVHeaderFields | dict,
    overflow: str = "extend",
) -> bytes:
    """Header plus little-endian uint16 pixels of shape (spixels, fpixels).

    ``overflow``: see :func:`smv_header`.
    """
    v = (
        header_fields
        if isinstance(header_fields, SMVHeaderFields)
        else SMVHeaderFields(**header_fields)
    )
    img = np.asarray(image_uint16)
    if img.shape != (v.spixels, v.fpixels):
        raise ValueError(
            f"image shape {img.shape} does not match (spixels, fpixels) = "
            f"({v.spixels}, {v.fpixels})"
        )
    if img.dtype != np.uint16:
        raise ValueError(f"SMV images hold uint16 pixels, got {img.dtype}")
    return smv_header(v, overflow=overflow) + np.ascontiguousarray(img, dtype="<u2").tobytes()


def write_smv(
    path: str | os.PathLike[str],
    image_uint16: np.ndarray,
    header_fields: SMVHeaderFields | dict,
    overflow: str = "extend",
) -> None:
    """Write an SMV image as nanoBragg does, atomically.

    ``image_uint16`` has shape (spixels, fpixels), fast index fastest. The
    bytes equal nanoBragg's unless the header text is longer than 512 bytes
    (see ``overflow`` in :func:`smv_header`).
    """
    atomic_write(path, smv_bytes(image_uint16, header_fields, overflow))


@dataclass(frozen=True)
class SMVImage:
    """An SMV image read from disk.

    ``header``: the full header text (``header_bytes`` characters, latin-1);
    ``fields``: KEY -> value string for each ``KEY=value`` between ``{`` and
    ``}`` (the last occurrence wins, as in nanoBragg); ``width`` (SIZE1,
    fast axis) and ``height`` (SIZE2, slow axis) in pixels; ``data``: native
    uint16 array of shape (height, width).
    """

    header: str
    fields: dict[str, str]
    width: int
    height: int
    byte_order: str
    header_bytes: int
    data: np.ndarray = field(repr=False)

    def value(self, key: str) -> float | None:
        """Number stored under ``key`` (C ``atof`` of its text), or None if absent.

        Unlike nanoBragg, which finds the key as a substring anywhere in the
        header, the key must match a whole ``KEY=`` entry.
        """
        text = self.fields.get(key)
        return None if text is None else c_atof(text)

    def value_of(self, key: str) -> float:
        """nanoBragg's own header lookup (its ``ValueOf``), quirks included.

        Finds the *last* occurrence of ``key`` as a substring anywhere in the
        header and converts the text after the next ``=`` with ``atof``;
        NaN when ``key`` does not occur, 0.0 when no ``=`` follows. So
        ``"ORGX"`` finds ``XDS_ORGX=`` and, in nanoBragg's own headers,
        ``"DISTANCE"`` finds ``CLOSE_DISTANCE=`` (it comes later).
        """
        text = self.header.split("\0", 1)[0]
        pos = -1
        start = 0
        while key:
            j = text.find(key, start)
            if j < 0:
                break
            pos = start = j + len(key)
        if pos < 0:
            return math.nan
        eq = text.find("=", pos)
        return 0.0 if eq < 0 else c_atof(text[eq + 1 :])


def _parse_fields(header: str) -> dict[str, str]:
    start = header.find("{")
    end = header.find("}", start + 1)
    body = header[start + 1 : end if end >= 0 else len(header)]
    fields: dict[str, str] = {}
    for line in body.splitlines():
        for item in line.split(";"):
            key, eq, val = item.partition("=")
            key = key.strip()
            if eq and key:
                fields[key] = val.strip()
    return fields


def read_smv(path: str | os.PathLike[str], option: str | None = None) -> SMVImage:
    """Read an SMV (ADSC) image with unsigned 16-bit pixels.

    The header size comes from HEADER_BYTES, the byte order from BYTE_ORDER
    (pixels are byte-swapped to native order as needed), the shape from
    SIZE1 x SIZE2 (or DETECTOR_DIMENSIONS when SIZE1 is absent or 0, as in
    nanoBragg). Bytes after the last pixel are ignored. ``option`` (e.g.
    ``"-mask"``) labels error messages. Raises InputError for a missing file,
    a file that is not SMV, an unsupported pixel type or truncated data.
    """
    name = os.fspath(path)
    label = f"{option} {name}" if option else f"SMV image {name}"
    try:
        with open(name, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise InputError(f"{label}: cannot read file: {exc.strerror or exc}") from exc
    head = raw[:HEADER_BYTES].decode("latin-1")
    if not head.startswith("{") or "HEADER_BYTES" not in _parse_fields(head):
        raise InputError(f"{label}: not an SMV image (no '{{ HEADER_BYTES=' header)")
    size = c_atof(_parse_fields(head)["HEADER_BYTES"])
    if not (math.isfinite(size) and 1 <= size <= len(raw)):
        raise InputError(f"{label}: bad or truncated header (HEADER_BYTES={size:g})")
    nheader = int(size)
    header = raw[:nheader].decode("latin-1")
    fields = _parse_fields(header)

    order = fields.get("BYTE_ORDER", "little_endian")
    if order.startswith("little"):
        dtype = np.dtype("<u2")
    elif order.startswith("big"):
        dtype = np.dtype(">u2")
    else:
        raise InputError(f"{label}: unknown BYTE_ORDER={order!r}")
    ptype = fields.get("TYPE", "unsigned_short")
    if ptype != "unsigned_short":
        raise InputError(f"{label}: unsupported pixel TYPE={ptype!r} (need unsigned_short)")

    def _int(key: str) -> int:
        text = fields.get(key)
        val = 0.0 if text is None else c_atof(text)
        return int(val) if math.isfinite(val) else 0

    width, height = _int("SIZE1"), _int("SIZE2")
    if width == 0:
        width = height = _int("DETECTOR_DIMENSIONS")
    if width <= 0 or height <= 0:
        raise InputError(f"{label}: bad image size SIZE1={width} SIZE2={height}")
    nbytes = 2 * width * height
    if len(raw) < nheader + nbytes:
        raise InputError(
            f"{label}: truncated: {len(raw) - nheader} data bytes, "
            f"{width}x{height} pixels need {nbytes}"
        )
    data = np.frombuffer(raw, dtype=dtype, count=width * height, offset=nheader)
    data = data.astype(np.uint16).reshape(height, width)
    return SMVImage(
        header=header,
        fields=fields,
        width=width,
        height=height,
        byte_order=order,
        header_bytes=nheader,
        data=data,
    )
