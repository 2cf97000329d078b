"""Bit-exact re-implementation of nanoBragg's random numbers.

nanoBragg draws all of its random numbers from the Numerical Recipes generator
``ran1``: the Park-Miller "minimal standard" multiplicative congruential generator
(multiplier 16807, modulus 2**31 - 1, evaluated with Schrage's trick) whose output is
passed through a 32-slot Bays-Durham shuffle table.  The uniform deviate is returned as a
C ``float``.  Gaussian deviates (``gaussdev``, polar Box-Muller), Poisson deviates
(``poidev``), random rotation matrices (``mosaic_rotation_umat``) and random unit vectors
(``uniform3Ddev``) are built on top of it.

Things that matter for reproducing the C program exactly
--------------------------------------------------------
* The shuffle table and its "last output" word ``iy`` are process-wide in C (function
  statics).  Every stream (misset, mosaic, noise) shares ONE table; each stream only owns
  its LCG word ``idum``.  Here the shared state lives in :class:`NanoBraggRandom` and each
  stream's ``idum`` in a :class:`SeedStream`.
* The table is (re)built whenever a draw is requested with ``idum <= 0`` or while the table
  has never been built (``iy == 0``).  While building, a non-positive ``idum`` is replaced by
  ``-idum`` and a positive one by ``1`` (the test is ``-idum < 1``).  nanoBragg stores seeds as
  minus the command-line value, so ``-seed 7`` gives ``idum = -7`` and a fresh table, whereas a
  *negative* command-line seed gives a positive ``idum`` that silently reuses whatever table the
  previous stream left behind.
* ``gaussdev`` keeps a spare deviate between calls and ``poidev`` caches per-mean constants;
  both are process-wide too and are kept on :class:`NanoBraggRandom`.  The spare deviate is
  observable (it is shared by every caller of ``gaussdev``); the ``poidev`` cache is not, but
  is mirrored anyway.
* Rounding follows gcc on x86-64 (SSE, ``FLT_EVAL_METHOD == 0``, no fused multiply-add):
  ``float op float`` is rounded to single precision, anything involving a ``double`` literal
  or a double libm call (``exp``, ``log``, ``tan``, ``sqrt``, ``sin``, ``cos``) is evaluated in
  double and rounded to single precision only when stored in a ``float``.
  ``mosaic_rotation_umat`` uses the single-precision ``powf``; it is called through ``ctypes``
  from the C maths library when one can be loaded, so the result is the very same bit pattern
  as in the C program (a double ``pow`` rounded to float is the fallback).
* The double-precision libm functions are reached through :mod:`math`, which calls the
  platform C library.  Results are therefore bit-identical to the C program when both use
  the same libm (glibc's ``exp``/``log``/``sin``/``cos``/``tan`` are the same on all recent
  versions); a different libm could, very rarely, change the last bit of an intermediate.

Rounding a double to single precision is done with Veltkamp splitting (multiply by
``2**29 + 1`` and cancel), which, for values inside the normal single-precision range, gives
exactly IEEE round-to-nearest-even -- the same as a C cast -- at a fraction of the cost of
``struct``/NumPy round trips.  Values that may leave that range use :func:`_f32`.
"""

from __future__ import annotations

import math
import struct

import numpy as np

__all__ = [
    "NanoBraggRandom",
    "SeedStream",
    "umat2misset",
    "RAN1_MAX",
]

# --- ran1 constants (Park-Miller minimal standard with Schrage factorisation) -------------
_IA = 16807
_IM = 2147483647  # 2**31 - 1
_AM = 1.0 / _IM
_IQ = 127773  # _IM // _IA
_IR = 2836  # _IM % _IA
_NTAB = 32
_NDIV = 1 + (_IM - 1) // _NTAB  # == 2**26
_NDIV_SHIFT = 26
assert _NDIV == 1 << _NDIV_SHIFT
_RNMX = 1.0 - 1.2e-7  # largest value ran1 may return, as the double used in the comparison

# Split constant for Veltkamp rounding of a double to 24 significant bits.
_SPLIT = 536870913.0  # 2**29 + 1

_F32 = struct.Struct("<f")
_f32_pack = _F32.pack
_f32_unpack = _F32.unpack

