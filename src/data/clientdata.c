#include "feddiff/clientdata.h"

#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"

void fd_client_data_free(fd_client_data *cd)
{
    free(cd->clients);
    free(cd->images);
    free(cd->vectors);
    free(cd->labels);
    free(cd->index);
    memset(cd, 0, sizeof *cd);
}

int fd_client_data_load(fd_client_data *cd, const fd_dataset *ds, const fd_partition *p,
                        const int *clients, int n_clients)
{
    memset(cd, 0, sizeof *cd);
    if (p->n_samples != ds->count) {
        fd_set_error("%s: the partition covers %zu samples but the split holds %zu", ds->name,
                     p->n_samples, ds->count);
        return -1;
    }
    unsigned char *seen = fd_calloc((size_t)p->n_clients, 1);
    size_t count = 0;
    for (int j = 0; j < n_clients; j++) {
        int k = clients[j];
        if (k < 0 || k >= p->n_clients || seen[k]) {
            fd_set_error("client %d: %s (the partition has clients 0..%d)", k,
                         k < 0 || k >= p->n_clients ? "no such client" : "listed twice",
                         p->n_clients - 1);
            free(seen);
            return -1;
        }
        seen[k] = 1;
        count += fd_partition_train_count(p, k) + fd_partition_test_count(p, k);
    }
    free(seen);

    cd->n_clients = n_clients;
    cd->clients = fd_malloc((size_t)n_clients * sizeof *cd->clients);
    cd->count = count;
    cd->sample_size = fd_dataset_sample_size(ds);
    cd->height = ds->height;
    cd->width = ds->width;
    cd->channels = ds->channels;
    cd->dim = ds->dim;
    cd->labels = fd_malloc(count);
    cd->index = fd_malloc(count * sizeof *cd->index);
    size_t at = 0;
    for (int j = 0; j < n_clients; j++) {
        int k = clients[j];
        fd_client_slice *s = &cd->clients[j];
        s->client = k;
        s->first = at;
        s->n_train = fd_partition_train_count(p, k);
        s->n_test = fd_partition_test_count(p, k);
        memcpy(cd->index + at, p->train_index + p->train_offset[k], s->n_train * sizeof *cd->index);
        at += s->n_train;
        memcpy(cd->index + at, p->test_index + p->test_offset[k], s->n_test * sizeof *cd->index);
        at += s->n_test;
    }
    for (size_t i = 0; i < count; i++) cd->labels[i] = ds->labels[cd->index[i]];

    int rc;
    if (fd_dataset_is_image(ds)) {
        cd->images = fd_malloc(count * cd->sample_size);
        rc = fd_dataset_read_images(ds, cd->index, count, cd->images);
    } else {
        cd->vectors = fd_malloc(count * cd->sample_size * sizeof(float));
        rc = fd_dataset_read_vectors(ds, cd->index, count, cd->vectors);
    }
    if (rc != 0) fd_client_data_free(cd);
    return rc;
}
