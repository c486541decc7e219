/* The conditioning path shared by the denoisers: temb = time_mlp(sinusoidal(t)) + class
 * embedding[y] + client embedding[c], and its SiLU, which every block projects.
 *
 * time_mlp is linear(time_dim -> emb_dim), SiLU, linear(emb_dim -> emb_dim), named
 * "time_mlp.0" and "time_mlp.2" (part temb); "class_emb.weight" [n_classes][emb_dim] is in
 * part temb, "client_emb.weight" [n_clients][emb_dim] in part client. */
#ifndef FEDDIFF_TIME_EMBEDDING_H
#define FEDDIFF_TIME_EMBEDDING_H

#include <stdbool.h>
#include <stdint.h>

#include "feddiff/layers.h"
#include "feddiff/params.h"

typedef struct {
    int time_dim, emb_dim, n_classes, n_clients;
    fd_layer time1, time2;
    int class_emb, client_emb; /* tensor ids, -1 if absent */
    /* activations for up to max_batch rows */
    int max_batch, batch;
    float *buffer;                /* one allocation holding the arrays below */
    float *tsin;                  /* [B][time_dim] */
    float *e1, *e1a, *temb, *act; /* [B][emb_dim]: time1 out, its SiLU, temb, SiLU(temb) */
    float *dact;                  /* [B][emb_dim] d loss / d act, accumulated by blocks */
    float *dtemb, *de1a, *de1;    /* [B][emb_dim] backward intermediates */
    int *y, *client;              /* [B] ids of the last forward */
    bool has_y, has_client;
} fd_time_embedding;

void fd_time_embedding_declare(fd_time_embedding *te, fd_params *p, int time_dim, int emb_dim,
                               int n_classes, int n_clients);
void fd_time_embedding_init_params(const fd_time_embedding *te, const fd_params *p, uint64_t seed);
void fd_time_embedding_free(fd_time_embedding *te);

/* Compute act = SiLU(temb) for B rows (y, client: NULL when absent; out-of-range ids are
 * fatal) and zero dact for the coming backward pass. Returns act. */
const float *fd_time_embedding_forward(fd_time_embedding *te, const fd_params *p, const float *t,
                                       const int *y, const int *client, int B);
/* Accumulate parameter gradients from te->dact. */
void fd_time_embedding_backward(fd_time_embedding *te, const fd_params *p);

#endif
