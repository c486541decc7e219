/* Config files: defaults, round trip through the INI dump, overrides, and one-line errors
 * that name the file, line and key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feddiff/config.h"
#include "feddiff/error.h"
#include "testutil.h"

static char *write_temp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/feddiff-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults_match_design(void **state)
{
    (void)state;
    fd_config c;
    fd_config_defaults(&c);
    assert_int_equal(c.model.width, 32);
    assert_int_equal(c.model.n_mults, 3);
    assert_int_equal(c.model.mults[2], 2);
    assert_int_equal(c.model.n_attention, 1);
    assert_int_equal(c.model.attention[0], 7);
    assert_int_equal(c.diffusion.steps, 1000);
    assert_string_equal(c.diffusion.schedule, "linear");
    assert_true(c.train.ema_decay == 0.9999);
    assert_int_equal(fd_config_validate(&c), 0);
}

static void test_round_trip_through_ini(void **state)
{
    (void)state;
    fd_config a, b;
    fd_config_defaults(&a);
    assert_int_equal(fd_config_set(&a, "train.lr=0.000123456789", "--set"), 0);
    assert_int_equal(fd_config_set(&a, "model.mults=1,2,4,8", "--set"), 0);
    assert_int_equal(fd_config_set(&a, "run.seed=18446744073709551615", "--set"), 0);
    assert_int_equal(fd_config_set(&a, "model.classes=true", "--set"), 0);
    assert_int_equal(fd_config_set(&a, "fed.method=usplit", "--set"), 0);
    char *text = fd_config_to_string(&a);
    char *path = write_temp(text);
    fd_config_defaults(&b);
    assert_int_equal(fd_config_load(&b, path), 0);
    unlink(path);
    char *again = fd_config_to_string(&b);
    assert_string_equal(text, again);
    assert_true(b.train.lr == 0.000123456789);
    assert_int_equal(b.model.n_mults, 4);
    assert_int_equal(b.model.mults[3], 8);
    assert_true(b.run.seed == UINT64_MAX);
    assert_true(b.model.classes);
    free(text);
    free(again);
}

static void test_unknown_key_suggests_closest(void **state)
{
    (void)state;
    fd_config c;
    fd_config_defaults(&c);
    char *path = write_temp("[train]\nbatch = 32\nlrr = 0.1\n");
    assert_int_equal(fd_config_load(&c, path), -1);
    const char *msg = fd_last_error();
    assert_non_null(strstr(msg, path));
    assert_non_null(strstr(msg, ":3:"));
    assert_non_null(strstr(msg, "unknown key 'train.lrr'"));
    assert_non_null(strstr(msg, "did you mean 'train.lr'"));
    assert_null(strchr(msg, '\n'));
    unlink(path);

    assert_int_equal(fd_config_set(&c, "model.batch=3", "--set"), -1);
    assert_non_null(strstr(fd_last_error(), "did you mean 'train.batch'"));
    assert_int_equal(fd_config_set(&c, "nothing.like.this=1", "--set"), -1);
    assert_non_null(strstr(fd_last_error(), "--set"));
}

static void test_bad_values_are_rejected(void **state)
{
    (void)state;
    fd_config c;
    fd_config_defaults(&c);
    const char *bad[] = {"train.lr=fast",     "train.batch=0",         "train.batch=12x",
                         "model.classes=maybe", "fed.method=fedprox",  "model.mults=3,,x",
                         "run.seed=-1",       "partition.alpha=nan",   "diffusion.steps=1",
                         "train.lr"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (fd_config_set(&c, bad[i], "--set") != -1) fail_msg("accepted '%s'", bad[i]);
        const char *msg = fd_last_error();
        assert_null(strchr(msg, '\n'));
    }
    assert_int_equal(fd_config_set(&c, "fed.method=fedprox", "--set"), -1);
    assert_non_null(strstr(fd_last_error(), "full|udec"));
    /* Nothing was changed by the rejected values. */
    fd_config d;
    fd_config_defaults(&d);
    assert_memory_equal(&c, &d, sizeof c);

    char *path = write_temp("[model]\nwidth = 32\nthis is not ini\n");
    assert_int_equal(fd_config_load(&c, path), -1);
    assert_non_null(strstr(fd_last_error(), ":3: syntax error"));
    unlink(path);
    assert_int_equal(fd_config_load(&c, "/nonexistent/feddiff.ini"), -1);
    assert_non_null(strstr(fd_last_error(), "/nonexistent/feddiff.ini"));
}

static void test_cross_key_validation(void **state)
{
    (void)state;
    fd_config c;
    fd_config_defaults(&c);
    assert_int_equal(fd_config_set(&c, "model.groups=6", "--set"), 0);
    assert_int_equal(fd_config_validate(&c), -1);
    assert_non_null(strstr(fd_last_error(), "model.groups"));
    fd_config_defaults(&c);
    assert_int_equal(fd_config_set(&c, "diffusion.sample_steps=2000", "--set"), 0);
    assert_int_equal(fd_config_validate(&c), -1);
    assert_non_null(strstr(fd_last_error(), "diffusion.sample_steps"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_design),
        cmocka_unit_test(test_round_trip_through_ini),
        cmocka_unit_test(test_unknown_key_suggests_closest),
        cmocka_unit_test(test_bad_values_are_rejected),
        cmocka_unit_test(test_cross_key_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
