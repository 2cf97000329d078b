/*
 * nbcupy.engine.kernels._settings_sum -- the engine's settings sum compiled for the CPU.
 *
 * The kernel itself is nbcupy/engine/kernels/settings_sum_kernel.h, the same source that CuPy compiles for
 * the GPU (nbcupy/engine/kernels/cuda.py); this file includes it once per precision and adds the
 * block loop, the choice of vector instruction set and the Python entry point.
 *
 * Vector instruction sets: on x86-64 the block loop is compiled four times, for the
 * baseline (SSE2), x86-64-v2 (SSE4.2), x86-64-v3 (AVX2) and x86-64-v4 (AVX-512) levels, and
 * the best one the running CPU supports is used.  setup.py builds this file with
 * -ffp-contract=off (no fused multiply-adds) and without fast-math, so every variant does
 * the same IEEE operations in the same order: the results are the same bits whatever the
 * level, the block or the thread.  -fno-math-errno and -fno-trapping-math let the compiler
 * vectorise and if-convert; they change no value (errno and floating-point traps are not
 * used by Python).
 *
 * The loop runs without the GIL, so the engine's worker threads run it in parallel.  Only
 * the plain CPython C API is used (buffer protocol, no NumPy headers).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <math.h>
#include <string.h>

#define REAL_IS_DOUBLE 1
#include "settings_sum_kernel.h"
#undef REAL_IS_DOUBLE
#define REAL_IS_DOUBLE 0
#include "settings_sum_kernel.h"
#undef REAL_IS_DOUBLE

/* ---- the block loop, per precision and instruction set ----------------------------- */

typedef struct {
    const void *dx, *dy, *dz, *coef, *offset;
    void *out;
    const void *params; /* nb_params_f64 or nb_params_f32 */
    long long n;
    int S;
} nb_call;

/* out[i] = sum over settings of the terms of sample i (times default_F^2 without a grid) */
#define NB_DEFINE_SUMS(SUFFIX, ATTR)                                                     \
    ATTR static void nb_sum_f64_##SUFFIX(const nb_call *c)                               \
    {                                                                                    \
        const nb_params_f64 *p = (const nb_params_f64 *)c->params;                       \
        const double scale = p->use_grid ? 1.0 : (double)p->default_F * p->default_F;  \
        double acc[NB_CPU_BLOCK];                                                        \
        const double *dx = (const double *)c->dx, *dy = (const double *)c->dy;          \
        const double *dz = (const double *)c->dz;                                        \
        double *out = (double *)c->out;                                                  \
        for (long long i0 = 0; i0 < c->n; i0 += NB_CPU_BLOCK) {                          \
            const int m = (int)(c->n - i0 < NB_CPU_BLOCK ? c->n - i0 : NB_CPU_BLOCK);    \
            nb_block_f64(dx + i0, dy + i0, dz + i0, (const double *)c->coef,             \
                         (const double *)c->offset, p, c->S, m, acc);                    \
            for (int j = 0; j < m; ++j)                                                  \
                out[i0 + j] = p->use_grid ? acc[j] : acc[j] * scale;                     \
        }                                                                                \
    }                                                                                    \
    ATTR static void nb_sum_f32_##SUFFIX(const nb_call *c)                               \
    {                                                                                    \
        const nb_params_f32 *p = (const nb_params_f32 *)c->params;                       \
        const double scale = p->use_grid ? 1.0 : (double)p->default_F * p->default_F;  \
        double acc[NB_CPU_BLOCK];                                                        \
        const float *dx = (const float *)c->dx, *dy = (const float *)c->dy;             \
        const float *dz = (const float *)c->dz;                                          \
        float *out = (float *)c->out;                                                    \
        for (long long i0 = 0; i0 < c->n; i0 += NB_CPU_BLOCK) {                          \
            const int m = (int)(c->n - i0 < NB_CPU_BLOCK ? c->n - i0 : NB_CPU_BLOCK);    \
            nb_block_f32(dx + i0, dy + i0, dz + i0, (const float *)c->coef,              \
                         (const float *)c->offset, p, c->S, m, acc);                     \
            for (int j = 0; j < m; ++j)                                                  \
                out[i0 + j] = (float)(p->use_grid ? acc[j] : acc[j] * scale);            \
        }                                                                                \
    }

typedef void (*nb_sum_fn)(const nb_call *);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NB_X86_LEVELS 1
NB_DEFINE_SUMS(base, )
NB_DEFINE_SUMS(v2, __attribute__((target("sse3,ssse3,sse4.1,sse4.2,popcnt"))))
NB_DEFINE_SUMS(v3, __attribute__((target("sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,fma,"
                                         "bmi,bmi2,f16c,lzcnt,movbe"))))
