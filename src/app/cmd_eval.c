/* feddiff eval: fid_cls, kid_cls, label fidelity and per-class FID of a checkpoint's samples or
 * of a samples file, against the test split and per client against the clients' held-out data
 * (docs/evaluation.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval_common.h"
#include "feddiff/checkpoint.h"
#include "feddiff/clientdata.h"
#include "feddiff/error.h"
#include "feddiff/fs.h"
#include "feddiff/partition.h"
#include "feddiff/rng.h"
#include "feddiff/samples.h"
#include "feddiff/threads.h"
#include "feddiff/timer.h"
#include "options.h"
#include "run_setup.h"

static const char usage[] =
    "usage: feddiff eval (--checkpoint FILE | --samples FILE | --real | --noise)\n"
    "                    [--classifier FILE] [--clients] [--n N] [--sampler ancestral|ddim]\n"
    "                    [--steps S] [--out FILE] [--config FILE] [--set section.key=value]...\n"
    "  Scores samples in the feature space of a classifier from feddiff evaluator (default:\n"
    "  eval.classifier): fid_cls, kid_cls (mean and std over eval.kid_subsets subsets of\n"
    "  eval.kid_subset_size), label_tv (label fidelity), cond_acc and per-class FID.\n"
    "  --checkpoint: draws N samples (default eval.samples) with the EMA weights, classes as the\n"
    "    test split's histogram, and scores them against the test split. --clients (the default\n"
    "    for models with client embeddings or clients' own parts, which are scored per client\n"
    "    only): per client, eval.client_samples samples conditioned on the client (its\n"
    "    embedding or parts, classes as its training histogram) against its held-out data.\n"
    "  --samples: a samples.h5 of feddiff train or sample; samples with client ids are also\n"
    "    scored per client.\n"
    "  --real, --noise: baselines of --config's dataset: N training images (--clients: each\n"
    "    client's first eval.client_samples training images), or uniform noise images, scored\n"
    "    as if they were samples.\n"
    "  The run's config comes from the file (--config for --real and --noise); --set overrides\n"
    "  it (e.g. data.dir, eval.*). Prints a table and writes FILE (default: the input's name\n"
    "  with -eval.h5; <out.dir>/eval-real.h5 or eval-noise.h5 for the baselines).";

typedef struct {
    const char *checkpoint, *samples, *classifier, *out, *sampler, *config;
    int real, noise; /* baselines instead of a model or file */
    int per_client;
    long n, steps;
    int n_sets;
    const char *sets[64];
} options;

static int parse_options(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc;) {
        const char *v;
        if ((v = fd_app_option(argc, argv, &i, "--checkpoint")))
            o->checkpoint = v;
        else if ((v = fd_app_option(argc, argv, &i, "--samples")))
            o->samples = v;
        else if ((v = fd_app_option(argc, argv, &i, "--classifier")))
            o->classifier = v;
        else if ((v = fd_app_option(argc, argv, &i, "--out")))
            o->out = v;
        else if ((v = fd_app_option(argc, argv, &i, "--config")))
            o->config = v;
        else if ((v = fd_app_option(argc, argv, &i, "--sampler")))
            o->sampler = v;
        else if ((v = fd_app_option(argc, argv, &i, "--n")))
            o->n = fd_app_parse_long(v, "--n", 2, 10000000);
        else if ((v = fd_app_option(argc, argv, &i, "--steps")))
            o->steps = fd_app_parse_long(v, "--steps", 1, 100000);
        else if ((v = fd_app_option(argc, argv, &i, "--set"))) {
            if (o->n_sets == 64) return fd_app_usage_error("more than 64 --set options");
            o->sets[o->n_sets++] = v;
        } else if (!strcmp(argv[i], "--clients")) {
            o->per_client = 1;
            i++;
        } else if (!strcmp(argv[i], "--real") || !strcmp(argv[i], "--noise")) {
            *(argv[i][2] == 'r' ? &o->real : &o->noise) = 1;
            i++;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            if (fd_app_is_root()) puts(usage);
            return 1;
        } else
            return fd_app_usage_error("unknown argument '%s'\n%s", argv[i], usage);
    }
    if (!!o->checkpoint + !!o->samples + o->real + o->noise != 1)
        return fd_app_usage_error("give one of --checkpoint, --samples, --real and --noise\n%s",
                                  usage);
    if (o->config && (o->checkpoint || o->samples))
        return fd_app_usage_error("--config: the config comes from the file (use --set)");
    if (o->sampler && strcmp(o->sampler, "ddim") && strcmp(o->sampler, "ancestral"))
        return fd_app_usage_error("--sampler: '%s' is not ancestral or ddim", o->sampler);
    if (!o->checkpoint && (o->sampler || o->steps))
        return fd_app_usage_error("--sampler and --steps draw samples: use them with "
                                  "--checkpoint");
    if (o->samples && o->n) return fd_app_usage_error("--n: the samples file has its samples");
    return 0;
}

