/*
 * nbcupy._sequential -- the loops of nbcupy that are sequential by nature, in C.
 *
 * sequential_sum() adds an array's values strictly left to right in double precision (the
 * order, and so the rounding, of a C accumulation loop), for nanoBragg's image statistics.
 *
 * poidev_loop() computes poidev(mean) for every (masked) pixel of a float32
 * image, in order, with the same numbers and the same final generator state as the
 * pure-Python reference in nbcupy/rng.py (NanoBraggRandom.poidev_array).  The generator
 * is the Numerical-Recipes style family described there:
 *
 *   ran1      Park-Miller "minimal standard" LCG (x <- 16807 x mod 2^31-1, evaluated with
 *             Schrage's factorisation so that nothing overflows), whose outputs go through a
 *             32-slot Bays-Durham shuffle table.  Returns a float uniform in (0, 1).
 *   gaussdev  polar Box-Muller: draws pairs of points in the unit disc, returns one normal
 *             deviate and keeps the other one as a spare for the next call.
 *   gammln    ln Gamma(x) by the Lanczos series (6 terms).
 *   poidev    Poisson deviate: mean > 1e6 -> mean + sqrt(mean) * gaussdev (not rounded to an
 *             integer); mean < 12 -> multiply uniforms until the product drops to
 *             exp(-mean); otherwise rejection from a Lorentzian comparison function.
 *
 * Bit-exactness rules (see nbcupy/rng.py): every quantity that is a single-precision value
 * in the reference is a C `float` here, every double is a `double`; `float op float` is
 * evaluated in float, anything mixed with a double literal or a double libm call in double
 * and rounded when stored to a float.  exp/log/tan/sqrt/floor are the double-precision C
 * library functions, the same ones Python's math module calls.  This relies on
 * FLT_EVAL_METHOD == 0 (SSE2 on x86-64, any AArch64) and on the compiler neither
 * contracting a*b+c into fused multiply-adds nor using fast-math: setup.py builds this file
 * with -ffp-contract=off -fno-fast-math.
 *
 * The generator state lives in small arrays owned by the caller (nbcupy/noise_compiled.py
 * packs and unpacks it from NanoBraggRandom / SeedStream):
 *   ist  int64[3]    idum (the stream's LCG word), iy (last table output, 0 = table never
 *                    built), iset (1 when gaussdev holds a spare)
 *   iv   int64[32]   the shuffle table
 *   fst  float64[5]  gset (the gaussdev spare), oldm, sq, alxm, g (poidev's cache of
 *                    per-mean constants); the values are floats, held as doubles
 * All of them are updated in place.  The image loop runs without the GIL.
 *
 * Only the plain CPython C API is used (buffer protocol, no NumPy headers), so building
 * this module needs nothing but a C compiler and the Python headers.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
#error "nbcupy._sequential needs FLT_EVAL_METHOD == 0 (float arithmetic evaluated in float)"
#endif

/* ---- ran1 constants --------------------------------------------------------------- */
#define NB_IA 16807           /* LCG multiplier */
#define NB_IM 2147483647      /* LCG modulus 2^31 - 1 */
#define NB_IQ 127773          /* IM / IA (Schrage) */
#define NB_IR 2836            /* IM % IA (Schrage) */
#define NB_NTAB 32            /* shuffle table size */
#define NB_NDIV (1 + (NB_IM - 1) / NB_NTAB) /* table index = iy / NDIV (= 2^26) */
static const double NB_AM = 1.0 / NB_IM;    /* word -> uniform scale (double) */
static const double NB_RNMX = 1.0 - 1.2e-7; /* largest uniform allowed, as a double */
/* M_PI is not standard C; this literal is the same double (0x400921FB54442D18). */
static const double NB_PI = 3.14159265358979323846;

