#include "options.h"

#include <errno.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"

bool fd_app_is_root(void)
{
    int rank = 0;
    FD_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    return rank == 0;
}

int fd_app_usage_error(const char *fmt, ...)
{
    if (fd_app_is_root()) {
        va_list ap;
        va_start(ap, fmt);
        fputs("feddiff: error: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    return 2;
}

const char *fd_app_option(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, n) != 0) return NULL;
    if (arg[n] == '=') {
        (*i)++;
        return arg + n + 1;
    }
    if (arg[n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        fd_app_usage_error("option %s needs a value", name);
        MPI_Finalize();
        exit(2);
    }
    *i += 2;
    return argv[*i - 1];
}

long fd_app_parse_long(const char *value, const char *option, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max) {
        fd_app_usage_error("%s: '%s' is not an integer in [%ld, %ld]", option, value, min, max);
        MPI_Finalize();
        exit(2);
    }
    return v;
}

int fd_app_parse_config(int *argc, char **argv, fd_config *cfg)
{
    fd_config_defaults(cfg);
    const char *file = NULL;
    /* The file first, wherever it appears, then the overrides in order. */
    for (int i = 0; i < *argc;) {
        const char *v = fd_app_option(*argc, argv, &i, "--config");
        if (v)
            file = v;
        else
            i++;
    }
    if (file && fd_config_load(cfg, file) != 0) return -1;
    int kept = 0;
    for (int i = 0; i < *argc;) {
        const char *v;
        if ((v = fd_app_option(*argc, argv, &i, "--config"))) continue;
        if ((v = fd_app_option(*argc, argv, &i, "--set"))) {
            if (fd_config_set(cfg, v, "--set") != 0) return -1;
            continue;
        }
        argv[kept++] = argv[i++];
    }
    *argc = kept;
    return fd_config_validate(cfg);
}
