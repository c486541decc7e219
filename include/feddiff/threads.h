/* The rank's thread budget.
 *
 * A rank owns `fd_threads()` cores. Kernels spend them on one OpenMP team at a time; BLIS
 * never starts threads of its own: fd_sgemm splits a large product over an OpenMP team of
 * single-threaded BLIS calls, and runs single-threaded when called from inside a parallel
 * region. */
#ifndef FEDDIFF_THREADS_H
#define FEDDIFF_THREADS_H

/* Set the budget; n <= 0 keeps OpenMP's default (OMP_NUM_THREADS, else the allowed CPUs). */
void fd_threads_set(int n);
int fd_threads(void);
/* CPUs this process may run on (its affinity mask); what mpirun's binding left it. */
int fd_cpus_allowed(void);
/* Warn (once) when the budget exceeds the allowed CPUs: threads would share cores. */
void fd_threads_check_binding(void);

#endif
