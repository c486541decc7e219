#include "feddiff/glyphs.h"

#include <math.h>
#include <string.h>

#include "feddiff/rng.h"

/* Streams of FD_RNG_DATA: round = GLYPHS_ROUND + split; step 0 draws labels (index = sample),
 * step 1 the style of sample `client` (= the sample index, low 32 bits; the high bits go into
 * the step so that datasets beyond 2^32 samples stay distinct). */
enum { GLYPHS_ROUND = 0x100, STEP_LABEL = 0, STEP_STYLE = 1 };

/* ---- the stroke font ---------------------------------------------------------------------
 * Coordinates in a unit box, x to the right, y down. 'L': a line x0 y0 -> x1 y1. 'A': an
 * elliptic arc with centre (cx, cy), radii (rx, ry), from angle a0 to a1 in degrees (0 = +x,
 * 90 = +y, i.e. clockwise on screen; a1 < a0 runs anticlockwise). */
typedef struct {
    char kind;
    float p[6];
} stroke;

enum { MAX_STROKES = 3 };
static const struct {
    int count;
    stroke s[MAX_STROKES];
} font[FD_GLYPHS_CLASSES] = {
    {1, {{'A', {0.50f, 0.50f, 0.27f, 0.42f, 0, 360}}}},
    {2, {{'L', {0.52f, 0.06f, 0.52f, 0.94f}}, {'L', {0.32f, 0.24f, 0.52f, 0.06f}}}},
    {3,
     {{'A', {0.50f, 0.30f, 0.26f, 0.24f, 195, 400}},
      {'L', {0.70f, 0.454f, 0.20f, 0.94f}},
      {'L', {0.20f, 0.94f, 0.82f, 0.94f}}}},
    {2,
     {{'A', {0.49f, 0.285f, 0.24f, 0.215f, 200, 450}},
      {'A', {0.49f, 0.72f, 0.27f, 0.22f, 270, 505}}}},
    {3,
     {{'L', {0.64f, 0.06f, 0.16f, 0.66f}},
      {'L', {0.16f, 0.66f, 0.86f, 0.66f}},
      {'L', {0.64f, 0.06f, 0.64f, 0.94f}}}},
    {3,
     {{'L', {0.78f, 0.06f, 0.33f, 0.06f}},
      {'L', {0.33f, 0.06f, 0.30f, 0.47f}},
      {'A', {0.50f, 0.68f, 0.27f, 0.26f, 228, 505}}}},
    {2,
     {{'A', {0.74f, 0.66f, 0.48f, 0.60f, 262, 180}},
      {'A', {0.50f, 0.71f, 0.24f, 0.23f, 180, 540}}}},
    {2, {{'L', {0.18f, 0.07f, 0.82f, 0.07f}}, {'L', {0.82f, 0.07f, 0.42f, 0.94f}}}},
    {2,
     {{'A', {0.50f, 0.28f, 0.21f, 0.21f, 90, 450}}, {'A', {0.50f, 0.71f, 0.26f, 0.23f, -90, 270}}}},
    {2, {{'A', {0.50f, 0.31f, 0.25f, 0.24f, 0, 360}}, {'L', {0.75f, 0.31f, 0.70f, 0.94f}}}},
};

/* ---- style ranges ------------------------------------------------------------------------- */
static const float GLYPH_BOX = 20.0f;    /* pixels spanned by the unit box, as MNIST's 20x20 */
static const float MAX_ROTATION = 0.24f; /* radians, about 14 degrees */
static const float SCALE_LO = 0.82f, SCALE_HI = 1.08f;
static const float ASPECT_LO = 0.85f, ASPECT_HI = 1.15f;
static const float MAX_SHEAR = 0.30f;
static const float MAX_SHIFT = 1.5f; /* pixels, of the centre of mass from the image centre */
static const float WIDTH_LO = 1.8f, WIDTH_HI = 3.6f;
static const float INK_LO = 0.78f, INK_HI = 1.0f;
static const float MAX_WARP = 0.045f; /* unit-box displacement of the smooth warp */
static const float EDGE = 1.2f;       /* pixels over which a stroke's edge fades */
static const float INK_NOISE = 0.25f; /* relative spread of the multiplicative ink noise */

enum {
    P_ROTATION,
    P_SCALE,
    P_ASPECT,
    P_SHEAR,
    P_SHIFT_X,
    P_SHIFT_Y,
    P_WIDTH,
    P_INK,
    P_WARP, /* 4 amplitudes, then 4 phases */
    P_COUNT = P_WARP + 8,
};

enum { MAX_POINTS = 160 }; /* the font's largest outline ('8') has 50 */

typedef struct {
    float x, y;
    int starts_stroke;
} point;

static float lerp(float lo, float hi, float t) { return lo + (hi - lo) * t; }

