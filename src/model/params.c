#include "feddiff/params.h"

#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"

static const char *const part_names[FD_PART_COUNT] = {"temb", "enc", "mid", "dec", "client"};

const char *fd_part_name(enum fd_part part)
{
    FD_ASSERT(part >= 0 && part < FD_PART_COUNT);
    return part_names[part];
}

int fd_part_from_name(const char *name)
{
    for (int i = 0; i < FD_PART_COUNT; i++)
        if (!strcmp(name, part_names[i])) return i;
    return -1;
}

void fd_params_init(fd_params *p) { memset(p, 0, sizeof *p); }

int fd_params_declare(fd_params *p, const char *name, enum fd_part part, int ndim, const int *shape)
{
    FD_ASSERT(!p->finalized);
    FD_ASSERT(part >= 0 && part < FD_PART_COUNT);
    FD_ASSERT(ndim >= 1 && ndim <= FD_TENSOR_MAX_DIMS);
    FD_ASSERT(strlen(name) < FD_TENSOR_NAME_MAX);
    if (fd_params_find(p, name) >= 0) FD_FATAL("parameter '%s' declared twice", name);
    if (p->n_tensors == p->capacity) {
        p->capacity = p->capacity ? 2 * p->capacity : 64;
        p->tensors = fd_realloc(p->tensors, sizeof(fd_tensor) * (size_t)p->capacity);
    }
    fd_tensor *t = &p->tensors[p->n_tensors];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->ndim = ndim;
    t->part = part;
    t->decay = ndim >= 2;
    t->count = 1;
    for (int d = 0; d < ndim; d++) {
        FD_ASSERT(shape[d] > 0);
        t->shape[d] = shape[d];
        t->count *= (size_t)shape[d];
    }
    return p->n_tensors++;
}

void fd_params_finalize(fd_params *p)
{
    FD_ASSERT(!p->finalized);
    size_t offset = 0;
    for (int part = 0; part < FD_PART_COUNT; part++) {
        p->parts[part].offset = offset;
        for (int id = 0; id < p->n_tensors; id++) {
            fd_tensor *t = &p->tensors[id];
            if ((int)t->part != part) continue;
            t->offset = offset;
            offset += t->count;
        }
        p->parts[part].count = offset - p->parts[part].offset;
    }
    p->count = offset;
    p->data = fd_calloc(offset, sizeof(float));
    p->grad = fd_calloc(offset, sizeof(float));
    p->adam_m = fd_calloc(offset, sizeof(float));
    p->adam_v = fd_calloc(offset, sizeof(float));
    p->finalized = true;
}

void fd_params_free(fd_params *p)
{
    free(p->tensors);
    free(p->data);
    free(p->grad);
    free(p->adam_m);
    free(p->adam_v);
    memset(p, 0, sizeof *p);
}

const fd_tensor *fd_params_tensor(const fd_params *p, int id)
{
    FD_ASSERT(p->finalized && id >= 0 && id < p->n_tensors);
    return &p->tensors[id];
}

float *fd_params_data(const fd_params *p, int id)
{
    return p->data + fd_params_tensor(p, id)->offset;
}

float *fd_params_grad(const fd_params *p, int id)
{
    return p->grad + fd_params_tensor(p, id)->offset;
}

int fd_params_find(const fd_params *p, const char *name)
{
    for (int i = 0; i < p->n_tensors; i++)
        if (!strcmp(p->tensors[i].name, name)) return i;
    return -1;
}

void fd_params_zero_grad(fd_params *p) { memset(p->grad, 0, sizeof(float) * p->count); }

fd_range fd_params_range(const fd_params *p, unsigned part_mask)
{
    FD_ASSERT(p->finalized && part_mask != 0 && part_mask < (1u << FD_PART_COUNT));
    int first = -1, last = -1;
    for (int part = 0; part < FD_PART_COUNT; part++)
        if (part_mask & (1u << part)) {
            if (first < 0) first = part;
            last = part;
        }
    for (int part = first; part <= last; part++)
        if (!(part_mask & (1u << part)))
            FD_FATAL("parts are not adjacent in the parameter layout (mask 0x%x)", part_mask);
    fd_range r = {p->parts[first].offset,
                  p->parts[last].offset + p->parts[last].count - p->parts[first].offset};
    return r;
}
