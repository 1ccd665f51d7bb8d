/* Unit tests for attr_time: running time per attribute value. */
#include "attr_time.h"
#include "state_tracker.h"

#include "check_run.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U1 "11111111-2222-3333-4444-555555555555"
#define U2 "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

static const char *const names[] = {"vcpus", "flavor"};

static at_t *make(void) {
  at_t *at = at_create(names, 2);
  ck_assert_ptr_nonnull(at);
  return at;
}

/* The total of (attr, value) at run_ms; value NULL: the overflow entry.
 * -1 when there is no such entry. */
typedef struct {
  size_t attr;
  const char *value;
  long long total;
  bool current;
  int entries;
} find_t;

static int find_fn(const at_view_t *v, void *ud) {
  find_t *f = ud;
  f->entries++;
  if (v->attr == f->attr && ((v->value == NULL && f->value == NULL) ||
                             (v->value != NULL && f->value != NULL &&
                              strcmp(v->value, f->value) == 0))) {
    f->total = (long long)v->total_ms;
    f->current = v->current;
  }
  return 0;
}

static long long total(const at_t *at, const char *uuid, size_t attr,
                       const char *value, uint64_t run_ms) {
  find_t f = {attr, value, -1, false, 0};
  ck_assert_int_eq(at_foreach(at, uuid, run_ms, find_fn, &f), 0);
  return f.total;
}

static int count(const at_t *at, const char *uuid) {
  find_t f = {99, NULL, -1, false, 0};
  at_foreach(at, uuid, 0, find_fn, &f);
  return f.entries;
}

START_TEST(test_create) {
  static const char *const dup[] = {"a", "a"};
  static const char *const empty[] = {""};
  static const char *const longname[] = {"abcdefghijklmnopqrstuvwxyz0123456"};
  ck_assert_ptr_null(at_create(dup, 2));
  ck_assert_ptr_null(at_create(empty, 1));
  ck_assert_ptr_null(at_create(longname, 1));
  ck_assert_ptr_null(at_create(NULL, 1));
  ck_assert_ptr_null(at_create(names, AT_ATTRS_MAX + 1));
  at_destroy(NULL);
  at_t *at = make();
  char big[AT_VALUE_MAX + 2];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  ck_assert_int_eq(at_set(at, "not-a-uuid", 0, "1", 0, NULL), -EINVAL);
  ck_assert_int_eq(at_set(at, U1, 2, "1", 0, NULL), -EINVAL);
  ck_assert_int_eq(at_set(at, U1, 0, big, 0, NULL), -EINVAL);
  big[AT_VALUE_MAX] = '\0';
  ck_assert_int_eq(at_set(at, U1, 0, big, 0, NULL), 0);
  ck_assert_int_eq(at_foreach(at, U2, 0, find_fn, &(find_t){0}), 0);
  /* a short string as a uuid is never read past its end (ASan) */
  ck_assert_int_eq(at_foreach(at, "x", 0, find_fn, &(find_t){0}), 0);
  ck_assert_int_eq(at_forget(at, "x"), -ENOENT);
  at_destroy(at);
}
END_TEST

/* Changes while running: each value gets the running time it had. */
START_TEST(test_changes_while_running) {
  at_t *at = make();
  at_result_t r;
  ck_assert_int_eq(at_set(at, U1, 0, "1", 0, &r), 0);
  ck_assert(r.changed && r.first_seen && !r.bound_reached);
  ck_assert_int_eq(total(at, U1, 0, "1", 0), 0); /* a 0 series at once */
  ck_assert_int_eq(total(at, U1, 0, "1", 1000), 1000);
  ck_assert_int_eq(at_set(at, U1, 0, "1", 1200, &r), 0);
  ck_assert(!r.changed && !r.first_seen);
  ck_assert_int_eq(at_set(at, U1, 0, "2", 1500, &r), 0);
  ck_assert(r.changed && r.first_seen);
  ck_assert_int_eq(total(at, U1, 0, "1", 2000), 1500);
  ck_assert_int_eq(total(at, U1, 0, "2", 2000), 500);
  ck_assert_int_eq(at_set(at, U1, 0, "1", 2500, &r), 0);
  ck_assert(r.changed && !r.first_seen);
  ck_assert_int_eq(total(at, U1, 0, "1", 3000), 2000);
  ck_assert_int_eq(total(at, U1, 0, "2", 3000), 1000);
  /* the other attribute and the other domain are apart */
  ck_assert_int_eq(total(at, U1, 1, "1", 3000), -1);
  ck_assert_int_eq(total(at, U2, 0, "1", 3000), -1);
  /* an unknown value is credited nothing */
  ck_assert_int_eq(at_set(at, U1, 0, NULL, 3000, &r), 0);
  ck_assert(r.changed);
  ck_assert_int_eq(total(at, U1, 0, "1", 5000), 2000);
  ck_assert_int_eq(at_set(at, U1, 0, "1", 5000, NULL), 0);
  ck_assert_int_eq(total(at, U1, 0, "1", 5100), 2100);
  /* a clock that goes back (reset) credits nothing, never underflows */
  ck_assert_int_eq(at_set(at, U1, 0, "2", 100, NULL), 0);
  ck_assert_int_eq(total(at, U1, 0, "1", 200), 2000);
  ck_assert_int_eq(total(at, U1, 0, "2", 200), 1100);
  at_destroy(at);
}
END_TEST

