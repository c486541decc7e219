#include "feddiff/checkpoint.h"

#include <errno.h>
#include <stddef.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/hdf5_util.h"

enum { CHECKPOINT_FORMAT_VERSION = 1 };

static int read_client_rows(hid_t file, const char *path, const char *name, hid_t type,
                            size_t elem_size, size_t width, const int *rows, int n, void *out);
static const char *const FORMAT_NAME = "feddiff-checkpoint";

/* How this rank writes a checkpoint: collectively, noting a failed write (disk full) and going
 * on with the same collective calls as the other ranks; fd_checkpoint_write then removes the
 * incomplete file. */
typedef struct {
    int rank;
    MPI_Comm comm;
    hid_t dxpl; /* collective transfer */
    fd_h5_writes writes;
} writer;

/* One float32 dataset of the given shape; rank 0 writes `data`, the others take part only. */
static void write_array(writer *w, hid_t group, const char *name, int ndim, const hsize_t *dims,
                        const float *data)
{
    hid_t space, dset;
    FD_CHECK_H5(space = H5Screate_simple(ndim, dims, NULL));
    FD_CHECK_H5(dset = fd_h5_create_dataset(group, name, H5T_NATIVE_FLOAT, space, H5P_DEFAULT));
    if (w->rank != 0) FD_CHECK_H5(H5Sselect_none(space));
    fd_h5_write(&w->writes, dset, H5T_NATIVE_FLOAT, space, space, w->dxpl, data);
    FD_CHECK_H5(H5Dclose(dset));
    FD_CHECK_H5(H5Sclose(space));
}

/* The integer fields of fd_model_config, stored as attributes of /model. */
typedef struct {
    const char *name;
    size_t offset;
} int_field;

#define UNET_FIELD(f)                                                                              \
    {                                                                                              \
#f, offsetof(fd_model_config, unet.f)                                                      \
    }
#define MLP_FIELD(f)                                                                               \
    {                                                                                              \
#f, offsetof(fd_model_config, mlp.f)                                                       \
    }
static const int_field unet_fields[] = {
    UNET_FIELD(in_channels), UNET_FIELD(image_size), UNET_FIELD(width),    UNET_FIELD(n_levels),
    UNET_FIELD(res_blocks),  UNET_FIELD(groups),     UNET_FIELD(time_dim), UNET_FIELD(emb_dim),
    UNET_FIELD(n_classes),   UNET_FIELD(n_clients)};
static const int_field mlp_fields[] = {
    MLP_FIELD(dim),     MLP_FIELD(hidden),    MLP_FIELD(layers),   MLP_FIELD(time_dim),
    MLP_FIELD(emb_dim), MLP_FIELD(n_classes), MLP_FIELD(n_clients)};
#define N_FIELDS(a) (sizeof(a) / sizeof(a[0]))

static void write_model_description(hid_t group, const fd_model_config *mc)
{
    const int_field *fields = mc->kind == FD_MODEL_UNET ? unet_fields : mlp_fields;
    size_t n = mc->kind == FD_MODEL_UNET ? N_FIELDS(unet_fields) : N_FIELDS(mlp_fields);
    fd_h5_attr_string(group, "kind", mc->kind == FD_MODEL_UNET ? "unet" : "mlp");
    for (size_t i = 0; i < n; i++)
        fd_h5_attr_long(group, fields[i].name, *(const int *)((const char *)mc + fields[i].offset));
    if (mc->kind == FD_MODEL_UNET) {
        for (int l = 0; l < mc->unet.n_levels; l++) {
            char name[32];
            snprintf(name, sizeof name, "mult%d", l);
            fd_h5_attr_long(group, name, mc->unet.mults[l]);
        }
        fd_h5_attr_long(group, "attention_levels", (long)mc->unet.attention_levels);
    }
}