/* The strokes of `label` as polylines in unit coordinates: lines in pieces of at most 0.1, arcs
 * in pieces of at most 15 degrees, so that the warp bends them smoothly. */
static int outline(int label, point *pts)
{
    const float pi = 3.14159265358979f;
    int n = 0;
    for (int k = 0; k < font[label].count; k++) {
        const stroke *s = &font[label].s[k];
        if (s->kind == 'L') {
            float len = hypotf(s->p[2] - s->p[0], s->p[3] - s->p[1]);
            int pieces = (int)ceilf(len / 0.1f);
            for (int i = 0; i <= pieces; i++) {
                float t = (float)i / (float)pieces;
                pts[n++] = (point){lerp(s->p[0], s->p[2], t), lerp(s->p[1], s->p[3], t), i == 0};
            }
        } else {
            float sweep = s->p[5] - s->p[4];
            int pieces = (int)ceilf(fabsf(sweep) / 15.0f);
            for (int i = 0; i <= pieces; i++) {
                float a = (s->p[4] + sweep * (float)i / (float)pieces) * (pi / 180.0f);
                pts[n++] =
                    (point){s->p[0] + s->p[2] * cosf(a), s->p[1] + s->p[3] * sinf(a), i == 0};
            }
        }
    }
    return n;
}

/* min over pixels of the distance to segment a-b, updated in the segment's bounding box. */
static void stamp_segment(float *dist, point a, point b, float reach)
{
    int c0 = (int)floorf(fminf(a.x, b.x) - reach), c1 = (int)ceilf(fmaxf(a.x, b.x) + reach);
    int r0 = (int)floorf(fminf(a.y, b.y) - reach), r1 = (int)ceilf(fmaxf(a.y, b.y) + reach);
    if (c0 < 0) c0 = 0;
    if (r0 < 0) r0 = 0;
    if (c1 > FD_GLYPHS_SIZE - 1) c1 = FD_GLYPHS_SIZE - 1;
    if (r1 > FD_GLYPHS_SIZE - 1) r1 = FD_GLYPHS_SIZE - 1;
    float dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
    float inv = len2 > 0 ? 1.0f / len2 : 0.0f;
    for (int r = r0; r <= r1; r++) {
        for (int c = c0; c <= c1; c++) {
            float px = (float)c + 0.5f - a.x, py = (float)r + 0.5f - a.y;
            float t = (px * dx + py * dy) * inv;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            float ex = px - t * dx, ey = py - t * dy;
            float d = sqrtf(ex * ex + ey * ey);
            float *slot = &dist[r * FD_GLYPHS_SIZE + c];
            if (d < *slot) *slot = d;
        }
    }
}

/* Place the glyph as MNIST's digits are: its centre of mass (here of the strokes' centre lines)
 * at (target_x, target_y); then keep the ink off the outer ring of pixels, shrinking the glyph
 * about its centre if it is too large for the frame and moving it inside. `reach` is how far
 * from a stroke's centre line ink can fall. */
static void place(point *pts, int n, float target_x, float target_y, float reach)
{
    float mass = 0, mx = 0, my = 0;
    for (int i = 1; i < n; i++) {
        if (pts[i].starts_stroke) continue;
        float len = hypotf(pts[i].x - pts[i - 1].x, pts[i].y - pts[i - 1].y);
        mass += len;
        mx += len * 0.5f * (pts[i].x + pts[i - 1].x);
        my += len * 0.5f * (pts[i].y + pts[i - 1].y);
    }
    float dx = target_x - mx / mass, dy = target_y - my / mass;
    float x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++) {
        pts[i].x += dx;
        pts[i].y += dy;
        x0 = fminf(x0, pts[i].x);
        x1 = fmaxf(x1, pts[i].x);
        y0 = fminf(y0, pts[i].y);
        y1 = fmaxf(y1, pts[i].y);
    }
    const float lo = 1.0f + reach, hi = (float)FD_GLYPHS_SIZE - 1.0f - reach;
    float shrink = fminf(1.0f, (hi - lo) / fmaxf(x1 - x0, y1 - y0));
    float cx = 0.5f * (x0 + x1), cy = 0.5f * (y0 + y1);
    float half_w = 0.5f * shrink * (x1 - x0), half_h = 0.5f * shrink * (y1 - y0);
    float nx = fminf(fmaxf(cx, lo + half_w), hi - half_w);
    float ny = fminf(fmaxf(cy, lo + half_h), hi - half_h);
    for (int i = 0; i < n; i++) {
        pts[i].x = nx + shrink * (pts[i].x - cx);
        pts[i].y = ny + shrink * (pts[i].y - cy);
    }
}

/* Draw `label` in the style given by u[P_COUNT] (uniforms in (0, 1)) with ink noise
 * noise[784] (uniforms in (0, 1)). */