/* The run's configuration stored in `text` (NULL: --config or the defaults), with the --set
 * overrides. */
static int resolve_config(fd_config *cfg, const char *text, const char *origin, const options *o)
{
    fd_config_defaults(cfg);
    if (text && fd_config_load_string(cfg, text, origin) != 0) return -1;
    if (!text && o->config && fd_config_load(cfg, o->config) != 0) return -1;
    for (int i = 0; i < o->n_sets; i++)
        if (fd_config_set(cfg, o->sets[i], "--set") != 0) return -1;
    return fd_config_validate(cfg);
}

/* What is evaluated: a model to draw from, or the samples of a file. */
typedef struct {
    fd_model *model;
    int personal; /* the checkpoint's clients keep their own parts (udec, ulatdec, local) */
    fd_diffusion diff;
    fd_train_state state;
    fd_sample_file file;
    char sampler[96];
} source;

static void open_checkpoint(source *src, fd_config *cfg, const options *o)
{
    fd_model_config mc;
    if (fd_checkpoint_read_config(o->checkpoint, cfg, &mc) != 0) fd_die_on_error();
    char *text = fd_config_to_string(cfg);
    if (resolve_config(cfg, text, o->checkpoint, o) != 0) fd_die_on_error();
    free(text);
    src->model = fd_model_create(&mc);
    fd_model_ema_enable(src->model);
    if (fd_checkpoint_read(o->checkpoint, src->model, &src->state) != 0) fd_die_on_error();
    src->personal = fd_checkpoint_has_client_parts(o->checkpoint);
    fd_diffusion_init(&src->diff, fd_setup_schedule_kind(cfg), cfg->diffusion.steps);
}

static void open_samples(source *src, fd_config *cfg, const options *o)
{
    if (fd_samples_read(o->samples, &src->file) != 0) fd_die_on_error();
    if (resolve_config(cfg, src->file.config, o->samples, o) != 0) fd_die_on_error();
    src->state.round = src->state.step = -1;
    snprintf(src->sampler, sizeof src->sampler, "%s", src->file.sampler ? src->file.sampler : "");
}

/* The baselines as a samples file: training images (per client, each client's first
 * eval.client_samples, tagged with its id; else n drawn at random) with their labels, or n
 * uniform noise images per set. */
