/* What each client keeps between rounds, for the clients one rank simulates, held compactly:
 * only the parts the method keeps local (udec: temb, enc, mid; full: nothing), their moving
 * average, and, when the optimizer state is kept across rounds, the client's AdamW moments over
 * the parts it trains. Client j's rows are contiguous: [n][local.count] and [n][moments.count].
 *
 * Every client starts from the initial model (the same seed on every rank). */
#ifndef FEDDIFF_CLIENT_STATE_H
#define FEDDIFF_CLIENT_STATE_H

#include <stdbool.h>

#include "feddiff/model.h"

typedef struct {
    int n;            /* clients held */
    int *ids;         /* [n] their global ids, ascending */
    fd_range local;   /* arena range each client keeps (count 0: none) */
    fd_range moments; /* arena range of the kept AdamW moments (count 0: not kept) */
    float *params;    /* [n][local.count] */
    float *ema;       /* [n][local.count] */
    float *adam_m;    /* [n][moments.count] */
    float *adam_v;    /* [n][moments.count] */
    long *adam_steps; /* [n] AdamW steps in the kept moments */
    long *ema_steps;  /* [n] local steps the client has trained in all: its own parts' moving
                         average warms up over these, not over the rounds it sat out */
} fd_client_states;

/* States for clients ids[0..n) (ascending), from model m's parameters and EMA. */
void fd_client_states_init(fd_client_states *s, const int *ids, int n, fd_range local,
                           fd_range moments, const fd_model *m);
void fd_client_states_free(fd_client_states *s);
/* The index j of client `id`, or -1 if this rank does not hold it. */
int fd_client_states_find(const fd_client_states *s, int id);

/* Client j's state into m: its local parameters and EMA, and its moments (or zeros when they
 * are not kept, over `trained`). Returns the AdamW steps already in those moments. */
long fd_client_states_load(const fd_client_states *s, int j, fd_model *m, fd_range trained);
/* m's local parameters, EMA and moments back into client j, with its AdamW step count and the
 * steps just trained (added to ema_steps). */
void fd_client_states_store(fd_client_states *s, int j, const fd_model *m, long adam_steps,
                            long steps_trained);

/* A client's state as one contiguous message, for training it on another rank: its local
 * parameters, EMA and kept moments (fd_client_states_row_floats values). */
size_t fd_client_states_row_floats(const fd_client_states *s);
void fd_client_states_pack(const fd_client_states *s, int j, float *buf);
void fd_client_states_unpack(fd_client_states *s, int j, const float *buf);

/* Bytes held per client. */
size_t fd_client_states_bytes_per_client(const fd_client_states *s);

#endif