_PI = math.pi  # identical to C's M_PI
_THIRD_F = _f32_unpack(_f32_pack(1.0 / 3.0))[0]  # the float exponent passed to powf

# Block size of the vectorised generator used by the bulk Poisson path.
_BLOCK = 1 << 16


def _f32(x: float) -> float:
    """Round a Python float (double) to the nearest IEEE single, as a C ``(float)`` cast.

    Handles the whole double range (overflow to +-inf, subnormals, nan).
    """
    try:
        return _f32_unpack(_f32_pack(x))[0]
    except OverflowError:
        # beyond FLT_MAX: let NumPy decide between FLT_MAX and inf exactly like a cast
        with np.errstate(over="ignore"):
            return float(np.float32(x))


def _f32_normal(x: float) -> float:
    """Fast round-to-float for values known to be 0 or inside the normal float range."""
    c = x * _SPLIT
    return c - (c - x)


RAN1_MAX = _f32(_RNMX)
"""The value ran1 returns instead of anything above ``1 - 1.2e-7`` (a float, 1 - 2**-23)."""


def _load_powf():
    """Return a callable ``powf(float, float) -> float`` from the C maths library if possible.

    The usual library names are tried first: ``ctypes.util.find_library`` runs external
    programs, which costs more than a small simulation."""
    import ctypes

    def candidates():
        yield from ("libm.so.6", "libm.dylib", None)
        import ctypes.util

        found = ctypes.util.find_library("m")
        if found:
            yield found

    for name in candidates():
        try:
            lib = ctypes.CDLL(name)
            fn = lib.powf
        except (OSError, AttributeError, TypeError):
            continue
        fn.restype = ctypes.c_float
        fn.argtypes = [ctypes.c_float, ctypes.c_float]
        return fn
    return None


_C_POWF: object = ...  # loaded on first use: ctypes is only needed for mosaic domains


def _powf(x: float, y: float) -> float:
    """Single-precision power: both arguments are rounded to float first, as in C."""
    global _C_POWF
    if _C_POWF is ...:
        _C_POWF = _load_powf()
    xf = _f32(x)
    yf = _f32(y)
    if _C_POWF is not None:
        return float(_C_POWF(xf, yf))
    try:
        return _f32(math.pow(xf, yf))
    except (ValueError, OverflowError):
        with np.errstate(all="ignore"):
            return float(np.power(np.float32(xf), np.float32(yf)))


def _schrage(idum: int) -> int:
    """One step of the Park-Miller LCG, with C's truncating division (works for idum < 0)."""
    k = idum // _IQ if idum >= 0 else -((-idum) // _IQ)
    idum = _IA * (idum - k * _IQ) - _IR * k
    if idum < 0:
        idum += _IM
    return idum


def _c_floor_f(x: float) -> float:
    """``floor`` of a float value the way gcc inlines it (identity beyond 2**23 and for nan)."""
    if abs(x) < 8388608.0:
        return float(math.floor(x))
    return x


_POW_TABLE: np.ndarray | None = None


def _lcg_powers() -> np.ndarray:
    """int64 array P with P[i] = 16807**(i+1) mod (2**31-1), i < _BLOCK (cached)."""
    global _POW_TABLE
    if _POW_TABLE is None:
        out = np.empty(_BLOCK, dtype=np.int64)
        out[0] = _IA
        k = 1
        while k < _BLOCK:  # doubling: A**(k+i+1) = A**(i+1) * A**k; products < 2**62
            m = min(k, _BLOCK - k)
            out[k:k + m] = (out[:m] * out[k - 1]) % _IM
            k += m
        _POW_TABLE = out
    return _POW_TABLE


def _direct_thresholds(xm: np.ndarray) -> list[float]:
    """poidev's direct-method threshold ``float(exp(-xm))`` for every float32 mean, as floats.

    Vectorised with NumPy's exp; wherever a tiny difference between NumPy's and the C
    library's ``exp`` could change the rounding to float, the value is recomputed with
    :func:`math.exp` (the C library).  Means <= 0 get 1.0 (any threshold >= 1 gives the same
    result), means >= 12 or nan get an unused placeholder.
    """
    x = xm.astype(np.float64)
    direct = (x > 0.0) & (x < 12.0)
    e = np.exp(-np.where(direct, x, 0.0))
    g = e.astype(np.float32)
    lo = (e * (1.0 - 2.0**-36)).astype(np.float32)
    hi = (e * (1.0 + 2.0**-36)).astype(np.float32)
    out = g.astype(np.float64)
    for k in np.flatnonzero((lo != hi) & direct).tolist():
        out[k] = _f32(math.exp(-float(x[k])))
    out[~direct] = 1.0
    return out.tolist()


