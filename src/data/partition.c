#include "feddiff/partition.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/rng.h"

/* Streams of FD_RNG_PARTITION: round = the phase, client and step as noted where drawn. These
 * numbers are part of reproducibility: never reuse or renumber one. */
enum { PHASE_DIRICHLET = 1, PHASE_QUANTITY = 2, PHASE_SHARDS = 3, PHASE_SHUFFLE = 4 };

/* Marsaglia-Tsang accepts with probability above 0.95 for every shape >= 1, so 64 tries all
 * failing has probability below 1e-83. */
enum { GAMMA_MAX_TRIES = 64 };

/* Largest sample count: indices are uint32 and the integer rounding below forms 2 N^2 in 64
 * bits. */
#define MAX_SAMPLES ((size_t)INT32_MAX)

static const char *const method_names[] = {"iid", "dirichlet", "shards", "quantity"};

const char *fd_partition_method_name(enum fd_partition_method method)
{
    FD_ASSERT(method >= FD_PARTITION_IID && method <= FD_PARTITION_QUANTITY);
    return method_names[method];
}

int fd_partition_method_from_name(const char *name)
{
    for (int m = 0; m < (int)(sizeof method_names / sizeof method_names[0]); m++)
        if (!strcmp(name, method_names[m])) return m;
    return -1;
}

void fd_partition_config_defaults(fd_partition_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->method = FD_PARTITION_IID;
    cfg->n_clients = 10;
    cfg->alpha = 0.5;
    cfg->classes_per_client = 2;
    cfg->test_fraction = 0.1;
    cfg->min_samples = 10;
}

/* ---- integer splits by cumulative rounding ------------------------------------------------
 * A total is split over n parts in proportion to weights as out[k] = R(k + 1) - R(k) with
 * R(k) = round(total * (w_0 + ... + w_{k-1}) / W): the parts add up to the total exactly, each
 * is within one of its exact share, and none exceeds the ceiling of its share. */

/* round(total * part / whole) in integers (whole > 0; total, part <= whole or <= 2^31). */
static uint64_t round_ratio(uint64_t total, uint64_t part, uint64_t whole)
{
    return (2 * total * part + whole) / (2 * whole);
}

/* Integer weights w[k * w_stride], results out[k * out_stride]. */
static void split_by_counts(uint64_t total, const uint32_t *w, size_t w_stride, size_t n,
                            uint32_t *out, size_t out_stride)
{
    uint64_t whole = 0;
    for (size_t k = 0; k < n; k++) whole += w[k * w_stride];
    FD_ASSERT(whole > 0 || total == 0);
    uint64_t cum = 0, prev = 0;
    for (size_t k = 0; k < n; k++) {
        cum += w[k * w_stride];
        uint64_t bound = whole ? round_ratio(total, cum, whole) : 0;
        out[k * out_stride] = (uint32_t)(bound - prev);
        prev = bound;
    }
}

/* Real proportions p[k] >= 0 (sum > 0), results out[k * out_stride]. */
static void split_by_proportions(uint64_t total, const double *p, size_t n, uint32_t *out,
                                 size_t out_stride)
{
    double whole = 0;
    for (size_t k = 0; k < n; k++) whole += p[k];
    double cum = 0;
    uint64_t prev = 0;
    for (size_t k = 0; k < n; k++) {
        cum += p[k];
        uint64_t bound = k + 1 == n ? total : (uint64_t)floor((double)total * (cum / whole) + 0.5);
        if (bound > total) bound = total;
        if (bound < prev) bound = prev;
        out[k * out_stride] = (uint32_t)(bound - prev);
        prev = bound;
    }
}

/* A client's test part: round(test_fraction x its samples). */
static size_t test_share(size_t samples, double test_fraction)
{
    return (size_t)floor(test_fraction * (double)samples + 0.5);
}

/* The fewest samples a client needs so that its train part has min_train: the smallest T with
 * T - test_share(T) >= min_train. T - test_share(T) grows by 0 or 1 per step and lies within
 * 1/2 of (1 - f) T, so the answer is within a few steps of (min_train - 1/2) / (1 - f). */
static size_t min_total(size_t min_train, double test_fraction)
{
    if (min_train == 0) return 0;
    double start = floor(((double)min_train - 0.5) / (1.0 - test_fraction)) - 2;
    size_t t = start > (double)min_train ? (size_t)start : min_train;
    while (t - test_share(t, test_fraction) < min_train) t++;
    return t;
}

/* ---- random variates ------------------------------------------------------------------------ */

static double unit_from_word(uint32_t w) { return ((double)w + 0.5) * (1.0 / 4294967296.0); }

