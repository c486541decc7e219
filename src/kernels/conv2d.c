/* 2-D convolution, NHWC, as GEMMs (fd_sgemm) over chunks of positions.
 *
 * Threads: the positions are cut into chunks of about CHUNK_POSITIONS. Each OpenMP thread
 * takes whole chunks and runs single-threaded fd_sgemm calls on its own scratch, so the
 * memory-bound copies of one thread overlap the GEMM of the other and BLIS never forks.
 * Pixels are always on the GEMM's M side (BLIS is much faster with a large M). Each fd_sgemm
 * call costs a fixed ~5-10 us plus the packing of its small operand, which argues for long
 * chunks; a chunk's scratch that overflows the L2 cache argues for short ones. A whole
 * training step of the default UNet (feddiff bench train-step, one thread, CPU time, on a
 * 2 MB-L2 Xeon shared with other jobs) took 8% less at batch 64 and 7% less at batch 16 with
 * 512 positions than with 2048 (256 and 384: the same as 512), although an earlier
 * per-convolution measurement had found 2048 ~25% faster than 256. One multi-threaded fd_sgemm per chunk after an
 * OpenMP im2col was 15-30% slower. Scratch is bounded by the chunk size, or one image if that
 * is larger.
 *
 * BLIS is fast when its GEMM is wide (N >= ~9*32) and slow at N = 32, where it spends as much
 * time packing the long operand as computing. So each pass picks, of two exact formulations,
 * the one whose GEMM has the wider N and the shorter copied rows. Figures: GFLOP/s, batch 64,
 * 2 threads, on a machine whose 2-thread sgemm peak is ~370.
 *
 * Forward:
 *  - by taps (stride 1, K = 3, C_in >= TAPS_MIN_C_IN): y = inp wy with wy [C_in][9*C_out]
 *    gives every tap's product for each pixel (N = 9*C_out, reduction C_in, and inp needs no
 *    copy), then sum_taps adds the nine shifted slices. 32->32 at 28x28: 300 against 195 by
 *    im2col; 128->64 at 14x14: 375 against 265.
 *  - by rows (stride 2, K = 3, C_in >= TAPS_MIN_C_IN): see forward_down_by_rows; 32->32 at
 *    28x28: 195 against 175 by im2col.
 *  - im2col otherwise (few input channels, 1x1): out = cols wf^T with
 *    cols[position][(kh*K + kw)*C_in + ci] (each tap row one contiguous run of K*C_in input
 *    floats) and wf [C_out][(kh*K + kw)*C_in + ci]. 1x1 stride 1 uses inp as the columns.
 *
 * Backward:
 *  - dinp: dout wf gives the columns' gradient (N = 9*C_in, reduction C_out), added into dinp
 *    by sum_taps (stride 1) or col2im (stride 2) in chunks of whole images, so no two threads
 *    write the same pixel. 32->32 at 28x28: 295 against 220 as a transposed convolution
 *    (im2col of dout times the flipped kernel, N = C_in). 1x1 stride 1: dinp += dout weight.
 *  - dweight: by im2col (cols^T dout, N = C_out), or by taps when C_in > C_out (im2col of dout
 *    times inp, N = C_in); 96->32 at 28x28: 290 against 200. Per-thread partial sums, with
 *    dbias, over a static schedule, added up in thread order at the end: the result does not
 *    depend on timing. */
#include "feddiff/conv2d.h"

#include <omp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/blas.h"
#include "feddiff/error.h"
#include "feddiff/scratch.h"
#include "feddiff/threads.h"

/* Scratch slots: a thread's columns (or products); the per-call permuted weights (thread 0,
 * outside the parallel region); a thread's partial weight gradient; a thread's products when
 * the columns are still needed (forward by rows), or its partial bias gradient (backward). */
enum { SLOT_COLS = 0, SLOT_WEIGHTS = 1, SLOT_PARTIALS = 2, SLOT_PRODUCTS = 3, SLOT_BIAS = 3 };

enum { CHUNK_POSITIONS = 512 };
/* The forward by taps reduces over C_in only, so it needs some width (measured with
 * C_out = 32: even with im2col at C_in = 16, 1.7x slower at C_in = 4). */
enum { TAPS_MIN_C_IN = 16 };
/* A chunk's columns take at most this many floats (8 MB) per thread. */
static const size_t max_chunk_floats = (size_t)2 << 20;