class SeedStream:
    """Mutable holder of one random stream's LCG word, nanoBragg's ``long idum``.

    ``idum`` is nanoBragg's *internal* value, i.e. minus the command-line argument
    (``-seed 7`` -> ``SeedStream(-7)``; the default mosaic seed is ``SeedStream(-12345678)``).
    A non-positive value makes the next draw rebuild the shared shuffle table.

    Values are limited to the range a C ``int`` negation can produce (|idum| <= 2**31), which
    covers every value nanoBragg can create from ``atoi``.
    """

    __slots__ = ("idum",)

    def __init__(self, idum: int):
        idum = int(idum)
        if not -(2**31) <= idum <= 2**31:
            raise ValueError(f"idum {idum} is outside the range nanoBragg can produce")
        self.idum = idum

    def __repr__(self) -> str:
        return f"SeedStream({self.idum})"


class _Cursor:
    """Reads uniforms from a list of pre-computed ran1 values (bulk Poisson path)."""

    __slots__ = ("u", "p")

    def __init__(self, u, p):
        self.u = u
        self.p = p

    def next(self) -> float:
        v = self.u[self.p]
        self.p += 1
        return v


class NanoBraggRandom:
    """nanoBragg's shared generator state (ran1 shuffle table, gaussdev and poidev statics).

    One instance stands for one run of the C program: every stream drawn through it shares
    the shuffle table exactly like the C function statics.  All deviates are returned as
    Python floats holding the exact value of the C ``float``.
    """

    def __init__(self) -> None:
        self._iy = 0  # last table output; 0 means "table never built"
        self._iv = [0] * _NTAB  # the Bays-Durham shuffle table
        # gaussdev statics
        self._iset = 0
        self._gset = 0.0
        # poidev statics (cached per-mean constants); oldm starts at -1 as in C
        self._oldm = -1.0
        self._sq = 0.0
        self._alxm = 0.0
        self._g = 0.0

    # ------------------------------------------------------------------ state helpers
    def state(self) -> tuple:
        """Snapshot of the shared state (for tests / checkpointing)."""
        return (self._iy, tuple(self._iv), self._iset, self._gset,
                self._oldm, self._sq, self._alxm, self._g)

    def _raw_step(self, stream: SeedStream) -> int:
        """One ran1 call on integers; returns the table word selected (``iy``)."""
        idum = stream.idum
        iv = self._iv
        if idum <= 0 or self._iy == 0:
            # (re)build the shuffle table; zero or positive idum turns into 1
            idum = 1 if -idum < 1 else -idum
            for j in range(_NTAB + 7, -1, -1):
                idum = _schrage(idum)
                if j < _NTAB:
                    iv[j] = idum
            self._iy = iv[0]
        idum = _schrage(idum)
        j = self._iy // _NDIV
        self._iy = iv[j]
        iv[j] = idum
        stream.idum = idum
        return self._iy

    def _is_steady(self, stream: SeedStream) -> bool:
        """True when the next draws need no table rebuild and idum is a proper LCG state."""
        return (0 < stream.idum < _IM and 0 < self._iy < _IM
                and min(self._iv) > 0 and max(self._iv) < _IM)

    def _raw_block(self, stream: SeedStream, n: int) -> list[int]:
        """Advance ``stream`` by ``n`` ran1 calls, returning the selected table words.

        In the steady state the LCG part is computed vectorised by jumping ahead
        (``idum * 16807**i mod (2**31-1)``); only the table shuffle runs in Python.
        """
        out: list[int] = []
        while len(out) < n and not self._is_steady(stream):
            out.append(self._raw_step(stream))
        m = n - len(out)
        if m <= 0:
            return out
        pw = _lcg_powers()
        while m > 0:
            step = min(m, _BLOCK)
            xs = ((stream.idum * pw[:step]) % _IM).tolist()
            iy = self._iy
            iv = self._iv
            app = out.append
            for x in xs:
                j = iy >> _NDIV_SHIFT
                iy = iv[j]
                iv[j] = x
                app(iy)
            self._iy = iy
            stream.idum = xs[-1]
            m -= step
        return out

    @staticmethod
    def _words_to_uniforms(words: list[int]) -> list[float]:
        """Map selected table words to ran1's float outputs (vectorised)."""
        t = np.fromiter(words, dtype=np.int64, count=len(words)) * _AM
        f = t.astype(np.float32)
        # every float above 1 - 1.2e-7 is >= RAN1_MAX, so the clamp is a plain minimum
        np.minimum(f, np.float32(RAN1_MAX), out=f)
        return f.tolist()

    @staticmethod
    def _word_to_uniform(iy: int) -> float:
        t = _f32_normal(_AM * iy)
        return RAN1_MAX if t > _RNMX else t

    # ------------------------------------------------------------------ deviates
    def ran1(self, stream: SeedStream) -> float:
        """Uniform deviate in (0, 1), the exact value of nanoBragg's ``float ran1(&idum)``.

        The largest value returned is ``RAN1_MAX`` (1 - 2**-23).  Advances ``stream.idum``
        and the shared shuffle table.
        """
        return self._word_to_uniform(self._raw_step(stream))

    def ran1_array(self, n: int, stream: SeedStream) -> np.ndarray:
        """``n`` consecutive ran1 values as a float32 array (same state changes as n calls)."""
        words = self._raw_block(stream, int(n))
        return np.asarray(self._words_to_uniforms(words), dtype=np.float32)

    def _gaussdev_core(self, nxt) -> float:
        if self._iset == 0:
            while True:
                v1 = _f32(2.0 * nxt() - 1.0)
                v2 = _f32(2.0 * nxt() - 1.0)
                rsq = _f32(_f32(v1 * v1) + _f32(v2 * v2))
                if not (rsq >= 1.0 or rsq == 0.0):
                    break
            fac = _f32(math.sqrt(-2.0 * math.log(rsq) / rsq))
            self._gset = _f32(v1 * fac)
            self._iset = 1
            return _f32(v2 * fac)
        self._iset = 0
        return self._gset

    def gaussdev(self, stream: SeedStream) -> float:
        """Unit-variance normal deviate (polar Box-Muller), as nanoBragg's ``gaussdev``.

        Deviates come in pairs: every second call returns the stored spare without drawing.
        The spare is shared by all streams (a C static).
        """
        return self._gaussdev_core(lambda: self.ran1(stream))

    def _poidev_constants(self, xm: float) -> None:
        """Recompute poidev's cached per-mean constants (C: when ``xm != oldm``)."""
        self._oldm = xm
        if xm < 12.0:
            self._g = _f32(math.exp(-xm)) if xm > -80.0 else math.inf
        else:  # xm >= 12 or nan
            self._sq = _f32(math.sqrt(2.0 * xm))
            self._alxm = _f32(math.log(xm)) if xm == xm else math.nan
            self._g = _f32(_f32(xm * self._alxm) - gammln(xm + 1.0))

    def _poidev_core(self, xm: float, nxt) -> float:
        """poidev for a float mean ``xm``, drawing uniforms from ``nxt()``."""
        if xm > 1.0e6:
            # Gaussian approximation, evaluated in double, rounded on return
            return _f32(xm + math.sqrt(xm) * self._gaussdev_core(nxt))
        if xm != self._oldm:
            self._poidev_constants(xm)
        if xm < 12.0:
            # direct method: multiply uniforms until the product drops to exp(-xm)
            g = self._g
            em = 0
            t = nxt()
            while t > g:
                em += 1
                t = _f32_normal(t * nxt())
            return float(em)
        # rejection method with a Lorentzian comparison function
        sq = self._sq
        alxm = self._alxm
        g = self._g
        while True:
            while True:
                y = _f32(math.tan(_PI * nxt()))
                em = _f32(_f32(sq * y) + xm)
                if not em < 0.0:
                    break
            em = _c_floor_f(em)
            arg = _f32(_f32(_f32(em * alxm) - gammln(em + 1.0)) - g)
            try:
                ex = math.exp(arg)
            except OverflowError:
                ex = math.inf
            t = _f32(0.9 * (1.0 + _f32(y * y)) * ex)
            if not nxt() > t:
                return em

    def poidev(self, xm: float, stream: SeedStream) -> float:
        """Poisson deviate of mean ``xm`` (photons), as nanoBragg's ``float poidev(float xm)``.

        ``xm`` is rounded to float first.  Branches: ``xm > 1e6`` -> ``xm + sqrt(xm)*gaussdev``
        (not an integer); ``xm < 12`` -> direct multiplication of uniforms (always at least one
        draw, so a zero or negative mean still consumes one ran1 value and returns 0);
        otherwise the rejection method with ``gammln``.
        """
        return self._poidev_core(_f32(xm), lambda: self.ran1(stream))

    def poidev_array(self, means, stream: SeedStream) -> np.ndarray:
        """poidev for each mean in ``means`` in order, exactly like repeated calls.

        ``means`` is converted to float32 (1-D, C order).  Returns float64 deviates.  The ran1
        values are generated in vectorised blocks and consumed by a tight Python loop; the
        stream and shared state end exactly as after the equivalent sequence of C calls.
        """
        arr = np.asarray(means, dtype=np.float32).ravel()
        n_pix = arr.size
        if n_pix == 0:
            return np.zeros(0, dtype=np.float64)
        xs = arr.tolist()
        gs = _direct_thresholds(arr)

        # Pre-generated uniforms.  Each block is generated from a snapshot so that the
        # draws left unused at the end can be "given back" by replaying the consumed part.
        snaps: list[tuple] = []  # (absolute index of first draw, idum, iy, iv copy)
        # about 1.5 draws per pixel for dim images; never more than _BLOCK at a time
        block = min(_BLOCK, max(256, 2 * n_pix))
        generated = 0  # absolute number of draws produced so far
        u: list[float] = []
        base = 0  # absolute index of u[0]

        def refill(keep_from: int):
            nonlocal u, base, generated
            snaps.append((generated, stream.idum, self._iy, list(self._iv)))
            words = self._raw_block(stream, block)
            generated += len(words)
            u = u[keep_from:] + self._words_to_uniforms(words)
            base += keep_from
            # only snapshots that can still be the replay start are needed
            while len(snaps) > 1 and snaps[1][0] <= base:
                del snaps[0]

        res: list[float] = []
        app = res.append
        split = _SPLIT
        cur = _Cursor(u, 0)
        slow = self._poidev_core
        p = 0  # index into u of the next unused draw
        it = zip(xs, gs, strict=True)
        xm = 0.0
        while True:
            try:
                for xm, g in it:
                    if xm < 12.0:
                        # direct method, inlined; t stays in the normal float range here
                        t = u[p]
                        if t > g:
                            n = p + 1
                            while True:
                                v = t * u[n]
                                n += 1
                                c = v * split
                                t = c - (c - v)
                                if t <= g:
                                    break
                            app(n - p - 1)
                            p = n
                        else:
                            app(0)
                            p += 1
                    else:
                        # bright (or nan) pixel: generic code reading the same buffer
                        cur.u = u
                        cur.p = p
                        app(slow(xm, cur.next))
                        p = cur.p
                break
            except IndexError:
                # The buffer ran dry inside the current pixel (nothing was recorded for it
                # and p still points at its first draw).  Extend the buffer and redo that
                # pixel with the generic code; the loop then resumes with the next pixel.
                while True:
                    refill(p)
                    p = 0
                    cur.u = u
                    cur.p = 0
                    try:
                        val = slow(xm, cur.next)
                    except IndexError:
                        continue
                    break
                app(val)
                p = cur.p
        # leave the per-mean cache as C would (its content is never observable)
        for last in reversed(xs):
            if not last > 1.0e6:  # the Gaussian branch leaves the cache alone
                if last != self._oldm:
                    self._poidev_constants(last)
                break
        # give back the draws generated but not used
        consumed = base + p
        if consumed != generated:
            for snap in reversed(snaps):
                if snap[0] <= consumed:
                    break
            else:  # pragma: no cover - cannot happen, first snapshot starts at 0
                raise RuntimeError("lost track of the random stream")
            start, stream.idum, self._iy, iv = snap
            self._iv[:] = iv
            self._raw_block(stream, consumed - start)
        return np.asarray(res, dtype=np.float64)

    # ------------------------------------------------------------------ geometry
    def uniform3Ddev(self, stream: SeedStream) -> tuple[float, float, float, float]:
        """Random unit vector ``(dx, dy, dz)`` and the length ``dr`` it had before unitising.

        Mirrors nanoBragg's ``uniform3Ddev``: a point in the cube [-1.05, 1.05]^3 is drawn until
        its length is in [0.01, 1], then divided by that length (all in float).  Unused by the
        simulator itself but part of the library of deviates.
        """
        dr = 0.0
        dx = dy = dz = 0.0
        while dr > 1.0 or dr < 1e-2:
            dx = _f32(2.1 * (self.ran1(stream) - 0.5))
            dy = _f32(2.1 * (self.ran1(stream) - 0.5))
            dz = _f32(2.1 * (self.ran1(stream) - 0.5))
            dr = _f32(math.sqrt(_f32(_f32(_f32(dx * dx) + _f32(dy * dy)) + _f32(dz * dz))))
        return _f32(dx / dr), _f32(dy / dr), _f32(dz / dr), dr

    def mosaic_rotation_umat(self, mosaicity_rad: float, stream: SeedStream) -> np.ndarray:
        """Random rotation matrix on a spherical cap, as nanoBragg's ``mosaic_rotation_umat``.

        ``mosaicity_rad`` is the cap size in radians (the C argument is a ``float``, so it is
        rounded to single precision first); the rotation angle is
        ``float(mosaicity * powf(1 - r3**2, 1/3))`` about a random axis.  Three ran1 values are
        drawn.  Returns a (3, 3) float64 array in C's row-major ``umat[9]`` order.
        """
        mos = _f32(mosaicity_rad)
        r1 = 2.0 * self.ran1(stream) - 1.0
        r2 = 2.0 * self.ran1(stream) - 1.0
        r3 = 2.0 * self.ran1(stream) - 1.0
        xyrad = math.sqrt(1.0 - r2 * r2)
        rot = _f32(mos * _powf(1.0 - r3 * r3, _THIRD_F))
        v1 = xyrad * math.sin(_PI * r1)
        v2 = xyrad * math.cos(_PI * r1)
        v3 = r2
        c = math.cos(rot)
        s = math.sin(rot)
        omc = 1.0 - c
        a = omc * v1
        ab = a * v2
        s3 = s * v3
        a3 = a * v3
        s2 = s * v2
        bc = omc * v2 * v3
        s1 = s * v1
        return np.array(
            [
                [c + omc * (v1 * v1), ab - s3, a3 + s2],
                [ab + s3, c + omc * (v2 * v2), bc - s1],
                [a3 - s2, bc + s1, c + omc * (v3 * v3)],
            ],
            dtype=np.float64,
        )

    def mosaic_umats(self, spread_rad: float, n_domains: int, stream: SeedStream) -> np.ndarray:
        """The ``n_domains`` mosaic-domain rotations, (n, 3, 3) float64.

        ``spread_rad`` is nanoBragg's ``mosaic_spread`` in radians (``-mosaic`` degrees divided
        by 57.29577951308232).  Every domain draws three numbers from ``stream``; domain 0 is
        then overwritten by the identity, as nanoBragg does (its draws are still consumed).
        """
        n = int(n_domains)
        out = np.empty((max(n, 0), 3, 3), dtype=np.float64)
        for k in range(n):
            out[k] = self.mosaic_rotation_umat(spread_rad, stream)
            if k == 0:
                out[0] = np.eye(3)
        return out

    def random_misset(self, stream: SeedStream) -> tuple[np.ndarray, tuple[float, float, float]]:
        """nanoBragg's ``-misset random``: a rotation and its misset angles (radians).

        nanoBragg calls ``mosaic_rotation_umat(90.0, ...)`` here; the comment in the C says
        "90 deg is a full sphere", but the argument is used as *radians*, so the rotation
        angle is 90 * (1 - r3**2)**(1/3) radians.  This is reproduced as is.  Returns
        ``(umat, (rotx, roty, rotz))`` with ``umat`` (3, 3) row-major.
        """
        umat = self.mosaic_rotation_umat(90.0, stream)
        return umat, umat2misset(umat)