static int read_model_description(hid_t file, const char *path, fd_model_config *mc)
{
    memset(mc, 0, sizeof *mc);
    hid_t group = H5Gopen2(file, "model", H5P_DEFAULT);
    if (group < 0) {
        fd_set_error("%s: no 'model' group", path);
        return -1;
    }
    char kind[16] = "";
    int rc = fd_h5_read_attr_string(group, "kind", kind, sizeof kind);
    mc->kind = strcmp(kind, "mlp") ? FD_MODEL_UNET : FD_MODEL_MLP;
    const int_field *fields = mc->kind == FD_MODEL_UNET ? unet_fields : mlp_fields;
    size_t n = mc->kind == FD_MODEL_UNET ? N_FIELDS(unet_fields) : N_FIELDS(mlp_fields);
    long v = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = fd_h5_read_attr_long(group, fields[i].name, &v);
        *(int *)((char *)mc + fields[i].offset) = (int)v;
    }
    if (mc->kind == FD_MODEL_UNET && rc == 0) {
        for (int l = 0; l < mc->unet.n_levels && l < FD_UNET_MAX_LEVELS && rc == 0; l++) {
            char name[32];
            snprintf(name, sizeof name, "mult%d", l);
            rc = fd_h5_read_attr_long(group, name, &v);
            mc->unet.mults[l] = (int)v;
        }
        if (rc == 0) rc = fd_h5_read_attr_long(group, "attention_levels", &v);
        mc->unet.attention_levels = (unsigned)v;
    }
    H5Gclose(group);
    if (rc != 0 || strcmp(kind, mc->kind == FD_MODEL_UNET ? "unet" : "mlp") != 0) {
        fd_set_error("%s: the 'model' group does not describe a network", path);
        return -1;
    }
    const char *err = fd_model_config_error(mc);
    if (err) {
        fd_set_error("%s: invalid network description: %s", path, err);
        return -1;
    }
    return 0;
}