static void open_baseline(source *src, fd_config *cfg, const options *o)
{
    if (resolve_config(cfg, NULL, NULL, o) != 0) fd_die_on_error();
    src->state.round = src->state.step = -1;
    snprintf(src->sampler, sizeof src->sampler, "%s",
             o->real ? "training images" : "uniform noise");
    fd_dataset ds;
    uint8_t *images;
    if (fd_app_load_split(cfg, FD_SPLIT_TRAIN, &ds, &images) != 0) fd_die_on_error();
    const size_t size = fd_dataset_sample_size(&ds);
    const int n_all = o->n > 0 ? (int)o->n : cfg->eval.samples;
    uint32_t *pick = fd_malloc(sizeof(uint32_t) * ds.count);
    int *client = fd_malloc(sizeof(int) * ds.count), n = 0;
    if (o->per_client) {
        fd_partition part;
        fd_partition_config pc = fd_setup_partition_config(cfg);
        if (fd_partition_build(&part, &pc, ds.labels, ds.count, ds.n_classes) != 0)
            fd_die_on_error();
        for (int k = 0; k < part.n_clients; k++)
            for (size_t j = part.train_offset[k];
                 j < part.train_offset[k + 1] &&
                 j - part.train_offset[k] < (size_t)cfg->eval.client_samples;
                 j++) {
                pick[n] = part.train_index[j];
                client[n++] = k;
            }
        fd_partition_free(&part);
    } else {
        fd_rng s = fd_rng_stream(cfg->eval.seed, FD_RNG_EVAL, 0, 2, 0);
        for (size_t i = 0; i < ds.count; i++) pick[i] = (uint32_t)i;
        for (n = 0; n < n_all && (size_t)n < ds.count; n++) { /* partial Fisher-Yates */
            const size_t j =
                (size_t)n + fd_rng_below(&s, (uint64_t)n, (uint32_t)(ds.count - (size_t)n));
            const uint32_t t = pick[n];
            pick[n] = pick[j];
            pick[j] = t;
            client[n] = -1;
        }
    }
    fd_sample_file *f = &src->file;
    f->n = n;
    f->ndim = 4;
    f->dims[0] = n, f->dims[1] = ds.height, f->dims[2] = ds.width, f->dims[3] = ds.channels;
    f->data = fd_malloc(sizeof(float) * size * (size_t)(n > 0 ? n : 1));
    f->labels = o->real ? fd_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1)) : NULL;
    f->clients = o->per_client ? client : NULL;
    fd_rng noise = fd_rng_stream(cfg->eval.seed, FD_RNG_EVAL, 0, 3, 0);
    for (int i = 0; i < n; i++) {
        float *x = f->data + (size_t)i * size;
        if (o->real) {
            const uint8_t *img = images + (size_t)pick[i] * size;
            for (size_t j = 0; j < size; j++) x[j] = (float)img[j] * (2.0f / 255.0f) - 1.0f;
            f->labels[i] = ds.labels[pick[i]];
        } else {
            fd_rng_fill_uniform(&noise, (uint64_t)i * size, size, x);
            for (size_t j = 0; j < size; j++) x[j] = 2.0f * x[j] - 1.0f;
        }
    }
    if (!o->per_client) free(client);
    free(pick);
    free(images);
    fd_dataset_close(&ds);
}

/* Samples and classifier must agree on the image shape. */
static void check_shape(const fd_classifier *c, int size, int channels, const char *origin)
{
    const fd_classifier_config *cc = fd_classifier_config_of(c);
    if (size != cc->image_size || channels != cc->channels) {
        fd_set_error("%s: samples are %dx%dx%d, the classifier takes %dx%dx%d", origin, size, size,
                     channels, cc->image_size, cc->image_size, cc->channels);
        fd_die_on_error();
    }
}

/* Scores that say "not evaluated". */
static void no_scores(fd_eval_scores *s, size_t n_gen, size_t n_ref, int n_classes)
{
    memset(s, 0, sizeof *s);
    s->fid_cls = s->kid_cls_mean = s->kid_cls_std = s->label_tv = s->cond_acc = NAN;
    s->n_gen = n_gen;
    s->n_ref = n_ref;
    s->n_classes = n_classes;
    for (int k = 0; k < n_classes; k++) s->class_fid[k] = NAN;
}

