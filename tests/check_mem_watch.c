/* Unit tests for mem_watch: every path of the memory watcher (live, stale,
 * frozen at boot with stats period 0, awaiting the first fresh sample after
 * MemoryStatsPeriod, no balloon, balloon unknown, test driver, fallback
 * usable -> unused, nothing reported) and the transitions between them, as
 * tables of reads driven the way the glue drives the watcher. */
#include "mem_watch.h"

#include "check_run.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

/* Balloon facts the fake "XML read" returns. */
typedef enum {
  B_QEMU_P0 = 0, /* QEMU, <memballoon model='virtio'/>: period 0 */
  B_QEMU_P10,    /* QEMU, <stats period='10'/> */
  B_NONE,        /* <memballoon model='none'/> */
  B_TEST,        /* test driver: a balloon, no period, not gated */
  B_FAIL,        /* the XML read fails */
  B_FAIL_ONCE,   /* fails, then says period 0 */
  B_P0_THEN_P10, /* period 0, then (set live) 10 */
} balloon_kind_t;

/* Memory stats of one read. */
typedef enum {
  M_FULL = 0, /* available, unused, usable, rss, actual, last_update */
  M_NO_USABLE,
  M_NOTHING,
  M_HOST_ONLY, /* rss and actual only */
  M_LARGER,    /* unused > available */
} mem_kind_t;

typedef struct {
  uint64_t now_ms;
  int id;
  bool active, running;
  mem_kind_t mem;
  uint64_t last_update;
  /* expected */
  bool needs_balloon;
  bool wants_period;
  ms_used_status_t status;
  mw_log_t log;
  bool log_fallback;
} step_t;

#define MAX_STEPS 10

typedef struct {
  const char *name;
  balloon_kind_t balloon;
  ms_formula_t formula;
  unsigned conf_period; /* MemoryStatsPeriod */
  bool set_ok;          /* whether setting the period succeeds */
  uint64_t interval_ms; /* 0: INTERVAL */
  int nsteps;
  step_t steps[MAX_STEPS];
} case_t;

#define INTERVAL 1000
#define RUN(t, lu) (t), 1, true, true, M_FULL, (lu)
#define NO (-1) /* status when the domain is inactive: not judged */

