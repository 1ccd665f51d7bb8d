/* check_state_tracker.c: unit tests for state_tracker.c. */
#include "state_tracker.h"
#include "state_tracker_priv.h"

#include "check_run.h"
#include "check_snapshot.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATIC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define U1 "00000000-0000-4000-8000-000000000001"
#define U2 "00000000-0000-4000-8000-000000000002"
#define U3 "00000000-0000-4000-8000-000000000003"
#define BOOT_A "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"

enum {
  NOSTATE = 0,
  RUNNING = 1,
  BLOCKED = 2,
  PAUSED = 3,
  SHUTDOWN = 4,
  SHUTOFF = 5,
  CRASHED = 6,
  PMSUSPENDED = 7,
};

#define BIT(s) (UINT32_C(1) << (s))
#define NEVER UINT64_MAX /* forget_after_ms that never forgets */

/* ---- helpers ---- */

typedef struct {
  const char *uuid;
  bool found;
  st_view_t view;
  char name[ST_NAME_MAX + 1];
} find_t;

static int find_cb(const st_view_t *v, void *ud) {
  find_t *f = ud;
  if (strcmp(v->uuid, f->uuid) != 0)
    return 0;
  f->found = true;
  f->view = *v;
  snprintf(f->name, sizeof(f->name), "%s", v->name);
  f->view.name = f->name;
  f->view.uuid = f->uuid;
  return 0;
}

/* The view of uuid at now_ms; false if the tracker does not hold it. */
static bool view_of(const st_tracker_t *st, const char *uuid, uint64_t now_ms,
                    st_view_t *ret) {
  static find_t f;
  memset(&f, 0, sizeof(f));
  f.uuid = uuid;
  ck_assert_int_eq(st_foreach(st, now_ms, find_cb, &f), 0);
  if (f.found && ret != NULL)
    *ret = f.view;
  return f.found;
}

/* ---- table-driven sequences ---- */

/* One step: 'e' event, 'p' poll (state at t), 's' sweep (poll_ms t, now_ms
 * t2, forget_after_ms forget; expect `dropped`). */
typedef struct {
  char kind;
  int state;
  uint64_t t;
  st_change_t change; /* e/p */
  int old_state;      /* e/p with ST_CHANGED */
  uint64_t old_stint; /* e/p with ST_CHANGED */
  uint64_t t2;        /* s */
  uint64_t forget;    /* s */
  size_t dropped;     /* s */
} step_t;

#define EV(s, t, c)                                                            \
  { 'e', (s), (t), (c), 0, 0, 0, 0, 0 }
#define EVC(s, t, os, stint)                                                   \
  { 'e', (s), (t), ST_CHANGED, (os), (stint), 0, 0, 0 }
#define PO(s, t, c)                                                            \
  { 'p', (s), (t), (c), 0, 0, 0, 0, 0 }
#define POC(s, t, os, stint)                                                   \
  { 'p', (s), (t), ST_CHANGED, (os), (stint), 0, 0, 0 }
#define SW(poll, now, forget, dropped)                                         \
  { 's', 0, (poll), ST_NONE, 0, 0, (now), (forget), (dropped) }

typedef struct {
  const char *title;
  step_t steps[10];
  size_t nsteps;
  uint64_t now; /* the view's time */
  bool held;    /* still in the tracker */
  bool present;
  int state;
  uint64_t total[ST_STATE_COUNT];
  uint64_t uptime;
  uint64_t in_state;
  uint32_t seen_mask;
} seq_case_t;

#define STEPS(...)                                                             \
  .steps = {__VA_ARGS__},                                                      \
  .nsteps = sizeof((step_t[]){__VA_ARGS__}) / sizeof(step_t)

static const seq_case_t seq_cases[] = {
    {
        .title = "transitions by events",
        STEPS(EV(RUNNING, 0, ST_FIRST), EVC(PAUSED, 100, RUNNING, 100),
              EVC(RUNNING, 250, PAUSED, 150)),
        .now = 400,
        .held = true,
        .present = true,
        .state = RUNNING,
        .total = {[RUNNING] = 250, [PAUSED] = 150},
        .uptime = 400,
        .in_state = 150,
        .seen_mask = BIT(RUNNING) | BIT(PAUSED),
    },
    {
        .title = "duplicate events change nothing",
        STEPS(EV(RUNNING, 0, ST_FIRST), EV(RUNNING, 50, ST_NONE),
              EV(RUNNING, 70, ST_NONE), EVC(SHUTOFF, 90, RUNNING, 90),
              EV(SHUTOFF, 95, ST_NONE)),
        .now = 100,
        .held = true,
        .present = true,
        .state = SHUTOFF,
        .total = {[RUNNING] = 90, [SHUTOFF] = 10},
        .uptime = 0,
        .in_state = 10,
        .seen_mask = BIT(RUNNING) | BIT(SHUTOFF),
    },
    {
        .title = "event timed before the last transition is clamped to it",
        STEPS(EV(RUNNING, 0, ST_FIRST), EVC(PAUSED, 100, RUNNING, 100),
              EVC(SHUTOFF, 80, PAUSED, 0)),
        .now = 200,
        .held = true,
        .present = true,
        .state = SHUTOFF,
        .total = {[RUNNING] = 100, [PAUSED] = 0, [SHUTOFF] = 100},
        .uptime = 0,
        .in_state = 100,
        .seen_mask = BIT(RUNNING) | BIT(PAUSED) | BIT(SHUTOFF),
    },
    {
        .title = "poll older than an event is ignored",
        STEPS(PO(RUNNING, 0, ST_FIRST), EVC(PAUSED, 100, RUNNING, 100),
              PO(RUNNING, 90, ST_NONE), PO(PAUSED, 150, ST_NONE)),
        .now = 200,
        .held = true,
        .present = true,
        .state = PAUSED,
        .total = {[RUNNING] = 100, [PAUSED] = 100},
        .uptime = 200,
        .in_state = 100,
        .seen_mask = BIT(RUNNING) | BIT(PAUSED),
    },
    {
        .title = "poll corrects a missed event",
        STEPS(EV(RUNNING, 0, ST_FIRST), POC(PAUSED, 100, RUNNING, 100),
              PO(PAUSED, 120, ST_NONE)),
        .now = 150,
        .held = true,
        .present = true,
        .state = PAUSED,
        .total = {[RUNNING] = 100, [PAUSED] = 50},
        .uptime = 150,
        .in_state = 50,
        .seen_mask = BIT(RUNNING) | BIT(PAUSED),
    },
    {
        .title = "poll issued at the transition time applies",
        STEPS(EV(RUNNING, 0, ST_FIRST), EVC(PAUSED, 100, RUNNING, 100),
              POC(SHUTOFF, 100, PAUSED, 0)),
        .now = 130,
        .held = true,
        .present = true,
        .state = SHUTOFF,
        .total = {[RUNNING] = 100, [SHUTOFF] = 30},
        .uptime = 0,
        .in_state = 30,
        .seen_mask = BIT(RUNNING) | BIT(PAUSED) | BIT(SHUTOFF),
    },
    {
        .title =
            "uptime goes on through pause/resume and blocked; the time in the state does not",
        STEPS(EV(RUNNING, 0, ST_FIRST), EVC(PAUSED, 100, RUNNING, 100),
              EVC(RUNNING, 200, PAUSED, 100), EVC(BLOCKED, 220, RUNNING, 20),
              EVC(RUNNING, 230, BLOCKED, 10)),
        .now = 250,
        .held = true,
        .present = true,
        .state = RUNNING,
        .total = {[RUNNING] = 140, [PAUSED] = 100, [BLOCKED] = 10},
        .uptime = 250,
        .in_state = 20,
        .seen_mask = BIT(RUNNING) | BIT(PAUSED) | BIT(BLOCKED),
    },
    {
        .title = "first seen shut off: not up, no uptime",
        STEPS(PO(SHUTOFF, 10, ST_FIRST)),
        .now = 60,
        .held = true,
        .present = true,
        .state = SHUTOFF,
        .total = {[SHUTOFF] = 50},
        .uptime = 0,
        .in_state = 50,
        .seen_mask = BIT(SHUTOFF),
    },
    {
        .title = "polled every cycle: stays present",
        STEPS(PO(RUNNING, 0, ST_FIRST), SW(0, 5, 0, 0),
              PO(RUNNING, 100, ST_NONE), SW(100, 105, 0, 0)),
        .now = 200,
        .held = true,
        .present = true,
        .state = RUNNING,
        .total = {[RUNNING] = 200},
        .uptime = 200,
        .in_state = 200,
        .seen_mask = BIT(RUNNING),
    },
    {
        .title = "an event since the cycle began keeps it present",
        STEPS(PO(RUNNING, 0, ST_FIRST), EVC(PAUSED, 120, RUNNING, 120),
              SW(100, 130, 0, 0)),
        .now = 200,
        .held = true,
        .present = true,
        .state = PAUSED,
        .total = {[RUNNING] = 120, [PAUSED] = 80},
        .uptime = 200,
        .in_state = 80,
        .seen_mask = BIT(RUNNING) | BIT(PAUSED),
    },
    {
        .title = "not polled: gone, stint closed at the sweep",
        STEPS(PO(RUNNING, 0, ST_FIRST), SW(100, 150, NEVER, 0)),
        .now = 1000,
        .held = true,
        .present = false,
        .state = RUNNING,
        .total = {[RUNNING] = 150},
        .uptime = 0,
        .in_state = 150,
        .seen_mask = BIT(RUNNING),
    },
    {
        .title = "gone, then back in another state: totals continue",
        STEPS(PO(RUNNING, 0, ST_FIRST), SW(100, 150, NEVER, 0),
              POC(SHUTOFF, 300, RUNNING, 150)),
        .now = 400,
        .held = true,
        .present = true,
        .state = SHUTOFF,
        .total = {[RUNNING] = 150, [SHUTOFF] = 100},
        .uptime = 0,
        .in_state = 100,
        .seen_mask = BIT(RUNNING) | BIT(SHUTOFF),
    },
    {
        .title = "gone, then back running: a new stint and uptime",
        STEPS(PO(RUNNING, 0, ST_FIRST), SW(100, 150, NEVER, 0),
              EV(RUNNING, 300, ST_NONE)),
        .now = 400,
        .held = true,
        .present = true,
        .state = RUNNING,
        .total = {[RUNNING] = 250},
        .uptime = 100,
        .in_state = 100,
        .seen_mask = BIT(RUNNING),
    },
    {
        .title = "gone and forgotten after forget_after",
        STEPS(PO(RUNNING, 0, ST_FIRST), SW(100, 150, 1000, 0),
              SW(200, 1150, 1000, 0), SW(300, 1151, 1000, 1)),
        .now = 2000,
        .held = false,
    },
    {
        .title = "forget_after 0 drops at the next sweep",
        STEPS(PO(RUNNING, 0, ST_FIRST), SW(100, 150, 0, 0), SW(200, 151, 0, 1)),
        .now = 2000,
        .held = false,
    },
    {
        .title = "sweep with a time before the last transition",
        /* gone since 100, not 50: kept until 100 + forget_after */
        STEPS(PO(RUNNING, 0, ST_FIRST), EVC(PAUSED, 100, RUNNING, 100),
              SW(200, 50, 1000, 0), SW(300, 1100, 1000, 0)),
        .now = 1000,
        .held = true,
        .present = false,
        .state = PAUSED,
        .total = {[RUNNING] = 100, [PAUSED] = 0},
        .uptime = 0,
        .in_state = 0,
        .seen_mask = BIT(RUNNING) | BIT(PAUSED),
    },
    {
        .title = "view at a time before the last transition",
        STEPS(EV(RUNNING, 0, ST_FIRST), EVC(PAUSED, 100, RUNNING, 100),
              EVC(RUNNING, 200, PAUSED, 100)),
        .now = 150,
        .held = true,
        .present = true,
        .state = RUNNING,
        .total = {[RUNNING] = 100, [PAUSED] = 100},
        .uptime = 150,
        .in_state = 0,
        .seen_mask = BIT(RUNNING) | BIT(PAUSED),
    },
};

