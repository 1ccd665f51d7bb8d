/* check_state_store.c: unit tests for state_store.c. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* mknod, makedev */
#endif
#endif

#include "state_store.h"
#include "state_store_priv.h"

#include "check_run.h"
#include "check_snapshot.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define STATIC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define U1 "00000000-0000-4000-8000-000000000001"
#define U2 "00000000-0000-4000-8000-000000000002"
#define U3 "00000000-0000-4000-8000-000000000003"
#define BOOT "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"

/* A valid version 1 file: two domains (the bad cases below are version 1
 * files too: the reader still takes them). */
#define HEAD "virt_inspector-state 1\nboot_id " BOOT "\nsaved_ms 5000\n"
#define D1                                                                     \
  "domain " U1 " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 web%20server\n"
#define D2 "domain " U2 " -1 5 0 0 2000 0 3000 34 0 1000 0 0 0 1000 0 0 db\n"
static const char valid_v1[] = HEAD D1 D2 "end 2\n";
/* The same in version 2, with evidence (process, vCPU time) for U1. */
#define HEAD2 "virt_inspector-state 2\nboot_id " BOOT "\nsaved_ms 5000\n"
#define D1V2                                                                   \
  "domain " U1 " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 8796093022209 "      \
  "70000000 web%20server\n"
#define D2V2                                                                   \
  "domain " U2 " -1 5 0 0 2000 0 3000 34 0 1000 0 0 0 1000 0 0 0 0 db\n"
static const char valid_v2[] = HEAD2 D1V2 D2V2 "end 2\n";
/* The same in version 3 (this one): the same fields, the 7th is the last
 * start (up_since_ms), here the same numbers. */
#define HEAD3 "virt_inspector-state 3\nboot_id " BOOT "\nsaved_ms 5000\n"
static const char valid[] = HEAD3 D1V2 D2V2 "end 2\n";

/* Version 3 with TimeBy totals (attr records), as the writer orders them:
 * after their domain, by attribute name, then value (the overflow entry
 * last). */
#define A1                                                                     \
  "attr " U1 " 1 0 4000 flavor m1%20small\n"                                   \
  "attr " U1 " 0 0 3000 vcpus 1\n"                                             \
  "attr " U1 " 1 0 1000 vcpus 2\n"                                             \
  "attr " U1 " 0 1 7 vcpus -\n"
#define A2 "attr " U2 " 0 0 1000 x%25y%20z -\n"
static const char valid_attrs[] = HEAD3 D1V2 A1 D2V2 A2 "end 2\n";

/* ---- helpers ---- */

static char dir[64];
static char path[128];

static void setup(void) {
  snprintf(dir, sizeof(dir), "/tmp/check_state_store.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/state", dir);
}

static void teardown(void) {
  static const char *const suffixes[] = {"", ".tmp", ".corrupt"};
  char p[160];
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(suffixes); i++) {
    snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
    unlink(p);
  }
  rmdir(dir);
}

static void write_file(const char *p, const char *data, size_t len) {
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
  close(fd);
}

static bool exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

/* Parses exactly len bytes from a heap copy, so that ASan catches a read
 * past the end. */
static int parse_exact(const char *data, size_t len, st_snapshot_t **ret) {
  char *copy = malloc(len > 0 ? len : 1);
  ck_assert_ptr_nonnull(copy);
  memcpy(copy, data, len);
  int status = state_store_parse(len > 0 ? copy : NULL, len, ret);
  free(copy);
  return status;
}

static void record_init(st_record_t *r, const char *uuid, const char *name) {
  memset(r, 0, sizeof(*r));
  snprintf(r->uuid, sizeof(r->uuid), "%s", uuid);
  r->name = strdup(name);
  ck_assert_ptr_nonnull(r->name);
}

/* ---- round trips ---- */

static const char *const names[] = {
    "plain",
    "with space",
    "100%",
    "%41%",
    "a/b/../c",
    "caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x90\xa7", /* non-ASCII UTF-8 */
    "line\nbreak\r\ttab",
    "",
    "\x7f\x01\xff",
    "~!\"#$&'()*+,-.:;<=>?@[\\]^_`{|}",
};

START_TEST(test_round_trip) {
  st_snapshot_t *snap = calloc(1, sizeof(*snap));
  snprintf(snap->boot_id, sizeof(snap->boot_id), "%s", BOOT);
  snap->saved_ms = UINT64_MAX;
  size_t n = STATIC_ARRAY_SIZE(names) + 1;
  snap->records = calloc(n, sizeof(*snap->records));
  for (size_t i = 0; i < n; i++) {
    char uuid[ST_UUID_LEN + 1];
    snprintf(uuid, sizeof(uuid), "0123abcd-ef01-4000-8000-%012zx", i);
    st_record_t *r = &snap->records[i];
    if (i < STATIC_ARRAY_SIZE(names)) {
      record_init(r, uuid, names[i]);
    } else { /* longest name, every byte escaped */
      char *longname = malloc(ST_NAME_MAX + 1);
      memset(longname, 0xfe, ST_NAME_MAX);
      longname[ST_NAME_MAX] = '\0';
      record_init(r, uuid, longname);
      free(longname);
    }
    snap->count++;
    r->id = (i % 3 == 0) ? -1 : (int)i;
    r->state = (int)(i % ST_STATE_COUNT);
    r->reason = (i == 1) ? -5 : (int)i * 1000;
    r->seen_mask = (uint32_t)(0xff >> (i % 8));
    for (int s = 0; s < ST_STATE_COUNT; s++)
      r->total_ms[s] = (uint64_t)(i + 1) * 1000003 * (uint64_t)(s + 1);
    r->total_ms[7] = UINT64_MAX;
    r->entered_ms = i * 7;
    r->up_since_ms = i * 5;
    r->present = i % 2;
    r->gone_since_ms = r->present ? 0 : i * 11;
  }
  snap->records[1].reason = -2147483647 - 1;
  snap->records[2].id = 2147483647;

  ck_assert_int_eq(state_store_write(path, snap), 0);

  struct stat sb;
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_uint_eq(sb.st_mode & 07777, 0600);
  char tmp[160];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  ck_assert(!exists(tmp));

  st_snapshot_t *back = NULL;
  ck_assert_int_eq(state_store_read(path, &back), 0);
  assert_snapshots_equal(snap, back);
  st_snapshot_free(back);

  /* A rewrite replaces it, and a stale PATH.tmp with another mode does not
   * leak its mode. */
  write_file(tmp, "junk", 4);
  chmod(tmp, 0644);
  snap->saved_ms = 1;
  ck_assert_int_eq(state_store_write(path, snap), 0);
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_uint_eq(sb.st_mode & 07777, 0600);
  ck_assert(!exists(tmp));
  ck_assert_int_eq(state_store_read(path, &back), 0);
  assert_snapshots_equal(snap, back);
  st_snapshot_free(back);
  st_snapshot_free(snap);
}
END_TEST

