/* The benchmarks of `feddiff bench`: figures, never pass/fail. */
#ifndef FEDDIFF_APP_BENCH_H
#define FEDDIFF_APP_BENCH_H

/* Best-of-`reps` GFLOP/s of a square sgemm of size n on `threads` threads: the peak every
 * efficiency figure is a fraction of. */
double fd_bench_sgemm_gflops(int n, int threads, int reps);

/* feddiff bench train-step [--batch B] [--steps S] [--warmup W] */
int fd_bench_train_step(int argc, char **argv);
/* [mpirun -n R] feddiff bench checkpoint [--clients N] [--method M] [--dir DIR] [--reps R] */
int fd_bench_checkpoint(int argc, char **argv);

#endif