def gammln(xx: float) -> float:
    """ln(Gamma(xx)) by the Lanczos series, as nanoBragg's ``float gammln(float xx)``.

    The argument is rounded to float, the series is evaluated in double and the result is
    rounded to float.
    """
    x = _f32(xx)
    y = x
    tmp = x + 5.5
    tmp -= (x + 0.5) * math.log(tmp)
    ser = 1.000000000190015
    for c in _LANCZOS:
        y += 1.0
        ser += c / y
    return _f32(-tmp + math.log(2.5066282746310005 * ser / x))


_LANCZOS = (
    76.18009172947146,
    -86.50532032941677,
    24.01409824083091,
    -1.231739572450155,
    0.1208650973866179e-2,
    -0.5395239384953e-5,
)


def _normalised(a: float, b: float, c: float) -> tuple[float, float, float, float]:
    """A matrix row divided by its length (left alone when zero), and the length."""
    m = math.sqrt(a * a + b * b + c * c)
    if m > 0:
        return a / m, b / m, c / m, m
    return a, b, c, m


def umat2misset(umat: np.ndarray) -> tuple[float, float, float]:
    """Misset angles ``(rotx, roty, rotz)`` in radians of a rotation matrix.

    Port of nanoBragg's ``umat2misset`` (all double precision): rows are normalised, a
    missing (zero) row is replaced by the cross product of the other two, and the angles
    are those of the x-y-z rotation sequence nanoBragg's ``-misset`` applies.  ``umat`` is
    (3, 3) or flat length 9, row-major.
    """
    u = [float(v) for v in np.asarray(umat, dtype=np.float64).reshape(9)]
    xx, xy, xz, yx, yy, yz, zx, zy, zz = u
    sqrt = math.sqrt

    (xx, xy, xz, mx), (yx, yy, yz, my), (zx, zy, zz, mz) = (
        _normalised(xx, xy, xz), _normalised(yx, yy, yz), _normalised(zx, zy, zz))

    # degenerate inputs with only one usable row: complete with unit axes
    if mx >= 0 and my <= 0 and mz <= 0:
        yx, yy, yz = 0.0, 1.0, 0.0
        zx, zy, zz = 0.0, 0.0, 1.0
    if mx <= 0 and my >= 0 and mz <= 0:
        xx, xy, xz = 1.0, 0.0, 0.0
        zx, zy, zz = 0.0, 0.0, 1.0
    if mx <= 0 and my <= 0 and mz >= 0:
        xx, xy, xz = 1.0, 0.0, 0.0
        yx, yy, yz = 0.0, 1.0, 0.0

    def unit(a: float, b: float, c: float) -> tuple[float, float, float]:
        return _normalised(a, b, c)[:3]

    for _ in range(2):
        # cross products of row pairs, used to replace missing rows (done twice, as in C)
        cxy = unit(xy * yz - xz * yy, xz * yx - xx * yz, xx * yy - xy * yx)
        cyz = unit(yy * zz - yz * zy, yz * zx - yx * zz, yx * zy - yy * zx)
        czx = unit(zy * xz - zz * xy, zz * xx - zx * xz, zx * xy - zy * xx)
        if mx <= 0:
            xx, xy, xz = cyz
        if my <= 0:
            yx, yy, yz = czx
        if mz <= 0:
            zx, zy, zz = cxy

    (xx, xy, xz, mx), (yx, yy, yz, my), (zx, zy, zz, mz) = (
        _normalised(xx, xy, xz), _normalised(yx, yy, yz), _normalised(zx, zy, zz))

    if zx * zx < 1.0:
        rotx = math.atan2(zy, zz)
        roty = math.atan2(-zx, sqrt(zy * zy + zz * zz))
        rotz = math.atan2(yx, xx)
    else:
        rotx = math.atan2(1, 1) * 4
        roty = math.atan2(1, 1) * 2
        rotz = math.atan2(xy, -yy)
    return rotx, roty, rotz