START_TEST(test_exact_text) {
  /* The writer's output, byte for byte; it parses back to the same. */
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(parse_exact(valid, strlen(valid), &snap), 0);
  ck_assert_uint_eq(snap->count, 2);
  ck_assert_str_eq(snap->records[0].name, "web server");
  ck_assert_int_eq(snap->records[1].id, -1);
  ck_assert_uint_eq(snap->records[1].seen_mask, 34);
  ck_assert(!snap->records[1].present);
  ck_assert_uint_eq(snap->records[1].gone_since_ms, 3000);
  ck_assert_uint_eq(snap->records[0].evidence.process, 8796093022209);
  ck_assert_uint_eq(snap->records[0].evidence.cpu_ns, 70000000);
  ck_assert_uint_eq(snap->records[1].evidence.process, 0);

  ck_assert_int_eq(state_store_write(path, snap), 0);
  char buf[sizeof(valid) + 16];
  int fd = open(path, O_RDONLY);
  ck_assert_int_ge(fd, 0);
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  ck_assert_int_eq(n, (ssize_t)strlen(valid));
  ck_assert_mem_eq(buf, valid, strlen(valid));
  st_snapshot_free(snap);

  /* No domains. */
  static const char empty[] = HEAD3 "end 0\n";
  ck_assert_int_eq(parse_exact(empty, strlen(empty), &snap), 0);
  ck_assert_uint_eq(snap->count, 0);
  ck_assert_str_eq(snap->boot_id, BOOT);
  ck_assert_uint_eq(snap->saved_ms, 5000);
  ck_assert_int_eq(state_store_write(path, snap), 0);
  st_snapshot_free(snap);
}
END_TEST

START_TEST(test_upgrade_from_v1) {
  /* A version 1 file: read with the evidence unknown, every total kept,
   * written back as version 3. */
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(parse_exact(valid_v1, strlen(valid_v1), &snap), 0);
  ck_assert_uint_eq(snap->count, 2);
  const st_record_t *r = &snap->records[0];
  ck_assert_uint_eq(r->total_ms[1], 4000);
  ck_assert_uint_eq(r->evidence.process, 0);
  ck_assert_uint_eq(r->evidence.cpu_ns, 0);
  ck_assert_uint_eq(snap->records[1].total_ms[1], 1000);
  ck_assert_uint_eq(snap->records[1].total_ms[5], 1000);
  ck_assert_int_eq(state_store_write(path, snap), 0);
  st_snapshot_free(snap);

  static const char upgraded[] =
      HEAD3 "domain " U1 " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 0 0 "
            "web%20server\n" D2V2 "end 2\n";
  char buf[sizeof(upgraded) + 16];
  int fd = open(path, O_RDONLY);
  ck_assert_int_ge(fd, 0);
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  ck_assert_int_eq(n, (ssize_t)strlen(upgraded));
  ck_assert_mem_eq(buf, upgraded, strlen(upgraded));

  /* A version 2 domain line in a version 1 file, and the reverse. */
  static const char v1_with_v2_line[] = HEAD D1V2 "end 1\n";
  static const char v2_with_v1_line[] = HEAD2 D1 "end 1\n";
  ck_assert_int_eq(
      state_store_parse(v1_with_v2_line, strlen(v1_with_v2_line), &snap),
      -EINVAL);
  ck_assert_int_eq(
      state_store_parse(v2_with_v1_line, strlen(v2_with_v1_line), &snap),
      -EINVAL);
}
END_TEST

START_TEST(test_upgrade_from_v2) {
  /* Version 2: every total and the evidence kept; its running_since_ms
   * becomes the start of the saved stint for a domain up (running 1000,
   * paused since 2500 with running_since 0), 0 for one shut off. */
  static const char v2[] =
      HEAD2 "domain " U1 " 5 1 5 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 9 8 a\n"
            "domain " U2 " 6 3 1 1 2500 0 0 10 0 1500 0 2500 0 0 0 0 7 6 b\n"
            "domain " U3 " -1 5 2 1 3000 0 0 34 0 2000 0 0 0 2000 0 0 0 0 c\n"
            "end 3\n";
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(parse_exact(v2, strlen(v2), &snap), 0);
  ck_assert_uint_eq(snap->count, 3);
  ck_assert_uint_eq(snap->records[0].up_since_ms, 1000);
  ck_assert_uint_eq(snap->records[1].up_since_ms, 2500);
  ck_assert_uint_eq(snap->records[2].up_since_ms, 0);
  ck_assert_uint_eq(snap->records[1].total_ms[3], 2500);
  ck_assert_uint_eq(snap->records[1].evidence.process, 7);
  ck_assert_uint_eq(snap->records[1].evidence.cpu_ns, 6);
  ck_assert_uint_eq(snap->records[2].total_ms[5], 2000);
  st_snapshot_free(snap);

  /* The v2 form of `valid` reads as `valid`. */
  st_snapshot_t *a = NULL, *b = NULL;
  ck_assert_int_eq(parse_exact(valid_v2, strlen(valid_v2), &a), 0);
  ck_assert_int_eq(parse_exact(valid, strlen(valid), &b), 0);
  assert_snapshots_equal(a, b);
  st_snapshot_free(a);
  st_snapshot_free(b);
}
END_TEST

