#include "run_setup.h"

#include <string.h>

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