NB_DEFINE_SUMS(v4, __attribute__((target("sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,fma,"
                                         "bmi,bmi2,f16c,lzcnt,movbe,avx512f,avx512bw,"
                                         "avx512cd,avx512dq,avx512vl"))))
#else
NB_DEFINE_SUMS(base, )
#endif

/* the instruction-set levels: 0 baseline, 2, 3, 4 (x86-64-vN) */
static int
nb_level_supported(int level)
{
#if defined(NB_X86_LEVELS)
    __builtin_cpu_init();
    switch (level) {
    case 0:
        return 1;
    case 2:
        return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt");
    case 3:
        return nb_level_supported(2) && __builtin_cpu_supports("avx2")
               && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
    case 4:
        return nb_level_supported(3) && __builtin_cpu_supports("avx512f")
               && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd")
               && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    default:
        return 0;
    }
#else
    return level == 0;
#endif
}

static int
nb_best_level(void)
{
    static const int order[] = {4, 3, 2};
    for (int i = 0; i < 3; ++i)
        if (nb_level_supported(order[i]))
            return order[i];
    return 0;
}

static nb_sum_fn
nb_sum_for(int level, int is_double)
{
#if defined(NB_X86_LEVELS)
    switch (level) {
    case 4:
        return is_double ? nb_sum_f64_v4 : nb_sum_f32_v4;
    case 3:
        return is_double ? nb_sum_f64_v3 : nb_sum_f32_v3;
    case 2:
        return is_double ? nb_sum_f64_v2 : nb_sum_f32_v2;
    default:
        break;
    }
#else
    (void)level;
#endif
    return is_double ? nb_sum_f64_base : nb_sum_f32_base;
}

/* ---- argument checking ------------------------------------------------------------- */

static int
nb_format_is(const Py_buffer *b, char code, Py_ssize_t itemsize)
{
    const char *f = b->format ? b->format : "B";
    if (*f == '@' || *f == '=')
        f++;
#if !PY_BIG_ENDIAN
    else if (*f == '<')
        f++;
#endif
    return f[0] == code && f[1] == '\0' && b->itemsize == itemsize;
}

