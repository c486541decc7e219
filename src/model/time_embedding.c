#include "feddiff/time_embedding.h"

#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/kernels.h"

void fd_time_embedding_declare(fd_time_embedding *te, fd_params *p, int time_dim, int emb_dim,
                               int n_classes, int n_clients)
{
    memset(te, 0, sizeof *te);
    te->time_dim = time_dim;
    te->emb_dim = emb_dim;
    te->n_classes = n_classes;
    te->n_clients = n_clients;
    te->time1 = fd_layer_linear(p, FD_PART_TEMB, "time_mlp.0", time_dim, emb_dim);
    te->time2 = fd_layer_linear(p, FD_PART_TEMB, "time_mlp.2", emb_dim, emb_dim);
    te->class_emb = n_classes > 0 ? fd_params_declare(p, "class_emb.weight", FD_PART_TEMB, 2,
                                                      (int[]){n_classes, emb_dim})
                                  : -1;
    te->client_emb = n_clients > 0 ? fd_params_declare(p, "client_emb.weight", FD_PART_CLIENT, 2,
                                                       (int[]){n_clients, emb_dim})
                                   : -1;
}

void fd_time_embedding_init_params(const fd_time_embedding *te, const fd_params *p, uint64_t seed)
{
    fd_layer_init_uniform(p, te->time1, seed);
    fd_layer_init_uniform(p, te->time2, seed);
    fd_tensor_init_normal(p, te->class_emb, seed);
    fd_tensor_init_normal(p, te->client_emb, seed);
}

void fd_time_embedding_free(fd_time_embedding *te)
{
    free(te->buffer);
    free(te->y);
    free(te->client);
    te->buffer = NULL;
    te->y = te->client = NULL;
    te->max_batch = 0;
}

static void reserve(fd_time_embedding *te, int B)
{
    if (B <= te->max_batch) return;
    fd_time_embedding_free(te);
    const size_t rows = (size_t)B, E = (size_t)te->emb_dim;
    te->buffer = fd_malloc(sizeof(float) * rows * ((size_t)te->time_dim + 8 * E));
    float *next = te->buffer;
    te->tsin = next, next += rows * (size_t)te->time_dim;
    float **arrays[] = {&te->e1,   &te->e1a,   &te->temb, &te->act,
                        &te->dact, &te->dtemb, &te->de1a, &te->de1};
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++)
        *arrays[k] = next, next += rows * E;
    te->y = fd_malloc(sizeof(int) * rows);
    te->client = fd_malloc(sizeof(int) * rows);
    te->max_batch = B;
}

static void lookup_add(float *temb, float *row, const fd_params *p, int table, const int *ids,
                       int n_rows, const char *what, int B, int E)
{
    for (int b = 0; b < B; b++)
        if (ids[b] < 0 || ids[b] >= n_rows)
            FD_FATAL("%s id %d out of range: the model has %d %s embeddings", what, ids[b], n_rows,
                     what);
    fd_embedding_forward(row, fd_params_data(p, table), ids, B, E);
    fd_accumulate(temb, row, (size_t)B * (size_t)E);
}

const float *fd_time_embedding_forward(fd_time_embedding *te, const fd_params *p, const float *t,
                                       const int *y, const int *client, int B)
{
    reserve(te, B);
    const int E = te->emb_dim;
    const size_t n = (size_t)B * (size_t)E;
    te->batch = B;
    te->has_y = y && te->class_emb >= 0;
    te->has_client = client && te->client_emb >= 0;
    fd_timestep_embedding_forward(te->tsin, t, B, te->time_dim);
    fd_linear_forward(te->e1, te->tsin, fd_params_data(p, te->time1.w),
                      fd_params_data(p, te->time1.b), B, te->time_dim, E);
    fd_silu_forward(te->e1a, te->e1, n);
    fd_linear_forward(te->temb, te->e1a, fd_params_data(p, te->time2.w),
                      fd_params_data(p, te->time2.b), B, E, E);
    if (te->has_y) {
        memcpy(te->y, y, sizeof(int) * (size_t)B);
        lookup_add(te->temb, te->dtemb, p, te->class_emb, y, te->n_classes, "class", B, E);
    }
    if (te->has_client) {
        memcpy(te->client, client, sizeof(int) * (size_t)B);
        lookup_add(te->temb, te->dtemb, p, te->client_emb, client, te->n_clients, "client", B, E);
    }
    fd_silu_forward(te->act, te->temb, n);
    memset(te->dact, 0, sizeof(float) * n);
    return te->act;
}

void fd_time_embedding_backward(fd_time_embedding *te, const fd_params *p)
{
    const int B = te->batch, E = te->emb_dim;
    const size_t n = (size_t)B * (size_t)E;
    memset(te->dtemb, 0, sizeof(float) * n);
    fd_silu_backward(te->dtemb, te->dact, te->temb, n);
    if (te->has_y) fd_embedding_backward(fd_params_grad(p, te->class_emb), te->dtemb, te->y, B, E);
    if (te->has_client)
        fd_embedding_backward(fd_params_grad(p, te->client_emb), te->dtemb, te->client, B, E);
    memset(te->de1a, 0, sizeof(float) * n);
    fd_linear_backward(te->de1a, fd_params_grad(p, te->time2.w), fd_params_grad(p, te->time2.b),
                       te->dtemb, te->e1a, fd_params_data(p, te->time2.w), B, E, E);
    memset(te->de1, 0, sizeof(float) * n);
    fd_silu_backward(te->de1, te->de1a, te->e1, n);
    fd_linear_backward(NULL, fd_params_grad(p, te->time1.w), fd_params_grad(p, te->time1.b),
                       te->de1, te->tsin, fd_params_data(p, te->time1.w), B, te->time_dim, E);
}
