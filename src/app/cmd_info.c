/* feddiff info FILE: what a feddiff HDF5 file holds, in a few lines. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "feddiff/error.h"
#include "feddiff/hdf5_util.h"
#include "options.h"

static const char *usage =
    "usage: feddiff info FILE...\n"
    "  Summarises feddiff HDF5 files: checkpoints (round, method, model, per-client state), run\n"
    "  files (rounds, loss, bytes, time), sample files. Exit code 1 if a file is not readable.";

/* Elements of a dataset and its shape as text ("12x45312"); -1 when absent. */
static long long dataset_shape(hid_t loc, const char *name, char *text, size_t size)
{
    text[0] = '\0';
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return -1;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t s = H5Dget_space(d);
    hsize_t dims[8];
    int nd = s >= 0 ? H5Sget_simple_extent_dims(s, dims, NULL) : -1;
    long long n = nd >= 0 ? 1 : -1;
    for (int i = 0; i < nd; i++) {
        n *= (long long)dims[i];
        snprintf(text + strlen(text), size - strlen(text), "%s%llu", i ? "x" : "",
                 (unsigned long long)dims[i]);
    }
    if (nd == 0) snprintf(text, size, "scalar");
    if (s >= 0) H5Sclose(s);
    H5Dclose(d);
    return n;
}

/* The last value of a 1-D double dataset and the sum of all; false when absent or empty. */
static bool series(hid_t file, const char *name, double *last, double *sum)
{
    char shape[64];
    long long n = dataset_shape(file, name, shape, sizeof shape);
    if (n <= 0) return false;
    double *v = fd_malloc(sizeof(double) * (size_t)n);
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    bool ok = d >= 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    if (d >= 0) H5Dclose(d);
    if (ok) {
        *last = v[n - 1];
        *sum = 0;
        for (long long i = 0; i < n; i++) *sum += isfinite(v[i]) ? v[i] : 0;
    }
    free(v);
    return ok;
}

static herr_t count_tensor(hid_t group, const char *name, const H5L_info_t *info, void *total)
{
    (void)info;
    char shape[64];
    long long n = dataset_shape(group, name, shape, sizeof shape);
    if (n > 0) *(long long *)total += n;
    return 0;
}

static void print_config_line(hid_t file)
{
    char *config = fd_h5_read_attr_string_alloc(file, "config");
    if (!config) return;
    /* data.name and fed.clients, the two facts one looks for first. */
    const char *name = strstr(config, "[data]\nname = "), *clients = strstr(config, "\nclients = ");
    char data[64] = "?", n[32] = "?";
    if (name) sscanf(name + strlen("[data]\nname = "), "%63s", data);
    if (clients) sscanf(clients + strlen("\nclients = "), "%31s", n);
    printf("  config: data.name = %s, fed.clients = %s (the full INI text is the 'config' "
           "attribute)\n",
           data, n);
    free(config);
}

static void info_checkpoint(hid_t file)
{
    char method[64] = "central", kind[16] = "?", shape[64];
    long round = 0, step = 0;
    fd_h5_read_attr_string(file, "method", method, sizeof method);
    fd_h5_read_attr_long(file, "round", &round);
    fd_h5_read_attr_long(file, "step", &step);
    hid_t model = H5Gopen2(file, "model", H5P_DEFAULT);
    long long params = 0;
    if (model >= 0) {
        fd_h5_read_attr_string(model, "kind", kind, sizeof kind);
        H5Literate(model, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, count_tensor, &params);
        H5Gclose(model);
    }
    printf("  checkpoint: method %s, after round %ld (step %ld)\n", method, round, step);
    printf("  /model, /ema: %s, %lld parameters\n", kind, params);
    if (dataset_shape(file, "optimizer/adam_m", shape, sizeof shape) > 0)
        printf("  /optimizer: AdamW moments [%s]\n", shape);
    if (dataset_shape(file, "server/m", shape, sizeof shape) > 0)
        printf("  /server: adaptive server moments [%s]\n", shape);
    if (dataset_shape(file, "clients/params", shape, sizeof shape) > 0)
        printf("  /clients/params, /clients/ema: [%s] (each client's own parts)\n", shape);
    if (dataset_shape(file, "clients/adam_m", shape, sizeof shape) > 0)
        printf("  /clients/adam_m, /clients/adam_v: [%s] (kept optimizer state)\n", shape);
    print_config_line(file);
}

