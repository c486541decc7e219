/* The float32 training kernels: conventions shared by every kernel module.
 *
 * Layout: activations are NHWC, [B][H][W][C] row-major, so a convolution or a 1x1 projection
 * is one GEMM over all B*H*W positions and attention reads [T][C] rows directly. Parameters
 * keep PyTorch's layouts (conv weight [C_out][C_in][K][K], linear weight [out][in]) so that
 * checkpoints load into PyTorch by name.
 *
 * Signatures: outputs first, then inputs, then parameters, sizes last (llm.c's order).
 * Forward kernels overwrite their outputs. Backward kernels ACCUMULATE (+=) into every
 * gradient they produce, inputs and parameters alike, so that skip connections and shared
 * weights need no extra buffers; callers zero gradients before a backward pass. A NULL
 * gradient pointer means "not needed" and is skipped (the input image needs no gradient).
 *
 * Threads: each kernel spends the rank's budget (feddiff/threads.h) on one OpenMP team or one
 * multi-threaded fd_sgemm, never both at once. Matrix-shaped work goes through fd_sgemm.
 *
 * Every kernel's test (tests/unit/test_<module>.c) holds its naive reference twin (direct
 * loops, double accumulation) and a finite-difference gradient check of its backward. */
#ifndef FEDDIFF_KERNELS_H
#define FEDDIFF_KERNELS_H

#include "feddiff/activation.h"
#include "feddiff/attention.h"
#include "feddiff/conv2d.h"
#include "feddiff/elementwise.h"
#include "feddiff/embedding.h"
#include "feddiff/groupnorm.h"
#include "feddiff/linear.h"
#include "feddiff/loss.h"
#include "feddiff/pool.h"
#include "feddiff/resample.h"

#endif
