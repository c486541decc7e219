/* feddiff config: print the resolved configuration, or the reference of every key. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "feddiff/error.h"
#include "options.h"

int fd_cmd_config(int argc, char **argv)
{
    fd_config cfg;
    if (fd_app_parse_config(&argc, argv, &cfg) != 0)
        return fd_app_usage_error("%s", fd_last_error());
    if (argc == 1 && !strcmp(argv[0], "--doc")) {
        if (fd_app_is_root()) fd_config_write_doc(stdout);
        return 0;
    }
    if (argc > 0)
        return fd_app_usage_error(
            "usage: feddiff config [--config FILE] [--set section.key=value]... "
            "[--doc]");
    if (fd_app_is_root()) fd_config_write(&cfg, stdout);
    return 0;
}
