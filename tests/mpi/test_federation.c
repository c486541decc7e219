/* Federated rounds over MPI (run by ctest on 1, 2 and 4 ranks): FedAvg reduces to pooled
 * training, replicas average to one client, partial exchange keeps every client's own parts to
 * itself and counts exactly the bytes of the exchanged parts, a non-finite client is left out.
 *
 * A failed check prints rank, line and message and aborts every rank (a rank that failed
 * alone would leave the others waiting in a collective). */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/blas.h"
#include "feddiff/error.h"
#include "feddiff/federation.h"
#include "feddiff/rng.h"
#include "feddiff/threads.h"

static int rank, n_ranks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL [rank %d] %s:%d: %s: ", rank, __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                          \
        }                                                                                          \
    } while (0)

enum { DIM = 4, SAMPLES = 24, MAX_CLIENTS = 8, SEED = 11 };

static fd_model *new_model(void)
{
    fd_model_config mc = {.kind = FD_MODEL_MLP, .mlp = fd_mlp_default_config(DIM)};
    mc.mlp.hidden = 32;
    mc.mlp.layers = 1;
    mc.mlp.time_dim = 16;
    mc.mlp.emb_dim = 16;
    fd_model *m = fd_model_create(&mc);
    fd_model_init(m, SEED);
    fd_model_ema_enable(m);
    return m;
}

/* Client data: SAMPLES vectors from the TEST stream of `which` (distinct data per value). */
static float *make_data(uint32_t which)
{
    float *x = fd_malloc(sizeof(float) * SAMPLES * DIM);
    fd_rng s = fd_rng_stream(99, FD_RNG_TEST, which, 0, 0);
    fd_rng_fill_normal(&s, 0, SAMPLES * DIM, x);
    return x;
}

static fd_fed_settings settings(enum fd_fed_method method, int n_clients, int steps, int rounds)
{
    fd_fed_settings set;
    memset(&set, 0, sizeof set);
    set.method = method;
    set.n_clients = n_clients;
    set.clients_per_round = 1.0;
    set.rounds = rounds;
    set.server = FD_SERVER_FEDAVG;
    set.server_lr = 1.0;
    set.warmup = 0.1;
    fd_local_config *lc = &set.local;
    lc->batch = 8;
    lc->steps = steps;
    lc->adamw = fd_adamw_defaults();
    lc->grad_clip = 1.0;
    lc->ema_decay = 0.99;
    lc->train_parts = FD_PARTS_BACKBONE;
    lc->client_id = -1;
    lc->t_lo = 0;
    lc->t_hi = 99;
    lc->seed = SEED;
    return set;
}

/* Client c lives on rank owner[c]: round robin, or all on the last rank ("lopsided"). */
static int owners[MAX_CLIENTS];
static void set_owners(int n, bool lopsided)
{
    for (int c = 0; c < n; c++) owners[c] = lopsided ? n_ranks - 1 : c % n_ranks;
}
static const int counts[MAX_CLIENTS] = {SAMPLES, SAMPLES, SAMPLES, SAMPLES,
                                        SAMPLES, SAMPLES, SAMPLES, SAMPLES};

/* This rank's share of n clients (owners[]), with data[c] and the given RNG streams. */
static int own_clients(fd_fed_client *own, int n, float *const *data, const uint32_t *streams)
{
    int k = 0;
    for (int c = 0; c < n; c++) {
        if (owners[c] != rank) continue;
        own[k].id = c;
        own[k].rng_stream = streams[c];
        own[k].data = (fd_data_view){.n = SAMPLES, .sample_size = DIM, .vectors = data[c]};
        k++;
    }
    return k;
}

static bool same(const float *a, const float *b, size_t n)
{
    return !memcmp(a, b, sizeof(float) * n);
}

static double relative_error(const float *a, const float *b, size_t n)
{
    double d = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        norm += (double)a[i] * a[i];
    }
    return sqrt(d / (norm > 0 ? norm : 1));
}

/* FedAvg of one client taking one step per round, keeping its optimizer state, is pooled
 * training on that client's data, step for step: parameters and EMA agree bitwise. */
