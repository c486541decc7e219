/* Memory figures of the running process, for progress lines and benchmarks. */
#ifndef FEDDIFF_MEMORY_H
#define FEDDIFF_MEMORY_H

#include <stddef.h>

/* The peak resident set size of this process so far, in bytes (getrusage). */
size_t fd_peak_rss_bytes(void);

#endif
