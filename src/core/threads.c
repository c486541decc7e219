#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "feddiff/threads.h"

#include <omp.h>
#include <sched.h>

#include "feddiff/error.h"

void fd_threads_set(int n)
{
    if (n > 0) omp_set_num_threads(n);
}

int fd_threads(void) { return omp_get_max_threads(); }

int fd_cpus_allowed(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return omp_get_num_procs();
    return CPU_COUNT(&set);
}

void fd_threads_check_binding(void)
{
    int threads = fd_threads(), cpus = fd_cpus_allowed();
    if (threads > cpus)
        fd_warn("%d threads per rank but only %d CPU(s) allowed by the process binding: threads "
                "will share cores (launch with 'mpirun --bind-to none' or "
                "'--map-by slot:PE=%d', or 'srun --cpus-per-task=%d')",
                threads, cpus, threads, threads);
}
