/* The pieces of a federated round that need no MPI: which clients a round draws, usplit's
 * pairs, the part masks of each method, the rank map, and the server updates. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/aggregate.h"
#include "feddiff/params.h"
#include "feddiff/rank_map.h"
#include "feddiff/strategy.h"

static void test_sampled_clients_are_distinct_sorted_and_seeded(void **state)
{
    (void)state;
    int a[100], b[100], c[100];
    const int k = fd_strategy_sample_clients(a, 100, 0.1, 7, 3);
    assert_int_equal(k, 10);
    for (int i = 1; i < k; i++) assert_true(a[i] > a[i - 1]);
    for (int i = 0; i < k; i++) assert_true(a[i] >= 0 && a[i] < 100);
    assert_int_equal(fd_strategy_sample_clients(b, 100, 0.1, 7, 3), 10);
    assert_memory_equal(a, b, sizeof(int) * 10);
    fd_strategy_sample_clients(c, 100, 0.1, 7, 4); /* another round, another draw */
    assert_memory_not_equal(a, c, sizeof(int) * 10);
    assert_int_equal(fd_strategy_sample_clients(a, 100, 25, 7, 0), 25); /* a count */
    assert_int_equal(fd_strategy_sample_clients(a, 5, 1.0, 7, 0), 5);
    assert_int_equal(fd_strategy_sample_clients(a, 5, 0.01, 7, 0), 1); /* at least one */
    assert_int_equal(fd_strategy_sample_clients(a, 5, 50, 7, 0), 5);   /* at most all */
}

static void test_sampling_is_uniform(void **state)
{
    (void)state;
    enum { N = 20, ROUNDS = 4000 };
    int hits[N] = {0}, out[N];
    for (int r = 0; r < ROUNDS; r++) {
        int k = fd_strategy_sample_clients(out, N, 5, 1, (uint32_t)r);
        for (int i = 0; i < k; i++) hits[out[i]]++;
    }
    /* Each client is drawn with probability 1/4: 1000 expected, sd about 27. */
    for (int c = 0; c < N; c++) assert_true(abs(hits[c] - ROUNDS / 4) < 150);
}

static void test_method_masks(void **state)
{
    (void)state;
    const unsigned T = 1u << FD_PART_TEMB, E = 1u << FD_PART_ENC, M = 1u << FD_PART_MID,
                   D = 1u << FD_PART_DEC;
    assert_int_equal(fd_strategy_shared_parts(FD_FED_FULL), T | E | M | D);
    assert_int_equal(fd_strategy_local_parts(FD_FED_FULL), 0);
    assert_int_equal(fd_strategy_shared_parts(FD_FED_UDEC), D);
    assert_int_equal(fd_strategy_local_parts(FD_FED_UDEC), T | E | M);
    assert_int_equal(fd_strategy_shared_parts(FD_FED_ULATDEC), M | D);
    assert_int_equal(fd_strategy_shared_parts(FD_FED_USPLIT), T | E | M | D);
    assert_int_equal(fd_strategy_shared_parts(FD_FED_LOCAL), 0);
    for (int m = 0; m <= FD_FED_CENTRAL; m++)
        assert_int_equal(fd_fed_method_from_name(fd_fed_method_name((enum fd_fed_method)m)), m);
    assert_int_equal(fd_fed_method_from_name("fedprox"), -1);
}

static void test_usplit_pairs_send_complementary_halves(void **state)
{
    (void)state;
    const unsigned first = 1u << FD_PART_TEMB | 1u << FD_PART_ENC | 1u << FD_PART_MID;
    const unsigned second = 1u << FD_PART_DEC;
    unsigned up[9];
    for (int k = 1; k <= 9; k++) {
        fd_strategy_upload_parts(up, k, FD_FED_USPLIT, 3, 0);
        int n_first = 0, n_second = 0;
        for (int i = 0; i < k; i++) {
            assert_true(up[i] == first || up[i] == second);
            n_first += up[i] == first;
            n_second += up[i] == second;
        }
        assert_true(abs(n_first - n_second) == k % 2);
    }
    unsigned a[8], b[8];
    fd_strategy_upload_parts(a, 8, FD_FED_USPLIT, 3, 0);
    fd_strategy_upload_parts(b, 8, FD_FED_USPLIT, 3, 1);
    assert_memory_not_equal(a, b, sizeof a); /* new pairs every round */
    fd_strategy_upload_parts(a, 4, FD_FED_UDEC, 3, 0);
    for (int i = 0; i < 4; i++) assert_int_equal(a[i], second);
}

