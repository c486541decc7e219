/* Experiment configuration: INI files (libinih) and --set section.key=value overrides.
 *
 * Every key lives in one table (src/io/config.c) with its type, default, allowed values and a
 * one-line description; parsing, validation, the INI dump stored in every output file and the
 * key reference (`feddiff config --doc`, which the build writes to build/docs/config-keys.md)
 * all come from that table. An unknown key or a bad value is a one-line error naming the file,
 * line and key (and the closest valid key). */
#ifndef FEDDIFF_CONFIG_H
#define FEDDIFF_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { FD_CONFIG_STR = 256, FD_CONFIG_MAX_LIST = 8 };

typedef struct {
    struct {
        char name[FD_CONFIG_STR]; /* mnist, fashion-mnist, builtin:glyphs, builtin:gmm */
        char dir[FD_CONFIG_STR];  /* folder of downloaded datasets */
        int train_size;           /* built-in datasets: samples in the training split */
        int test_size;            /* built-in datasets: samples in the test split */
    } data;
    struct {
        char method[FD_CONFIG_STR]; /* iid, dirichlet, shards, quantity */
        double alpha;
        int classes_per_client;
        int unseen_clients;
        double test_fraction;
        int min_samples;
    } partition;
    struct {
        int width;
        int mults[FD_CONFIG_MAX_LIST];
        int n_mults;
        int res_blocks;
        int attention[FD_CONFIG_MAX_LIST]; /* feature-map sizes with self-attention */
        int n_attention;
        int groups;
        bool classes; /* class-conditional: a class embedding table */
        int hidden;   /* MLP (vector data): hidden width */
        int layers;   /* MLP: hidden layers */
    } model;
    struct {
        int steps;                    /* T */
        char schedule[FD_CONFIG_STR]; /* linear, cosine */
        char sampler[FD_CONFIG_STR];  /* ancestral, ddim */
        int sample_steps;
    } diffusion;
    struct {
        int batch;
        double lr;
        int local_epochs; /* > 0: epochs of the client's data per round, else local_steps */
        int local_steps;
        double ema_decay;
        double grad_clip; /* global-norm clip; 0: off */
        double weight_decay;
        double warmup; /* fraction of all steps with a linear learning-rate warm-up */
    } train;
    struct {
        char method[FD_CONFIG_STR]; /* full, udec, ulatdec, usplit, local, central, spire, pfdm */
        int clients;
        int rounds;
        double clients_per_round;       /* <= 1: a fraction of the clients, > 1: a count */
        char server_opt[FD_CONFIG_STR]; /* fedavg, fedadam, fedyogi */
        double server_lr;
        bool keep_optimizer; /* clients keep AdamW moments between rounds */
    } fed;
    struct {
        int epochs;
        int batch;
        double lr;
        double weight_decay;
        int conv1, conv2; /* channels of the two convolutions */
        int features;     /* penultimate width: the feature dimension of fid_cls and kid_cls */
    } classifier;
    struct {
        char classifier[FD_CONFIG_STR]; /* classifier file (feddiff evaluator) */
        int every;                      /* rounds between evaluations during training; 0: off */
        int samples;                    /* samples drawn for an evaluation */
        int client_samples;             /* samples drawn per client in per-client evaluations */
        int sample_steps;               /* sampler steps; 0: diffusion.sample_steps */
        int kid_subsets;
        int kid_subset_size;
        uint64_t seed; /* sampler noise and KID subsets */
    } eval;
    struct {
        char dir[FD_CONFIG_STR];
        int checkpoint_every; /* rounds */
        int keep;             /* checkpoints kept */
        int samples;          /* images in the sample grid written at the end */
        int sample_clients;   /* personalised methods: clients whose models draw them */
    } out;
    struct {
        uint64_t seed;
        int threads; /* per rank; 0: OMP_NUM_THREADS or the allowed CPUs */
    } run;
} fd_config;

/* The defaults of every key. */
void fd_config_defaults(fd_config *cfg);
/* Read an INI file over cfg. Returns 0, or -1 with fd_last_error() naming file, line, key. */
int fd_config_load(fd_config *cfg, const char *path);
/* Read INI text (e.g. the config stored in an HDF5 file); origin names it in errors. */
int fd_config_load_string(fd_config *cfg, const char *text, const char *origin);
/* Apply one "section.key=value" override (origin names it in errors, e.g. "--set"). */
int fd_config_set(fd_config *cfg, const char *assignment, const char *origin);
/* Checks across keys (e.g. the model's groups divide its widths). 0 or -1 with a message. */
int fd_config_validate(const fd_config *cfg);

/* The full configuration as an INI text, every key, in table order. */
void fd_config_write(const fd_config *cfg, FILE *out);
/* Compare two configurations key by key, skipping the entries of the NULL-terminated list
 * `ignore` (a section, "out", or a key, "fed.rounds"). Returns 0 when they agree, else 1 with
 * "section.key = <a's value>, not <b's value>" for the first key that differs in buf. */
int fd_config_first_difference(const fd_config *a, const fd_config *b, const char *const *ignore,
                               char *buf, size_t size);
/* Same, into a newly allocated string (free it). */
char *fd_config_to_string(const fd_config *cfg);
/* Markdown reference of every key: section, key, default, meaning. */
void fd_config_write_doc(FILE *out);

#endif