static void test_fedavg_one_client_is_pooled_training(void)
{
    enum { ROUNDS = 6 };
    float *data = make_data(0);
    fd_diffusion diff;
    fd_diffusion_init(&diff, FD_SCHEDULE_LINEAR, 100);

    fd_model *pooled = new_model();
    fd_fed_settings set = settings(FD_FED_FULL, 1, 1, ROUNDS);
    set.keep_optimizer = true;
    fd_local_config lc = set.local;
    lc.ema_parts = FD_PARTS_BACKBONE;
    lc.warmup_steps = (long)llround(set.warmup * ROUNDS);
    fd_data_view view = {.n = SAMPLES, .sample_size = DIM, .vectors = data};
    long step = 0;
    for (int r = 0; r < ROUNDS; r++) {
        lc.round = (uint32_t)r;
        lc.adam_steps_done = step;
        lc.ema_steps_done = step;
        fd_local_stats ls;
        fd_local_train(pooled, &diff, &view, &lc, &step, &ls);
        CHECK(!ls.non_finite && ls.steps == 1, "pooled step %d", r);
    }

    fd_model *m = new_model();
    float *data_list[1] = {data};
    uint32_t streams[1] = {0};
    fd_fed_client own[1];
    set_owners(1, false);
    int n_own = own_clients(own, 1, data_list, streams);
    fd_federation f;
    fd_federation_init(&f, &set, m, &diff, own, n_own, owners, counts, MPI_COMM_WORLD);
    fd_round_stats st;
    fd_round_stats_init(&st, 1);
    for (int r = 0; r < ROUNDS; r++) fd_federation_round(&f, r, &st);
    if (rank == 0) {
        const size_t n = m->params.count;
        CHECK(same(f.global, pooled->params.data, n), "global parameters differ from pooled");
        CHECK(same(f.global_ema, pooled->ema, n), "global EMA differs from pooled EMA");
        CHECK(st.bytes_up == 4.0 * (double)n && st.bytes_down == 4.0 * (double)n,
              "bytes %g %g for %zu values", st.bytes_up, st.bytes_down, n);
    }
    fd_round_stats_free(&st);
    fd_federation_free(&f);
    fd_model_free(m);
    fd_model_free(pooled);
    fd_diffusion_free(&diff);
    free(data);
}

/* Run `rounds` rounds of FedAvg over n clients on the given data and streams; the root's global. */
static bool lopsided = false; /* run_federation puts every client on the last rank */
static double per_round = 1.0; /* run_federation's fed.clients_per_round */
static int local_steps = 3;    /* ... and its local steps */

static float *run_federation(enum fd_fed_method method, int n, float *const *data,
                             const uint32_t *streams, int rounds, fd_round_stats *st_out,
                             fd_client_states *states_out)
{
    set_owners(n, lopsided);
    fd_diffusion diff;
    fd_diffusion_init(&diff, FD_SCHEDULE_LINEAR, 100);
    fd_model *m = new_model();
    fd_fed_settings set = settings(method, n, local_steps, rounds);
    set.clients_per_round = per_round;
    fd_fed_client own[MAX_CLIENTS];
    int n_own = own_clients(own, n, data, streams);
    fd_federation f;
    fd_federation_init(&f, &set, m, &diff, own, n_own, owners, counts, MPI_COMM_WORLD);
    fd_round_stats st;
    fd_round_stats_init(&st, n);
    for (int r = 0; r < rounds; r++) fd_federation_round(&f, r, &st);
    float *global = fd_malloc(sizeof(float) * m->params.count);
    memcpy(global, f.global, sizeof(float) * m->params.count);
    if (st_out) {
        st_out->moved = st.moved;
        st_out->bytes_up = st.bytes_up;
        st_out->bytes_down = st.bytes_down;
        st_out->failed = st.failed;
        if (rank == 0)
            for (int c = 0; c < n; c++) {
                st_out->client_bytes_up[c] = st.client_bytes_up[c];
                st_out->client_bytes_down[c] = st.client_bytes_down[c];
                st_out->client_loss[c] = st.client_loss[c];
            }
    }
    if (states_out) { /* hand the states over */
        *states_out = f.states;
        memset(&f.states, 0, sizeof f.states);
    }
    fd_round_stats_free(&st);
    fd_federation_free(&f);
    fd_model_free(m);
    fd_diffusion_free(&diff);
    return global;
}

