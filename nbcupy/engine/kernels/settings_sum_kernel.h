/*
 * The settings sum of nbcupy's engine, as one source for two targets.
 *
 * For every sample point (a unit diffracted direction d = (x, y, z)) and every crystal
 * setting s (source x phi step x mosaic domain):
 *
 *     h = ((x A_h0[s] + y A_h1[s]) + z A_h2[s]) + o_h[s],  k = ...,  l = ...
 *     h0 = ceil(h - 1/2),  f = h - h0                        (fractional index, |f| <= 1/2)
 *     term = F_latt^2(f_h, f_k, f_l) F_cell^2(h0, k0, l0)
 *     acc  = sum over s in order of term, in double precision
 *
 * which is what the plain Array-API reference (plain.py, settings_sum_plain) and
 * nbcupy/engine/physics.py compute, to rounding (the tests state the tolerance).
 *
 * Targets:
 *   - CUDA (CuPy RawKernel): cuda.py prepends "#define NB_TARGET_CUDA 1" and
 *     "#define REAL_IS_DOUBLE 0|1"; the kernel nb_settings_sum runs one thread per sample.
 *   - CPU (the C extension nbcupy.engine.kernels._settings_sum, _settings_sum.c): includes this
 *     file twice, with REAL_IS_DOUBLE 1 and 0; nb_settings_sum_cpu_f64/_f32 evaluate blocks
 *     of samples with the loop over samples innermost, which the C compiler vectorises.
 * Both targets sum each sample's terms in the same order (s = 0, 1, ...), so a sample's
 * value does not depend on the block, the vector width or the thread that computes it.
 *
 * No library transcendental is called: sin(pi x), cos(pi x) and exp(x) are evaluated by
 * the polynomials below (minimax fits of sin(pi r)/r and cos(pi r) in r^2 on |r| <= 1/2 and
 * of exp on |r| <= ln(2)/2; maximum relative errors 2.6e-19 (sin, double), 5.3e-9 (sin,
 * float), 3.9e-18 and 2.2e-10 absolute (cos), 3.1e-18 and 1.9e-9 (exp), before rounding),
 * with exact range reductions (x - rint(x) is exact, k ln 2 is split in two parts).  Plain
 * IEEE arithmetic only, branch-free, so that a vectorising compiler keeps the semantics
 * without -ffast-math.
 */

#ifndef NB_SETTINGS_SUM_COMMON
#define NB_SETTINGS_SUM_COMMON

#if defined(NB_TARGET_CUDA)
#define NB_FN __device__ __forceinline__
#define NB_RESTRICT __restrict__
#elif defined(__GNUC__)
#define NB_FN static inline __attribute__((always_inline))
#define NB_RESTRICT __restrict__
#else
#define NB_FN static inline
#define NB_RESTRICT
#endif

/* spot shapes, as nbcupy/engine/kernels/cuda.py numbers them */
#define NB_SHAPE_SQUARE 0
#define NB_SHAPE_ROUND 1
#define NB_SHAPE_GAUSS 2
#define NB_SHAPE_TOPHAT 3

#endif /* NB_SETTINGS_SUM_COMMON */

/* ---- one precision ------------------------------------------------------------------ */

#if REAL_IS_DOUBLE
#define REAL double
#define NB_(name) name##_f64
#define R_RINT rint
#define R_CEIL ceil
#define R_SQRT sqrt
#define R_FABS fabs
#else
#define REAL float
#define NB_(name) name##_f32
#define R_RINT rintf
#define R_CEIL ceilf
#define R_SQRT sqrtf
#define R_FABS fabsf
#endif

