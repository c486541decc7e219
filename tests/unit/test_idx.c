/* The IDX reader: raw and gzip files read back exactly, whole or by item; every malformed file
 * (bad magic, other element type, zero dimension, truncated, trailing bytes, corrupt or cut
 * gzip, missing) gives an error that names the file and the problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "feddiff/error.h"
#include "feddiff/idx.h"
#include "testutil.h"

static char tmpdir[] = "/tmp/feddiff-test-idx-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", tmpdir, name);
}

static void write_bytes(const char *path, const uint8_t *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_gzip(const char *path, const uint8_t *bytes, size_t n)
{
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, bytes, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = fd_malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* An IDX image file in memory: `count` items of rows x cols, item i pixel p = (7i + 3p) mod 256.
 * Returns the byte count; *file is fd_malloc'd. */
static size_t make_images(uint8_t **file, uint32_t count, uint32_t rows, uint32_t cols)
{
    size_t item = (size_t)rows * cols, n = 16 + count * item;
    uint8_t *b = fd_malloc(n);
    const uint32_t dims[3] = {count, rows, cols};
    b[0] = 0;
    b[1] = 0;
    b[2] = 0x08;
    b[3] = 3;
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 4; k++) b[4 + 4 * d + k] = (uint8_t)(dims[d] >> (24 - 8 * k));
    for (size_t i = 0; i < count; i++)
        for (size_t p = 0; p < item; p++) b[16 + i * item + p] = (uint8_t)(7 * i + 3 * p);
    *file = b;
    return n;
}

static void expect_error(int rc, const char *path, const char *phrase)
{
    assert_int_equal(rc, -1);
    const char *msg = fd_last_error();
    if (!strstr(msg, path) || !strstr(msg, phrase))
        fail_msg("error '%s' should name '%s' and say '%s'", msg, path, phrase);
}

static void check_reads_back(const char *path, const uint8_t *file, bool gzip)
{
    fd_idx_info info;
    assert_int_equal(fd_idx_probe(path, &info), 0);
    assert_int_equal(info.ndim, 3);
    assert_int_equal(info.count, 37);
    assert_int_equal(info.dims[1], 5);
    assert_int_equal(info.dims[2], 3);
    assert_int_equal(info.item_size, 15);
    assert_int_equal(info.gzip, gzip);

    uint8_t *all = NULL;
    assert_int_equal(fd_idx_load(path, &info, &all), 0);
    assert_memory_equal(all, file + 16, 37 * 15);
    free(all);

    /* Out of order, with repeats, first and last items included. */
    const uint32_t want[] = {36, 0, 5, 5, 17, 2, 36, 1};
    enum { N = sizeof want / sizeof want[0] };
    uint8_t got[N * 15];
    memset(got, 0xAB, sizeof got);
    assert_int_equal(fd_idx_read_items(path, 15, want, N, got), 0);
    for (int j = 0; j < N; j++) assert_memory_equal(got + 15 * j, file + 16 + 15 * want[j], 15);
}

static void test_raw_and_gzip_read_back(void **state)
{
    (void)state;
    uint8_t *file;
    size_t n = make_images(&file, 37, 5, 3);
    char raw[512], gz[512];
    path_of(raw, sizeof raw, "images-idx3-ubyte");
    path_of(gz, sizeof gz, "images-idx3-ubyte.gz");
    write_bytes(raw, file, n);
    write_gzip(gz, file, n);
    check_reads_back(raw, file, false);
    check_reads_back(gz, file, true);

    /* A one-dimensional file (labels): items of one byte. */
    const uint8_t labels[] = {0, 0, 8, 1, 0, 0, 0, 4, 9, 0, 3, 7};
    char lab[512];
    path_of(lab, sizeof lab, "labels-idx1-ubyte");
    write_bytes(lab, labels, sizeof labels);
    fd_idx_info info;
    uint8_t *data;
    assert_int_equal(fd_idx_load(lab, &info, &data), 0);
    assert_int_equal(info.ndim, 1);
    assert_int_equal(info.count, 4);
    assert_int_equal(info.item_size, 1);
    assert_memory_equal(data, labels + 8, 4);
    free(data);
    free(file);
}