/* Clients with identical data and identical random draws average to exactly one of them. */
static void test_replicas_average_to_one_client(void)
{
    float *data = make_data(1);
    float *list[MAX_CLIENTS];
    uint32_t streams[MAX_CLIENTS] = {0};
    for (int c = 0; c < MAX_CLIENTS; c++) list[c] = data;
    float *one = run_federation(FD_FED_FULL, 1, list, streams, 3, NULL, NULL);
    float *many = run_federation(FD_FED_FULL, 5, list, streams, 3, NULL, NULL);
    fd_model *m = new_model();
    if (rank == 0) CHECK(same(one, many, m->params.count), "5 replicas differ from 1 client");
    /* ... and different draws do change the result: the comparison can fail. */
    uint32_t distinct[MAX_CLIENTS] = {0, 1, 2, 3, 4};
    float *mixed = run_federation(FD_FED_FULL, 5, list, distinct, 3, NULL, NULL);
    if (rank == 0)
        CHECK(!same(one, mixed, m->params.count), "distinct streams gave the same model");
    fd_model_free(m);
    free(one);
    free(many);
    free(mixed);
    free(data);
}

static size_t parts_count(const fd_params *p, unsigned parts)
{
    size_t n = 0;
    for (int part = 0; part < FD_PART_COUNT; part++)
        if (parts & (1u << part)) n += p->parts[part].count;
    return n;
}

/* udec: a client's own parts after a round depend on nothing another client holds; the
 * global model's local-part range is never touched; bytes are exactly the exchanged parts. */
static void test_partial_exchange_keeps_local_parts(void)
{
    enum { N = 4 };
    float *list[N], *changed[N];
    uint32_t streams[N];
    for (int c = 0; c < N; c++) {
        list[c] = changed[c] = make_data(10 + (uint32_t)c);
        streams[c] = (uint32_t)c;
    }
    float *other = make_data(77);
    changed[N - 1] = other; /* the last client's data differs between the two runs */

    fd_model *m = new_model();
    const fd_params *p = &m->params;
    fd_round_stats st;
    fd_round_stats_init(&st, N);
    fd_client_states a, b;
    float *ga = run_federation(FD_FED_UDEC, N, list, streams, 1, &st, &a);
    float *gb = run_federation(FD_FED_UDEC, N, changed, streams, 1, NULL, &b);
    const fd_range local = a.local;
    CHECK(local.count == parts_count(p, fd_strategy_local_parts(FD_FED_UDEC)), "local range");
    for (int j = 0; j < a.n; j++) {
        const float *ra = a.params + (size_t)j * local.count,
                    *rb = b.params + (size_t)j * local.count;
        const float *init = m->params.data + local.offset;
        CHECK(!same(ra, init, local.count), "client %d: its local parts did not train", a.ids[j]);
        if (a.ids[j] != N - 1)
            CHECK(same(ra, rb, local.count), "client %d: local parts changed with client %d's data",
                  a.ids[j], N - 1);
        else
            CHECK(!same(ra, rb, local.count), "client %d: its own data did not matter", a.ids[j]);
    }
    if (rank == 0) {
        CHECK(same(ga + local.offset, m->params.data + local.offset, local.count),
              "aggregation touched the global local-part range");
        CHECK(!same(ga, gb, p->count), "the shared decoder ignored a client");
        const double dec = 4.0 * (double)parts_count(p, 1u << FD_PART_DEC);
        for (int c = 0; c < N; c++)
            CHECK(st.client_bytes_up[c] == dec && st.client_bytes_down[c] == dec,
                  "client %d: bytes %g/%g, the decoder is %g", c, st.client_bytes_up[c],
                  st.client_bytes_down[c], dec);
    }
    fd_client_states_free(&a);
    fd_client_states_free(&b);
    free(ga);
    free(gb);

    /* usplit: every client downloads the whole backbone and uploads one half; in each pair the
     * halves differ, so half the clients (rounded) send each. */
    float *gs = run_federation(FD_FED_USPLIT, N, list, streams, 1, &st, NULL);
    if (rank == 0) {
        const double all = 4.0 * (double)parts_count(p, FD_PARTS_BACKBONE);
        const double dec = 4.0 * (double)parts_count(p, 1u << FD_PART_DEC);
        int dec_senders = 0;
        for (int c = 0; c < N; c++) {
            CHECK(st.client_bytes_down[c] == all, "usplit client %d downloads %g", c,
                  st.client_bytes_down[c]);
            CHECK(st.client_bytes_up[c] == dec || st.client_bytes_up[c] == all - dec,
                  "usplit client %d uploads %g", c, st.client_bytes_up[c]);
            dec_senders += st.client_bytes_up[c] == dec;
        }
        CHECK(dec_senders == N / 2, "%d of %d clients sent the decoder", dec_senders, N);
    }
    free(gs);
    fd_round_stats_free(&st);
    for (int c = 0; c < N; c++) free(list[c]);
    free(other);
    fd_model_free(m);
}