START_TEST(test_sequences) {
  const seq_case_t *c = &seq_cases[_i];
  st_tracker_t *st = st_create();
  ck_assert_ptr_nonnull(st);

  for (size_t i = 0; i < c->nsteps; i++) {
    const step_t *s = &c->steps[i];
    if (s->kind == 's') {
      ck_assert_msg(st_sweep(st, s->t, s->t2, s->forget) == s->dropped,
                    "%s: step %zu: dropped", c->title, i);
      continue;
    }
    st_result_t r;
    int status = (s->kind == 'e')
                     ? st_event(st, U1, "vm", 1, s->state, 0, s->t, &r)
                     : st_poll(st, U1, "vm", 1, s->state, 0, s->t, &r);
    ck_assert_int_eq(status, 0);
    ck_assert_msg(r.change == s->change, "%s: step %zu: change %d, want %d",
                  c->title, i, r.change, s->change);
    ck_assert_int_eq(r.restore, ST_RESTORE_NONE);
    if (s->change == ST_CHANGED) {
      ck_assert_msg(r.old_state == s->old_state && r.new_state == s->state,
                    "%s: step %zu: %d -> %d", c->title, i, r.old_state,
                    r.new_state);
      ck_assert_msg(r.old_stint_ms == s->old_stint,
                    "%s: step %zu: old_stint_ms %llu, want %llu", c->title, i,
                    (unsigned long long)r.old_stint_ms,
                    (unsigned long long)s->old_stint);
    }
  }

  st_view_t v;
  bool held = view_of(st, U1, c->now, &v);
  ck_assert_msg(held == c->held, "%s: held", c->title);
  ck_assert_uint_eq(st_count(st), c->held ? 1 : 0);
  if (held) {
    ck_assert_msg(v.present == c->present, "%s: present", c->title);
    ck_assert_int_eq(v.state, c->state);
    uint64_t sum = 0;
    for (int s = 0; s < ST_STATE_COUNT; s++) {
      ck_assert_msg(v.total_ms[s] == c->total[s],
                    "%s: total_ms[%s] %llu, want %llu", c->title,
                    st_state_name(s), (unsigned long long)v.total_ms[s],
                    (unsigned long long)c->total[s]);
      sum += c->total[s];
    }
    ck_assert_uint_eq(v.sum_ms, sum);
    ck_assert_msg(v.uptime_ms == c->uptime, "%s: uptime %llu, want %llu",
                  c->title, (unsigned long long)v.uptime_ms,
                  (unsigned long long)c->uptime);
    ck_assert_msg(v.in_state_ms == c->in_state, "%s: in_state %llu, want %llu",
                  c->title, (unsigned long long)v.in_state_ms,
                  (unsigned long long)c->in_state);
    ck_assert_msg(v.seen_mask == c->seen_mask, "%s: seen_mask %#x, want %#x",
                  c->title, v.seen_mask, c->seen_mask);
  }
  st_destroy(st);
}
END_TEST

/* ---- uptime and the time in the current state ---- */

/* libvirt's reasons used below (virDomain*Reason). */
enum {
  R_BOOTED = 1,        /* running */
  R_MIGRATED = 2,      /* running: an incoming migration, or resumed after
                          a failed or cancelled outgoing one */
  R_RESTORED = 3,      /* running */
  R_FROM_SNAPSHOT = 4, /* running */
  R_UNPAUSED = 5,      /* running */
  R_WAKEUP = 8,        /* running */
  P_USER = 1,          /* paused */
  P_MIGRATION = 2,     /* paused */
  P_FROM_SNAPSHOT = 7, /* paused */
  P_SNAPSHOT = 9,      /* paused while a snapshot is taken */
  S_DESTROYED = 2,     /* shutoff */
  S_SAVED = 5,         /* shutoff */
  C_PANICKED = 1,      /* crashed */
};

/* 'e' event, 'p' poll, 's' sweep (poll_ms t, now_ms t + 50). */
typedef struct {
  char kind;
  int state, reason, id;
  uint64_t t;
} up_step_t;

#define UE(s, r, id, t)                                                        \
  { 'e', (s), (r), (id), (t) }
#define UP(s, r, id, t)                                                        \
  { 'p', (s), (r), (id), (t) }
#define USW(t)                                                                 \
  { 's', 0, 0, 0, (t) }

typedef struct {
  const char *title;
  up_step_t steps[6];
  size_t nsteps;
  uint64_t uptime, in_state; /* the view at 1000 */
} up_case_t;

#define USTEPS(...)                                                            \
  .steps = {__VA_ARGS__},                                                      \
  .nsteps = sizeof((up_step_t[]){__VA_ARGS__}) / sizeof(up_step_t)