/* The samples of the file whose client is `client` (all of them for -1), embedded. */
static void embed_file_samples(fd_feature_set *gen, fd_classifier *c, const fd_sample_file *f,
                               int client)
{
    const size_t size = (size_t)f->dims[1] * (size_t)f->dims[2] * (size_t)f->dims[3];
    size_t n = 0;
    for (int i = 0; i < f->n; i++) n += client < 0 || f->clients[i] == client;
    float *x = fd_malloc(sizeof(float) * size * (n > 0 ? n : 1));
    int *labels = fd_malloc(sizeof(int) * (n > 0 ? n : 1));
    size_t j = 0;
    for (int i = 0; i < f->n; i++)
        if (client < 0 || f->clients[i] == client) {
            memcpy(x + j * size, f->data + (size_t)i * size, sizeof(float) * size);
            labels[j++] = f->labels ? f->labels[i] : -1;
        }
    fd_feature_set_from_floats(gen, c, x, f->labels ? labels : NULL, n);
    free(x);
    free(labels);
}

/* fd_eval_model with the model's moving average. */
static int evaluate_model(fd_eval_scores *s, source *src, fd_classifier *c,
                          const fd_feature_set *ref, const double *target, int client,
                          const fd_eval_config *ec)
{
    fd_model_swap_ema(src->model);
    const int rc = fd_eval_model(s, src->model, &src->diff, c, ref, target, client, ec);
    fd_model_swap_ema(src->model);
    return rc;
}

/* Per-client scores: each client's samples against its held-out part of the partition (for a
 * checkpoint whose clients keep parts, with the client's own parts). */
static void evaluate_clients(fd_eval_report *r, fd_eval_scores *scores, source *src,
                             fd_classifier *c, const fd_config *cfg)
{
    fd_dataset ds;
    fd_dataset_spec spec = fd_setup_dataset_spec(cfg);
    if (fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN) != 0) fd_die_on_error();
    fd_partition part;
    fd_partition_config pc = fd_setup_partition_config(cfg);
    if (fd_partition_build(&part, &pc, ds.labels, ds.count, ds.n_classes) != 0) fd_die_on_error();
    int *ids = fd_malloc(sizeof(int) * (size_t)part.n_clients);
    for (int k = 0; k < part.n_clients; k++) ids[k] = k;
    fd_client_data cd;
    if (fd_client_data_load(&cd, &ds, &part, ids, part.n_clients) != 0) fd_die_on_error();
    fd_eval_config ec = fd_setup_eval_config(cfg, cfg->eval.client_samples);
    int *unseen = fd_malloc(sizeof(int) * (size_t)part.n_clients);
    const double t0 = fd_now();
    for (int k = 0; k < part.n_clients; k++) {
        const fd_client_slice *sl = &cd.clients[k];
        unseen[k] = fd_partition_is_unseen(&part, k);
        fd_feature_set ref;
        fd_feature_set_from_bytes(&ref, c, fd_client_image(&cd, sl->first + sl->n_train),
                                  cd.labels + sl->first + sl->n_train, sl->n_test);
        double target[FD_EVAL_MAX_CLASSES];
        for (int j = 0; j < part.n_classes; j++)
            target[j] = (double)part.train_hist[(size_t)k * (size_t)part.n_classes + (size_t)j] /
                        (double)(sl->n_train > 0 ? sl->n_train : 1);
        const int table = src->model ? fd_model_n_clients(src->model) : 0;
        size_t n_gen = (size_t)ec.n;
        int rc = 0;
        if (table > 0 && k >= table) {
            fd_set_error("the model has %d client embeddings", table);
            rc = -1;
        } else if (src->model) {
            if (src->personal) rc = fd_checkpoint_read_client_parts(r->source, k, true, src->model);
            if (rc == 0) rc = evaluate_model(&scores[k], src, c, &ref, target, k, &ec);
        } else {
            fd_feature_set gen;
            embed_file_samples(&gen, c, &src->file, k);
            n_gen = gen.n;
            rc = fd_eval_compare(&scores[k], &gen, &ref, target, &ec.metric);
            fd_feature_set_free(&gen);
        }
        if (rc != 0) {
            no_scores(&scores[k], n_gen, ref.n, part.n_classes);
            fd_warn("client %d not scored: %s", k, fd_last_error());
        }
        fd_feature_set_free(&ref);
        if (src->model)
            fprintf(stderr, "client %d/%d scored (%.1f s)\n", k + 1, part.n_clients, fd_now() - t0);
    }
    r->n_clients = part.n_clients;
    r->clients = ids;
    r->unseen = unseen;
    r->per_client = scores;
    fd_client_data_free(&cd);
    fd_partition_free(&part);
    fd_dataset_close(&ds);
}

