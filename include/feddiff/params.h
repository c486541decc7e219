/* The parameter arena (llm.c's habit, DESIGN.md section 3).
 *
 * Parameters, gradients and the two AdamW moments each live in one contiguous buffer. Every
 * tensor has a name (the PyTorch module name of the reference model), a shape (PyTorch's
 * layout), and a part: `temb`, `enc`, `mid`, `dec` or `client`. The arena lays tensors out part by
 * part, so each part is one contiguous range, and aggregation, partial exchange and checkpoints are
 * range operations.
 *
 * Use: fd_params_declare() each tensor (any order), then fd_params_finalize() once; after that
 * fd_params_data(p, id) / fd_params_grad(p, id) point into the buffers. */
#ifndef FEDDIFF_PARAMS_H
#define FEDDIFF_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

/* The backbone's four parts (DESIGN.md section 1), then the per-client embedding table of
 * SPIRE, which is never exchanged: each client trains its own row. */
enum fd_part { FD_PART_TEMB, FD_PART_ENC, FD_PART_MID, FD_PART_DEC, FD_PART_CLIENT, FD_PART_COUNT };

#define FD_PARTS_BACKBONE                                                                          \
    (1u << FD_PART_TEMB | 1u << FD_PART_ENC | 1u << FD_PART_MID | 1u << FD_PART_DEC)

enum { FD_TENSOR_NAME_MAX = 96, FD_TENSOR_MAX_DIMS = 4 };

typedef struct {
    char name[FD_TENSOR_NAME_MAX]; /* e.g. "down.1.res.0.conv1.weight" */
    int ndim;
    int shape[FD_TENSOR_MAX_DIMS];
    enum fd_part part;
    bool decay;    /* AdamW weight decay applies: weights (ndim >= 2), not biases or norms */
    size_t offset; /* into each buffer, in floats; set by fd_params_finalize */
    size_t count;  /* product of the shape */
} fd_tensor;

/* A part's range in the buffers: [offset, offset + count). */
typedef struct {
    size_t offset, count;
} fd_range;

typedef struct {
    fd_tensor *tensors; /* [n_tensors], in declaration order; id = index */
    int n_tensors, capacity;
    bool finalized;
    size_t count;                  /* floats in each buffer */
    fd_range parts[FD_PART_COUNT]; /* contiguous, in enum order */
    float *data;                   /* [count] parameters */
    float *grad;                   /* [count] gradients */
    float *adam_m, *adam_v;        /* [count] AdamW moments, allocated by fd_params_finalize */
} fd_params;

const char *fd_part_name(enum fd_part part);
/* Parse "temb", "enc", "mid", "dec", "client"; -1 if none. */
int fd_part_from_name(const char *name);

void fd_params_init(fd_params *p);
/* Declare a tensor; returns its id (declaration order). Names must be unique. */
int fd_params_declare(fd_params *p, const char *name, enum fd_part part, int ndim,
                      const int *shape);
/* Give each tensor its offset, part by part (declaration order within a part), and allocate
 * the four buffers, zeroed. */
void fd_params_finalize(fd_params *p);
void fd_params_free(fd_params *p);

const fd_tensor *fd_params_tensor(const fd_params *p, int id);
float *fd_params_data(const fd_params *p, int id);
float *fd_params_grad(const fd_params *p, int id);
/* The id of the tensor with this name, or -1. */
int fd_params_find(const fd_params *p, const char *name);

void fd_params_zero_grad(fd_params *p);
/* The range covering a set of parts given as a bit mask (1 << FD_PART_x), which must be
 * adjacent in the layout (fatal otherwise). */
fd_range fd_params_range(const fd_params *p, unsigned part_mask);

#endif