START_TEST(test_record_kinds) {
  /* Version 3 dispatches on the record's kind: an unknown kind, a known
   * one misspelt or malformed, or "end" missing is a corrupt file, never
   * skipped. */
  static const char *const bad[] = {
      HEAD3 D1V2 "note " U1 " x 1\n" D2V2 "end 2\n",
      HEAD3 D1V2 "attr " U1 " x 1\n" D2V2 "end 2\n",
      HEAD3 "Domain " U1 " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 0 0 a\n"
            "end 1\n",
      HEAD3 D1V2 "\nend 1\n",
      HEAD3 D1V2 "domain\nend 1\n",
      HEAD3 D1V2 "end 2\n", /* the count is of domain records */
  };
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(bad); i++) {
    st_snapshot_t *snap = NULL;
    ck_assert_msg(state_store_parse(bad[i], strlen(bad[i]), &snap) == -EINVAL,
                  "case %zu", i);
    ck_assert_ptr_null(snap);
  }
}
END_TEST

START_TEST(test_tracker_round_trip) {
  /* Tracker -> export -> file -> import: the totals come back. */
  st_tracker_t *st = st_create();
  const st_evidence_t ev = {.process = 77, .cpu_ns = 5};
  ck_assert_int_eq(st_poll(st, U1, "a b%c\n", 3, 1, 1, 100, NULL), 0);
  ck_assert_int_eq(st_event(st, U1, NULL, 3, 3, 1, 600, NULL), 0);
  ck_assert_int_eq(st_poll_ev(st, U1, NULL, 3, 3, 1, &ev, 700, NULL), 0);
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(st_export(st, BOOT, 1000, &snap), 0);
  ck_assert_int_eq(state_store_write(path, snap), 0);
  st_snapshot_free(snap);
  st_destroy(st);

  ck_assert_int_eq(state_store_read(path, &snap), 0);
  st = st_create();
  ck_assert_int_eq(st_import(st, snap, true, 1200), 0);
  st_snapshot_free(snap);
  st_result_t r;
  ck_assert_int_eq(st_poll_ev(st, U1, "a b%c\n", 3, 3, 1, &ev, 1500, &r), 0);
  ck_assert_int_eq(r.restore, ST_RESTORE_CREDITED);
  ck_assert_int_eq(st_export(st, BOOT, 2000, &snap), 0);
  ck_assert_str_eq(snap->records[0].name, "a b%c\n");
  ck_assert_uint_eq(snap->records[0].total_ms[1], 500);
  ck_assert_uint_eq(snap->records[0].total_ms[3], 1400);
  st_snapshot_free(snap);
  st_destroy(st);
}
END_TEST

START_TEST(test_write_refuses) {
  /* Nothing the reader would refuse is written. */
  static const struct {
    const char *title;
    const char *boot_id;
    const char *uuid2;
    int id, state;
    uint32_t seen_mask;
    size_t name_len;
  } cases[] = {
      {"empty boot id", "", U2, 1, 1, 0, 1},
      {"bad boot id", "0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9", U2, 1, 1, 0, 1},
      {"duplicate uuid", BOOT, U1, 1, 1, 0, 1},
      {"bad uuid", BOOT, "00000000-0000-4000-8000-0000000000", 1, 1, 0, 1},
      {"bad id", BOOT, U2, -2, 1, 0, 1},
      {"bad state", BOOT, U2, 1, 8, 0, 1},
      {"bad seen_mask", BOOT, U2, 1, 1, 0x100, 1},
      {"name too long", BOOT, U2, 1, 1, 0, ST_NAME_MAX + 1},
  };
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(cases); i++) {
    st_snapshot_t *snap = calloc(1, sizeof(*snap));
    snprintf(snap->boot_id, sizeof(snap->boot_id), "%s", cases[i].boot_id);
    snap->records = calloc(2, sizeof(*snap->records));
    record_init(&snap->records[0], U1, "a");
    char *name = calloc(1, cases[i].name_len + 1);
    memset(name, 'n', cases[i].name_len);
    record_init(&snap->records[1], cases[i].uuid2, name);
    free(name);
    snap->count = 2;
    snap->records[1].id = cases[i].id;
    snap->records[1].state = cases[i].state;
    snap->records[1].seen_mask = cases[i].seen_mask;
    ck_assert_msg(state_store_write(path, snap) == -EINVAL, "%s",
                  cases[i].title);
    ck_assert(!exists(path));
    st_snapshot_free(snap);
  }
  ck_assert_int_eq(state_store_write(path, NULL), -EINVAL);
}
END_TEST

/* The attr records: parsed, written back byte for byte, every prefix
 * refused. */
START_TEST(test_attr_records) {
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(parse_exact(valid_attrs, strlen(valid_attrs), &snap), 0);
  ck_assert_uint_eq(snap->count, 2);
  ck_assert_ptr_nonnull(snap->attrs);
  ck_assert_uint_eq(snap->attrs->count, 5);
  const at_record_t *a = snap->attrs->records;
  ck_assert_str_eq(a[0].uuid, U1);
  ck_assert_str_eq(a[0].name, "flavor");
  ck_assert_str_eq(a[0].value, "m1 small");
  ck_assert_uint_eq(a[0].total_ms, 4000);
  ck_assert(a[0].current);
  ck_assert_str_eq(a[2].value, "2");
  ck_assert(a[2].current && !a[1].current);
  ck_assert_ptr_null(a[3].value); /* the overflow entry */
  ck_assert_uint_eq(a[3].total_ms, 7);
  ck_assert_str_eq(a[4].uuid, U2);
  ck_assert_str_eq(a[4].name, "x%y z");
  ck_assert_str_eq(a[4].value, "-"); /* a value "-", not the overflow */

  /* Written in the writer's order whatever the records' order. */
  at_record_t t = snap->attrs->records[0];
  snap->attrs->records[0] = snap->attrs->records[4];
  snap->attrs->records[4] = t;
  ck_assert_int_eq(state_store_write(path, snap), 0);
  st_snapshot_free(snap);
  char buf[sizeof(valid_attrs) + 16];
  int fd = open(path, O_RDONLY);
  ck_assert_int_ge(fd, 0);
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  ck_assert_int_eq(n, (ssize_t)strlen(valid_attrs));
  ck_assert_mem_eq(buf, valid_attrs, strlen(valid_attrs));

  for (size_t i = 0; i < strlen(valid_attrs); i++) {
    snap = NULL;
    ck_assert_msg(parse_exact(valid_attrs, i, &snap) == -EINVAL, "prefix %zu",
                  i);
    ck_assert_ptr_null(snap);
  }
}
END_TEST