int fd_conv2d_out_size(int in, int K, int stride) { return (in + 2 * (K / 2) - K) / stride + 1; }

typedef struct {
    int B, H, W, C_in, C_out, K, stride, Ho, Wo;
    size_t positions; /* B*Ho*Wo */
    size_t row;       /* K*K*C_in: length of one im2col row */
} conv_shape;

static conv_shape make_shape(int B, int H, int W, int C_in, int C_out, int K, int stride)
{
    FD_ASSERT(B > 0 && H > 0 && W > 0 && C_in > 0 && C_out > 0);
    FD_ASSERT((K == 1 || K == 3) && (stride == 1 || stride == 2));
    conv_shape s = {B, H, W, C_in, C_out, K, stride, fd_conv2d_out_size(H, K, stride),
                    fd_conv2d_out_size(W, K, stride), 0, 0};
    s.positions = (size_t)B * s.Ho * s.Wo;
    s.row = (size_t)K * K * C_in;
    return s;
}

/* A 1x1 stride-1 convolution reads its input rows as the columns themselves. */
static bool is_pointwise(const conv_shape *s) { return s->K == 1 && s->stride == 1; }

/* Positions [p0, p1) cut into n chunks of `size` positions (the last one shorter). */
typedef struct {
    size_t size, n, positions;
} chunking;

/* About CHUNK_POSITIONS per chunk (fewer for wide rows), a multiple of `threads` chunks of
 * equal size, each a multiple of `granule` positions (whole images, for col2im). */
static chunking make_chunking(size_t positions, size_t row, size_t granule, int threads)
{
    size_t target = CHUNK_POSITIONS;
    if (target * row > max_chunk_floats) target = max_chunk_floats / row;
    if (target < granule) target = granule;
    size_t n = (positions + target - 1) / target;
    n = (n + threads - 1) / threads * threads;
    size_t size = (positions + n - 1) / n;
    size = (size + granule - 1) / granule * granule;
    chunking c = {size, (positions + size - 1) / size, positions};
    return c;
}

static size_t chunk_begin(const chunking *c, size_t i) { return i * c->size; }
static size_t chunk_end(const chunking *c, size_t i)
{
    size_t end = (i + 1) * c->size;
    return end < c->positions ? end : c->positions;
}

/* cols[p - p0][(kh*K + kw)*C + c] = x[b][oh*stride + kh - K/2][ow*stride + kw - K/2][c] for
 * the positions p = (b, oh, ow) in [p0, p1) of a B x Ho x Wo grid; zero outside the image. */
static void im2col(float *cols, const float *x, size_t p0, size_t p1, int H, int W, int C,
                   int K, int stride, int Ho, int Wo)
{
    const int pad = K / 2;
    const size_t row = (size_t)K * K * C, run = (size_t)K * C;
    size_t b = p0 / ((size_t)Ho * Wo);
    int oh = (int)(p0 / Wo % Ho), ow = (int)(p0 % Wo);
    float *dst = cols;
    for (size_t p = p0; p < p1; p++, dst += row) {
        const float *img = x + b * H * W * C;
        const int iw0 = ow * stride - pad;
        for (int kh = 0; kh < K; kh++) {
            float *d = dst + kh * run;
            const int ih = oh * stride + kh - pad;
            if (ih < 0 || ih >= H) {
                memset(d, 0, sizeof(float) * run);
            } else if (iw0 >= 0 && iw0 + K <= W) {
                memcpy(d, img + ((size_t)ih * W + iw0) * C, sizeof(float) * run);
            } else { /* taps kw in [kw_lo, kw_hi) fall inside the image */
                const int kw_lo = iw0 < 0 ? -iw0 : 0, kw_hi = iw0 + K > W ? W - iw0 : K;
                memset(d, 0, sizeof(float) * kw_lo * C);
                memcpy(d + (size_t)kw_lo * C, img + ((size_t)ih * W + iw0 + kw_lo) * C,
                       sizeof(float) * (kw_hi - kw_lo) * C);
                memset(d + (size_t)kw_hi * C, 0, sizeof(float) * (K - kw_hi) * C);
            }
        }
        if (++ow == Wo) {
            ow = 0;
            if (++oh == Ho) {
                oh = 0;
                b++;
            }
        }
    }
}