static void write_tensors(writer *w, hid_t file, const char *group_name, const fd_params *p,
                          const float *buffer, const fd_model_config *mc)
{
    hid_t group;
    FD_CHECK_H5(group = fd_h5_create_group(file, group_name));
    if (mc) write_model_description(group, mc);
    for (int id = 0; id < p->n_tensors; id++) {
        const fd_tensor *t = &p->tensors[id];
        hsize_t dims[FD_TENSOR_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        write_array(w, group, t->name, t->ndim, dims, buffer + t->offset);
    }
    FD_CHECK_H5(H5Gclose(group));
}

fd_checkpoint_content fd_checkpoint_of_model(const fd_model *m)
{
    fd_checkpoint_content c = {.model = m,
                               .params = m->params.data,
                               .ema = m->ema ? m->ema : m->params.data,
                               .adam_m = m->params.adam_m,
                               .adam_v = m->params.adam_v,
                               .method = "central"};
    return c;
}

/* A per-client dataset [n_clients][width]: each rank writes its clients' rows (rows[j] = the
 * client id of buffer row j, ascending), in batches of at most ~1 GiB per rank and call, the
 * same number of collective calls on every rank. */
static void write_client_rows(writer *w, hid_t group, const char *name, hid_t type,
                              size_t elem_size, int n_clients, size_t width, const void *buffer,
                              const int *rows, int n_rows, const char *meaning)
{
    hsize_t dims[2] = {(hsize_t)n_clients, (hsize_t)width};
    const int ndim = width == 1 ? 1 : 2;
    hid_t file_space, dset;
    FD_CHECK_H5(file_space = H5Screate_simple(ndim, dims, NULL));
    FD_CHECK_H5(dset = fd_h5_create_dataset(group, name, type, file_space, H5P_DEFAULT));
    fd_h5_attr_string(dset, "meaning", meaning);
    const size_t row_bytes = width * elem_size;
    const int per_call = (int)(row_bytes >= ((size_t)1 << 30) ? 1 : ((size_t)1 << 30) / row_bytes);
    int calls = (n_rows + per_call - 1) / per_call, max_calls = 0;
    FD_CHECK_MPI(MPI_Allreduce(&calls, &max_calls, 1, MPI_INT, MPI_MAX, w->comm));
    for (int call = 0; call < max_calls; call++) {
        const int first = call * per_call;
        const int n = first >= n_rows ? 0 : (n_rows - first < per_call ? n_rows - first : per_call);
        hsize_t mem_dims[2] = {(hsize_t)(n > 0 ? n : 1), (hsize_t)width};
        hid_t mem_space;
        FD_CHECK_H5(mem_space = H5Screate_simple(ndim, mem_dims, NULL));
        FD_CHECK_H5(H5Sselect_none(file_space));
        if (n == 0) FD_CHECK_H5(H5Sselect_none(mem_space));
        for (int j = first; j < first + n;) { /* runs of consecutive ids: one block each */
            int end = j + 1;
            while (end < first + n && rows[end] == rows[end - 1] + 1) end++;
            hsize_t start[2] = {(hsize_t)rows[j], 0},
                    count[2] = {(hsize_t)(end - j), (hsize_t)width};
            FD_CHECK_H5(H5Sselect_hyperslab(file_space, H5S_SELECT_OR, start, NULL, count, NULL));
            j = end;
        }
        fd_h5_write(&w->writes, dset, type, mem_space, file_space, w->dxpl,
                    (const char *)buffer + (size_t)first * row_bytes);
        FD_CHECK_H5(H5Sclose(mem_space));
    }
    FD_CHECK_H5(H5Dclose(dset));
    FD_CHECK_H5(H5Sclose(file_space));
}

static void write_client_states(writer *w, hid_t file, const fd_checkpoint_content *c)
{
    const fd_client_states *s = c->clients;
    hid_t g;
    FD_CHECK_H5(g = fd_h5_create_group(file, "clients"));
    fd_h5_attr_long(g, "n_clients", c->n_clients);
    fd_h5_attr_long(g, "local_offset", (long)s->local.offset);
    fd_h5_attr_long(g, "local_count", (long)s->local.count);
    fd_h5_attr_long(g, "moments_offset", (long)s->moments.offset);
    fd_h5_attr_long(g, "moments_count", (long)s->moments.count);
    fd_h5_attr_string(g, "meaning",
                      "row c: client c's own state; the columns are the arena range "
                      "[local_offset, local_offset + local_count) of /model in arena order");
    if (s->local.count) {
        write_client_rows(w, g, "params", H5T_NATIVE_FLOAT, sizeof(float), c->n_clients,
                          s->local.count, s->params, s->ids, s->n,
                          "the parts each client keeps (never sent), float32");
        write_client_rows(w, g, "ema", H5T_NATIVE_FLOAT, sizeof(float), c->n_clients,
                          s->local.count, s->ema, s->ids, s->n, "their moving average, float32");
        write_client_rows(w, g, "ema_steps", H5T_NATIVE_LONG, sizeof(long), c->n_clients, 1,
                          s->ema_steps, s->ids, s->n,
                          "local steps each client has trained in all (its average's warm-up)");
    }
    if (s->moments.count) {
        write_client_rows(w, g, "adam_m", H5T_NATIVE_FLOAT, sizeof(float), c->n_clients,
                          s->moments.count, s->adam_m, s->ids, s->n,
                          "AdamW first moments over [moments_offset, +moments_count)");
        write_client_rows(w, g, "adam_v", H5T_NATIVE_FLOAT, sizeof(float), c->n_clients,
                          s->moments.count, s->adam_v, s->ids, s->n,
                          "AdamW second moments over [moments_offset, +moments_count)");
        write_client_rows(w, g, "adam_steps", H5T_NATIVE_LONG, sizeof(long), c->n_clients, 1,
                          s->adam_steps, s->ids, s->n,
                          "AdamW steps in each client's moments (bias correction)");
    }
    FD_CHECK_H5(H5Gclose(g));
}

int fd_checkpoint_write(const char *path, MPI_Comm comm, const fd_config *cfg,
                        const fd_checkpoint_content *c, const fd_train_state *st)
{
    int rank;
    FD_CHECK_MPI(MPI_Comm_rank(comm, &rank));
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);

    hid_t file = fd_h5_create_parallel(tmp, comm);
    int created = file >= 0, all_created = 0;
    FD_CHECK_MPI(MPI_Allreduce(&created, &all_created, 1, MPI_INT, MPI_MIN, comm));
    if (!all_created) {
        if (file >= 0) H5Fclose(file);
        if (created) fd_set_error("%s: another rank could not create it", tmp);
        return -1;
    }
    writer w = {.rank = rank, .comm = comm, .dxpl = fd_h5_collective_dxpl()};
    char *config_text = fd_config_to_string(cfg);
    fd_h5_attr_string(file, "format", FORMAT_NAME);
    fd_h5_attr_long(file, "format_version", CHECKPOINT_FORMAT_VERSION);
    fd_h5_attr_string(file, "feddiff_version", FEDDIFF_VERSION);
    fd_h5_attr_string(file, "config", config_text);
    fd_h5_attr_string(file, "method", c->method);
    fd_h5_attr_long(file, "round", st->round);
    fd_h5_attr_long(file, "step", st->step);
    char fingerprint[32];
    snprintf(fingerprint, sizeof fingerprint, "%016llx", (unsigned long long)c->partition);
    fd_h5_attr_string(file, "partition", fingerprint);
    free(config_text);

    const fd_params *p = &c->model->params;
    write_tensors(&w, file, "model", p, c->params, &c->model->cfg);
    write_tensors(&w, file, "ema", p, c->ema, NULL);
    hsize_t count = (hsize_t)p->count;
    if (c->adam_m) {
        hid_t opt;
        FD_CHECK_H5(opt = fd_h5_create_group(file, "optimizer"));
        write_array(&w, opt, "adam_m", 1, &count, c->adam_m);
        write_array(&w, opt, "adam_v", 1, &count, c->adam_v);
        FD_CHECK_H5(H5Gclose(opt));
    }
    if (c->server_m) {
        hid_t server;
        FD_CHECK_H5(server = fd_h5_create_group(file, "server"));
        write_array(&w, server, "m", 1, &count, c->server_m);
        write_array(&w, server, "v", 1, &count, c->server_v);
        FD_CHECK_H5(H5Gclose(server));
    }
    if (c->clients) write_client_states(&w, file, c);
    FD_CHECK_H5(H5Pclose(w.dxpl));
    fd_h5_close_noting(&w.writes, file);

    /* Every rank must know the file is complete before rank 0 renames it into place. */
    fd_h5_writes all;
    FD_CHECK_MPI(MPI_Allreduce(&w.writes.failed, &all.failed, 1, MPI_INT, MPI_MAX, comm));
    FD_CHECK_MPI(MPI_Allreduce(&w.writes.first_errno, &all.first_errno, 1, MPI_INT, MPI_MAX, comm));
    if (all.failed) {
        if (rank == 0) remove(tmp);
        fd_set_error("%s: writing the checkpoint failed (%s); the incomplete file is removed, "
                     "earlier checkpoints are untouched",
                     path, fd_write_failure_reason(all.first_errno));
        return -1;
    }
    int renamed = 1;
    if (rank == 0 && rename(tmp, path) != 0) {
        fd_set_error("%s: cannot rename from %s: %s", path, tmp, strerror(errno));
        renamed = 0;
    }
    FD_CHECK_MPI(MPI_Bcast(&renamed, 1, MPI_INT, 0, comm));
    if (!renamed && rank != 0) fd_set_error("%s: rank 0 could not rename the checkpoint", path);
    return renamed ? 0 : -1;
}

