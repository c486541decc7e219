#include "feddiff/image.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"

enum { BORDER = 2 };

static unsigned char to_byte(float v)
{
    float x = (v + 1.0f) * 127.5f;
    if (!(x > 0.0f)) return 0; /* also NaN */
    if (x >= 255.0f) return 255;
    return (unsigned char)(x + 0.5f);
}

/* libpng reports errors by longjmp; keep everything the handler must free outside. */
static int write_png(FILE *f, const unsigned char *pixels, int width, int height, int channels)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (!png) return -1;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png,
                      (png_const_bytep)(pixels + (size_t)y * (size_t)width * (size_t)channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int fd_png_write_grid(const char *path, const float *images, int n, int h, int w, int c, int cols)
{
    FD_ASSERT(n >= 1 && h >= 1 && w >= 1 && cols >= 1);
    if (c != 1 && c != 3) {
        fd_set_error("%s: cannot write %d-channel images as PNG", path, c);
        return -1;
    }
    if (cols > n) cols = n;
    const int rows = (n + cols - 1) / cols;
    const int width = cols * (w + BORDER) + BORDER, height = rows * (h + BORDER) + BORDER;
    const size_t row_bytes = (size_t)width * (size_t)c;
    unsigned char *pixels = fd_calloc((size_t)height, row_bytes);
    for (int i = 0; i < n; i++) {
        int x0 = BORDER + (i % cols) * (w + BORDER), y0 = BORDER + (i / cols) * (h + BORDER);
        const float *img = images + (size_t)i * (size_t)h * (size_t)w * (size_t)c;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w * c; x++)
                pixels[(size_t)(y0 + y) * row_bytes + (size_t)x0 * (size_t)c + (size_t)x] =
                    to_byte(img[(size_t)y * (size_t)w * (size_t)c + (size_t)x]);
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int rc = -1;
    if (!f) {
        fd_set_error("%s: cannot create: %s", tmp, strerror(errno));
    } else {
        int written = write_png(f, pixels, width, height, c);
        int closed = fclose(f);
        if (written != 0 || closed != 0) {
            fd_set_error("%s: write failed (disk full?)", tmp);
            remove(tmp);
        } else if (rename(tmp, path) != 0) {
            fd_set_error("%s: cannot rename from %s: %s", path, tmp, strerror(errno));
            remove(tmp);
        } else {
            rc = 0;
        }
    }
    free(pixels);
    return rc;
}
