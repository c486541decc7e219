#include "feddiff/scratch.h"

#include <omp.h>
#include <stdlib.h>

#include "feddiff/error.h"

typedef struct {
    float *data;
    size_t capacity; /* floats */
} buffer;

/* Indexed by OpenMP thread number: each entry is touched by one thread only. */
static buffer buffers[FD_SCRATCH_MAX_THREADS][FD_SCRATCH_SLOTS];

float *fd_scratch(int slot, size_t count)
{
    int thread = omp_get_thread_num();
    FD_ASSERT(slot >= 0 && slot < FD_SCRATCH_SLOTS && thread < FD_SCRATCH_MAX_THREADS);
    FD_ASSERT(omp_get_level() <= 1); /* thread numbers are unique only in one level */
    buffer *b = &buffers[thread][slot];
    if (b->capacity < count) {
        free(b->data);
        size_t grown = count + count / 4; /* some headroom against creeping growth */
        b->data = fd_malloc(grown * sizeof(float));
        b->capacity = grown;
    }
    return b->data;
}

void fd_scratch_release(void)
{
    for (int t = 0; t < FD_SCRATCH_MAX_THREADS; t++)
        for (int s = 0; s < FD_SCRATCH_SLOTS; s++) {
            free(buffers[t][s].data);
            buffers[t][s].data = NULL;
            buffers[t][s].capacity = 0;
        }
}