/* The uniform inputs of the sum (the same for every sample and setting). */
typedef struct {
    int shape;           /* NB_SHAPE_* */
    int use_grid;        /* F from the padded grid; else F = default_F, applied after the sum */
    REAL na, nb, nc;     /* unit cells along a, b, c */
    REAL fudge;          /* spot-size fudge factor */
    REAL default_F;
    REAL recip[9];       /* rows a*, b*, c* (1/A), for the gauss and tophat shapes */
    const REAL *grid;    /* padded amplitude grid (off-grid nodes land on the padding) */
    REAL h_lo, h_hi, k_lo, k_hi, l_lo, l_hi;   /* padded grid bounds (indices) */
    int stride_k, stride_l;                    /* padded grid strides */
} NB_(nb_params);

/* sin(pi r) for |r| <= 1/2 */
NB_FN REAL NB_(nb_sinpi_reduced)(REAL r)
{
    const REAL t = r * r;
#if REAL_IS_DOUBLE
    REAL p = 7.694727221602218e-07;
    p = p * t + -2.190318541358144e-05;
    p = p * t + 0.0004662996887728074;
    p = p * t + -0.007370430478763308;
    p = p * t + 0.08214588656989288;
    p = p * t + -0.5992645293187383;
    p = p * t + 2.550164039877294;
    p = p * t + -5.167712780049969;
    p = p * t + 3.141592653589793;
#else
    REAL p = 0.07756038693518182f;
    p = p * t + -0.5982421263871489f;
    p = p * t + 2.5500697263291623f;
    p = p * t + -5.16770968479864f;
    p = p * t + 3.141592636895401f;
#endif
    return r * p;
}

/* cos(pi r) for |r| <= 1/2 */
NB_FN REAL NB_(nb_cospi_reduced)(REAL r)
{
    const REAL t = r * r;
#if REAL_IS_DOUBLE
    REAL p = 4.149591677190981e-06;
    p = p * t + -0.00010456658070965193;
    p = p * t + 0.0019295562835807969;
    p = p * t + -0.025806888739349942;
    p = p * t + 0.23533063012980796;
    p = p * t + -1.3352627688434646;
    p = p * t + 4.058712126416498;
    p = p * t + -4.934802200544676;
    p = p * t + 1.0;
#else
    REAL p = -0.024396716658671217f;
    p = p * t + 0.2349375589827164f;
    p = p * t + -1.3352120566732397f;
    p = p * t + 4.0587091643432185f;
    p = p * t + -4.934802137228384f;
    p = p * t + 0.999999999780652f;
#endif
    return p;
}

/* (-1)^m for a whole number m */
NB_FN REAL NB_(nb_parity_sign)(REAL m)
{
    const REAL half = m * (REAL)0.5;
    return half == R_RINT(half) ? (REAL)1 : (REAL)-1;
}

/* v clamped to [lo, hi]; NaN gives lo (comparisons, not fmin/fmax: they vectorise) */
NB_FN REAL NB_(nb_clamp)(REAL v, REAL lo, REAL hi)
{
    const REAL above = v > lo ? v : lo;
    return above < hi ? above : hi;
}

/* exp(x): 2^k exp(r), k = rint(x / ln 2), r = x - k ln 2 (in two parts); 0 below the range
 * where the value would be subnormal, +inf above the largest finite value. */