/* The running clock of a domain in a state tracker at now_ms. */
typedef struct {
  const char *uuid;
  uint64_t run;
} run_t;

static int run_fn(const st_view_t *v, void *ud) {
  run_t *r = ud;
  if (strcmp(v->uuid, r->uuid) == 0)
    r->run = v->total_ms[ST_STATE_RUNNING];
  return 0;
}

static uint64_t run_at(const st_tracker_t *st, const char *uuid,
                       uint64_t now_ms) {
  run_t r = {uuid, 0};
  st_foreach(st, now_ms, run_fn, &r);
  return r.run;
}

/* With the state tracker's running clock, time while paused (or shut off)
 * counts to no value, and a change while paused starts the new value's
 * time at the resume. */
START_TEST(test_changes_while_paused) {
  st_tracker_t *st = st_create();
  at_t *at = make();
  ck_assert_int_eq(st_event(st, U1, "vm", 1, 1, 1, 10000, NULL), 0);
  ck_assert_int_eq(at_set(at, U1, 0, "1", run_at(st, U1, 10000), NULL), 0);
  ck_assert_int_eq(st_event(st, U1, NULL, 1, 3, 1, 11000, NULL), 0); /* pause */
  ck_assert_int_eq(at_set(at, U1, 0, "2", run_at(st, U1, 11500), NULL), 0);
  ck_assert_int_eq(st_event(st, U1, NULL, 1, 1, 3, 14000, NULL), 0); /* run */
  ck_assert_int_eq(total(at, U1, 0, "1", run_at(st, U1, 15000)), 1000);
  ck_assert_int_eq(total(at, U1, 0, "2", run_at(st, U1, 15000)), 1000);
  /* shut off, changed, started again */
  ck_assert_int_eq(st_event(st, U1, NULL, -1, 5, 1, 16000, NULL), 0);
  ck_assert_int_eq(at_set(at, U1, 0, "4", run_at(st, U1, 17000), NULL), 0);
  ck_assert_int_eq(st_event(st, U1, NULL, 2, 1, 1, 20000, NULL), 0);
  ck_assert_int_eq(total(at, U1, 0, "2", run_at(st, U1, 20500)), 2000);
  ck_assert_int_eq(total(at, U1, 0, "4", run_at(st, U1, 20500)), 500);
  ck_assert_int_eq(total(at, U1, 0, "1", run_at(st, U1, 20500)), 1000);
  at_destroy(at);
  st_destroy(st);
}
END_TEST

START_TEST(test_bound) {
  at_t *at = make();
  at_result_t r;
  char v[16];
  uint64_t t = 0;
  for (int i = 0; i < AT_VALUES_MAX; i++, t += 10) {
    snprintf(v, sizeof(v), "v%d", i);
    ck_assert_int_eq(at_set(at, U1, 1, v, t, &r), 0);
    ck_assert(r.first_seen && !r.bound_reached);
  }
  ck_assert_int_eq(at_set(at, U1, 1, "x1", t, &r), 0);
  ck_assert(r.bound_reached && r.first_seen && r.changed);
  t += 100;
  ck_assert_int_eq(at_set(at, U1, 1, "x2", t, &r), 0); /* still "other" */
  ck_assert(!r.bound_reached && !r.first_seen && !r.changed);
  t += 50;
  ck_assert_int_eq(at_set(at, U1, 1, "v3", t, &r), 0); /* a kept value */
  ck_assert(!r.bound_reached && r.changed);
  ck_assert_int_eq(at_set(at, U1, 1, "x3", t + 20, &r), 0);
  ck_assert(!r.bound_reached && !r.first_seen && r.changed);
  ck_assert_int_eq(count(at, U1), AT_VALUES_MAX + 1);
  ck_assert_int_eq(total(at, U1, 1, NULL, t + 30), 150 + 10);
  ck_assert_int_eq(total(at, U1, 1, "v3", t + 30), 10 + 20);
  ck_assert_int_eq(total(at, U1, 1, "v15", t + 30), 10);
  /* the bound is per domain and attribute */
  ck_assert_int_eq(at_set(at, U1, 0, "x1", 0, &r), 0);
  ck_assert(r.first_seen && !r.bound_reached);
  ck_assert_int_eq(at_set(at, U2, 1, "x1", 0, &r), 0);
  ck_assert(r.first_seen && !r.bound_reached);
  at_destroy(at);
}
END_TEST