/* log of a Gamma(alpha, 1) variate from stream s (Marsaglia & Tsang 2000). Try t uses Philox
 * block t: words 0-1 the normal, word 2 the acceptance uniform. alpha < 1 uses
 * Gamma(alpha) = Gamma(alpha + 1) U^(1/alpha) with U from word 3 of block 0, in logs so that a
 * tiny alpha cannot underflow to 0. */
static double log_gamma_variate(const fd_rng *s, double alpha)
{
    double a = alpha < 1 ? alpha + 1 : alpha;
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    double result = log(d); /* the mode, kept only if every try were rejected */
    for (uint64_t t = 0; t < GAMMA_MAX_TRIES; t++) {
        double x = fd_rng_normal(s, 4 * t);
        double v = 1 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = unit_from_word(fd_rng_u32(s, 4 * t + 2));
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) {
            result = log(d * v);
            break;
        }
    }
    if (alpha < 1) result += log(unit_from_word(fd_rng_u32(s, 3))) / alpha;
    return result;
}

/* p[k] = exp(log_g[k]) / sum: normalised from the logs, stable for any alpha. */
static void normalise_logs(double *p, size_t n)
{
    double top = -INFINITY;
    for (size_t k = 0; k < n; k++)
        if (p[k] > top) top = p[k];
    for (size_t k = 0; k < n; k++) p[k] = exp(p[k] - top);
}

/* ---- the count matrix: counts[client][class] -------------------------------------------------
 * Every method fills counts[K][L] (K clients, L classes) with column sums equal to the class
 * totals; the samples are dealt from it afterwards. */

typedef struct {
    const fd_partition_config *cfg;
    size_t n;                    /* samples */
    int K, L;                    /* clients, classes */
    const uint32_t *class_total; /* [L] */
    size_t min_client;           /* fewest samples (train + test) a client may hold */
    uint32_t *counts;            /* [K][L] */
} plan;

/* Stratified fill for given client sizes: the samples, sorted by class, are dealt so that
 * client k's s_k samples sit at evenly spaced positions of the sorted list (sample j of client k
 * is due at (j + 1/2) N / s_k; a counting sort by due position orders all N). Each client's
 * histogram then follows the class proportions within about one sample per class, and sizes and
 * class totals hold exactly. */
static void fill_stratified(plan *pl, const uint32_t *sizes)
{
    size_t n = pl->n;
    uint32_t *bucket_start = fd_calloc(n + 1, sizeof *bucket_start);
    uint32_t *owner = fd_malloc(n * sizeof *owner);
    for (int k = 0; k < pl->K; k++)
        for (uint64_t j = 0; j < sizes[k]; j++)
            bucket_start[(2 * j + 1) * n / (2 * (uint64_t)sizes[k]) + 1]++;
    for (size_t b = 0; b < n; b++) bucket_start[b + 1] += bucket_start[b];
    for (int k = 0; k < pl->K; k++)
        for (uint64_t j = 0; j < sizes[k]; j++)
            owner[bucket_start[(2 * j + 1) * n / (2 * (uint64_t)sizes[k])]++] = (uint32_t)k;
    size_t pos = 0;
    for (int c = 0; c < pl->L; c++)
        for (uint32_t i = 0; i < pl->class_total[c]; i++, pos++)
            pl->counts[(size_t)owner[pos] * (size_t)pl->L + (size_t)c]++;
    free(owner);
    free(bucket_start);
}

static void plan_iid(plan *pl)
{
    uint32_t *ones = fd_malloc((size_t)pl->K * sizeof *ones);
    uint32_t *sizes = fd_malloc((size_t)pl->K * sizeof *sizes);
    for (int k = 0; k < pl->K; k++) ones[k] = 1;
    split_by_counts(pl->n, ones, 1, (size_t)pl->K, sizes, 1);
    fill_stratified(pl, sizes);
    free(sizes);
    free(ones);
}

/* Sizes min_client + a Dir(alpha) share of the rest (stream: client k, step 0). */
static void plan_quantity(plan *pl)
{
    double *q = fd_malloc((size_t)pl->K * sizeof *q);
    uint32_t *sizes = fd_malloc((size_t)pl->K * sizeof *sizes);
    for (int k = 0; k < pl->K; k++) {
        fd_rng s = fd_rng_stream(pl->cfg->seed, FD_RNG_PARTITION, PHASE_QUANTITY, (uint32_t)k, 0);
        q[k] = log_gamma_variate(&s, pl->cfg->alpha);
    }
    normalise_logs(q, (size_t)pl->K);
    split_by_proportions(pl->n - (size_t)pl->K * pl->min_client, q, (size_t)pl->K, sizes, 1);
    for (int k = 0; k < pl->K; k++) sizes[k] += (uint32_t)pl->min_client;
    fill_stratified(pl, sizes);
    free(sizes);
    free(q);
}