/* The adjoint of im2col: x[b][ih][iw][c] += cols[...] for every tap of the positions [p0, p1). */
static void col2im(float *x, const float *cols, size_t p0, size_t p1, int H, int W, int C,
                   int K, int stride, int Ho, int Wo)
{
    const int pad = K / 2;
    const size_t row = (size_t)K * K * C;
    for (size_t p = p0; p < p1; p++) {
        const size_t b = p / ((size_t)Ho * Wo);
        const int oh = (int)(p / Wo % Ho), ow = (int)(p % Wo);
        const float *src = cols + (p - p0) * row;
        float *img = x + b * H * W * C;
        const int iw0 = ow * stride - pad;
        const int kw_lo = iw0 < 0 ? -iw0 : 0;
        const int kw_hi = iw0 + K > W ? W - iw0 : K;
        for (int kh = 0; kh < K; kh++) {
            const int ih = oh * stride + kh - pad;
            if (ih < 0 || ih >= H) continue;
            const float *s = src + ((size_t)kh * K + kw_lo) * C;
            float *d = img + ((size_t)ih * W + iw0 + kw_lo) * C;
            const size_t n = (size_t)(kw_hi - kw_lo) * C;
            for (size_t i = 0; i < n; i++) d[i] += s[i];
        }
    }
}

/* wf[co][(kh*K + kw)*C_in + ci] = weight[co][ci][kh][kw]: the forward GEMM's right operand. */
static void permute_weight_forward(float *wf, const float *weight, int C_in, int C_out, int K)
{
    const int KK = K * K;
#pragma omp parallel for schedule(static) if (C_out * C_in * KK > 32768)
    for (int co = 0; co < C_out; co++)
        for (int ci = 0; ci < C_in; ci++)
            for (int t = 0; t < KK; t++)
                wf[((size_t)co * KK + t) * C_in + ci] = weight[((size_t)co * C_in + ci) * KK + t];
}

/* wy[ci][(kh*K + kw)*C_out + co] = weight[co][ci][kh][kw]: every tap's products at once. */
static void permute_weight_taps(float *wy, const float *weight, int C_in, int C_out, int K)
{
    const int KK = K * K;
#pragma omp parallel for schedule(static) if (C_out * C_in * KK > 32768)
    for (int ci = 0; ci < C_in; ci++)
        for (int t = 0; t < KK; t++)
            for (int co = 0; co < C_out; co++)
                wy[((size_t)ci * KK + t) * C_out + co] = weight[((size_t)co * C_in + ci) * KK + t];
}

/* Stride 1, K = 3, for the pixels p = (b, h, w) in [p0, p1), whole images:
 *   dst[p][c] = first[c] + sum over the taps (kh, kw) of
 *               src[(b, h + dir*(kh - 1), w + dir*(kw - 1)) - p0][(kh*3 + kw)*C + c],
 * first = `base`, or dst[p] itself (accumulate) when base is NULL. dir = +1 is the forward's
 * tap sum; dir = -1 is col2im written as a gather. Taps outside the image read `zero` (C
 * zeros), so that each pixel is one branch-free vector loop over C. */
static void sum_taps(float *restrict dst, const float *restrict src, const float *restrict base,
                     const float *restrict zero, int dir, size_t p0, size_t p1, int H, int W,
                     int C)
{
    const size_t row = (size_t)9 * C;
    int h = (int)(p0 / W % H), w = (int)(p0 % W);
    size_t image = p0 - ((size_t)h * W + w); /* first pixel of the current image */
    for (size_t p = p0; p < p1; p++) {
        const float *t[9];
        for (int kh = 0; kh < 3; kh++)
            for (int kw = 0; kw < 3; kw++) {
                const int sh = h + dir * (kh - 1), sw = w + dir * (kw - 1);
                const bool inside = sh >= 0 && sh < H && sw >= 0 && sw < W;
                t[kh * 3 + kw] = inside ? src + (image + (size_t)sh * W + sw - p0) * row +
                                              (size_t)(kh * 3 + kw) * C
                                        : zero;
            }
        float *d = dst + p * C;
        const float *first = base ? base : d;
        for (int c = 0; c < C; c++)
            d[c] = first[c] + t[0][c] + t[1][c] + t[2][c] + t[3][c] + t[4][c] + t[5][c] +
                   t[6][c] + t[7][c] + t[8][c];
        if (++w == W) {
            w = 0;
            if (++h == H) {
                h = 0;
                image += (size_t)H * W;
            }
        }
    }
}

