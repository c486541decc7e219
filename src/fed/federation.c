#include "feddiff/federation.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/mpi_util.h"
#include "feddiff/round_plan.h"
#include "feddiff/timer.h"

enum { ROOT = 0 };
/* Per-client figures gathered at the root: status (1 trained, 2 left out), mean loss, samples
 * seen, optimizer steps, bytes up, bytes down. */
enum {
    CLIENT_STATUS,
    CLIENT_LOSS,
    CLIENT_SAMPLES,
    CLIENT_STEPS,
    CLIENT_UP,
    CLIENT_DOWN,
    CLIENT_FIELDS
};

static size_t parts_count(const fd_params *p, unsigned parts)
{
    size_t n = 0;
    for (int part = 0; part < FD_PART_COUNT; part++)
        if (parts & (1u << part)) n += p->parts[part].count;
    return n;
}

long fd_federation_client_steps(const fd_fed_settings *set, int n_samples)
{
    if (set->local_epochs <= 0) return set->local.steps;
    const int batch = set->local.batch < n_samples ? set->local.batch : n_samples;
    return (long)set->local_epochs * (((long)n_samples + batch - 1) / (batch > 0 ? batch : 1));
}

void fd_federation_init(fd_federation *f, const fd_fed_settings *set, fd_model *model,
                        fd_diffusion *diff, const fd_fed_client *own, int n_own, const int *owner,
                        const int *train_counts, MPI_Comm comm)
{
    FD_ASSERT(set->method != FD_FED_CENTRAL && set->n_clients > 0 && model->ema);
    memset(f, 0, sizeof *f);
    f->set = *set;
    f->comm = comm;
    FD_CHECK_MPI(MPI_Comm_rank(comm, &f->rank));
    FD_CHECK_MPI(MPI_Comm_size(comm, &f->size));
    f->model = model;
    f->diff = diff;
    f->clients = own;
    f->n_own = n_own;
    f->local_parts = fd_strategy_local_parts(set->method);
    f->shared_parts = fd_strategy_shared_parts(set->method);
    f->trained = fd_params_range(&model->params, set->local.train_parts);

    const size_t count = model->params.count;
    f->global = fd_malloc(sizeof(float) * count);
    f->global_ema = fd_malloc(sizeof(float) * count);
    memcpy(f->global, model->params.data, sizeof(float) * count);
    memcpy(f->global_ema, model->ema, sizeof(float) * count);
    fd_server_opt_init(&f->server, set->server, set->server_lr, f->rank == ROOT ? count : 0);

    int *ids = fd_malloc(sizeof(int) * (size_t)(n_own > 0 ? n_own : 1));
    for (int j = 0; j < n_own; j++) {
        FD_ASSERT(own[j].id >= 0 && own[j].id < set->n_clients &&
                  (j == 0 || own[j].id > own[j - 1].id));
        ids[j] = own[j].id;
    }
    const fd_range none = {0, 0};
    fd_range local = f->local_parts ? fd_params_range(&model->params, f->local_parts) : none;
    fd_client_states_init(&f->states, ids, n_own, local, set->keep_optimizer ? f->trained : none,
                          model);
    free(ids);
    fd_aggregator_init(&f->agg, &model->params, f->shared_parts);
    f->sampled = fd_malloc(sizeof(int) * (size_t)set->n_clients);
    f->upload = fd_malloc(sizeof(unsigned) * (size_t)set->n_clients);
    f->client_buf = fd_malloc(sizeof(double) * CLIENT_FIELDS * (size_t)set->n_clients);
    f->exec = fd_malloc(sizeof(int) * (size_t)set->n_clients);
    f->owner = fd_malloc(sizeof(int) * (size_t)set->n_clients);
    f->cost = fd_malloc(sizeof(double) * (size_t)set->n_clients);
    for (int c = 0; c < set->n_clients; c++) {
        FD_ASSERT(owner[c] >= 0 && owner[c] < f->size);
        f->owner[c] = owner[c];
        f->cost[c] = (double)fd_federation_client_steps(set, train_counts[c]);
    }
    for (int j = 0; j < n_own; j++) FD_ASSERT(owner[own[j].id] == f->rank);
}

void fd_federation_free(fd_federation *f)
{
    free(f->global);
    free(f->global_ema);
    fd_server_opt_free(&f->server);
    fd_client_states_free(&f->states);
    fd_aggregator_free(&f->agg);
    free(f->sampled);
    free(f->upload);
    free(f->client_buf);
    free(f->exec);
    free(f->owner);
    free(f->cost);
    memset(f, 0, sizeof *f);
}