static const up_case_t up_cases[] = {
    {"pause and resume: up since the boot",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(PAUSED, P_USER, 1, 100),
            UE(RUNNING, R_UNPAUSED, 1, 300)),
     1000, 700},
    {"paused now: still up, paused since the pause",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(PAUSED, P_USER, 1, 100)), 1000,
     900},
    {"a pause for a snapshot, resumed",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(PAUSED, P_SNAPSHOT, 1, 200),
            UE(RUNNING, R_UNPAUSED, 1, 300)),
     1000, 700},
    {"pmsuspend and wakeup",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(PMSUSPENDED, 0, 1, 200),
            UE(RUNNING, R_WAKEUP, 1, 500)),
     1000, 500},
    {"pmsuspended now",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(PMSUSPENDED, 0, 1, 200)), 1000,
     800},
    {"blocked and back",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(BLOCKED, 0, 1, 100),
            UE(RUNNING, R_UNPAUSED, 1, 200)),
     1000, 800},
    {"shutting down: still up",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(SHUTDOWN, 1, 1, 900)), 1000, 100},
    {"crashed: 0, crashed since the crash",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(CRASHED, C_PANICKED, 1, 400)), 0,
     600},
    {"crashed, then started again",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(CRASHED, C_PANICKED, 1, 400),
            UE(RUNNING, R_BOOTED, 2, 600)),
     400, 400},
    {"destroyed: 0",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(SHUTOFF, S_DESTROYED, -1, 300)), 0,
     700},
    {"destroyed, then started: a new start",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(SHUTOFF, S_DESTROYED, -1, 300),
            UE(RUNNING, R_BOOTED, 2, 500)),
     500, 500},
    {"saved, then restored: a start",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(SHUTOFF, S_SAVED, -1, 300),
            UE(RUNNING, R_RESTORED, 2, 600)),
     400, 400},
    {"a snapshot reverted while running: a start",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(RUNNING, R_FROM_SNAPSHOT, 1, 500)),
     500, 500},
    {"reverted to a paused snapshot, then resumed: one start",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(PAUSED, P_FROM_SNAPSHOT, 1, 500),
            UE(RUNNING, R_FROM_SNAPSHOT, 1, 700)),
     500, 300},
    {"an incoming migration: a start", USTEPS(UE(RUNNING, R_MIGRATED, 7, 200)),
     800, 800},
    {"an outgoing migration cancelled: up since the boot",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(PAUSED, P_MIGRATION, 1, 300),
            UE(RUNNING, R_MIGRATED, 1, 400)),
     1000, 600},
    {"a restart no event reported, found by a poll (new id)",
     USTEPS(UP(RUNNING, R_BOOTED, 1, 0), UP(RUNNING, R_BOOTED, 1, 300),
            UP(RUNNING, R_BOOTED, 2, 600)),
     400, 400},
    {"a stale poll with the old id changes nothing",
     USTEPS(UE(RUNNING, R_BOOTED, 1, 0), UE(SHUTOFF, S_DESTROYED, -1, 500),
            UE(RUNNING, R_BOOTED, 2, 600), UP(RUNNING, R_BOOTED, 1, 550)),
     400, 400},
    {"started paused, then resumed",
     USTEPS(UP(SHUTOFF, 0, -1, 0), UE(PAUSED, P_USER, 3, 200),
            UE(RUNNING, R_UNPAUSED, 3, 500)),
     800, 500},
    {"first seen paused: up since the first read",
     USTEPS(UP(PAUSED, P_USER, 1, 100)), 900, 900},
    {"gone while running, back: a start",
     USTEPS(UP(RUNNING, R_BOOTED, 1, 0), USW(100),
            UP(RUNNING, R_BOOTED, 1, 300)),
     700, 700},
};

START_TEST(test_uptime) {
  const up_case_t *c = &up_cases[_i];
  st_tracker_t *st = st_create();
  ck_assert_ptr_nonnull(st);
  for (size_t i = 0; i < c->nsteps; i++) {
    const up_step_t *s = &c->steps[i];
    if (s->kind == 's') {
      ck_assert_uint_eq(st_sweep(st, s->t, s->t + 50, NEVER), 0);
      continue;
    }
    int status =
        (s->kind == 'e')
            ? st_event(st, U1, "vm", s->id, s->state, s->reason, s->t, NULL)
            : st_poll(st, U1, "vm", s->id, s->state, s->reason, s->t, NULL);
    ck_assert_int_eq(status, 0);
  }
  st_view_t v;
  ck_assert(view_of(st, U1, 1000, &v));
  ck_assert_msg(v.uptime_ms == c->uptime, "%s: uptime %llu, want %llu",
                c->title, (unsigned long long)v.uptime_ms,
                (unsigned long long)c->uptime);
  ck_assert_msg(v.in_state_ms == c->in_state, "%s: in_state %llu, want %llu",
                c->title, (unsigned long long)v.in_state_ms,
                (unsigned long long)c->in_state);
  /* The current stint began at or after the last start. */
  if (st_state_is_up(v.state))
    ck_assert_msg(v.in_state_ms <= v.uptime_ms, "%s: in_state > uptime",
                  c->title);
  /* Durations are not touched by a start: they add up to the time seen. */
  uint64_t first = (c->steps[0].kind == 's') ? 0 : c->steps[0].t;
  bool swept = false;
  for (size_t i = 0; i < c->nsteps; i++)
    swept |= c->steps[i].kind == 's';
  if (!swept)
    ck_assert_uint_eq(v.sum_ms, 1000 - first);
  st_destroy(st);
}
END_TEST

START_TEST(test_is_start_table) {
  /* Every (old state, new state) pair, same reason 0 and id: a start
   * exactly when the old state is not up and the new one is. */
  for (int o = 0; o < ST_STATE_COUNT; o++)
    for (int n = 0; n < ST_STATE_COUNT; n++) {
      st_start_in_t in = {
          .known = true, .old_state = o, .old_id = 1, .state = n, .id = 1};
      bool want = st_state_is_up(n) && !st_state_is_up(o);
      ck_assert_msg(st_is_start(&in) == want, "%s -> %s", st_state_name(o),
                    st_state_name(n));
      in.known = false; /* not known before: up is a start */
      ck_assert(st_is_start(&in) == st_state_is_up(n));
      in.known = true;
      in.id = 2; /* another id: a start when up both times */
      ck_assert(st_is_start(&in) == st_state_is_up(n));
      in.old_id = -1; /* an unknown id proves nothing */
      ck_assert(st_is_start(&in) == want);
    }
  ck_assert(!st_state_is_up(SHUTOFF) && !st_state_is_up(CRASHED));
  ck_assert(st_state_is_up(RUNNING) && st_state_is_up(PAUSED) &&
            st_state_is_up(PMSUSPENDED) && st_state_is_up(SHUTDOWN) &&
            st_state_is_up(BLOCKED) && st_state_is_up(NOSTATE));
  ck_assert(!st_state_is_up(-1) && !st_state_is_up(ST_STATE_COUNT));
}
END_TEST

START_TEST(test_uptime_across_restart) {
  /* Saved paused (up since 1000); after a collectd restart the same QEMU
   * process is running: the gap is not credited (another state), the
   * uptime goes on from 1000, the time running counts from the read. */
  st_tracker_t *st = st_create();
  st_evidence_t ev = {.process = 0x222, .cpu_ns = 500};
  ck_assert_int_eq(st_poll_ev(st, U2, "two", 6, RUNNING, 1, &ev, 1000, NULL),
                   0);
  ck_assert_int_eq(st_event(st, U2, NULL, 6, PAUSED, 1, 2000, NULL), 0);
  ck_assert_int_eq(st_poll_ev(st, U2, NULL, 6, PAUSED, 1, &ev, 2500, NULL), 0);
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(st_export(st, BOOT_A, 3000, &snap), 0);
  st_destroy(st);

  st = st_create();
  ck_assert_int_eq(st_import(st, snap, true, 3500), 0);
  st_result_t r;
  ev.cpu_ns = 900;
  ck_assert_int_eq(st_poll_ev(st, U2, "two", 6, RUNNING, 5, &ev, 4000, &r), 0);
  ck_assert_int_eq(r.restore, ST_RESTORE_NOT_CREDITED);
  st_view_t v;
  ck_assert(view_of(st, U2, 5000, &v));
  ck_assert_uint_eq(v.uptime_ms, 4000);
  ck_assert_uint_eq(v.in_state_ms, 1000);
  st_destroy(st);

  /* The same file after a host reboot: a new clock, everything from the
   * first read. */
  st = st_create();
  ck_assert_int_eq(st_import(st, snap, false, 100), 0);
  ck_assert_int_eq(st_poll_ev(st, U2, "two", 6, PAUSED, 1, &ev, 200, &r), 0);
  ck_assert_int_eq(r.why, ST_CONT_CLOCK);
  ck_assert(view_of(st, U2, 700, &v));
  ck_assert_uint_eq(v.uptime_ms, 500);
  ck_assert_uint_eq(v.in_state_ms, 500);
  st_destroy(st);

  /* The same process, but running "from snapshot" now: a snapshot was
   * reverted in it while collectd was down, a start. */
  st = st_create();
  ck_assert_int_eq(st_import(st, snap, true, 3500), 0);
  ck_assert_int_eq(
      st_poll_ev(st, U2, "two", 6, RUNNING, R_FROM_SNAPSHOT, &ev, 4000, &r), 0);
  ck_assert(view_of(st, U2, 5000, &v));
  ck_assert_uint_eq(v.uptime_ms, 1000);
  st_destroy(st);

  /* Credited (same process, paused, vCPU time unmoved): both go on. */
  st = st_create();
  ck_assert_int_eq(st_import(st, snap, true, 3500), 0);
  ev.cpu_ns = 500;
  ck_assert_int_eq(st_poll_ev(st, U2, "two", 6, PAUSED, 1, &ev, 4000, &r), 0);
  ck_assert_int_eq(r.restore, ST_RESTORE_CREDITED);
  ck_assert(view_of(st, U2, 5000, &v));
  ck_assert_uint_eq(v.uptime_ms, 4000);
  ck_assert_uint_eq(v.in_state_ms, 3000);
  st_destroy(st);
  st_snapshot_free(snap);
}
END_TEST

