#include "feddiff/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"

enum key_type { T_INT, T_UINT64, T_DOUBLE, T_BOOL, T_STRING, T_INT_LIST };

typedef struct {
    const char *section, *key;
    enum key_type type;
    size_t offset;       /* of the value in fd_config */
    size_t count_offset; /* T_INT_LIST: of its element count */
    const char *value;   /* default, as written in a file */
    const char *choices; /* T_STRING: allowed values separated by '|', or NULL for any */
    double min, max;     /* numeric range (inclusive) */
    const char *doc;
} key_spec;

#define FIELD(f) offsetof(fd_config, f)
#define NO_COUNT 0
#define ANY      NULL

/* The one table of keys. Order is the order of fd_config_write and of `feddiff config --doc`. */
static const key_spec keys[] = {
    {"data", "name", T_STRING, FIELD(data.name), NO_COUNT, "builtin:glyphs",
     "mnist|fashion-mnist|builtin:glyphs|builtin:gmm", 0, 0,
     "dataset; `builtin:` ones are generated, the others read from `data.dir`"},
    {"data", "dir", T_STRING, FIELD(data.dir), NO_COUNT, "data", ANY, 0, 0,
     "folder of downloaded datasets (`scripts/fetch-data`); `FEDDIFF_DATA` overrides the default"},
    {"data", "train_size", T_INT, FIELD(data.train_size), NO_COUNT, "60000", ANY, 1, 1e8,
     "built-in datasets: samples in the training split"},
    {"data", "test_size", T_INT, FIELD(data.test_size), NO_COUNT, "10000", ANY, 1, 1e8,
     "built-in datasets: samples in the test split"},

    {"partition", "method", T_STRING, FIELD(partition.method), NO_COUNT, "iid",
     "iid|dirichlet|shards|quantity", 0, 0, "how the training split is divided among clients"},
    {"partition", "alpha", T_DOUBLE, FIELD(partition.alpha), NO_COUNT, "0.5", ANY, 1e-4, 1e6,
     "Dirichlet concentration (`dirichlet`: label skew; `quantity`: size skew); smaller is more "
     "heterogeneous"},
    {"partition", "classes_per_client", T_INT, FIELD(partition.classes_per_client), NO_COUNT, "2",
     ANY, 1, 1000, "`shards`: classes each client holds"},
    {"partition", "unseen_clients", T_INT, FIELD(partition.unseen_clients), NO_COUNT, "0", ANY, 0,
     1e6, "clients held out of training entirely, for adaptation experiments"},
    {"partition", "test_fraction", T_DOUBLE, FIELD(partition.test_fraction), NO_COUNT, "0.1", ANY,
     0, 0.9, "fraction of each client's samples held out as its test data"},
    {"partition", "min_samples", T_INT, FIELD(partition.min_samples), NO_COUNT, "10", ANY, 0, 1e8,
     "minimum training samples per client"},

    {"model", "width", T_INT, FIELD(model.width), NO_COUNT, "32", ANY, 1, 4096,
     "UNet channels at the first level"},
    {"model", "mults", T_INT_LIST, FIELD(model.mults), FIELD(model.n_mults), "1,2,2", ANY, 1, 64,
     "UNet channel multiplier per level (one level per entry, each halving the resolution)"},
    {"model", "res_blocks", T_INT, FIELD(model.res_blocks), NO_COUNT, "2", ANY, 1, 16,
     "UNet res-blocks per level on the way down (one more on the way up)"},
    {"model", "attention", T_INT_LIST, FIELD(model.attention), FIELD(model.n_attention), "7", ANY,
     0, 4096, "feature-map sizes with self-attention (e.g. `7` for 7x7); `0` for none"},
    {"model", "groups", T_INT, FIELD(model.groups), NO_COUNT, "8", ANY, 1, 1024,
     "GroupNorm groups (must divide every level's channels)"},
    {"model", "classes", T_BOOL, FIELD(model.classes), NO_COUNT, "false", ANY, 0, 0,
     "class-conditional model: a class embedding is added to the time embedding"},
    {"model", "hidden", T_INT, FIELD(model.hidden), NO_COUNT, "128", ANY, 1, 65536,
     "MLP denoiser (vector data): hidden width"},
    {"model", "layers", T_INT, FIELD(model.layers), NO_COUNT, "2", ANY, 0, 16,
     "MLP denoiser: hidden layers after the input layer"},

    {"diffusion", "steps", T_INT, FIELD(diffusion.steps), NO_COUNT, "1000", ANY, 2, 100000,
     "diffusion timesteps T"},
    {"diffusion", "schedule", T_STRING, FIELD(diffusion.schedule), NO_COUNT, "linear",
     "linear|cosine", 0, 0, "noise schedule: linear beta 1e-4..0.02, or cosine"},
    {"diffusion", "sampler", T_STRING, FIELD(diffusion.sampler), NO_COUNT, "ddim", "ancestral|ddim",
     0, 0, "reverse process: ancestral (DDPM) or deterministic DDIM"},
    {"diffusion", "sample_steps", T_INT, FIELD(diffusion.sample_steps), NO_COUNT, "100", ANY, 1,
     100000, "timesteps the sampler visits (evenly spaced; at most `steps`)"},

    {"train", "batch", T_INT, FIELD(train.batch), NO_COUNT, "64", ANY, 1, 65536,
     "minibatch size of local training"},
    {"train", "lr", T_DOUBLE, FIELD(train.lr), NO_COUNT, "0.001", ANY, 0, 10,
     "AdamW learning rate"},
    {"train", "local_epochs", T_INT, FIELD(train.local_epochs), NO_COUNT, "0", ANY, 0, 100000,
     "epochs over a client's data per round; 0: use `local_steps`"},
    {"train", "local_steps", T_INT, FIELD(train.local_steps), NO_COUNT, "100", ANY, 1, 1e9,
     "optimizer steps per client per round (when `local_epochs` is 0)"},
    {"train", "ema_decay", T_DOUBLE, FIELD(train.ema_decay), NO_COUNT, "0.9999", ANY, 0, 1,
     "decay of the exponential moving average of the weights used for sampling (with warm-up)"},
    {"train", "grad_clip", T_DOUBLE, FIELD(train.grad_clip), NO_COUNT, "1.0", ANY, 0, 1e9,
     "clip gradients to this global norm; 0 turns clipping off"},
    {"train", "weight_decay", T_DOUBLE, FIELD(train.weight_decay), NO_COUNT, "0", ANY, 0, 10,
     "AdamW decoupled weight decay (weights only, not biases, norms or embeddings)"},
    {"train", "warmup", T_DOUBLE, FIELD(train.warmup), NO_COUNT, "0.02", ANY, 0, 1,
     "fraction of all steps over which the learning rate rises linearly from 0"},

    {"fed", "method", T_STRING, FIELD(fed.method), NO_COUNT, "central",
     "full|udec|ulatdec|usplit|local|central|spire|pfdm", 0, 0,
     "federated method; `central` pools all clients' data into one model"},
    {"fed", "clients", T_INT, FIELD(fed.clients), NO_COUNT, "10", ANY, 1, 1e7,
     "simulated clients (including unseen ones)"},
    {"fed", "rounds", T_INT, FIELD(fed.rounds), NO_COUNT, "20", ANY, 1, 1e9,
     "communication rounds (for `central`: blocks of `local_steps` steps, the unit of progress lines and checkpoints)"},
    {"fed", "clients_per_round", T_DOUBLE, FIELD(fed.clients_per_round), NO_COUNT, "1.0", ANY, 1e-9,
     1e7, "clients sampled per round: a fraction if at most 1, else a count"},
    {"fed", "server_opt", T_STRING, FIELD(fed.server_opt), NO_COUNT, "fedavg",
     "fedavg|fedadam|fedyogi", 0, 0, "server update applied to the averaged client updates"},
    {"fed", "server_lr", T_DOUBLE, FIELD(fed.server_lr), NO_COUNT, "1.0", ANY, 0, 100,
     "server learning rate (FedAvg with 1.0 is plain averaging; FedAdam and FedYogi want about "
     "0.01)"},
    {"fed", "keep_optimizer", T_BOOL, FIELD(fed.keep_optimizer), NO_COUNT, "false", ANY, 0, 0,
     "a client keeps its AdamW moments between the rounds it takes part in (memory: two more "
     "model copies per client); false resets them every round"},

    {"classifier", "epochs", T_INT, FIELD(classifier.epochs), NO_COUNT, "3", ANY, 1, 1000,
     "`feddiff evaluator`: epochs over the training split"},
    {"classifier", "batch", T_INT, FIELD(classifier.batch), NO_COUNT, "64", ANY, 1, 65536,
     "`feddiff evaluator`: minibatch size"},
    {"classifier", "lr", T_DOUBLE, FIELD(classifier.lr), NO_COUNT, "0.002", ANY, 0, 10,
     "`feddiff evaluator`: AdamW peak learning rate, decayed to 0 by a cosine"},
    {"classifier", "weight_decay", T_DOUBLE, FIELD(classifier.weight_decay), NO_COUNT, "0", ANY,
     0, 10, "`feddiff evaluator`: AdamW decoupled weight decay (weights only)"},
    {"classifier", "conv1", T_INT, FIELD(classifier.conv1), NO_COUNT, "16", ANY, 1, 1024,
     "channels of the classifier's first 3x3 convolution"},
    {"classifier", "conv2", T_INT, FIELD(classifier.conv2), NO_COUNT, "32", ANY, 1, 1024,
     "channels of the classifier's second 3x3 convolution"},
    {"classifier", "features", T_INT, FIELD(classifier.features), NO_COUNT, "128", ANY, 2, 4096,
     "width of the classifier's penultimate layer: the feature space of `fid_cls` and `kid_cls`"},

    {"eval", "classifier", T_STRING, FIELD(eval.classifier), NO_COUNT, "", ANY, 0, 0,
     "classifier file written by `feddiff evaluator` (needed by `eval.every` and as the default "
     "of `feddiff eval --classifier`)"},
    {"eval", "every", T_INT, FIELD(eval.every), NO_COUNT, "0", ANY, 0, 1e9,
     "evaluate the (global) EMA model every this many rounds during training, on the root, into "
     "group /eval of `<out.dir>/run.h5`; not for methods whose clients keep parts of their own "
     "(score their checkpoints with `feddiff eval`); 0: never"},
    {"eval", "samples", T_INT, FIELD(eval.samples), NO_COUNT, "1000", ANY, 2, 1e7,
     "samples drawn for an evaluation against the test split"},
    {"eval", "client_samples", T_INT, FIELD(eval.client_samples), NO_COUNT, "500", ANY, 2, 1e7,
     "samples drawn per client in a per-client evaluation"},
    {"eval", "sample_steps", T_INT, FIELD(eval.sample_steps), NO_COUNT, "0", ANY, 0, 100000,
     "sampler steps of evaluation samples; 0: `diffusion.sample_steps`"},
    {"eval", "kid_subsets", T_INT, FIELD(eval.kid_subsets), NO_COUNT, "100", ANY, 1, 1e6,
     "random subsets KID is averaged over"},
    {"eval", "kid_subset_size", T_INT, FIELD(eval.kid_subset_size), NO_COUNT, "1000", ANY, 2, 1e7,
     "size of each KID subset (capped at the sizes of the two sets)"},
    {"eval", "seed", T_UINT64, FIELD(eval.seed), NO_COUNT, "0", ANY, 0, 0,
     "seed of the evaluation samples' noise and the KID subsets (the same for every checkpoint, "
     "so that checkpoints are compared on the same noise)"},

    {"out", "dir", T_STRING, FIELD(out.dir), NO_COUNT, "runs/default", ANY, 0, 0,
     "output folder: run file, checkpoints, samples"},
    {"out", "checkpoint_every", T_INT, FIELD(out.checkpoint_every), NO_COUNT, "10", ANY, 0, 1e9,
     "rounds between checkpoints; 0: only at the end"},
    {"out", "keep", T_INT, FIELD(out.keep), NO_COUNT, "3", ANY, 1, 1e6,
     "checkpoints kept (older ones are deleted)"},
    {"out", "samples", T_INT, FIELD(out.samples), NO_COUNT, "64", ANY, 0, 1e6,
     "samples drawn into the grid written at the end of training"},
    {"out", "sample_clients", T_INT, FIELD(out.sample_clients), NO_COUNT, "8", ANY, 1, 1e6,
     "methods with personal parts (`udec`, `ulatdec`, `local`): the samples come from the models "
     "of this many clients of the last round, a grid row each, conditioned on the classes of "
     "the client's training data in proportion"},

    {"run", "seed", T_UINT64, FIELD(run.seed), NO_COUNT, "0", ANY, 0, 0,
     "seed of every random draw (initialisation, partition, batches, noise)"},
    {"run", "threads", T_INT, FIELD(run.threads), NO_COUNT, "0", ANY, 0, 4096,
     "OpenMP threads per rank; 0: `OMP_NUM_THREADS`, else the CPUs the rank may use"},
};
enum { N_KEYS = sizeof keys / sizeof keys[0] };