/* Forward as im2col + GEMM: out[p][co] = cols[p][:] . wf[co][:] + bias[co]. */
static void forward_by_im2col(float *out, const float *inp, const float *weight,
                              const float *bias, const conv_shape *s)
{
    const int C_in = s->C_in, C_out = s->C_out;
    const float *wf = weight;
    if (s->K > 1) {
        float *permuted = fd_scratch(SLOT_WEIGHTS, (size_t)C_out * s->row);
        permute_weight_forward(permuted, weight, C_in, C_out, s->K);
        wf = permuted;
    }
    const int threads = fd_threads();
    const chunking ch = make_chunking(s->positions, s->row, 1, threads);
    /* Chunks are independent: a dynamic schedule evens out unequal cores at no cost to
     * reproducibility. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t c = 0; c < ch.n; c++) {
        const size_t p0 = chunk_begin(&ch, c), p1 = chunk_end(&ch, c);
        const float *cols = inp + p0 * C_in;
        if (!is_pointwise(s)) {
            float *buf = fd_scratch(SLOT_COLS, ch.size * s->row);
            im2col(buf, inp, p0, p1, s->H, s->W, C_in, s->K, s->stride, s->Ho, s->Wo);
            cols = buf;
        }
        float *o = out + p0 * C_out;
        fd_sgemm(false, true, (int)(p1 - p0), C_out, (int)s->row, 1.0f, cols, (int)s->row, wf,
                 (int)s->row, 0.0f, o, C_out);
        if (bias)
            for (size_t p = 0; p < p1 - p0; p++)
                for (int co = 0; co < C_out; co++) o[p * C_out + co] += bias[co];
    }
}

/* Forward for stride 1 and K = 3, by taps (see the top of the file). Chunks are whole images,
 * so sum_taps finds every neighbour's products in its own chunk. */
static void forward_by_taps(float *out, const float *inp, const float *weight,
                            const float *bias, const conv_shape *s)
{
    const int C_in = s->C_in, C_out = s->C_out;
    const size_t y_row = (size_t)9 * C_out;
    float *wy = fd_scratch(SLOT_WEIGHTS, (size_t)C_in * y_row + C_out);
    permute_weight_taps(wy, weight, C_in, C_out, 3);
    float *zero = wy + (size_t)C_in * y_row;
    memset(zero, 0, sizeof(float) * C_out);
    const float *base = bias ? bias : zero;
    const int threads = fd_threads();
    const chunking ch = make_chunking(s->positions, y_row, (size_t)s->H * s->W, threads);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t c = 0; c < ch.n; c++) {
        const size_t p0 = chunk_begin(&ch, c), p1 = chunk_end(&ch, c);
        float *y = fd_scratch(SLOT_COLS, ch.size * y_row);
        fd_sgemm(false, false, (int)(p1 - p0), (int)y_row, C_in, 1.0f, inp + p0 * C_in, C_in, wy,
                 (int)y_row, 0.0f, y, (int)y_row);
        sum_taps(out, y, base, zero, 1, p0, p1, s->H, s->W, C_out);
    }
}

/* ---- forward for stride 2, K = 3, by rows -------------------------------------------------
 * Input row ih meets output row oh through kh = ih - 2*oh + 1: an even row only through
 * kh = 1, an odd row through kh = 0 and kh = 2. For each input row and output column the
 * three taps kw are one run of 3*C_in floats (as in im2col, but per input row, not per output
 * position: 6*C_in floats per output instead of 9*C_in). A GEMM of the runs of the even rows
 * with kernel row 1 (N = C_out), one of the odd rows with kernel rows 0 and 2 (N = 2*C_out),
 * then each output is the sum of three products. */

/* runs[(b - b0, i, ow)][kw*C + c] = x[b][first + 2*i][2*ow + kw - 1][c] (zero outside) for the
 * images [b0, b1) and the input rows first, first + 2, ... (n_rows of them). */