NB_FN REAL NB_(nb_exp)(REAL x)
{
#if REAL_IS_DOUBLE
    const REAL lo = -708.0, hi = 709.0;
    const REAL xc = NB_(nb_clamp)(x, lo, hi);
    const REAL k = R_RINT(xc * 1.4426950408889634);
    const REAL r = (xc - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    REAL p = 2.4994304884817207e-08;
    p = p * r + 2.7632293279459877e-07;
    p = p * r + 2.7557622530872255e-06;
    p = p * r + 2.4801486521427463e-05;
    p = p * r + 0.00019841269432679237;
    p = p * r + 0.0013888888951223987;
    p = p * r + 0.00833333333355927;
    p = p * r + 0.04166666666649277;
    p = p * r + 0.1666666666666617;
    p = p * r + 0.5000000000000018;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* 2^k from its bits: k + 1.5 2^52 holds k in its low mantissa bits */
    union { double d; unsigned long long u; } two;
    two.d = k + 6755399441055744.0;
    two.u = (two.u + 1023ULL) << 52;
    union { double d; unsigned long long u; } big;
    big.u = 0x7FF0000000000000ULL;  /* +inf */
#else
    const REAL lo = -87.0f, hi = 88.0f;
    const REAL xc = NB_(nb_clamp)(x, lo, hi);
    const REAL k = R_RINT(xc * 1.44269504088896341f);
    const REAL r = (xc - k * 0.693145751953125f) - k * 1.42860682030941723212e-06f;
    REAL p = 0.0013836846134577057f;
    p = p * r + 0.008374815798301793f;
    p = p * r + 0.04166822556692284f;
    p = p * r + 0.16666420169946367f;
    p = p * r + 0.4999999207982802f;
    p = p * r + 1.0000000363231765f;
    p = p * r + 1.0000000005541663f;
    union { float d; unsigned int u; } two;
    two.d = k + 12582912.0f;
    two.u = (two.u + 127U) << 23;
    union { float d; unsigned int u; } big;
    big.u = 0x7F800000U;  /* +inf */
#endif
    const REAL v = p * two.d;
    return x < lo ? (REAL)0 : (x > hi ? big.d : (x == x ? v : x));
}

/* 3 (sin x / x - cos x) / x^2 at x = pi u (u >= 0); its Taylor series near 0, as
 * nbcupy.physics.sinc3 */
NB_FN REAL NB_(nb_sinc3_pi)(REAL u)
{
#if REAL_IS_DOUBLE
    const REAL limit = 0.01;
    const REAL pi = 3.14159265358979323846;
#else
    const REAL limit = 0.3f;
    const REAL pi = 3.14159265358979323846f;
#endif
    const REAL x = pi * u;
    const REAL m = R_RINT(u);
    const REAL r = u - m;
    const REAL sign = NB_(nb_parity_sign)(m);
    const REAL sx = sign * NB_(nb_sinpi_reduced)(r);
    const REAL cx = sign * NB_(nb_cospi_reduced)(r);
    const REAL safe = R_FABS(x) < limit ? (REAL)1 : x;
    const REAL value = (REAL)3 * (sx / safe - cx) / (safe * safe);
    const REAL x2 = x * x;
    const REAL series = (REAL)1 - x2 * ((REAL)(1.0 / 10.0)
                                      - x2 * ((REAL)(1.0 / 280.0) - x2 / (REAL)15120));
    return R_FABS(x) < limit ? series : value;
}

/* The term of one sample and one setting: F_latt^2 F_cell^2 (F_cell^2 only with the grid).
 * c: the setting's A_h0..2, A_k0..2, A_l0..2 and o_h, o_k, o_l; shape and use_grid are
 * passed separately so that the CPU loops can fix them at compile time. */
NB_FN REAL NB_(nb_term)(REAL x, REAL y, REAL z, const REAL c[12],
                        const NB_(nb_params) *p, const int shape, const int use_grid)
{
    REAL frac[3], node[3];
    for (int a = 0; a < 3; ++a) {
        REAL h = x * c[3 * a] + y * c[3 * a + 1];
        h = h + z * c[3 * a + 2];
        h = h + c[9 + a];
        const REAL h0 = R_CEIL(h - (REAL)0.5);
        node[a] = h0;
        frac[a] = h - h0;
    }
    REAL latt;
    if (shape == NB_SHAPE_SQUARE) {
        /* prod over axes of (sin(pi n f) / sin(pi f))^2 with one division: numerator and
         * denominator products; n^2 where f is 0 (or so small that the ratio is n to
         * within far less than a rounding: (n^2 - 1) (pi f)^2 / 6) */
#if REAL_IS_DOUBLE
        const REAL tiny = 8.673617379884035e-19;   /* 2^-60 */
#else
        const REAL tiny = 9.313225746154785e-10f;  /* 2^-30 */
#endif
        const REAL n[3] = {p->na, p->nb, p->nc};
        REAL num = (REAL)1, den = (REAL)1;
        for (int a = 0; a < 3; ++a) {
            const REAL f = frac[a];
            const REAL nf = n[a] * f;
            const REAL sn = NB_(nb_sinpi_reduced)(nf - R_RINT(nf));
            const REAL sd = NB_(nb_sinpi_reduced)(f);
            const int small = R_FABS(f) < tiny;
            const int used = n[a] > (REAL)1;
            num = num * (used ? (small ? n[a] : sn) : (REAL)1);
            den = den * (used ? (small ? (REAL)1 : sd) : (REAL)1);
        }
        const REAL ratio = num / den;
        latt = ratio * ratio;
    } else if (shape == NB_SHAPE_ROUND) {
        const REAL hrad = frac[0] * frac[0] * (p->na * p->na)
                        + frac[1] * frac[1] * (p->nb * p->nb)
                        + frac[2] * frac[2] * (p->nc * p->nc);
        const REAL f = (p->na * p->nb * p->nc * (REAL)0.723601254558268)
                     * NB_(nb_sinc3_pi)(R_SQRT(hrad * p->fudge));
        latt = f * f;
    } else {
        const REAL *rc = p->recip;
        const REAL sx = frac[0] * rc[0] + frac[1] * rc[3] + frac[2] * rc[6];
        const REAL sy = frac[0] * rc[1] + frac[1] * rc[4] + frac[2] * rc[7];
        const REAL sz = frac[0] * rc[2] + frac[1] * rc[5] + frac[2] * rc[8];
        const REAL n3 = p->na * p->nb * p->nc;
        const REAL rad = (sx * sx + sy * sy + sz * sz) * (p->na * p->na * p->nb * p->nb
                                                          * p->nc * p->nc);
        if (shape == NB_SHAPE_GAUSS) {
            const REAL f = n3 * NB_(nb_exp)(-(rad / (REAL)0.63 * p->fudge));
            latt = f * f;
        } else {
            latt = (rad * p->fudge < (REAL)0.3969) ? n3 * n3 : (REAL)0;
        }
    }
    if (use_grid) {
        /* 32-bit indices (the caller checks that the padded grid has fewer than 2^31
         * nodes): they vectorise as gathers on more CPUs */
        const int ih = (int)(NB_(nb_clamp)(node[0], p->h_lo, p->h_hi) - p->h_lo);
        const int ik = (int)(NB_(nb_clamp)(node[1], p->k_lo, p->k_hi) - p->k_lo);
        const int il = (int)(NB_(nb_clamp)(node[2], p->l_lo, p->l_hi) - p->l_lo);
        const REAL F = p->grid[(ih * p->stride_k + ik) * p->stride_l + il];
        latt = latt * (F * F);
    }
    return latt;
}

/* the setting's 12 coefficients from the (3, 3, S) and (3, S) arrays */
NB_FN void NB_(nb_setting)(const REAL *NB_RESTRICT coef, const REAL *NB_RESTRICT offset,
                           int S, int s, REAL c[12])
{
    for (int i = 0; i < 9; ++i)
        c[i] = coef[(long long)i * S + s];
    for (int a = 0; a < 3; ++a)
        c[9 + a] = offset[(long long)a * S + s];
}

#if defined(NB_TARGET_CUDA)
/* ---- CUDA: one thread per sample ---------------------------------------------------- */
extern "C" __global__ void nb_settings_sum(
    const REAL *__restrict__ dx, const REAL *__restrict__ dy, const REAL *__restrict__ dz,
    const REAL *__restrict__ coef,      /* (3, 3, S): coef[(i*3 + c)*S + s] */
    const REAL *__restrict__ offset,    /* (3, S) */
    const REAL *__restrict__ grid,      /* padded flat amplitude grid (use_grid) */
    const REAL *__restrict__ recip,     /* 3x3 rows a*, b*, c* (1/A) */
    REAL *__restrict__ out,
    const long long n, const int S, const int shape,
    const REAL na, const REAL nb, const REAL nc, const REAL fudge, const REAL default_F,
    const int use_grid,
    const REAL h_lo, const REAL h_hi, const REAL k_lo, const REAL k_hi,
    const REAL l_lo, const REAL l_hi, const long long stride_k, const long long stride_l)
{
    const long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= n) return;
    NB_(nb_params) p;
    p.shape = shape;
    p.use_grid = use_grid;
    p.na = na;
    p.nb = nb;
    p.nc = nc;
    p.fudge = fudge;
    p.default_F = default_F;
    for (int j = 0; j < 9; ++j)
        p.recip[j] = recip[j];
    p.grid = grid;
    p.h_lo = h_lo;
    p.h_hi = h_hi;
    p.k_lo = k_lo;
    p.k_hi = k_hi;
    p.l_lo = l_lo;
    p.l_hi = l_hi;
    p.stride_k = (int)stride_k;
    p.stride_l = (int)stride_l;
    const REAL x = dx[i], y = dy[i], z = dz[i];
    double acc = 0.0;
    for (int s = 0; s < S; ++s) {
        REAL c[12];
        NB_(nb_setting)(coef, offset, S, s, c);
        acc += (double)NB_(nb_term)(x, y, z, c, &p, shape, use_grid);
    }
    if (!use_grid) acc *= (double)default_F * (double)default_F;
    out[i] = (REAL)acc;
}