/* Generator state while the loop runs (copied in from, and back to, the caller's arrays). */
typedef struct {
    int64_t idum;          /* LCG word of the stream */
    int64_t iy;            /* last selected table word; 0 = table not built */
    int64_t iv[NB_NTAB];   /* Bays-Durham shuffle table */
    int corrupt;           /* set when iy points outside the table (bad input state) */
} nb_ran1_state;

/* One LCG step x <- IA * x mod IM with Schrage's factorisation.  C's `/` truncates toward
 * zero, which is what the reference does for negative words too.  No intermediate can
 * overflow 64 bits for any int64 input (|IA * (x - k IQ)| < IM, |IR k| < 2^47). */
static inline int64_t
nb_schrage(int64_t idum)
{
    int64_t k = idum / NB_IQ;
    idum = NB_IA * (idum - k * NB_IQ) - NB_IR * k;
    if (idum < 0)
        idum += NB_IM;
    return idum;
}

/* ran1: one uniform deviate as a float, advancing idum and the shared table. */
static inline float
nb_ran1(nb_ran1_state *s)
{
    int64_t idum = s->idum;
    if (idum <= 0 || s->iy == 0) {
        /* (Re)build the table: a non-positive word w becomes -w, a positive one (only
         * possible here when the table was never built) becomes 1 -- the reference's test
         * is `-idum < 1`.  INT64_MIN, whose negation wraps, also becomes 1. */
        if (idum >= 0 || idum == INT64_MIN)
            idum = 1;
        else
            idum = -idum;
        /* 8 warm-up steps, then fill the table from its top slot down */
        for (int j = NB_NTAB + 7; j >= 0; j--) {
            idum = nb_schrage(idum);
            if (j < NB_NTAB)
                s->iv[j] = idum;
        }
        s->iy = s->iv[0];
    }
    idum = nb_schrage(idum);
    s->idum = idum;
    /* The previous output picks the slot whose word is returned; the new LCG word takes
     * its place.  A slot outside the table can only come from a corrupt state passed in. */
    uint64_t j = (uint64_t)s->iy / (uint64_t)NB_NDIV;
    if (j >= NB_NTAB) {
        s->corrupt = 1;
        return 0.0f;
    }
    s->iy = s->iv[j];
    s->iv[j] = idum;
    float temp = (float)(NB_AM * (double)s->iy); /* product in double, rounded to float */
    if ((double)temp > NB_RNMX)                  /* compared in double */
        temp = (float)NB_RNMX;                   /* 1 - 2^-23 */
    return temp;
}

/* gammln: ln Gamma(xx).  The argument is rounded to float first, the Lanczos series is
 * summed in double, the result is rounded to float. */
static inline float
nb_gammln(double xx)
{
    double x = (double)(float)xx;
    double y = x;
    double tmp = x + 5.5;
    tmp -= (x + 0.5) * log(tmp);
    double ser = 1.000000000190015;
    y += 1.0;
    ser += 76.18009172947146 / y;
    y += 1.0;
    ser += -86.50532032941677 / y;
    y += 1.0;
    ser += 24.01409824083091 / y;
    y += 1.0;
    ser += -1.231739572450155 / y;
    y += 1.0;
    ser += 0.1208650973866179e-2 / y;
    y += 1.0;
    ser += -0.5395239384953e-5 / y;
    return (float)(-tmp + log(2.5066282746310005 * ser / x));
}

/* Draw one uniform into `var`; leave the loop if the state turned out to be corrupt. */
#define NB_DRAW(var)                  \
    do {                              \
        (var) = nb_ran1(&rs);         \
        if (rs.corrupt)               \
            goto done;                \
    } while (0)

/* The loop itself (no Python objects touched: runs without the GIL).
 * img: n floats; mask: n bytes (used when use_mask != 0); out: n doubles, written at the
 * visited pixels only.  ist/iv/fst as described at the top.  Returns 0, or -1 when the
 * state passed in was corrupt (the state arrays are then left unchanged). */