static void row_runs(float *runs, const float *x, size_t b0, size_t b1, int first, int n_rows,
                     const conv_shape *s)
{
    const size_t C = (size_t)s->C_in;
    for (size_t b = b0; b < b1; b++)
        for (int i = 0; i < n_rows; i++) {
            const float *row = x + (b * s->H + (size_t)first + 2 * (size_t)i) * s->W * C;
            for (int ow = 0; ow < s->Wo; ow++, runs += 3 * C) {
                const int iw0 = 2 * ow - 1;
                const int kw_lo = iw0 < 0 ? 1 : 0, kw_hi = iw0 + 3 > s->W ? s->W - iw0 : 3;
                memset(runs, 0, sizeof(float) * kw_lo * C);
                memcpy(runs + kw_lo * C, row + (size_t)(iw0 + kw_lo) * C,
                       sizeof(float) * (kw_hi - kw_lo) * C);
                memset(runs + kw_hi * C, 0, sizeof(float) * (3 - kw_hi) * C);
            }
        }
}

/* wr[kw*C_in + ci][j*C_out + co] = weight[co][ci][first_kh + 2*j][kw], j < n_kh. */
static void permute_weight_rows(float *wr, const float *weight, int C_in, int C_out,
                                int first_kh, int n_kh)
{
    for (int kw = 0; kw < 3; kw++)
        for (int ci = 0; ci < C_in; ci++)
            for (int j = 0; j < n_kh; j++)
                for (int co = 0; co < C_out; co++)
                    wr[(((size_t)kw * C_in + ci) * n_kh + j) * C_out + co] =
                        weight[(((size_t)co * C_in + ci) * 3 + first_kh + 2 * j) * 3 + kw];
}

static void forward_down_by_rows(float *out, const float *inp, const float *weight,
                                 const float *bias, const conv_shape *s)
{
    const int C_in = s->C_in, C_out = s->C_out, Wo = s->Wo;
    const int run = 3 * C_in, even_rows = (s->H + 1) / 2, odd_rows = s->H / 2;
    float *w_even = fd_scratch(SLOT_WEIGHTS, (size_t)9 * C_in * C_out + C_out);
    float *w_odd = w_even + (size_t)run * C_out, *zero = w_odd + (size_t)run * 2 * C_out;
    permute_weight_rows(w_even, weight, C_in, C_out, 1, 1);
    permute_weight_rows(w_odd, weight, C_in, C_out, 0, 2);
    memset(zero, 0, sizeof(float) * C_out);
    const float *base = bias ? bias : zero;

    const size_t out_image = (size_t)s->Ho * Wo;
    const size_t runs_image = (size_t)s->H * Wo * run;
    const size_t y_image = ((size_t)even_rows + 2 * (size_t)odd_rows) * Wo * C_out;
    const int threads = fd_threads();
    const chunking ch = make_chunking(s->positions, (runs_image + y_image) / out_image,
                                      out_image, threads);
    const size_t chunk_images = ch.size / out_image;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t c = 0; c < ch.n; c++) {
        const size_t p0 = chunk_begin(&ch, c), p1 = chunk_end(&ch, c);
        const size_t b0 = p0 / out_image, b1 = p1 / out_image, nb = b1 - b0;
        float *runs_even = fd_scratch(SLOT_COLS, chunk_images * runs_image);
        float *runs_odd = runs_even + nb * even_rows * Wo * run;
        float *y_even = fd_scratch(SLOT_PRODUCTS, chunk_images * y_image);
        float *y_odd = y_even + nb * even_rows * Wo * C_out;
        row_runs(runs_even, inp, b0, b1, 0, even_rows, s);
        row_runs(runs_odd, inp, b0, b1, 1, odd_rows, s);
        fd_sgemm(false, false, (int)(nb * even_rows * Wo), C_out, run, 1.0f, runs_even, run,
                 w_even, C_out, 0.0f, y_even, C_out);
        fd_sgemm(false, false, (int)(nb * odd_rows * Wo), 2 * C_out, run, 1.0f, runs_odd, run,
                 w_odd, 2 * C_out, 0.0f, y_odd, 2 * C_out);
        for (size_t p = p0; p < p1; p++) {
            const size_t b = p / out_image - b0;
            const int oh = (int)(p / Wo % s->Ho), ow = (int)(p % Wo);
            /* kh = 0: odd row oh - 1; kh = 1: even row oh; kh = 2: odd row oh */
            const float *t0 = oh >= 1 ? y_odd + ((b * odd_rows + oh - 1) * Wo + ow) * 2 * C_out
                                      : zero;
            const float *t1 = y_even + ((b * even_rows + oh) * Wo + ow) * C_out;
            const float *t2 = oh < odd_rows
                                  ? y_odd + ((b * odd_rows + oh) * Wo + ow) * 2 * C_out + C_out
                                  : zero;
            float *o = out + p * C_out;
            for (int co = 0; co < C_out; co++) o[co] = base[co] + t0[co] + t1[co] + t2[co];
        }
    }
}