/* a C-contiguous 1-D buffer of the given item type, with `expected` elements (< 0: any) */
static int
nb_get(PyObject *obj, Py_buffer *b, const char *what, char code, Py_ssize_t itemsize,
       int writable, Py_ssize_t expected)
{
    const char *type_name = code == 'd' ? "float64" : "float32";
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, b, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous%s %s array, got %.100s",
                     what, writable ? ", writable" : "", type_name, Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (!nb_format_is(b, code, itemsize) || b->ndim != 1) {
        PyErr_Format(PyExc_TypeError, "%s must be a 1-D %s array (buffer format '%s', %d-D)",
                     what, type_name, b->format ? b->format : "B", b->ndim);
        PyBuffer_Release(b);
        return -1;
    }
    if (expected >= 0 && b->len / itemsize != expected) {
        PyErr_Format(PyExc_ValueError, "%s must have %zd elements, got %zd", what, expected,
                     b->len / itemsize);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

/* true when v is a whole number in [-2^24, 2^24] (exact in float32 too) */
static int
nb_whole(double v)
{
    return isfinite(v) && v == floor(v) && fabs(v) <= 16777216.0;
}

PyDoc_STRVAR(settings_sum_doc,
"settings_sum(dx, dy, dz, coef, offset, grid, recip, out, S, shape, na, nb, nc, fudge,\n"
"             default_F, use_grid, h_lo, h_hi, k_lo, k_hi, l_lo, l_hi, stride_k,\n"
"             stride_l, level=-1)\n"
"--\n"
"\n"
"The settings sum of the samples with unit directions (dx, dy, dz), written into out.\n"
"\n"
"Arrays: 1-D, C-contiguous, all float64 or all float32: dx, dy, dz and out (n); coef\n"
"(9 S: coef[(3 i + c) S + s]); offset (3 S); grid (the padded amplitude grid, read only\n"
"with use_grid); recip (9).  The scalars are those of\n"
"nbcupy.engine.kernels.cuda.kernel_arguments, in its order.  level: the x86-64 instruction-set\n"
"level to run (0, 2, 3 or 4; -1 = the best this CPU supports).  Runs without the GIL.\n"
"Raises TypeError / ValueError for wrong arrays or parameters.");

static PyObject *
nb_settings_sum_py(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"dx", "dy", "dz", "coef", "offset", "grid", "recip", "out",
                             "S", "shape", "na", "nb", "nc", "fudge", "default_F",
                             "use_grid", "h_lo", "h_hi", "k_lo", "k_hi", "l_lo", "l_hi",
                             "stride_k", "stride_l", "level", NULL};
    PyObject *o[8];
    int S, shape, use_grid, level = -1;
    double na, nb, nc, fudge, default_F, lim[6];
    Py_ssize_t stride_k, stride_l;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "OOOOOOOOiidddddiddddddnn|i:settings_sum", kwlist, &o[0], &o[1],
            &o[2], &o[3], &o[4], &o[5], &o[6], &o[7], &S, &shape, &na, &nb, &nc, &fudge,
            &default_F, &use_grid, &lim[0], &lim[1], &lim[2], &lim[3], &lim[4], &lim[5],
            &stride_k, &stride_l, &level))
        return NULL;
    if (S < 0 || shape < NB_SHAPE_SQUARE || shape > NB_SHAPE_TOPHAT) {
        PyErr_Format(PyExc_ValueError, "need S >= 0 and shape in 0..3, got S=%d shape=%d", S,
                     shape);
        return NULL;
    }
    if (level == -1)
        level = nb_best_level();
    else if (!nb_level_supported(level)) {
        PyErr_Format(PyExc_ValueError,
                     "instruction-set level %d is not available on this CPU", level);
        return NULL;
    }

    /* the element type follows dx */
    Py_buffer b[8];
    int have = 0;
    PyObject *result = NULL;
    if (PyObject_GetBuffer(o[0], &b[0], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "dx must be a C-contiguous float32/float64 array");
        return NULL;
    }
    const int is_double = nb_format_is(&b[0], 'd', 8);
    const char code = is_double ? 'd' : 'f';
    const Py_ssize_t size = is_double ? 8 : 4;
    if (!is_double && !nb_format_is(&b[0], 'f', 4)) {
        PyBuffer_Release(&b[0]);
        PyErr_SetString(PyExc_TypeError, "dx must hold float32 or float64 items");
        return NULL;
    }
    PyBuffer_Release(&b[0]);
    static const char *names[] = {"dx", "dy", "dz", "coef", "offset", "grid", "recip", "out"};
    Py_ssize_t n = -1;
    for (int i = 0; i < 8; ++i) {
        Py_ssize_t expected = -1;
        if (i < 3 || i == 7)
            expected = n;
        else if (i == 3)
            expected = 9 * (Py_ssize_t)S;
        else if (i == 4)
            expected = 3 * (Py_ssize_t)S;
        else if (i == 6)
            expected = 9;
        if (nb_get(o[i], &b[i], names[i], code, size, i == 7, expected) < 0)
            goto cleanup;
        have = i + 1;
        if (i == 0)
            n = b[0].len / size;
    }
    const Py_ssize_t grid_len = b[5].len / size;
    if (use_grid) {
        int ok = 1;
        for (int i = 0; i < 6; ++i)
            ok = ok && nb_whole(lim[i]);
        ok = ok && lim[1] >= lim[0] && lim[3] >= lim[2] && lim[5] >= lim[4]
             && stride_k == (Py_ssize_t)(lim[3] - lim[2] + 1)
             && stride_l == (Py_ssize_t)(lim[5] - lim[4] + 1);
        if (ok) {
            const double nodes = (lim[1] - lim[0] + 1) * (double)stride_k * (double)stride_l;
            ok = nodes < 2147483648.0 && (Py_ssize_t)nodes == grid_len;
        }
        if (!ok) {
            PyErr_SetString(PyExc_ValueError,
                            "the grid bounds, strides and size do not agree (or the grid "
                            "has 2^31 nodes or more)");
            goto cleanup;
        }
    }

    nb_params_f64 p64;
    nb_params_f32 p32;
    memset(&p64, 0, sizeof p64);
    memset(&p32, 0, sizeof p32);
#define NB_FILL(P, T)                                                                    \
    do {                                                                                 \
        P.shape = shape;                                                                 \
        P.use_grid = use_grid != 0;                                                      \
        P.na = (T)na;                                                                    \
        P.nb = (T)nb;                                                                    \
        P.nc = (T)nc;                                                                    \
        P.fudge = (T)fudge;                                                              \
        P.default_F = (T)default_F;                                                      \
        for (int i = 0; i < 9; ++i)                                                      \
            P.recip[i] = ((const T *)b[6].buf)[i];                                       \
        P.grid = (const T *)b[5].buf;                                                    \
        P.h_lo = (T)lim[0];                                                              \
        P.h_hi = (T)lim[1];                                                              \
        P.k_lo = (T)lim[2];                                                              \
        P.k_hi = (T)lim[3];                                                              \
        P.l_lo = (T)lim[4];                                                              \
        P.l_hi = (T)lim[5];                                                              \
        P.stride_k = (int)stride_k;                                                      \
        P.stride_l = (int)stride_l;                                                      \
    } while (0)
    if (is_double)
        NB_FILL(p64, double);
    else
        NB_FILL(p32, float);
