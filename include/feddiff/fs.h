/* File-system helpers. */
#ifndef FEDDIFF_FS_H
#define FEDDIFF_FS_H

/* mkdir -p: create path and its missing parents. 0, or -1 with fd_last_error(). */
int fd_mkdirs(const char *path);

#endif