/* Values and names of any bytes round-trip. */
START_TEST(test_attr_round_trip) {
  st_snapshot_t *snap = calloc(1, sizeof(*snap));
  snprintf(snap->boot_id, sizeof(snap->boot_id), "%s", BOOT);
  snap->records = calloc(1, sizeof(*snap->records));
  record_init(&snap->records[0], U1, "a");
  snap->count = 1;
  size_t nv = STATIC_ARRAY_SIZE(names);
  snap->attrs = calloc(1, sizeof(*snap->attrs));
  snap->attrs->records = calloc(nv, sizeof(at_record_t));
  for (size_t i = 0; i < nv; i++) {
    at_record_t *a = &snap->attrs->records[i];
    snprintf(a->uuid, sizeof(a->uuid), "%s", U1);
    a->name = strdup(i % 2 ? "n m" : "%");
    a->value = strdup(names[i]);
    a->total_ms = i * 1000;
    a->current = i < 2;
  }
  snap->attrs->count = nv;
  ck_assert_int_eq(state_store_write(path, snap), 0);
  st_snapshot_t *back = NULL;
  ck_assert_int_eq(state_store_read(path, &back), 0);
  ck_assert_uint_eq(back->attrs->count, nv);
  for (size_t i = 0; i < nv; i++) {
    const at_record_t *a = &snap->attrs->records[i];
    bool found = false;
    for (size_t j = 0; j < nv; j++) {
      const at_record_t *b = &back->attrs->records[j];
      if (strcmp(a->name, b->name) == 0 && strcmp(a->value, b->value) == 0) {
        ck_assert_uint_eq(a->total_ms, b->total_ms);
        ck_assert_int_eq(a->current, b->current);
        found = true;
      }
    }
    ck_assert_msg(found, "value %zu", i);
  }
  st_snapshot_free(back);
  st_snapshot_free(snap);
}
END_TEST

/* A bad attr line makes the whole file corrupt, as a bad domain line. */
START_TEST(test_attr_bad) {
  static const char *const bad[] = {
      /* 0: before any domain line */
      HEAD3 "attr " U1 " 1 0 5 vcpus 2\n" D1V2 "end 1\n",
      /* 1: naming another domain (known, earlier) than the one it follows */
      HEAD3 D1V2 D2V2 "attr " U1 " 1 0 5 vcpus 2\nend 2\n",
      /* 2: naming a domain the file does not have */
      HEAD3 D1V2 "attr " U3 " 1 0 5 vcpus 2\nend 1\n",
      /* 3: upper-case uuid */
      HEAD3 D1V2 "attr 00000000-0000-4000-8000-00000000000A 1 0 5 vcpus "
                 "2\nend 1\n",
      /* 4..8: bad numbers */
      HEAD3 D1V2 "attr " U1 " 2 0 5 vcpus 2\nend 1\n",
      HEAD3 D1V2 "attr " U1 " 1 2 5 vcpus 2\nend 1\n",
      HEAD3 D1V2 "attr " U1 " 1 0 -5 vcpus 2\nend 1\n",
      HEAD3 D1V2 "attr " U1 " 1 0 05 vcpus 2\nend 1\n",
      HEAD3 D1V2 "attr " U1 " 1 0 18446744073709551616 vcpus 2\nend 1\n",
      /* 9: the overflow entry with a value */
      HEAD3 D1V2 "attr " U1 " 1 1 5 vcpus 2\nend 1\n",
      /* 10, 11: a field missing, an empty name */
      HEAD3 D1V2 "attr " U1 " 1 0 5 vcpus\nend 1\n",
      HEAD3 D1V2 "attr " U1 " 1 0 5  2\nend 1\n",
      /* 12: a bad escape in the value, 13: a raw space in it */
      HEAD3 D1V2 "attr " U1 " 1 0 5 vcpus %zz\nend 1\n",
      HEAD3 D1V2 "attr " U1 " 1 0 5 vcpus 2 3\nend 1\n",
      /* 14: name longer than AT_NAME_MAX */
      HEAD3 D1V2 "attr " U1 " 1 0 5 abcdefghijklmnopqrstuvwxyz0123456 "
                 "2\nend 1\n",
      /* 15, 16, 17: a value twice, two current values, two overflow
       * entries (what at_import refuses) */
      HEAD3 D1V2 "attr " U1 " 1 0 5 vcpus 2\nattr " U1
                 " 0 0 5 vcpus 2\nend 1\n",
      HEAD3 D1V2 "attr " U1 " 1 0 5 vcpus 2\nattr " U1
                 " 1 0 5 vcpus 3\nend 1\n",
      HEAD3 D1V2 "attr " U1 " 1 1 5 vcpus -\nattr " U1
                 " 0 1 5 vcpus -\nend 1\n",
      /* 18: in a version 2 file (v2 has no attr records) */
      HEAD2 D1V2 "attr " U1 " 1 0 5 vcpus 2\nend 1\n",
      /* 19: "end" counting attr records */
      HEAD3 D1V2 "attr " U1 " 1 0 5 vcpus 2\nend 2\n",
  };
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(bad); i++) {
    st_snapshot_t *snap = NULL;
    int status = parse_exact(bad[i], strlen(bad[i]), &snap);
    ck_assert_msg(status == -EINVAL, "case %zu: %d", i, status);
    ck_assert_ptr_null(snap);
  }
  /* Values of one attribute in different domains, or in different
   * attributes of one domain, are not duplicates. */
  static const char ok[] =
      HEAD3 D1V2 "attr " U1 " 1 0 5 vcpus 2\nattr " U1 " 1 0 5 memory 2\n" D2V2
                 "attr " U2 " 1 0 5 vcpus 2\nend 2\n";
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(parse_exact(ok, strlen(ok), &snap), 0);
  ck_assert_uint_eq(snap->attrs->count, 3);
  st_snapshot_free(snap);
}
END_TEST

