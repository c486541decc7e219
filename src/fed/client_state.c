#include "feddiff/client_state.h"

#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"

static float *row(float *base, int j, size_t width) { return base + (size_t)j * width; }

void fd_client_states_init(fd_client_states *s, const int *ids, int n, fd_range local,
                           fd_range moments, const fd_model *m)
{
    memset(s, 0, sizeof *s);
    FD_ASSERT(m->ema || local.count == 0);
    s->n = n;
    s->local = local;
    s->moments = moments;
    const size_t rows = (size_t)(n > 0 ? n : 1);
    s->ids = fd_malloc(sizeof(int) * rows);
    s->adam_steps = fd_calloc(rows, sizeof(long));
    s->ema_steps = fd_calloc(rows, sizeof(long));
    s->params = fd_malloc(sizeof(float) * rows * local.count);
    s->ema = fd_malloc(sizeof(float) * rows * local.count);
    s->adam_m = fd_calloc(rows * moments.count, sizeof(float));
    s->adam_v = fd_calloc(rows * moments.count, sizeof(float));
    for (int j = 0; j < n; j++) {
        FD_ASSERT(j == 0 || ids[j] > ids[j - 1]);
        s->ids[j] = ids[j];
        memcpy(row(s->params, j, local.count), m->params.data + local.offset,
               sizeof(float) * local.count);
        if (local.count)
            memcpy(row(s->ema, j, local.count), m->ema + local.offset, sizeof(float) * local.count);
    }
}

void fd_client_states_free(fd_client_states *s)
{
    free(s->ids);
    free(s->adam_steps);
    free(s->ema_steps);
    free(s->params);
    free(s->ema);
    free(s->adam_m);
    free(s->adam_v);
    memset(s, 0, sizeof *s);
}

int fd_client_states_find(const fd_client_states *s, int id)
{
    int lo = 0, hi = s->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (s->ids[mid] == id) return mid;
        if (s->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

long fd_client_states_load(const fd_client_states *s, int j, fd_model *m, fd_range trained)
{
    FD_ASSERT(j >= 0 && j < s->n);
    const fd_range l = s->local, mo = s->moments;
    if (l.count) {
        memcpy(m->params.data + l.offset, row(s->params, j, l.count), sizeof(float) * l.count);
        memcpy(m->ema + l.offset, row(s->ema, j, l.count), sizeof(float) * l.count);
    }
    if (mo.count) {
        FD_ASSERT(mo.offset == trained.offset && mo.count == trained.count);
        memcpy(m->params.adam_m + mo.offset, row(s->adam_m, j, mo.count), sizeof(float) * mo.count);
        memcpy(m->params.adam_v + mo.offset, row(s->adam_v, j, mo.count), sizeof(float) * mo.count);
        return s->adam_steps[j];
    }
    memset(m->params.adam_m + trained.offset, 0, sizeof(float) * trained.count);
    memset(m->params.adam_v + trained.offset, 0, sizeof(float) * trained.count);
    return 0;
}

void fd_client_states_store(fd_client_states *s, int j, const fd_model *m, long adam_steps,
                            long steps_trained)
{
    FD_ASSERT(j >= 0 && j < s->n);
    const fd_range l = s->local, mo = s->moments;
    if (l.count) {
        memcpy(row(s->params, j, l.count), m->params.data + l.offset, sizeof(float) * l.count);
        memcpy(row(s->ema, j, l.count), m->ema + l.offset, sizeof(float) * l.count);
    }
    if (mo.count) {
        memcpy(row(s->adam_m, j, mo.count), m->params.adam_m + mo.offset, sizeof(float) * mo.count);
        memcpy(row(s->adam_v, j, mo.count), m->params.adam_v + mo.offset, sizeof(float) * mo.count);
    }
    s->adam_steps[j] = adam_steps;
    s->ema_steps[j] += steps_trained;
}

size_t fd_client_states_row_floats(const fd_client_states *s)
{
    return 2 * s->local.count + 2 * s->moments.count;
}

/* The four rows of client j in message order, with their widths. */
static void rows_of(const fd_client_states *s, int j, float *rows[4], size_t widths[4])
{
    const size_t l = s->local.count, mo = s->moments.count;
    rows[0] = row(s->params, j, l);
    rows[1] = row(s->ema, j, l);
    rows[2] = row(s->adam_m, j, mo);
    rows[3] = row(s->adam_v, j, mo);
    widths[0] = widths[1] = l;
    widths[2] = widths[3] = mo;
}

void fd_client_states_pack(const fd_client_states *s, int j, float *buf)
{
    FD_ASSERT(j >= 0 && j < s->n);
    float *rows[4];
    size_t widths[4];
    rows_of(s, j, rows, widths);
    for (int r = 0; r < 4; r++) {
        memcpy(buf, rows[r], sizeof(float) * widths[r]);
        buf += widths[r];
    }
}

void fd_client_states_unpack(fd_client_states *s, int j, const float *buf)
{
    FD_ASSERT(j >= 0 && j < s->n);
    float *rows[4];
    size_t widths[4];
    rows_of(s, j, rows, widths);
    for (int r = 0; r < 4; r++) {
        memcpy(rows[r], buf, sizeof(float) * widths[r]);
        buf += widths[r];
    }
}

size_t fd_client_states_bytes_per_client(const fd_client_states *s)
{
    return sizeof(float) * (2 * s->local.count + 2 * s->moments.count) + sizeof(long) + sizeof(int);
}
