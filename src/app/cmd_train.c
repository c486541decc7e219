/* feddiff train: read the config, then run central or federated training (train.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "feddiff/error.h"
#include "feddiff/strategy.h"
#include "options.h"
#include "train.h"

static const char *usage =
    "usage: feddiff train [--config FILE] [--set section.key=value]...\n"
    "                     [--resume latest|FILE | --overwrite]\n"
    "  Trains the model the config describes (keys: docs/config.md): fed.method = central pools\n"
    "  the clients' data into one model; full, udec, ulatdec, usplit and local federate\n"
    "  fed.clients clients over the MPI ranks (mpirun -n R feddiff train ...). Writes run.h5,\n"
    "  checkpoints, samples.h5 and samples.png to out.dir.\n"
    "  --resume latest continues from the newest readable checkpoint in out.dir (or starts\n"
    "  fresh when there is none); --resume FILE from that checkpoint. Without --resume, an\n"
    "  out.dir that holds an earlier run (run.h5, checkpoints) is refused; --overwrite deletes\n"
    "  them and starts afresh. On SIGTERM or SIGUSR1 the run finishes its round, saves a\n"
    "  checkpoint and exits with code 75.";

int fd_cmd_train(int argc, char **argv)
{
    fd_config cfg;
    if (fd_app_parse_config(&argc, argv, &cfg) != 0)
        return fd_app_usage_error("%s", fd_last_error());
    const char *resume = NULL;
    bool overwrite = false;
    for (int i = 0; i < argc;) {
        const char *v;
        if ((v = fd_app_option(argc, argv, &i, "--resume"))) {
            resume = v;
        } else if (!strcmp(argv[i], "--overwrite")) {
            overwrite = true;
            i++;
        } else if (!strcmp(argv[i], "--help")) {
            if (fd_app_is_root()) puts(usage);
            return 0;
        } else {
            return fd_app_usage_error("unknown argument '%s'\n%s", argv[i], usage);
        }
    }
    const int method = fd_fed_method_from_name(cfg.fed.method);
    if (method < 0)
        return fd_app_usage_error("fed.method = %s: not available in this version (central, full, "
                                  "udec, ulatdec, usplit, local)",
                                  cfg.fed.method);
    if (resume && overwrite)
        return fd_app_usage_error("--resume continues the run in out.dir, --overwrite deletes it: "
                                  "give one of them\n%s",
                                  usage);
    if (!resume && fd_train_claim_out_dir(&cfg, overwrite) != 0)
        return fd_app_usage_error("%s", fd_last_error());
    fd_train_catch_signals();
    return method == FD_FED_CENTRAL ? fd_train_central(&cfg, resume)
                                    : fd_train_federated(&cfg, resume);
}
