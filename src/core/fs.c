#include "feddiff/fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "feddiff/error.h"

static int make_one(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
        fd_set_error("%s: exists and is not a folder", path);
        return -1;
    }
    fd_set_error("%s: cannot create folder: %s", path, strerror(errno));
    return -1;
}

int fd_mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        fd_set_error("%.64s...: path too long", path);
        return -1;
    }
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (make_one(buf) != 0) return -1;
            *p = '/';
        }
    return make_one(buf);
}
