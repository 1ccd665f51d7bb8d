/* Unit tests for instance_name: the domain name -> identifier mapping. */
#include "instance_name.h"

#include "check_run.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define UUID_A "6695eb01-f6a4-8304-79aa-97f2502e193f"
#define UUID_B "0b3d5e2a-1c4f-4d7e-9a8b-7c6d5e4f3a2b"

static const struct {
  const char *name;
  const char *want;
} cases[] = {
    {"instance-0001", "instance-0001"},
    {"web_01.example", "web_01.example"},
    {"my vm", "my%20vm"},
    {"a/b", "a%2Fb"},
    {"caf\xc3\xa9", "caf%C3%A9"},
    {"50%", "50%25"},
    {"~tilde", "%7Etilde"},
    {"quote\"d", "quote%22d"},
    {"", ""},
    /* exactly 63 kept bytes: unchanged */
    {"123456789012345678901234567890123456789012345678901234567890123",
     "123456789012345678901234567890123456789012345678901234567890123"},
    /* 64 bytes: prefix + ~ + uuid */
    {"1234567890123456789012345678901234567890123456789012345678901234",
     "12345678901234567890123456~" UUID_A},
    /* a %XX straddling the prefix end is not cut */
    {"1234567890123456789012345/89012345678901234567890123456789012345678",
     "1234567890123456789012345~" UUID_A},
    {"123456789012345678901234/789012345678901234567890123456789012345678",
     "123456789012345678901234~" UUID_A},
    /* a %XX ending exactly at the prefix limit is kept */
    {"12345678901234567890123/6789012345678901234567890123456789012345678",
     "12345678901234567890123%2F~" UUID_A},
};

START_TEST(test_table) {
  char out[INSTANCE_NAME_MAX + 1];
  size_t n = instance_name_from_domain(cases[_i].name, UUID_A, out);
  ck_assert_str_eq(out, cases[_i].want);
  ck_assert_uint_eq(n, strlen(cases[_i].want));
  ck_assert_uint_le(n, INSTANCE_NAME_MAX);
}
END_TEST

START_TEST(test_long_names_with_shared_prefix_differ) {
  char a[INSTANCE_NAME_MAX + 1], b[INSTANCE_NAME_MAX + 1];
  char na[101], nb[101];
  memset(na, 'x', 100);
  na[100] = '\0';
  memcpy(nb, na, sizeof(na));
  nb[99] = 'y';
  instance_name_from_domain(na, UUID_A, a);
  instance_name_from_domain(nb, UUID_B, b);
  ck_assert_str_ne(a, b);
  ck_assert_uint_eq(strlen(a), INSTANCE_NAME_MAX);
}
END_TEST

/* Every byte value maps to something safe, and distinct short names never
 * collide (the escaping is injective). */
START_TEST(test_all_bytes_safe_and_injective) {
  char seen[255][INSTANCE_NAME_MAX + 1];
  for (int c = 1; c < 256; c++) {
    char name[2] = {(char)c, '\0'};
    instance_name_from_domain(name, UUID_A, seen[c - 1]);
    for (const char *p = seen[c - 1]; *p; p++)
      ck_assert_msg(
          strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 "0123456789._-%",
                 *p) != NULL,
          "byte %d maps to unsafe %s", c, seen[c - 1]);
    for (int d = 1; d < c; d++)
      ck_assert_str_ne(seen[c - 1], seen[d - 1]);
  }
}
END_TEST

/* Attribute values (TimeBy): escaped like names; long ones keep a prefix
 * and a hash, and stay distinct. */
START_TEST(test_value) {
  char out[64];
  ck_assert_uint_eq(instance_name_from_value("m1.small", 40, out), 8);
  ck_assert_str_eq(out, "m1.small");
  instance_name_from_value("a b/c=d", 40, out);
  ck_assert_str_eq(out, "a%20b%2Fc%3Dd");
  instance_name_from_value("", 40, out);
  ck_assert_str_eq(out, "");
  /* 40 bytes fit exactly; 41 do not */
  const char *v40 = "1234567890123456789012345678901234567890";
  ck_assert_uint_eq(instance_name_from_value(v40, 40, out), 40);
  ck_assert_str_eq(out, v40);
  const char *v41 = "12345678901234567890123456789012345678901";
  ck_assert_uint_eq(instance_name_from_value(v41, 40, out), 40);
  ck_assert(strncmp(out, "12345678901234567890123~", 24) == 0);
  char other[64];
  instance_name_from_value("12345678901234567890123456789012345678902", 40,
                           other);
  ck_assert_str_ne(out, other);
  ck_assert(strncmp(other, "12345678901234567890123~", 24) == 0);
  /* a %XX at the cut is not split, and no '~' comes from escaping */
  instance_name_from_value("1234567890123456789012/xxxxxxxxxxxxxxxxxxxxxxxx",
                           40, out);
  ck_assert(strncmp(out, "1234567890123456789012~", 23) == 0);
  ck_assert_uint_eq(strlen(out), 23 + 16);
  instance_name_from_value("~", 40, out);
  ck_assert_str_eq(out, "%7E");
  /* the smallest cap */
  ck_assert_uint_le(instance_name_from_value(v41, INSTANCE_VALUE_CAP_MIN, out),
                    INSTANCE_VALUE_CAP_MIN);
  ck_assert_ptr_nonnull(strchr(out, '~'));
}
END_TEST

int main(void) {
  Suite *s = suite_create("instance_name");
  TCase *tc = tcase_create("core");
  tcase_add_loop_test(tc, test_table, 0, sizeof(cases) / sizeof(cases[0]));
  tcase_add_test(tc, test_long_names_with_shared_prefix_differ);
  tcase_add_test(tc, test_all_bytes_safe_and_injective);
  tcase_add_test(tc, test_value);
  suite_add_tcase(s, tc);
  return check_run(s);
}