/* A client whose data holds a NaN is left out; the global model stays finite and equals the
 * run without that client. */
static void test_non_finite_client_is_left_out(void)
{
    enum { N = 3 };
    float *list[N];
    uint32_t streams[N] = {0, 1, 2};
    for (int c = 0; c < N; c++) list[c] = make_data(20 + (uint32_t)c);
    float *poisoned = make_data(22);
    poisoned[5] = NAN;
    float *with_nan[N] = {list[0], list[1], poisoned};
    fd_round_stats st;
    fd_round_stats_init(&st, N);
    float *g = run_federation(FD_FED_FULL, N, with_nan, streams, 1, &st, NULL);
    float *two = run_federation(FD_FED_FULL, 2, list, streams, 1, NULL, NULL);
    fd_model *m = new_model();
    if (rank == 0) {
        CHECK(st.failed == 1 && isnan(st.client_loss[2]), "failed %d", st.failed);
        for (size_t i = 0; i < m->params.count; i++) CHECK(isfinite(g[i]), "global[%zu]", i);
        CHECK(same(g, two, m->params.count), "the poisoned client changed the model");
    }
    fd_model_free(m);
    free(g);
    free(two);
    fd_round_stats_free(&st);
    for (int c = 0; c < N; c++) free(list[c]);
    free(poisoned);
}

/* Rows [n_clients][local count] of every client, summed over the ranks that hold them
 * (field: states->params or states->ema). */
static double *gather_rows(const fd_client_states *states, const float *field, int n_clients)
{
    const size_t width = states->local.count;
    double *rows = fd_calloc((size_t)n_clients * width, sizeof(double));
    for (int j = 0; j < states->n; j++)
        for (size_t i = 0; i < width; i++)
            rows[(size_t)states->ids[j] * width + i] = field[(size_t)j * width + i];
    MPI_Allreduce(MPI_IN_PLACE, rows, (int)((size_t)n_clients * width), MPI_DOUBLE, MPI_SUM,
                  MPI_COMM_WORLD);
    return rows;
}

/* A client's own parts' moving average warms up over the client's own steps: a client that
 * first trains in a late round averages like one at its first step, not at the round's global
 * step (which would leave the average at the initial weights for such a client). One step per
 * round, one of four clients a round: after its single step, ema = d1 init + (1 - d1) params. */