static void *value_ptr(fd_config *cfg, const key_spec *k) { return (char *)cfg + k->offset; }
static const void *value_cptr(const fd_config *cfg, const key_spec *k)
{
    return (const char *)cfg + k->offset;
}

static const key_spec *find_key(const char *section, const char *key)
{
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, key)) return &keys[i];
    return NULL;
}

/* Levenshtein distance, for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

static const key_spec *closest_key(const char *section, const char *key)
{
    char wanted[160];
    snprintf(wanted, sizeof wanted, "%s.%s", section, key);
    const key_spec *best = NULL;
    size_t best_d = 4; /* further than 3 edits away is no suggestion */
    for (int i = 0; i < N_KEYS; i++) {
        char full[160];
        snprintf(full, sizeof full, "%s.%s", keys[i].section, keys[i].key);
        size_t d = edit_distance(wanted, full);
        /* The right key in the wrong section is a good guess too. */
        if (!strcmp(keys[i].key, key) && d > 1) d = 1;
        if (d < best_d) best_d = d, best = &keys[i];
    }
    return best;
}

static int parse_int(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int in_choices(const char *choices, const char *value)
{
    size_t n = strlen(value);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, value, n)) return 1;
        p += len + (bar != NULL);
    }
    return 0;
}

/* Parse `text` into the key's field. On error: -1 with a message (without the origin). */
static int assign(fd_config *cfg, const key_spec *k, const char *text)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s", k->section, k->key);
    long long iv;
    double dv;
    switch (k->type) {
    case T_INT:
        if (parse_int(text, &iv)) {
            fd_set_error("%s: '%s' is not an integer", name, text);
            return -1;
        }
        if (iv < k->min || iv > k->max) {
            fd_set_error("%s: %lld is out of range [%.15g, %.15g]", name, iv, k->min, k->max);
            return -1;
        }
        *(int *)value_ptr(cfg, k) = (int)iv;
        return 0;
    case T_UINT64: {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(text, &end, 10);
        if (errno || end == text || *end || text[0] == '-') {
            fd_set_error("%s: '%s' is not a non-negative integer", name, text);
            return -1;
        }
        *(uint64_t *)value_ptr(cfg, k) = (uint64_t)u;
        return 0;
    }
    case T_DOUBLE:
        if (parse_double(text, &dv)) {
            fd_set_error("%s: '%s' is not a number", name, text);
            return -1;
        }
        if (dv < k->min || dv > k->max) {
            fd_set_error("%s: %g is out of range [%g, %g]", name, dv, k->min, k->max);
            return -1;
        }
        *(double *)value_ptr(cfg, k) = dv;
        return 0;
    case T_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes"))
            *(bool *)value_ptr(cfg, k) = true;
        else if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no"))
            *(bool *)value_ptr(cfg, k) = false;
        else {
            fd_set_error("%s: '%s' is not a boolean (true or false)", name, text);
            return -1;
        }
        return 0;
    case T_STRING:
        if (k->choices && !in_choices(k->choices, text)) {
            fd_set_error("%s: '%s' is not one of %s", name, text, k->choices);
            return -1;
        }
        if (strlen(text) >= FD_CONFIG_STR) {
            fd_set_error("%s: value longer than %d characters", name, FD_CONFIG_STR - 1);
            return -1;
        }
        strcpy((char *)value_ptr(cfg, k), text);
        return 0;
    case T_INT_LIST: {
        int list[FD_CONFIG_MAX_LIST], n = 0; /* parsed whole before it is stored */
        char buf[FD_CONFIG_STR];
        snprintf(buf, sizeof buf, "%s", text);
        for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
             tok = strtok_r(NULL, ", ", &save)) {
            if (n == FD_CONFIG_MAX_LIST) {
                fd_set_error("%s: more than %d entries", name, FD_CONFIG_MAX_LIST);
                return -1;
            }
            if (parse_int(tok, &iv) || iv < k->min || iv > k->max) {
                fd_set_error("%s: '%s' is not an integer in [%g, %g]", name, tok, k->min, k->max);
                return -1;
            }
            list[n++] = (int)iv;
        }
        if (n == 0) {
            fd_set_error("%s: empty list", name);
            return -1;
        }
        memcpy(value_ptr(cfg, k), list, sizeof(int) * (size_t)n);
        *(int *)((char *)cfg + k->count_offset) = n;
        return 0;
    }
    }
    return -1;
}

