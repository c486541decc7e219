#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>

#include "commands.h"
#include "feddiff/blas.h"
#include "feddiff/error.h"
#include "feddiff/threads.h"

int fd_cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "usage: feddiff version\n");
        return 2;
    }
    char mpi_lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0, mpi_major = 0, mpi_minor = 0;
    FD_CHECK_MPI(MPI_Get_library_version(mpi_lib, &len));
    FD_CHECK_MPI(MPI_Get_version(&mpi_major, &mpi_minor));
    /* Open MPI's string carries a trailing newline and extra fields after a comma. */
    for (int i = 0; i < len; i++)
        if (mpi_lib[i] == ',' || mpi_lib[i] == '\n') mpi_lib[i] = '\0';
    unsigned h5_major = 0, h5_minor = 0, h5_release = 0;
    FD_CHECK_H5(H5get_libversion(&h5_major, &h5_minor, &h5_release));
#ifdef H5_HAVE_PARALLEL
    const char *h5_kind = "parallel, MPI-IO";
#else
    const char *h5_kind = "serial";
#endif
    int ranks = 1;
    FD_CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &ranks));

    printf("feddiff %s\n", FEDDIFF_VERSION);
    printf("MPI      %s (MPI %d.%d), %d rank(s)\n", mpi_lib, mpi_major, mpi_minor, ranks);
    printf("HDF5     %u.%u.%u (%s)\n", h5_major, h5_minor, h5_release, h5_kind);
    printf("BLIS     %s, kernels %s (%s)\n", fd_blas_version(), fd_blas_kernel_set(),
           fd_blas_kernel_reason());
    printf("threads  %d per rank (OpenMP), %d CPU(s) allowed\n", fd_threads(), fd_cpus_allowed());
    fd_threads_check_binding();
    return 0;
}
