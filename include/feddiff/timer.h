/* Wall-clock time for progress lines and benchmarks. */
#ifndef FEDDIFF_TIMER_H
#define FEDDIFF_TIMER_H

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double fd_now(void);

#endif