void fd_round_stats_init(fd_round_stats *st, int n_clients)
{
    memset(st, 0, sizeof *st);
    const size_t n = (size_t)n_clients;
    st->client_loss = fd_malloc(sizeof(double) * n);
    st->client_samples = fd_malloc(sizeof(double) * n);
    st->client_bytes_up = fd_malloc(sizeof(double) * n);
    st->client_bytes_down = fd_malloc(sizeof(double) * n);
}

void fd_round_stats_free(fd_round_stats *st)
{
    free(st->client_loss);
    free(st->client_samples);
    free(st->client_bytes_up);
    free(st->client_bytes_down);
    memset(st, 0, sizeof *st);
}

static bool all_finite(const float *x, size_t n)
{
    int bad = 0;
#pragma omp parallel for reduction(| : bad) if (n > 32768) schedule(static)
    for (size_t i = 0; i < n; i++) bad |= !isfinite(x[i]);
    return !bad;
}

/* Train client c, whose state is row j of `states`, in `round`; adds its upload to the sums.
 * Returns false when it is left out (its state then stays as it was). */
static bool train_client(fd_federation *f, fd_client_states *states, int j, const fd_fed_client *c,
                         int round, unsigned upload, double *figures)
{
    fd_model *m = f->model;
    const fd_range sh = f->agg.range;
    if (sh.count)
        memcpy(m->params.data + sh.offset, f->global + sh.offset, sizeof(float) * sh.count);
    const long adam_done = fd_client_states_load(states, j, m, f->trained);

    const long steps = fd_federation_client_steps(&f->set, c->data.n);
    fd_local_config lc = f->set.local;
    lc.steps = steps;
    lc.round = (uint32_t)round;
    lc.client = c->rng_stream;
    lc.adam_steps_done = adam_done;
    lc.warmup_steps = (long)llround(f->set.warmup * (double)steps * (double)f->set.rounds);
    lc.ema_parts = f->local_parts;
    lc.ema_steps_done = states->ema_steps[j];
    long global_step = (long)round * steps;
    fd_local_stats ls;
    fd_local_train(m, f->diff, &c->data, &lc, &global_step, &ls);

    bool ok = !ls.non_finite && ls.steps > 0;
    for (int part = 0; ok && part < FD_PART_COUNT; part++)
        if (upload & (1u << part))
            ok = all_finite(m->params.data + m->params.parts[part].offset,
                            m->params.parts[part].count);
    if (!ok) {
        fd_warn("round %d: client %d left out of the aggregate: its %s is not finite", round + 1,
                c->id, ls.non_finite ? "loss or gradient" : "update");
        figures[CLIENT_STATUS] = 2;
        return false;
    }
    fd_client_states_store(states, j, m, adam_done + ls.steps, ls.steps);
    fd_aggregator_add(&f->agg, m->params.data, upload, (double)c->data.n);
    figures[CLIENT_STATUS] = 1;
    figures[CLIENT_LOSS] = ls.loss_sum / (double)ls.steps;
    figures[CLIENT_SAMPLES] = (double)ls.samples;
    figures[CLIENT_STEPS] = (double)ls.steps;
    figures[CLIENT_UP] = 4.0 * (double)parts_count(&m->params, upload);
    figures[CLIENT_DOWN] = 4.0 * (double)sh.count;
    return true;
}

/* Clients trained away from their owner (round_plan.h). The owner sends a header (id, samples,
 * RNG stream, AdamW steps, with labels, images, EMA steps), the samples, the labels and the
 * packed state; the trainer sends back (kept, AdamW steps, EMA steps) and the state. Both sides walk the round's
 * clients in the same order, and MPI keeps messages of one source and tag in order, so fixed
 * tags pair them up. */
enum { TAG_HEADER = 101, TAG_DATA, TAG_LABELS, TAG_STATE, TAG_RETURN, TAG_RETURN_STATE };
enum { HEADER_LONGS = 7, RETURN_LONGS = 3 };

typedef struct {
    fd_client_states states; /* the visiting clients' rows, in round order */
    fd_fed_client *clients;
    void **data; /* their samples, received */
    uint8_t **labels;
    float *state_buf; /* one packed state */
    MPI_Request *requests;
    long *headers;  /* [HEADER_LONGS] per message sent or received */
    float **packed; /* outgoing packed states */
    int n, n_requests;
} guests;

static size_t sample_bytes(const fd_data_view *d)
{
    return d->images ? d->sample_size : sizeof(float) * d->sample_size;
}

static int count_of(size_t n, const char *what)
{
    if (n > (size_t)1 << 30) FD_FATAL("a client's %s (%zu values) is too large to move", what, n);
    return (int)n;
}

