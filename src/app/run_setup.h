/* From the configuration to the objects of the lower layers: the app layer is the only one
 * that reads fd_config; it hands each layer its own plain settings. */
#ifndef FEDDIFF_APP_RUN_SETUP_H
#define FEDDIFF_APP_RUN_SETUP_H

#include "feddiff/config.h"
#include "feddiff/diffusion.h"
#include "feddiff/model.h"

enum fd_schedule_kind fd_setup_schedule_kind(const fd_config *cfg);
fd_sampler_config fd_setup_sampler(const fd_config *cfg);

#endif
