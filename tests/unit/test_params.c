/* The parameter arena: each part one contiguous range, tensors inside their part's range,
 * no overlaps, names and decay flags. */
#include <stdlib.h>
#include <string.h>

#include "feddiff/params.h"
#include "testutil.h"

static void declare_mixed(fd_params *p)
{
    /* Declared out of part order on purpose. */
    fd_params_declare(p, "down.0.weight", FD_PART_ENC, 4, (int[]){8, 4, 3, 3});
    fd_params_declare(p, "up.0.bias", FD_PART_DEC, 1, (int[]){5});
    fd_params_declare(p, "temb.0.weight", FD_PART_TEMB, 2, (int[]){16, 8});
    fd_params_declare(p, "mid.norm.weight", FD_PART_MID, 1, (int[]){8});
    fd_params_declare(p, "down.0.bias", FD_PART_ENC, 1, (int[]){8});
    fd_params_declare(p, "temb.0.bias", FD_PART_TEMB, 1, (int[]){16});
    fd_params_declare(p, "up.0.weight", FD_PART_DEC, 4, (int[]){5, 8, 1, 1});
}

static void test_parts_are_contiguous_ranges(void **state)
{
    (void)state;
    fd_params p;
    fd_params_init(&p);
    declare_mixed(&p);
    fd_params_finalize(&p);

    assert_int_equal(p.n_tensors, 7);
    assert_int_equal(p.count, 288 + 5 + 128 + 8 + 8 + 16 + 40);
    size_t expect_offset = 0;
    for (int part = 0; part < FD_PART_COUNT; part++) {
        assert_int_equal(p.parts[part].offset, expect_offset);
        size_t in_part = 0;
        for (int id = 0; id < p.n_tensors; id++) {
            const fd_tensor *t = fd_params_tensor(&p, id);
            if ((int)t->part != part) continue;
            in_part += t->count;
            assert_true(t->offset >= p.parts[part].offset);
            assert_true(t->offset + t->count <= p.parts[part].offset + p.parts[part].count);
        }
        assert_int_equal(in_part, p.parts[part].count);
        expect_offset += p.parts[part].count;
    }
    assert_int_equal(expect_offset, p.count);

    /* No two tensors overlap: mark every float once. */
    unsigned char *seen = calloc(p.count, 1);
    assert_non_null(seen);
    for (int id = 0; id < p.n_tensors; id++) {
        const fd_tensor *t = fd_params_tensor(&p, id);
        for (size_t i = 0; i < t->count; i++) {
            assert_int_equal(seen[t->offset + i], 0);
            seen[t->offset + i] = 1;
        }
    }
    free(seen);

    /* Within a part, declaration order is kept. */
    int enc_w = fd_params_find(&p, "down.0.weight"), enc_b = fd_params_find(&p, "down.0.bias");
    assert_true(fd_params_tensor(&p, enc_w)->offset < fd_params_tensor(&p, enc_b)->offset);
    fd_params_free(&p);
}

static void test_lookup_ranges_and_flags(void **state)
{
    (void)state;
    fd_params p;
    fd_params_init(&p);
    declare_mixed(&p);
    fd_params_finalize(&p);

    int id = fd_params_find(&p, "temb.0.weight");
    assert_int_equal(id, 2);
    assert_int_equal(fd_params_find(&p, "nope"), -1);
    const fd_tensor *t = fd_params_tensor(&p, id);
    assert_string_equal(t->name, "temb.0.weight");
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 16);
    assert_int_equal(t->shape[1], 8);
    assert_true(t->decay);
    assert_false(fd_params_tensor(&p, fd_params_find(&p, "temb.0.bias"))->decay);
    assert_ptr_equal(fd_params_data(&p, id), p.data + t->offset);
    assert_ptr_equal(fd_params_grad(&p, id), p.grad + t->offset);

    fd_range mid_dec = fd_params_range(&p, 1u << FD_PART_MID | 1u << FD_PART_DEC);
    assert_int_equal(mid_dec.offset, p.parts[FD_PART_MID].offset);
    assert_int_equal(mid_dec.count, p.parts[FD_PART_MID].count + p.parts[FD_PART_DEC].count);
    fd_range all = fd_params_range(&p, (1u << FD_PART_COUNT) - 1);
    assert_int_equal(all.offset, 0);
    assert_int_equal(all.count, p.count);

    for (size_t i = 0; i < p.count; i++) p.grad[i] = 1.0f;
    fd_params_zero_grad(&p);
    for (size_t i = 0; i < p.count; i++) assert_true(p.grad[i] == 0.0f);

    assert_int_equal(fd_part_from_name("mid"), FD_PART_MID);
    assert_int_equal(fd_part_from_name("middle"), -1);
    assert_string_equal(fd_part_name(FD_PART_DEC), "dec");
    fd_params_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts_are_contiguous_ranges),
        cmocka_unit_test(test_lookup_ranges_and_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