/* Open a checkpoint for reading and check that it is one. */
static hid_t open_checkpoint(const char *path)
{
    hid_t file = fd_h5_open_read(path);
    if (file < 0) return -1;
    char format[64];
    if (fd_h5_read_attr_string(file, "format", format, sizeof format) != 0 ||
        strcmp(format, FORMAT_NAME) != 0) {
        fd_set_error("%s: not a feddiff checkpoint (no 'format' attribute '%s')", path,
                     FORMAT_NAME);
        H5Fclose(file);
        return -1;
    }
    long version = 0;
    if (fd_h5_read_attr_long(file, "format_version", &version) != 0 ||
        version != CHECKPOINT_FORMAT_VERSION) {
        fd_set_error("%s: checkpoint format version %ld, this feddiff reads version %d", path,
                     version, CHECKPOINT_FORMAT_VERSION);
        H5Fclose(file);
        return -1;
    }
    return file;
}

int fd_checkpoint_read_config(const char *path, fd_config *cfg, fd_model_config *model)
{
    hid_t file = open_checkpoint(path);
    if (file < 0) return -1;
    char *text = fd_h5_read_attr_string_alloc(file, "config");
    int described = read_model_description(file, path, model);
    H5Fclose(file);
    if (described != 0) {
        free(text);
        return -1;
    }
    if (!text) {
        fd_set_error("%s: the checkpoint has no 'config' attribute", path);
        return -1;
    }
    fd_config_defaults(cfg);
    int rc = fd_config_load_string(cfg, text, path);
    free(text);
    return rc;
}

