#include "feddiff/unet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/kernels.h"
#include "feddiff/layers.h"
#include "feddiff/time_embedding.h"

/* ---- the network as a list of stages ------------------------------------------------------
 *
 * Forward runs the stages in order; each reads the previous stage's output (stage 0 reads the
 * image) and writes its own. Up-path res-blocks also read the output of the down-path stage
 * whose skip they concatenate. Backward runs the stages in reverse; every stage output has a
 * gradient buffer, and since backward kernels accumulate, a skip's gradient simply sums its two
 * uses. */

enum stage_kind { STAGE_CONV_IN, STAGE_RES, STAGE_ATTN, STAGE_DOWN, STAGE_UP, STAGE_OUT };

typedef struct {
    enum stage_kind kind;
    int cin, cout;         /* channels in (after any concatenation) and out */
    int in_size, out_size; /* feature-map side */
    int skip_from;         /* up-path res-block: the stage whose output is concatenated, or -1 */
    /* parameters (which are used depends on the kind) */
    fd_layer norm1, conv1, temb_proj, norm2, conv2, skip; /* res-block */
    fd_layer norm, qkv, proj;                             /* attention; norm also for STAGE_OUT */
    fd_layer conv; /* conv_in, downsample, upsample, conv_out */
    /* saved activations, rows = B * in_size^2 (or out_size^2), channels as named */
    float *cat;                    /* [rows][cin] concat(previous, skip) */
    float *n1, *a1;                /* [rows][cin] norm1 output and its SiLU */
    float *h1, *n2, *a2;           /* [rows][cout] */
    float *mean1, *rstd1;          /* [B][groups] */
    float *mean2, *rstd2;          /* [B][groups] */
    float *tb;                     /* [B][cout] time-embedding projection */
    float *qkv_act, *att, *attn_o; /* [rows][3C], [B][T][T], [rows][C] */
    float *up;                     /* [B][out_size^2][cin] upsampled input */
    float *out, *dout;             /* [B][out_size^2][cout] output and its gradient */
} stage;

struct fd_unet {
    fd_unet_config cfg;
    fd_params *params;
    stage *stages;
    int n_stages;
    fd_time_embedding temb; /* time MLP and condition tables */
    /* activations */
    int max_batch, batch;
    float *arena;
    size_t arena_floats;
    float *x;               /* [B][S][S][C_in] a copy of the input */
    const float *temb_act;  /* [B][emb_dim] SiLU of the embedding, from net->temb */
    float *dtb;             /* [B][max channels] */
    float *grad_scratch[3]; /* [max rows x channels] backward intermediates */
};

fd_unet_config fd_unet_default_config(void)
{
    fd_unet_config c = {.in_channels = 1,
                        .image_size = 28,
                        .width = 32,
                        .n_levels = 3,
                        .mults = {1, 2, 2},
                        .res_blocks = 2,
                        .attention_levels = 1u << 2,
                        .groups = 8,
                        .time_dim = 32,
                        .emb_dim = 128,
                        .n_classes = 0,
                        .n_clients = 0};
    return c;
}

const char *fd_unet_config_error(const fd_unet_config *c)
{
    static _Thread_local char msg[160];
    if (c->in_channels < 1) return "model.in_channels must be at least 1";
    if (c->n_levels < 1 || c->n_levels > FD_UNET_MAX_LEVELS)
        return "model.mults must have 1 to 6 entries";
    if (c->width < 1 || c->res_blocks < 1 || c->groups < 1)
        return "model.width, model.res_blocks and model.groups must be positive";
    if (c->image_size < 1 || c->image_size % (1 << (c->n_levels - 1)) != 0) {
        snprintf(msg, sizeof msg, "image size %d is not divisible by 2^%d (one halving per level)",
                 c->image_size, c->n_levels - 1);
        return msg;
    }
    for (int l = 0; l < c->n_levels; l++) {
        if (c->mults[l] < 1) return "model.mults entries must be positive";
        if ((c->width * c->mults[l]) % c->groups != 0) {
            snprintf(msg, sizeof msg,
                     "model.groups = %d does not divide the %d channels of level %d", c->groups,
                     c->width * c->mults[l], l);
            return msg;
        }
    }
    if (c->attention_levels >> c->n_levels)
        return "model.attention names a level that does not exist";
    if (c->time_dim < 4 || c->time_dim % 2 != 0)
        return "the time embedding width must be even and at least 4";
    if (c->emb_dim < 1 || c->n_classes < 0 || c->n_clients < 0) return "invalid embedding sizes";
    return NULL;
}