void fd_config_defaults(fd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < N_KEYS; i++)
        if (assign(cfg, &keys[i], keys[i].value) != 0)
            FD_FATAL("bad default in the key table: %s", fd_last_error());
    const char *data = getenv("FEDDIFF_DATA");
    if (data && *data) snprintf(cfg->data.dir, sizeof cfg->data.dir, "%s", data);
}

static void describe_unknown(char *buf, size_t size, const char *section, const char *key)
{
    const key_spec *near = closest_key(section, key);
    if (near)
        snprintf(buf, size, "unknown key '%s.%s' (did you mean '%s.%s'?)", section, key,
                 near->section, near->key);
    else
        snprintf(buf, size, "unknown key '%s.%s' (see docs/config.md)", section, key);
}

typedef struct {
    fd_config *cfg;
    char error[512]; /* the handler's message, before the line number is known */
} load_state;

static int on_ini_entry(void *user, const char *section, const char *key, const char *value)
{
    load_state *st = user;
    if (st->error[0]) return 0;
    const key_spec *k = find_key(section, key);
    if (!k) {
        describe_unknown(st->error, sizeof st->error, section, key);
        return 0;
    }
    if (assign(st->cfg, k, value) != 0) {
        snprintf(st->error, sizeof st->error, "%s", fd_last_error());
        return 0;
    }
    return 1;
}