/* Bring every client up to min_client samples by moving samples from the clients above it,
 * deterministically: the deficit D is taken from the donors in proportion to their surplus,
 * each donor giving in proportion to its own class counts; the donated (class, count) runs, in
 * donor then class order, are handed to the short clients in client order. Donors keep at least
 * min_client; receivers get the classes of few donors, so the label skew stays. */
static void lift_to_minimum(plan *pl)
{
    const size_t K = (size_t)pl->K, L = (size_t)pl->L;
    uint32_t *row = fd_malloc(K * sizeof *row), *surplus = fd_malloc(K * sizeof *surplus);
    uint32_t *give = fd_malloc(K * sizeof *give);
    uint64_t deficit = 0;
    for (size_t k = 0; k < K; k++) {
        uint64_t r = 0;
        for (size_t c = 0; c < L; c++) r += pl->counts[k * L + c];
        row[k] = (uint32_t)r;
        surplus[k] = r > pl->min_client ? (uint32_t)(r - pl->min_client) : 0;
        if (r < pl->min_client) deficit += pl->min_client - r;
    }
    if (deficit > 0) {
        split_by_counts(deficit, surplus, 1, K, give, 1);
        /* The pool of donated runs: at most one per (donor, class). */
        uint32_t *run_class = fd_malloc(K * L * sizeof *run_class);
        uint32_t *run_count = fd_malloc(K * L * sizeof *run_count);
        uint32_t *taken = fd_malloc(L * sizeof *taken);
        size_t runs = 0;
        for (size_t k = 0; k < K; k++) {
            if (give[k] == 0) continue;
            split_by_counts(give[k], pl->counts + k * L, 1, L, taken, 1);
            for (size_t c = 0; c < L; c++) {
                if (taken[c] == 0) continue;
                pl->counts[k * L + c] -= taken[c];
                run_class[runs] = (uint32_t)c;
                run_count[runs++] = taken[c];
            }
        }
        size_t run = 0;
        for (size_t k = 0; k < K; k++) {
            uint64_t need = row[k] < pl->min_client ? pl->min_client - row[k] : 0;
            while (need > 0) {
                FD_ASSERT(run < runs);
                uint32_t take = run_count[run] < need ? run_count[run] : (uint32_t)need;
                pl->counts[k * L + run_class[run]] += take;
                run_count[run] -= take;
                need -= take;
                if (run_count[run] == 0) run++;
            }
        }
        free(taken);
        free(run_count);
        free(run_class);
    }
    free(give);
    free(surplus);
    free(row);
}

/* Label skew: for each class c, proportions over the clients from Dir(alpha) (stream: client k,
 * step c, one Gamma variate each), the class's samples split by them; then the minimum. */
static void plan_dirichlet(plan *pl)
{
    double *p = fd_malloc((size_t)pl->K * sizeof *p);
    for (int c = 0; c < pl->L; c++) {
        for (int k = 0; k < pl->K; k++) {
            fd_rng s = fd_rng_stream(pl->cfg->seed, FD_RNG_PARTITION, PHASE_DIRICHLET, (uint32_t)k,
                                     (uint32_t)c);
            p[k] = log_gamma_variate(&s, pl->cfg->alpha);
        }
        normalise_logs(p, (size_t)pl->K);
        split_by_proportions(pl->class_total[c], p, (size_t)pl->K, pl->counts + c, (size_t)pl->L);
    }
    free(p);
    lift_to_minimum(pl);
}

/* Each client holds classes_per_client distinct classes. The K x cpc class slots are filled
 * with random permutations of the classes, one after another (cycle t: stream client 0,
 * step t), client k taking slots [k cpc, (k + 1) cpc), so every class has the same number of
 * holders within one. Where a client's slots straddle two cycles, the new cycle's permutation
 * is stably reordered to put the classes already in that client's slots last, which keeps the
 * client's classes distinct. Each class is then split evenly among its holders. */
