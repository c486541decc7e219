#include "run_setup.h"

#include <math.h>
#include <string.h>

#include "feddiff/error.h"

enum fd_schedule_kind fd_setup_schedule_kind(const fd_config *cfg)
{
    return strcmp(cfg->diffusion.schedule, "cosine") ? FD_SCHEDULE_LINEAR : FD_SCHEDULE_COSINE;
}

fd_sampler_config fd_setup_sampler(const fd_config *cfg)
{
    fd_sampler_config s = {
        .kind = strcmp(cfg->diffusion.sampler, "ddim") ? FD_SAMPLER_ANCESTRAL : FD_SAMPLER_DDIM,
        .steps = cfg->diffusion.sample_steps,
        .t_start = cfg->diffusion.steps - 1,
        .t_end = 0,
        .clip = 1,
    };
    return s;
}

fd_dataset_spec fd_setup_dataset_spec(const fd_config *cfg)
{
    fd_dataset_spec spec;
    fd_dataset_spec_defaults(&spec);
    spec.name = cfg->data.name;
    spec.dir = cfg->data.dir;
    spec.seed = cfg->run.seed;
    spec.train_size = (size_t)cfg->data.train_size;
    spec.test_size = (size_t)cfg->data.test_size;
    return spec;
}

fd_partition_config fd_setup_partition_config(const fd_config *cfg)
{
    fd_partition_config pc;
    fd_partition_config_defaults(&pc);
    int method = fd_partition_method_from_name(cfg->partition.method);
    FD_ASSERT(method >= 0); /* the config table admits only known names */
    pc.method = (enum fd_partition_method)method;
    pc.n_clients = cfg->fed.clients;
    pc.unseen_clients = cfg->partition.unseen_clients;
    pc.alpha = cfg->partition.alpha;
    pc.classes_per_client = cfg->partition.classes_per_client;
    pc.test_fraction = cfg->partition.test_fraction;
    pc.min_samples = (size_t)cfg->partition.min_samples;
    pc.seed = cfg->run.seed;
    return pc;
}

fd_model_config fd_setup_model_config(const fd_config *cfg, const fd_dataset *ds, int n_clients)
{
    fd_model_config mc;
    memset(&mc, 0, sizeof mc);
    const int n_classes = cfg->model.classes ? ds->n_classes : 0;
    if (fd_dataset_is_image(ds)) {
        FD_ASSERT(ds->height == ds->width); /* the UNet takes square images */
        mc.kind = FD_MODEL_UNET;
        mc.unet = fd_unet_default_config();
        mc.unet.in_channels = ds->channels;
        mc.unet.image_size = ds->height;
        mc.unet.width = cfg->model.width;
        mc.unet.n_levels = cfg->model.n_mults;
        memcpy(mc.unet.mults, cfg->model.mults, sizeof(int) * (size_t)cfg->model.n_mults);
        mc.unet.res_blocks = cfg->model.res_blocks;
        mc.unet.groups = cfg->model.groups;
        mc.unet.attention_levels = 0;
        for (int l = 0; l < mc.unet.n_levels; l++)
            for (int a = 0; a < cfg->model.n_attention; a++)
                if (cfg->model.attention[a] == ds->height >> l) mc.unet.attention_levels |= 1u << l;
        mc.unet.n_classes = n_classes;
        mc.unet.n_clients = n_clients;
    } else {
        mc.kind = FD_MODEL_MLP;
        mc.mlp = fd_mlp_default_config(ds->dim);
        mc.mlp.hidden = cfg->model.hidden;
        mc.mlp.layers = cfg->model.layers;
        mc.mlp.n_classes = n_classes;
        mc.mlp.n_clients = n_clients;
    }
    const char *err = fd_model_config_error(&mc);
    if (err) {
        fd_set_error("%s", err);
        fd_die_on_error();
    }
    return mc;
}