static const case_t cases[] = {
    {"live: a period, last_update advancing",
     B_QEMU_P10,
     MS_USED_UNUSED,
     0,
     true,
     0,
     3,
     {{RUN(0, 100), true, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(1000, 101), false, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(40000, 140), false, false, MS_USED_OK, MW_LOG_NONE, false}}},
    {"live -> stale after max(3p, 3 interval) -> live again",
     B_QEMU_P10,
     MS_USED_UNUSED,
     0,
     true,
     0,
     5,
     {{RUN(0, 100), true, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(30000, 100), false, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(30001, 100), false, false, MS_USED_STALE, MW_LOG_HOST_ONLY, false},
      {RUN(31000, 100), false, false, MS_USED_STALE, MW_LOG_NONE, false},
      {RUN(32000, 101), false, false, MS_USED_OK, MW_LOG_USED_AGAIN, false}}},
    {"stale judged on the interval when it is longer: 3 x 20 s",
     B_QEMU_P10,
     MS_USED_UNUSED,
     0,
     true,
     20000,
     2,
     {{RUN(0, 100), true, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(31000, 100), false, false, MS_USED_OK, MW_LOG_NONE, false}}},
    {"frozen at boot: QEMU, period 0, one line",
     B_QEMU_P0,
     MS_USED_UNUSED,
     0,
     true,
     0,
     3,
     {{RUN(0, 100), true, false, MS_USED_NO_PERIOD, MW_LOG_HOST_ONLY, false},
      {RUN(1000, 100), false, false, MS_USED_NO_PERIOD, MW_LOG_NONE, false},
      {RUN(90000, 100), false, false, MS_USED_NO_PERIOD, MW_LOG_NONE, false}}},
    {"MemoryStatsPeriod: set, await the first fresh sample, then live",
     B_QEMU_P0,
     MS_USED_UNUSED,
     10,
     true,
     0,
     4,
     {{RUN(0, 100), true, true, MS_USED_NO_PERIOD, MW_LOG_HOST_ONLY, false},
      {RUN(1000, 100), false, false, MS_USED_NO_PERIOD, MW_LOG_NONE, false},
      {RUN(2000, 107), false, false, MS_USED_OK, MW_LOG_USED_AGAIN, false},
      {RUN(3000, 108), false, false, MS_USED_OK, MW_LOG_NONE, false}}},
    {"MemoryStatsPeriod: setting fails, tried once per boot",
     B_QEMU_P0,
     MS_USED_UNUSED,
     10,
     false,
     0,
     3,
     {{RUN(0, 100), true, true, MS_USED_NO_PERIOD, MW_LOG_HOST_ONLY, false},
      {RUN(1000, 100), false, false, MS_USED_NO_PERIOD, MW_LOG_NONE, false},
      /* restarted (new id): a new boot, tried again */
      {2000, 2, true, true, M_FULL, 5, true, true, MS_USED_NO_PERIOD,
       MW_LOG_NONE, false}}},
    {"MemoryStatsPeriod: a paused domain is not touched until it runs",
     B_QEMU_P0,
     MS_USED_UNUSED,
     10,
     true,
     0,
     2,
     {{0, 1, true, false, M_FULL, 100, true, false, MS_USED_NO_PERIOD,
       MW_LOG_HOST_ONLY, false},
      {RUN(1000, 100), false, true, MS_USED_NO_PERIOD, MW_LOG_NONE, false}}},
    {"MemoryStatsPeriod: a balloon that has a period is left alone",
     B_QEMU_P10,
     MS_USED_UNUSED,
     5,
     true,
     0,
     1,
     {{RUN(0, 100), true, false, MS_USED_OK, MW_LOG_NONE, false}}},
    {"no balloon device: host-side figures only, one line",
     B_NONE,
     MS_USED_UNUSED,
     10,
     true,
     0,
     2,
     {{0, 1, true, true, M_HOST_ONLY, 0, true, false, MS_USED_NO_BALLOON,
       MW_LOG_HOST_ONLY, false},
      {1000, 1, true, true, M_HOST_ONLY, 0, false, false, MS_USED_NO_BALLOON,
       MW_LOG_NONE, false}}},
    {"nothing reported at all",
     B_NONE,
     MS_USED_UNUSED,
     0,
     true,
     0,
     2,
     {{0, 1, true, true, M_NOTHING, 0, true, false, MS_USED_NO_STATS,
       MW_LOG_NO_STATS, false},
      {1000, 1, true, true, M_NOTHING, 0, false, false, MS_USED_NO_STATS,
       MW_LOG_NONE, false}}},
    {"test driver: fixed last_update, no period, not judged",
     B_TEST,
     MS_USED_UNUSED,
     0,
     true,
     0,
     2,
     {{RUN(0, 100), true, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(90000, 100), false, false, MS_USED_OK, MW_LOG_NONE, false}}},
    {"XML read fails: retried after 1, 2 reads; a frozen last_update is "
     "stale after 3 intervals",
     B_FAIL,
     MS_USED_UNUSED,
     10,
     true,
     0,
     7,
     {{RUN(0, 100), true, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(1000, 100), true, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(2000, 100), false, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(3000, 100), true, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(3001, 100), false, false, MS_USED_STALE, MW_LOG_HOST_ONLY, false},
      {RUN(4000, 101), false, false, MS_USED_OK, MW_LOG_USED_AGAIN, false},
      /* a new boot reads it again */
      {5000, 2, true, true, M_FULL, 101, true, false, MS_USED_OK, MW_LOG_NONE,
       false}}},
    {"XML read fails once: the retry brings the period-0 gate back",
     B_FAIL_ONCE,
     MS_USED_UNUSED,
     0,
     true,
     0,
     3,
     {{RUN(0, 100), true, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(1000, 100), true, false, MS_USED_NO_PERIOD, MW_LOG_HOST_ONLY, false},
      {RUN(2000, 100), false, false, MS_USED_NO_PERIOD, MW_LOG_NONE, false}}},
    {"period set live by someone else: last_update moves, one XML read, "
     "live, then judged on the new period",
     B_P0_THEN_P10,
     MS_USED_UNUSED,
     0,
     true,
     0,
     6,
     {{RUN(0, 100), true, false, MS_USED_NO_PERIOD, MW_LOG_HOST_ONLY, false},
      {RUN(1000, 100), false, false, MS_USED_NO_PERIOD, MW_LOG_NONE, false},
      {RUN(2000, 110), false, false, MS_USED_OK, MW_LOG_USED_AGAIN, false},
      {RUN(3000, 110), true, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(32000, 110), false, false, MS_USED_OK, MW_LOG_NONE, false},
      {RUN(32001, 110), false, false, MS_USED_STALE, MW_LOG_HOST_ONLY, false}}},
    {"fallback usable -> unused: one line per domain",
     B_QEMU_P10,
     MS_USED_USABLE,
     0,
     true,
     0,
     3,
     {{0, 1, true, true, M_NO_USABLE, 100, true, false, MS_USED_OK, MW_LOG_NONE,
       true},
      {1000, 1, true, true, M_NO_USABLE, 101, false, false, MS_USED_OK,
       MW_LOG_NONE, false},
      {2000, 1, true, true, M_FULL, 102, false, false, MS_USED_OK, MW_LOG_NONE,
       false}}},
    {"unused larger than available, then sane",
     B_QEMU_P10,
     MS_USED_UNUSED,
     0,
     true,
     0,
     3,
     {{0, 1, true, true, M_LARGER, 100, true, false, MS_USED_SUBTRAHEND_LARGER,
       MW_LOG_NO_USED, false},
      {1000, 1, true, true, M_LARGER, 101, false, false,
       MS_USED_SUBTRAHEND_LARGER, MW_LOG_NONE, false},
      {RUN(2000, 102), false, false, MS_USED_OK, MW_LOG_USED_AGAIN, false}}},
    {"shut off and started again: the balloon is read again, staleness "
     "starts over",
     B_QEMU_P10,
     MS_USED_UNUSED,
     0,
     true,
     0,
     4,
     {{RUN(0, 100), true, false, MS_USED_OK, MW_LOG_NONE, false},
      {20000, -1, false, false, M_NOTHING, 0, false, false, NO, MW_LOG_NONE,
       false},
      {40000, 3, true, true, M_FULL, 100, true, false, MS_USED_OK, MW_LOG_NONE,
       false},
      /* 30 s since the restart, not 40 s since the first sight */
      {70000, 3, true, true, M_FULL, 100, false, false, MS_USED_OK, MW_LOG_NONE,
       false}}},
    {"paused: staleness not judged while not running",
     B_QEMU_P10,
     MS_USED_UNUSED,
     0,
     true,
     0,
     3,
     {{RUN(0, 100), true, false, MS_USED_OK, MW_LOG_NONE, false},
      {60000, 1, true, false, M_FULL, 100, false, false, MS_USED_OK,
       MW_LOG_NONE, false},
      /* resumed: the 30 s count starts at the resume */
      {61000, 1, true, true, M_FULL, 100, false, false, MS_USED_OK, MW_LOG_NONE,
       false}}},
};