static void info_run(hid_t file)
{
    char method[64] = "?", shape[64];
    long clients = 0;
    fd_h5_read_attr_string(file, "method", method, sizeof method);
    fd_h5_read_attr_long(file, "n_clients", &clients);
    long long rounds = dataset_shape(file, "rounds/round", shape, sizeof shape);
    printf("  run file: method %s, %ld client(s), %lld round(s) recorded\n", method, clients,
           rounds > 0 ? rounds : 0);
    double last, sum, up_last, up, down_last, down, s_last, seconds;
    if (series(file, "rounds/loss", &last, &sum)) printf("  loss: %.5f in the last round\n", last);
    if (series(file, "rounds/bytes_up", &up_last, &up) &&
        series(file, "rounds/bytes_down", &down_last, &down))
        printf("  bytes: %.1f MB up, %.1f MB down in all\n", up / 1e6, down / 1e6);
    if (series(file, "rounds/seconds", &s_last, &seconds))
        printf("  time: %.1f s in all, %.2f s in the last round\n", seconds, s_last);
    static const char *const metrics[] = {"rounds/fid_cls",        "rounds/kid_cls",
                                          "rounds/label_fidelity", "eval/fid_cls",
                                          "eval/kid_cls_mean",     "eval/label_tv"};
    for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++)
        if (series(file, metrics[i], &last, &sum))
            printf("  %s: %.4g at the last evaluation\n", strchr(metrics[i], '/') + 1, last);
    print_config_line(file);
}

static void info_classifier(hid_t file)
{
    char dataset[64] = "?";
    double accuracy = 0;
    long features = 0, active = 0;
    fd_h5_read_attr_string(file, "dataset", dataset, sizeof dataset);
    fd_h5_read_attr_double(file, "test_accuracy", &accuracy);
    fd_h5_read_attr_long(file, "feature_dim", &features);
    fd_h5_read_attr_long(file, "active_features", &active);
    printf("  evaluation classifier of %s: test accuracy %.2f%%, %ld features (%ld active)\n",
           dataset, 100.0 * accuracy, features, active);
}

/* A scalar double dataset, or NaN. */
static double scalar(hid_t file, const char *name)
{
    double v = NAN;
    if (H5Lexists(file, "all", H5P_DEFAULT) <= 0 || H5Lexists(file, name, H5P_DEFAULT) <= 0)
        return v;
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d >= 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0) v = NAN;
    if (d >= 0) H5Dclose(d);
    return v;
}

static void info_eval(hid_t file)
{
    char source[4096] = "?", shape[64];
    fd_h5_read_attr_string(file, "source", source, sizeof source);
    printf("  evaluation of %s\n", source);
    if (H5Lexists(file, "all", H5P_DEFAULT) > 0)
        printf("  test split: fid_cls %.4g, kid_cls %.4g +- %.2g, label_tv %.4g\n",
               scalar(file, "all/fid_cls"), scalar(file, "all/kid_cls_mean"),
               scalar(file, "all/kid_cls_std"), scalar(file, "all/label_tv"));
    if (dataset_shape(file, "clients/client", shape, sizeof shape) > 0)
        printf("  /clients: per-client scores of %s client(s)\n", shape);
}

static int info_file(const char *path)
{
    hid_t file = fd_h5_open_read(path);
    if (file < 0) {
        fprintf(stderr, "feddiff: error: %s\n", fd_last_error());
        return 1;
    }
    char format[64] = "", version[64] = "?", shape[64];
    fd_h5_read_attr_string(file, "format", format, sizeof format);
    fd_h5_read_attr_string(file, "feddiff_version", version, sizeof version);
    printf("%s: %s (feddiff %s)\n", path, format[0] ? format : "no feddiff 'format' attribute",
           version);
    if (!strcmp(format, "feddiff-checkpoint"))
        info_checkpoint(file);
    else if (!strcmp(format, "feddiff-run"))
        info_run(file);
    else if (!strcmp(format, "feddiff-classifier"))
        info_classifier(file);
    else if (!strcmp(format, "feddiff-eval"))
        info_eval(file);
    else if (dataset_shape(file, "samples", shape, sizeof shape) > 0)
        printf("  /samples: [%s]\n", shape);
    else if (H5Lexists(file, "partition", H5P_DEFAULT) > 0)
        printf("  /partition: a federated split (feddiff partition)\n");
    H5Fclose(file);
    return 0;
}

int fd_cmd_info(int argc, char **argv)
{
    if (argc == 0) return fd_app_usage_error("%s", usage);
    if (!strcmp(argv[0], "--help")) {
        if (fd_app_is_root()) puts(usage);
        return 0;
    }
    if (!fd_app_is_root()) return 0;
    int rc = 0;
    for (int i = 0; i < argc; i++) rc |= info_file(argv[i]);
    return rc;
}