static void print_report(const fd_eval_report *r, const fd_config *cfg)
{
    printf("feddiff eval: %s\n", r->source);
    if (r->round >= 0) printf("  round %ld, step %ld\n", r->round, r->step);
    if (r->sampler[0]) printf("  samples: %s\n", r->sampler);
    printf("  classifier %s: %s, test accuracy %.2f%%, %ld active features\n", r->classifier,
           r->classifier_info->dataset, 100.0 * r->classifier_info->test_accuracy,
           r->classifier_info->active_features);
    printf("  KID over %d subsets of min(%d, n_gen, n_ref); fid_cls and kid_cls are in the "
           "classifier's feature space, not Inception's\n\n",
           cfg->eval.kid_subsets, cfg->eval.kid_subset_size);
    if (r->all) {
        fd_app_print_scores_header(stdout, "set");
        fd_app_print_scores_row(stdout, "test split", r->all);
        printf("\nper class (samples of class k against the test images of class k)\n");
        fd_app_print_class_scores(stdout, r->all);
    }
    if (r->n_clients > 0) {
        printf("%sper client (the client's samples against its held-out data; label_tv against "
               "its training label histogram)\n",
               r->all ? "\n" : "");
        fd_app_print_scores_header(stdout, "client");
        for (int k = 0; k < r->n_clients; k++) {
            char label[32];
            snprintf(label, sizeof label, "%d%s", r->clients[k], r->unseen[k] ? " (unseen)" : "");
            fd_app_print_scores_row(stdout, label, &r->per_client[k]);
        }
    }
}

