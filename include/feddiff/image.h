/* Image output: sample grids as PNG (libpng). */
#ifndef FEDDIFF_IMAGE_H
#define FEDDIFF_IMAGE_H

/* Write n images [n][h][w][c] (NHWC, values in [-1, 1], clipped) as one PNG grid with `cols`
 * columns and a 2-pixel border, grey for c = 1 and RGB for c = 3. Written to a temporary
 * name and renamed, so a failed write leaves no partial file. Returns 0, or -1 with
 * fd_last_error() naming the file. */
int fd_png_write_grid(const char *path, const float *images, int n, int h, int w, int c, int cols);

#endif