/* ---- single behaviours ---- */

START_TEST(test_first_result) {
  st_tracker_t *st = st_create();
  st_result_t r;
  ck_assert_int_eq(st_poll(st, U1, "a", 3, PAUSED, 2, 10, &r), 0);
  ck_assert_int_eq(r.change, ST_FIRST);
  ck_assert_int_eq(r.restore, ST_RESTORE_NONE);
  ck_assert_int_eq(r.old_state, -1);
  ck_assert_int_eq(r.old_reason, -1);
  ck_assert_int_eq(r.new_state, PAUSED);
  ck_assert_int_eq(r.new_reason, 2);
  ck_assert_uint_eq(r.old_stint_ms, 0);

  /* A stale poll reports the current state, not the one it saw. */
  ck_assert_int_eq(st_event(st, U1, "a", 3, RUNNING, 1, 100, &r), 0);
  ck_assert_int_eq(r.old_reason, 2);
  ck_assert_int_eq(st_poll(st, U1, "a", 3, PAUSED, 2, 50, &r), 0);
  ck_assert_int_eq(r.change, ST_NONE);
  ck_assert_int_eq(r.new_state, RUNNING);
  ck_assert_int_eq(r.new_reason, 1);

  /* NULL ret is fine. */
  ck_assert_int_eq(st_event(st, U2, NULL, -1, SHUTOFF, 0, 0, NULL), 0);
  ck_assert_uint_eq(st_count(st), 2);
  st_destroy(st);
}
END_TEST

START_TEST(test_names_and_ids) {
  st_tracker_t *st = st_create();
  st_view_t v;

  ck_assert_int_eq(st_poll(st, U1, NULL, 4, RUNNING, 0, 0, NULL), 0);
  ck_assert(view_of(st, U1, 0, &v));
  ck_assert_str_eq(v.name, "");
  ck_assert_int_eq(v.id, 4);

  ck_assert_int_eq(st_poll(st, U1, "web", 4, RUNNING, 0, 10, NULL), 0);
  ck_assert_int_eq(st_poll(st, U1, NULL, 4, RUNNING, 0, 20, NULL), 0);
  ck_assert(view_of(st, U1, 20, &v));
  ck_assert_str_eq(v.name, "web");

  /* A stale poll renames but keeps the newer id. */
  ck_assert_int_eq(st_event(st, U1, "web", -1, SHUTOFF, 0, 100, NULL), 0);
  ck_assert_int_eq(st_poll(st, U1, "web2", 4, RUNNING, 0, 90, NULL), 0);
  ck_assert(view_of(st, U1, 100, &v));
  ck_assert_str_eq(v.name, "web2");
  ck_assert_int_eq(v.id, -1);
  ck_assert_int_eq(v.state, SHUTOFF);

  /* Negative ids are -1. */
  ck_assert_int_eq(st_poll(st, U1, "web2", -7, SHUTOFF, 0, 200, NULL), 0);
  ck_assert(view_of(st, U1, 200, &v));
  ck_assert_int_eq(v.id, -1);

  /* Over-long names are cut at a character boundary: 1023 'a' then a
   * 2-byte character straddling byte 1024. */
  char *longname = malloc(ST_NAME_MAX + 8);
  memset(longname, 'a', ST_NAME_MAX - 1);
  strcpy(longname + ST_NAME_MAX - 1, "\xc3\xa9xyz");
  ck_assert_int_eq(st_poll(st, U2, longname, 1, RUNNING, 0, 0, NULL), 0);
  ck_assert(view_of(st, U2, 0, &v));
  ck_assert_uint_eq(strlen(v.name), ST_NAME_MAX - 1);
  ck_assert_int_eq(memcmp(v.name, longname, ST_NAME_MAX - 1), 0);
  /* Exactly ST_NAME_MAX is kept whole. */
  longname[ST_NAME_MAX] = '\0';
  longname[ST_NAME_MAX - 1] = 'b';
  ck_assert_int_eq(st_poll(st, U2, longname, 1, RUNNING, 0, 1, NULL), 0);
  ck_assert(view_of(st, U2, 1, &v));
  ck_assert_str_eq(v.name, longname);
  free(longname);
  st_destroy(st);
}
END_TEST

START_TEST(test_bad_arguments) {
  static const char *const bad_uuids[] = {
      "",
      "00000000-0000-4000-8000-00000000000",   /* short */
      "00000000-0000-4000-8000-0000000000011", /* long */
      "00000000-0000-4000-8000-00000000000A",  /* upper case */
      "00000000-0000-4000-8000-00000000000g",
      "000000000-000-4000-8000-000000000001", /* dash misplaced */
      "00000000_0000-4000-8000-000000000001",
      "00000000-0000-4000-8000-00000000000 ",
  };
  st_tracker_t *st = st_create();
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(bad_uuids); i++) {
    ck_assert_int_eq(st_poll(st, bad_uuids[i], "x", 1, RUNNING, 0, 0, NULL),
                     -EINVAL);
    ck_assert_int_eq(st_event(st, bad_uuids[i], "x", 1, RUNNING, 0, 0, NULL),
                     -EINVAL);
  }
  ck_assert_int_eq(st_poll(st, NULL, "x", 1, RUNNING, 0, 0, NULL), -EINVAL);
  ck_assert_int_eq(st_poll(st, U1, "x", 1, -1, 0, 0, NULL), -EINVAL);
  ck_assert_int_eq(st_event(st, U1, "x", 1, ST_STATE_COUNT, 0, 0, NULL),
                   -EINVAL);
  ck_assert_int_eq(st_poll(NULL, U1, "x", 1, RUNNING, 0, 0, NULL), -EINVAL);
  ck_assert_uint_eq(st_count(st), 0);
  ck_assert_uint_eq(st_count(NULL), 0);
  ck_assert_uint_eq(st_sweep(NULL, 0, 0, 0), 0);
  ck_assert_int_eq(st_export(NULL, BOOT_A, 0, NULL), -EINVAL);
  st_destroy(st);
  st_destroy(NULL);
  st_snapshot_free(NULL);
}
END_TEST

START_TEST(test_state_names) {
  static const struct {
    int state;
    const char *name;
  } cases[] = {
      {0, "nostate"},  {1, "running"}, {2, "blocked"}, {3, "paused"},
      {4, "shutdown"}, {5, "shutoff"}, {6, "crashed"}, {7, "pmsuspended"},
      {-1, "unknown"}, {8, "unknown"},
  };
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(cases); i++)
    ck_assert_str_eq(st_state_name(cases[i].state), cases[i].name);
}
END_TEST

static int count_cb(const st_view_t *v, void *ud) {
  (void)v;
  int *n = ud;
  return (++*n == 2) ? 42 : 0;
}

START_TEST(test_final_once) {
  /* A domain seen gone is `final` in the views until the next sweep, with
   * its last stint credited: the caller dispatches it once. */
  st_tracker_t *st = st_create();
  st_view_t v;
  ck_assert_int_eq(st_poll(st, U1, "a", 1, RUNNING, 0, 0, NULL), 0);
  st_sweep(st, 0, 10, NEVER);
  ck_assert(view_of(st, U1, 10, &v));
  ck_assert(v.present && !v.final);
  st_sweep(st, 1000, 1500, NEVER); /* not polled at 1000: gone at 1500 */
  ck_assert(view_of(st, U1, 1600, &v));
  ck_assert(!v.present && v.final);
  ck_assert_uint_eq(v.total_ms[RUNNING], 1500);
  st_sweep(st, 2000, 2500, NEVER);
  ck_assert(view_of(st, U1, 2600, &v));
  ck_assert(!v.present && !v.final);
  ck_assert_uint_eq(v.total_ms[RUNNING], 1500);
  /* Back, and gone again: final again. */
  ck_assert_int_eq(st_poll(st, U1, "a", 2, RUNNING, 0, 3000, NULL), 0);
  ck_assert(view_of(st, U1, 3000, &v));
  ck_assert(v.present && !v.final);
  st_sweep(st, 4000, 4200, NEVER);
  ck_assert(view_of(st, U1, 4300, &v));
  ck_assert(!v.present && v.final);
  ck_assert_uint_eq(v.total_ms[RUNNING], 2700);
  st_destroy(st);
}
END_TEST