static void test_malformed_headers(void **state)
{
    (void)state;
    uint8_t *file;
    size_t n = make_images(&file, 4, 2, 2);
    char path[512];
    path_of(path, sizeof path, "bad-header");
    fd_idx_info info;

    file[0] = 0x1F; /* not IDX */
    write_bytes(path, file, n);
    expect_error(fd_idx_probe(path, &info), path, "not an IDX file");
    file[0] = 0;

    file[2] = 0x0D; /* float32 */
    write_bytes(path, file, n);
    expect_error(fd_idx_probe(path, &info), path, "0x0d (float32) is not supported");
    file[2] = 0x08;

    file[3] = 7; /* too many dimensions */
    write_bytes(path, file, n);
    expect_error(fd_idx_probe(path, &info), path, "not an IDX file");
    file[3] = 3;

    uint8_t saved = file[11];
    file[11] = 0; /* rows = 0 */
    write_bytes(path, file, n);
    expect_error(fd_idx_probe(path, &info), path, "dimension 1 is 0");
    file[11] = saved;

    write_bytes(path, file, 2); /* the header itself is cut */
    expect_error(fd_idx_probe(path, &info), path, "truncated");
    write_bytes(path, file, 0);
    expect_error(fd_idx_probe(path, &info), path, "file ends after 0 of 4 header bytes");

    char missing[512];
    path_of(missing, sizeof missing, "no-such-file");
    expect_error(fd_idx_probe(missing, &info), missing, "No such file");
    free(file);
}

static void test_wrong_length(void **state)
{
    (void)state;
    uint8_t *file;
    size_t n = make_images(&file, 10, 4, 4);
    char path[512];
    path_of(path, sizeof path, "length");
    fd_idx_info info;
    uint8_t *data;
    uint8_t one[16];
    const uint32_t last = 9;

    write_bytes(path, file, n - 1);
    expect_error(fd_idx_probe(path, &info), path, "truncated");
    expect_error(fd_idx_load(path, &info, &data), path, "truncated");
    assert_null(data);
    expect_error(fd_idx_read_items(path, 16, &last, 1, one), path, "truncated");

    /* Longer than the header says: a larger buffer with a zero byte appended. */
    uint8_t *longer = fd_malloc(n + 1);
    memcpy(longer, file, n);
    longer[n] = 0;
    write_bytes(path, longer, n + 1);
    expect_error(fd_idx_probe(path, &info), path, "1 more than its header");
    expect_error(fd_idx_load(path, &info, &data), path, "1 more than its header");

    /* The same two faults inside gzip, where only reading the data can find them. */
    write_gzip(path, file, n - 1);
    assert_int_equal(fd_idx_probe(path, &info), 0);
    expect_error(fd_idx_load(path, &info, &data), path, "file ends after 159 of 160 data bytes");
    write_gzip(path, longer, n + 1);
    expect_error(fd_idx_read_items(path, 16, &last, 1, one), path, "trailing bytes");

    write_bytes(path, file, n);
    const uint32_t beyond = 10;
    expect_error(fd_idx_read_items(path, 16, &beyond, 1, one), path,
                 "item 10 requested but the file holds 10 items");
    expect_error(fd_idx_read_items(path, 15, &last, 1, one), path,
                 "items of 16 bytes, but 15 expected");
    free(longer);
    free(file);
}

static void test_corrupt_gzip(void **state)
{
    (void)state;
    uint8_t *file;
    size_t n = make_images(&file, 200, 8, 8);
    char path[512];
    path_of(path, sizeof path, "corrupt.gz");
    write_gzip(path, file, n);
    size_t gz_n;
    uint8_t *gz = read_file(path, &gz_n);
    fd_idx_info info;
    uint8_t *data;

    /* Cut in the middle of the deflate stream. */
    write_bytes(path, gz, gz_n / 2);
    expect_error(fd_idx_load(path, &info, &data), path, "truncated");

    /* Cut inside the 8-byte trailer: all data is there, the CRC is not. */
    write_bytes(path, gz, gz_n - 3);
    expect_error(fd_idx_load(path, &info, &data), path, "corrupt gzip data");

    /* A flipped bit in the stored CRC. */
    gz[gz_n - 8] ^= 0x10;
    write_bytes(path, gz, gz_n);
    expect_error(fd_idx_load(path, &info, &data), path, "corrupt gzip data");
    gz[gz_n - 8] ^= 0x10;

    /* Garbage in the middle of the compressed data. */
    for (size_t i = gz_n / 3; i < gz_n / 3 + 16; i++) gz[i] ^= 0x5A;
    write_bytes(path, gz, gz_n);
    assert_int_equal(fd_idx_load(path, &info, &data), -1);
    if (!strstr(fd_last_error(), path)) fail_msg("error '%s' lacks the path", fd_last_error());
    free(gz);
    free(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_and_gzip_read_back),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_wrong_length),
        cmocka_unit_test(test_corrupt_gzip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