/* AT_VALUES_MAX values of one attribute, and the overflow entry: read;
 * one value more: refused. */
START_TEST(test_attr_bound) {
  char *text = malloc(8192);
  size_t n = (size_t)snprintf(text, 8192, "%s%s", HEAD3, D1V2);
  for (int i = 0; i <= AT_VALUES_MAX; i++)
    n += (size_t)snprintf(text + n, 8192 - n, "attr %s 0 %d 5 v %d\n", U1,
                          i == AT_VALUES_MAX, i);
  n += (size_t)snprintf(text + n, 8192 - n, "end 1\n");
  /* the overflow line reads "... 0 1 5 v 16": not "-" */
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(parse_exact(text, n, &snap), -EINVAL);
  n = (size_t)snprintf(text, 8192, "%s%s", HEAD3, D1V2);
  for (int i = 0; i < AT_VALUES_MAX; i++)
    n += (size_t)snprintf(text + n, 8192 - n, "attr %s 0 0 5 v %d\n", U1, i);
  size_t at_bound = n;
  n += (size_t)snprintf(text + n, 8192 - n, "attr %s 0 1 5 v -\nend 1\n", U1);
  ck_assert_int_eq(parse_exact(text, n, &snap), 0);
  ck_assert_uint_eq(snap->attrs->count, AT_VALUES_MAX + 1);
  st_snapshot_free(snap);
  n = at_bound;
  n += (size_t)snprintf(text + n, 8192 - n, "attr %s 0 0 5 v x\nend 1\n", U1);
  ck_assert_int_eq(parse_exact(text, n, &snap), -EINVAL);
  free(text);
}
END_TEST

/* The writer refuses attr records the reader would. */
START_TEST(test_attr_write_refuses) {
  for (int c = 0; c < 4; c++) {
    st_snapshot_t *snap = calloc(1, sizeof(*snap));
    snprintf(snap->boot_id, sizeof(snap->boot_id), "%s", BOOT);
    snap->records = calloc(1, sizeof(*snap->records));
    record_init(&snap->records[0], U1, "a");
    snap->count = 1;
    snap->attrs = calloc(1, sizeof(*snap->attrs));
    snap->attrs->records = calloc(2, sizeof(at_record_t));
    snap->attrs->count = 2;
    for (int i = 0; i < 2; i++) {
      at_record_t *a = &snap->attrs->records[i];
      snprintf(a->uuid, sizeof(a->uuid), "%s", U1);
      a->name = strdup("vcpus");
      a->value = strdup(i == 0 ? "1" : "2");
    }
    at_record_t *b = &snap->attrs->records[1];
    if (c == 0) /* a domain not in the snapshot */
      snprintf(b->uuid, sizeof(b->uuid), "%s", U2);
    else if (c == 1) /* a value twice */
      b->value[0] = '1';
    else if (c == 2) /* two current */
      snap->attrs->records[0].current = b->current = true;
    else /* no name */
      b->name[0] = '\0';
    ck_assert_msg(state_store_write(path, snap) == -EINVAL, "case %d", c);
    ck_assert(!exists(path));
    st_snapshot_free(snap);
  }
}
END_TEST

/* ---- refusing bad files ---- */

START_TEST(test_every_prefix) {
  size_t len = strlen(valid);
  st_snapshot_t *snap = NULL;
  for (size_t n = 0; n < len; n++) {
    snap = NULL;
    int status = parse_exact(valid, n, &snap);
    ck_assert_msg(status == -EINVAL, "prefix of %zu bytes: %d", n, status);
    ck_assert_ptr_null(snap);
  }
  ck_assert_int_eq(parse_exact(valid, len, &snap), 0);
  st_snapshot_free(snap);
}
END_TEST

/* sizeof, not strlen: some texts hold a NUL. */
#define BAD(title, text, status)                                               \
  { (title), (text), sizeof(text) - 1, (status) }