/* The running clock a test hands to export/import: U1 at 5000, U2 at 800. */
static uint64_t run_of(const char *uuid, void *ud) {
  const uint64_t *base = ud;
  return (strcmp(uuid, U1) == 0 ? 5000 : 800) + *base;
}

static at_records_t *saved(void) {
  at_t *at = make();
  ck_assert_int_eq(at_set(at, U1, 0, "1", 0, NULL), 0);
  ck_assert_int_eq(at_set(at, U1, 0, "2", 3000, NULL), 0);
  ck_assert_int_eq(at_set(at, U1, 1, "m1.small", 1000, NULL), 0);
  ck_assert_int_eq(at_set(at, U2, 0, "8", 0, NULL), 0);
  at_records_t *r = NULL;
  uint64_t base = 0;
  ck_assert_int_eq(at_export(at, run_of, &base, &r), 0);
  ck_assert_uint_eq(r->count, 4);
  at_destroy(at);
  return r;
}

/* Across a restart: totals kept; the same value continues (a downtime the
 * tracker credited as running goes to it); another value gets nothing of
 * it. */
START_TEST(test_restart) {
  at_records_t *r = saved();
  at_t *at = make();
  uint64_t base = 0;
  ck_assert_int_eq(at_import(at, r, run_of, &base), 0);
  ck_assert_int_eq(at_import(at, r, run_of, &base), -EBUSY);
  /* before the first observation: the saved totals, not extended */
  ck_assert_int_eq(total(at, U1, 0, "1", 9000), 3000);
  ck_assert_int_eq(total(at, U1, 0, "2", 9000), 2000);
  ck_assert_int_eq(total(at, U1, 1, "m1.small", 9000), 4000);
  ck_assert_int_eq(total(at, U2, 0, "8", 9000), 800);
  at_result_t res;
  /* U1's tracker credited 1000 ms of downtime as running: run 6000 */
  ck_assert_int_eq(at_set(at, U1, 0, "2", 6000, &res), 0);
  ck_assert(!res.changed && !res.restore_gap_dropped);
  ck_assert_int_eq(total(at, U1, 0, "2", 6500), 3500);
  ck_assert_int_eq(at_set(at, U1, 1, "m1.large", 6000, &res), 0);
  ck_assert(res.changed && res.first_seen && res.restore_gap_dropped);
  ck_assert_int_eq(total(at, U1, 1, "m1.small", 6500), 4000);
  ck_assert_int_eq(total(at, U1, 1, "m1.large", 6500), 500);
  /* U2: no credit (run clock unchanged), same value */
  ck_assert_int_eq(at_set(at, U2, 0, "8", 800, &res), 0);
  ck_assert(!res.restore_gap_dropped);
  ck_assert_int_eq(total(at, U2, 0, "8", 900), 900);
  at_destroy(at);
  at_records_free(r);
}
END_TEST

/* An attribute no longer configured keeps its records through a
 * restart; a bad record set loads nothing. */
START_TEST(test_import_kept_and_bad) {
  at_records_t *r = saved();
  static const char *const only_vcpus[] = {"vcpus"};
  at_t *at = at_create(only_vcpus, 1);
  uint64_t base = 0;
  ck_assert_int_eq(at_import(at, r, run_of, &base), 0);
  ck_assert_int_eq(count(at, U1), 2);
  at_records_t *again = NULL;
  ck_assert_int_eq(at_export(at, run_of, &base, &again), 0);
  ck_assert_uint_eq(again->count, 4);
  bool flavor = false;
  for (size_t i = 0; i < again->count; i++)
    if (strcmp(again->records[i].name, "flavor") == 0) {
      ck_assert_str_eq(again->records[i].value, "m1.small");
      ck_assert_uint_eq(again->records[i].total_ms, 4000);
      ck_assert(again->records[i].current);
      flavor = true;
    }
  ck_assert(flavor);
  at_records_free(again);
  at_destroy(at);

  /* a duplicate value, then a bad uuid: -EINVAL, nothing loaded */
  free(r->records[1].value);
  r->records[1].value = strdup(r->records[0].value);
  at = make();
  ck_assert_int_eq(at_import(at, r, run_of, &base), -EINVAL);
  ck_assert_int_eq(count(at, U1), 0);
  r->records[0].uuid[0] = 'X';
  ck_assert_int_eq(at_import(at, r, run_of, &base), -EINVAL);
  at_destroy(at);
  at_records_free(r);
  at_records_free(NULL);
}
END_TEST