void fd_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int B, int H, int W, int C_in, int C_out, int K, int stride)
{
    const conv_shape s = make_shape(B, H, W, C_in, C_out, K, stride);
    if (K > 1 && stride == 1 && C_in >= TAPS_MIN_C_IN)
        forward_by_taps(out, inp, weight, bias, &s);
    else if (K > 1 && C_in >= TAPS_MIN_C_IN)
        forward_down_by_rows(out, inp, weight, bias, &s);
    else
        forward_by_im2col(out, inp, weight, bias, &s);
}

/* Over the positions [p0, p1) of one chunk, into one thread's partial sums `part` (weight)
 * and `bias_part` (bias, in double: the bias gradient of a denoiser's output layer is a mean
 * residual, a sum of thousands of terms that nearly cancel):
 *  - im2col: part[j][co] += sum_p cols[p][j] dout[p][co], j = (kh*K + kw)*C_in + ci;
 *  - by taps (stride 1, K = 3): part[j][ci] += sum_p g[p][j] inp[p][ci], where
 *    g = im2col(dout) with j = (kh'*3 + kw')*C_out + co holds dout at the output pixel that
 *    reaches p through the tap (2 - kh', 2 - kw'): the columns are 9*C_out wide, not 9*C_in;
 *  - bias_part[co] += sum_p dout[p][co].
 * The GEMM's long side (j) is on M: measured a few % faster than the transpose. */
static void accumulate_parameter_grads(float *part, double *bias_part, bool by_taps,
                                       const float *dout, const float *inp, const conv_shape *s,
                                       size_t p0, size_t p1, size_t cap)
{
    const int C_in = s->C_in, C_out = s->C_out, np = (int)(p1 - p0);
    const float *g = dout + p0 * C_out;
    if (bias_part)
        for (int p = 0; p < np; p++)
            for (int co = 0; co < C_out; co++) bias_part[co] += g[(size_t)p * C_out + co];
    if (!part) return;
    if (by_taps) {
        const size_t row = (size_t)9 * C_out;
        float *buf = fd_scratch(SLOT_COLS, cap * row);
        im2col(buf, dout, p0, p1, s->Ho, s->Wo, C_out, 3, 1, s->H, s->W);
        fd_sgemm(true, false, (int)row, C_in, np, 1.0f, buf, (int)row, inp + p0 * C_in, C_in,
                 1.0f, part, C_in);
        return;
    }
    const float *cols = inp + p0 * C_in;
    if (!is_pointwise(s)) {
        float *buf = fd_scratch(SLOT_COLS, cap * s->row);
        im2col(buf, inp, p0, p1, s->H, s->W, C_in, s->K, s->stride, s->Ho, s->Wo);
        cols = buf;
    }
    fd_sgemm(true, false, (int)s->row, C_out, np, 1.0f, cols, (int)s->row, g, C_out, 1.0f,
             part, C_out);
}

/* dinp += the input gradient of the output positions [p0, p1), whole images: dout times the
 * weight (in the forward layout `wf`) gives the columns' gradient, which sum_taps (stride 1)
 * or col2im (stride 2) adds into dinp; a 1x1 stride-1 convolution adds the product straight
 * into dinp. `zero`: C_in zeros for sum_taps. */
static void accumulate_input_grad(float *dinp, const float *dout, const float *wf,
                                  const float *zero, const conv_shape *s, size_t p0, size_t p1,
                                  size_t cap)
{
    const int C_in = s->C_in, C_out = s->C_out, np = (int)(p1 - p0);
    if (is_pointwise(s)) {
        fd_sgemm(false, false, np, C_in, C_out, 1.0f, dout + p0 * C_out, C_out, wf, C_in, 1.0f,
                 dinp + p0 * C_in, C_in);
        return;
    }
    float *buf = fd_scratch(SLOT_COLS, cap * s->row);
    fd_sgemm(false, false, np, (int)s->row, C_out, 1.0f, dout + p0 * C_out, C_out, wf,
             (int)s->row, 0.0f, buf, (int)s->row);
    if (s->K == 3 && s->stride == 1)
        sum_taps(dinp, buf, NULL, zero, -1, p0, p1, s->H, s->W, C_in);
    else
        col2im(dinp, buf, p0, p1, s->H, s->W, C_in, s->K, s->stride, s->Ho, s->Wo);
}

