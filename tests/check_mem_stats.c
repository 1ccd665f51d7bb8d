/* Unit tests for mem_stats: every combination of present/missing tags,
 * unused/usable larger than available, staleness, large values, units. */
#include "mem_stats.h"

#include "check_run.h"

#include <check.h>
#include <stdlib.h>

#define KIB 1024ULL

/* ---- presence: every subset of {available, unused, usable} x formula ---- */
START_TEST(test_used_every_combination) {
  for (int formula = MS_USED_UNUSED; formula <= MS_USED_USABLE; formula++) {
    for (unsigned mask = 0; mask < 8; mask++) {
      ms_raw_t raw = {0};
      bool has_avail = mask & 1, has_unused = mask & 2, has_usable = mask & 4;
      if (has_avail)
        ms_raw_set(&raw, MS_AVAILABLE, 1000);
      if (has_unused)
        ms_raw_set(&raw, MS_UNUSED, 300);
      if (has_usable)
        ms_raw_set(&raw, MS_USABLE, 600);
      ms_raw_set(&raw, MS_RSS, 5); /* never a term of used */

      ms_figures_t f;
      ms_compute(&raw, formula, MS_GUEST_LIVE, &f);

      bool want_usable = formula == MS_USED_USABLE && has_usable;
      bool has_sub = want_usable || has_unused;
      ms_used_status_t want = !has_avail ? MS_USED_NO_AVAILABLE
                              : !has_sub ? MS_USED_NO_SUBTRAHEND
                                         : MS_USED_OK;
      ck_assert_msg(f.used_status == want, "formula %d mask %u: status %d",
                    formula, mask, f.used_status);
      if (want == MS_USED_OK) {
        uint64_t sub = want_usable ? 600 : 300;
        ck_assert_uint_eq(f.used, (1000 - sub) * KIB);
        ck_assert_double_eq_tol(f.percent, (1000.0 - sub) / 10.0, 1e-9);
        ck_assert(f.used_fell_back ==
                  (formula == MS_USED_USABLE && !has_usable));
      }
      /* Raw figures are dispatched exactly when reported. */
      ck_assert(!!(f.present & (1u << MS_AVAILABLE)) == has_avail);
      ck_assert(!!(f.present & (1u << MS_UNUSED)) == has_unused);
      ck_assert(!!(f.present & (1u << MS_USABLE)) == has_usable);
      ck_assert(f.present & (1u << MS_RSS));
      ck_assert_uint_eq(f.bytes[MS_RSS], 5 * KIB);
    }
  }
}
END_TEST

START_TEST(test_nothing_reported) {
  ms_raw_t raw = {0};
  ms_figures_t f;
  ms_compute(&raw, MS_USED_UNUSED, MS_GUEST_LIVE, &f);
  ck_assert_int_eq(f.used_status, MS_USED_NO_STATS);
  ck_assert_uint_eq(f.present, 0);
}
END_TEST

/* ---- table: subtrahend vs available, staleness, edges ---- */
static const struct {
  const char *what;
  uint64_t available, unused;
  bool stale;
  ms_used_status_t want;
  uint64_t want_used;
  double want_percent;
} used_cases[] = {
    {"half", 2097152, 1048576, false, MS_USED_OK, 1048576 * KIB, 50.0},
    {"all free", 2048, 2048, false, MS_USED_OK, 0, 0.0},
    {"none free", 2048, 0, false, MS_USED_OK, 2048 * KIB, 100.0},
    {"unused > available", 1000, 1001, false, MS_USED_SUBTRAHEND_LARGER, 0, 0},
    {"stale", 2048, 1024, true, MS_USED_STALE, 0, 0},
    {"zero available", 0, 0, false, MS_USED_NO_AVAILABLE, 0, 0},
    {"4 TiB guest", 4ULL << 30, 1ULL << 30, false, MS_USED_OK,
     (3ULL << 30) * KIB, 75.0},
    {"overflowing KiB", UINT64_MAX, 1, false, MS_USED_OVERFLOW, 0, 0},
    {"largest exact", UINT64_MAX / 1024, 0, false, MS_USED_OK,
     (UINT64_MAX / 1024) * KIB, 100.0},
};

START_TEST(test_used_table) {
  ms_raw_t raw = {0};
  ms_raw_set(&raw, MS_AVAILABLE, used_cases[_i].available);
  ms_raw_set(&raw, MS_UNUSED, used_cases[_i].unused);
  ms_figures_t f;
  ms_compute(&raw, MS_USED_UNUSED,
             used_cases[_i].stale ? MS_GUEST_STALE : MS_GUEST_LIVE, &f);
  ck_assert_msg(f.used_status == used_cases[_i].want, "%s: status %d",
                used_cases[_i].what, f.used_status);
  if (f.used_status == MS_USED_OK) {
    ck_assert_uint_eq(f.used, used_cases[_i].want_used);
    ck_assert_double_eq_tol(f.percent, used_cases[_i].want_percent, 1e-9);
  }
}
END_TEST

