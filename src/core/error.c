#include "feddiff/error.h"

#include <errno.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FD_ERROR_MAX = 1024 };
static _Thread_local char last_error[FD_ERROR_MAX];

/* -1 when MPI is not running (before MPI_Init or after MPI_Finalize). */
static int current_rank(void)
{
    int initialized = 0, finalized = 0, rank = -1;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

_Noreturn static void stop(void)
{
    fflush(stdout);
    fflush(stderr);
    if (current_rank() >= 0) {
        /* Alone, finish MPI quietly so the error stays one line; with peers, MPI_Abort is the
         * only way to stop ranks that may be waiting in a collective. */
        int size = 0;
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
        MPI_Finalize();
    }
    exit(1);
}

static void print_line(const char *kind, const char *file, int line, const char *fmt,
                       va_list ap)
{
    char msg[FD_ERROR_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    int rank = current_rank();
    char where[256] = "";
    if (file && rank >= 0)
        snprintf(where, sizeof where, " [rank %d, %s:%d]", rank, file, line);
    else if (file)
        snprintf(where, sizeof where, " [%s:%d]", file, line);
    else if (rank > 0)
        snprintf(where, sizeof where, " [rank %d]", rank);
    fflush(stdout);
    fprintf(stderr, "feddiff: %s: %s%s\n", kind, msg, where);
    fflush(stderr);
}

void fd_fatal_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_line("error", file, line, fmt, ap);
    va_end(ap);
    stop();
}

static void fatal_fmt(const char *file, int line, const char *fmt, ...) FD_PRINTF(3, 4);
static void fatal_fmt(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_line("error", file, line, fmt, ap);
    va_end(ap);
}

void fd_fatal_mpi_at(const char *file, int line, const char *call, int code)
{
    char text[MPI_MAX_ERROR_STRING] = "unknown MPI error";
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) text[0] = '\0';
    fatal_fmt(file, line, "MPI call failed: %s: %s", call, text);
    stop();
}

void fd_fatal_h5_at(const char *file, int line, const char *call)
{
    fatal_fmt(file, line, "HDF5 call failed: %s", call);
    stop();
}

void *fd_malloc_at(size_t bytes, const char *file, int line)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0)
        fd_fatal_at(file, line, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *fd_calloc_at(size_t count, size_t size, const char *file, int line)
{
    if (size && count > (size_t)-1 / size)
        fd_fatal_at(file, line, "allocation size overflow (%zu x %zu bytes)", count, size);
    void *p = fd_malloc_at(count * size, file, line);
    memset(p, 0, count * size);
    return p;
}

void *fd_realloc_at(void *ptr, size_t bytes, const char *file, int line)
{
    void *p = realloc(ptr, bytes ? bytes : 1);
    if (!p) fd_fatal_at(file, line, "out of memory reallocating to %zu bytes", bytes);
    return p;
}

char *fd_strdup_at(const char *s, const char *file, int line)
{
    size_t n = strlen(s) + 1;
    char *p = fd_malloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}

void fd_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

const char *fd_last_error(void) { return last_error[0] ? last_error : "unknown error"; }

void fd_clear_error(void) { last_error[0] = '\0'; }

const char *fd_write_failure_reason(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EROFS:
    case EFBIG:
        return strerror(err);
    default:
        return "disk full or I/O error?";
    }
}

void fd_die_on_error(void)
{
    fatal_fmt(NULL, 0, "%s", fd_last_error());
    stop();
}

void fd_die_on_shared_error(MPI_Comm comm)
{
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) fatal_fmt(NULL, 0, "%s", fd_last_error());
    MPI_Barrier(comm); /* the line is out before any rank's abort can cut it off */
    stop();
}

void fd_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_line("warning", NULL, 0, fmt, ap);
    va_end(ap);
}