/* A mark caps the current values' time until the change is applied. */
START_TEST(test_mark) {
  at_t *at = make();
  uint64_t m = 0;
  ck_assert(!at_marked(at, U1, NULL));
  ck_assert_int_eq(at_set(at, U1, 1, "small", 0, NULL), 0);
  ck_assert_int_eq(at_mark(at, U1, 1000), 0);
  ck_assert_int_eq(at_mark(at, U1, 1500), 0); /* the first one stays */
  ck_assert(at_marked(at, U1, &m));
  ck_assert_uint_eq(m, 1000);
  ck_assert_int_eq(total(at, U1, 1, "small", 3000), 1000);
  ck_assert_int_eq(at_set(at, U1, 1, "large", 1000, NULL), 0);
  at_unmark(at, U1);
  ck_assert(!at_marked(at, U1, NULL));
  ck_assert_int_eq(total(at, U1, 1, "small", 3000), 1000);
  ck_assert_int_eq(total(at, U1, 1, "large", 3000), 2000);
  /* a mark on a domain not seen yet, and a bad uuid */
  ck_assert_int_eq(at_mark(at, U2, 5), 0);
  ck_assert(at_marked(at, U2, NULL));
  ck_assert_int_eq(at_mark(at, "x", 5), -EINVAL);
  at_unmark(at, "x");
  at_destroy(at);
}
END_TEST

static bool keep_u2(const char *uuid, void *ud) {
  (void)ud;
  return strcmp(uuid, U2) == 0;
}

START_TEST(test_forget) {
  at_t *at = make();
  ck_assert_int_eq(at_set(at, U1, 0, "1", 0, NULL), 0);
  ck_assert_int_eq(at_set(at, U2, 0, "1", 0, NULL), 0);
  ck_assert_int_eq(at_forget(at, U1), 0);
  ck_assert_int_eq(at_forget(at, U1), -ENOENT);
  ck_assert_int_eq(count(at, U1), 0);
  ck_assert_int_eq(count(at, U2), 1);
  ck_assert_int_eq(at_set(at, U1, 0, "1", 0, NULL), 0);
  ck_assert_uint_eq(at_retain(at, keep_u2, NULL), 1);
  ck_assert_int_eq(count(at, U1), 0);
  ck_assert_int_eq(count(at, U2), 1);
  at_destroy(at);
}
END_TEST

/* With no attribute configured, the records are kept, exported again, and
 * dropped with their domain (at_retain). */
START_TEST(test_no_attributes_keeps_records) {
  at_records_t *r = saved();
  at_t *at = at_create(NULL, 0);
  ck_assert_ptr_nonnull(at);
  uint64_t base = 0;
  ck_assert_int_eq(at_set(at, U1, 0, "1", 0, NULL), -EINVAL);
  ck_assert_int_eq(at_import(at, r, run_of, &base), 0);
  at_records_t *again = NULL;
  ck_assert_int_eq(at_export(at, run_of, &base, &again), 0);
  ck_assert_uint_eq(again->count, 4);
  at_records_free(again);
  ck_assert_uint_eq(at_retain(at, keep_u2, NULL), 0);
  ck_assert_int_eq(at_export(at, run_of, &base, &again), 0);
  ck_assert_uint_eq(again->count, 1);
  ck_assert_str_eq(again->records[0].uuid, U2);
  at_records_free(again);
  at_destroy(at);
  at_records_free(r);
}
END_TEST

int main(void) {
  Suite *s = suite_create("attr_time");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_create);
  tcase_add_test(tc, test_changes_while_running);
  tcase_add_test(tc, test_changes_while_paused);
  tcase_add_test(tc, test_bound);
  tcase_add_test(tc, test_restart);
  tcase_add_test(tc, test_import_kept_and_bad);
  tcase_add_test(tc, test_forget);
  tcase_add_test(tc, test_mark);
  tcase_add_test(tc, test_no_attributes_keeps_records);
  suite_add_tcase(s, tc);
  return check_run(s);
}