#else
/* ---- CPU: blocks of samples, the loop over samples innermost ------------------------ */

/* samples per block: their directions and sums stay in the L1 cache */
#ifndef NB_CPU_BLOCK
#define NB_CPU_BLOCK 256
#endif

/* one setting for the samples of a block, with the shape and the grid fixed */
#define NB_CPU_LOOP(SHAPE, GRID)                                                         \
    for (int j = 0; j < m; ++j)                                                          \
        acc[j] += (double)NB_(nb_term)(x[j], y[j], z[j], c, &q, SHAPE, GRID)

NB_FN void NB_(nb_block)(const REAL *NB_RESTRICT x, const REAL *NB_RESTRICT y,
                         const REAL *NB_RESTRICT z, const REAL *NB_RESTRICT coef,
                         const REAL *NB_RESTRICT offset, const NB_(nb_params) *p, int S,
                         int m, double *NB_RESTRICT acc)
{
    /* local copies: loop-invariant values the compiler keeps in registers */
    const NB_(nb_params) q = *p;
    for (int j = 0; j < m; ++j)
        acc[j] = 0.0;
    for (int s = 0; s < S; ++s) {
        REAL c[12];
        NB_(nb_setting)(coef, offset, S, s, c);
        switch (q.shape * 2 + (q.use_grid != 0)) {
        case 2 * NB_SHAPE_SQUARE: NB_CPU_LOOP(NB_SHAPE_SQUARE, 0); break;
        case 2 * NB_SHAPE_SQUARE + 1: NB_CPU_LOOP(NB_SHAPE_SQUARE, 1); break;
        case 2 * NB_SHAPE_ROUND: NB_CPU_LOOP(NB_SHAPE_ROUND, 0); break;
        case 2 * NB_SHAPE_ROUND + 1: NB_CPU_LOOP(NB_SHAPE_ROUND, 1); break;
        case 2 * NB_SHAPE_GAUSS: NB_CPU_LOOP(NB_SHAPE_GAUSS, 0); break;
        case 2 * NB_SHAPE_GAUSS + 1: NB_CPU_LOOP(NB_SHAPE_GAUSS, 1); break;
        case 2 * NB_SHAPE_TOPHAT: NB_CPU_LOOP(NB_SHAPE_TOPHAT, 0); break;
        default: NB_CPU_LOOP(NB_SHAPE_TOPHAT, 1); break;
        }
    }
}

#undef NB_CPU_LOOP
#endif /* targets */

#undef REAL
#undef NB_
#undef R_RINT
#undef R_CEIL
#undef R_SQRT
#undef R_FABS