fd_model *fd_setup_model(const fd_config *cfg, const fd_dataset *ds, int n_clients)
{
    fd_model_config mc = fd_setup_model_config(cfg, ds, n_clients);
    fd_model *m = fd_model_create(&mc);
    fd_model_init(m, cfg->run.seed);
    fd_model_ema_enable(m);
    return m;
}

fd_local_config fd_setup_local_config(const fd_config *cfg, long total_steps)
{
    fd_local_config lc;
    memset(&lc, 0, sizeof lc);
    lc.batch = cfg->train.batch;
    lc.steps = cfg->train.local_steps;
    lc.adamw = fd_adamw_defaults();
    lc.adamw.lr = (float)cfg->train.lr;
    lc.adamw.weight_decay = (float)cfg->train.weight_decay;
    lc.grad_clip = cfg->train.grad_clip;
    lc.ema_decay = cfg->train.ema_decay;
    lc.warmup_steps = (long)llround(cfg->train.warmup * (double)total_steps);
    lc.train_parts = FD_PARTS_BACKBONE;
    lc.ema_parts = FD_PARTS_BACKBONE;
    lc.use_labels = cfg->model.classes;
    lc.client_id = -1;
    lc.t_lo = 0;
    lc.t_hi = cfg->diffusion.steps - 1;
    lc.seed = cfg->run.seed;
    return lc;
}

fd_fed_settings fd_setup_fed_settings(const fd_config *cfg, int n_clients)
{
    fd_fed_settings set;
    memset(&set, 0, sizeof set);
    const int method = fd_fed_method_from_name(cfg->fed.method);
    const int server = fd_server_kind_from_name(cfg->fed.server_opt);
    FD_ASSERT(method >= 0 && method != FD_FED_CENTRAL && server >= 0); /* the key table admits these */
    set.method = (enum fd_fed_method)method;
    set.n_clients = n_clients;
    set.clients_per_round = cfg->fed.clients_per_round;
    set.rounds = cfg->fed.rounds;
    set.local_epochs = cfg->train.local_epochs;
    set.keep_optimizer = cfg->fed.keep_optimizer;
    set.server = (enum fd_server_kind)server;
    set.server_lr = cfg->fed.server_lr;
    set.warmup = cfg->train.warmup;
    set.local = fd_setup_local_config(cfg, 0);
    return set;
}

fd_classifier_config fd_setup_classifier_config(const fd_config *cfg, const fd_dataset *ds)
{
    FD_ASSERT(ds->height == ds->width); /* every image dataset has square images */
    fd_classifier_config cc = fd_classifier_default_config(ds->height, ds->channels, ds->n_classes);
    cc.conv1 = cfg->classifier.conv1;
    cc.conv2 = cfg->classifier.conv2;
    cc.features = cfg->classifier.features;
    return cc;
}

fd_classifier_train_config fd_setup_classifier_train_config(const fd_config *cfg)
{
    fd_classifier_train_config tc = {.epochs = cfg->classifier.epochs,
                                     .batch = cfg->classifier.batch,
                                     .lr = (float)cfg->classifier.lr,
                                     .weight_decay = (float)cfg->classifier.weight_decay,
                                     .seed = cfg->run.seed};
    return tc;
}

fd_eval_config fd_setup_eval_config(const fd_config *cfg, int n)
{
    fd_eval_config ec;
    memset(&ec, 0, sizeof ec);
    ec.n = n;
    ec.batch = cfg->train.batch > 64 ? cfg->train.batch : 64;
    ec.sampler = fd_setup_sampler(cfg);
    if (cfg->eval.sample_steps > 0) ec.sampler.steps = cfg->eval.sample_steps;
    ec.seed = cfg->eval.seed;
    ec.metric.kid_subsets = cfg->eval.kid_subsets;
    ec.metric.kid_subset_size = (size_t)cfg->eval.kid_subset_size;
    ec.metric.seed = cfg->eval.seed;
    return ec;
}
