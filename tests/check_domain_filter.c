/* Unit tests for domain_filter: Domain / IgnoreSelected semantics. */
#include "domain_filter.h"

#include "check_run.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

static domain_filter_t *make(const char *const *entries, bool invert) {
  domain_filter_t *f = domain_filter_create();
  ck_assert_ptr_nonnull(f);
  for (; entries && *entries; entries++)
    ck_assert_int_eq(domain_filter_add(f, *entries, NULL, 0), 0);
  domain_filter_set_invert(f, invert);
  return f;
}

START_TEST(test_empty_selects_all) {
  domain_filter_t *f = make(NULL, false);
  ck_assert(domain_filter_selects(f, "anything"));
  domain_filter_set_invert(f, true); /* nothing listed: nothing ignored */
  ck_assert(domain_filter_selects(f, "anything"));
  ck_assert(domain_filter_selects(NULL, "x"));
  domain_filter_destroy(f);
}
END_TEST

START_TEST(test_exact_and_regex) {
  const char *entries[] = {"test", "/^odd/", NULL};
  domain_filter_t *f = make(entries, false);
  ck_assert(domain_filter_selects(f, "test"));
  ck_assert(!domain_filter_selects(f, "test2")); /* exact, not prefix */
  ck_assert(!domain_filter_selects(f, "Test"));
  ck_assert(domain_filter_selects(f, "odd name"));
  ck_assert(!domain_filter_selects(f, "not odd"));
  domain_filter_set_invert(f, true);
  ck_assert(!domain_filter_selects(f, "test"));
  ck_assert(!domain_filter_selects(f, "odd name"));
  ck_assert(domain_filter_selects(f, "other"));
  domain_filter_destroy(f);
}
END_TEST

START_TEST(test_slash_names) {
  /* "/" alone and "a/b" are names, not regexes. */
  const char *entries[] = {"/", "a/b", NULL};
  domain_filter_t *f = make(entries, false);
  ck_assert(domain_filter_selects(f, "/"));
  ck_assert(domain_filter_selects(f, "a/b"));
  ck_assert(!domain_filter_selects(f, "ab"));
  domain_filter_destroy(f);
}
END_TEST

START_TEST(test_bad_entries) {
  domain_filter_t *f = domain_filter_create();
  char err[128];
  ck_assert_int_eq(domain_filter_add(f, "/[/", err, sizeof(err)), -EINVAL);
  ck_assert_str_ne(err, "");
  ck_assert_int_eq(domain_filter_add(f, "/a(/", err, sizeof(err)), -EINVAL);
  ck_assert_int_eq(domain_filter_add(f, "", err, sizeof(err)), -EINVAL);
  /* Nothing was added: all still selected. */
  ck_assert(domain_filter_selects(f, "x"));
  domain_filter_destroy(f);
  domain_filter_destroy(NULL);
}
END_TEST

int main(void) {
  Suite *s = suite_create("domain_filter");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_empty_selects_all);
  tcase_add_test(tc, test_exact_and_regex);
  tcase_add_test(tc, test_slash_names);
  tcase_add_test(tc, test_bad_entries);
  suite_add_tcase(s, tc);
  return check_run(s);
}
