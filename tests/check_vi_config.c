/* Unit tests for vi_config's TimeBy option: the forms it accepts and the
 * one error line for each bad one (through collectd's symbols from
 * collectd_stub). */
#include "vi_config.h"

#include "collectd_stub.h"

#include "check_run.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define FLAVOR                                                                 \
  "/domain/metadata/*[local-name()='instance']/*[local-name()='flavor']/@name"

/* Adds `TimeBy "a"` or `TimeBy "a" "b"` (b NULL: one value). */
static void add_time_by(oconfig_item_t *blk, const char *a, const char *b) {
  if (b == NULL)
    stub_block_add_string(blk, "TimeBy", a);
  else
    stub_block_add_strings(blk, "TimeBy", a, b);
}

START_TEST(test_accepted) {
  stub_clear();
  oconfig_item_t *blk = stub_block_new();
  add_time_by(blk, "vcpus", NULL);
  add_time_by(blk, "memory", NULL);
  add_time_by(blk, "flavor", FLAVOR);
  add_time_by(blk, "kernel", "string(/domain/os/kernel)");
  vi_config_t c;
  vi_config_init(&c);
  ck_assert_int_eq(vi_config_read(&c, blk), 0);
  ck_assert_uint_eq(c.ntimeby, 4);
  ck_assert_int_eq(c.timeby[0].kind, VI_TIMEBY_VCPUS);
  ck_assert_str_eq(c.timeby[0].name, "vcpus");
  ck_assert_int_eq(c.timeby[1].kind, VI_TIMEBY_MEMORY);
  ck_assert_int_eq(c.timeby[2].kind, VI_TIMEBY_XPATH);
  ck_assert_str_eq(c.timeby[2].name, "flavor");
  ck_assert_ptr_nonnull(c.timeby[2].path);
  ck_assert_ptr_nonnull(c.timeby[3].path);
  ck_assert_int_eq(stub_log_count(-1, ""), 0);
  vi_config_free(&c);
  ck_assert_uint_eq(c.ntimeby, 0);
  stub_block_free(blk);
}
END_TEST

static const struct {
  const char *a, *b;
  const char *log;
} bad[] = {
    {"flavor", "/domain/[",
     "option \"TimeBy\" \"flavor\" \"/domain/[\": not "
     "an XPath 1.0 expression"},
    {"flavor", "nova:flavor/@name", "\"nova:flavor/@name\": not an XPath"},
    {"flavor", "nosuchfunction()", "not an XPath 1.0 expression"},
    {"flavor", NULL,
     "option \"TimeBy\" \"flavor\": an XPath expression is "
     "needed"},
    {"vcpus", "/domain/vcpu",
     "option \"TimeBy\" \"vcpus\": \"vcpus\" and "
     "\"memory\" are built in"},
    {"Flavor", FLAVOR, "option \"TimeBy\" \"Flavor\": expected \"vcpus\""},
    {"a=b", FLAVOR, "option \"TimeBy\" \"a=b\": expected"},
    {"", FLAVOR, "option \"TimeBy\" \"\": expected"},
    {"abcdefghijklmnopqrstuvwxy", FLAVOR, "expected \"vcpus\""},
};

START_TEST(test_bad) {
  stub_clear();
  oconfig_item_t *blk = stub_block_new();
  add_time_by(blk, bad[_i].a, bad[_i].b);
  vi_config_t c;
  vi_config_init(&c);
  ck_assert_int_eq(vi_config_read(&c, blk), -1);
  if (stub_log_count(LOG_ERR, bad[_i].log) != 1)
    stub_log_dump();
  ck_assert_int_eq(stub_log_count(LOG_ERR, bad[_i].log), 1);
  ck_assert_int_eq(stub_log_count(-1, ""), 1);
  vi_config_free(&c);
  stub_block_free(blk);
}
END_TEST

START_TEST(test_duplicate_and_limit) {
  stub_clear();
  oconfig_item_t *blk = stub_block_new();
  add_time_by(blk, "vcpus", NULL);
  add_time_by(blk, "flavor", FLAVOR);
  add_time_by(blk, "flavor", "/domain/name");
  vi_config_t c;
  vi_config_init(&c);
  ck_assert_int_eq(vi_config_read(&c, blk), -1);
  ck_assert_int_eq(stub_log_count(LOG_ERR, "option \"TimeBy\" \"flavor\": this "
                                           "name is already used"),
                   1);
  vi_config_free(&c);
  stub_block_free(blk);

  stub_clear();
  blk = stub_block_new();
  char name[16];
  for (int i = 0; i <= AT_ATTRS_MAX; i++) {
    snprintf(name, sizeof(name), "a%d", i);
    add_time_by(blk, name, "/domain/name");
  }
  vi_config_init(&c);
  ck_assert_int_eq(vi_config_read(&c, blk), -1);
  ck_assert_int_eq(stub_log_count(LOG_ERR, "too many TimeBy"), 1);
  ck_assert_uint_eq(c.ntimeby, AT_ATTRS_MAX);
  vi_config_free(&c);
  stub_block_free(blk);
}
END_TEST

int main(void) {
  Suite *s = suite_create("vi_config");
  TCase *tc = tcase_create("time_by");
  tcase_add_test(tc, test_accepted);
  tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
  tcase_add_test(tc, test_duplicate_and_limit);
  suite_add_tcase(s, tc);
  return check_run(s);
}