static void draw(int label, const float *u, const float *noise, uint8_t *image)
{
    const float two_pi = 6.28318530717959f;
    point pts[MAX_POINTS];
    int n = outline(label, pts);

    float rot = MAX_ROTATION * (2 * u[P_ROTATION] - 1);
    float scale = lerp(SCALE_LO, SCALE_HI, u[P_SCALE]) * GLYPH_BOX;
    float aspect = lerp(ASPECT_LO, ASPECT_HI, u[P_ASPECT]);
    float sx = scale * aspect, sy = scale / aspect;
    float shear = MAX_SHEAR * (2 * u[P_SHEAR] - 1);
    float cr = cosf(rot), sr = sinf(rot);
    const float *amp = u + P_WARP, *phase = u + P_WARP + 4;
    for (int i = 0; i < n; i++) {
        /* Smooth warp (about one wave across the box), then shear, scale, rotate, shift. */
        float x = pts[i].x, y = pts[i].y;
        float wx = MAX_WARP * ((2 * amp[0] - 1) * sinf(two_pi * (1.1f * y + phase[0])) +
                               (2 * amp[1] - 1) * sinf(two_pi * (0.9f * x + phase[1])));
        float wy = MAX_WARP * ((2 * amp[2] - 1) * sinf(two_pi * (1.1f * x + phase[2])) +
                               (2 * amp[3] - 1) * sinf(two_pi * (0.9f * y + phase[3])));
        float qx = x + wx - 0.5f, qy = y + wy - 0.5f;
        qx = sx * (qx - shear * qy);
        qy = sy * qy;
        pts[i].x = cr * qx - sr * qy;
        pts[i].y = sr * qx + cr * qy;
    }

    float half_width = 0.5f * lerp(WIDTH_LO, WIDTH_HI, u[P_WIDTH]);
    place(pts, n, 0.5f * FD_GLYPHS_SIZE + MAX_SHIFT * (2 * u[P_SHIFT_X] - 1),
          0.5f * FD_GLYPHS_SIZE + MAX_SHIFT * (2 * u[P_SHIFT_Y] - 1), half_width + EDGE);
    float dist[FD_GLYPHS_SIZE * FD_GLYPHS_SIZE];
    for (int p = 0; p < FD_GLYPHS_SIZE * FD_GLYPHS_SIZE; p++) dist[p] = 1e9f;
    float reach = half_width + EDGE;
    for (int i = 1; i < n; i++)
        if (!pts[i].starts_stroke) stamp_segment(dist, pts[i - 1], pts[i], reach);

    float ink = lerp(INK_LO, INK_HI, u[P_INK]) * 255.0f;
    for (int p = 0; p < FD_GLYPHS_SIZE * FD_GLYPHS_SIZE; p++) {
        float cover = (half_width - dist[p]) / EDGE + 0.5f;
        cover = cover < 0 ? 0 : cover > 1 ? 1 : cover;
        float v = cover * ink * (1.0f + INK_NOISE * (noise[p] - 0.5f));
        image[p] = (uint8_t)(v > 255.0f ? 255 : lrintf(v));
    }
}

static fd_rng label_stream(uint64_t seed, uint32_t split)
{
    return fd_rng_stream(seed, FD_RNG_DATA, GLYPHS_ROUND + split, 0, STEP_LABEL);
}

uint8_t fd_glyphs_label(uint64_t seed, uint32_t split, uint64_t index)
{
    fd_rng s = label_stream(seed, split);
    return (uint8_t)fd_rng_below(&s, index, FD_GLYPHS_CLASSES);
}

void fd_glyphs_labels(uint64_t seed, uint32_t split, size_t n, uint8_t *labels)
{
    fd_rng s = label_stream(seed, split);
    for (size_t i = 0; i < n; i++) labels[i] = (uint8_t)fd_rng_below(&s, i, FD_GLYPHS_CLASSES);
}

void fd_glyphs_render(uint64_t seed, uint32_t split, uint64_t index, uint8_t *image)
{
    fd_rng s = fd_rng_stream(seed, FD_RNG_DATA, GLYPHS_ROUND + split, (uint32_t)index,
                             STEP_STYLE + 2 * (uint32_t)(index >> 32));
    float u[P_COUNT], noise[FD_GLYPHS_SIZE * FD_GLYPHS_SIZE];
    fd_rng_fill_uniform(&s, 0, P_COUNT, u);
    fd_rng_fill_uniform(&s, 64, FD_GLYPHS_SIZE * FD_GLYPHS_SIZE, noise);
    draw(fd_glyphs_label(seed, split, index), u, noise, image);
}

void fd_glyphs_render_many(uint64_t seed, uint32_t split, const uint32_t *indices, size_t n,
                           uint8_t *images)
{
    const size_t pixels = FD_GLYPHS_SIZE * FD_GLYPHS_SIZE;
#pragma omp parallel for schedule(static) if (n > 64)
    for (size_t j = 0; j < n; j++) fd_glyphs_render(seed, split, indices[j], images + j * pixels);
}