int fd_cmd_eval(int argc, char **argv)
{
    options o;
    int prc = parse_options(argc, argv, &o);
    if (prc != 0) return prc == 1 ? 0 : prc;
    /* One process evaluates. */
    if (!fd_app_is_root()) return 0;

    fd_config cfg;
    source src;
    memset(&src, 0, sizeof src);
    if (o.checkpoint)
        open_checkpoint(&src, &cfg, &o);
    else if (o.samples)
        open_samples(&src, &cfg, &o);
    else
        open_baseline(&src, &cfg, &o);
    fd_threads_set(cfg.run.threads);
    fd_threads_check_binding();
    const char *classifier_path = o.classifier ? o.classifier : cfg.eval.classifier;
    if (!classifier_path[0])
        return fd_app_usage_error("no classifier: give --classifier FILE or eval.classifier "
                                  "(make one with feddiff evaluator)");
    fd_classifier_info info;
    fd_classifier *c = fd_app_load_classifier(classifier_path, &cfg, &info);
    if (!c) fd_die_on_error();

    fd_eval_config ec = fd_setup_eval_config(&cfg, o.n > 0 ? (int)o.n : cfg.eval.samples);
    if (src.model) {
        const fd_model_config *mc = &src.model->cfg;
        if (mc->kind != FD_MODEL_UNET) {
            fd_set_error("%s: the model generates vectors, the classifier takes images",
                         o.checkpoint);
            fd_die_on_error();
        }
        check_shape(c, mc->unet.image_size, mc->unet.in_channels, o.checkpoint);
        if (o.sampler)
            ec.sampler.kind = strcmp(o.sampler, "ddim") ? FD_SAMPLER_ANCESTRAL : FD_SAMPLER_DDIM;
        if (o.steps) ec.sampler.steps = (int)o.steps;
        snprintf(src.sampler, sizeof src.sampler, "drawn with the EMA weights, %s, %d steps",
                 ec.sampler.kind == FD_SAMPLER_DDIM ? "ddim" : "ancestral", ec.sampler.steps);
        if (fd_model_n_clients(src.model) > 0 || src.personal) o.per_client = 1;
    } else {
        if (src.file.ndim != 4) {
            fd_set_error("%s: the samples are vectors, the classifier takes images", o.samples);
            fd_die_on_error();
        }
        check_shape(c, src.file.dims[1], src.file.dims[3], o.samples);
        if (o.per_client && !src.file.clients) {
            fd_set_error("%s: --clients, but the samples carry no client ids", o.samples);
            fd_die_on_error();
        }
        if (src.file.clients) o.per_client = 1;
    }

    fd_eval_report r = {.classifier = classifier_path,
                        .classifier_info = &info,
                        .source = o.checkpoint ? o.checkpoint
                                  : o.samples  ? o.samples
                                               : src.sampler,
                        .sampler = src.sampler,
                        .round = src.state.round,
                        .step = src.state.step};
    fd_eval_scores all;
    /* A model with client embeddings or clients' own parts draws only for a client. */
    const int global = !(src.model && (fd_model_n_clients(src.model) > 0 || src.personal));
    if (global) {
        fd_feature_set ref;
        if (fd_app_embed_test_split(&ref, c, &cfg) != 0) fd_die_on_error();
        const double t0 = fd_now();
        int rc;
        if (src.model) {
            fprintf(stderr, "drawing %d samples (%s)...\n", ec.n, src.sampler);
            rc = evaluate_model(&all, &src, c, &ref, NULL, -1, &ec);
            fprintf(stderr, "drawn and scored in %.1f s\n", fd_now() - t0);
        } else {
            fd_feature_set gen;
            embed_file_samples(&gen, c, &src.file, -1);
            rc = fd_eval_compare(&all, &gen, &ref, NULL, &ec.metric);
            fd_feature_set_free(&gen);
        }
        if (rc != 0) fd_die_on_error();
        fd_feature_set_free(&ref);
        r.all = &all;
    }
    fd_eval_scores *per_client = NULL;
    if (o.per_client) {
        per_client = fd_calloc((size_t)cfg.fed.clients, sizeof *per_client);
        evaluate_clients(&r, per_client, &src, c, &cfg);
    }
    print_report(&r, &cfg);

    char default_out[4200];
    if (!o.out && !o.checkpoint && !o.samples) {
        if (fd_mkdirs(cfg.out.dir) != 0) fd_die_on_error();
        snprintf(default_out, sizeof default_out, "%s/eval-%s.h5", cfg.out.dir,
                 o.real ? "real" : "noise");
        o.out = default_out;
    } else if (!o.out) {
        snprintf(default_out, sizeof default_out, "%s", r.source);
        size_t len = strlen(default_out);
        if (len > 3 && !strcmp(default_out + len - 3, ".h5")) default_out[len - 3] = '\0';
        strncat(default_out, "-eval.h5", sizeof default_out - strlen(default_out) - 1);
        o.out = default_out;
    }
    if (fd_eval_results_write(o.out, &r, &cfg) != 0) fd_die_on_error();
    printf("\nwrote %s\n", o.out);

    free(per_client);
    free((void *)r.clients);
    free((void *)r.unseen);
    fd_classifier_free(c);
    if (src.model) {
        fd_model_free(src.model);
        fd_diffusion_free(&src.diff);
    }
    fd_sample_file_free(&src.file);
    return 0;
}
