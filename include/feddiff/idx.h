/* Reader for the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
 *
 * An IDX file is a 4-byte magic number (0x00 0x00, a type code, the number of dimensions), then
 * each dimension as a big-endian uint32, then the data in row-major order. feddiff reads the
 * unsigned-byte type (code 0x08) with 1 to 4 dimensions; the first dimension counts items (images
 * or labels), the others make one item. Compression is detected from the file's first bytes
 * (zlib reads both forms through one interface), so "x-ubyte" and "x-ubyte.gz" read alike.
 *
 * Every check that fails returns -1 after fd_set_error("<path>: <problem>"): the file cannot be
 * opened, is not IDX, has another element type, a zero or oversized dimension, is shorter than
 * its header says (truncated), longer (trailing bytes), or is corrupt gzip (bad CRC or stream). */
#ifndef FEDDIFF_IDX_H
#define FEDDIFF_IDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { FD_IDX_MAX_DIMS = 4 };

typedef struct {
    int ndim;                       /* 1..FD_IDX_MAX_DIMS */
    uint32_t dims[FD_IDX_MAX_DIMS]; /* dims[0] = items; unused entries are 0 */
    size_t count;                   /* items: dims[0] */
    size_t item_size;               /* bytes per item: product of dims[1..ndim), 1 when ndim = 1 */
    bool gzip;                      /* the file is gzip-compressed */
} fd_idx_info;

/* Read and check the header. For an uncompressed file the exact length is checked too (from the
 * file size, without reading the data); a gzip file's length is checked when its data is read. */
int fd_idx_probe(const char *path, fd_idx_info *info);

/* Read the whole file: *data = fd_malloc'd [count][item_size] bytes (release with free()).
 * On error *data is NULL. */
int fd_idx_load(const char *path, fd_idx_info *info, uint8_t **data);

/* Read only the items indices[0..n) (any order, repeats allowed) into out[j * item_size ...]:
 * the file is streamed once through a small buffer, so memory stays at the output size plus
 * 8 bytes per item of the file. `item_size` is the caller's: a file whose items have another
 * size, or fewer items than an index needs, is an error before anything is written. The whole
 * file is read, so its exact length is checked. */
int fd_idx_read_items(const char *path, size_t item_size, const uint32_t *indices, size_t n,
                      uint8_t *out);

#endif
