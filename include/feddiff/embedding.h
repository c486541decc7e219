/* Embeddings: the sinusoidal timestep embedding of DDPM and learned lookup tables (class and
 * client embeddings). */
#ifndef FEDDIFF_EMBEDDING_H
#define FEDDIFF_EMBEDDING_H

/* out [B][D] (D even, half = D/2 >= 2): out[b][i] = sin(t[b] f_i), out[b][half + i] =
 * cos(t[b] f_i), f_i = exp(-ln(10000) i / (half - 1)), as in the DDPM reference code. t f_i
 * is formed in double and only sin/cos are rounded to float (t up to 1000 keeps ~1e-7
 * accuracy where a float argument would lose ~3e-5). */
void fd_timestep_embedding_forward(float *out, const float *t, int B, int D);
/* dt [B] += d out / d t (t treated as continuous). */
void fd_timestep_embedding_backward(float *dt, const float *dout, const float *t, int B, int D);

/* out [B][D] = table[ids[b]] (table rows of width D; 0 <= ids[b] < the table's rows). */
void fd_embedding_forward(float *out, const float *table, const int *ids, int B, int D);
/* dtable[ids[b]] += dout[b] (rows repeated in ids accumulate). */
void fd_embedding_backward(float *dtable, const float *dout, const int *ids, int B, int D);

#endif
