#include "eval_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "run_setup.h"

int fd_app_load_split(const fd_config *cfg, enum fd_split split, fd_dataset *ds, uint8_t **images)
{
    fd_dataset_spec spec = fd_setup_dataset_spec(cfg);
    if (fd_dataset_open(ds, &spec, split) != 0) return -1;
    if (!fd_dataset_is_image(ds)) {
        fd_set_error("data.name = %s: the evaluation classifier takes images", cfg->data.name);
        fd_dataset_close(ds);
        return -1;
    }
    uint32_t *all = fd_malloc(sizeof(uint32_t) * ds->count);
    for (size_t i = 0; i < ds->count; i++) all[i] = (uint32_t)i;
    *images = fd_malloc(ds->count * fd_dataset_sample_size(ds));
    int rc = fd_dataset_read_images(ds, all, ds->count, *images);
    free(all);
    if (rc != 0) {
        free(*images);
        *images = NULL;
        fd_dataset_close(ds);
    }
    return rc;
}

fd_classifier *fd_app_load_classifier(const char *path, const fd_config *cfg,
                                      fd_classifier_info *info)
{
    fd_classifier *c = fd_classifier_load(path, info);
    if (c && strcmp(info->dataset, cfg->data.name) != 0) {
        fd_set_error("%s: the classifier was trained on %s, the data are %s (make one with "
                     "feddiff evaluator --set data.name=%s)",
                     path, info->dataset, cfg->data.name, cfg->data.name);
        fd_classifier_free(c);
        return NULL;
    }
    return c;
}

int fd_app_embed_test_split(fd_feature_set *ref, fd_classifier *c, const fd_config *cfg)
{
    fd_dataset ds;
    uint8_t *images;
    if (fd_app_load_split(cfg, FD_SPLIT_TEST, &ds, &images) != 0) return -1;
    const fd_classifier_config *cc = fd_classifier_config_of(c);
    int rc = 0;
    if (ds.height != cc->image_size || ds.width != cc->image_size || ds.channels != cc->channels) {
        fd_set_error("%s: images are %dx%dx%d, the classifier takes %dx%dx%d", cfg->data.name,
                     ds.height, ds.width, ds.channels, cc->image_size, cc->image_size,
                     cc->channels);
        rc = -1;
    } else {
        fd_feature_set_from_bytes(ref, c, images, ds.labels, ds.count);
    }
    free(images);
    fd_dataset_close(&ds);
    return rc;
}

void fd_app_print_scores_header(FILE *out, const char *first_column)
{
    fprintf(out, "%-14s %7s %7s %10s %10s %10s %9s %9s\n", first_column, "n_gen", "n_ref",
            "fid_cls", "kid_cls", "kid_std", "label_tv", "cond_acc");
}

void fd_app_print_scores_row(FILE *out, const char *label, const fd_eval_scores *s)
{
    char cond[16] = "-";
    if (!isnan(s->cond_acc)) snprintf(cond, sizeof cond, "%.4f", s->cond_acc);
    fprintf(out, "%-14s %7zu %7zu %10.4f %10.5f %10.5f %9.4f %9s\n", label, s->n_gen, s->n_ref,
            s->fid_cls, s->kid_cls_mean, s->kid_cls_std, s->label_tv, cond);
}

void fd_app_print_class_scores(FILE *out, const fd_eval_scores *s)
{
    fprintf(out, "%-14s %7s %7s %10s\n", "class", "n_gen", "n_ref", "fid_cls");
    for (int k = 0; k < s->n_classes; k++) {
        char label[16], fid[32] = "-";
        snprintf(label, sizeof label, "%d", k);
        if (!isnan(s->class_fid[k])) snprintf(fid, sizeof fid, "%.4f", s->class_fid[k]);
        fprintf(out, "%-14s %7zu %7zu %10s\n", label, s->class_n_gen[k], s->class_n_ref[k], fid);
    }
}
