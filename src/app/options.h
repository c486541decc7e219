/* Command-line handling shared by the subcommands. */
#ifndef FEDDIFF_APP_OPTIONS_H
#define FEDDIFF_APP_OPTIONS_H

#include <stdbool.h>

#include "feddiff/config.h"

/* Consume "--config FILE" and "--set section.key=value" (repeatable, applied in order after
 * the file) from argv, building cfg from the defaults; other arguments are left in
 * argv[0..*argc) in order. Returns 0, or -1 with a one-line fd_last_error(). */
int fd_app_parse_config(int *argc, char **argv, fd_config *cfg);

/* The value of option `name` at argv[*i] ("--name VALUE" or "--name=VALUE"), advancing *i
 * past it; NULL if argv[*i] is not that option. Exits with a usage error if the value is
 * missing. */
const char *fd_app_option(int argc, char **argv, int *i, const char *name);
/* Parse an integer option value or exit with an error naming the option. */
long fd_app_parse_long(const char *value, const char *option, long min, long max);

/* Print "feddiff: error: <message>" on rank 0 only and return the exit code for bad usage. */
int fd_app_usage_error(const char *fmt, ...);

bool fd_app_is_root(void);

#endif
