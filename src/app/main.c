/* feddiff: federated training of diffusion models. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "feddiff/blas.h"
#include "feddiff/error.h"
#include "feddiff/threads.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"train", fd_cmd_train, "train a model: feddiff train --config FILE [--set section.key=value]..."},
    {"partition", fd_cmd_partition,
     "print and save the federated split of a config: feddiff partition --config FILE"},
    {"sample", fd_cmd_sample, "draw samples from a checkpoint: feddiff sample --checkpoint FILE"},
    {"info", fd_cmd_info, "summarise feddiff HDF5 files: feddiff info FILE..."},
    {"evaluator", fd_cmd_evaluator,
     "train the evaluation classifier of a dataset: feddiff evaluator --config FILE"},
    {"eval", fd_cmd_eval,
     "fid_cls, kid_cls and label fidelity of a checkpoint or samples: feddiff eval --checkpoint FILE"},
    {"config", fd_cmd_config, "print the resolved configuration (--doc: every key documented)"},
    {"bench", fd_cmd_bench, "run a benchmark ('feddiff bench --help')"},
    {"version", fd_cmd_version, "print versions of feddiff, MPI, HDF5, BLIS and the threads"},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *out)
{
    fprintf(out, "usage: feddiff <command> [options]\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    /* Before any thread exists: BLIS reads its kernel choice from the environment. */
    fd_blas_init();

    int provided = 0;
    FD_CHECK_MPI(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided));
    if (provided < MPI_THREAD_FUNNELED)
        FD_FATAL("the MPI library does not support MPI_THREAD_FUNNELED (provides level %d)",
                 provided);

    int rc = 2;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        rc = argc < 2 ? 2 : 0;
    } else {
        const command *cmd = NULL;
        for (int i = 0; i < N_COMMANDS; i++)
            if (!strcmp(argv[1], commands[i].name)) cmd = &commands[i];
        if (cmd) {
            rc = cmd->run(argc - 2, argv + 2);
        } else {
            fprintf(stderr, "feddiff: error: unknown command '%s'\n", argv[1]);
            usage(stderr);
        }
    }
    FD_CHECK_MPI(MPI_Finalize());
    return rc;
}