/* The XML read number n (from 0) of kind k; false: it fails. */
static bool balloon_of_read(balloon_kind_t k, int n, domain_balloon_t *ret);

static domain_balloon_t balloon_of(balloon_kind_t k) {
  switch (k) {
  case B_QEMU_P0:
    return (domain_balloon_t){true, 0, true};
  case B_QEMU_P10:
    return (domain_balloon_t){true, 10, true};
  case B_NONE:
    return (domain_balloon_t){false, 0, true};
  default:
    return (domain_balloon_t){true, 0, false};
  }
}

static bool balloon_of_read(balloon_kind_t k, int n, domain_balloon_t *ret) {
  if (k == B_FAIL || (k == B_FAIL_ONCE && n == 0))
    return false;
  if (k == B_FAIL_ONCE || (k == B_P0_THEN_P10 && n == 0))
    k = B_QEMU_P0;
  else if (k == B_P0_THEN_P10)
    k = B_QEMU_P10;
  *ret = balloon_of(k);
  return true;
}

static ms_raw_t mem_of(mem_kind_t k, uint64_t last_update) {
  ms_raw_t m = {0};
  if (k == M_NOTHING)
    return m;
  ms_raw_set(&m, MS_RSS, 500);
  ms_raw_set(&m, MS_ACTUAL, 2048);
  if (k == M_HOST_ONLY)
    return m;
  ms_raw_set(&m, MS_AVAILABLE, 2000);
  ms_raw_set(&m, MS_UNUSED, k == M_LARGER ? 3000 : 1000);
  if (k != M_NO_USABLE)
    ms_raw_set(&m, MS_USABLE, 1200);
  ms_raw_set(&m, MS_LAST_UPDATE, last_update);
  return m;
}

