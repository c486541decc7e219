/* feddiff partition: build the federated split a config describes, print its table and write
 * it to HDF5, so that a split can be inspected before a long job. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "feddiff/dataset.h"
#include "feddiff/error.h"
#include "feddiff/fs.h"
#include "feddiff/partition.h"
#include "options.h"
#include "run_setup.h"

static const char usage[] =
    "usage: feddiff partition [--config FILE] [--set section.key=value]... [--out FILE] "
    "[--rows N]\n"
    "  Builds the partition of the config's training split, prints one row per client\n"
    "  (--rows N: only the first and last N/2; 0: all; default 40) and writes it to FILE\n"
    "  (default: <out.dir>/partition.h5).";

int fd_cmd_partition(int argc, char **argv)
{
    fd_config cfg;
    if (fd_app_parse_config(&argc, argv, &cfg) != 0)
        return fd_app_usage_error("%s", fd_last_error());
    const char *out = NULL;
    int rows = 40;
    for (int i = 0; i < argc;) {
        const char *v;
        if ((v = fd_app_option(argc, argv, &i, "--out"))) out = v;
        else if ((v = fd_app_option(argc, argv, &i, "--rows")))
            rows = (int)fd_app_parse_long(v, "--rows", 0, 1000000000);
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            if (fd_app_is_root()) puts(usage);
            return 0;
        } else
            return fd_app_usage_error("unknown option '%s'\n%s", argv[i], usage);
    }
    /* Every rank would build the same partition: one process does the work. */
    if (!fd_app_is_root()) return 0;

    char default_out[4096];
    if (!out) {
        if (fd_mkdirs(cfg.out.dir) != 0) fd_die_on_error();
        snprintf(default_out, sizeof default_out, "%s/partition.h5", cfg.out.dir);
        out = default_out;
    }
    fd_dataset_spec spec = fd_setup_dataset_spec(&cfg);
    fd_dataset ds;
    if (fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN) != 0) fd_die_on_error();
    fd_partition_config pc = fd_setup_partition_config(&cfg);
    fd_partition part;
    if (fd_partition_build(&part, &pc, ds.labels, ds.count, ds.n_classes) != 0)
        fd_die_on_error();
    fd_partition_print(&part, stdout, cfg.data.name, rows);
    if (fd_partition_save(&part, out, cfg.data.name) != 0) fd_die_on_error();
    printf("wrote %s\n", out);
    fd_partition_free(&part);
    fd_dataset_close(&ds);
    return 0;
}
