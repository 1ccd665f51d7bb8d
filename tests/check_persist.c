/* Unit tests for persist: the boot id, every load outcome (no file, good
 * file on the same or another boot, corrupt, future version, a bad file
 * that cannot be moved aside, unreadable, not a regular file, persistence
 * off, an unknown boot id on both runs), and saves (due, background,
 * synchronous, failing), and the TimeBy totals across a restart (credited
 * or not as the tracker credits running). */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* mknod, makedev */
#endif
#include "persist.h"
#include "state_store.h"
#include "state_tracker_priv.h"

#include "check_run.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define U1 "11111111-1111-1111-1111-111111111111"
#define BOOT_A "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"

static char dir[64], path[128], boot_path[128], corrupt[160];

static void write_file(const char *p, const char *text) {
  FILE *f = fopen(p, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

static void setup(void) {
  snprintf(dir, sizeof(dir), "/tmp/check_persist.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/state", dir);
  snprintf(boot_path, sizeof(boot_path), "%s/boot_id", dir);
  snprintf(corrupt, sizeof(corrupt), "%s.corrupt", path);
  write_file(boot_path, BOOT_A "\n");
}

static void teardown(void) {
  unlink(path);
  rmdir(corrupt); /* one test makes it a directory */
  unlink(corrupt);
  unlink(boot_path);
  rmdir(dir);
}

/* Saves, through p, a tracker with one running domain at 5000. */
static void save_one_with(persist_t *p) {
  st_tracker_t *st = st_create();
  ck_assert_int_eq(st_poll(st, U1, "a", 3, 1, 1, 1000, NULL), 0);
  st_snapshot_t *snap;
  ck_assert_int_eq(persist_snapshot(p, st, NULL, 5000, &snap), 0);
  ck_assert_int_eq(persist_write(p, snap, false), 0);
  st_destroy(st);
}

/* A tracker with one running domain, saved at 5000 on boot `boot`. */
static void save_one(const char *boot) {
  write_file(boot_path, boot);
  persist_t *p = persist_create(path, boot_path, 1000, 0);
  save_one_with(p);
  persist_destroy(p);
  write_file(boot_path, BOOT_A "\n");
}

START_TEST(test_boot_id) {
  persist_t *p = persist_create(path, boot_path, 1000, 0);
  ck_assert(persist_boot_id_known(p));
  ck_assert_str_eq(persist_path(p), path);
  persist_destroy(p);
  unlink(boot_path);
  p = persist_create(path, boot_path, 1000, 0);
  ck_assert(!persist_boot_id_known(p));
  persist_destroy(p);
  write_file(boot_path, "short\n");
  p = persist_create(path, boot_path, 1000, 0);
  ck_assert(!persist_boot_id_known(p));
  persist_destroy(p);
}
END_TEST

static const struct {
  const char *name;
  const char *content;  /* NULL: no file; "@saved": a good save */
  const char *saved_on; /* boot id of the good save */
  int way; /* 0; 1: .corrupt is a non-empty directory (the move aside
              fails); 2: the path goes through a regular file (ENOTDIR, even
              as root) */
  persist_outcome_t outcome;
  int rc;
  bool enabled;
  bool corrupt_exists; /* PATH.corrupt exists after the load */
  bool same_clock;
} load_cases[] = {
    {"no file", NULL, NULL, 0, PERSIST_NO_FILE, -ENOENT, true, false, false},
    {"same boot", "@saved", BOOT_A "\n", 0, PERSIST_LOADED, 0, true, false,
     true},
    {"another boot", "@saved", "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb\n", 0,
     PERSIST_LOADED, 0, true, false, false},
    {"corrupt", "garbage\n", NULL, 0, PERSIST_QUARANTINED, -EINVAL, true, true,
     false},
    {"truncated", "virt_inspector-state 1\nboot_id " BOOT_A "\n", NULL, 0,
     PERSIST_QUARANTINED, -EINVAL, true, true, false},
    {"newer version", "virt_inspector-state 99\n", NULL, 0, PERSIST_QUARANTINED,
     -EPROTONOSUPPORT, true, true, false},
    {"bad and cannot be moved aside: saving off", "garbage\n", NULL, 1,
     PERSIST_KEPT_BAD, -EINVAL, false, true, false},
    {"unreadable: saving off", NULL, NULL, 2, PERSIST_UNREADABLE, -ENOTDIR,
     false, false, false},
};

START_TEST(test_load) {
  const __typeof__(load_cases[0]) *c = &load_cases[_i];
  if (c->content != NULL && strcmp(c->content, "@saved") == 0)
    save_one(c->saved_on);
  else if (c->content != NULL)
    write_file(path, c->content);
  char inside[200], through[160];
  snprintf(inside, sizeof(inside), "%s/x", corrupt);
  snprintf(through, sizeof(through), "%s/x", path);
  if (c->way == 1) {
    ck_assert_int_eq(mkdir(corrupt, 0700), 0);
    write_file(inside, "x");
  } else if (c->way == 2) {
    write_file(path, "x");
  }
  persist_t *p =
      persist_create(c->way == 2 ? through : path, boot_path, 1000, 0);
  st_tracker_t *st = st_create();
  persist_loaded_t l;
  persist_load(p, st, NULL, 6000, &l);
  ck_assert_msg(l.outcome == c->outcome, "%s: outcome %d", c->name, l.outcome);
  if (c->outcome != PERSIST_LOADED)
    ck_assert_int_eq(l.rc, c->rc);
  ck_assert(persist_enabled(p) == c->enabled);
  ck_assert(persist_due(p, 1000000) == c->enabled);
  if (c->outcome == PERSIST_KEPT_BAD)
    ck_assert(l.rc2 != 0 && access(path, F_OK) == 0); /* left in place */
  ck_assert(access(corrupt, F_OK) == (c->corrupt_exists ? 0 : -1));
  if (c->outcome == PERSIST_LOADED) {
    ck_assert_uint_eq(l.count, 1);
    ck_assert(l.same_clock == c->same_clock);
    ck_assert_uint_eq(st_count(st), 1);
  }
  st_destroy(st);
  persist_destroy(p);
  unlink(inside);
}
END_TEST

START_TEST(test_save) {
  persist_t *p = persist_create(path, boot_path, 1000, 500);
  st_tracker_t *st = st_create();
  ck_assert_int_eq(st_poll(st, U1, "a", 3, 1, 1, 600, NULL), 0);
  ck_assert(!persist_due(p, 1499));
  ck_assert(persist_due(p, 1500));
  ck_assert_int_eq(persist_collect(p), 1); /* nothing in flight */
  st_snapshot_t *snap;
  ck_assert_int_eq(persist_snapshot(p, st, NULL, 1500, &snap), 0);
  ck_assert(!persist_due(p, 2000)); /* counted from the snapshot */
  ck_assert_int_eq(persist_write(p, snap, true), 1);
  ck_assert_int_eq(persist_collect(p), 0);
  st_snapshot_t *back;
  ck_assert_int_eq(state_store_read(path, &back), 0);
  ck_assert_uint_eq(back->count, 1);
  ck_assert_str_eq(back->boot_id, BOOT_A);
  st_snapshot_free(back);

  /* A write that fails reports it (synchronously here). */
  persist_t *q = persist_create("/nonexistent/dir/state", boot_path, 1000, 0);
  ck_assert_int_eq(persist_snapshot(q, st, NULL, 2000, &snap), 0);
  ck_assert_int_eq(persist_write(q, snap, false), -ENOENT);
  ck_assert_int_eq(persist_snapshot(q, st, NULL, 2000, &snap), 0);
  ck_assert_int_eq(persist_write(q, snap, true), 1);
  ck_assert_int_eq(persist_collect(q), -ENOENT);
  persist_destroy(q);
  st_destroy(st);
  persist_destroy(p);
}
END_TEST

/* The upgrade: tests/data/state-v2.txt, written by the plugin before
 * version 3 (see tests/data/make_state_v2.c), is loaded on its own boot;
 * every total is kept, the gap is credited where continuity is proven, the
 * uptimes count from the saved stints (version 2 kept no start), and the
 * next save is version 3 with the same totals. */
#define V2_BOOT "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
#define V2U(n) "00000000-0000-4000-8000-00000000000" n

static void copy_fixture(const char *name, const char *to) {
  const char *top = getenv("top_srcdir");
  char from[512];
  snprintf(from, sizeof(from), "%s/tests/data/%s", top ? top : "..", name);
  FILE *in = fopen(from, "r");
  ck_assert_msg(in != NULL, "%s: %s", from, strerror(errno));
  FILE *out = fopen(to, "w");
  ck_assert_ptr_nonnull(out);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
    ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
  fclose(in);
  fclose(out);
}

typedef struct {
  const char *uuid;
  uint64_t uptime, in_state;
} v2_view_t;

static int v2_view_cb(const st_view_t *v, void *ud) {
  v2_view_t *w = ud;
  if (strcmp(v->uuid, w->uuid) == 0) {
    w->uptime = v->uptime_ms;
    w->in_state = v->in_state_ms;
  }
  return 0;
}

START_TEST(test_upgrade_from_v2) {
  copy_fixture("state-v2.txt", path);
  write_file(boot_path, V2_BOOT "\n");
  st_snapshot_t *before;
  ck_assert_int_eq(state_store_read(path, &before), 0);
  ck_assert_uint_eq(before->count, 6);

  persist_t *p = persist_create(path, boot_path, 1000, 11000);
  st_tracker_t *st = st_create();
  persist_loaded_t l;
  persist_load(p, st, NULL, 11000, &l);
  ck_assert_int_eq(l.outcome, PERSIST_LOADED);
  ck_assert_uint_eq(l.count, 6);
  ck_assert(l.same_clock);

  /* The read at 12000 sees each as saved, gone4 included; web1 and db2 have
   * their saved process (and db2, paused, its vCPU time). */
  const st_evidence_t ev = {.process = 4242, .cpu_ns = 7000000};
  st_result_t r[6];
  ck_assert_int_eq(st_poll_ev(st, V2U("1"), NULL, 1, 1, 5, &ev, 12000, &r[0]),
                   0);
  ck_assert_int_eq(st_poll_ev(st, V2U("2"), NULL, 2, 3, 1, &ev, 12000, &r[1]),
                   0);
  ck_assert_int_eq(st_poll(st, V2U("3"), NULL, -1, 5, 2, 12000, &r[2]), 0);
  ck_assert_int_eq(st_poll(st, V2U("4"), NULL, 4, 1, 1, 12000, &r[3]), 0);
  ck_assert_int_eq(st_poll(st, V2U("5"), NULL, 5, 6, 1, 12000, &r[4]), 0);
  ck_assert_int_eq(st_poll(st, V2U("6"), NULL, 6, 7, 0, 12000, &r[5]), 0);
  static const bool credited[6] = {true, true, false, false, false, false};
  for (int i = 0; i < 6; i++)
    ck_assert_msg(r[i].restore == (credited[i] ? ST_RESTORE_CREDITED
                                               : ST_RESTORE_NOT_CREDITED),
                  "domain %d: restore %d (%s)", i + 1, r[i].restore,
                  st_continuity_text(r[i].why));

  /* Uptime and time in the state at 13000. web1 ran since 7000 (its boot at
   * 1000 was not kept by version 2), db2 paused since 8000 (up since then,
   * as far as version 2 tells), pm6 from the read (not proven). */
  static const v2_view_t want[6] = {
      {V2U("1"), 6000, 6000}, {V2U("2"), 5000, 5000}, {V2U("3"), 0, 1000},
      {V2U("4"), 1000, 1000}, {V2U("5"), 0, 1000},    {V2U("6"), 1000, 1000},
  };
  for (int i = 0; i < 6; i++) {
    v2_view_t got = {.uuid = want[i].uuid};
    ck_assert_int_eq(st_foreach(st, 13000, v2_view_cb, &got), 0);
    ck_assert_msg(
        got.uptime == want[i].uptime && got.in_state == want[i].in_state,
        "domain %d: uptime %llu, in state %llu", i + 1,
        (unsigned long long)got.uptime, (unsigned long long)got.in_state);
  }

  /* Saved as version 3 at 12000: every total as before, plus the 2000 ms
   * credited to web1 (running) and db2 (paused). */
  st_snapshot_t *snap;
  ck_assert_int_eq(persist_snapshot(p, st, NULL, 12000, &snap), 0);
  ck_assert_int_eq(persist_write(p, snap, false), 0);
  char head[32] = {0};
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  ck_assert_ptr_nonnull(fgets(head, sizeof(head), f));
  fclose(f);
  ck_assert_str_eq(head, "virt_inspector-state 3\n");
  st_snapshot_t *after;
  ck_assert_int_eq(state_store_read(path, &after), 0);
  ck_assert_uint_eq(after->count, 6);
  for (size_t i = 0; i < 6; i++) {
    const st_record_t *a = &before->records[i], *b = &after->records[i];
    ck_assert_str_eq(a->uuid, b->uuid);
    ck_assert_str_eq(a->name, b->name);
    for (int s = 0; s < ST_STATE_COUNT; s++) {
      uint64_t gap = (credited[i] && s == a->state) ? 2000 : 0;
      ck_assert_msg(b->total_ms[s] == a->total_ms[s] + gap,
                    "%s: %s %llu, was %llu", a->name, st_state_name(s),
                    (unsigned long long)b->total_ms[s],
                    (unsigned long long)a->total_ms[s]);
    }
  }
  ck_assert_str_eq(after->records[2].name, "off 3 \xc3\xa9");
  ck_assert_uint_eq(after->records[0].up_since_ms, 7000);
  st_snapshot_free(before);
  st_snapshot_free(after);
  st_destroy(st);
  persist_destroy(p);
}
END_TEST

/* An unreadable boot id at the save and at the load: both are "unknown",
 * not the same clock: no gap may be credited. */
START_TEST(test_unknown_boot_both_runs) {
  unlink(boot_path);
  persist_t *p = persist_create(path, boot_path, 1000, 0);
  ck_assert(!persist_boot_id_known(p));
  save_one_with(p);
  persist_destroy(p);

  p = persist_create(path, boot_path, 1000, 0);
  st_tracker_t *st = st_create();
  persist_loaded_t l;
  persist_load(p, st, NULL, 6000, &l);
  ck_assert_int_eq(l.outcome, PERSIST_LOADED);
  ck_assert(!l.same_clock);
  st_destroy(st);
  persist_destroy(p);
}
END_TEST

/* An import that fails for another reason than the file's content (out of
 * memory; here a tracker that is not empty, the same path) leaves the file
 * in place and turns saving off: never moved aside. */
START_TEST(test_import_failure_keeps_file) {
  save_one(BOOT_A "\n");
  persist_t *p = persist_create(path, boot_path, 1000, 0);
  st_tracker_t *st = st_create();
  ck_assert_int_eq(st_poll(st, U1, "a", 3, 1, 1, 1000, NULL), 0);
  persist_loaded_t l;
  persist_load(p, st, NULL, 6000, &l);
  ck_assert_int_eq(l.outcome, PERSIST_UNREADABLE);
  ck_assert_int_ne(l.rc, -EINVAL);
  ck_assert(!persist_enabled(p));
  ck_assert_int_eq(access(path, F_OK), 0);
  ck_assert_int_eq(access(corrupt, F_OK), -1);
  st_destroy(st);
  persist_destroy(p);
}
END_TEST

START_TEST(test_off) {
  persist_t *p = persist_create("", boot_path, 1000, 0);
  st_tracker_t *st = st_create();
  persist_loaded_t l;
  persist_load(p, st, NULL, 6000, &l);
  ck_assert_int_eq(l.outcome, PERSIST_OFF);
  ck_assert(!persist_enabled(p));
  ck_assert(!persist_due(p, 1000000));
  st_destroy(st);
  persist_destroy(p);
}
END_TEST

/* A StateFile that is not a regular file: left as it is (same inode and
 * type), nothing read, saving off. 0 directory, 1 FIFO, 2 character device
 * (made here), 3 symbolic link to a good state file. */
static const char *const node_kinds[] = {"directory", "FIFO",
                                         "character device", "symbolic link"};

START_TEST(test_not_regular) {
  char target[160];
  snprintf(target, sizeof(target), "%s/target", dir);
  if (_i == 0)
    ck_assert_int_eq(mkdir(path, 0700), 0);
  else if (_i == 1)
    ck_assert_int_eq(mkfifo(path, 0600), 0);
  else if (_i == 2)
    ck_assert_int_eq(mknod(path, S_IFCHR | 0600, makedev(1, 3)), 0);
  else {
    save_one(BOOT_A "\n");
    ck_assert_int_eq(rename(path, target), 0);
    ck_assert_int_eq(symlink(target, path), 0);
  }
  struct stat before, after;
  ck_assert_int_eq(lstat(path, &before), 0);
  persist_t *p = persist_create(path, boot_path, 1000, 0);
  st_tracker_t *st = st_create();
  persist_loaded_t l;
  persist_load(p, st, NULL, 6000, &l);
  ck_assert_int_eq(l.outcome, PERSIST_NOT_REGULAR);
  ck_assert_str_eq(l.kind, node_kinds[_i]);
  ck_assert(!persist_enabled(p));
  ck_assert_uint_eq(st_count(st), 0);
  ck_assert_int_eq(lstat(path, &after), 0);
  ck_assert_uint_eq(after.st_ino, before.st_ino);
  ck_assert_uint_eq(after.st_mode, before.st_mode);
  ck_assert_int_eq(access(corrupt, F_OK), -1);
  st_destroy(st);
  persist_destroy(p);
  if (_i == 0)
    rmdir(path);
  unlink(target);
}
END_TEST

/* ---- TimeBy totals across a restart ---- */

static const char *const vcpus_only[] = {"vcpus"};

typedef struct {
  uint64_t t2, t4, t8, other; /* totals of vcpus 2, 4, 8, overflow */
  const char *current;
} timeby_t;

static int timeby_cb(const at_view_t *v, void *ud) {
  timeby_t *t = ud;
  uint64_t *slot = v->value == NULL             ? &t->other
                   : strcmp(v->value, "2") == 0 ? &t->t2
                   : strcmp(v->value, "4") == 0 ? &t->t4
                                                : &t->t8;
  *slot = v->total_ms;
  if (v->current)
    t->current = v->value;
  return 0;
}

/* The domain's running total and its vcpus totals at now_ms. */
static uint64_t timeby_at(const st_tracker_t *st, const at_t *at,
                          uint64_t now_ms, timeby_t *ret) {
  st_view_t v;
  ck_assert_int_eq(st_get(st, U1, now_ms, &v), 0);
  *ret = (timeby_t){0};
  ck_assert_int_eq(
      at_foreach(at, U1, v.total_ms[ST_STATE_RUNNING], timeby_cb, ret), 0);
  return v.total_ms[ST_STATE_RUNNING];
}

/* Run 1: running from 1000 with 2 vCPUs, 4 from 3000, saved at 5000 (running
 * 4000 ms: 2000 with 2, 2000 with 4). Run 2 starts at 8000 and first sees
 * the domain at 9000 with `process` and `vcpus`, on boot `boot`. Returns
 * the restore outcome; the tracker and totals are left in *st, *at. */
static st_restore_t timeby_restart(const char *boot, uint64_t process,
                                   const char *vcpus, st_tracker_t **st_ret,
                                   at_t **at_ret) {
  persist_t *p = persist_create(path, boot_path, 1000, 0);
  st_tracker_t *st = st_create();
  at_t *at = at_create(vcpus_only, 1);
  const st_evidence_t ev = {.process = 42, .cpu_ns = 10};
  ck_assert_int_eq(st_poll_ev(st, U1, "a", 3, 1, 1, &ev, 1000, NULL), 0);
  ck_assert_int_eq(at_set(at, U1, 0, "2", 0, NULL), 0);
  timeby_t t;
  uint64_t run = timeby_at(st, at, 3000, &t);
  ck_assert_uint_eq(run, 2000);
  ck_assert_int_eq(at_set(at, U1, 0, "4", run, NULL), 0);
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(persist_snapshot(p, st, at, 5000, &snap), 0);
  ck_assert_uint_eq(snap->attrs->count, 2);
  ck_assert_int_eq(persist_write(p, snap, false), 0);
  st_destroy(st);
  at_destroy(at);
  persist_destroy(p);

  write_file(boot_path, boot);
  p = persist_create(path, boot_path, 1000, 8000);
  st = st_create();
  at = at_create(vcpus_only, 1);
  persist_loaded_t l;
  persist_load(p, st, at, 8000, &l);
  ck_assert_int_eq(l.outcome, PERSIST_LOADED);
  ck_assert_uint_eq(l.attr_count, 2);
  /* Before the first observation: the saved totals. */
  run = timeby_at(st, at, 8500, &t);
  ck_assert_uint_eq(t.t2, 2000);
  ck_assert_uint_eq(t.t4, 2000);
  const st_evidence_t ev2 = {.process = process, .cpu_ns = 20};
  st_result_t r;
  ck_assert_int_eq(st_poll_ev(st, U1, "a", 3, 1, 1, &ev2, 9000, &r), 0);
  run = timeby_at(st, at, 9000, &t);
  ck_assert_int_eq(at_set(at, U1, 0, vcpus, run, NULL), 0);
  persist_destroy(p);
  *st_ret = st;
  *at_ret = at;
  return r.restore;
}

/* The tracker credits the downtime (same process): so does the unchanged
 * value; every running millisecond is in exactly one value. */
START_TEST(test_timeby_credited) {
  st_tracker_t *st;
  at_t *at;
  ck_assert_int_eq(timeby_restart(BOOT_A "\n", 42, "4", &st, &at),
                   ST_RESTORE_CREDITED);
  timeby_t t;
  uint64_t run = timeby_at(st, at, 10000, &t);
  ck_assert_uint_eq(run, 9000); /* 1000..10000, downtime included */
  ck_assert_uint_eq(t.t2, 2000);
  ck_assert_uint_eq(t.t4, 7000);
  ck_assert_str_eq(t.current, "4");
  ck_assert_uint_eq(t.t2 + t.t4, run);
  st_destroy(st);
  at_destroy(at);
}
END_TEST

/* The tracker does not credit the downtime (another process; another
 * boot): nor does the value; the totals go on from the saved ones. */
START_TEST(test_timeby_not_credited) {
  static const char *const boots[] = {BOOT_A "\n",
                                      "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb\n"};
  st_tracker_t *st;
  at_t *at;
  ck_assert_int_eq(timeby_restart(boots[_i], _i == 0 ? 43 : 42, "4", &st, &at),
                   ST_RESTORE_NOT_CREDITED);
  timeby_t t;
  uint64_t run = timeby_at(st, at, 10000, &t);
  ck_assert_uint_eq(run, 5000); /* 4000 saved + 1000 since the restart */
  ck_assert_uint_eq(t.t2, 2000);
  ck_assert_uint_eq(t.t4, 3000);
  ck_assert_uint_eq(t.t2 + t.t4, run);
  st_destroy(st);
  at_destroy(at);
}
END_TEST

/* Credited, but the value changed meanwhile (unknown when): the downtime
 * goes to running, to no value; the new value counts from the restart. */
START_TEST(test_timeby_changed_while_down) {
  st_tracker_t *st;
  at_t *at;
  ck_assert_int_eq(timeby_restart(BOOT_A "\n", 42, "8", &st, &at),
                   ST_RESTORE_CREDITED);
  timeby_t t;
  uint64_t run = timeby_at(st, at, 10000, &t);
  ck_assert_uint_eq(run, 9000);
  ck_assert_uint_eq(t.t2, 2000);
  ck_assert_uint_eq(t.t4, 2000);
  ck_assert_uint_eq(t.t8, 1000);
  ck_assert_str_eq(t.current, "8");
  st_destroy(st);
  at_destroy(at);
}
END_TEST

/* With no TimeBy configured the totals are kept through a save; a domain
 * the tracker no longer knows takes its totals with it; a bad attr line
 * is a corrupt file (moved aside). */
START_TEST(test_timeby_kept_and_corrupt) {
  st_tracker_t *st;
  at_t *at;
  timeby_restart(BOOT_A "\n", 42, "4", &st, &at);
  st_destroy(st);
  at_destroy(at);
  /* the file now holds vcpus 2 and 4 of U1; load it without TimeBy */
  persist_t *p = persist_create(path, boot_path, 1000, 0);
  st = st_create();
  at = at_create(NULL, 0);
  persist_loaded_t l;
  persist_load(p, st, at, 6000, &l);
  ck_assert_int_eq(l.outcome, PERSIST_LOADED);
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(persist_snapshot(p, st, at, 7000, &snap), 0);
  ck_assert_uint_eq(snap->attrs->count, 2);
  st_snapshot_free(snap);
  /* the tracker forgets U1 (never seen again): its totals are not saved
   * (even before at_retain drops them) */
  ck_assert_uint_eq(st_sweep(st, 8000, 8000, 0), 1);
  ck_assert_int_eq(persist_snapshot(p, st, at, 9000, &snap), 0);
  ck_assert_uint_eq(snap->attrs->count, 0);
  st_snapshot_free(snap);
  st_destroy(st);
  at_destroy(at);
  persist_destroy(p);

  write_file(path, "virt_inspector-state 3\nboot_id " BOOT_A
                   "\nsaved_ms 5000\ndomain " U1
                   " 3 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 42 10 a\n"
                   "attr " U1 " 1 0 2000 vcpus\nend 1\n");
  p = persist_create(path, boot_path, 1000, 0);
  st = st_create();
  at = at_create(vcpus_only, 1);
  persist_load(p, st, at, 6000, &l);
  ck_assert_int_eq(l.outcome, PERSIST_QUARANTINED);
  ck_assert_int_eq(l.rc, -EINVAL);
  ck_assert_int_eq(access(corrupt, F_OK), 0);
  ck_assert_uint_eq(st_count(st), 0);
  st_destroy(st);
  at_destroy(at);
  persist_destroy(p);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("persist");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_boot_id);
  tcase_add_loop_test(tc, test_load, 0,
                      (int)(sizeof(load_cases) / sizeof(load_cases[0])));
  tcase_add_test(tc, test_save);
  tcase_add_test(tc, test_unknown_boot_both_runs);
  tcase_add_test(tc, test_upgrade_from_v2);
  tcase_add_test(tc, test_import_failure_keeps_file);
  tcase_add_test(tc, test_off);
  tcase_add_test(tc, test_timeby_credited);
  tcase_add_loop_test(tc, test_timeby_not_credited, 0, 2);
  tcase_add_test(tc, test_timeby_changed_while_down);
  tcase_add_test(tc, test_timeby_kept_and_corrupt);
  tcase_add_loop_test(tc, test_not_regular, 0,
                      (int)(sizeof(node_kinds) / sizeof(node_kinds[0])));
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return check_run(suite()); }