static int
nb_poidev_loop(const float *img, const unsigned char *mask, int use_mask, Py_ssize_t n,
               int64_t *ist, int64_t *iv, double *fst, double *out)
{
    nb_ran1_state rs;
    rs.idum = ist[0];
    rs.iy = ist[1];
    memcpy(rs.iv, iv, sizeof(rs.iv));
    rs.corrupt = 0;
    int64_t iset = ist[2];
    /* poidev / gaussdev statics, all floats */
    float gset = (float)fst[0];
    float oldm = (float)fst[1];
    float sq = (float)fst[2];
    float alxm = (float)fst[3];
    float g = (float)fst[4];

    for (Py_ssize_t k = 0; k < n; k++) {
        if (use_mask && !mask[k])
            continue;
        const float xm = img[k];
        const double xd = (double)xm;

        if (xd > 1.0e6) {
            /* Gaussian approximation: xm + sqrt(xm) * gaussdev, in double, rounded to
             * float.  gaussdev draws points (v1, v2) uniform in the square until one lies
             * strictly inside the unit disc (and is not the centre); both coordinates
             * scaled by fac are independent normal deviates, the first is kept as spare. */
            float gd;
            if (iset == 0) {
                float v1, v2, rsq, u;
                for (;;) {
                    NB_DRAW(u);
                    v1 = (float)(2.0 * (double)u - 1.0);
                    NB_DRAW(u);
                    v2 = (float)(2.0 * (double)u - 1.0);
                    const float v1sq = v1 * v1; /* float products and sum */
                    const float v2sq = v2 * v2;
                    rsq = v1sq + v2sq;
                    if (!((double)rsq >= 1.0 || (double)rsq == 0.0))
                        break;
                }
                const double r = (double)rsq;
                const float fac = (float)sqrt(-2.0 * log(r) / r);
                gset = v1 * fac;
                iset = 1;
                gd = v2 * fac;
            }
            else {
                iset = 0;
                gd = gset;
            }
            out[k] = (double)(float)(xd + sqrt(xd) * (double)gd);
            continue;
        }

        if (!(xm == oldm)) {
            /* new mean (or nan, which never equals the cache): recompute the constants */
            oldm = xm;
            if (xd < 12.0) {
                /* threshold of the direct method; below -80 any value >= 1 acts the same
                 * (the product of uniforms is always below it), the reference uses inf */
                if (xd > -80.0)
                    g = (float)exp(-xd);
                else
                    g = INFINITY;
            }
            else {
                sq = (float)sqrt(2.0 * xd);
                alxm = (float)log(xd);
                const float xa = xm * alxm; /* float product */
                g = xa - nb_gammln(xd + 1.0);
            }
        }

        if (xd < 12.0) {
            /* direct method: the number of extra uniforms whose running (float) product
             * stays above exp(-xm).  Always draws at least once, also for means <= 0. */
            int64_t em = 0;
            float t, u;
            NB_DRAW(t);
            while (t > g) { /* float comparison */
                em++;
                NB_DRAW(u);
                t = t * u;
            }
            out[k] = (double)em;
            continue;
        }

        /* rejection method: y is a Lorentzian deviate (tan of a uniform angle), the
         * candidate em = floor(sq * y + xm) >= 0 is accepted with probability
         * t = 0.9 (1 + y^2) exp(em ln xm - ln Gamma(em + 1) - g). */
        float emf;
        for (;;) {
            float u, y;
            for (;;) {
                NB_DRAW(u);
                y = (float)tan(NB_PI * (double)u);
                const float sy = sq * y; /* float product and sum */
                emf = sy + xm;
                if (!((double)emf < 0.0))
                    break;
            }
            emf = (float)floor((double)emf);
            const float ea = emf * alxm;                      /* float */
            const float eb = ea - nb_gammln((double)emf + 1.0); /* float */
            const float arg = eb - g;                         /* float */
            const double ex = exp((double)arg);
            const float yy = y * y; /* float */
            const float t = (float)(0.9 * (1.0 + (double)yy) * ex);
            NB_DRAW(u);
            if (!(u > t)) /* float comparison; nan t accepts */
                break;
        }
        out[k] = (double)emf;
    }

done:
    if (rs.corrupt)
        return -1;
    ist[0] = rs.idum;
    ist[1] = rs.iy;
    ist[2] = iset;
    memcpy(iv, rs.iv, sizeof(rs.iv));
    fst[0] = (double)gset;
    fst[1] = (double)oldm;
    fst[2] = (double)sq;
    fst[3] = (double)alxm;
    fst[4] = (double)g;
    return 0;
}

