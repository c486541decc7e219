#include "feddiff/mpi_util.h"

#include "feddiff/error.h"

static const size_t CHUNK = (size_t)1 << 28;

static int chunk_count(size_t n, size_t at) { return (int)(n - at < CHUNK ? n - at : CHUNK); }

void fd_mpi_bcast_floats(float *x, size_t n, int root, MPI_Comm comm)
{
    for (size_t at = 0; at < n; at += CHUNK)
        FD_CHECK_MPI(MPI_Bcast(x + at, chunk_count(n, at), MPI_FLOAT, root, comm));
}

void fd_mpi_reduce_sum_doubles(double *x, size_t n, int root, MPI_Comm comm)
{
    int rank;
    FD_CHECK_MPI(MPI_Comm_rank(comm, &rank));
    for (size_t at = 0; at < n; at += CHUNK) {
        if (rank == root)
            FD_CHECK_MPI(MPI_Reduce(MPI_IN_PLACE, x + at, chunk_count(n, at), MPI_DOUBLE, MPI_SUM,
                                    root, comm));
        else
            FD_CHECK_MPI(
                MPI_Reduce(x + at, NULL, chunk_count(n, at), MPI_DOUBLE, MPI_SUM, root, comm));
    }
}

void fd_mpi_allreduce_sum_doubles(double *x, size_t n, MPI_Comm comm)
{
    for (size_t at = 0; at < n; at += CHUNK)
        FD_CHECK_MPI(
            MPI_Allreduce(MPI_IN_PLACE, x + at, chunk_count(n, at), MPI_DOUBLE, MPI_SUM, comm));
}
