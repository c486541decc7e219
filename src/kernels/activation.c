#include "feddiff/activation.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Below this many values a loop runs on the calling thread: a team costs more than it saves. */
enum { PARALLEL_MIN = 1 << 15 };

/* a * b + c, fused where the target has FMA: ISO C mode (-std=c11) keeps GCC from contracting
 * on its own, and without hardware FMA fmaf would be a slow library call. */
#if defined(__FMA__)
#define muladd(a, b, c) fmaf((a), (b), (c))
#else
#define muladd(a, b, c) ((a) * (b) + (c))
#endif

/* e^a for a <= 0 (or NaN), in a form the compiler vectorises: glibc's expf is not vectorised
 * under IEEE semantics (errno), and SiLU runs over every activation of the network. Cephes's
 * expf reduction and polynomial: a = n ln2 + r with |r| <= ln2/2, e^r by a degree-7 polynomial,
 * 2^n put into the exponent bits; relative error about 2 ulp. Results below FLT_MIN are
 * returned as 0 (no subnormals); NaN stays NaN. */
static inline float exp_nonpositive(float a)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    /* Adding 1.5 * 2^23 rounds to an integer, which lands in the low mantissa bits. */
    const float round_magic = 12582912.0f;
    float shifted = muladd(a, log2e, round_magic);
    float n = shifted - round_magic;
    float r = muladd(-n, ln2_lo, muladd(-n, ln2_hi, a));
    float p = 1.9875691500e-4f;
    p = muladd(p, r, 1.3981999507e-3f);
    p = muladd(p, r, 8.3334519073e-3f);
    p = muladd(p, r, 4.1665795894e-2f);
    p = muladd(p, r, 1.6666665459e-1f);
    p = muladd(p, r, 5.0000001201e-1f);
    p = muladd(p * r, r, r + 1.0f);
    /* 2^n for n in [-126, 0]; unsigned arithmetic, so out-of-range n (a < -87.3, or NaN) is
     * garbage but never undefined. */
    uint32_t shifted_bits, magic_bits;
    memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
    memcpy(&magic_bits, &round_magic, sizeof magic_bits);
    uint32_t scale_bits = (shifted_bits - magic_bits + 127u) << 23;
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return a < -87.3f ? 0.0f : p * scale;
}

/* sigmoid(x) = 1 / (1 + e^-x), evaluated through e^-|x| so that nothing overflows. */
static inline float sigmoid(float x)
{
    float e = exp_nonpositive(-fabsf(x));
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}

void fd_silu_forward(float *restrict out, const float *restrict inp, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] * sigmoid(inp[i]);
}

/* silu'(x) = s + x s (1 - s) with s = sigmoid(x) */
void fd_silu_backward(float *restrict dinp, const float *restrict dout, const float *restrict inp,
                      size_t n)
{
    if (!dinp) return;
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i], s = sigmoid(x);
        dinp[i] += dout[i] * (s + x * s * (1.0f - s));
    }
}

void fd_relu_forward(float *restrict out, const float *restrict inp, size_t n)
{
    /* x > 0 ? x : 0 would turn NaN into 0 and hide it: only a proper negative becomes 0. */
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] < 0.0f ? 0.0f : inp[i];
}

void fd_relu_backward(float *restrict dinp, const float *restrict dout, const float *restrict inp,
                      size_t n)
{
    if (!dinp) return;
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}
