/* feddiff sample: draw samples from a checkpoint's EMA weights into HDF5 and a PNG grid. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "feddiff/checkpoint.h"
#include "feddiff/dataset.h"
#include "feddiff/diffusion.h"
#include "feddiff/error.h"
#include "feddiff/image.h"
#include "feddiff/partition.h"
#include "feddiff/samples.h"
#include "feddiff/threads.h"
#include "feddiff/timer.h"
#include "options.h"
#include "run_setup.h"
#include "train.h"

static const char *usage =
    "usage: feddiff sample --checkpoint FILE [--n N] [--class K] [--client C] [--out PREFIX]\n"
    "                      [--sampler ancestral|ddim] [--steps S] [--seed SEED] [--batch B]\n"
    "  Draws N samples (default 64) with the checkpoint's EMA weights, conditioned on class K\n"
    "  and/or client C when the model has those embeddings (default: classes cycle 0,1,2,...).\n"
    "  A client's own parts (udec, ulatdec, local) know only the classes of its training data:\n"
    "  without --class such a client is asked for those, in proportion, as in the run's\n"
    "  samples.png (the partition is rebuilt from the checkpoint's config and data.dir).\n"
    "  Writes PREFIX.h5 and PREFIX.png (default PREFIX: samples next to the checkpoint).";

/* labels [n]: the classes of client `client`'s training data in proportion, from the partition
 * the checkpoint's config makes of its dataset (as feddiff eval rebuilds it). Returns -1 with
 * the error set, leaving labels as they were, when the dataset cannot be read. */
static int client_class_labels(int *labels, int n, const fd_model *m, const fd_config *cfg,
                               int client)
{
    fd_dataset ds;
    fd_dataset_spec spec = fd_setup_dataset_spec(cfg);
    if (fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN) != 0) return -1;
    fd_partition part;
    fd_partition_config pc = fd_setup_partition_config(cfg);
    int rc = fd_partition_build(&part, &pc, ds.labels, ds.count, ds.n_classes);
    if (rc == 0) {
        const size_t first = part.train_offset[client],
                     count = part.train_offset[client + 1] - first;
        uint8_t *own = fd_malloc(count ? count : 1);
        for (size_t j = 0; j < count; j++) own[j] = ds.labels[part.train_index[first + j]];
        if (count > 0) fd_client_grid_labels(labels, n, m, own, (int)count);
        free(own);
        fd_partition_free(&part);
    }
    fd_dataset_close(&ds);
    return rc;
}