static const struct {
  const char *title;
  const char *text;
  size_t len;
  int status;
} bad_cases[] = {
    BAD("empty", "", -EINVAL),
    BAD("just a newline", "\n", -EINVAL),
    BAD("bad magic",
        "virt-inspector-state 1\nboot_id " BOOT "\nsaved_ms 5000\nend 0\n",
        -EINVAL),
    BAD("magic with no version", "virt_inspector-state\n", -EINVAL),
    BAD("version 0",
        "virt_inspector-state 0\nboot_id " BOOT "\nsaved_ms 5000\nend 0\n",
        -EINVAL),
    BAD("version 01",
        "virt_inspector-state 01\nboot_id " BOOT "\nsaved_ms 5000\nend 0\n",
        -EINVAL),
    BAD("version +1",
        "virt_inspector-state +1\nboot_id " BOOT "\nsaved_ms 5000\nend 0\n",
        -EINVAL),
    BAD("version with trailing space",
        "virt_inspector-state 1 \nboot_id " BOOT "\nsaved_ms 5000\nend 0\n",
        -EINVAL),
    BAD("future version", "virt_inspector-state 4\nwhatever comes next\n",
        -EPROTONOSUPPORT),
    BAD("far future version", "virt_inspector-state 18446744073709551615\n",
        -EPROTONOSUPPORT),
    BAD("future version, no newline", "virt_inspector-state 4", -EINVAL),
    BAD("version overflow", "virt_inspector-state 18446744073709551616\n",
        -EINVAL),
    BAD("CRLF",
        "virt_inspector-state 1\r\nboot_id " BOOT
        "\r\nsaved_ms 5000\r\nend 0\r\n",
        -EINVAL),
    BAD("no boot_id", "virt_inspector-state 1\nsaved_ms 5000\nend 0\n",
        -EINVAL),
    BAD("upper-case boot_id",
        "virt_inspector-state 1\nboot_id 0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9\n"
        "saved_ms 5000\nend 0\n",
        -EINVAL),
    BAD("short boot_id",
        "virt_inspector-state 1\nboot_id 0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f\n"
        "saved_ms 5000\nend 0\n",
        -EINVAL),
    BAD("boot_id without dashes",
        "virt_inspector-state 1\nboot_id 0f1e2d3c04b5a04978086950a4b3c2d1e0f9\n"
        "saved_ms 5000\nend 0\n",
        -EINVAL),
    BAD("saved_ms missing", "virt_inspector-state 1\nboot_id " BOOT "\nend 0\n",
        -EINVAL),
    BAD("saved_ms negative",
        "virt_inspector-state 1\nboot_id " BOOT "\nsaved_ms -1\nend 0\n",
        -EINVAL),
    BAD("saved_ms overflow",
        "virt_inspector-state 1\nboot_id " BOOT
        "\nsaved_ms 18446744073709551616\nend 0\n",
        -EINVAL),
    BAD("saved_ms hex",
        "virt_inspector-state 1\nboot_id " BOOT "\nsaved_ms 0x10\nend 0\n",
        -EINVAL),
    BAD("saved_ms empty",
        "virt_inspector-state 1\nboot_id " BOOT "\nsaved_ms \nend 0\n",
        -EINVAL),
    BAD("missing end", HEAD D1 D2, -EINVAL),
    BAD("end without count", HEAD D1 D2 "end\n", -EINVAL),
    BAD("count too small", HEAD D1 D2 "end 1\n", -EINVAL),
    BAD("count too big", HEAD D1 D2 "end 3\n", -EINVAL),
    BAD("count with leading zero", HEAD D1 D2 "end 02\n", -EINVAL),
    BAD("trailing garbage", HEAD D1 D2 "end 2\nx", -EINVAL),
    BAD("trailing newline", HEAD D1 D2 "end 2\n\n", -EINVAL),
    BAD("trailing NUL", HEAD D1 D2 "end 2\n\0", -EINVAL),
    BAD("a second end", HEAD D1 D2 "end 2\nend 2\n", -EINVAL),
    BAD("domain after end", HEAD D1 "end 1\n" D2, -EINVAL),
    BAD("unknown line", HEAD D1 "comment here\n" D2 "end 2\n", -EINVAL),
    BAD("blank line", HEAD D1 "\n" D2 "end 2\n", -EINVAL),
    BAD("duplicate uuid", HEAD D1 D1 "end 2\n", -EINVAL),
    BAD("fields short by one",
        HEAD "domain " U1 " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0\n"
             "end 1\n",
        -EINVAL),
    BAD("no name field",
        HEAD "domain " U1 " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0\nend 1\n",
        -EINVAL),
    BAD("two spaces",
        HEAD "domain " U1
             "  5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 x\nend 1\n",
        -EINVAL),
    BAD("tab separator",
        HEAD "domain " U1
             "\t5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 x\nend 1\n",
        -EINVAL),
    BAD("extra field (raw space in name)",
        HEAD "domain " U1
             " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 x y\nend 1\n",
        -EINVAL),
    BAD("upper-case uuid",
        HEAD
        "domain 00000000-0000-4000-8000-00000000000A 5 1 1 1 1000 1000 0 2 "
        "0 4000 0 0 0 0 0 0 x\nend 1\n",
        -EINVAL),
    BAD("id -2",
        HEAD "domain " U1
             " -2 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 x\nend 1\n",
        -EINVAL),
    BAD("id -0",
        HEAD "domain " U1
             " -0 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 x\nend 1\n",
        -EINVAL),
    BAD("id overflow",
        HEAD "domain " U1 " 2147483648 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 "
             "x\nend 1\n",
        -EINVAL),
    BAD("state 8",
        HEAD "domain " U1
             " 5 8 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 x\nend 1\n",
        -EINVAL),
    BAD("state -1",
        HEAD "domain " U1
             " 5 -1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 x\nend 1\n",
        -EINVAL),
    BAD("reason underflow",
        HEAD "domain " U1 " 5 1 -2147483649 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 "
             "x\nend 1\n",
        -EINVAL),
    BAD("present 2",
        HEAD "domain " U1
             " 5 1 1 2 1000 1000 0 2 0 4000 0 0 0 0 0 0 x\nend 1\n",
        -EINVAL),
    BAD("seen_mask 256",
        HEAD "domain " U1
             " 5 1 1 1 1000 1000 0 256 0 4000 0 0 0 0 0 0 x\nend 1\n",
        -EINVAL),
    BAD("total overflow",
        HEAD "domain " U1
             " 5 1 1 1 1000 1000 0 2 0 18446744073709551616 0 0 0 0 "
             "0 0 x\nend 1\n",
        -EINVAL),
    BAD("total with sign",
        HEAD "domain " U1
             " 5 1 1 1 1000 1000 0 2 0 +4000 0 0 0 0 0 0 x\nend 1\n",
        -EINVAL),
    BAD("number with letters",
        HEAD "domain " U1
             " 5 1 1 1 1000 10e3 0 2 0 4000 0 0 0 0 0 0 x\nend 1\n",
        -EINVAL),
    BAD("percent at end",
        HEAD "domain " U1
             " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 x%\nend 1\n",
        -EINVAL),
    BAD("percent one digit",
        HEAD "domain " U1
             " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 x%4\nend 1\n",
        -EINVAL),
    BAD("percent not hex",
        HEAD "domain " U1
             " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 %G0\nend 1\n",
        -EINVAL),
    BAD("percent NUL",
        HEAD "domain " U1
             " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 a%00b\nend "
             "1\n",
        -EINVAL),
    BAD("raw non-ASCII in name",
        HEAD "domain " U1 " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 "
             "caf\xc3\xa9\nend 1\n",
        -EINVAL),
    BAD("raw control byte in name",
        HEAD "domain " U1
             " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 a\x01\nend "
             "1\n",
        -EINVAL),
    BAD("NUL in the middle", HEAD D1 "\0" D2 "end 2\n", -EINVAL),
};