START_TEST(test_foreach_stops) {
  st_tracker_t *st = st_create();
  ck_assert_int_eq(st_poll(st, U1, "a", 1, RUNNING, 0, 0, NULL), 0);
  ck_assert_int_eq(st_poll(st, U2, "b", 2, RUNNING, 0, 0, NULL), 0);
  ck_assert_int_eq(st_poll(st, U3, "c", 3, RUNNING, 0, 0, NULL), 0);
  int n = 0;
  ck_assert_int_eq(st_foreach(st, 0, count_cb, &n), 42);
  ck_assert_int_eq(n, 2);
  ck_assert_int_eq(st_foreach(NULL, 0, count_cb, &n), 0);
  st_destroy(st);
}
END_TEST

/* ---- export and import ---- */

/* U1 running id 5 since 1000; U2 paused id 6 since 2000 (was running from
 * 1000); U3 gone since 3000 (was shut off from 1000). Saved at 5000. */
/* Evidence read with U1 (running) and U2 (paused). */
static const st_evidence_t EV1 = {.process = 0x111, .cpu_ns = 0};
static const st_evidence_t EV2 = {.process = 0x222, .cpu_ns = 500};

static st_snapshot_t *saved_snapshot(void) {
  st_tracker_t *st = st_create();
  ck_assert_int_eq(st_poll(st, U1, "one", 5, RUNNING, 1, 1000, NULL), 0);
  ck_assert_int_eq(st_poll(st, U2, "two", 6, RUNNING, 1, 1000, NULL), 0);
  ck_assert_int_eq(st_poll(st, U3, "three", -1, SHUTOFF, 0, 1000, NULL), 0);
  ck_assert_int_eq(st_event(st, U2, "two", 6, PAUSED, 2, 2000, NULL), 0);
  ck_assert_int_eq(st_poll_ev(st, U1, "one", 5, RUNNING, 1, &EV1, 2500, NULL),
                   0);
  ck_assert_int_eq(st_poll_ev(st, U2, "two", 6, PAUSED, 2, &EV2, 2500, NULL),
                   0);
  ck_assert_uint_eq(st_sweep(st, 2500, 3000, NEVER), 0);

  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(st_export(st, BOOT_A, 5000, &snap), 0);
  st_destroy(st);
  return snap;
}

START_TEST(test_export) {
  st_snapshot_t *snap = saved_snapshot();
  ck_assert_str_eq(snap->boot_id, BOOT_A);
  ck_assert_uint_eq(snap->saved_ms, 5000);
  ck_assert_uint_eq(snap->count, 3);

  /* Sorted by uuid. */
  const st_record_t *r = &snap->records[0];
  ck_assert_str_eq(r->uuid, U1);
  ck_assert_str_eq(r->name, "one");
  ck_assert_int_eq(r->id, 5);
  ck_assert_int_eq(r->state, RUNNING);
  ck_assert_int_eq(r->reason, 1);
  ck_assert(r->present);
  ck_assert_uint_eq(r->total_ms[RUNNING], 4000);
  ck_assert_uint_eq(r->entered_ms, 1000);
  ck_assert_uint_eq(r->up_since_ms, 1000);
  ck_assert_uint_eq(r->gone_since_ms, 0);
  ck_assert_uint_eq(r->seen_mask, BIT(RUNNING));
  ck_assert_uint_eq(r->evidence.process, EV1.process);
  ck_assert_uint_eq(r->evidence.cpu_ns, EV1.cpu_ns);

  r = &snap->records[1];
  ck_assert_str_eq(r->uuid, U2);
  ck_assert_int_eq(r->state, PAUSED);
  ck_assert(r->present);
  ck_assert_uint_eq(r->total_ms[RUNNING], 1000);
  ck_assert_uint_eq(r->total_ms[PAUSED], 3000);
  ck_assert_uint_eq(r->entered_ms, 2000);
  ck_assert_uint_eq(r->up_since_ms, 1000); /* up since 1000: paused is up */
  ck_assert_uint_eq(r->seen_mask, BIT(RUNNING) | BIT(PAUSED));
  ck_assert_uint_eq(r->evidence.process, EV2.process);
  ck_assert_uint_eq(r->evidence.cpu_ns, EV2.cpu_ns);

  r = &snap->records[2];
  ck_assert_str_eq(r->uuid, U3);
  ck_assert(!r->present);
  ck_assert_uint_eq(r->gone_since_ms, 3000);
  ck_assert_uint_eq(r->total_ms[SHUTOFF], 2000);
  st_snapshot_free(snap);

  /* Exported at a time before the last transition: the snapshot is taken
   * at that transition, so a later restore does not count time twice. */
  st_tracker_t *st = st_create();
  ck_assert_int_eq(st_event(st, U1, "a", 1, RUNNING, 0, 0, NULL), 0);
  ck_assert_int_eq(st_event(st, U1, "a", 1, PAUSED, 0, 100, NULL), 0);
  ck_assert_int_eq(st_export(st, BOOT_A, 50, &snap), 0);
  ck_assert_uint_eq(snap->saved_ms, 100);
  ck_assert_uint_eq(snap->records[0].total_ms[RUNNING], 100);
  ck_assert_uint_eq(snap->records[0].total_ms[PAUSED], 0);
  st_snapshot_free(snap);
  st_destroy(st);

  /* An empty tracker, and a NULL boot id. */
  st = st_create();
  ck_assert_int_eq(st_export(st, NULL, 7, &snap), 0);
  ck_assert_uint_eq(snap->count, 0);
  ck_assert_str_eq(snap->boot_id, "");
  st_snapshot_free(snap);
  st_destroy(st);
}
END_TEST

/* Restore U1 (saved running, id 5, reason 1, process EV1, 4000 ms
 * running, since 1000, saved at 5000) and observe it once. */
typedef struct {
  const char *title;
  bool same_clock;
  uint64_t import_ms;
  bool by_event;
  int id, state;
  uint64_t process; /* evidence of the observation */
  uint64_t at;      /* observation */
  st_change_t change;
  st_restore_t restore;
  st_continuity_t why;
  uint64_t gap;
  uint64_t now; /* view */
  uint64_t running, paused, uptime, in_state;
} restore_case_t;

static const restore_case_t restore_cases[] = {
    {"same clock, id, state and process: credited", true, 6000, false, 5,
     RUNNING, 0x111, 7000, ST_NONE, ST_RESTORE_CREDITED, ST_CONT_CREDITED, 2000,
     8000, 7000, 0, 7000, 7000},
    {"first seen by an event: not credited", true, 6000, true, 5, RUNNING,
     0x111, 7000, ST_NONE, ST_RESTORE_NOT_CREDITED, ST_CONT_EVENT, 2000, 8000,
     5000, 0, 1000, 1000},
    {"other id: not credited, a new start", true, 6000, false, 7, RUNNING,
     0x111, 7000, ST_NONE, ST_RESTORE_NOT_CREDITED, ST_CONT_ID, 2000, 8000,
     5000, 0, 1000, 1000},
    /* The same process: not restarted, so the uptime goes on from 1000 (the
     * gap is still not credited: when it was paused is unknown). */
    {"other state, same process: not credited, uptime goes on", true, 6000,
     false, 5, PAUSED, 0x111, 7000, ST_CHANGED, ST_RESTORE_NOT_CREDITED,
     ST_CONT_STATE, 2000, 8000, 4000, 1000, 7000, 1000},
    {"other clock: not credited, no gap", false, 100, false, 5, RUNNING, 0x111,
     200, ST_NONE, ST_RESTORE_NOT_CREDITED, ST_CONT_CLOCK, 0, 300, 4100, 0, 100,
     100},
    {"no process evidence: not credited", true, 6000, false, 5, RUNNING, 0,
     7000, ST_NONE, ST_RESTORE_NOT_CREDITED, ST_CONT_UNPROVABLE, 2000, 8000,
     5000, 0, 1000, 1000},
    {"another process: not credited, a new start", true, 6000, false, 5,
     RUNNING, 0x999, 7000, ST_NONE, ST_RESTORE_NOT_CREDITED, ST_CONT_PROCESS,
     2000, 8000, 5000, 0, 1000, 1000},
    {"observation before the save is clamped", true, 6000, false, 5, RUNNING,
     0x111, 4000, ST_NONE, ST_RESTORE_CREDITED, ST_CONT_CREDITED, 0, 5500, 4500,
     0, 4500, 4500},
    {"shut off now: not credited, no uptime", true, 6000, false, -1, SHUTOFF, 0,
     7000, ST_CHANGED, ST_RESTORE_NOT_CREDITED, ST_CONT_STATE, 2000, 8000, 4000,
     0, 0, 1000},
};