void fd_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int B, int H, int W, int C_in,
                        int C_out, int K, int stride)
{
    const conv_shape s = make_shape(B, H, W, C_in, C_out, K, stride);
    const bool want_params = dweight || dbias;
    if (!dinp && !want_params) return;

    const float *wf = weight, *zero = NULL;
    if (dinp && K > 1) { /* the weight in the forward layout, then C_in zeros for sum_taps */
        float *permuted = fd_scratch(SLOT_WEIGHTS, (size_t)C_out * s.row + C_in);
        permute_weight_forward(permuted, weight, C_in, C_out, K);
        memset(permuted + (size_t)C_out * s.row, 0, sizeof(float) * C_in);
        wf = permuted;
        zero = permuted + (size_t)C_out * s.row;
    }

    const int threads = fd_threads();
    /* dweight by taps wherever its columns are the narrower ones (measured 96->32 at 28x28:
     * 290 against 200 GFLOP/s; 32->64 at 14x14: 200 against 260 the other way round). */
    const bool dweight_by_taps = K == 3 && stride == 1 && C_in > C_out;
    const chunking param_ch =
        make_chunking(s.positions, dweight_by_taps ? (size_t)9 * C_out : s.row, 1, threads);
    /* dinp chunks are whole images: col2im never adds into another thread's pixels, and
     * sum_taps finds every neighbour's columns in its own chunk. */
    const chunking dinp_ch = make_chunking(
        s.positions, s.row, is_pointwise(&s) ? 1 : (size_t)s.Ho * s.Wo, threads);
    const size_t n_partial = (size_t)C_out * s.row;
    float *partials[FD_SCRATCH_MAX_THREADS];
    double *bias_partials[FD_SCRATCH_MAX_THREADS];

#pragma omp parallel num_threads(threads)
    {
        const int team = omp_get_num_threads();
        if (want_params) {
            float *part = NULL;
            double *bias_part = NULL;
            if (dweight) {
                part = fd_scratch(SLOT_PARTIALS, n_partial);
                memset(part, 0, sizeof(float) * n_partial);
            }
            if (dbias) { /* a float buffer holds C_out doubles in 2*C_out floats, 64-byte aligned */
                bias_part = (double *)(void *)fd_scratch(SLOT_BIAS, (size_t)2 * C_out);
                memset(bias_part, 0, sizeof(double) * C_out);
            }
            partials[omp_get_thread_num()] = part;
            bias_partials[omp_get_thread_num()] = bias_part;
            /* Static: each thread's partial sums the same chunks in every run. */
#pragma omp for schedule(static) nowait
            for (size_t c = 0; c < param_ch.n; c++)
                accumulate_parameter_grads(part, bias_part, dweight_by_taps, dout, inp, &s,
                                           chunk_begin(&param_ch, c), chunk_end(&param_ch, c),
                                           param_ch.size);
        }
        /* Chunks of dinp are independent: dynamic, so a thread done with its parameter
         * chunks early takes more of these. */
        if (dinp) {
#pragma omp for schedule(dynamic, 1)
            for (size_t c = 0; c < dinp_ch.n; c++)
                accumulate_input_grad(dinp, dout, wf, zero, &s, chunk_begin(&dinp_ch, c),
                                      chunk_end(&dinp_ch, c), dinp_ch.size);
        }
#pragma omp barrier
        /* Reduce the partials in thread order. */
        if (dweight) {
            const int KK = K * K;
#pragma omp for schedule(static)
            for (int co = 0; co < C_out; co++)
                for (int ci = 0; ci < C_in; ci++)
                    for (int k = 0; k < KK; k++) {
                        float sum = 0.0f;
                        for (int u = 0; u < team; u++)
                            sum += partials[u][dweight_by_taps
                                                   ? ((size_t)(KK - 1 - k) * C_out + co) * C_in + ci
                                                   : ((size_t)k * C_in + ci) * C_out + co];
                        dweight[((size_t)co * C_in + ci) * KK + k] += sum;
                    }
        }
        if (dbias) {
#pragma omp single
            for (int co = 0; co < C_out; co++) {
                double sum = 0.0;
                for (int u = 0; u < team; u++) sum += bias_partials[u][co];
                dbias[co] += (float)sum;
            }
        }
    }
}