/* ---- argument checking ------------------------------------------------------------- */

/* True when the buffer's struct format is the single native item `code` (an optional
 * '@' or '=' prefix, or the byte-order prefix of this machine, is accepted) and the item
 * has `itemsize` bytes. */
static int
nb_format_is(const Py_buffer *b, const char *codes, Py_ssize_t itemsize)
{
    const char *f = b->format ? b->format : "B";
    if (*f == '@' || *f == '=') {
        f++;
    }
    else if (*f == '<' || *f == '>' || *f == '!') {
#if PY_BIG_ENDIAN
        if (*f == '<')
            return 0;
#else
        if (*f != '<')
            return 0;
#endif
        f++;
    }
    return f[0] != '\0' && f[1] == '\0' && strchr(codes, f[0]) != NULL
           && b->itemsize == itemsize;
}

/* Get a C-contiguous 1-D buffer of `what` with the given item type; on failure set an
 * exception (TypeError for the wrong kind of object or type, ValueError for the wrong
 * shape) and return -1.  `expected_len` < 0 means any length. */
static int
nb_get(PyObject *obj, Py_buffer *b, const char *what, const char *codes,
       Py_ssize_t itemsize, const char *type_name, int writable, Py_ssize_t expected_len)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, b, flags) < 0) {
        /* replace the exporter's message (numpy: ValueError "ndarray is not C-contiguous",
         * "buffer source array is read-only"; others: BufferError/TypeError) by ours */
        PyErr_Clear();
        if (PyObject_CheckBuffer(obj))
            PyErr_Format(PyExc_TypeError,
                         "%s must be a C-contiguous%s %s array, got a %.100s that is not",
                         what, writable ? ", writable" : "", type_name,
                         Py_TYPE(obj)->tp_name);
        else
            PyErr_Format(PyExc_TypeError,
                         "%s must support the buffer protocol (a %s array), got %.100s", what,
                         type_name, Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (!nb_format_is(b, codes, itemsize)) {
        PyErr_Format(PyExc_TypeError, "%s must be a %s array, got buffer format '%s'", what,
                     type_name, b->format ? b->format : "B");
        PyBuffer_Release(b);
        return -1;
    }
    if (b->ndim != 1) {
        PyErr_Format(PyExc_ValueError, "%s must be 1-D, got %d dimensions", what, b->ndim);
        PyBuffer_Release(b);
        return -1;
    }
    Py_ssize_t len = b->len / itemsize;
    if (expected_len >= 0 && len != expected_len) {
        PyErr_Format(PyExc_ValueError, "%s must have %zd elements, got %zd", what,
                     expected_len, len);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

/* int64 arrays are 'q' (long long) or, where long has 64 bits, 'l' (signed only). */
#define NB_INT64_CODES "ql"

PyDoc_STRVAR(poidev_loop_doc,
"poidev_loop(img, mask, use_mask, ist, iv, fst, out)\n"
"--\n"
"\n"
"poidev of every (masked) pixel of a float32 image, in order, written into out.\n"
"\n"
"img: C-contiguous 1-D float32 array (n means); mask: 1-D bool array of n elements, read\n"
"only when use_mask is true (may then be None otherwise); ist: int64[3] = [idum, iy,\n"
"iset]; iv: int64[32] shuffle table; fst: float64[5] = [gset, oldm, sq, alxm, g];\n"
"out: float64[n], written at the visited pixels only.  ist, iv and fst are updated in\n"
"place exactly as the pure-Python generator (nbcupy.rng) would update them.  Raises\n"
"TypeError for wrong array types, ValueError for wrong sizes or a corrupt state.");

static PyObject *
nb_poidev_loop_py(PyObject *self, PyObject *args)
{
    PyObject *o_img, *o_mask, *o_ist, *o_iv, *o_fst, *o_out;
    int use_mask;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOpOOOO:poidev_loop", &o_img, &o_mask, &use_mask, &o_ist,
                          &o_iv, &o_fst, &o_out))
        return NULL;

    Py_buffer b_img, b_mask, b_ist, b_iv, b_fst, b_out;
    int have_mask = 0, have_ist = 0, have_iv = 0, have_fst = 0, have_out = 0;
    PyObject *result = NULL;

    if (nb_get(o_img, &b_img, "img", "f", 4, "float32", 0, -1) < 0)
        return NULL;
    const Py_ssize_t n = b_img.len / 4;
    if (use_mask) {
        if (nb_get(o_mask, &b_mask, "mask", "?", 1, "bool", 0, n) < 0)
            goto cleanup;
        have_mask = 1;
    }
    if (nb_get(o_ist, &b_ist, "ist", NB_INT64_CODES, 8, "int64", 1, 3) < 0)
        goto cleanup;
    have_ist = 1;
    if (nb_get(o_iv, &b_iv, "iv", NB_INT64_CODES, 8, "int64", 1, NB_NTAB) < 0)
        goto cleanup;
    have_iv = 1;
    if (nb_get(o_fst, &b_fst, "fst", "d", 8, "float64", 1, 5) < 0)
        goto cleanup;
    have_fst = 1;
    if (nb_get(o_out, &b_out, "out", "d", 8, "float64", 1, n) < 0)
        goto cleanup;
    have_out = 1;

    int64_t *ist = (int64_t *)b_ist.buf;
    if (ist[2] != 0 && ist[2] != 1) {
        PyErr_Format(PyExc_ValueError, "ist[2] (iset) must be 0 or 1, got %lld",
                     (long long)ist[2]);
        goto cleanup;
    }

    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = nb_poidev_loop((const float *)b_img.buf,
                        have_mask ? (const unsigned char *)b_mask.buf : NULL, use_mask, n,
                        ist, (int64_t *)b_iv.buf, (double *)b_fst.buf, (double *)b_out.buf);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "corrupt generator state: ran1's last output iy selects no slot of "
                        "the shuffle table");
        goto cleanup;
    }
    result = Py_NewRef(Py_None);

