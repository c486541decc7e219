/* Generated samples in HDF5 (written by feddiff train and sample, read by feddiff eval): /samples [n][h][w][c] float32 in [-1, 1] (NHWC) or [n][dim] for
 * vectors, with the conditions they were drawn for and the run's config as attributes. */
#ifndef FEDDIFF_SAMPLES_H
#define FEDDIFF_SAMPLES_H

#include "feddiff/config.h"

typedef struct {
    int n;
    int ndim;    /* 4 for images [n][h][w][c], 2 for vectors [n][dim] */
    int dims[4]; /* dims[0] = n */
    const float *data;
    const int *labels;  /* [n] class of each sample, or NULL */
    const int *clients; /* [n] client of each sample, or NULL */
    const char *checkpoint; /* the model they came from */
    const char *sampler;    /* e.g. "ddim, 100 steps" */
} fd_sample_batch;

/* Serial write (one process), temporary name then rename. 0, or -1 with a message. */
int fd_samples_write(const char *path, const fd_sample_batch *s, const fd_config *cfg);

/* A samples file read back. */
typedef struct {
    int n;
    int ndim, dims[4]; /* as fd_sample_batch */
    float *data;       /* [n][...] */
    int *labels;       /* [n], or NULL when the file has none */
    int *clients;      /* [n], or NULL */
    char *config;      /* the run's configuration (INI text) */
    char *checkpoint;  /* the model they came from */
    char *sampler;
} fd_sample_file;

/* 0, or -1 with a message naming the file. */
int fd_samples_read(const char *path, fd_sample_file *s);
void fd_sample_file_free(fd_sample_file *s);

#endif