static int plan_shards(plan *pl)
{
    const size_t K = (size_t)pl->K, L = (size_t)pl->L, cpc = (size_t)pl->cfg->classes_per_client;
    const size_t slots = K * cpc;
    uint32_t *slot_class = fd_malloc(slots * sizeof *slot_class);
    uint32_t *perm = fd_malloc(L * sizeof *perm), *reordered = fd_malloc(L * sizeof *reordered);
    unsigned char *in_tail = fd_malloc(L);
    for (size_t start = 0, cycle = 0; start < slots; start += L, cycle++) {
        fd_rng s = fd_rng_stream(pl->cfg->seed, FD_RNG_PARTITION, PHASE_SHARDS, 0, (uint32_t)cycle);
        for (size_t i = 0; i < L; i++) perm[i] = (uint32_t)i;
        for (size_t i = L - 1; i > 0; i--) {
            size_t j = fd_rng_below(&s, i, (uint32_t)(i + 1));
            uint32_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        size_t tail = start % cpc; /* slots of the straddling client already filled */
        memset(in_tail, 0, L);
        for (size_t i = start - tail; i < start; i++) in_tail[slot_class[i]] = 1;
        size_t m = 0;
        for (size_t i = 0; i < L; i++)
            if (!in_tail[perm[i]]) reordered[m++] = perm[i];
        for (size_t i = 0; i < L; i++)
            if (in_tail[perm[i]]) reordered[m++] = perm[i];
        for (size_t i = 0; i < L && start + i < slots; i++) slot_class[start + i] = reordered[i];
    }
    uint32_t *holders = fd_calloc(L, sizeof *holders), *dealt = fd_calloc(L, sizeof *dealt);
    for (size_t i = 0; i < slots; i++) holders[slot_class[i]]++;
    int rc = 0;
    for (size_t c = 0; c < L; c++) {
        if (pl->class_total[c] > 0 && holders[c] == 0) {
            fd_set_error("partition.classes_per_client = %zu with fed.clients = %d leaves class "
                         "%zu without a client (%zu slots for %d classes); raise "
                         "partition.classes_per_client or fed.clients",
                         cpc, pl->K, c, slots, pl->L);
            rc = -1;
            break;
        }
    }
    for (size_t i = 0; i < slots && rc == 0; i++) {
        size_t c = slot_class[i], k = i / cpc;
        uint64_t lo = round_ratio(pl->class_total[c], dealt[c], holders[c]);
        uint64_t hi = round_ratio(pl->class_total[c], dealt[c] + 1, holders[c]);
        dealt[c]++;
        pl->counts[k * L + c] = (uint32_t)(hi - lo);
    }
    free(dealt);
    free(holders);
    free(in_tail);
    free(reordered);
    free(perm);
    free(slot_class);
    return rc;
}

/* ---- from counts to samples ------------------------------------------------------------------ */

/* Deal the samples: each class's samples in a random order (Fisher-Yates, stream client 0,
 * step c), in runs of counts[k][c] to clients k = 0, 1, ...; the first test[k][c] of a run go to
 * the client's test part. Lists come out in ascending dataset order. */
static void deal(fd_partition *p, const plan *pl, const uint8_t *labels, const uint32_t *test)
{
    const size_t K = (size_t)pl->K, L = (size_t)pl->L, n = pl->n;
    size_t *class_start = fd_calloc(L + 1, sizeof *class_start);
    for (size_t c = 0; c < L; c++) class_start[c + 1] = class_start[c] + pl->class_total[c];
    uint32_t *order = fd_malloc(n * sizeof *order);
    size_t *fill = fd_malloc(L * sizeof *fill);
    memcpy(fill, class_start, L * sizeof *fill);
    for (size_t i = 0; i < n; i++) order[fill[labels[i]]++] = (uint32_t)i;
    for (size_t c = 0; c < L; c++) {
        fd_rng s = fd_rng_stream(pl->cfg->seed, FD_RNG_PARTITION, PHASE_SHUFFLE, 0, (uint32_t)c);
        uint32_t *seg = order + class_start[c];
        for (size_t i = pl->class_total[c]; i-- > 1;) {
            size_t j = fd_rng_below(&s, i, (uint32_t)(i + 1));
            uint32_t tmp = seg[i];
            seg[i] = seg[j];
            seg[j] = tmp;
        }
    }
    /* dest[i] = 2 k + (1 if in k's test part) */
    uint32_t *dest = fd_malloc(n * sizeof *dest);
    for (size_t c = 0; c < L; c++) {
        size_t at = class_start[c];
        for (size_t k = 0; k < K; k++) {
            uint32_t cnt = pl->counts[k * L + c], t = test[k * L + c];
            for (uint32_t r = 0; r < cnt; r++) dest[order[at++]] = (uint32_t)(2 * k) + (r < t);
            p->train_hist[k * L + c] = cnt - t;
            p->test_hist[k * L + c] = t;
        }
    }
    for (size_t k = 0; k < K; k++) {
        size_t tr = 0, te = 0;
        for (size_t c = 0; c < L; c++) {
            tr += p->train_hist[k * L + c];
            te += p->test_hist[k * L + c];
        }
        p->train_offset[k + 1] = p->train_offset[k] + tr;
        p->test_offset[k + 1] = p->test_offset[k] + te;
    }
    size_t *train_at = fd_malloc(K * sizeof *train_at), *test_at = fd_malloc(K * sizeof *test_at);
    memcpy(train_at, p->train_offset, K * sizeof *train_at);
    memcpy(test_at, p->test_offset, K * sizeof *test_at);
    for (size_t i = 0; i < n; i++) {
        size_t k = dest[i] >> 1;
        if (dest[i] & 1)
            p->test_index[test_at[k]++] = (uint32_t)i;
        else
            p->train_index[train_at[k]++] = (uint32_t)i;
    }
    free(test_at);
    free(train_at);
    free(dest);
    free(fill);
    free(order);
    free(class_start);
}

static int check_config(const fd_partition_config *cfg, const uint8_t *labels, size_t n,
                        int n_classes)
{
    if (cfg->method < FD_PARTITION_IID || cfg->method > FD_PARTITION_QUANTITY) {
        fd_set_error("partition.method: unknown method %d", (int)cfg->method);
        return -1;
    }
    if (cfg->n_clients < 1) {
        fd_set_error("fed.clients = %d; a partition needs at least one client", cfg->n_clients);
        return -1;
    }
    if (cfg->unseen_clients < 0 || cfg->unseen_clients >= cfg->n_clients) {
        fd_set_error("partition.unseen_clients = %d must be from 0 to fed.clients - 1 = %d",
                     cfg->unseen_clients, cfg->n_clients - 1);
        return -1;
    }
    if (!(cfg->test_fraction >= 0 && cfg->test_fraction < 1)) {
        fd_set_error("partition.test_fraction = %g must be in [0, 1)", cfg->test_fraction);
        return -1;
    }
    if ((cfg->method == FD_PARTITION_DIRICHLET || cfg->method == FD_PARTITION_QUANTITY) &&
        !(cfg->alpha > 0 && isfinite(cfg->alpha))) {
        fd_set_error("partition.alpha = %g must be positive for method %s", cfg->alpha,
                     method_names[cfg->method]);
        return -1;
    }
    if (n_classes < 1 || n_classes > 256) {
        fd_set_error("partition: %d classes; labels are bytes, so 1 to 256", n_classes);
        return -1;
    }
    if (cfg->method == FD_PARTITION_SHARDS &&
        (cfg->classes_per_client < 1 || cfg->classes_per_client > n_classes)) {
        fd_set_error("partition.classes_per_client = %d must be from 1 to the %d classes",
                     cfg->classes_per_client, n_classes);
        return -1;
    }
    if (n == 0 || n > MAX_SAMPLES) {
        fd_set_error("partition: %zu samples; from 1 to %zu are supported", n, MAX_SAMPLES);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (labels[i] >= n_classes) {
            fd_set_error("partition: label %d of sample %zu is not a class 0..%d", labels[i], i,
                         n_classes - 1);
            return -1;
        }
    }
    size_t per_client = min_total(cfg->min_samples, cfg->test_fraction);
    if (cfg->min_samples > n || per_client > n / (size_t)cfg->n_clients) {
        fd_set_error("partition.min_samples = %zu train samples per client needs %zu samples per "
                     "client (test_fraction %g) x %d clients, but the split has %zu samples; "
                     "lower partition.min_samples or fed.clients",
                     cfg->min_samples, per_client, cfg->test_fraction, cfg->n_clients, n);
        return -1;
    }
    return 0;
}

void fd_partition_free(fd_partition *p)
{
    free(p->train_offset);
    free(p->train_index);
    free(p->test_offset);
    free(p->test_index);
    free(p->train_hist);
    free(p->test_hist);
    memset(p, 0, sizeof *p);
}

int fd_partition_build(fd_partition *p, const fd_partition_config *cfg, const uint8_t *labels,
                       size_t n_samples, int n_classes)
{
    memset(p, 0, sizeof *p);
    if (check_config(cfg, labels, n_samples, n_classes) != 0) return -1;
    const size_t K = (size_t)cfg->n_clients, L = (size_t)n_classes;
    uint32_t *class_total = fd_calloc(L, sizeof *class_total);
    for (size_t i = 0; i < n_samples; i++) class_total[labels[i]]++;
    plan pl = {.cfg = cfg,
               .n = n_samples,
               .K = cfg->n_clients,
               .L = n_classes,
               .class_total = class_total,
               .min_client = min_total(cfg->min_samples, cfg->test_fraction),
               .counts = fd_calloc(K * L, sizeof(uint32_t))};
    int rc = 0;
    switch (cfg->method) {
    case FD_PARTITION_IID:
        plan_iid(&pl);
        break;
    case FD_PARTITION_DIRICHLET:
        plan_dirichlet(&pl);
        break;
    case FD_PARTITION_SHARDS:
        rc = plan_shards(&pl);
        break;
    case FD_PARTITION_QUANTITY:
        plan_quantity(&pl);
        break;
    }

    /* Test parts, stratified: round(test_fraction x client samples), split over the client's
     * classes in proportion to its counts. */
    uint32_t *test = fd_calloc(K * L, sizeof *test);
    for (size_t k = 0; k < K && rc == 0; k++) {
        uint64_t r = 0;
        for (size_t c = 0; c < L; c++) r += pl.counts[k * L + c];
        split_by_counts(test_share(r, cfg->test_fraction), pl.counts + k * L, 1, L, test + k * L,
                        1);
        if (r - test_share(r, cfg->test_fraction) < cfg->min_samples) {
            fd_set_error("partition.min_samples = %zu: %s gives client %zu only %llu training "
                         "samples; lower partition.min_samples or fed.clients",
                         cfg->min_samples, method_names[cfg->method], k,
                         (unsigned long long)(r - test_share(r, cfg->test_fraction)));
            rc = -1;
        }
    }
    if (rc == 0) {
        p->config = *cfg;
        p->n_clients = cfg->n_clients;
        p->n_classes = n_classes;
        p->n_samples = n_samples;
        p->train_offset = fd_calloc(K + 1, sizeof *p->train_offset);
        p->test_offset = fd_calloc(K + 1, sizeof *p->test_offset);
        p->train_hist = fd_malloc(K * L * sizeof *p->train_hist);
        p->test_hist = fd_malloc(K * L * sizeof *p->test_hist);
        size_t n_test = 0;
        for (size_t i = 0; i < K * L; i++) n_test += test[i];
        p->train_index = fd_malloc((n_samples - n_test) * sizeof *p->train_index);
        p->test_index = fd_malloc(n_test * sizeof *p->test_index);
        deal(p, &pl, labels, test);
    }
    free(test);
    free(pl.counts);
    free(class_total);
    return rc;
}

/* ---- the table ---------------------------------------------------------------------------------
 */

static int compare_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

static int digits(uint64_t x)
{
    int d = 1;
    while (x >= 10) {
        x /= 10;
        d++;
    }
    return d;
}

static void print_row(const fd_partition *p, FILE *out, int k, int width)
{
    const size_t L = (size_t)p->n_classes;
    fprintf(out, "%6d  %-6s  %7zu  %6zu  |", k, fd_partition_is_unseen(p, k) ? "unseen" : "seen",
            fd_partition_train_count(p, k), fd_partition_test_count(p, k));
    for (size_t c = 0; c < L; c++)
        fprintf(out, " %*u", width,
                p->train_hist[(size_t)k * L + c] + p->test_hist[(size_t)k * L + c]);
    fputc('\n', out);
}

void fd_partition_print(const fd_partition *p, FILE *out, const char *dataset, int max_rows)
{
    const fd_partition_config *cfg = &p->config;
    const size_t K = (size_t)p->n_clients, L = (size_t)p->n_classes;
    fprintf(out, "partition of %s: %zu samples, %d classes, %d clients (%d seen + %d unseen)\n",
            dataset, p->n_samples, p->n_classes, p->n_clients, p->n_clients - cfg->unseen_clients,
            cfg->unseen_clients);
    fprintf(out, "method %s", method_names[cfg->method]);
    if (cfg->method == FD_PARTITION_DIRICHLET || cfg->method == FD_PARTITION_QUANTITY)
        fprintf(out, ", alpha %g", cfg->alpha);
    if (cfg->method == FD_PARTITION_SHARDS)
        fprintf(out, ", %d classes per client", cfg->classes_per_client);
    fprintf(out, ", test fraction %g, min %zu train samples, seed %llu\n", cfg->test_fraction,
            cfg->min_samples, (unsigned long long)cfg->seed);

    size_t *sizes = fd_malloc(K * sizeof *sizes);
    size_t classes_held = 0, max_cell = 0;
    for (size_t k = 0; k < K; k++) {
        sizes[k] = fd_partition_train_count(p, (int)k) + fd_partition_test_count(p, (int)k);
        for (size_t c = 0; c < L; c++) {
            size_t cell = (size_t)p->train_hist[k * L + c] + p->test_hist[k * L + c];
            classes_held += cell > 0;
            if (cell > max_cell) max_cell = cell;
        }
    }
    qsort(sizes, K, sizeof *sizes, compare_size);
    fprintf(out,
            "train %zu + test %zu samples; samples per client: min %zu, median %zu, max %zu; "
            "classes per client: mean %.2f\n",
            p->train_offset[K], p->test_offset[K], sizes[0], sizes[K / 2], sizes[K - 1],
            (double)classes_held / (double)K);
    free(sizes);

    int width = digits(max_cell) > digits(L - 1) ? digits(max_cell) : digits(L - 1);
    fprintf(out, "%6s  %-6s  %7s  %6s  |", "client", "kind", "train", "test");
    for (size_t c = 0; c < L; c++) fprintf(out, " %*zu", width, c);
    fprintf(out, "   <- samples per class (train + test)\n");
    size_t shown = max_rows > 0 && (size_t)max_rows < K ? (size_t)max_rows : K;
    size_t head = shown == K ? K : (shown + 1) / 2, tail = shown - head;
    for (size_t k = 0; k < head; k++) print_row(p, out, (int)k, width);
    if (head + tail < K) fprintf(out, "   ... %zu clients not shown ...\n", K - head - tail);
    for (size_t k = K - tail; k < K; k++) print_row(p, out, (int)k, width);
}

/* ---- HDF5 --------------------------------------------------------------------------------------
 */

static void attr_string(hid_t obj, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    FD_CHECK_H5(type);
    FD_CHECK_H5(H5Tset_size(type, strlen(value) + 1));
    FD_CHECK_H5(H5Tset_strpad(type, H5T_STR_NULLTERM));
    hid_t space = H5Screate(H5S_SCALAR);
    FD_CHECK_H5(space);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    FD_CHECK_H5(attr);
    FD_CHECK_H5(H5Awrite(attr, type, value));
    FD_CHECK_H5(H5Aclose(attr));
    FD_CHECK_H5(H5Sclose(space));
    FD_CHECK_H5(H5Tclose(type));
}

static void attr_scalar(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                        const void *value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    FD_CHECK_H5(space);
    hid_t attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    FD_CHECK_H5(attr);
    FD_CHECK_H5(H5Awrite(attr, mem_type, value));
    FD_CHECK_H5(H5Aclose(attr));
    FD_CHECK_H5(H5Sclose(space));
}

static void attr_u64(hid_t obj, const char *name, uint64_t value)
{
    attr_scalar(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value);
}

static void attr_double(hid_t obj, const char *name, double value)
{
    attr_scalar(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

/* A creation property list of class_id that records no modification times (as the io layer's
 * files do): the same partition gives the same bytes. Close it with H5Pclose. */
static hid_t untimed(hid_t class_id)
{
    hid_t plist = H5Pcreate(class_id);
    FD_CHECK_H5(plist);
    FD_CHECK_H5(H5Pset_obj_track_times(plist, 0));
    return plist;
}

/* A whole dataset with its description; a failed write (disk full) is noted in *first_errno
 * (errno right after the first failure, -1 if none was set) instead of stopping. */
static void write_array(int *first_errno, hid_t group, const char *name, int rank,
                        const hsize_t *dims, hid_t file_type, hid_t mem_type, const void *data,
                        const char *description)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    FD_CHECK_H5(space);
    hid_t dcpl = untimed(H5P_DATASET_CREATE);
    hid_t set = H5Dcreate2(group, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    FD_CHECK_H5(set);
    FD_CHECK_H5(H5Pclose(dcpl));
    hsize_t elements = 1;
    for (int d = 0; d < rank; d++) elements *= dims[d];
    errno = 0;
    if (elements > 0 && H5Dwrite(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0 &&
        *first_errno == 0)
        *first_errno = errno ? errno : -1;
    attr_string(set, "description", description);
    FD_CHECK_H5(H5Dclose(set));
    FD_CHECK_H5(H5Sclose(space));
}

int fd_partition_write_h5(const fd_partition *p, hid_t loc, const char *name, const char *dataset)
{
    int first_errno = 0;
    const fd_partition_config *cfg = &p->config;
    const size_t K = (size_t)p->n_clients, L = (size_t)p->n_classes;
    hid_t gcpl = untimed(H5P_GROUP_CREATE);
    hid_t group = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    FD_CHECK_H5(group);
    FD_CHECK_H5(H5Pclose(gcpl));
    attr_string(group, "description",
                "federated partition of a dataset split: client c's train samples are "
                "train_index[train_offset[c]:train_offset[c+1]] (dataset indices, ascending), "
                "its test samples likewise; the last unseen_clients clients are unseen");
    attr_string(group, "dataset", dataset);
    attr_string(group, "method", method_names[cfg->method]);
    attr_double(group, "alpha", cfg->alpha);
    attr_u64(group, "classes_per_client", (uint64_t)cfg->classes_per_client);
    attr_u64(group, "n_clients", K);
    attr_u64(group, "unseen_clients", (uint64_t)cfg->unseen_clients);
    attr_double(group, "test_fraction", cfg->test_fraction);
    attr_u64(group, "min_samples", cfg->min_samples);
    attr_u64(group, "seed", cfg->seed);
    attr_u64(group, "n_samples", p->n_samples);
    attr_u64(group, "n_classes", L);

    hsize_t clients = K, offsets = K + 1, n_train = p->train_offset[K], n_test = p->test_offset[K];
    hsize_t hist[2] = {K, L};
    write_array(&first_errno, group, "train_offset", 1, &offsets, H5T_STD_U64LE, H5T_NATIVE_UINT64,
                p->train_offset,
                "[n_clients + 1] client c's train samples are train_index[train_offset[c]:"
                "train_offset[c+1]]");
    write_array(&first_errno, group, "train_index", 1, &n_train, H5T_STD_U32LE, H5T_NATIVE_UINT32,
                p->train_index, "[n_train] dataset indices of the train samples, client by client");
    write_array(&first_errno, group, "test_offset", 1, &offsets, H5T_STD_U64LE, H5T_NATIVE_UINT64,
                p->test_offset,
                "[n_clients + 1] client c's test samples are test_index[test_offset[c]:"
                "test_offset[c+1]]");
    write_array(&first_errno, group, "test_index", 1, &n_test, H5T_STD_U32LE, H5T_NATIVE_UINT32,
                p->test_index,
                "[n_test] dataset indices of the held-out test samples, client by client");
    write_array(&first_errno, group, "train_hist", 2, hist, H5T_STD_U32LE, H5T_NATIVE_UINT32,
                p->train_hist, "[n_clients, n_classes] train samples per client and class");
    write_array(&first_errno, group, "test_hist", 2, hist, H5T_STD_U32LE, H5T_NATIVE_UINT32,
                p->test_hist, "[n_clients, n_classes] test samples per client and class");
    uint8_t *unseen = fd_malloc(K);
    for (size_t k = 0; k < K; k++) unseen[k] = (uint8_t)fd_partition_is_unseen(p, (int)k);
    write_array(&first_errno, group, "unseen", 1, &clients, H5T_STD_U8LE, H5T_NATIVE_UINT8, unseen,
                "[n_clients] 1 for an unseen client (held out of training; its train part is "
                "for adaptation, its test part for evaluation), else 0");
    free(unseen);
    FD_CHECK_H5(H5Gclose(group));
    if (first_errno == 0) return 0;
    errno = first_errno > 0 ? first_errno : 0;
    return -1;
}

int fd_partition_save(const fd_partition *p, const char *path, const char *dataset)
{
    size_t len = strlen(path) + 5;
    char *tmp = fd_malloc(len);
    snprintf(tmp, len, "%s.tmp", path);
    /* A path that cannot be created is bad input, not an HDF5 failure: report it quietly. */
    H5E_auto2_t handler;
    void *handler_data;
    FD_CHECK_H5(H5Eget_auto2(H5E_DEFAULT, &handler, &handler_data));
    FD_CHECK_H5(H5Eset_auto2(H5E_DEFAULT, NULL, NULL));
    hid_t fcpl = untimed(H5P_FILE_CREATE);
    errno = 0;
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    int create_errno = errno;
    FD_CHECK_H5(H5Eset_auto2(H5E_DEFAULT, handler, handler_data));
    FD_CHECK_H5(H5Pclose(fcpl));
    errno = create_errno;
    if (file < 0) {
        if (errno == ENOENT || errno == EACCES || errno == ENOTDIR)
            fd_set_error("%s: cannot create the HDF5 file: %s", tmp, strerror(errno));
        else
            fd_set_error("%s: cannot create the HDF5 file (%s)", tmp,
                         fd_write_failure_reason(errno));
        remove(tmp); /* an empty file if the disk is full */
        free(tmp);
        return -1;
    }
    attr_string(file, "feddiff_version", FEDDIFF_VERSION);
    int rc = fd_partition_write_h5(p, file, "partition", dataset);
    int err = rc ? errno : 0;
    errno = 0;
    if (H5Fclose(file) < 0 && rc == 0) {
        rc = -1;
        err = errno;
    }
    if (rc != 0) {
        fd_set_error("%s: writing failed (%s); the incomplete file is removed, %s is untouched",
                     tmp, fd_write_failure_reason(err), path);
        remove(tmp);
    } else if (rename(tmp, path) != 0) {
        fd_set_error("%s: cannot rename %s to it: %s", path, tmp, strerror(errno));
        remove(tmp);
        rc = -1;
    }
    free(tmp);
    return rc;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t bytes)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < bytes; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t fd_partition_fingerprint(const fd_partition *p)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const size_t n = (size_t)p->n_clients + 1;
    h = fnv1a(h, &p->n_clients, sizeof p->n_clients);
    h = fnv1a(h, p->train_offset, sizeof *p->train_offset * n);
    h = fnv1a(h, p->train_index, sizeof *p->train_index * p->train_offset[p->n_clients]);
    h = fnv1a(h, p->test_offset, sizeof *p->test_offset * n);
    h = fnv1a(h, p->test_index, sizeof *p->test_index * p->test_offset[p->n_clients]);
    return h;
}