static int finish_load(int rc, const load_state *st, const char *path)
{
    if (rc == -2) FD_FATAL("out of memory parsing %s", path);
    if (rc > 0) {
        if (st->error[0])
            fd_set_error("%s:%d: %s", path, rc, st->error);
        else
            fd_set_error("%s:%d: syntax error (expected '[section]' or 'key = value')", path, rc);
        return -1;
    }
    return 0;
}

int fd_config_load_string(fd_config *cfg, const char *text, const char *origin)
{
    load_state st = {cfg, ""};
    return finish_load(ini_parse_string(text, on_ini_entry, &st), &st, origin);
}

int fd_config_load(fd_config *cfg, const char *path)
{
    load_state st = {cfg, ""};
    int rc = ini_parse(path, on_ini_entry, &st);
    if (rc == -1) {
        fd_set_error("%s: cannot open config file: %s", path, strerror(errno));
        return -1;
    }
    return finish_load(rc, &st, path);
}

int fd_config_set(fd_config *cfg, const char *assignment, const char *origin)
{
    const char *eq = strchr(assignment, '=');
    const char *dot = strchr(assignment, '.');
    if (!eq || !dot || dot > eq) {
        fd_set_error("%s: '%s' is not of the form section.key=value", origin, assignment);
        return -1;
    }
    char section[64], key[64];
    size_t ls = (size_t)(dot - assignment), lk = (size_t)(eq - dot - 1);
    if (ls == 0 || lk == 0 || ls >= sizeof section || lk >= sizeof key) {
        fd_set_error("%s: '%s' is not of the form section.key=value", origin, assignment);
        return -1;
    }
    memcpy(section, assignment, ls);
    section[ls] = '\0';
    memcpy(key, dot + 1, lk);
    key[lk] = '\0';
    const key_spec *k = find_key(section, key);
    char msg[512];
    if (!k)
        describe_unknown(msg, sizeof msg, section, key);
    else if (assign(cfg, k, eq + 1) != 0)
        snprintf(msg, sizeof msg, "%s", fd_last_error());
    else
        return 0;
    fd_set_error("%s: %s", origin, msg);
    return -1;
}