START_TEST(test_bad_files) {
  st_snapshot_t *snap = NULL;
  int status = parse_exact(bad_cases[_i].text, bad_cases[_i].len, &snap);
  ck_assert_msg(status == bad_cases[_i].status, "%s: %d, want %d",
                bad_cases[_i].title, status, bad_cases[_i].status);
  ck_assert_ptr_null(snap);
}
END_TEST

/* Edge values that must be accepted (and show that the bad cases above fail
 * for their stated reason, not for a typo in the template). */
static const struct {
  const char *title;
  const char *text;
  const char *name;
} good_cases[] = {
    {"plain",
     HEAD "domain " U1 " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 x\nend 1\n",
     "x"},
    {"empty name",
     HEAD "domain " U1 " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 \nend 1\n",
     ""},
    {"lower-case escape",
     HEAD "domain " U1
          " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 a%2fb%c3%A9\nend 1\n",
     "a/b\xc3\xa9"},
    {"escaped printable",
     HEAD "domain " U1 " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 %41\nend 1\n",
     "A"},
    {"extreme numbers",
     HEAD
     "domain " U1
     " 2147483647 7 -2147483648 0 18446744073709551615 0 18446744073709551615 "
     "255 18446744073709551615 0 0 0 0 0 0 18446744073709551615 x\nend 1\n",
     "x"},
    {"id -1", HEAD "domain " U1 " -1 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 x\nend 1\n",
     "x"},
    {"saved_ms 0",
     "virt_inspector-state 1\nboot_id " BOOT "\nsaved_ms 0\nend 0\n", NULL},
};

START_TEST(test_good_files) {
  st_snapshot_t *snap = NULL;
  int status =
      parse_exact(good_cases[_i].text, strlen(good_cases[_i].text), &snap);
  ck_assert_msg(status == 0, "%s: %d", good_cases[_i].title, status);
  if (good_cases[_i].name != NULL)
    ck_assert_str_eq(snap->records[0].name, good_cases[_i].name);
  /* What parses is written back and parses again the same. */
  ck_assert_int_eq(state_store_write(path, snap), 0);
  st_snapshot_t *back = NULL;
  ck_assert_int_eq(state_store_read(path, &back), 0);
  assert_snapshots_equal(snap, back);
  st_snapshot_free(back);
  st_snapshot_free(snap);
}
END_TEST

static char *domain_line(const char *name) {
  static const char pre[] =
      "domain " U1 " 5 1 1 1 1000 1000 0 2 0 4000 0 0 0 0 0 0 ";
  size_t n = strlen(HEAD) + strlen(pre) + strlen(name) + 16;
  char *s = malloc(n);
  snprintf(s, n, "%s%s%s\nend 1\n", HEAD, pre, name);
  return s;
}

START_TEST(test_limits) {
  /* ST_NAME_MAX decoded bytes: accepted; one more: refused. */
  char *name = malloc(3 * (ST_NAME_MAX + 1) + 1);
  for (size_t i = 0; i < ST_NAME_MAX + 1; i++)
    memcpy(name + 3 * i, "%E2", 3);
  name[3 * ST_NAME_MAX] = '\0';
  char *text = domain_line(name);
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(parse_exact(text, strlen(text), &snap), 0);
  ck_assert_uint_eq(strlen(snap->records[0].name), ST_NAME_MAX);
  st_snapshot_free(snap);
  free(text);

  name[3 * ST_NAME_MAX] = '%';
  name[3 * ST_NAME_MAX + 3] = '\0';
  text = domain_line(name);
  ck_assert_int_eq(parse_exact(text, strlen(text), &snap), -EINVAL);
  free(text);
  free(name);

  /* A line over 8 KiB. */
  name = malloc(9000);
  memset(name, 'x', 8999);
  name[8999] = '\0';
  text = domain_line(name);
  ck_assert_int_eq(parse_exact(text, strlen(text), &snap), -EINVAL);
  free(text);
  free(name);

  /* A huge first line without a newline is refused without scanning it
   * all (still never past len). */
  size_t big = 1 << 20;
  text = malloc(big);
  memset(text, 'v', big);
  ck_assert_int_eq(parse_exact(text, big, &snap), -EINVAL);
  free(text);

  ck_assert_int_eq(state_store_parse(NULL, 5, &snap), -EINVAL);
  ck_assert_int_eq(state_store_parse(valid, strlen(valid), NULL), -EINVAL);
}
END_TEST

/* ---- files ---- */

START_TEST(test_read_errors) {
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(state_store_read(path, &snap), -ENOENT);
  ck_assert_int_eq(state_store_read(dir, &snap), -ENOTSUP); /* a directory */
  char fifo[160];
  snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  ck_assert_int_eq(state_store_read(fifo, &snap), -ENOTSUP);
  unlink(fifo);
  /* A symbolic link is not read through, even to a good file. */
  char good[160], link[160];
  snprintf(good, sizeof(good), "%s/good", dir);
  snprintf(link, sizeof(link), "%s/link", dir);
  write_file(good, valid, strlen(valid));
  ck_assert_int_eq(symlink(good, link), 0);
  ck_assert_int_eq(state_store_read(link, &snap), -ENOTSUP);
  unlink(link);
  unlink(good);
  write_file(path, valid, strlen(valid) - 1);
  ck_assert_int_eq(state_store_read(path, &snap), -EINVAL);
  write_file(path, "virt_inspector-state 7\n", 23);
  ck_assert_int_eq(state_store_read(path, &snap), -EPROTONOSUPPORT);
  ck_assert_ptr_null(snap);
  write_file(path, valid, strlen(valid));
  ck_assert_int_eq(state_store_read(path, &snap), 0);
  ck_assert_uint_eq(snap->count, 2);
  st_snapshot_free(snap);
}
END_TEST