static int read_tensors(hid_t file, const char *path, const char *group_name, const fd_params *p,
                        float *buffer)
{
    for (int id = 0; id < p->n_tensors; id++) {
        const fd_tensor *t = &p->tensors[id];
        char name[FD_TENSOR_NAME_MAX + 32];
        snprintf(name, sizeof name, "%s/%s", group_name, t->name);
        hsize_t dims[FD_TENSOR_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        if (fd_h5_read_floats(file, path, name, t->ndim, dims, buffer + t->offset) != 0) return -1;
    }
    return 0;
}

int fd_checkpoint_read_state(const char *path, fd_train_state *st, uint64_t *partition)
{
    hid_t file = open_checkpoint(path);
    if (file < 0) return -1;
    int rc = 0;
    char fingerprint[32] = "";
    if (fd_h5_read_attr_long(file, "round", &st->round) != 0 ||
        fd_h5_read_attr_long(file, "step", &st->step) != 0) {
        fd_set_error("%s: missing 'round' or 'step' attribute", path);
        rc = -1;
    }
    /* 0 when absent (files of feddiff before 0.1.0 had no fingerprint). */
    fd_h5_read_attr_string(file, "partition", fingerprint, sizeof fingerprint);
    *partition = strtoull(fingerprint, NULL, 16);
    H5Fclose(file);
    return rc;
}

int fd_checkpoint_read(const char *path, fd_model *m, fd_train_state *st)
{
    hid_t file = open_checkpoint(path);
    if (file < 0) return -1;
    int rc = -1;
    hsize_t count = (hsize_t)m->params.count;
    if (fd_h5_read_attr_long(file, "round", &st->round) != 0 ||
        fd_h5_read_attr_long(file, "step", &st->step) != 0)
        fd_set_error("%s: missing 'round' or 'step' attribute", path);
    else if (read_tensors(file, path, "model", &m->params, m->params.data) == 0 &&
             (!m->ema || read_tensors(file, path, "ema", &m->params, m->ema) == 0) &&
             (H5Lexists(file, "optimizer", H5P_DEFAULT) <= 0 ||
              (fd_h5_read_floats(file, path, "optimizer/adam_m", 1, &count, m->params.adam_m) ==
                   0 &&
               fd_h5_read_floats(file, path, "optimizer/adam_v", 1, &count, m->params.adam_v) ==
                   0)))
        rc = 0;
    H5Fclose(file);
    return rc;
}

/* Rows rows[0..n) of the dataset `name` [n_total][width] into out [n][width]; checks the shape. */
static int read_client_rows(hid_t file, const char *path, const char *name, hid_t type,
                            size_t elem_size, size_t width, const int *rows, int n, void *out)
{
    hid_t dset = H5Lexists(file, name, H5P_DEFAULT) > 0 ? H5Dopen2(file, name, H5P_DEFAULT) : -1;
    if (dset < 0) {
        fd_set_error("%s: dataset '%s' is missing", path, name);
        return -1;
    }
    int rc = 0;
    hid_t space = H5Dget_space(dset);
    hsize_t dims[2] = {0, 1};
    int ndim = space >= 0 ? H5Sget_simple_extent_dims(space, dims, NULL) : -1;
    if (ndim < 1 || ndim > 2 || (ndim == 2 ? dims[1] : 1) != width) {
        fd_set_error("%s: dataset '%s' does not have %zu columns", path, name, width);
        rc = -1;
    }
    hsize_t row_dims[2] = {1, (hsize_t)width};
    hid_t mem = rc == 0 ? H5Screate_simple(ndim, row_dims, NULL) : -1;
    for (int j = 0; rc == 0 && j < n; j++) {
        hsize_t start[2] = {(hsize_t)rows[j], 0}, count[2] = {1, (hsize_t)width};
        if ((hsize_t)rows[j] >= dims[0]) {
            fd_set_error("%s: dataset '%s' has %llu rows, client %d is missing", path, name,
                         (unsigned long long)dims[0], rows[j]);
            rc = -1;
        } else if (H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
                   H5Dread(dset, type, mem, space, H5P_DEFAULT,
                           (char *)out + (size_t)j * width * elem_size) < 0) {
            fd_set_error("%s: reading dataset '%s' failed (truncated or corrupt file?)", path,
                         name);
            rc = -1;
        }
    }
    if (mem >= 0) H5Sclose(mem);
    if (space >= 0) H5Sclose(space);
    H5Dclose(dset);
    return rc;
}

bool fd_checkpoint_has_client_parts(const char *path)
{
    hid_t file = open_checkpoint(path);
    if (file < 0) return false;
    bool has = H5Lexists(file, "clients", H5P_DEFAULT) > 0 &&
               H5Lexists(file, "clients/params", H5P_DEFAULT) > 0;
    H5Fclose(file);
    return has;
}

int fd_checkpoint_read_client_parts(const char *path, int client, bool ema, fd_model *m)
{
    hid_t file = open_checkpoint(path);
    if (file < 0) return -1;
    long offset = -1, count = -1;
    hid_t g =
        H5Lexists(file, "clients", H5P_DEFAULT) > 0 ? H5Gopen2(file, "clients", H5P_DEFAULT) : -1;
    int rc = -1;
    if (g < 0 || fd_h5_read_attr_long(g, "local_offset", &offset) != 0 ||
        fd_h5_read_attr_long(g, "local_count", &count) != 0 || offset < 0 || count <= 0 ||
        (size_t)(offset + count) > m->params.count) {
        fd_set_error("%s: no per-client parts for this model", path);
    } else {
        float *dst = (ema ? m->ema : m->params.data) + offset;
        rc = read_client_rows(file, path, ema ? "clients/ema" : "clients/params", H5T_NATIVE_FLOAT,
                              sizeof(float), (size_t)count, &client, 1, dst);
    }
    if (g >= 0) H5Gclose(g);
    H5Fclose(file);
    return rc;
}

int fd_checkpoint_read_federated(const char *path, fd_server_opt *s, fd_client_states *clients)
{
    hid_t file = open_checkpoint(path);
    if (file < 0) return -1;
    int rc = 0;
    hsize_t count = (hsize_t)s->count;
    if (s->m && (fd_h5_read_floats(file, path, "server/m", 1, &count, s->m) != 0 ||
                 fd_h5_read_floats(file, path, "server/v", 1, &count, s->v) != 0))
        rc = -1;
    const fd_client_states *c = clients;
    long offset = 0, n = 0;
    if (rc == 0 && (c->local.count || c->moments.count)) {
        hid_t g = H5Lexists(file, "clients", H5P_DEFAULT) > 0
                      ? H5Gopen2(file, "clients", H5P_DEFAULT)
                      : -1;
        if (g < 0 || fd_h5_read_attr_long(g, "local_offset", &offset) != 0 ||
            fd_h5_read_attr_long(g, "local_count", &n) != 0 || (size_t)offset != c->local.offset ||
            (size_t)n != c->local.count) {
            fd_set_error("%s: the clients' state does not match this run (fed.method, "
                         "fed.keep_optimizer and the model must be those of the checkpoint)",
                         path);
            rc = -1;
        }
        if (g >= 0) H5Gclose(g);
    }
    if (rc == 0 && c->local.count)
        rc = read_client_rows(file, path, "clients/params", H5T_NATIVE_FLOAT, sizeof(float),
                              c->local.count, c->ids, c->n, c->params) == 0 &&
                     read_client_rows(file, path, "clients/ema", H5T_NATIVE_FLOAT, sizeof(float),
                                      c->local.count, c->ids, c->n, c->ema) == 0 &&
                     read_client_rows(file, path, "clients/ema_steps", H5T_NATIVE_LONG,
                                      sizeof(long), 1, c->ids, c->n, c->ema_steps) == 0
                 ? 0
                 : -1;
    if (rc == 0 && c->moments.count)
        rc = read_client_rows(file, path, "clients/adam_m", H5T_NATIVE_FLOAT, sizeof(float),
                              c->moments.count, c->ids, c->n, c->adam_m) == 0 &&
                     read_client_rows(file, path, "clients/adam_v", H5T_NATIVE_FLOAT, sizeof(float),
                                      c->moments.count, c->ids, c->n, c->adam_v) == 0 &&
                     read_client_rows(file, path, "clients/adam_steps", H5T_NATIVE_LONG,
                                      sizeof(long), 1, c->ids, c->n, c->adam_steps) == 0
                 ? 0
                 : -1;
    H5Fclose(file);
    return rc;
}
