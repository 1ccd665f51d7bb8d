/* Unit tests for proc_evidence: a fake /proc in a temp dir. */
#include "proc_evidence.h"

#include "check_run.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UA "aaaaaaaa-1111-4111-8111-000000000001"
#define UB "bbbbbbbb-2222-4222-8222-000000000002"

static char root[64];

static void put(const char *rel, const char *data, size_t len) {
  char path[256], cmd[300];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
  ck_assert_int_eq(system(cmd), 0);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fwrite(data, 1, len, f);
  fclose(f);
}
#define PUT(rel, lit) put(rel, lit, sizeof(lit) - 1)

static void setup(void) {
  snprintf(root, sizeof(root), "/tmp/check_pe.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(root));
  /* 10: QEMU of UA, two vCPU threads and an I/O thread */
  PUT("10/cmdline",
      "qemu-system-x86_64\0-name\0guest=a\0-uuid\0" UA "\0-m\0256\0");
  PUT("10/stat", "10 (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 4 0 "
                 "12345 1000 100\n");
  PUT("10/task/11/stat", "11 (CPU 0/TCG) S 1 1 1 0 -1 0 0 0 0 0 40 2 0 0 20 0 "
                         "4 0 12346 1000 100\n");
  PUT("10/task/12/stat", "12 (CPU 1/TCG) S 1 1 1 0 -1 0 0 0 0 0 5 3 0 0 20 0 4 "
                         "0 12346 1000 100\n");
  PUT("10/task/13/stat", "13 (IO mon_iothread) S 1 1 1 0 -1 0 0 0 0 0 900 900 "
                         "0 0 20 0 4 0 12346 1000 100\n");
  /* 20: no -uuid; 30: -uuid with a bad uuid; 40: UB, comm with ") (" */
  PUT("20/cmdline", "bash\0-c\0sleep 1\0");
  PUT("30/cmdline", "qemu\0-uuid\0not-a-uuid\0");
  PUT("40/cmdline", "qemu\0-uuid\0" UB "\0");
  PUT("40/stat",
      "40 (a) (b) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 4 0 999 1 1\n");
  PUT("50/stat", "50 (broken\n");
  PUT("self/stat", "not a pid dir\n");
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
  ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_scan_and_find) {
  pe_process_t *list;
  size_t n;
  ck_assert_int_eq(pe_scan(root, &list, &n), 0);
  ck_assert_uint_eq(n, 2);
  int pid = 0;
  ck_assert_int_eq(pe_find(list, n, UA, &pid), 0);
  ck_assert_int_eq(pid, 10);
  ck_assert_int_eq(pe_find(list, n, UB, &pid), 0);
  ck_assert_int_eq(pid, 40);
  ck_assert_int_eq(
      pe_find(list, n, "cccccccc-2222-4222-8222-000000000002", &pid), -ENOENT);
  free(list);
  ck_assert_int_eq(pe_scan("/nonexistent-proc", &list, &n), -ENOENT);
}
END_TEST

START_TEST(test_identity) {
  uint64_t a, b, again;
  ck_assert_int_eq(pe_identity(root, 10, &a), 0);
  ck_assert_int_eq(pe_identity(root, 40, &b), 0); /* ") (" in comm */
  ck_assert_uint_ne(a, 0);
  ck_assert_uint_ne(a, b);
  ck_assert_int_eq(pe_identity(root, 10, &again), 0);
  ck_assert_uint_eq(a, again);
  /* Same pid, another start time: another identity. */
  PUT("10/stat", "10 (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 4 "
                 "0 12399 1000 100\n");
  ck_assert_int_eq(pe_identity(root, 10, &again), 0);
  ck_assert_uint_ne(a, again);
  ck_assert_int_eq(pe_identity(root, 50, &a), -EINVAL);
  ck_assert_int_eq(pe_identity(root, 77, &a), -ENOENT);
}
END_TEST

START_TEST(test_vcpu_time) {
  uint64_t ns;
  long hz = sysconf(_SC_CLK_TCK);
  ck_assert_int_eq(pe_vcpu_ns(root, 10, &ns), 0);
  /* the two vCPU threads: 40 + 2 + 5 + 3 ticks; not the I/O thread */
  ck_assert_uint_eq(ns, 50 * (1000000000ull / (uint64_t)hz));
  ck_assert_int_eq(pe_vcpu_ns(root, 40, &ns), -ENOENT); /* no task dir */
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("proc_evidence");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_scan_and_find);
  tcase_add_test(tc, test_identity);
  tcase_add_test(tc, test_vcpu_time);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return check_run(suite()); }