START_TEST(test_restore) {
  const restore_case_t *c = &restore_cases[_i];
  st_snapshot_t *snap = saved_snapshot();
  st_tracker_t *st = st_create();
  ck_assert_int_eq(st_import(st, snap, c->same_clock, c->import_ms), 0);
  st_snapshot_free(snap);
  ck_assert_uint_eq(st_count(st), 3);

  /* Pending: held, not present, totals frozen. */
  st_view_t v;
  ck_assert(view_of(st, U1, c->now, &v));
  ck_assert(!v.present);
  ck_assert_uint_eq(v.total_ms[RUNNING], 4000);
  ck_assert_uint_eq(v.uptime_ms, 0);

  st_result_t r;
  st_evidence_t ev = {.process = c->process};
  int status =
      c->by_event
          ? st_event(st, U1, "one", c->id, c->state, 1, c->at, &r)
          : st_poll_ev(st, U1, "one", c->id, c->state, 1, &ev, c->at, &r);
  ck_assert_int_eq(status, 0);
  ck_assert_msg(r.change == c->change, "%s: change %d", c->title, r.change);
  ck_assert_msg(r.why == c->why, "%s: why %d", c->title, r.why);
  ck_assert_msg(r.restore == c->restore, "%s: restore %d", c->title, r.restore);
  ck_assert_msg(r.gap_ms == c->gap, "%s: gap %llu", c->title,
                (unsigned long long)r.gap_ms);
  ck_assert_int_eq(r.old_state, RUNNING);
  ck_assert_int_eq(r.new_state, c->state);
  ck_assert_uint_eq(r.old_stint_ms, 0);

  ck_assert(view_of(st, U1, c->now, &v));
  ck_assert(v.present);
  ck_assert_int_eq(v.id, c->id);
  ck_assert_msg(v.total_ms[RUNNING] == c->running, "%s: running %llu", c->title,
                (unsigned long long)v.total_ms[RUNNING]);
  ck_assert_uint_eq(v.total_ms[PAUSED], c->paused);
  ck_assert_msg(v.uptime_ms == c->uptime, "%s: uptime %llu", c->title,
                (unsigned long long)v.uptime_ms);
  ck_assert_msg(v.in_state_ms == c->in_state, "%s: in_state %llu", c->title,
                (unsigned long long)v.in_state_ms);
  ck_assert_uint_eq(v.seen_mask, BIT(RUNNING) | BIT(c->state));

  /* Only the first observation reports the restore. */
  ck_assert_int_eq(st_poll(st, U1, "one", c->id, c->state, 1, c->now, &r), 0);
  ck_assert_int_eq(r.change, ST_NONE);
  ck_assert_int_eq(r.restore, ST_RESTORE_NONE);
  st_destroy(st);
}
END_TEST

/* The continuity decision, as a table: the experiments and each
 * piece of evidence alone. P/Q: two processes; C/D: two vCPU times. */
#define P 0x1001
#define Q 0x2002
#define C 700
#define D 900
typedef struct {
  const char *title;
  st_continuity_in_t in;
  st_continuity_t want;
} continuity_case_t;

/* One row: same clock, present when saved, first seen by an event; saved
 * id, state, reason, process, vCPU time; observed id, state, reason,
 * process, vCPU time. */
#define CIN(a_clk, a_pres, a_ev, a_sid, a_sst, a_srs, a_sp, a_sc, a_id, a_st,  \
            a_rs, a_np, a_nc)                                                  \
  {                                                                            \
    .same_clock = (a_clk), .saved_present = (a_pres), .by_event = (a_ev),      \
    .saved_id = (a_sid), .saved_state = (a_sst), .saved_reason = (a_srs),      \
    .saved = {(a_sp), (a_sc)}, .id = (a_id), .state = (a_st),                  \
    .reason = (a_rs), .now = {                                                 \
      (a_np),                                                                  \
      (a_nc)                                                                   \
    }                                                                          \
  }
#define R RUNNING
#define PA PAUSED
#define OFF SHUTOFF

static const continuity_case_t continuity_cases[] = {
    /* clk pres ev | saved id state reason proc cpu | now id state reason
     * proc cpu */
    {"running, same process", CIN(1, 1, 0, 4, R, 1, P, 0, 4, R, 1, P, 0),
     ST_CONT_CREDITED},
    {"paused, same process, vCPU time still",
     CIN(1, 1, 0, 4, PA, 1, P, C, 4, PA, 1, P, C), ST_CONT_CREDITED},
    {"shut off: nothing proves it stayed off (started and stopped meanwhile)",
     CIN(1, 1, 0, -1, OFF, 1, 0, 0, -1, OFF, 1, 0, 0), ST_CONT_UNPROVABLE},
    {"running, id reused after a libvirtd restart, another process",
     CIN(1, 1, 0, 4, R, 1, P, 0, 4, R, 1, Q, 0), ST_CONT_PROCESS},
    {"paused, resumed and paused again: vCPU time moved",
     CIN(1, 1, 0, 4, PA, 1, P, C, 4, PA, 1, P, D), ST_CONT_CPU},
    {"paused, vCPU time unknown now",
     CIN(1, 1, 0, 4, PA, 1, P, C, 4, PA, 1, P, 0), ST_CONT_CPU},
    {"paused, vCPU time unknown when saved",
     CIN(1, 1, 0, 4, PA, 1, P, 0, 4, PA, 1, P, C), ST_CONT_CPU},
    {"paused, saved without any evidence (a version 1 file)",
     CIN(1, 1, 0, 4, PA, 1, 0, 0, 4, PA, 1, P, C), ST_CONT_UNPROVABLE},
    {"crashed (vCPUs stopped), vCPU time moved",
     CIN(1, 1, 0, 4, CRASHED, 1, P, C, 4, CRASHED, 1, P, D), ST_CONT_CPU},
    {"pmsuspended, still",
     CIN(1, 1, 0, 4, PMSUSPENDED, 1, P, C, 4, PMSUSPENDED, 1, P, C),
     ST_CONT_CREDITED},
    {"running, vCPU time is no evidence for running",
     CIN(1, 1, 0, 4, R, 1, P, C, 4, R, 1, P, D), ST_CONT_CREDITED},
    {"running, process unknown now", CIN(1, 1, 0, 4, R, 1, P, 0, 4, R, 1, 0, 0),
     ST_CONT_UNPROVABLE},
    {"running, process unknown when saved (remote, version 1)",
     CIN(1, 1, 0, 4, R, 1, 0, 0, 4, R, 1, P, 0), ST_CONT_UNPROVABLE},
    {"running, both unknown (test driver)",
     CIN(1, 1, 0, 4, R, 1, 0, 0, 4, R, 1, 0, 0), ST_CONT_UNPROVABLE},
    {"running, another id", CIN(1, 1, 0, 4, R, 1, P, 0, 5, R, 1, P, 0),
     ST_CONT_ID},
    {"running, another reason", CIN(1, 1, 0, 4, R, 1, P, 0, 4, R, 2, P, 0),
     ST_CONT_STATE},
    {"running now, paused when saved",
     CIN(1, 1, 0, 4, PA, 1, P, C, 4, R, 1, P, D), ST_CONT_STATE},
    {"other clock", CIN(0, 1, 0, 4, R, 1, P, 0, 4, R, 1, P, 0), ST_CONT_CLOCK},
    {"gone when saved", CIN(1, 0, 0, 4, R, 1, P, 0, 4, R, 1, P, 0),
     ST_CONT_ABSENT},
    {"first seen by an event", CIN(1, 1, 1, 4, R, 1, P, 0, 4, R, 1, P, 0),
     ST_CONT_EVENT},
    {"other clock wins over everything",
     CIN(0, 0, 1, 1, R, 1, 0, 0, 2, PA, 2, Q, D), ST_CONT_CLOCK},
};
#undef R
#undef PA
#undef OFF

