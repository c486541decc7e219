/* Federated partitions: which samples of a dataset split each client holds.
 *
 * A partition is a pure function of (labels, config, seed): every rank computes the same one
 * from the labels alone, in time linear in samples + clients x classes (plus one Dirichlet draw
 * per client and class); no step retries until lucky. Every sample goes to exactly one client,
 * and within it to the train or the test part. Methods (docs/data.md gives the exact algorithms):
 *   iid        equal client sizes (within one sample), labels stratified: each client's label
 *              histogram follows the dataset's (within about one sample per class)
 *   dirichlet  label skew: per class, proportions over clients from Dir(alpha) (alpha -> 0: each
 *              class in few clients; large alpha: close to iid)
 *   shards     each client holds exactly classes_per_client classes, every class held by about
 *              the same number of clients, each class split evenly among its holders
 *   quantity   size skew: client sizes min + Dir(alpha) share of the rest, labels stratified
 * Clients are numbered 0..n_clients-1; the last `unseen_clients` are unseen: federated training
 * never uses them; their train part is their adaptation data and their test part their
 * evaluation data, split like every client's. Every client's test part is
 * round(test_fraction x its samples), stratified over its classes; min_samples bounds every
 * client's train part from below (guaranteed constructively, or an error at once that names the
 * setting to change). */
#ifndef FEDDIFF_PARTITION_H
#define FEDDIFF_PARTITION_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum fd_partition_method {
    FD_PARTITION_IID,
    FD_PARTITION_DIRICHLET,
    FD_PARTITION_SHARDS,
    FD_PARTITION_QUANTITY,
};

typedef struct {
    enum fd_partition_method method;
    int n_clients;          /* all clients, unseen included (fed.clients) */
    int unseen_clients;     /* the last ones, held out of training (partition.unseen_clients) */
    double alpha;           /* dirichlet, quantity: concentration > 0 (partition.alpha) */
    int classes_per_client; /* shards: 1..classes (partition.classes_per_client) */
    double test_fraction;   /* in [0, 1): each client's held-out share (partition.test_fraction) */
    size_t min_samples;     /* minimum train samples per client (partition.min_samples) */
    uint64_t seed;          /* (run.seed) */
} fd_partition_config;

typedef struct {
    fd_partition_config config;
    int n_clients, n_classes;
    size_t n_samples;
    /* CSR: client c's train samples are train_index[train_offset[c] .. train_offset[c + 1]),
     * dataset indices in ascending order; the same for test. */
    size_t *train_offset;  /* [n_clients + 1] */
    uint32_t *train_index; /* [train_offset[n_clients]] */
    size_t *test_offset;   /* [n_clients + 1] */
    uint32_t *test_index;  /* [test_offset[n_clients]] */
    uint32_t *train_hist;  /* [n_clients][n_classes] labels of each client's train part */
    uint32_t *test_hist;   /* [n_clients][n_classes] */
} fd_partition;

/* The defaults of the config keys: iid, 10 clients, none unseen, alpha 0.5, 2 classes per
 * client, test fraction 0.1, min_samples 10, seed 0. */
void fd_partition_config_defaults(fd_partition_config *cfg);
/* "iid", "dirichlet", "shards", "quantity" <-> the enum; parse gives -1 for an unknown name. */
const char *fd_partition_method_name(enum fd_partition_method method);
int fd_partition_method_from_name(const char *name);

/* Partition n_samples samples with labels[i] < n_classes. Returns 0, or -1 with a one-line
 * error naming the config key to change (e.g. min_samples x clients above the samples, shards
 * leaving a class without holder, a label out of range). On error *p is empty. */
int fd_partition_build(fd_partition *p, const fd_partition_config *cfg, const uint8_t *labels,
                       size_t n_samples, int n_classes);
void fd_partition_free(fd_partition *p);

static inline int fd_partition_is_unseen(const fd_partition *p, int client)
{
    return client >= p->n_clients - p->config.unseen_clients;
}
static inline size_t fd_partition_train_count(const fd_partition *p, int client)
{
    return p->train_offset[client + 1] - p->train_offset[client];
}
static inline size_t fd_partition_test_count(const fd_partition *p, int client)
{
    return p->test_offset[client + 1] - p->test_offset[client];
}

/* A 64-bit fingerprint (FNV-1a) of which sample goes to which client's train and test part: a
 * resumed run checks that it splits the data as the run it continues did. */
uint64_t fd_partition_fingerprint(const fd_partition *p);

/* Print the table: a header line with the settings and totals, a summary (clients' sizes
 * min/median/max, classes per client), then one row per client: client, seen/unseen, train,
 * test, and its label histogram (train + test). With more than max_rows clients (max_rows > 0)
 * only the first and last max_rows / 2 rows are printed; max_rows <= 0 prints all. */
void fd_partition_print(const fd_partition *p, FILE *out, const char *dataset, int max_rows);

/* Write the partition as group `name` under `loc` (a file or group): datasets train_offset,
 * train_index, test_offset, test_index, train_hist, test_hist, unseen, each with a
 * "description" attribute, and the settings as attributes of the group. Serial calls: use a
 * file that one rank opened alone (every rank holds the same partition, so rank 0 writes it).
 * 0, or -1 with errno set when writing the data failed (disk full); other HDF5 failures are
 * fatal (FD_CHECK_H5). */
int fd_partition_write_h5(const fd_partition *p, hid_t loc, const char *name, const char *dataset);
/* Create (or replace) the HDF5 file `path` holding group "partition": written to path.tmp and
 * renamed. -1 with an error when the file cannot be created or written (the old file is then
 * untouched and no temporary is left). */
int fd_partition_save(const fd_partition *p, const char *path, const char *dataset);

#endif
