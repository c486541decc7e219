#include "feddiff/idx.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "feddiff/error.h"

enum {
    IDX_TYPE_UBYTE = 0x08,
    READ_BUFFER_BYTES = 1 << 20, /* the streaming buffer of fd_idx_read_items */
};

/* Item counts and sizes are bounded so that offsets fit comfortably (2^40 bytes = 1 TiB). */
#define IDX_MAX_BYTES ((uint64_t)1 << 40)

static const char *type_name(int code)
{
    switch (code) {
    case 0x09:
        return "signed byte";
    case 0x0B:
        return "int16";
    case 0x0C:
        return "int32";
    case 0x0D:
        return "float32";
    case 0x0E:
        return "float64";
    default:
        return "unknown";
    }
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static const char *zlib_message(gzFile f)
{
    int code = Z_OK;
    const char *msg = gzerror(f, &code);
    return msg && *msg ? msg : "unknown zlib error";
}

/* Read exactly `len` bytes. `done` and `total` only word the message when the file ends early. */
static int read_exact(gzFile f, const char *path, void *buf, size_t len, uint64_t done,
                      uint64_t total, const char *part)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < len) {
        size_t want = len - got;
        if (want > (size_t)INT_MAX) want = (size_t)INT_MAX;
        int r = gzread(f, p + got, (unsigned)want);
        if (r < 0) {
            fd_set_error("%s: corrupt gzip data (%s)", path, zlib_message(f));
            return -1;
        }
        if (r == 0) {
            int code = Z_OK;
            gzerror(f, &code);
            uint64_t at = done + got;
            if (code == Z_BUF_ERROR)
                fd_set_error("%s: gzip stream ends early after %llu of %llu %s bytes (truncated "
                             "download?)",
                             path, (unsigned long long)at, (unsigned long long)total, part);
            else
                fd_set_error("%s: file ends after %llu of %llu %s bytes (truncated download?)",
                             path, (unsigned long long)at, (unsigned long long)total, part);
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* Open, read and check the header; on success the stream is positioned at the data. */
static gzFile open_idx(const char *path, fd_idx_info *info)
{
    memset(info, 0, sizeof *info);
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fd_set_error("%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    gzbuffer(f, 1u << 17);
    unsigned char magic[4];
    if (read_exact(f, path, magic, 4, 0, 4, "header") != 0) goto fail;
    info->gzip = gzdirect(f) == 0;
    if (magic[0] != 0 || magic[1] != 0 || magic[3] < 1 || magic[3] > FD_IDX_MAX_DIMS) {
        fd_set_error("%s: not an IDX file (magic bytes %02x %02x %02x %02x; expected 00 00 08 "
                     "and 1..%d dimensions)",
                     path, magic[0], magic[1], magic[2], magic[3], FD_IDX_MAX_DIMS);
        goto fail;
    }
    if (magic[2] != IDX_TYPE_UBYTE) {
        fd_set_error("%s: IDX element type 0x%02x (%s) is not supported; feddiff reads "
                     "unsigned-byte IDX files (type 0x08)",
                     path, magic[2], type_name(magic[2]));
        goto fail;
    }
    info->ndim = magic[3];
    unsigned char dims[4 * FD_IDX_MAX_DIMS];
    if (read_exact(f, path, dims, 4 * (size_t)info->ndim, 4, 4 + 4 * (uint64_t)info->ndim,
                   "header") != 0)
        goto fail;
    uint64_t item = 1;
    for (int d = 0; d < info->ndim; d++) {
        info->dims[d] = be32(dims + 4 * d);
        if (info->dims[d] == 0) {
            fd_set_error("%s: IDX dimension %d is 0", path, d);
            goto fail;
        }
        if (d > 0) item *= info->dims[d];
        if (item * info->dims[0] > IDX_MAX_BYTES) {
            fd_set_error("%s: IDX dimensions too large (over 2^40 bytes of data)", path);
            goto fail;
        }
    }
    info->count = info->dims[0];
    info->item_size = (size_t)item;
    return f;
fail:
    gzclose(f);
    return NULL;
}

static size_t header_bytes(const fd_idx_info *info) { return 4 + 4 * (size_t)info->ndim; }

/* An uncompressed file's length must be exactly header + data. */
static int check_raw_length(const char *path, const fd_idx_info *info)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fd_set_error("%s: cannot stat: %s", path, strerror(errno));
        return -1;
    }
    uint64_t want = header_bytes(info) + (uint64_t)info->count * info->item_size;
    uint64_t have = (uint64_t)st.st_size;
    if (have < want) {
        fd_set_error("%s: file has %llu bytes but its header (%zu items of %zu bytes) needs "
                     "%llu (truncated download?)",
                     path, (unsigned long long)have, info->count, info->item_size,
                     (unsigned long long)want);
        return -1;
    }
    if (have > want) {
        fd_set_error("%s: file has %llu bytes, %llu more than its header (%zu items of %zu bytes) "
                     "describes",
                     path, (unsigned long long)have, (unsigned long long)(have - want), info->count,
                     info->item_size);
        return -1;
    }
    return 0;
}

/* After the data: nothing may follow. */
static int check_at_end(gzFile f, const char *path)
{
    unsigned char extra;
    int r = gzread(f, &extra, 1);
    if (r < 0) {
        fd_set_error("%s: corrupt gzip data (%s)", path, zlib_message(f));
        return -1;
    }
    if (r > 0) {
        fd_set_error("%s: trailing bytes after the data its header describes", path);
        return -1;
    }
    int code = Z_OK;
    gzerror(f, &code);
    if (code != Z_OK) {
        /* The data was complete but the gzip trailer (CRC, length) is missing or wrong. */
        fd_set_error("%s: corrupt gzip data (%s)", path, zlib_message(f));
        return -1;
    }
    return 0;
}

int fd_idx_probe(const char *path, fd_idx_info *info)
{
    gzFile f = open_idx(path, info);
    if (!f) return -1;
    gzclose(f);
    return info->gzip ? 0 : check_raw_length(path, info);
}

int fd_idx_load(const char *path, fd_idx_info *info, uint8_t **data)
{
    *data = NULL;
    gzFile f = open_idx(path, info);
    if (!f) return -1;
    size_t bytes = info->count * info->item_size;
    uint8_t *buf = fd_malloc(bytes);
    if ((!info->gzip && check_raw_length(path, info) != 0) ||
        read_exact(f, path, buf, bytes, 0, bytes, "data") != 0 || check_at_end(f, path) != 0) {
        free(buf);
        gzclose(f);
        return -1;
    }
    gzclose(f);
    *data = buf;
    return 0;
}

int fd_idx_read_items(const char *path, size_t item_size, const uint32_t *indices, size_t n,
                      uint8_t *out)
{
    fd_idx_info header;
    const fd_idx_info *info = &header;
    gzFile f = open_idx(path, &header);
    if (!f) return -1;
    if (!info->gzip && check_raw_length(path, info) != 0) {
        gzclose(f);
        return -1;
    }
    if (info->item_size != item_size) {
        fd_set_error("%s: items of %zu bytes, but %zu expected", path, info->item_size, item_size);
        gzclose(f);
        return -1;
    }
    for (size_t j = 0; j < n; j++) {
        if (indices[j] >= info->count) {
            fd_set_error("%s: item %u requested but the file holds %zu items", path, indices[j],
                         info->count);
            gzclose(f);
            return -1;
        }
    }
    /* Bucket the requests by item (linked lists through `next`), so one pass over the file
     * serves them all in file order, repeats included. */
    const size_t none = (size_t)-1;
    size_t *head = fd_malloc(info->count * sizeof *head);
    size_t *next = fd_malloc(n * sizeof *next);
    for (size_t i = 0; i < info->count; i++) head[i] = none;
    for (size_t j = n; j-- > 0;) {
        next[j] = head[indices[j]];
        head[indices[j]] = j;
    }
    size_t items_per_chunk = READ_BUFFER_BYTES / info->item_size;
    if (items_per_chunk == 0) items_per_chunk = 1;
    uint8_t *chunk = fd_malloc(items_per_chunk * info->item_size);
    uint64_t total = (uint64_t)info->count * info->item_size;
    int rc = 0;
    for (size_t first = 0; first < info->count && rc == 0; first += items_per_chunk) {
        size_t items =
            info->count - first < items_per_chunk ? info->count - first : items_per_chunk;
        rc = read_exact(f, path, chunk, items * info->item_size, (uint64_t)first * info->item_size,
                        total, "data");
        for (size_t i = 0; i < items && rc == 0; i++)
            for (size_t j = head[first + i]; j != none; j = next[j])
                memcpy(out + j * info->item_size, chunk + i * info->item_size, info->item_size);
    }
    if (rc == 0) rc = check_at_end(f, path);
    free(chunk);
    free(next);
    free(head);
    gzclose(f);
    return rc;
}