START_TEST(test_continuity_table) {
  const continuity_case_t *c = &continuity_cases[_i];
  st_continuity_t got = st_continuity(&c->in);
  ck_assert_msg(got == c->want, "%s: %d (%s), want %d (%s)", c->title, got,
                st_continuity_text(got), c->want, st_continuity_text(c->want));
}
END_TEST

/* Every combination of clock, presence, observation kind, saved state and
 * whether state, reason, id, process and vCPU time agree: credited exactly
 * when all agree, the domain is active and its process is known (and, for a
 * state that stops the vCPUs, its vCPU time is known and still). */
START_TEST(test_continuity_all) {
  unsigned credited = 0, total = 0;
  for (unsigned bits = 0; bits < (1u << 6); bits++)
    for (int s = 0; s < ST_STATE_COUNT; s++)
      for (int active = 0; active < 2; active++)
        for (int sp = 0; sp < 2; sp++)         /* saved process: 0 or P */
          for (int np = 0; np < 3; np++)       /* now: 0, P, Q */
            for (int sc = 0; sc < 2; sc++)     /* saved cpu: 0 or C */
              for (int nc = 0; nc < 3; nc++) { /* now: 0, C, D */
                const uint64_t procs[] = {0, P, Q}, cpus[] = {0, C, D};
                st_continuity_in_t in = {
                    .same_clock = bits & 1,
                    .saved_present = bits & 2,
                    .by_event = !(bits & 4),
                    .saved_id = active ? 3 : -1,
                    .saved_state = s,
                    .saved_reason = 1,
                    .saved = {sp ? P : 0, sc ? C : 0},
                    .id = (bits & 8) ? (active ? 3 : -1) : 9,
                    .state = (bits & 16) ? s : (s + 1) % ST_STATE_COUNT,
                    .reason = (bits & 32) ? 1 : 2,
                    .now = {procs[np], cpus[nc]},
                };
                bool stops = s == PAUSED || s == CRASHED || s == PMSUSPENDED;
                bool want = (bits & 63) == 63 && active && sp && np == 1 &&
                            (!stops || (sc && nc == 1));
                st_continuity_t got = st_continuity(&in);
                ck_assert_msg((got == ST_CONT_CREDITED) == want,
                              "bits %u state %d active %d proc %d/%d cpu "
                              "%d/%d: %s",
                              bits, s, active, sp, np, sc, nc,
                              st_continuity_text(got));
                credited += want;
                total++;
              }
  /* 8 states, one way each; 3 of them also need the vCPU time. */
  ck_assert_uint_eq(credited, 5 * 2 * 3 + 3 * 1);
  ck_assert_uint_eq(total, 64 * 8 * 2 * 2 * 3 * 2 * 3);
}
END_TEST

START_TEST(test_restore_gone_record) {
  /* U3 was gone when saved: never credited, even with the same id/state. */
  st_snapshot_t *snap = saved_snapshot();
  st_tracker_t *st = st_create();
  ck_assert_int_eq(st_import(st, snap, true, 6000), 0);
  st_snapshot_free(snap);

  st_result_t r;
  ck_assert_int_eq(st_poll(st, U3, "three", -1, SHUTOFF, 0, 7000, &r), 0);
  ck_assert_int_eq(r.change, ST_NONE);
  ck_assert_int_eq(r.restore, ST_RESTORE_NOT_CREDITED);
  ck_assert_uint_eq(r.gap_ms, 4000); /* gone since 3000 */
  st_view_t v;
  ck_assert(view_of(st, U3, 8000, &v));
  ck_assert_uint_eq(v.total_ms[SHUTOFF], 3000);
  st_destroy(st);
}
END_TEST

START_TEST(test_restore_odd_record) {
  /* A record claiming times after its save and no seen states: credited,
   * its times are clamped to the save, and its state counts as seen. */
  st_snapshot_t *snap = saved_snapshot();
  st_record_t *r = &snap->records[0];
  r->seen_mask = 0;
  r->entered_ms = 9000;
  r->up_since_ms = 9000;
  st_tracker_t *st = st_create();
  ck_assert_int_eq(st_import(st, snap, true, 5500), 0);
  st_snapshot_free(snap);

  st_result_t res;
  ck_assert_int_eq(st_poll_ev(st, U1, "one", 5, RUNNING, 1, &EV1, 6000, &res),
                   0);
  ck_assert_int_eq(res.restore, ST_RESTORE_CREDITED);
  st_view_t v;
  ck_assert(view_of(st, U1, 7000, &v));
  ck_assert_uint_eq(v.seen_mask, BIT(RUNNING));
  ck_assert_uint_eq(v.uptime_ms, 2000);
  ck_assert_uint_eq(v.total_ms[RUNNING], 6000);
  /* A poll issued after the save is not older than the last transition. */
  ck_assert_int_eq(st_poll(st, U1, "one", 5, PAUSED, 1, 6500, &res), 0);
  ck_assert_int_eq(res.change, ST_CHANGED);
  ck_assert_uint_eq(res.old_stint_ms, 1500);
  st_destroy(st);
}
END_TEST

START_TEST(test_round_trip) {
  /* Export, import on the same clock, observe everything unchanged at the
   * save time: the next export is identical. */
  st_snapshot_t *a = saved_snapshot();
  st_tracker_t *st = st_create();
  ck_assert_int_eq(st_import(st, a, true, 5000), 0);
  st_result_t r;
  ck_assert_int_eq(st_poll_ev(st, U1, "one", 5, RUNNING, 1, &EV1, 5000, &r), 0);
  ck_assert_int_eq(r.restore, ST_RESTORE_CREDITED);
  ck_assert_int_eq(st_poll_ev(st, U2, "two", 6, PAUSED, 2, &EV2, 5000, &r), 0);
  ck_assert_int_eq(r.restore, ST_RESTORE_CREDITED);
  /* U3 stays pending (gone). */

  st_snapshot_t *b = NULL;
  ck_assert_int_eq(st_export(st, BOOT_A, 5000, &b), 0);
  assert_snapshots_equal(a, b);
  st_snapshot_free(a);
  st_snapshot_free(b);
  st_destroy(st);
}
END_TEST

/* A pending domain is exported again with its saved record, as gone since it
 * was last known present, and forgotten forget_after after that. */
typedef struct {
  const char *title;
  bool same_clock;
  uint64_t import_ms;
  uint64_t u1_gone_since; /* U1 was present at the save (5000) */
  uint64_t u3_gone_since; /* U3 was gone since 3000 */
} pending_case_t;

static const pending_case_t pending_cases[] = {
    {"same clock", true, 6000, 5000, 3000},
    {"other clock", false, 100, 100, 100},
};

START_TEST(test_pending) {
  const pending_case_t *c = &pending_cases[_i];
  const uint64_t forget = 10000;
  st_snapshot_t *a = saved_snapshot();
  st_tracker_t *st = st_create();
  ck_assert_int_eq(st_import(st, a, c->same_clock, c->import_ms), 0);

  /* Sweeps do not make pending domains gone or present. */
  ck_assert_uint_eq(st_sweep(st, c->import_ms + 10, c->import_ms + 20, forget),
                    0);
  st_snapshot_t *b = NULL;
  ck_assert_int_eq(st_export(st, BOOT_A, c->import_ms + 50, &b), 0);
  ck_assert_uint_eq(b->count, 3);
  for (size_t i = 0; i < a->count; i++) {
    assert_record_kept(&a->records[i], &b->records[i]);
    ck_assert(!b->records[i].present);
  }
  ck_assert_uint_eq(b->records[0].gone_since_ms, c->u1_gone_since);
  ck_assert_uint_eq(b->records[1].gone_since_ms, c->u1_gone_since);
  ck_assert_uint_eq(b->records[2].gone_since_ms, c->u3_gone_since);

  /* Re-imported on the same clock, a re-exported pending domain is no
   * longer credited: it was not seen in between. */
  st_tracker_t *again = st_create();
  ck_assert_int_eq(st_import(again, b, true, c->import_ms + 60), 0);
  st_result_t r;
  ck_assert_int_eq(
      st_poll(again, U1, "one", 5, RUNNING, 1, c->import_ms + 70, &r), 0);
  ck_assert_int_eq(r.restore, ST_RESTORE_NOT_CREDITED);
  ck_assert_uint_eq(r.gap_ms, c->import_ms + 70 - c->u1_gone_since);
  st_destroy(again);

  /* Forgotten once gone for more than forget_after. */
  uint64_t first =
      c->u3_gone_since < c->u1_gone_since ? c->u3_gone_since : c->u1_gone_since;
  ck_assert_uint_eq(st_sweep(st, 0, first + forget, forget), 0);
  ck_assert_uint_eq(st_count(st), 3);
  size_t dropped = st_sweep(st, 0, c->u1_gone_since + forget + 1, forget);
  ck_assert_uint_eq(st_count(st), 0);
  ck_assert_uint_eq(dropped, 3);

  st_snapshot_free(a);
  st_snapshot_free(b);
  st_destroy(st);
}
END_TEST

