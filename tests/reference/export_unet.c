/* The C side of the PyTorch reference test: one training step of the default UNet (with class
 * and client embeddings) on fixed random data, then three AdamW steps, all written to an HDF5
 * file that tests/reference/compare_unet.py replays in PyTorch.
 *
 *   export_unet OUT.h5
 *
 * Written: /init/<name> (parameters before training), /x0, /t, /noise, /y, /client (the batch),
 * /pred, /loss (forward), /grad/<name> (gradients of the first step), /after/<name>
 * (parameters after three AdamW steps with clipping), and the settings as attributes. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/blas.h"
#include "feddiff/diffusion.h"
#include "feddiff/error.h"
#include "feddiff/model.h"
#include "feddiff/optimizer.h"
#include "feddiff/rng.h"

enum { BATCH = 4, CLASSES = 10, CLIENTS = 3, STEPS = 3 };
static const float LR = 1e-3f, WEIGHT_DECAY = 0.01f, CLIP = 1.0f;

static void write(hid_t file, const char *name, hid_t type, int ndim, const hsize_t *dims,
                  const void *data)
{
    hid_t space, dset;
    FD_CHECK_H5(space = H5Screate_simple(ndim, dims, NULL));
    FD_CHECK_H5(dset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    FD_CHECK_H5(H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
    FD_CHECK_H5(H5Dclose(dset));
    FD_CHECK_H5(H5Sclose(space));
}

static void write_tensors(hid_t file, const char *group, const fd_params *p, const float *buffer)
{
    hid_t g;
    FD_CHECK_H5(g = H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    for (int id = 0; id < p->n_tensors; id++) {
        const fd_tensor *t = &p->tensors[id];
        hsize_t dims[FD_TENSOR_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        write(g, t->name, H5T_NATIVE_FLOAT, t->ndim, dims, buffer + t->offset);
    }
    FD_CHECK_H5(H5Gclose(g));
}

static void write_attr_double(hid_t file, const char *name, double v)
{
    hid_t space, attr;
    FD_CHECK_H5(space = H5Screate(H5S_SCALAR));
    FD_CHECK_H5(attr = H5Acreate2(file, name, H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT));
    FD_CHECK_H5(H5Awrite(attr, H5T_NATIVE_DOUBLE, &v));
    FD_CHECK_H5(H5Aclose(attr));
    FD_CHECK_H5(H5Sclose(space));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: export_unet OUT.h5\n");
        return 2;
    }
    fd_blas_init();
    fd_model_config mc = {.kind = FD_MODEL_UNET, .unet = fd_unet_default_config()};
    mc.unet.n_classes = CLASSES;
    mc.unet.n_clients = CLIENTS;
    fd_model *m = fd_model_create(&mc);
    fd_model_init(m, 2024);
    fd_diffusion diff;
    fd_diffusion_init(&diff, FD_SCHEDULE_LINEAR, 1000);

    const size_t n = m->sample_size, total = n * BATCH;
    float *x0 = fd_malloc(sizeof(float) * total), *noise = fd_malloc(sizeof(float) * total);
    int t[BATCH] = {0, 123, 577, 999}, y[BATCH] = {3, 0, 9, 3}, client[BATCH] = {0, 2, 1, 2};
    fd_rng s = fd_rng_stream(7, FD_RNG_TEST, 0, 0, 0);
    fd_rng_fill_uniform(&s, 0, total, x0);
    for (size_t i = 0; i < total; i++) x0[i] = 2.0f * x0[i] - 1.0f;
    s.step = 1;
    fd_rng_fill_normal(&s, 0, total, noise);

    hid_t file;
    FD_CHECK_H5(file = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    write_tensors(file, "init", &m->params, m->params.data);
    hsize_t img[4] = {BATCH, 28, 28, 1}, b1[1] = {BATCH}, one[1] = {1};
    write(file, "x0", H5T_NATIVE_FLOAT, 4, img, x0);
    write(file, "noise", H5T_NATIVE_FLOAT, 4, img, noise);
    write(file, "t", H5T_NATIVE_INT, 1, b1, t);
    write(file, "y", H5T_NATIVE_INT, 1, b1, y);
    write(file, "client", H5T_NATIVE_INT, 1, b1, client);
    write_attr_double(file, "lr", LR);
    write_attr_double(file, "weight_decay", WEIGHT_DECAY);
    write_attr_double(file, "clip", CLIP);
    write_attr_double(file, "steps", STEPS);

    fd_adamw_config adamw = fd_adamw_defaults();
    adamw.lr = LR;
    adamw.weight_decay = WEIGHT_DECAY;
    for (int step = 1; step <= STEPS; step++) {
        fd_params_zero_grad(&m->params);
        float loss = fd_diffusion_loss_and_grad(&diff, m, x0, t, noise, y, client, BATCH);
        if (step == 1) {
            write(file, "pred", H5T_NATIVE_FLOAT, 4, img, diff.pred);
            write(file, "loss", H5T_NATIVE_FLOAT, 1, one, &loss);
            write_tensors(file, "grad", &m->params, m->params.grad);
        }
        fd_clip_grad_norm(m->params.grad, m->params.count, CLIP);
        fd_params_adamw_step(&m->params, (1u << FD_PART_COUNT) - 1, &adamw, step);
    }
    write_tensors(file, "after", &m->params, m->params.data);
    FD_CHECK_H5(H5Fclose(file));
    printf("wrote %s (%zu parameters)\n", argv[1], m->params.count);
    free(x0);
    free(noise);
    fd_diffusion_free(&diff);
    fd_model_free(m);
    return 0;
}