static void request(guests *g, MPI_Request r) { g->requests[g->n_requests++] = r; }

/* The owner's side: send every own client that another rank trains this round. */
static void send_visitors(fd_federation *f, guests *g, int k)
{
    const size_t row = fd_client_states_row_floats(&f->states);
    for (int i = 0, j = 0; i < k; i++) {
        const int id = f->sampled[i];
        if (f->owner[id] != f->rank || f->exec[i] == f->rank) continue;
        while (f->clients[j].id < id) j++;
        const fd_fed_client *c = &f->clients[j];
        long *h = g->headers + (size_t)i * HEADER_LONGS;
        h[0] = id;
        h[1] = c->data.n;
        h[2] = c->rng_stream;
        h[3] = f->states.adam_steps[j];
        h[4] = c->data.labels != NULL;
        h[5] = c->data.images != NULL;
        h[6] = f->states.ema_steps[j];
        g->packed[i] = fd_malloc(sizeof(float) * (row ? row : 1));
        fd_client_states_pack(&f->states, j, g->packed[i]);
        const int to = f->exec[i];
        const void *samples =
            c->data.images ? (const void *)c->data.images : (const void *)c->data.vectors;
        MPI_Request r;
        FD_CHECK_MPI(MPI_Isend(h, HEADER_LONGS, MPI_LONG, to, TAG_HEADER, f->comm, &r));
        request(g, r);
        FD_CHECK_MPI(MPI_Isend(samples,
                               count_of((size_t)c->data.n * sample_bytes(&c->data), "samples"),
                               MPI_BYTE, to, TAG_DATA, f->comm, &r));
        request(g, r);
        if (c->data.labels) {
            FD_CHECK_MPI(
                MPI_Isend(c->data.labels, c->data.n, MPI_BYTE, to, TAG_LABELS, f->comm, &r));
            request(g, r);
        }
        FD_CHECK_MPI(
            MPI_Isend(g->packed[i], count_of(row, "state"), MPI_FLOAT, to, TAG_STATE, f->comm, &r));
        request(g, r);
    }
}

/* The trainer's side: receive visiting client v (the round's client i) into slot v. */
static fd_fed_client *receive_visitor(fd_federation *f, guests *g, int v, int i)
{
    const int from = f->owner[f->sampled[i]];
    long *h = g->headers + (size_t)i * HEADER_LONGS;
    FD_CHECK_MPI(MPI_Recv(h, HEADER_LONGS, MPI_LONG, from, TAG_HEADER, f->comm, MPI_STATUS_IGNORE));
    FD_ASSERT(h[0] == f->sampled[i]);
    fd_fed_client *c = &g->clients[v];
    const size_t size = f->model->sample_size, bytes = h[5] ? size : sizeof(float) * size;
    c->id = (int)h[0];
    c->rng_stream = (uint32_t)h[2];
    g->data[v] = fd_malloc(bytes * (size_t)(h[1] > 0 ? h[1] : 1));
    g->labels[v] = h[4] ? fd_malloc((size_t)(h[1] > 0 ? h[1] : 1)) : NULL;
    FD_CHECK_MPI(MPI_Recv(g->data[v], count_of(bytes * (size_t)h[1], "samples"), MPI_BYTE, from,
                          TAG_DATA, f->comm, MPI_STATUS_IGNORE));
    if (h[4])
        FD_CHECK_MPI(MPI_Recv(g->labels[v], (int)h[1], MPI_BYTE, from, TAG_LABELS, f->comm,
                              MPI_STATUS_IGNORE));
    const size_t row = fd_client_states_row_floats(&g->states);
    FD_CHECK_MPI(MPI_Recv(g->state_buf, count_of(row, "state"), MPI_FLOAT, from, TAG_STATE, f->comm,
                          MPI_STATUS_IGNORE));
    fd_client_states_unpack(&g->states, v, g->state_buf);
    g->states.adam_steps[v] = h[3];
    g->states.ema_steps[v] = h[6];
    c->data = (fd_data_view){.n = (int)h[1],
                             .sample_size = size,
                             .images = h[5] ? g->data[v] : NULL,
                             .vectors = h[5] ? NULL : g->data[v],
                             .labels = g->labels[v]};
    return c;
}

