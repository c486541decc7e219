#include "feddiff/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/metrics.h"

static void feature_set_alloc(fd_feature_set *fs, const fd_classifier *c, size_t n, bool labels)
{
    const fd_classifier_config *cc = fd_classifier_config_of(c);
    fs->n = n;
    fs->dim = cc->features;
    fs->n_classes = cc->n_classes;
    fs->features = fd_malloc(sizeof(float) * (n > 0 ? n : 1) * (size_t)cc->features);
    fs->predicted = fd_malloc(sizeof(int) * (n > 0 ? n : 1));
    fs->labels = labels ? fd_malloc(sizeof(int) * (n > 0 ? n : 1)) : NULL;
}

void fd_feature_set_from_bytes(fd_feature_set *fs, fd_classifier *c, const uint8_t *images,
                               const uint8_t *labels, size_t n)
{
    feature_set_alloc(fs, c, n, labels != NULL);
    fd_classifier_embed_bytes(c, fs->features, fs->predicted, images, n);
    for (size_t i = 0; labels && i < n; i++) fs->labels[i] = labels[i];
}

void fd_feature_set_from_floats(fd_feature_set *fs, fd_classifier *c, const float *x,
                                const int *labels, size_t n)
{
    feature_set_alloc(fs, c, n, labels != NULL);
    fd_classifier_embed(c, fs->features, fs->predicted, x, n);
    if (labels) memcpy(fs->labels, labels, sizeof(int) * n);
}

void fd_feature_set_free(fd_feature_set *fs)
{
    free(fs->features);
    free(fs->labels);
    free(fs->predicted);
    memset(fs, 0, sizeof *fs);
}

/* The histogram of labels [n] (entries outside [0, k) ignored), normalised to sum 1. */
static void label_dist(double *dist, const int *labels, size_t n, int k)
{
    for (int j = 0; j < k; j++) dist[j] = 0.0;
    size_t counted = 0;
    for (size_t i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] < k) dist[labels[i]] += 1.0, counted++;
    for (int j = 0; j < k && counted > 0; j++) dist[j] /= (double)counted;
}

void fd_feature_set_label_dist(const fd_feature_set *fs, double *dist)
{
    label_dist(dist, fs->labels ? fs->labels : fs->predicted, fs->n, fs->n_classes);
}

/* The features of the members of `fs` with group label k, packed. */
static float *class_features(const fd_feature_set *fs, const int *group, int k, size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i < fs->n; i++) n += group[i] == k;
    const size_t d = (size_t)fs->dim;
    float *out = fd_malloc(sizeof(float) * (n > 0 ? n : 1) * d);
    size_t j = 0;
    for (size_t i = 0; i < fs->n; i++)
        if (group[i] == k) memcpy(out + d * j++, fs->features + d * i, sizeof(float) * d);
    *count = n;
    return out;
}

static double fid_of(const float *a, size_t na, const float *b, size_t nb, int dim)
{
    fd_feature_stats sa, sb;
    fd_feature_stats_compute(&sa, a, na, dim);
    fd_feature_stats_compute(&sb, b, nb, dim);
    const double fid = fd_fid(&sa, &sb);
    fd_feature_stats_free(&sa);
    fd_feature_stats_free(&sb);
    return fid;
}

int fd_eval_compare(fd_eval_scores *s, const fd_feature_set *gen, const fd_feature_set *ref,
                    const double *target, const fd_metric_config *mc)
{
    memset(s, 0, sizeof *s);
    if (gen->n < 2 || ref->n < 2) {
        fd_set_error("evaluation needs at least 2 samples and 2 reference images (have %zu and "
                     "%zu)",
                     gen->n, ref->n);
        return -1;
    }
    if (gen->dim != ref->dim || gen->n_classes != ref->n_classes || !ref->labels ||
        ref->n_classes > FD_EVAL_MAX_CLASSES) {
        fd_set_error("evaluation: samples and reference images were not embedded by the same "
                     "classifier, or the reference has no labels");
        return -1;
    }
    const int K = ref->n_classes, d = ref->dim;
    s->n_gen = gen->n;
    s->n_ref = ref->n;
    s->n_classes = K;
    s->fid_cls = fid_of(gen->features, gen->n, ref->features, ref->n, d);
    fd_kid_result kid = fd_kid(gen->features, gen->n, ref->features, ref->n, d, mc->kid_subsets,
                               mc->kid_subset_size, mc->seed);
    s->kid_cls_mean = kid.mean;
    s->kid_cls_std = kid.std;
    s->kid_subsets = kid.subsets;
    s->kid_subset_size = kid.subset_size;

    double want[FD_EVAL_MAX_CLASSES], got[FD_EVAL_MAX_CLASSES];
    if (target)
        memcpy(want, target, sizeof(double) * (size_t)K);
    else if (gen->labels)
        label_dist(want, gen->labels, gen->n, K);
    else
        label_dist(want, ref->labels, ref->n, K);
    label_dist(got, gen->predicted, gen->n, K);
    s->label_tv = fd_tv_distance(want, got, K);

    s->cond_acc = NAN;
    if (gen->labels) {
        size_t right = 0;
        for (size_t i = 0; i < gen->n; i++) right += gen->predicted[i] == gen->labels[i];
        s->cond_acc = (double)right / (double)gen->n;
    }
    const int *group = gen->labels ? gen->labels : gen->predicted;
    for (int k = 0; k < K; k++) {
        float *a = class_features(gen, group, k, &s->class_n_gen[k]);
        float *b = class_features(ref, ref->labels, k, &s->class_n_ref[k]);
        s->class_fid[k] = s->class_n_gen[k] >= 2 && s->class_n_ref[k] >= 2
                              ? fid_of(a, s->class_n_gen[k], b, s->class_n_ref[k], d)
                              : NAN;
        free(a);
        free(b);
    }
    return 0;
}