int fd_config_validate(const fd_config *cfg)
{
    if (cfg->diffusion.sample_steps > cfg->diffusion.steps) {
        fd_set_error("diffusion.sample_steps (%d) exceeds diffusion.steps (%d)",
                     cfg->diffusion.sample_steps, cfg->diffusion.steps);
        return -1;
    }
    for (int l = 0; l < cfg->model.n_mults; l++)
        if ((cfg->model.width * cfg->model.mults[l]) % cfg->model.groups != 0) {
            fd_set_error("model.groups = %d does not divide the %d channels of level %d "
                         "(model.width x model.mults)",
                         cfg->model.groups, cfg->model.width * cfg->model.mults[l], l);
            return -1;
        }
    if (cfg->partition.unseen_clients >= cfg->fed.clients) {
        fd_set_error("partition.unseen_clients (%d) leaves no training client out of fed.clients "
                     "(%d)",
                     cfg->partition.unseen_clients, cfg->fed.clients);
        return -1;
    }
    return 0;
}

/* The shortest decimal that reads back to the same double: 0.1, not 0.10000000000000001. */
static void write_shortest_double(double x, FILE *out)
{
    char buf[32];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, sizeof buf, "%.*g", precision, x);
        if (strtod(buf, NULL) == x) break;
    }
    fputs(buf, out);
}