cleanup:
    if (have_out)
        PyBuffer_Release(&b_out);
    if (have_fst)
        PyBuffer_Release(&b_fst);
    if (have_iv)
        PyBuffer_Release(&b_iv);
    if (have_ist)
        PyBuffer_Release(&b_ist);
    if (have_mask)
        PyBuffer_Release(&b_mask);
    PyBuffer_Release(&b_img);
    return result;
}

PyDoc_STRVAR(libm_probe_doc,
"libm_probe(x, out)\n"
"--\n"
"\n"
"For the tests: out[i] = exp(-x), log(x), tan(pi*x), sqrt(2*x) for x = x[i // 4]\n"
"(i % 4 selects the function), evaluated with the C library calls and compile flags\n"
"of the noise loop.  x: 1-D float64[n], out: 1-D float64[4n].");

static PyObject *
nb_libm_probe_py(PyObject *self, PyObject *args)
{
    PyObject *o_x, *o_out;
    Py_buffer b_x, b_out;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO:libm_probe", &o_x, &o_out))
        return NULL;
    if (nb_get(o_x, &b_x, "x", "d", 8, "float64", 0, -1) < 0)
        return NULL;
    const Py_ssize_t n = b_x.len / 8;
    if (nb_get(o_out, &b_out, "out", "d", 8, "float64", 1, 4 * n) < 0) {
        PyBuffer_Release(&b_x);
        return NULL;
    }
    const double *x = (const double *)b_x.buf;
    double *out = (double *)b_out.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        const double xd = x[i];
        out[4 * i + 0] = exp(-xd);
        out[4 * i + 1] = log(xd);
        out[4 * i + 2] = tan(NB_PI * xd);
        out[4 * i + 3] = sqrt(2.0 * xd);
    }
    PyBuffer_Release(&b_out);
    PyBuffer_Release(&b_x);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sequential_sum_doc,
