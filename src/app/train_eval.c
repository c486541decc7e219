#include "train_eval.h"

#include <stdio.h>
#include <stdlib.h>

#include "eval_common.h"
#include "feddiff/error.h"
#include "feddiff/timer.h"
#include "run_setup.h"

struct fd_train_eval {
    int every;
    fd_classifier *classifier;
    fd_feature_set reference; /* the test split */
    fd_eval_config cfg;
    fd_runfile *log; /* the run file: group /eval */
};

fd_train_eval *fd_train_eval_open(const fd_config *cfg, const fd_model *m, fd_runfile *rf,
                                  long resumed)
{
    if (cfg->eval.every <= 0) return NULL;
    if (fd_model_n_clients(m) > 0) {
        fd_warn("eval.every: the model has client embeddings, which are scored per client; "
                "run feddiff eval on the checkpoints");
        return NULL;
    }
    if (!cfg->eval.classifier[0]) {
        fd_set_error("eval.every = %d needs eval.classifier (a file of feddiff evaluator)",
                     cfg->eval.every);
        fd_die_on_error();
    }
    fd_train_eval *te = fd_calloc(1, sizeof *te);
    te->every = cfg->eval.every;
    fd_classifier_info info;
    te->classifier = fd_app_load_classifier(cfg->eval.classifier, cfg, &info);
    if (!te->classifier || fd_app_embed_test_split(&te->reference, te->classifier, cfg) != 0)
        fd_die_on_error();
    te->cfg = fd_setup_eval_config(cfg, cfg->eval.samples);
    te->log = rf;
    if (fd_eval_log_truncate(rf->path, resumed) != 0) fd_die_on_error();
    printf("evaluating every %d rounds: %d samples against the %zu test images (classifier %s, "
           "test accuracy %.2f%%), to %s\n",
           te->every, te->cfg.n, te->reference.n, cfg->eval.classifier, 100.0 * info.test_accuracy,
           rf->path);
    return te;
}

void fd_train_eval_round(fd_train_eval *te, fd_model *m, fd_diffusion *d, long round, long step)
{
    if (!te || round % te->every != 0) return;
    const double t0 = fd_now();
    fd_eval_scores s;
    fd_model_swap_ema(m);
    const int rc = fd_eval_model(&s, m, d, te->classifier, &te->reference, NULL, -1, &te->cfg);
    fd_model_swap_ema(m);
    if (rc != 0 || fd_eval_log_append(te->log->path, round, step, &s) != 0) fd_die_on_error();
    printf("eval  %4ld  fid_cls %.4f  kid_cls %.5f +- %.5f  label_tv %.4f  cond_acc %.4f  "
           "%.1f s\n",
           round, s.fid_cls, s.kid_cls_mean, s.kid_cls_std, s.label_tv, s.cond_acc, fd_now() - t0);
    fflush(stdout);
}

void fd_train_eval_close(fd_train_eval *te)
{
    if (!te) return;
    fd_classifier_free(te->classifier);
    fd_feature_set_free(&te->reference);
    free(te);
}
