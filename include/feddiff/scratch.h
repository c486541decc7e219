/* Scratch memory for kernels (im2col columns, packed weights, attention rows): per OpenMP
 * thread, grow-only and reused across calls, so a training step allocates nothing. */
#ifndef FEDDIFF_SCRATCH_H
#define FEDDIFF_SCRATCH_H

#include <stddef.h>

enum { FD_SCRATCH_SLOTS = 4, FD_SCRATCH_MAX_THREADS = 256 };

/* A buffer of at least `count` floats for the calling thread (omp_get_thread_num()), 64-byte
 * aligned, contents undefined. `slot` (0 .. FD_SCRATCH_SLOTS-1) tells apart buffers one thread
 * uses at the same time. Valid until the same thread asks for the same slot again. */
float *fd_scratch(int slot, size_t count);
/* Free every thread's scratch (at exit, so leak checkers see a clean heap). */
void fd_scratch_release(void);

#endif