START_TEST(test_paths) {
  const case_t *c = &cases[_i];
  mw_t w;
  mw_init(&w);
  int xml_reads = 0;
  for (int i = 0; i < c->nsteps; i++) {
    const step_t *s = &c->steps[i];
    ms_raw_t mem = mem_of(s->mem, s->last_update);
    if (!s->active) {
      mw_inactive(&w);
      continue;
    }
    bool needs = mw_needs_balloon(&w, s->id);
    ck_assert_msg(needs == s->needs_balloon, "%s, read %d: needs_balloon %d",
                  c->name, i, needs);
    if (needs) {
      domain_balloon_t b;
      bool ok = balloon_of_read(c->balloon, xml_reads++, &b);
      mw_balloon(&w, s->id, ok ? &b : NULL);
    }
    bool wants = mw_wants_period(&w, s->running, c->conf_period);
    ck_assert_msg(wants == s->wants_period, "%s, read %d: wants_period %d",
                  c->name, i, wants);
    if (wants)
      mw_period_set(&w, c->set_ok, c->conf_period, &mem);
    uint64_t interval = c->interval_ms != 0 ? c->interval_ms : INTERVAL;
    mw_input_t in = {&mem, s->running, c->formula, interval, s->now_ms};
    mw_output_t out;
    mw_judge(&w, &in, &out);
    ck_assert_msg(out.fig.used_status == s->status, "%s, read %d: status %d",
                  c->name, i, out.fig.used_status);
    ck_assert_msg(out.log == s->log, "%s, read %d: log %d", c->name, i,
                  out.log);
    ck_assert_msg(out.log_fallback == s->log_fallback,
                  "%s, read %d: fallback line %d", c->name, i,
                  out.log_fallback);
    /* What is withheld is never dispatched; host-side figures always. */
    bool guest_ok = s->status != MS_USED_STALE &&
                    s->status != MS_USED_NO_PERIOD &&
                    s->status != MS_USED_NO_BALLOON;
    if (ms_raw_has(&mem, MS_AVAILABLE))
      ck_assert_msg(((out.fig.present >> MS_AVAILABLE) & 1u) == guest_ok,
                    "%s, read %d: available dispatched %d", c->name, i,
                    !guest_ok);
    if (ms_raw_has(&mem, MS_RSS))
      ck_assert(out.fig.present & (1u << MS_RSS));
  }
}
END_TEST

/* The period-set result keeps the frozen sample's last_update: a read that
 * reports none (QEMU before the guest's first sample) ends the wait. */
START_TEST(test_await_without_last_update) {
  mw_t w;
  mw_init(&w);
  domain_balloon_t b = balloon_of(B_QEMU_P0);
  mw_balloon(&w, 1, &b);
  ms_raw_t none = mem_of(M_HOST_ONLY, 0);
  ck_assert(mw_wants_period(&w, true, 10));
  mw_period_set(&w, true, 10, &none);
  ck_assert(!w.await_fresh);
  ms_raw_t full = mem_of(M_FULL, 7);
  mw_input_t in = {&full, true, MS_USED_UNUSED, INTERVAL, 1000};
  mw_output_t out;
  mw_judge(&w, &in, &out);
  ck_assert_int_eq(out.fig.used_status, MS_USED_OK);
  ck_assert_int_eq(out.log, MW_LOG_NONE);
}
END_TEST

/* A failing XML read is tried MW_BALLOON_TRIES times per boot, not at
 * every read. */
START_TEST(test_balloon_retries_bounded) {
  mw_t w;
  mw_init(&w);
  ms_raw_t mem = mem_of(M_FULL, 100);
  int tries = 0;
  for (int i = 0; i < 1000; i++) {
    if (mw_needs_balloon(&w, 1)) {
      tries++;
      mw_balloon(&w, 1, NULL);
    }
    mw_input_t in = {&mem, true, MS_USED_UNUSED, INTERVAL,
                     (uint64_t)i * INTERVAL};
    mw_output_t out;
    mw_judge(&w, &in, &out);
  }
  ck_assert_int_eq(tries, MW_BALLOON_TRIES);
  ck_assert(mw_needs_balloon(&w, 2)); /* a new boot */
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("mem_watch");
  TCase *tc = tcase_create("core");
  tcase_add_loop_test(tc, test_paths, 0,
                      (int)(sizeof(cases) / sizeof(cases[0])));
  tcase_add_test(tc, test_await_without_last_update);
  tcase_add_test(tc, test_balloon_retries_bounded);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return check_run(suite()); }