static void test_rank_map_balances_and_is_deterministic(void **state)
{
    (void)state;
    enum { N = 37, R = 4 };
    double cost[N], total = 0, max_cost = 0;
    for (int c = 0; c < N; c++) {
        cost[c] = 1 + (c * 7919) % 13;
        total += cost[c];
        max_cost = cost[c] > max_cost ? cost[c] : max_cost;
    }
    fd_rank_map map, again;
    fd_rank_map_build(&map, cost, N, R);
    fd_rank_map_build(&again, cost, N, R);
    assert_memory_equal(map.owner, again.owner, sizeof(int) * N);
    double load[R] = {0};
    int count = 0, ids[N];
    for (int c = 0; c < N; c++) load[map.owner[c]] += cost[c];
    for (int r = 0; r < R; r++) {
        assert_true(load[r] == map.load[r]);
        assert_true(load[r] <= total / R + max_cost); /* LPT: within one client of even */
        int n = fd_rank_map_clients(&map, r, ids);
        for (int i = 1; i < n; i++) assert_true(ids[i] > ids[i - 1]);
        count += n;
    }
    assert_int_equal(count, N);
    fd_rank_map_free(&map);
    fd_rank_map_free(&again);
}

/* An arena of four parts, one tensor of 2 values each. */
static void make_params(fd_params *p)
{
    fd_params_init(p);
    const int shape[1] = {2};
    fd_params_declare(p, "t", FD_PART_TEMB, 1, shape);
    fd_params_declare(p, "e", FD_PART_ENC, 1, shape);
    fd_params_declare(p, "m", FD_PART_MID, 1, shape);
    fd_params_declare(p, "d", FD_PART_DEC, 1, shape);
    fd_params_finalize(p);
}

static void test_server_updates(void **state)
{
    (void)state;
    fd_params p;
    make_params(&p);
    fd_aggregator a;
    fd_aggregator_init(&a, &p, 1u << FD_PART_MID | 1u << FD_PART_DEC);
    /* Two clients: weights 1 and 3; client A sends mid and dec, client B only dec. */
    const float xa[8] = {9, 9, 9, 9, 1, 2, 4, 8}, xb[8] = {9, 9, 9, 9, 0, 0, 0, 4};
    fd_aggregator_zero(&a);
    fd_aggregator_add(&a, xa, 1u << FD_PART_MID | 1u << FD_PART_DEC, 1.0);
    fd_aggregator_add(&a, xb, 1u << FD_PART_DEC, 3.0);
    assert_true(fd_aggregator_weight(&a, FD_PART_MID) == 1.0);
    assert_true(fd_aggregator_weight(&a, FD_PART_DEC) == 4.0);

    float g[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    fd_server_opt avg;
    fd_server_opt_init(&avg, FD_SERVER_FEDAVG, 1.0, 8);
    assert_int_equal(fd_server_apply(&avg, g, &a), 1u << FD_PART_MID | 1u << FD_PART_DEC);
    const float want[8] = {0, 0, 0, 0, 1, 2, 1, 5}; /* mid from A alone; dec (4+0)/4, (8+12)/4 */
    assert_memory_equal(g, want, sizeof g);         /* temb, enc: not exchanged, untouched */

    /* FedAdam, first step from g = 0: m = 0.1 d, v = 0.01 d^2, step lr m / (sqrt v + tau). */
    float h[8] = {0};
    fd_server_opt adam;
    fd_server_opt_init(&adam, FD_SERVER_FEDADAM, 0.5, 8);
    fd_server_apply(&adam, h, &a);
    for (int i = 4; i < 8; i++) {
        double d = want[i], expect = 0.5 * 0.1 * d / (sqrt(0.01 * d * d) + 1e-3);
        assert_true(fabs(h[i] - expect) < 1e-6);
    }
    /* FedYogi from v = 0: v = 0 - 0.01 d^2 sign(0 - d^2) = 0.01 d^2, the same first step. */
    float y[8] = {0};
    fd_server_opt yogi;
    fd_server_opt_init(&yogi, FD_SERVER_FEDYOGI, 0.5, 8);
    fd_server_apply(&yogi, y, &a);
    assert_memory_equal(y, h, sizeof y);
    /* A second step tells them apart: Adam's v decays, Yogi's grows additively. */
    fd_server_apply(&adam, h, &a);
    fd_server_apply(&yogi, y, &a);
    assert_memory_not_equal(y, h, sizeof y);

    fd_server_opt_free(&avg);
    fd_server_opt_free(&adam);
    fd_server_opt_free(&yogi);
    fd_aggregator_free(&a);
    fd_params_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampled_clients_are_distinct_sorted_and_seeded),
        cmocka_unit_test(test_sampling_is_uniform),
        cmocka_unit_test(test_method_masks),
        cmocka_unit_test(test_usplit_pairs_send_complementary_halves),
        cmocka_unit_test(test_rank_map_balances_and_is_deterministic),
        cmocka_unit_test(test_server_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