#undef NB_FILL

    nb_call call;
    call.dx = b[0].buf;
    call.dy = b[1].buf;
    call.dz = b[2].buf;
    call.coef = b[3].buf;
    call.offset = b[4].buf;
    call.out = b[7].buf;
    call.params = is_double ? (const void *)&p64 : (const void *)&p32;
    call.n = (long long)n;
    call.S = S;
    const nb_sum_fn fn = nb_sum_for(level, is_double);
    Py_BEGIN_ALLOW_THREADS
    fn(&call);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);

cleanup:
    for (int i = 0; i < have; ++i)
        PyBuffer_Release(&b[i]);
    return result;
}

PyDoc_STRVAR(levels_doc,
"levels()\n"
"--\n"
"\n"
"The instruction-set levels this CPU can run, best first (x86-64: 4 = AVX-512,\n"
"3 = AVX2, 2 = SSE4.2, 0 = baseline; elsewhere only 0).");

static PyObject *
nb_levels_py(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    static const int order[] = {4, 3, 2, 0};
    for (int i = 0; i < 4; ++i) {
        if (!nb_level_supported(order[i]))
            continue;
        PyObject *v = PyLong_FromLong(order[i]);
        if (v == NULL || PyList_Append(out, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(v);
    }
    PyObject *tuple = PyList_AsTuple(out);
    Py_DECREF(out);
    return tuple;
}

PyDoc_STRVAR(math_probe_doc,
"math_probe(which, x, out)\n"
"--\n"
"\n"
"For the tests: the kernel's own functions of x, element by element, in the precision of\n"
"x (float64 or float32): which 0 = sin(pi x), 1 = cos(pi x) (both with the kernel's range\n"
"reduction), 2 = exp(x), 3 = 3 (sin y / y - cos y) / y^2 at y = pi x.");

#define NB_PROBE(T, SFX)                                                                 \
    do {                                                                                 \
        const T *x = (const T *)bx.buf;                                                  \
        T *out = (T *)bo.buf;                                                            \
        for (Py_ssize_t i = 0; i < n; ++i) {                                             \
            const T v = x[i];                                                            \
            const T m = (T)rint((double)v);                                              \
            const T sign = nb_parity_sign_##SFX(m);                                      \
            switch (which) {                                                             \
            case 0: out[i] = sign * nb_sinpi_reduced_##SFX(v - m); break;                \
            case 1: out[i] = sign * nb_cospi_reduced_##SFX(v - m); break;                \
            case 2: out[i] = nb_exp_##SFX(v); break;                                     \
            default: out[i] = nb_sinc3_pi_##SFX(v); break;                               \
            }                                                                            \
        }                                                                                \
    } while (0)

static PyObject *
nb_math_probe_py(PyObject *self, PyObject *args)
{
    int which;
    PyObject *ox, *oo;
    Py_buffer bx, bo;
    (void)self;
    if (!PyArg_ParseTuple(args, "iOO:math_probe", &which, &ox, &oo))
        return NULL;
    if (which < 0 || which > 3) {
        PyErr_Format(PyExc_ValueError, "which must be 0..3, got %d", which);
        return NULL;
    }
    if (PyObject_GetBuffer(ox, &bx, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    const int is_double = nb_format_is(&bx, 'd', 8);
    if ((!is_double && !nb_format_is(&bx, 'f', 4)) || bx.ndim != 1) {
        PyBuffer_Release(&bx);
        PyErr_SetString(PyExc_TypeError, "x must be a 1-D float32 or float64 array");
        return NULL;
    }
    const Py_ssize_t n = bx.len / bx.itemsize;
    if (nb_get(oo, &bo, "out", is_double ? 'd' : 'f', bx.itemsize, 1, n) < 0) {
        PyBuffer_Release(&bx);
        return NULL;
    }
    if (is_double)
        NB_PROBE(double, f64);
    else
        NB_PROBE(float, f32);
    PyBuffer_Release(&bo);
    PyBuffer_Release(&bx);
    Py_RETURN_NONE;
}

static PyMethodDef nb_methods[] = {
    {"settings_sum", (PyCFunction)(void (*)(void))nb_settings_sum_py,
     METH_VARARGS | METH_KEYWORDS, settings_sum_doc},
    {"levels", nb_levels_py, METH_NOARGS, levels_doc},
    {"math_probe", nb_math_probe_py, METH_VARARGS, math_probe_doc},
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
"The engine's settings sum compiled for the CPU from nbcupy/engine/kernels/settings_sum_kernel.h (the\n"
"source the CUDA kernel is compiled from); nbcupy.engine.kernels.cpu wraps it.");

static struct PyModuleDef nb_module = {
    PyModuleDef_HEAD_INIT, "_settings_sum", module_doc, 0, nb_methods, nb_slots,
    NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__settings_sum(void)
{
    return PyModuleDef_Init(&nb_module);
}