int fd_cmd_sample(int argc, char **argv)
{
    const char *checkpoint = NULL, *out = NULL, *sampler = NULL;
    long n = 64, cls = -1, client = -1, steps = 0, batch = 64;
    unsigned long long seed = 1;
    for (int i = 0; i < argc;) {
        const char *v;
        if ((v = fd_app_option(argc, argv, &i, "--checkpoint")))
            checkpoint = v;
        else if ((v = fd_app_option(argc, argv, &i, "--out")))
            out = v;
        else if ((v = fd_app_option(argc, argv, &i, "--sampler")))
            sampler = v;
        else if ((v = fd_app_option(argc, argv, &i, "--n")))
            n = fd_app_parse_long(v, "--n", 1, 1000000);
        else if ((v = fd_app_option(argc, argv, &i, "--class")))
            cls = fd_app_parse_long(v, "--class", 0, 1 << 30);
        else if ((v = fd_app_option(argc, argv, &i, "--client")))
            client = fd_app_parse_long(v, "--client", 0, 1 << 30);
        else if ((v = fd_app_option(argc, argv, &i, "--steps")))
            steps = fd_app_parse_long(v, "--steps", 1, 1000000);
        else if ((v = fd_app_option(argc, argv, &i, "--batch")))
            batch = fd_app_parse_long(v, "--batch", 1, 65536);
        else if ((v = fd_app_option(argc, argv, &i, "--seed")))
            seed = (unsigned long long)fd_app_parse_long(v, "--seed", 0, 1L << 62);
        else if (!strcmp(argv[i], "--help")) {
            if (fd_app_is_root()) puts(usage);
            return 0;
        } else
            return fd_app_usage_error("unknown argument '%s'\n%s", argv[i], usage);
    }
    if (!checkpoint) return fd_app_usage_error("--checkpoint is required\n%s", usage);
    if (sampler && strcmp(sampler, "ddim") && strcmp(sampler, "ancestral"))
        return fd_app_usage_error("--sampler: '%s' is not ancestral or ddim", sampler);

    fd_config cfg;
    fd_model_config mcfg;
    if (fd_checkpoint_read_config(checkpoint, &cfg, &mcfg) != 0) fd_die_on_error();
    fd_threads_set(cfg.run.threads);
    fd_model *m = fd_model_create(&mcfg);
    fd_model_ema_enable(m);
    fd_train_state st;
    if (fd_checkpoint_read(checkpoint, m, &st) != 0) fd_die_on_error();

    const int n_classes = mcfg.kind == FD_MODEL_UNET ? mcfg.unet.n_classes : mcfg.mlp.n_classes;
    const int n_clients = mcfg.kind == FD_MODEL_UNET ? mcfg.unet.n_clients : mcfg.mlp.n_clients;
    if (cls >= 0 && cls >= n_classes)
        return fd_app_usage_error("--class %ld: the model has %d class embeddings", cls, n_classes);
    /* A client is either a row of the client embedding or, when clients keep parts of the network
     * (udec, ulatdec, local), the owner of a row of /clients: its own parts replace those of the
     * global model. */
    const bool personal = fd_checkpoint_has_client_parts(checkpoint);
    if (personal && client < 0)
        return fd_app_usage_error("%s: its clients keep their own parts (fed.method = %s): choose "
                                  "one with --client C",
                                  checkpoint, cfg.fed.method);
    if (client >= 0 && !personal && client >= n_clients)
        return fd_app_usage_error("--client %ld: the model has %d client embeddings and no "
                                  "per-client parts",
                                  client, n_clients);
    if (personal && fd_checkpoint_read_client_parts(checkpoint, (int)client, true, m) != 0)
        fd_die_on_error();
    fd_model_swap_ema(m); /* sample with the moving average */

    fd_diffusion diff;
    fd_diffusion_init(&diff, fd_setup_schedule_kind(&cfg), cfg.diffusion.steps);
    fd_sampler_config sc = fd_setup_sampler(&cfg);
    if (sampler) sc.kind = strcmp(sampler, "ddim") ? FD_SAMPLER_ANCESTRAL : FD_SAMPLER_DDIM;
    if (steps) sc.steps = (int)steps;

    const size_t size = m->sample_size;
    float *x = fd_malloc(sizeof(float) * size * (size_t)n);
    int *labels = n_classes > 0 ? fd_malloc(sizeof(int) * (size_t)n) : NULL;
    int *clients = client >= 0 ? fd_malloc(sizeof(int) * (size_t)n) : NULL;
    const int *conditioning = client >= 0 && client < n_clients ? clients : NULL;
    for (long i = 0; i < n; i++) {
        if (labels) labels[i] = cls >= 0 ? (int)cls : (int)(i % n_classes);
        if (clients) clients[i] = (int)client;
    }
    if (personal && labels && cls < 0 &&
        client_class_labels(labels, (int)n, m, &cfg, (int)client) != 0)
        fd_warn("%s: the classes cycle 0, 1, 2, ... instead (--class K asks for one)",
                fd_last_error());
    double t0 = fd_now();
    for (long first = 0; first < n; first += batch) {
        int B = (int)(n - first < batch ? n - first : batch);
        float *xb = x + (size_t)first * size;
        fd_diffusion_prior(xb, B, size, seed, (uint32_t)(client >= 0 ? client : 0),
                           (uint64_t)first);
        fd_diffusion_sample(&diff, m, &sc, xb, labels ? labels + first : NULL,
                            conditioning ? conditioning + first : NULL, B, seed,
                            (uint32_t)(client >= 0 ? client : 0), (uint64_t)first);
        if (fd_app_is_root())
            fprintf(stderr, "sampled %ld/%ld (%.1f s)\n", first + B, n, fd_now() - t0);
    }

    char prefix[4096];
    if (out)
        snprintf(prefix, sizeof prefix, "%s", out);
    else {
        snprintf(prefix, sizeof prefix, "%s", checkpoint);
        char *slash = strrchr(prefix, '/');
        snprintf(slash ? slash + 1 : prefix,
                 sizeof prefix - (size_t)(slash ? slash + 1 - prefix : 0), "samples");
    }
    int rc = 0;
    if (fd_app_is_root()) {
        char path[4200], desc[64];
        snprintf(desc, sizeof desc, "%s, %d steps",
                 sc.kind == FD_SAMPLER_DDIM ? "ddim" : "ancestral", sc.steps);
        fd_sample_batch batch_out = {.n = (int)n,
                                     .data = x,
                                     .labels = labels,
                                     .clients = clients,
                                     .checkpoint = checkpoint,
                                     .sampler = desc};
        if (mcfg.kind == FD_MODEL_UNET) {
            batch_out.ndim = 4;
            batch_out.dims[0] = (int)n;
            batch_out.dims[1] = batch_out.dims[2] = mcfg.unet.image_size;
            batch_out.dims[3] = mcfg.unet.in_channels;
        } else {
            batch_out.ndim = 2;
            batch_out.dims[0] = (int)n;
            batch_out.dims[1] = mcfg.mlp.dim;
        }
        snprintf(path, sizeof path, "%s.h5", prefix);
        if (fd_samples_write(path, &batch_out, &cfg) != 0) fd_die_on_error();
        printf("wrote %s\n", path);
        if (mcfg.kind == FD_MODEL_UNET) {
            snprintf(path, sizeof path, "%s.png", prefix);
            int cols = (int)ceil(sqrt((double)n));
            if (fd_png_write_grid(path, x, (int)n, mcfg.unet.image_size, mcfg.unet.image_size,
                                  mcfg.unet.in_channels, cols) != 0)
                fd_die_on_error();
            printf("wrote %s\n", path);
        }
    }
    free(x);
    free(labels);
    free(clients);
    fd_diffusion_free(&diff);
    fd_model_free(m);
    return rc;
}
