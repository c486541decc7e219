#include "feddiff/pool.h"

#include <stddef.h>

/* Below this many output values a loop runs on the calling thread. */
enum { PARALLEL_MIN = 1 << 14 };

/* The offset (0, 1, 2 or 3: top-left, top-right, bottom-left, bottom-right) of a window's
 * maximum, the first on ties; a NaN wins (as in PyTorch), so that it reaches the output. */
static inline int window_argmax(float a, float b, float c, float d)
{
    int k = 0;
    float m = a;
    if (b > m || b != b) k = 1, m = b;
    if (c > m || c != c) k = 2, m = c;
    if (d > m || d != d) k = 3;
    return k;
}

void fd_maxpool2x2_forward(float *restrict out, const float *restrict inp, int B, int H, int W,
                           int C)
{
    const int Ho = H / 2, Wo = W / 2;
    const size_t rows = (size_t)B * (size_t)Ho;
#pragma omp parallel for schedule(static) if (rows * (size_t)Wo * (size_t)C >= PARALLEL_MIN)
    for (size_t r = 0; r < rows; r++) {
        const size_t b = r / (size_t)Ho, yo = r % (size_t)Ho;
        const float *top = inp + ((b * (size_t)H + 2 * yo) * (size_t)W) * (size_t)C;
        const float *bottom = top + (size_t)W * (size_t)C;
        float *o = out + r * (size_t)Wo * (size_t)C;
        for (int xo = 0; xo < Wo; xo++) {
            const float *t0 = top + (size_t)(2 * xo) * (size_t)C,
                        *b0 = bottom + (size_t)(2 * xo) * (size_t)C;
            for (int c = 0; c < C; c++) {
                const float v[4] = {t0[c], t0[C + c], b0[c], b0[C + c]};
                o[(size_t)xo * (size_t)C + (size_t)c] = v[window_argmax(v[0], v[1], v[2], v[3])];
            }
        }
    }
}

void fd_maxpool2x2_backward(float *restrict dinp, const float *restrict dout,
                            const float *restrict inp, int B, int H, int W, int C)
{
    if (!dinp) return;
    const int Ho = H / 2, Wo = W / 2;
    const size_t rows = (size_t)B * (size_t)Ho;
    /* Each output row owns two input rows: threads never write the same value. */
#pragma omp parallel for schedule(static) if (rows * (size_t)Wo * (size_t)C >= PARALLEL_MIN)
    for (size_t r = 0; r < rows; r++) {
        const size_t b = r / (size_t)Ho, yo = r % (size_t)Ho;
        const size_t top_off = ((b * (size_t)H + 2 * yo) * (size_t)W) * (size_t)C;
        const float *top = inp + top_off, *bottom = top + (size_t)W * (size_t)C;
        float *dtop = dinp + top_off, *dbottom = dtop + (size_t)W * (size_t)C;
        const float *g = dout + r * (size_t)Wo * (size_t)C;
        for (int xo = 0; xo < Wo; xo++) {
            const size_t x0 = (size_t)(2 * xo) * (size_t)C;
            for (int c = 0; c < C; c++) {
                const size_t i = x0 + (size_t)c;
                const float gv = g[(size_t)xo * (size_t)C + (size_t)c];
                switch (
                    window_argmax(top[i], top[i + (size_t)C], bottom[i], bottom[i + (size_t)C])) {
                case 0:
                    dtop[i] += gv;
                    break;
                case 1:
                    dtop[i + (size_t)C] += gv;
                    break;
                case 2:
                    dbottom[i] += gv;
                    break;
                default:
                    dbottom[i + (size_t)C] += gv;
                    break;
                }
            }
        }
    }
}