/* ---- declaring the tensors ------------------------------------------------------------- */

static stage *push_stage(fd_unet *net, enum stage_kind kind, int cin, int cout, int in_size,
                         int out_size)
{
    net->stages = fd_realloc(net->stages, sizeof(stage) * (size_t)(net->n_stages + 1));
    stage *s = &net->stages[net->n_stages++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->cin = cin;
    s->cout = cout;
    s->in_size = in_size;
    s->out_size = out_size;
    s->skip_from = -1;
    s->norm1 = s->conv1 = s->temb_proj = s->norm2 = s->conv2 = s->skip = FD_NO_LAYER;
    s->norm = s->qkv = s->proj = s->conv = FD_NO_LAYER;
    return s;
}

static void add_resblock(fd_unet *net, enum fd_part part, const char *prefix, int cin, int cout,
                         int size, int skip_from)
{
    fd_params *p = net->params;
    char name[FD_TENSOR_NAME_MAX + 16];
    stage *s = push_stage(net, STAGE_RES, cin, cout, size, size);
    s->skip_from = skip_from;
#define PREFIXED(suffix) (snprintf(name, sizeof name, "%s.%s", prefix, suffix), name)
    s->norm1 = fd_layer_norm(p, part, PREFIXED("norm1"), cin);
    s->conv1 = fd_layer_conv(p, part, PREFIXED("conv1"), cin, cout, 3);
    s->temb_proj = fd_layer_linear(p, part, PREFIXED("temb_proj"), net->cfg.emb_dim, cout);
    s->norm2 = fd_layer_norm(p, part, PREFIXED("norm2"), cout);
    s->conv2 = fd_layer_conv(p, part, PREFIXED("conv2"), cout, cout, 3);
    if (cin != cout) s->skip = fd_layer_conv(p, part, PREFIXED("skip"), cin, cout, 1);
#undef PREFIXED
}

static void add_attention(fd_unet *net, enum fd_part part, const char *prefix, int c, int size)
{
    fd_params *p = net->params;
    char name[FD_TENSOR_NAME_MAX + 16];
    stage *s = push_stage(net, STAGE_ATTN, c, c, size, size);
    snprintf(name, sizeof name, "%s.norm", prefix);
    s->norm = fd_layer_norm(p, part, name, c);
    snprintf(name, sizeof name, "%s.qkv", prefix);
    s->qkv = fd_layer_conv(p, part, name, c, 3 * c, 1);
    snprintf(name, sizeof name, "%s.proj", prefix);
    s->proj = fd_layer_conv(p, part, name, c, c, 1);
}

fd_unet *fd_unet_create(const fd_unet_config *cfg, fd_params *params)
{
    const char *err = fd_unet_config_error(cfg);
    if (err) FD_FATAL("invalid model configuration: %s", err);
    fd_unet *net = fd_calloc(1, sizeof *net);
    net->cfg = *cfg;
    net->params = params;
    const fd_unet_config *c = &net->cfg;
    char name[FD_TENSOR_NAME_MAX];

    fd_time_embedding_declare(&net->temb, params, c->time_dim, c->emb_dim, c->n_classes,
                              c->n_clients);

    /* Down path. skips[] lists the stages whose outputs the up path concatenates. */
    int skips[1 + FD_UNET_MAX_LEVELS * 8], n_skips = 0;
    int size = c->image_size, ch = c->width;
    stage *s = push_stage(net, STAGE_CONV_IN, c->in_channels, ch, size, size);
    s->conv = fd_layer_conv(params, FD_PART_ENC, "conv_in", c->in_channels, ch, 3);
    skips[n_skips++] = net->n_stages - 1;
    for (int l = 0; l < c->n_levels; l++) {
        int cout = c->width * c->mults[l];
        for (int r = 0; r < c->res_blocks; r++) {
            snprintf(name, sizeof name, "down.%d.res.%d", l, r);
            add_resblock(net, FD_PART_ENC, name, ch, cout, size, -1);
            ch = cout;
            if (c->attention_levels & (1u << l)) {
                snprintf(name, sizeof name, "down.%d.attn.%d", l, r);
                add_attention(net, FD_PART_ENC, name, ch, size);
            }
            skips[n_skips++] = net->n_stages - 1;
        }
        if (l + 1 < c->n_levels) {
            snprintf(name, sizeof name, "down.%d.downsample.conv", l);
            s = push_stage(net, STAGE_DOWN, ch, ch, size, size / 2);
            s->conv = fd_layer_conv(params, FD_PART_ENC, name, ch, ch, 3);
            size /= 2;
            skips[n_skips++] = net->n_stages - 1;
        }
    }

    /* Middle: res-block, attention, res-block. */
    add_resblock(net, FD_PART_MID, "mid.res1", ch, ch, size, -1);
    add_attention(net, FD_PART_MID, "mid.attn", ch, size);
    add_resblock(net, FD_PART_MID, "mid.res2", ch, ch, size, -1);

    /* Up path: each res-block concatenates the most recent unused skip. */
    for (int l = c->n_levels - 1; l >= 0; l--) {
        int cout = c->width * c->mults[l];
        for (int r = 0; r <= c->res_blocks; r++) {
            int from = skips[--n_skips];
            snprintf(name, sizeof name, "up.%d.res.%d", l, r);
            add_resblock(net, FD_PART_DEC, name, ch + net->stages[from].cout, cout, size, from);
            ch = cout;
            if (c->attention_levels & (1u << l)) {
                snprintf(name, sizeof name, "up.%d.attn.%d", l, r);
                add_attention(net, FD_PART_DEC, name, ch, size);
            }
        }
        if (l > 0) {
            snprintf(name, sizeof name, "up.%d.upsample.conv", l);
            s = push_stage(net, STAGE_UP, ch, ch, size, size * 2);
            s->conv = fd_layer_conv(params, FD_PART_DEC, name, ch, ch, 3);
            size *= 2;
        }
    }
    FD_ASSERT(n_skips == 0);

    s = push_stage(net, STAGE_OUT, ch, c->in_channels, size, size);
    s->norm = fd_layer_norm(params, FD_PART_DEC, "norm_out", ch);
    s->conv = fd_layer_conv(params, FD_PART_DEC, "conv_out", ch, c->in_channels, 3);
    return net;
}

void fd_unet_free(fd_unet *net)
{
    if (!net) return;
    free(net->stages);
    free(net->arena);
    fd_time_embedding_free(&net->temb);
    free(net);
}

const fd_unet_config *fd_unet_config_of(const fd_unet *net) { return &net->cfg; }

/* ---- initialisation -------------------------------------------------------------------- */

void fd_unet_init_params(fd_unet *net, unsigned long long seed)
{
    const fd_params *p = net->params;
    FD_ASSERT(p->finalized);
    fd_time_embedding_init_params(&net->temb, p, seed);
    for (int i = 0; i < net->n_stages; i++) {
        const stage *s = &net->stages[i];
        const fd_layer linear_layers[] = {s->conv1, s->temb_proj, s->conv2, s->skip,
                                          s->qkv,   s->proj,      s->conv};
        for (size_t k = 0; k < sizeof linear_layers / sizeof linear_layers[0]; k++)
            fd_layer_init_uniform(p, linear_layers[k], seed);
        fd_layer_init_norm(p, s->norm1);
        fd_layer_init_norm(p, s->norm2);
        fd_layer_init_norm(p, s->norm);
    }
}

/* ---- activation memory ----------------------------------------------------------------- */

typedef struct {
    float *base; /* NULL while counting */
    size_t used; /* floats */
} bump;

static float *take(bump *b, size_t floats)
{
    float *p = b->base ? b->base + b->used : NULL;
    b->used += (floats + 15) & ~(size_t)15; /* 64-byte aligned pieces */
    return p;
}

/* Carve the activation buffers for batch B out of b (or only count them). */
static void layout(fd_unet *net, bump *b, int B)
{
    const fd_unet_config *c = &net->cfg;
    size_t G = (size_t)c->groups, Bs = (size_t)B;
    size_t S = (size_t)c->image_size;
    net->x = take(b, Bs * S * S * (size_t)c->in_channels);
    size_t scratch = 0, max_c = 0;
    for (int i = 0; i < net->n_stages; i++) {
        stage *s = &net->stages[i];
        size_t in_rows = Bs * (size_t)s->in_size * (size_t)s->in_size;
        size_t out_rows = Bs * (size_t)s->out_size * (size_t)s->out_size;
        size_t cin = (size_t)s->cin, cout = (size_t)s->cout;
        switch (s->kind) {
        case STAGE_RES:
            if (s->skip_from >= 0) s->cat = take(b, in_rows * cin);
            s->n1 = take(b, in_rows * cin);
            s->a1 = take(b, in_rows * cin);
            s->h1 = take(b, in_rows * cout);
            s->n2 = take(b, in_rows * cout);
            s->a2 = take(b, in_rows * cout);
            s->mean1 = take(b, Bs * G);
            s->rstd1 = take(b, Bs * G);
            s->mean2 = take(b, Bs * G);
            s->rstd2 = take(b, Bs * G);
            s->tb = take(b, Bs * cout);
            break;
        case STAGE_ATTN:
            s->n1 = take(b, in_rows * cin);
            s->mean1 = take(b, Bs * G);
            s->rstd1 = take(b, Bs * G);
            s->qkv_act = take(b, in_rows * 3 * cin);
            s->att = take(b, in_rows * (size_t)s->in_size * (size_t)s->in_size);
            s->attn_o = take(b, in_rows * cin);
            break;
        case STAGE_UP:
            s->up = take(b, out_rows * cin);
            break;
        case STAGE_OUT:
            s->n1 = take(b, in_rows * cin);
            s->a1 = take(b, in_rows * cin);
            s->mean1 = take(b, Bs * G);
            s->rstd1 = take(b, Bs * G);
            break;
        case STAGE_CONV_IN:
        case STAGE_DOWN:
            break;
        }
        s->out = take(b, out_rows * cout);
        size_t widest = cin > cout ? cin : cout;
        if (s->kind == STAGE_ATTN) widest = 3 * cin;
        size_t rows = in_rows > out_rows ? in_rows : out_rows;
        if (rows * widest > scratch) scratch = rows * widest;
        if (cout > max_c) max_c = cout;
    }
    net->dtb = take(b, Bs * max_c);
    for (int k = 0; k < 3; k++) net->grad_scratch[k] = take(b, scratch);
    /* The stage output gradients last and together: one memset clears them. */
    for (int i = 0; i < net->n_stages; i++) {
        stage *s = &net->stages[i];
        s->dout = take(b, Bs * (size_t)s->out_size * (size_t)s->out_size * (size_t)s->cout);
    }
}

void fd_unet_reserve(fd_unet *net, int max_batch)
{
    FD_ASSERT(max_batch > 0);
    if (max_batch <= net->max_batch) return;
    bump count = {NULL, 0};
    layout(net, &count, max_batch);
    free(net->arena);
    net->arena = fd_malloc(count.used * sizeof(float));
    net->arena_floats = count.used;
    bump carve = {net->arena, 0};
    layout(net, &carve, max_batch);
    net->max_batch = max_batch;
    net->batch = 0;
}

size_t fd_unet_activation_bytes(const fd_unet *net) { return net->arena_floats * sizeof(float); }

/* ---- forward ----------------------------------------------------------------------------- */

#define WEIGHT(l)  fd_params_data(net->params, (l).w)
#define BIAS(l)    fd_params_data(net->params, (l).b)
#define DWEIGHT(l) fd_params_grad(net->params, (l).w)
#define DBIAS(l)   fd_params_grad(net->params, (l).b)

static void resblock_forward(fd_unet *net, stage *s, const float *x, int B)
{
    const int S = s->in_size, HW = S * S, G = net->cfg.groups;
    const size_t rows = (size_t)B * (size_t)HW;
    fd_groupnorm_forward(s->n1, s->mean1, s->rstd1, x, WEIGHT(s->norm1), BIAS(s->norm1), B, HW,
                         s->cin, G);
    fd_silu_forward(s->a1, s->n1, rows * (size_t)s->cin);
    fd_conv2d_forward(s->h1, s->a1, WEIGHT(s->conv1), BIAS(s->conv1), B, S, S, s->cin, s->cout, 3,
                      1);
    fd_linear_forward(s->tb, net->temb_act, WEIGHT(s->temb_proj), BIAS(s->temb_proj), B,
                      net->cfg.emb_dim, s->cout);
    fd_add_channel_bias_forward(s->h1, s->tb, B, HW, s->cout);
    fd_groupnorm_forward(s->n2, s->mean2, s->rstd2, s->h1, WEIGHT(s->norm2), BIAS(s->norm2), B, HW,
                         s->cout, G);
    fd_silu_forward(s->a2, s->n2, rows * (size_t)s->cout);
    fd_conv2d_forward(s->out, s->a2, WEIGHT(s->conv2), BIAS(s->conv2), B, S, S, s->cout, s->cout, 3,
                      1);
    if (s->skip.w >= 0) {
        /* out += skip(x): the 1x1 convolution into scratch, then the sum. */
        float *sk = net->grad_scratch[0];
        fd_conv2d_forward(sk, x, WEIGHT(s->skip), BIAS(s->skip), B, S, S, s->cin, s->cout, 1, 1);
        fd_accumulate(s->out, sk, rows * (size_t)s->cout);
    } else {
        fd_accumulate(s->out, x, rows * (size_t)s->cout);
    }
}

static void attention_forward(fd_unet *net, stage *s, const float *x, int B)
{
    const int T = s->in_size * s->in_size, C = s->cin, G = net->cfg.groups;
    const size_t rows = (size_t)B * (size_t)T;
    fd_groupnorm_forward(s->n1, s->mean1, s->rstd1, x, WEIGHT(s->norm), BIAS(s->norm), B, T, C, G);
    fd_linear_forward(s->qkv_act, s->n1, WEIGHT(s->qkv), BIAS(s->qkv), (int)rows, C, 3 * C);
    fd_attention_forward(s->attn_o, s->att, s->qkv_act, B, T, C);
    fd_linear_forward(s->out, s->attn_o, WEIGHT(s->proj), BIAS(s->proj), (int)rows, C, C);
    fd_accumulate(s->out, x, rows * (size_t)C);
}

void fd_unet_forward(fd_unet *net, float *eps, const float *x, const float *t, const int *y,
                     const int *client, int B)
{
    const fd_unet_config *c = &net->cfg;
    FD_ASSERT(B >= 1);
    fd_unet_reserve(net, B);
    net->batch = B;
    const size_t image = (size_t)c->image_size * (size_t)c->image_size * (size_t)c->in_channels;
    memcpy(net->x, x, sizeof(float) * image * (size_t)B);
    net->temb_act = fd_time_embedding_forward(&net->temb, net->params, t, y, client, B);

    const float *h = net->x;
    for (int i = 0; i < net->n_stages; i++) {
        stage *s = &net->stages[i];
        const int S = s->in_size, G = c->groups;
        const size_t in_rows = (size_t)B * (size_t)S * (size_t)S;
        switch (s->kind) {
        case STAGE_CONV_IN:
        case STAGE_DOWN:
            fd_conv2d_forward(s->out, h, WEIGHT(s->conv), BIAS(s->conv), B, S, S, s->cin, s->cout,
                              3, s->kind == STAGE_DOWN ? 2 : 1);
            break;
        case STAGE_RES:
            if (s->skip_from >= 0) {
                const stage *from = &net->stages[s->skip_from];
                fd_concat_forward(s->cat, h, from->out, (int)in_rows, s->cin - from->cout,
                                  from->cout);
                h = s->cat;
            }
            resblock_forward(net, s, h, B);
            break;
        case STAGE_ATTN:
            attention_forward(net, s, h, B);
            break;
        case STAGE_UP:
            fd_upsample2x_forward(s->up, h, B, S, S, s->cin);
            fd_conv2d_forward(s->out, s->up, WEIGHT(s->conv), BIAS(s->conv), B, 2 * S, 2 * S,
                              s->cin, s->cout, 3, 1);
            break;
        case STAGE_OUT:
            fd_groupnorm_forward(s->n1, s->mean1, s->rstd1, h, WEIGHT(s->norm), BIAS(s->norm), B,
                                 S * S, s->cin, G);
            fd_silu_forward(s->a1, s->n1, in_rows * (size_t)s->cin);
            fd_conv2d_forward(s->out, s->a1, WEIGHT(s->conv), BIAS(s->conv), B, S, S, s->cin,
                              s->cout, 3, 1);
            break;
        }
        h = s->out;
    }
    memcpy(eps, h, sizeof(float) * image * (size_t)B);
}

/* ---- backward ---------------------------------------------------------------------------- */

static float *zeroed(float *buf, size_t n)
{
    memset(buf, 0, sizeof(float) * n);
    return buf;
}

/* dx += d loss / d x of a res-block, given s->dout. */
static void resblock_backward(fd_unet *net, stage *s, float *dx, const float *x, int B)
{
    const int S = s->in_size, HW = S * S, G = net->cfg.groups;
    const size_t rows = (size_t)B * (size_t)HW;
    const size_t n_in = rows * (size_t)s->cin, n_out = rows * (size_t)s->cout;
    float *g1 = net->grad_scratch[0], *g2 = net->grad_scratch[1];

    if (s->skip.w >= 0)
        fd_conv2d_backward(dx, DWEIGHT(s->skip), DBIAS(s->skip), s->dout, x, WEIGHT(s->skip), B, S,
                           S, s->cin, s->cout, 1, 1);
    else
        fd_accumulate(dx, s->dout, n_out);

    fd_conv2d_backward(zeroed(g1, n_out), DWEIGHT(s->conv2), DBIAS(s->conv2), s->dout, s->a2,
                       WEIGHT(s->conv2), B, S, S, s->cout, s->cout, 3, 1);
    fd_silu_backward(zeroed(g2, n_out), g1, s->n2, n_out);
    fd_groupnorm_backward(zeroed(g1, n_out), DWEIGHT(s->norm2), DBIAS(s->norm2), g2, s->h1,
                          s->mean2, s->rstd2, WEIGHT(s->norm2), B, HW, s->cout, G);
    /* g1 = d h1: through the time-embedding bias and through conv1. */
    float *dtb = zeroed(net->dtb, (size_t)B * (size_t)s->cout);
    fd_add_channel_bias_backward(dtb, g1, B, HW, s->cout);
    fd_linear_backward(net->temb.dact, DWEIGHT(s->temb_proj), DBIAS(s->temb_proj), dtb,
                       net->temb_act, WEIGHT(s->temb_proj), B, net->cfg.emb_dim, s->cout);
    fd_conv2d_backward(zeroed(g2, n_in), DWEIGHT(s->conv1), DBIAS(s->conv1), g1, s->a1,
                       WEIGHT(s->conv1), B, S, S, s->cin, s->cout, 3, 1);
    fd_silu_backward(zeroed(g1, n_in), g2, s->n1, n_in);
    fd_groupnorm_backward(dx, DWEIGHT(s->norm1), DBIAS(s->norm1), g1, x, s->mean1, s->rstd1,
                          WEIGHT(s->norm1), B, HW, s->cin, G);
}

static void attention_backward(fd_unet *net, stage *s, float *dx, const float *x, int B)
{
    const int T = s->in_size * s->in_size, C = s->cin, G = net->cfg.groups;
    const size_t rows = (size_t)B * (size_t)T, n = rows * (size_t)C;
    float *g1 = net->grad_scratch[0], *g2 = net->grad_scratch[1];
    fd_accumulate(dx, s->dout, n);
    fd_linear_backward(zeroed(g1, n), DWEIGHT(s->proj), DBIAS(s->proj), s->dout, s->attn_o,
                       WEIGHT(s->proj), (int)rows, C, C);
    fd_attention_backward(zeroed(g2, 3 * n), g1, s->qkv_act, s->att, B, T, C);
    fd_linear_backward(zeroed(g1, n), DWEIGHT(s->qkv), DBIAS(s->qkv), g2, s->n1, WEIGHT(s->qkv),
                       (int)rows, C, 3 * C);
    fd_groupnorm_backward(dx, DWEIGHT(s->norm), DBIAS(s->norm), g1, x, s->mean1, s->rstd1,
                          WEIGHT(s->norm), B, T, C, G);
}

void fd_unet_backward(fd_unet *net, const float *deps)
{
    const int B = net->batch;
    FD_ASSERT(B >= 1); /* a forward pass came first */
    const fd_unet_config *c = &net->cfg;
    stage *last = &net->stages[net->n_stages - 1];
    /* Zero every stage-output gradient: one contiguous range (see layout()). */
    float *first = net->stages[0].dout;
    size_t span = (size_t)(last->dout - first) +
                  (size_t)B * (size_t)last->out_size * (size_t)last->out_size * (size_t)last->cout;
    memset(first, 0, sizeof(float) * span);
    memcpy(last->dout, deps,
           sizeof(float) * (size_t)B * (size_t)last->out_size * (size_t)last->out_size *
               (size_t)last->cout);

    for (int i = net->n_stages - 1; i >= 0; i--) {
        stage *s = &net->stages[i];
        const float *x = i > 0 ? net->stages[i - 1].out : net->x;
        float *dx = i > 0 ? net->stages[i - 1].dout : NULL;
        const int S = s->in_size, G = c->groups;
        const size_t in_rows = (size_t)B * (size_t)S * (size_t)S;
        switch (s->kind) {
        case STAGE_CONV_IN:
        case STAGE_DOWN:
            fd_conv2d_backward(dx, DWEIGHT(s->conv), DBIAS(s->conv), s->dout, x, WEIGHT(s->conv), B,
                               S, S, s->cin, s->cout, 3, s->kind == STAGE_DOWN ? 2 : 1);
            break;
        case STAGE_RES:
            if (s->skip_from >= 0) {
                stage *from = &net->stages[s->skip_from];
                float *dcat = zeroed(net->grad_scratch[2], in_rows * (size_t)s->cin);
                resblock_backward(net, s, dcat, s->cat, B);
                fd_concat_backward(dx, from->dout, dcat, (int)in_rows, s->cin - from->cout,
                                   from->cout);
            } else {
                resblock_backward(net, s, dx, x, B);
            }
            break;
        case STAGE_ATTN:
            attention_backward(net, s, dx, x, B);
            break;
        case STAGE_UP: {
            float *dup = zeroed(net->grad_scratch[0], 4 * in_rows * (size_t)s->cin);
            fd_conv2d_backward(dup, DWEIGHT(s->conv), DBIAS(s->conv), s->dout, s->up,
                               WEIGHT(s->conv), B, 2 * S, 2 * S, s->cin, s->cout, 3, 1);
            fd_upsample2x_backward(dx, dup, B, S, S, s->cin);
            break;
        }
        case STAGE_OUT: {
            const size_t n = in_rows * (size_t)s->cin;
            float *g1 = net->grad_scratch[0], *g2 = net->grad_scratch[1];
            fd_conv2d_backward(zeroed(g1, n), DWEIGHT(s->conv), DBIAS(s->conv), s->dout, s->a1,
                               WEIGHT(s->conv), B, S, S, s->cin, s->cout, 3, 1);
            fd_silu_backward(zeroed(g2, n), g1, s->n1, n);
            fd_groupnorm_backward(dx, DWEIGHT(s->norm), DBIAS(s->norm), g2, x, s->mean1, s->rstd1,
                                  WEIGHT(s->norm), B, S * S, s->cin, G);
            break;
        }
        }
    }
    fd_time_embedding_backward(&net->temb, net->params);
}

/* ---- cost --------------------------------------------------------------------------------- */

double fd_unet_forward_flops(const fd_unet *net)
{
    const fd_unet_config *c = &net->cfg;
    double flops = 2.0 * c->time_dim * c->emb_dim + 2.0 * c->emb_dim * c->emb_dim;
    for (int i = 0; i < net->n_stages; i++) {
        const stage *s = &net->stages[i];
        double in_px = (double)s->in_size * s->in_size, out_px = (double)s->out_size * s->out_size;
        double cin = s->cin, cout = s->cout;
        switch (s->kind) {
        case STAGE_RES:
            flops += 2.0 * in_px * 9 * (cin * cout + cout * cout) + 2.0 * c->emb_dim * cout;
            if (s->skip.w >= 0) flops += 2.0 * in_px * cin * cout;
            break;
        case STAGE_ATTN:
            flops += 2.0 * in_px * (3 * cin * cin + cin * cin) + 4.0 * in_px * in_px * cin;
            break;
        default: /* a single 3x3 convolution */
            flops += 2.0 * out_px * 9 * cin * cout;
            break;
        }
    }
    return flops;
}

double fd_unet_backward_flops(const fd_unet *net)
{
    /* Twice the forward, less the input gradients never formed: those of the first time-MLP
     * layer (its input is the sinusoidal embedding) and of conv_in (its input is the image). */
    const fd_unet_config *c = &net->cfg;
    const stage *first = &net->stages[0];
    double skipped = 2.0 * c->time_dim * c->emb_dim +
                     2.0 * (double)first->out_size * first->out_size * 9 * first->cin * first->cout;
    return 2.0 * fd_unet_forward_flops(net) - skipped;
}