START_TEST(test_usable_larger_than_available) {
  ms_raw_t raw = {0};
  ms_raw_set(&raw, MS_AVAILABLE, 1000);
  ms_raw_set(&raw, MS_UNUSED, 10);
  ms_raw_set(&raw, MS_USABLE, 2000);
  ms_figures_t f;
  ms_compute(&raw, MS_USED_USABLE, MS_GUEST_LIVE, &f);
  ck_assert_int_eq(f.used_status, MS_USED_SUBTRAHEND_LARGER);
  ms_compute(&raw, MS_USED_UNUSED, MS_GUEST_LIVE,
             &f); /* other formula is fine */
  ck_assert_int_eq(f.used_status, MS_USED_OK);
  ck_assert_uint_eq(f.used, 990 * KIB);
}
END_TEST

/* ---- units: KiB sizes become bytes, counts and times stay ---- */
/* Guest-reported figures are withheld when they are not current; what the
 * host knows (actual balloon, rss) is still dispatched. */
static const struct {
  ms_guest_t guest;
  ms_used_status_t want;
} guest_cases[] = {
    {MS_GUEST_STALE, MS_USED_STALE},
    {MS_GUEST_NO_PERIOD, MS_USED_NO_PERIOD},
    {MS_GUEST_NO_BALLOON, MS_USED_NO_BALLOON},
};

START_TEST(test_guest_figures_withheld) {
  ms_raw_t raw = {0};
  for (int tag = 0; tag < MS_TAG_COUNT; tag++)
    ms_raw_set(&raw, tag, 100 + tag);
  ms_raw_set(&raw, MS_AVAILABLE, 1000);
  ms_raw_set(&raw, MS_UNUSED, 10);
  ms_figures_t f;
  ms_compute(&raw, MS_USED_UNUSED, guest_cases[_i].guest, &f);
  ck_assert_int_eq(f.used_status, guest_cases[_i].want);
  ck_assert_uint_eq(f.present, (1u << MS_ACTUAL) | (1u << MS_RSS));
  ck_assert_uint_eq(f.bytes[MS_RSS], (100 + MS_RSS) * KIB);
  ck_assert_uint_eq(f.bytes[MS_ACTUAL], (100 + MS_ACTUAL) * KIB);
  /* The same raw data, live: everything. */
  ms_compute(&raw, MS_USED_UNUSED, MS_GUEST_LIVE, &f);
  ck_assert_int_eq(f.used_status, MS_USED_OK);
  ck_assert_uint_eq(f.present, (1u << MS_TAG_COUNT) - 1);
}
END_TEST

START_TEST(test_units) {
  ms_raw_t raw = {0};
  for (int tag = 0; tag < MS_TAG_COUNT; tag++)
    ms_raw_set(&raw, tag, 7);
  ms_figures_t f;
  ms_compute(&raw, MS_USED_UNUSED, MS_GUEST_LIVE, &f);
  const int kib[] = {MS_SWAP_IN, MS_SWAP_OUT, MS_UNUSED, MS_AVAILABLE,
                     MS_ACTUAL,  MS_RSS,      MS_USABLE, MS_DISK_CACHES};
  const int plain[] = {MS_MAJOR_FAULT, MS_MINOR_FAULT, MS_LAST_UPDATE};
  for (size_t i = 0; i < sizeof(kib) / sizeof(kib[0]); i++)
    ck_assert_uint_eq(f.bytes[kib[i]], 7 * KIB);
  for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
    ck_assert_uint_eq(f.bytes[plain[i]], 7);
}
END_TEST

START_TEST(test_overflow_drops_only_that_figure) {
  ms_raw_t raw = {0};
  ms_raw_set(&raw, MS_RSS, UINT64_MAX / 1024 + 1);
  ms_raw_set(&raw, MS_ACTUAL, 10);
  ms_raw_set(&raw, MS_MAJOR_FAULT, UINT64_MAX); /* a count: no conversion */
  ms_figures_t f;
  ms_compute(&raw, MS_USED_UNUSED, MS_GUEST_LIVE, &f);
  ck_assert(!(f.present & (1u << MS_RSS)));
  ck_assert(f.present & (1u << MS_ACTUAL));
  ck_assert_uint_eq(f.bytes[MS_MAJOR_FAULT], UINT64_MAX);
  ck_assert_int_ne(f.used_status, MS_USED_OK);
}
END_TEST

