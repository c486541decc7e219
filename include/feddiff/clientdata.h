/* The samples of the clients a rank simulates, and nothing else.
 *
 * Every rank builds the same partition from the labels (partition.h), then loads only the
 * samples of its own clients: memory is the rank's share of the dataset, as bytes for images
 * (uint8 NHWC; convert to float per minibatch), so it does not grow with ranks x dataset.
 * For a real dataset the IDX file is streamed once; built-in samples are generated directly.
 *
 * Layout: the clients in the order given, each with its train samples then its test samples, in
 * the partition's (ascending dataset) order: client j's train samples are local samples
 * [clients[j].first, clients[j].first + n_train), its test samples the n_test after them. */
#ifndef FEDDIFF_CLIENTDATA_H
#define FEDDIFF_CLIENTDATA_H

#include <stddef.h>
#include <stdint.h>

#include "feddiff/dataset.h"
#include "feddiff/partition.h"

typedef struct {
    int client;   /* global client id */
    size_t first; /* local index of its first train sample */
    size_t n_train, n_test;
} fd_client_slice;

typedef struct {
    int n_clients;
    fd_client_slice *clients;    /* [n_clients] */
    size_t count;                /* samples held */
    size_t sample_size;          /* bytes per image, or floats per vector */
    int height, width, channels; /* images; 0 for vector data */
    int dim;                     /* vector data; 0 for images */
    uint8_t *images;             /* [count][height][width][channels], or NULL */
    float *vectors;              /* [count][dim], or NULL */
    uint8_t *labels;             /* [count] */
    uint32_t *index;             /* [count] each sample's index in the dataset split */
} fd_client_data;

/* Load the train and test samples of clients[0..n_clients) (distinct ids < p->n_clients) from
 * the split the partition was built on. -1 with an error on a bad file or client id. */
int fd_client_data_load(fd_client_data *cd, const fd_dataset *ds, const fd_partition *p,
                        const int *clients, int n_clients);
void fd_client_data_free(fd_client_data *cd);

/* The local sample i: an image of sample_size bytes or a vector of sample_size floats. */
static inline const uint8_t *fd_client_image(const fd_client_data *cd, size_t i)
{
    return cd->images + i * cd->sample_size;
}
static inline const float *fd_client_vector(const fd_client_data *cd, size_t i)
{
    return cd->vectors + i * cd->sample_size;
}

#endif