/* The trainer's side, after training visitor v: its state goes home (kept or not). */
static void return_visitor(fd_federation *f, guests *g, int v, int i, bool kept)
{
    long *h = g->headers + (size_t)i * HEADER_LONGS;
    h[0] = kept;
    h[1] = g->states.adam_steps[v];
    h[2] = g->states.ema_steps[v];
    g->packed[i] = fd_malloc(sizeof(float) * (fd_client_states_row_floats(&g->states) + 1));
    fd_client_states_pack(&g->states, v, g->packed[i]);
    const int to = f->owner[f->sampled[i]];
    MPI_Request r;
    FD_CHECK_MPI(MPI_Isend(h, RETURN_LONGS, MPI_LONG, to, TAG_RETURN, f->comm, &r));
    request(g, r);
    FD_CHECK_MPI(MPI_Isend(g->packed[i], count_of(fd_client_states_row_floats(&g->states), "state"),
                           MPI_FLOAT, to, TAG_RETURN_STATE, f->comm, &r));
    request(g, r);
}

/* The owner's side, after its own training: take back the visitors' states. */
static void collect_visitors(fd_federation *f, int k)
{
    const size_t row = fd_client_states_row_floats(&f->states);
    float *buf = fd_malloc(sizeof(float) * (row ? row : 1));
    for (int i = 0, j = 0; i < k; i++) {
        const int id = f->sampled[i];
        if (f->owner[id] != f->rank || f->exec[i] == f->rank) continue;
        while (f->clients[j].id < id) j++;
        long h[RETURN_LONGS];
        FD_CHECK_MPI(MPI_Recv(h, RETURN_LONGS, MPI_LONG, f->exec[i], TAG_RETURN, f->comm, MPI_STATUS_IGNORE));
        FD_CHECK_MPI(MPI_Recv(buf, count_of(row, "state"), MPI_FLOAT, f->exec[i], TAG_RETURN_STATE,
                              f->comm, MPI_STATUS_IGNORE));
        if (h[0]) {
            fd_client_states_unpack(&f->states, j, buf);
            f->states.adam_steps[j] = h[1];
            f->states.ema_steps[j] = h[2];
        }
    }
    free(buf);
}

static void guests_init(guests *g, fd_federation *f, int k)
{
    memset(g, 0, sizeof *g);
    int *ids = fd_malloc(sizeof(int) * (size_t)(k > 0 ? k : 1));
    for (int i = 0; i < k; i++)
        if (f->exec[i] == f->rank && f->owner[f->sampled[i]] != f->rank)
            ids[g->n++] = f->sampled[i];
    fd_client_states_init(&g->states, ids, g->n, f->states.local, f->states.moments, f->model);
    free(ids);
    const size_t n = (size_t)(g->n > 0 ? g->n : 1), kk = (size_t)(k > 0 ? k : 1);
    g->clients = fd_calloc(n, sizeof *g->clients);
    g->data = fd_calloc(n, sizeof *g->data);
    g->labels = fd_calloc(n, sizeof *g->labels);
    g->state_buf = fd_malloc(sizeof(float) * (fd_client_states_row_floats(&f->states) + 1));
    g->requests = fd_malloc(sizeof(MPI_Request) * 4 * kk);
    g->headers = fd_malloc(sizeof(long) * HEADER_LONGS * kk);
    g->packed = fd_calloc(kk, sizeof *g->packed);
}

static void guests_free(guests *g, int k)
{
    FD_CHECK_MPI(MPI_Waitall(g->n_requests, g->requests, MPI_STATUSES_IGNORE));
    for (int v = 0; v < g->n; v++) {
        free(g->data[v]);
        free(g->labels[v]);
    }
    for (int i = 0; i < k; i++) free(g->packed[i]);
    fd_client_states_free(&g->states);
    free(g->clients);
    free(g->data);
    free(g->labels);
    free(g->state_buf);
    free(g->requests);
    free(g->headers);
    free(g->packed);
}

/* The root: server update, then the global EMA over the updated parts. The EMA moves once per
 * round by d^K, K the mean local steps of the round's clients: as if it had followed every
 * local step of a model that stayed at the new global value. */
static void server_step(fd_federation *f, int round, double mean_steps)
{
    const unsigned updated = fd_server_apply(&f->server, f->global, &f->agg);
    const double decay = f->set.local.ema_decay;
    if (decay <= 0 || mean_steps <= 0) return;
    const long K = lround(mean_steps);
    const float d = fd_ema_decay_at(decay, (long)(round + 1) * K);
    const float dK = K == 1 ? d : (float)pow((double)d, (double)K);
    for (int part = 0; part < FD_PART_COUNT; part++) {
        if (!(updated & (1u << part))) continue;
        const fd_range r = f->model->params.parts[part];
        fd_ema_blend(f->global_ema + r.offset, f->global + r.offset, r.count, dK);
    }
}

