/* fd_sgemm against a naive double twin, for every transposition and both ways of splitting a
 * product over the thread team (the longer side of C), with alpha and beta; and the same bits
 * on one thread and on two, inside a parallel region or not. */
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/blas.h"
#include "testutil.h"

/* C = alpha op(A) op(B) + beta C, row-major, in double. */
static void sgemm_ref(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double sum = 0.0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                sum += a * b;
            }
            C[(size_t)i * ldc + j] = (float)(alpha * sum + beta * C[(size_t)i * ldc + j]);
        }
}

typedef struct {
    int M, N, K;
} shape;

/* Above the 4M multiply-adds from which fd_sgemm uses the team: tall (split M) and wide (split
 * N) products with sizes that are not multiples of the split granule; and a small one. */
static const shape shapes[] = {{333, 151, 97}, {61, 509, 171}, {40, 30, 20}};

static void run_case(const shape *s, bool ta, bool tb, float *C_out, bool check)
{
    const int M = s->M, N = s->N, K = s->K;
    /* Leading dimensions with padding, so that no stride equals a size by accident. */
    const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 7;
    const size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb,
                 nc = (size_t)M * ldc;
    float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb);
    float *C = malloc(sizeof(float) * nc), *R = malloc(sizeof(float) * nc);
    tu_fill_normal(A, na, 1, 1.0f);
    tu_fill_normal(B, nb, 2, 1.0f);
    tu_fill_normal(C, nc, 3, 1.0f);
    memcpy(R, C, sizeof(float) * nc);
    fd_sgemm(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, -0.5f, C, ldc);
    if (check) {
        sgemm_ref(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, -0.5f, R, ldc);
        char label[64];
        snprintf(label, sizeof label, "%dx%dx%d trans %d%d", M, N, K, ta, tb);
        tu_assert_err_below(tu_rel_err(C, R, nc), 1e-5, label);
    }
    memcpy(C_out, C, sizeof(float) * nc);
    free(A);
    free(B);
    free(C);
    free(R);
}

static void test_sgemm_matches_twin(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int t = 0; t < 4; t++) {
            float *C = malloc(sizeof(float) * (size_t)shapes[i].M * (shapes[i].N + 7));
            run_case(&shapes[i], t & 1, t & 2, C, true);
            free(C);
        }
}

/* Each block of the split reduces over all of K: the bits do not depend on the team. */
static void test_sgemm_thread_count_independent(void **state)
{
    (void)state;
    int saved = omp_get_max_threads();
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int t = 0; t < 4; t++) {
            const size_t nc = (size_t)shapes[i].M * (shapes[i].N + 7);
            float *one = malloc(sizeof(float) * nc), *two = malloc(sizeof(float) * nc),
                  *nested = malloc(sizeof(float) * nc);
            omp_set_num_threads(1);
            run_case(&shapes[i], t & 1, t & 2, one, false);
            omp_set_num_threads(2);
            run_case(&shapes[i], t & 1, t & 2, two, false);
#pragma omp parallel num_threads(2)
            {
#pragma omp single
                run_case(&shapes[i], t & 1, t & 2, nested, false);
            }
            assert_memory_equal(one, two, sizeof(float) * nc);
            assert_memory_equal(one, nested, sizeof(float) * nc);
            free(one);
            free(two);
            free(nested);
        }
    omp_set_num_threads(saved);
}

int main(void)
{
    fd_blas_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgemm_matches_twin),
        cmocka_unit_test(test_sgemm_thread_count_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