START_TEST(test_quarantine) {
  char corrupt[160];
  snprintf(corrupt, sizeof(corrupt), "%s.corrupt", path);
  ck_assert_int_eq(state_store_quarantine(path), -ENOENT);

  write_file(path, "garbage 1", 9);
  ck_assert_int_eq(state_store_quarantine(path), 0);
  ck_assert(!exists(path));
  ck_assert(exists(corrupt));

  /* A newer bad file replaces the older one. */
  write_file(path, "garbage 22", 10);
  ck_assert_int_eq(state_store_quarantine(path), 0);
  struct stat sb;
  ck_assert_int_eq(stat(corrupt, &sb), 0);
  ck_assert_int_eq(sb.st_size, 10);
  ck_assert(!exists(path));
  ck_assert_int_eq(state_store_quarantine(NULL), -EINVAL);
}
END_TEST

/* Makes path a node of the given kind: 0 directory, 1 FIFO, 2 character
 * device (mknod here, never the host's), 3 symbolic link to a regular
 * file (target). */
static void make_node(int kind, const char *p, const char *target) {
  if (kind == 0)
    ck_assert_int_eq(mkdir(p, 0700), 0);
  else if (kind == 1)
    ck_assert_int_eq(mkfifo(p, 0600), 0);
  else if (kind == 2)
    ck_assert_int_eq(mknod(p, S_IFCHR | 0600, makedev(1, 3)), 0);
  else
    ck_assert_int_eq(symlink(target, p), 0);
}

static const char *const node_kinds[] = {"directory", "FIFO",
                                         "character device", "symbolic link"};

/* Neither a write nor a move aside replaces or renames what is not a
 * regular file; the node keeps its inode and type. */
START_TEST(test_not_regular_left_alone) {
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(parse_exact(valid, strlen(valid), &snap), 0);
  char target[160], tmp[160], corrupt[160];
  snprintf(target, sizeof(target), "%s/target", dir);
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  snprintf(corrupt, sizeof(corrupt), "%s.corrupt", path);
  write_file(target, "garbage", 7);
  make_node(_i, path, target);
  struct stat before, after;
  ck_assert_int_eq(lstat(path, &before), 0);
  ck_assert_str_eq(state_store_kind(path), node_kinds[_i]);
  ck_assert_int_eq(state_store_check(path), -ENOTSUP);
  ck_assert_int_eq(state_store_write(path, snap), -ENOTSUP);
  ck_assert_int_eq(state_store_quarantine(path), -ENOTSUP);
  ck_assert_int_eq(lstat(path, &after), 0);
  ck_assert_uint_eq(after.st_ino, before.st_ino);
  ck_assert_uint_eq(after.st_mode, before.st_mode);
  ck_assert(!exists(tmp));
  ck_assert(!exists(corrupt));
  struct stat t;
  ck_assert_int_eq(stat(target, &t), 0);
  ck_assert_int_eq(t.st_size, 7); /* a link's target untouched */
  if (_i == 0)
    rmdir(path);
  else
    unlink(path);
  unlink(target);
  st_snapshot_free(snap);
}
END_TEST

/* PATH.tmp is created afresh, never written through a link. */
START_TEST(test_tmp_not_followed) {
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(parse_exact(valid, strlen(valid), &snap), 0);
  char target[160], tmp[160];
  snprintf(target, sizeof(target), "%s/target", dir);
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  write_file(target, "keep", 4);
  ck_assert_int_eq(symlink(target, tmp), 0); /* planted */
  ck_assert_int_eq(state_store_write(path, snap), 0);
  struct stat t;
  ck_assert_int_eq(stat(target, &t), 0);
  ck_assert_int_eq(t.st_size, 4);
  ck_assert(!exists(tmp));
  /* A left-over regular PATH.tmp (a crash) is replaced, mode 0600. */
  write_file(tmp, "old", 3);
  ck_assert_int_eq(chmod(tmp, 0644), 0);
  ck_assert_int_eq(state_store_write(path, snap), 0);
  ck_assert_int_eq(stat(path, &t), 0);
  ck_assert_uint_eq(t.st_mode & 0777, 0600);
  unlink(target);
  st_snapshot_free(snap);
}
END_TEST

START_TEST(test_write_errors) {
  st_snapshot_t *snap = NULL;
  ck_assert_int_eq(parse_exact(valid, strlen(valid), &snap), 0);
  char p[160];
  snprintf(p, sizeof(p), "%s/no/such/dir/state", dir);
  ck_assert_int_eq(state_store_write(p, snap), -ENOENT);
  /* A relative path writes in the current directory. */
  char cwd[4096];
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
  ck_assert_int_eq(chdir(dir), 0);
  ck_assert_int_eq(state_store_write("state", snap), 0);
  ck_assert_int_eq(chdir(cwd), 0);
  ck_assert(exists(path));
  st_snapshot_free(snap);
}
END_TEST

static Suite *store_suite(void) {
  Suite *s = suite_create("state_store");
  TCase *tc = tcase_create("write");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_round_trip);
  tcase_add_test(tc, test_exact_text);
  tcase_add_test(tc, test_upgrade_from_v1);
  tcase_add_test(tc, test_upgrade_from_v2);
  tcase_add_test(tc, test_record_kinds);
  tcase_add_test(tc, test_tracker_round_trip);
  tcase_add_test(tc, test_attr_records);
  tcase_add_test(tc, test_attr_round_trip);
  tcase_add_test(tc, test_attr_bad);
  tcase_add_test(tc, test_attr_bound);
  tcase_add_test(tc, test_attr_write_refuses);
  tcase_add_test(tc, test_write_refuses);
  tcase_add_test(tc, test_write_errors);
  suite_add_tcase(s, tc);

  tc = tcase_create("parse");
  tcase_add_test(tc, test_every_prefix);
  tcase_add_loop_test(tc, test_bad_files, 0, STATIC_ARRAY_SIZE(bad_cases));
  tcase_add_test(tc, test_limits);
  suite_add_tcase(s, tc);

  tc = tcase_create("parse_good");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, test_good_files, 0, STATIC_ARRAY_SIZE(good_cases));
  suite_add_tcase(s, tc);

  tc = tcase_create("files");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_read_errors);
  tcase_add_test(tc, test_quarantine);
  tcase_add_loop_test(tc, test_not_regular_left_alone, 0,
                      STATIC_ARRAY_SIZE(node_kinds));
  tcase_add_test(tc, test_tmp_not_followed);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return check_run(store_suite()); }