static void test_own_average_warms_up_over_own_steps(void)
{
    enum { N = 4, ROUNDS = 6 };
    float *list[N];
    uint32_t streams[N];
    for (int c = 0; c < N; c++) {
        list[c] = make_data(60 + (uint32_t)c);
        streams[c] = (uint32_t)c;
    }
    per_round = 1.0 / N;
    local_steps = 1;
    fd_client_states states;
    float *global = run_federation(FD_FED_UDEC, N, list, streams, ROUNDS, NULL, &states);
    per_round = 1.0;
    local_steps = 3;
    int times[N] = {0}, first[N];
    for (int r = 0; r < ROUNDS; r++) {
        int sampled[N];
        const int k = fd_strategy_sample_clients(sampled, N, 1.0 / N, SEED, (uint32_t)r);
        CHECK(k == 1, "round %d sampled %d clients", r, k);
        if (!times[sampled[0]]++) first[sampled[0]] = r;
    }
    fd_model *m = new_model();
    const fd_range local = states.local;
    const float *init = m->params.data + local.offset;
    const float d1 = fd_ema_decay_at(0.99, 1);
    int late = 0;
    for (int j = 0; j < states.n; j++) {
        const int c = states.ids[j];
        CHECK(states.ema_steps[j] == times[c], "client %d: %ld EMA steps, trained %d", c,
              states.ema_steps[j], times[c]);
        if (times[c] != 1 || first[c] == 0) continue;
        const float *p = states.params + (size_t)j * local.count,
                    *e = states.ema + (size_t)j * local.count;
        double worst = 0;
        for (size_t i = 0; i < local.count; i++) {
            double want = (double)d1 * init[i] + (1.0 - (double)d1) * p[i];
            double err = fabs(e[i] - want) / (fabs(want) + 1e-3);
            worst = err > worst ? err : worst;
        }
        CHECK(worst < 1e-5, "client %d (first trained in round %d): EMA off by %g", c,
              first[c] + 1, worst);
        late++;
    }
    MPI_Allreduce(MPI_IN_PLACE, &late, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    CHECK(late > 0, "no client trained once, in a late round: the check checked nothing");
    fd_client_states_free(&states);
    fd_model_free(m);
    free(global);
    for (int c = 0; c < N; c++) free(list[c]);
}

/* Where clients live does not change what they learn: with every client on the last rank, the
 * other ranks train the ones it cannot (their data and state travel), and the global model and
 * every client's own parts come out as with the clients spread round robin. */
static void test_clients_travel_to_idle_ranks(void)
{
    enum { N = 6 };
    float *list[N];
    uint32_t streams[N];
    for (int c = 0; c < N; c++) {
        list[c] = make_data(40 + (uint32_t)c);
        streams[c] = (uint32_t)c;
    }
    fd_round_stats st;
    fd_round_stats_init(&st, N);
    fd_client_states spread, piled;
    float *a = run_federation(FD_FED_UDEC, N, list, streams, 2, &st, &spread);
    CHECK(st.moved == 0, "round robin moved %d clients", st.moved);
    lopsided = true;
    float *b = run_federation(FD_FED_UDEC, N, list, streams, 2, &st, &piled);
    lopsided = false;
    /* 6 clients on the last rank: it keeps its share, the others take theirs. */
    const int share = (N + n_ranks - 1) / n_ranks;
    CHECK(st.moved == N - share, "lopsided: moved %d, expected %d", st.moved, N - share);
    fd_model *m = new_model();
    if (rank == 0) CHECK(relative_error(a, b, m->params.count) < 1e-6, "the global models differ");
    /* Every client's own parts and their moving average, from wherever they are held. */
    double *rows_a = gather_rows(&spread, spread.params, N),
           *rows_b = gather_rows(&piled, piled.params, N);
    double *ema_a = gather_rows(&spread, spread.ema, N), *ema_b = gather_rows(&piled, piled.ema, N);
    const size_t width = spread.local.count;
    double worst = 0, worst_ema = 0;
    for (size_t i = 0; i < (size_t)N * width; i++) {
        double d = fabs(rows_a[i] - rows_b[i]) / (fabs(rows_a[i]) + 1e-3);
        double e = fabs(ema_a[i] - ema_b[i]) / (fabs(ema_a[i]) + 1e-3);
        worst = d > worst ? d : worst;
        worst_ema = e > worst_ema ? e : worst_ema;
    }
    CHECK(worst < 1e-5, "clients' own parts differ by %g", worst);
    CHECK(worst_ema < 1e-5, "their moving averages differ by %g", worst_ema);
    free(rows_a);
    free(rows_b);
    free(ema_a);
    free(ema_b);
    fd_client_states_free(&spread);
    fd_client_states_free(&piled);
    fd_model_free(m);
    free(a);
    free(b);
    fd_round_stats_free(&st);
    for (int c = 0; c < N; c++) free(list[c]);
}

int main(int argc, char **argv)
{
    fd_blas_init();
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n_ranks);
    test_fedavg_one_client_is_pooled_training();
    test_replicas_average_to_one_client();
    test_partial_exchange_keeps_local_parts();
    test_non_finite_client_is_left_out();
    test_clients_travel_to_idle_ranks();
    test_own_average_warms_up_over_own_steps();
    if (rank == 0) printf("federation: all checks passed on %d rank(s)\n", n_ranks);
    MPI_Finalize();
    return 0;
}