void fd_federation_round(fd_federation *f, int round, fd_round_stats *st)
{
    const int n = f->set.n_clients;
    const uint64_t seed = f->set.local.seed;
    const double t_start = fd_now();
    const int k =
        fd_strategy_sample_clients(f->sampled, n, f->set.clients_per_round, seed, (uint32_t)round);
    fd_strategy_upload_parts(f->upload, k, f->set.method, seed, (uint32_t)round);

    /* seconds: broadcast, training, waiting, reduction, server update */
    double t[5] = {0}, mark = fd_now();
    const fd_range sh = f->agg.range;
    if (sh.count) fd_mpi_bcast_floats(f->global + sh.offset, sh.count, ROOT, f->comm);
    t[0] = fd_now() - mark;

    mark = fd_now();
    double *buf = f->client_buf;
    memset(buf, 0, sizeof(double) * CLIENT_FIELDS * (size_t)n);
    fd_aggregator_zero(&f->agg);
    const int moved = fd_round_plan(f->exec, f->sampled, k, f->cost, f->owner, f->size);
    guests g;
    guests_init(&g, f, k);
    send_visitors(f, &g, k);
    for (int i = 0, j = 0, v = 0; i < k; i++) { /* both lists ascend: one merge walk */
        const int id = f->sampled[i];
        if (f->exec[i] != f->rank) continue;
        double *figures = buf + (size_t)id * CLIENT_FIELDS;
        if (f->owner[id] == f->rank) {
            while (f->clients[j].id < id) j++;
            train_client(f, &f->states, j, &f->clients[j], round, f->upload[i], figures);
        } else {
            const fd_fed_client *c = receive_visitor(f, &g, v, i);
            const bool kept = train_client(f, &g.states, v, c, round, f->upload[i], figures);
            return_visitor(f, &g, v, i, kept);
            v++;
        }
    }
    collect_visitors(f, k);
    guests_free(&g, k);
    t[1] = fd_now() - mark;

    mark = fd_now();
    FD_CHECK_MPI(MPI_Barrier(f->comm));
    t[2] = fd_now() - mark;

    mark = fd_now();
    fd_aggregator_reduce(&f->agg, ROOT, f->comm);
    fd_mpi_allreduce_sum_doubles(buf, CLIENT_FIELDS * (size_t)n, f->comm);
    t[3] = fd_now() - mark;

    mark = fd_now();
    double steps = 0, loss = 0, up = 0, down = 0;
    int trained = 0, failed = 0;
    for (int c = 0; c < n; c++) {
        const double *fig = buf + (size_t)c * CLIENT_FIELDS;
        const bool ok = fig[CLIENT_STATUS] == 1;
        trained += ok;
        failed += fig[CLIENT_STATUS] == 2;
        steps += fig[CLIENT_STEPS];
        loss += ok ? fig[CLIENT_LOSS] : 0;
        up += fig[CLIENT_UP];
        down += fig[CLIENT_DOWN];
        st->client_loss[c] = ok ? fig[CLIENT_LOSS] : NAN;
        st->client_samples[c] = fig[CLIENT_SAMPLES];
        st->client_bytes_up[c] = fig[CLIENT_UP];
        st->client_bytes_down[c] = fig[CLIENT_DOWN];
    }
    st->mean_steps = trained ? steps / trained : 0;
    if (f->rank == ROOT) server_step(f, round, st->mean_steps);
    t[4] = fd_now() - mark;

    /* Every rank's times, averaged at the root. */
    fd_mpi_reduce_sum_doubles(t, 5, ROOT, f->comm);
    st->sampled = k;
    st->moved = moved;
    st->failed = failed;
    st->loss = trained ? loss / trained : NAN;
    st->bytes_up = up;
    st->bytes_down = down;
    st->t_bcast = t[0] / f->size;
    st->t_train = t[1] / f->size;
    st->t_wait = t[2] / f->size;
    st->t_reduce = t[3] / f->size;
    st->t_server = t[4] / f->size;
    st->t_round = fd_now() - t_start;
}

void fd_federation_share_ema(fd_federation *f)
{
    fd_mpi_bcast_floats(f->global_ema, f->model->params.count, ROOT, f->comm);
}

void fd_federation_load_client(fd_federation *f, int id, bool ema)
{
    fd_model *m = f->model;
    const float *global = ema ? f->global_ema : f->global;
    memcpy(m->params.data, global, sizeof(float) * m->params.count);
    const fd_range l = f->states.local;
    if (!l.count) return;
    const int j = fd_client_states_find(&f->states, id);
    if (j < 0) FD_FATAL("client %d is not held by rank %d", id, f->rank);
    memcpy(m->params.data + l.offset,
           (ema ? f->states.ema : f->states.params) + (size_t)j * l.count, sizeof(float) * l.count);
}