static void write_value(const fd_config *cfg, const key_spec *k, FILE *out)
{
    const void *v = value_cptr(cfg, k);
    switch (k->type) {
    case T_INT:
        fprintf(out, "%d", *(const int *)v);
        break;
    case T_UINT64:
        fprintf(out, "%llu", (unsigned long long)*(const uint64_t *)v);
        break;
    case T_DOUBLE:
        write_shortest_double(*(const double *)v, out);
        break;
    case T_BOOL:
        fputs(*(const bool *)v ? "true" : "false", out);
        break;
    case T_STRING:
        fputs((const char *)v, out);
        break;
    case T_INT_LIST: {
        int n = *(const int *)((const char *)cfg + k->count_offset);
        for (int i = 0; i < n; i++) fprintf(out, i ? ",%d" : "%d", ((const int *)v)[i]);
        break;
    }
    }
}

void fd_config_write(const fd_config *cfg, FILE *out)
{
    const char *section = "";
    for (int i = 0; i < N_KEYS; i++) {
        if (strcmp(section, keys[i].section)) {
            section = keys[i].section;
            fprintf(out, "%s[%s]\n", i ? "\n" : "", section);
        }
        fprintf(out, "%s = ", keys[i].key);
        write_value(cfg, &keys[i], out);
        fputc('\n', out);
    }
}

/* The value of key k in cfg as written in a file, into buf. */
static void value_text(const fd_config *cfg, const key_spec *k, char *buf, size_t size)
{
    FILE *f = fmemopen(buf, size, "w");
    if (!f) FD_FATAL("fmemopen failed");
    write_value(cfg, k, f);
    if (fclose(f) != 0) FD_FATAL("fmemopen failed");
}

static bool ignored(const key_spec *k, const char *const *ignore)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", k->section, k->key);
    for (; ignore && *ignore; ignore++)
        if (!strcmp(*ignore, k->section) || !strcmp(*ignore, full)) return true;
    return false;
}

int fd_config_first_difference(const fd_config *a, const fd_config *b, const char *const *ignore,
                               char *buf, size_t size)
{
    char va[FD_CONFIG_STR + 64], vb[FD_CONFIG_STR + 64];
    for (int i = 0; i < N_KEYS; i++) {
        const key_spec *k = &keys[i];
        if (ignored(k, ignore)) continue;
        value_text(a, k, va, sizeof va);
        value_text(b, k, vb, sizeof vb);
        if (strcmp(va, vb)) {
            snprintf(buf, size, "%s.%s = %s, not %s", k->section, k->key, va, vb);
            return 1;
        }
    }
    return 0;
}

char *fd_config_to_string(const fd_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) FD_FATAL("open_memstream failed");
    fd_config_write(cfg, f);
    if (fclose(f) != 0) FD_FATAL("open_memstream failed");
    return buf;
}

void fd_config_write_doc(FILE *out)
{
    const char *section = "";
    for (int i = 0; i < N_KEYS; i++) {
        const key_spec *k = &keys[i];
        if (strcmp(section, k->section)) {
            section = k->section;
            fprintf(out, "\n## [%s]\n\n| key | default | meaning |\n|---|---|---|\n", section);
        }
        fprintf(out, "| `%s` | `%s` | %s", k->key, k->value, k->doc);
        if (k->choices) {
            fputs(" (", out);
            for (const char *c = k->choices; *c; c++) {
                if (*c == '|')
                    fputs("`, `", out);
                else {
                    if (c == k->choices) fputc('`', out);
                    fputc(*c, out);
                }
            }
            fputs("`)", out);
        }
        fputs(" |\n", out);
    }
}
