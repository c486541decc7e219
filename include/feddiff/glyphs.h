/* builtin:glyphs: procedural 28x28 grey digits in 10 classes, generated on demand.
 *
 * Each class is a digit of a small stroke font (line and elliptic-arc segments). A sample draws
 * its digit with a smooth random warp of the strokes, a random affine map (rotation, scale,
 * aspect, shear, translation), a random stroke width and ink level, and mild multiplicative ink
 * noise, then rasterises it with anti-aliased edges, placed like MNIST's digits (in a box of
 * about 20 pixels, centre of mass near the image centre). Background pixels, and always the
 * outer ring of pixels, are exactly 0. docs/data.md lists the style ranges.
 *
 * Sample `index` of a split is a pure function of (seed, split, index) through the counter RNG
 * (FD_RNG_DATA): any subset can be generated without the rest, by any rank or thread, in any
 * order, and the same seed always gives the same dataset. Splits are independent sets: split 0
 * is the training split, 1 the test split. Labels are uniform on 0..9 and independent of the
 * index order. */
#ifndef FEDDIFF_GLYPHS_H
#define FEDDIFF_GLYPHS_H

#include <stddef.h>
#include <stdint.h>

enum { FD_GLYPHS_SIZE = 28, FD_GLYPHS_CLASSES = 10 };

/* The label (0..9) of sample `index`. */
uint8_t fd_glyphs_label(uint64_t seed, uint32_t split, uint64_t index);

/* labels[i] = fd_glyphs_label(seed, split, i) for i < n. */
void fd_glyphs_labels(uint64_t seed, uint32_t split, size_t n, uint8_t *labels);

/* Render sample `index` (with its label's digit) into image[28 * 28], row-major, 0..255. */
void fd_glyphs_render(uint64_t seed, uint32_t split, uint64_t index, uint8_t *image);

/* images[j * 784 ...] = sample indices[j], for j < n; OpenMP-parallel over samples. */
void fd_glyphs_render_many(uint64_t seed, uint32_t split, const uint32_t *indices, size_t n,
                           uint8_t *images);

#endif