/* ---- bulk field names ---- */
START_TEST(test_field_names) {
  ck_assert_int_eq(ms_tag_from_field("balloon.current"), MS_ACTUAL);
  ck_assert_int_eq(ms_tag_from_field("balloon.unused"), MS_UNUSED);
  ck_assert_int_eq(ms_tag_from_field("balloon.available"), MS_AVAILABLE);
  ck_assert_int_eq(ms_tag_from_field("balloon.usable"), MS_USABLE);
  ck_assert_int_eq(ms_tag_from_field("balloon.rss"), MS_RSS);
  ck_assert_int_eq(ms_tag_from_field("balloon.disk_caches"), MS_DISK_CACHES);
  ck_assert_int_eq(ms_tag_from_field("balloon.last-update"), MS_LAST_UPDATE);
  ck_assert_int_eq(ms_tag_from_field("balloon.swap_in"), MS_SWAP_IN);
  ck_assert_int_eq(ms_tag_from_field("balloon.swap_out"), MS_SWAP_OUT);
  ck_assert_int_eq(ms_tag_from_field("balloon.major_fault"), MS_MAJOR_FAULT);
  ck_assert_int_eq(ms_tag_from_field("balloon.minor_fault"), MS_MINOR_FAULT);
  /* Unknown or unused: ignored. */
  ck_assert_int_eq(ms_tag_from_field("balloon.maximum"), -1);
  ck_assert_int_eq(ms_tag_from_field("balloon.hugetlb_pgalloc"), -1);
  ck_assert_int_eq(ms_tag_from_field("balloon.hugetlb_pgfail"), -1);
  ck_assert_int_eq(ms_tag_from_field(""), -1);
  ck_assert_int_eq(ms_tag_from_field(NULL), -1);
}
END_TEST

/* ---- staleness ---- */
static ms_raw_t with_update(uint64_t lu) {
  ms_raw_t raw = {0};
  ms_raw_set(&raw, MS_LAST_UPDATE, lu);
  return raw;
}

START_TEST(test_stale_after_three_periods) {
  ms_staleness_t s = {0};
  ms_raw_t raw = with_update(100);
  /* period 5 s, interval 1 s: limit max(15 s, 3 s) = 15 s */
  ck_assert(!ms_staleness_judge(&s, &raw, true, 5, 1000, 0));
  ck_assert(!ms_staleness_judge(&s, &raw, true, 5, 1000, 15000));
  ck_assert(ms_staleness_judge(&s, &raw, true, 5, 1000, 15001));
  /* The guest updates again: fresh at once. */
  raw = with_update(130);
  ck_assert(!ms_staleness_judge(&s, &raw, true, 5, 1000, 16000));
  ck_assert(!ms_staleness_judge(&s, &raw, true, 5, 1000, 31000));
  ck_assert(ms_staleness_judge(&s, &raw, true, 5, 1000, 31001));
}
END_TEST

START_TEST(test_stale_limit_uses_interval_when_longer) {
  ms_staleness_t s = {0};
  ms_raw_t raw = with_update(1);
  /* period 1 s, interval 10 s: limit 30 s, not 3 s. */
  ck_assert(!ms_staleness_judge(&s, &raw, true, 1, 10000, 1000));
  ck_assert(!ms_staleness_judge(&s, &raw, true, 1, 10000, 31000));
  ck_assert(ms_staleness_judge(&s, &raw, true, 1, 10000, 31001));
}
END_TEST

START_TEST(test_not_judged_without_period_or_running) {
  ms_staleness_t s = {0};
  ms_raw_t raw = with_update(627319920); /* the test driver's fixed value */
  for (uint64_t t = 0; t < 1000000; t += 100000)
    ck_assert(!ms_staleness_judge(&s, &raw, true, 0, 1000, t));
  /* Paused: not judged, and the clock restarts when it runs again. */
  ms_staleness_t p = {0};
  ck_assert(!ms_staleness_judge(&p, &raw, true, 1, 1000, 0));
  ck_assert(!ms_staleness_judge(&p, &raw, false, 1, 1000, 60000));
  ck_assert(!ms_staleness_judge(&p, &raw, true, 1, 1000, 61000));
  ck_assert(!ms_staleness_judge(&p, &raw, true, 1, 1000, 64000));
  ck_assert(ms_staleness_judge(&p, &raw, true, 1, 1000, 64001));
  /* No last_update reported: never stale. */
  ms_staleness_t n = {0};
  ms_raw_t none = {0};
  ck_assert(!ms_staleness_judge(&n, &none, true, 1, 1000, 0));
  ck_assert(!ms_staleness_judge(&n, &none, true, 1, 1000, 100000));
}
END_TEST

START_TEST(test_status_text) {
  for (int s = MS_USED_OK; s <= MS_USED_NO_PERIOD; s++)
    ck_assert_ptr_nonnull(ms_used_status_text(s));
  ck_assert_str_eq(ms_used_status_text(99), "unknown");
}
END_TEST

static Suite *mem_stats_suite(void) {
  Suite *s = suite_create("mem_stats");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_used_every_combination);
  tcase_add_test(tc, test_nothing_reported);
  tcase_add_loop_test(tc, test_used_table, 0,
                      sizeof(used_cases) / sizeof(used_cases[0]));
  tcase_add_test(tc, test_usable_larger_than_available);
  tcase_add_loop_test(tc, test_guest_figures_withheld, 0,
                      sizeof(guest_cases) / sizeof(guest_cases[0]));
  tcase_add_test(tc, test_units);
  tcase_add_test(tc, test_overflow_drops_only_that_figure);
  tcase_add_test(tc, test_field_names);
  tcase_add_test(tc, test_stale_after_three_periods);
  tcase_add_test(tc, test_stale_limit_uses_interval_when_longer);
  tcase_add_test(tc, test_not_judged_without_period_or_running);
  tcase_add_test(tc, test_status_text);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return check_run(mem_stats_suite()); }