void fd_eval_allocate_labels(int *labels, int n, const double *p, int k)
{
    FD_ASSERT(k >= 1 && k <= FD_EVAL_MAX_CLASSES);
    int count[FD_EVAL_MAX_CLASSES];
    double rest[FD_EVAL_MAX_CLASSES], total = 0.0;
    for (int j = 0; j < k; j++) total += p[j] > 0.0 ? p[j] : 0.0;
    int assigned = 0;
    for (int j = 0; j < k; j++) {
        const double share = total > 0.0 ? (p[j] > 0.0 ? p[j] : 0.0) / total * n : (double)n / k;
        count[j] = (int)floor(share);
        rest[j] = share - count[j];
        assigned += count[j];
    }
    /* The left-over samples go to the largest remainders (the lower class on ties). */
    for (; assigned < n; assigned++) {
        int best = 0;
        for (int j = 1; j < k; j++)
            if (rest[j] > rest[best]) best = j;
        count[best]++;
        rest[best] = -1.0;
    }
    int i = 0;
    for (int j = 0; j < k; j++)
        for (int c = 0; c < count[j]; c++) labels[i++] = j;
}

void fd_eval_draw(float *x, int *labels, fd_model *m, fd_diffusion *d, const fd_eval_config *cfg,
                  int client, const double *target, int n_classes)
{
    const int n = cfg->n, model_classes = fd_model_n_classes(m);
    const size_t size = m->sample_size;
    int *y = NULL;
    if (model_classes > 0) {
        FD_ASSERT(n_classes == model_classes);
        y = fd_malloc(sizeof(int) * (size_t)n);
        fd_eval_allocate_labels(y, n, target, model_classes);
    }
    int *ids = NULL;
    if (client >= 0 && fd_model_n_clients(m) > 0) {
        FD_ASSERT(client < fd_model_n_clients(m));
        ids = fd_malloc(sizeof(int) * (size_t)n);
        for (int i = 0; i < n; i++) ids[i] = client;
    }
    const uint32_t stream = (uint32_t)(client >= 0 ? client : 0);
    for (int first = 0; first < n; first += cfg->batch) {
        const int B = n - first < cfg->batch ? n - first : cfg->batch;
        float *xb = x + (size_t)first * size;
        fd_diffusion_prior(xb, B, size, cfg->seed, stream, (uint64_t)first);
        fd_diffusion_sample(d, m, &cfg->sampler, xb, y ? y + first : NULL, ids ? ids + first : NULL,
                            B, cfg->seed, stream, (uint64_t)first);
    }
    for (int i = 0; labels && i < n; i++) labels[i] = y ? y[i] : -1;
    free(y);
    free(ids);
}

int fd_eval_model(fd_eval_scores *s, fd_model *m, fd_diffusion *d, fd_classifier *c,
                  const fd_feature_set *ref, const double *target, int client,
                  const fd_eval_config *cfg)
{
    double dist[FD_EVAL_MAX_CLASSES];
    if (!target) {
        fd_feature_set_label_dist(ref, dist);
        target = dist;
    }
    float *x = fd_malloc(sizeof(float) * (size_t)cfg->n * m->sample_size);
    int *labels = fd_malloc(sizeof(int) * (size_t)cfg->n);
    fd_eval_draw(x, labels, m, d, cfg, client, target, ref->n_classes);
    fd_feature_set gen;
    fd_feature_set_from_floats(&gen, c, x, fd_model_n_classes(m) > 0 ? labels : NULL,
                               (size_t)cfg->n);
    const int rc = fd_eval_compare(s, &gen, ref, target, &cfg->metric);
    fd_feature_set_free(&gen);
    free(x);
    free(labels);
    return rc;
}