START_TEST(test_import_errors) {
  st_snapshot_t *snap = saved_snapshot();
  st_tracker_t *st = st_create();

  /* Not empty. */
  ck_assert_int_eq(st_poll(st, U1, "x", 1, RUNNING, 0, 0, NULL), 0);
  ck_assert_int_eq(st_import(st, snap, true, 0), -EBUSY);
  st_destroy(st);

  static const struct {
    const char *title;
    const char *uuid;
    int id, state;
    uint32_t seen_mask;
  } bad[] = {
      {"bad uuid", "00000000-0000-4000-8000-00000000000G", 5, RUNNING, 2},
      {"duplicate uuid", U2, 5, RUNNING, 2},
      {"state too big", U1, 5, ST_STATE_COUNT, 2},
      {"negative state", U1, 5, -1, 2},
      {"bad id", U1, -2, RUNNING, 2},
      {"seen_mask too big", U1, 5, RUNNING, 0x100},
  };
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(bad); i++) {
    st_record_t saved = snap->records[0];
    st_record_t *r = &snap->records[0];
    snprintf(r->uuid, sizeof(r->uuid), "%s", bad[i].uuid);
    r->id = bad[i].id;
    r->state = bad[i].state;
    r->seen_mask = bad[i].seen_mask;
    st = st_create();
    /* The bad record is first or last: nothing is kept either way. */
    ck_assert_msg(st_import(st, snap, true, 0) == -EINVAL, "%s", bad[i].title);
    ck_assert_uint_eq(st_count(st), 0);
    st_destroy(st);
    snap->records[0] = saved;
  }
  st = st_create();
  ck_assert_int_eq(st_import(st, NULL, true, 0), -EINVAL);
  snap->records[2].state = 9;
  ck_assert_int_eq(st_import(st, snap, true, 0), -EINVAL);
  ck_assert_uint_eq(st_count(st), 0);
  /* A NULL name is an empty one. */
  snap->records[2].state = SHUTOFF;
  free(snap->records[2].name);
  snap->records[2].name = NULL;
  ck_assert_int_eq(st_import(st, snap, true, 0), 0);
  st_view_t v;
  ck_assert(view_of(st, U3, 0, &v));
  ck_assert_str_eq(v.name, "");
  st_destroy(st);
  st_snapshot_free(snap);
}
END_TEST

/* ---- scale ---- */

#define MANY 10000

static void many_uuid(char *buf, size_t i) {
  snprintf(buf, ST_UUID_LEN + 1, "%08zx-0000-4000-8000-%012zx",
           (size_t)((i * 2654435761u) & 0xffffffffu), i);
}

static int many_cb(const st_view_t *v, void *ud) {
  size_t *n = ud;
  (*n)++;
  return (v->present && v->state == ((v->id % 2) ? PAUSED : RUNNING) &&
          v->sum_ms == 3000)
             ? 0
             : -1;
}

START_TEST(test_many_domains) {
  st_tracker_t *st = st_create();
  char uuid[ST_UUID_LEN + 1];
  st_result_t r;

  for (size_t i = 0; i < MANY; i++) {
    many_uuid(uuid, i);
    ck_assert_int_eq(st_poll(st, uuid, "vm", (int)i, RUNNING, 0, 0, &r), 0);
    ck_assert_int_eq(r.change, ST_FIRST);
  }
  ck_assert_uint_eq(st_count(st), MANY);
  for (size_t i = 1; i < MANY; i += 2) {
    many_uuid(uuid, i);
    ck_assert_int_eq(st_event(st, uuid, "vm", (int)i, PAUSED, 0, 1000, &r), 0);
    ck_assert_int_eq(r.change, ST_CHANGED);
  }
  for (size_t i = 0; i < MANY; i++) {
    many_uuid(uuid, i);
    ck_assert_int_eq(st_poll(st, uuid, "vm", (int)i, (i % 2) ? PAUSED : RUNNING,
                             0, 2000, &r),
                     0);
    ck_assert_int_eq(r.change, ST_NONE);
  }
  ck_assert_uint_eq(st_sweep(st, 2000, 2000, 0), 0);
  size_t n = 0;
  ck_assert_int_eq(st_foreach(st, 3000, many_cb, &n), 0);
  ck_assert_uint_eq(n, MANY);

  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(st_export(st, BOOT_A, 3000, &snap), 0);
  ck_assert_uint_eq(snap->count, MANY);
  for (size_t i = 1; i < MANY; i++)
    ck_assert_int_lt(strcmp(snap->records[i - 1].uuid, snap->records[i].uuid),
                     0);
  st_tracker_t *st2 = st_create();
  ck_assert_int_eq(st_import(st2, snap, true, 3000), 0);
  ck_assert_uint_eq(st_count(st2), MANY);
  st_snapshot_free(snap);
  st_destroy(st2);

  /* Half are not polled: gone, then forgotten. */
  for (size_t i = 0; i < MANY; i += 2) {
    many_uuid(uuid, i);
    ck_assert_int_eq(st_poll(st, uuid, "vm", (int)i, RUNNING, 0, 4000, NULL),
                     0);
  }
  ck_assert_uint_eq(st_sweep(st, 4000, 4000, 100), 0);
  ck_assert_uint_eq(st_sweep(st, 4000, 4101, 100), MANY / 2);
  ck_assert_uint_eq(st_count(st), MANY / 2);
  st_destroy(st);
}
END_TEST

/* st_get: one domain's view, as st_foreach gives it. */
START_TEST(test_get) {
  st_tracker_t *st = st_create();
  st_view_t v;
  ck_assert_int_eq(st_get(st, U1, 0, &v), -ENOENT);
  ck_assert_int_eq(st_get(st, "bad", 0, &v), -ENOENT);
  ck_assert_int_eq(st_get(NULL, U1, 0, &v), -ENOENT);
  ck_assert_int_eq(st_event(st, U1, "a", 1, 1, 1, 1000, NULL), 0);
  ck_assert_int_eq(st_event(st, U2, "b", 2, 3, 1, 1000, NULL), 0);
  ck_assert_int_eq(st_event(st, U1, NULL, 1, 3, 1, 1500, NULL), 0);
  ck_assert_int_eq(st_get(st, U1, 2000, &v), 0);
  ck_assert_str_eq(v.uuid, U1);
  ck_assert_uint_eq(v.total_ms[1], 500);
  ck_assert_uint_eq(v.total_ms[3], 500);
  ck_assert_int_eq(st_get(st, U2, 2000, &v), 0);
  ck_assert_uint_eq(v.total_ms[3], 1000);
  st_destroy(st);
}
END_TEST

static Suite *tracker_suite(void) {
  Suite *s = suite_create("state_tracker");
  TCase *tc = tcase_create("core");
  tcase_add_loop_test(tc, test_sequences, 0, STATIC_ARRAY_SIZE(seq_cases));
  tcase_add_test(tc, test_first_result);
  tcase_add_test(tc, test_names_and_ids);
  tcase_add_test(tc, test_bad_arguments);
  tcase_add_test(tc, test_state_names);
  tcase_add_test(tc, test_foreach_stops);
  tcase_add_test(tc, test_final_once);
  tcase_add_loop_test(tc, test_uptime, 0, STATIC_ARRAY_SIZE(up_cases));
  tcase_add_test(tc, test_is_start_table);
  tcase_add_test(tc, test_get);
  suite_add_tcase(s, tc);

  tc = tcase_create("persistence");
  tcase_add_test(tc, test_export);
  tcase_add_loop_test(tc, test_restore, 0, STATIC_ARRAY_SIZE(restore_cases));
  tcase_add_loop_test(tc, test_continuity_table, 0,
                      STATIC_ARRAY_SIZE(continuity_cases));
  tcase_add_test(tc, test_continuity_all);
  tcase_add_test(tc, test_restore_gone_record);
  tcase_add_test(tc, test_restore_odd_record);
  tcase_add_test(tc, test_uptime_across_restart);
  tcase_add_test(tc, test_round_trip);
  tcase_add_loop_test(tc, test_pending, 0, STATIC_ARRAY_SIZE(pending_cases));
  tcase_add_test(tc, test_import_errors);
  suite_add_tcase(s, tc);

  tc = tcase_create("scale");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_many_domains);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return check_run(tracker_suite()); }
