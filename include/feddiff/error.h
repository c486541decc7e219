/* Errors, in two kinds.
 *
 * Fatal: an allocation, MPI or HDF5 call failed, or an invariant broke. FD_FATAL and the
 * FD_CHECK_* macros print one line with the rank, source file and line, then call MPI_Abort
 * (or exit when MPI is not running), as SWIFT's error() does.
 *
 * Recoverable: bad input (a file, a config key). The function returns -1 after fd_set_error()
 * recorded a one-line message that names the file or key; the caller decides whether to stop
 * (fd_die_on_error) or to try something else (a fallback checkpoint, say). */
#ifndef FEDDIFF_ERROR_H
#define FEDDIFF_ERROR_H

#include <mpi.h>
#include <stddef.h>

/* Non-finite losses and updates are caught with isfinite/isnan (a client left out of a round, a
 * NaN loss stopped); flags that let the compiler assume finite math remove those checks. */
#if defined(__FAST_MATH__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__)
#error "feddiff needs IEEE floating point: build without fast or finite-only math options"
#endif

#if defined(__GNUC__)
#define FD_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define FD_PRINTF(fmt_index, first_arg)
#endif

_Noreturn void fd_fatal_at(const char *file, int line, const char *fmt, ...) FD_PRINTF(3, 4);
_Noreturn void fd_fatal_mpi_at(const char *file, int line, const char *call, int code);
_Noreturn void fd_fatal_h5_at(const char *file, int line, const char *call);

#define FD_FATAL(...) fd_fatal_at(__FILE__, __LINE__, __VA_ARGS__)

/* Check an MPI return code (MPI_SUCCESS or the call failed). */
#define FD_CHECK_MPI(call)                                                                         \
    do {                                                                                           \
        int fd_mpi_rc_ = (call);                                                                   \
        if (fd_mpi_rc_ != 0) fd_fatal_mpi_at(__FILE__, __LINE__, #call, fd_mpi_rc_);               \
    } while (0)

/* Check an HDF5 return value (herr_t or hid_t: negative means the call failed). */
#define FD_CHECK_H5(call)                                                                          \
    do {                                                                                           \
        if ((call) < 0) fd_fatal_h5_at(__FILE__, __LINE__, #call);                                 \
    } while (0)

#define FD_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) fd_fatal_at(__FILE__, __LINE__, "internal error: %s", #cond);                 \
    } while (0)

/* Checked allocations: failure is fatal and names the size and the call site. Memory from
 * fd_malloc is 64-byte aligned (a cache line, a full AVX-512 vector); release it with free(). */
void *fd_malloc_at(size_t bytes, const char *file, int line);
void *fd_calloc_at(size_t count, size_t size, const char *file, int line);
void *fd_realloc_at(void *ptr, size_t bytes, const char *file, int line);
char *fd_strdup_at(const char *s, const char *file, int line);
#define fd_malloc(bytes)       fd_malloc_at((bytes), __FILE__, __LINE__)
#define fd_calloc(count, size) fd_calloc_at((count), (size), __FILE__, __LINE__)
#define fd_realloc(ptr, bytes) fd_realloc_at((ptr), (bytes), __FILE__, __LINE__)
#define fd_strdup(s)           fd_strdup_at((s), __FILE__, __LINE__)

/* Recoverable errors: a per-thread one-line message. */
void fd_set_error(const char *fmt, ...) FD_PRINTF(1, 2);
const char *fd_last_error(void);
void fd_clear_error(void);
/* Why a write failed, for a message: the text of errno when it names a file-system condition
 * (no space, quota, I/O error, read-only file system, file too large), else a guess. */
const char *fd_write_failure_reason(int err);
/* Print the last error as "feddiff: error: <message>" and stop, as FD_FATAL does. */
_Noreturn void fd_die_on_error(void);
/* The same for an error that every rank of comm has met alike (a collective write that all
 * ranks agree failed): printed once, by rank 0 of comm. Collective. */
_Noreturn void fd_die_on_shared_error(MPI_Comm comm);

/* Warnings go to stderr as one line "feddiff: warning: <message>". */
void fd_warn(const char *fmt, ...) FD_PRINTF(1, 2);

#endif