"sequential_sum(values, kind, center)\n"
"--\n"
"\n"
"Left-to-right double-precision sum of a 1-D float32 or float64 array, as a C loop\n"
"`for (i...) sum += term(v[i])` computes it.  kind 0: term = v; kind 1: term = v*v formed\n"
"in the values' own precision (a float square for float32); kind 2: term = (v - center)^2\n"
"in double.  Returns a float.");

/* The three accumulations for one element type; T is float or double. */
#define NB_SEQ_SUM(T)                                                              \
    do {                                                                           \
        const T *v = (const T *)b.buf;                                             \
        if (kind == 0) {                                                           \
            for (Py_ssize_t i = 0; i < n; i++)                                     \
                sum += (double)v[i];                                               \
        }                                                                          \
        else if (kind == 1) {                                                      \
            for (Py_ssize_t i = 0; i < n; i++) {                                   \
                const T sq = v[i] * v[i];                                          \
                sum += (double)sq;                                                 \
            }                                                                      \
        }                                                                          \
        else {                                                                     \
            for (Py_ssize_t i = 0; i < n; i++) {                                   \
                const double d = (double)v[i] - center;                            \
                sum += d * d;                                                      \
            }                                                                      \
        }                                                                          \
    } while (0)

static PyObject *
nb_sequential_sum_py(PyObject *self, PyObject *args)
{
    PyObject *o_values;
    int kind;
    double center;
    Py_buffer b;
    (void)self;
    if (!PyArg_ParseTuple(args, "Oid:sequential_sum", &o_values, &kind, &center))
        return NULL;
    if (kind < 0 || kind > 2) {
        PyErr_Format(PyExc_ValueError, "kind must be 0, 1 or 2, got %d", kind);
        return NULL;
    }
    if (PyObject_GetBuffer(o_values, &b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError,
                        "values must be a C-contiguous float32 or float64 buffer");
        return NULL;
    }
    const int is_f32 = nb_format_is(&b, "f", 4);
    const int is_f64 = nb_format_is(&b, "d", 8);
    if (!is_f32 && !is_f64) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_TypeError, "values must hold float32 or float64 items");
        return NULL;
    }
    const Py_ssize_t n = b.len / b.itemsize;
    double sum = 0.0;
    Py_BEGIN_ALLOW_THREADS
    if (is_f32)
        NB_SEQ_SUM(float);
    else
        NB_SEQ_SUM(double);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&b);
    return PyFloat_FromDouble(sum);
}

static PyMethodDef nb_methods[] = {
    {"sequential_sum", nb_sequential_sum_py, METH_VARARGS, sequential_sum_doc},
    {"poidev_loop", nb_poidev_loop_py, METH_VARARGS, poidev_loop_doc},
    {"libm_probe", nb_libm_probe_py, METH_VARARGS, libm_probe_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot nb_slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(module_doc,
"nbcupy's sequential loops in C: nanoBragg's exact Poisson noise loop (nbcupy.noise) and\n"
"left-to-right sums (nbcupy.stats); both modules fall back to NumPy/Python without it.");

static struct PyModuleDef nb_module = {
    PyModuleDef_HEAD_INIT,
    "_sequential",
    module_doc,
    0,
    nb_methods,
    nb_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__sequential(void)
{
    return PyModuleDef_Init(&nb_module);
}
