/* MPI collectives over arrays of any length: MPI counts are int, so long arrays go in chunks
 * of at most 2^28 elements. Every call is checked (FD_CHECK_MPI). */
#ifndef FEDDIFF_MPI_UTIL_H
#define FEDDIFF_MPI_UTIL_H

#include <mpi.h>
#include <stddef.h>

void fd_mpi_bcast_floats(float *x, size_t n, int root, MPI_Comm comm);
/* Element-wise sum over the ranks into root's x (in place); other ranks' x are unchanged. */
void fd_mpi_reduce_sum_doubles(double *x, size_t n, int root, MPI_Comm comm);
/* Element-wise sum over the ranks, result on every rank (in place). */
void fd_mpi_allreduce_sum_doubles(double *x, size_t n, MPI_Comm comm);

#endif
