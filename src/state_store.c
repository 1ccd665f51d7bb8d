/* state_store.c: the state file (see state_store.h for the format). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "state_store.h"
#include "percent.h"
#include "state_store_priv.h"
#include "uuid_map.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_MAGIC "virt_inspector-state"
#define STORE_LINE_MAX 8192 /* bytes, without the '\n' */
#define STORE_FILE_MAX ((size_t)256 * 1024 * 1024)
/* Fields of a domain line before the name: version 1, and the evidence
 * fields version 2 added after the totals (version 3 has the same fields;
 * its 7th is up_since_ms where versions 1 and 2 had running_since_ms). */
#define STORE_DOMAIN_FIELDS_V1 (9 + ST_STATE_COUNT)
#define STORE_DOMAIN_FIELDS (STORE_DOMAIN_FIELDS_V1 + 2)

/* ---- shared validation ---- */

/* 0 when no two records share a uuid, -EINVAL if some do, or -ENOMEM.
 * O(n log n). */
static int check_unique(const st_record_t *records, size_t count) {
  if (count < 2)
    return 0;
  st_record_t *sorted = malloc(count * sizeof(*sorted)); /* shallow copy */
  if (sorted == NULL)
    return -ENOMEM;
  memcpy(sorted, records, count * sizeof(*sorted));
  qsort(sorted, count, sizeof(*sorted), st_record_cmp);
  int status = 0;
  for (size_t i = 1; i < count; i++) {
    if (st_record_cmp(&sorted[i - 1], &sorted[i]) == 0) {
      status = -EINVAL;
      break;
    }
  }
  free(sorted);
  return status;
}

/* Orders attribute records by uuid, name, then value (the overflow entry,
 * NULL, last). */
static int attr_cmp(const void *a, const void *b) {
  const at_record_t *x = *(const at_record_t *const *)a;
  const at_record_t *y = *(const at_record_t *const *)b;
  int c = strcmp(x->uuid, y->uuid);
  if (c == 0)
    c = strcmp(x->name, y->name);
  if (c == 0 && (x->value == NULL || y->value == NULL))
    c = (x->value == NULL) - (y->value == NULL);
  else if (c == 0)
    c = strcmp(x->value, y->value);
  return c;
}

static int uuid_cmp(const void *key, const void *elt) {
  return strcmp(key, ((const st_record_t *)elt)->uuid);
}

static bool attr_record_valid(const at_record_t *a) {
  size_t n = a->name != NULL ? strlen(a->name) : 0;
  return uuid_map_key_valid(a->uuid, strnlen(a->uuid, sizeof(a->uuid))) &&
         n > 0 && n <= AT_NAME_MAX &&
         (a->value == NULL || strlen(a->value) <= AT_VALUE_MAX);
}

/* The attribute records of snap sorted (attr_cmp) in *ret (NULL when there
 * are none; free it), after checking what at_import requires: each valid,
 * naming a domain of snap, and per domain and attribute no value twice, at
 * most one overflow entry, one current value and AT_VALUES_MAX values.
 * 0, -EINVAL or -ENOMEM. */
static int check_attrs(const st_snapshot_t *snap, const at_record_t ***ret) {
  *ret = NULL;
  const at_records_t *at = snap->attrs;
  if (at == NULL || at->count == 0)
    return 0;
  if (at->records == NULL || snap->count == 0 || snap->records == NULL)
    return -EINVAL; /* (every record names a domain) */
  const at_record_t **sorted = malloc(at->count * sizeof(*sorted));
  st_record_t *domains =
      malloc((snap->count > 0 ? snap->count : 1) * sizeof(*domains));
  if (sorted == NULL || domains == NULL) {
    free(sorted);
    free(domains);
    return -ENOMEM;
  }
  memcpy(domains, snap->records, snap->count * sizeof(*domains));
  qsort(domains, snap->count, sizeof(*domains), st_record_cmp);
  int status = 0;
  for (size_t i = 0; i < at->count && status == 0; i++) {
    sorted[i] = &at->records[i];
    if (!attr_record_valid(sorted[i]) ||
        bsearch(sorted[i]->uuid, domains, snap->count, sizeof(*domains),
                uuid_cmp) == NULL)
      status = -EINVAL;
  }
  free(domains);
  if (status == 0)
    qsort(sorted, at->count, sizeof(*sorted), attr_cmp);
  size_t values = 0, current = 0;
  for (size_t i = 0; i < at->count && status == 0; i++) {
    const at_record_t *a = sorted[i];
    bool same = i > 0 && strcmp(a->uuid, sorted[i - 1]->uuid) == 0 &&
                strcmp(a->name, sorted[i - 1]->name) == 0;
    if (!same)
      values = current = 0;
    if (same && attr_cmp(&sorted[i - 1], &sorted[i]) == 0)
      status = -EINVAL; /* a value twice, or two overflow entries */
    values += a->value != NULL;
    current += a->current;
    if (values > AT_VALUES_MAX || current > 1)
      status = -EINVAL;
  }
  if (status != 0)
    free(sorted);
  else
    *ret = sorted;
  return status;
}

/* ---- writing ---- */

typedef struct {
  char *buf;
  size_t len, cap;
} sbuf_t;

static int sb_reserve(sbuf_t *sb, size_t n) {
  if (sb->cap - sb->len > n)
    return 0;
  size_t cap = (sb->cap > 0) ? sb->cap : 4096;
  while (cap - sb->len <= n) {
    if (cap > SIZE_MAX / 2)
      return -ENOMEM;
    cap *= 2;
  }
  char *buf = realloc(sb->buf, cap);
  if (buf == NULL)
    return -ENOMEM;
  sb->buf = buf;
  sb->cap = cap;
  return 0;
}

/* Appends a printf-style line of at most STORE_LINE_MAX + 1 bytes. */
__attribute__((format(printf, 2, 3))) static int
sb_printf(sbuf_t *sb, const char *fmt, ...) {
  if (sb_reserve(sb, STORE_LINE_MAX + 2) != 0)
    return -ENOMEM;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sb->cap - sb->len)
    return -EINVAL;
  sb->len += (size_t)n;
  return 0;
}

/* Bytes a name keeps in the file; the others are %XX. */
static bool name_byte_kept(unsigned char c) {
  return c >= 0x21 && c <= 0x7e && c != '%';
}

/* Appends name percent-encoded, then `end` (' ' or '\n'). */
static int sb_name(sbuf_t *sb, const char *name, char end) {
  size_t n = strlen(name);
  if (sb_reserve(sb, 3 * n + 1) != 0)
    return -ENOMEM;
  sb->len +=
      percent_encode(name, n, name_byte_kept, sb->buf + sb->len, 3 * n, NULL);
  sb->buf[sb->len++] = end;
  return 0;
}

/* The attribute lines of one domain: sorted[*next..] while they name it. */
static int format_attrs(const at_record_t **sorted, size_t count, size_t *next,
                        const char *uuid, sbuf_t *sb) {
  int status = 0;
  for (; *next < count && status == 0 && strcmp(sorted[*next]->uuid, uuid) == 0;
       (*next)++) {
    const at_record_t *a = sorted[*next];
    status =
        sb_printf(sb, "attr %s %d %d %" PRIu64 " ", a->uuid, a->current ? 1 : 0,
                  a->value == NULL ? 1 : 0, a->total_ms);
    if (status == 0)
      status = sb_name(sb, a->name, ' ');
    if (status == 0 && a->value == NULL)
      status = sb_printf(sb, "-\n");
    else if (status == 0)
      status = sb_name(sb, a->value, '\n');
  }
  return status;
}

static int record_ptr_cmp(const void *a, const void *b) {
  return st_record_cmp(*(const st_record_t *const *)a,
                       *(const st_record_t *const *)b);
}

static int format_snapshot(const st_snapshot_t *snap, sbuf_t *sb) {
  if (!uuid_map_key_valid(snap->boot_id,
                          strnlen(snap->boot_id, sizeof(snap->boot_id))))
    return -EINVAL;
  if (snap->count > 0 && snap->records == NULL)
    return -EINVAL;
  for (size_t i = 0; i < snap->count; i++)
    if (!st_record_valid(&snap->records[i]))
      return -EINVAL;
  int status = check_unique(snap->records, snap->count);
  if (status != 0)
    return status;
  const at_record_t **attrs = NULL;
  status = check_attrs(snap, &attrs);
  if (status != 0)
    return status;
  size_t nattrs = attrs != NULL ? snap->attrs->count : 0, next = 0;

  /* Domain lines in uuid order, each followed by its attribute lines. */
  st_record_t **order =
      malloc((snap->count > 0 ? snap->count : 1) * sizeof(*order));
  if (order == NULL) {
    free(attrs);
    return -ENOMEM;
  }
  for (size_t i = 0; i < snap->count; i++)
    order[i] = &snap->records[i];
  qsort(order, snap->count, sizeof(*order), record_ptr_cmp);

  status =
      sb_printf(sb, "%s %d\nboot_id %s\nsaved_ms %" PRIu64 "\n", STORE_MAGIC,
                STATE_STORE_VERSION, snap->boot_id, snap->saved_ms);
  for (size_t i = 0; i < snap->count && status == 0; i++) {
    const st_record_t *r = order[i];
    status = sb_printf(
        sb,
        "domain %s %d %d %d %d %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu32
        " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
        " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " ",
        r->uuid, r->id, r->state, r->reason, r->present ? 1 : 0, r->entered_ms,
        r->up_since_ms, r->gone_since_ms, r->seen_mask, r->total_ms[0],
        r->total_ms[1], r->total_ms[2], r->total_ms[3], r->total_ms[4],
        r->total_ms[5], r->total_ms[6], r->total_ms[7], r->evidence.process,
        r->evidence.cpu_ns);
    if (status == 0)
      status = sb_name(sb, (r->name != NULL) ? r->name : "", '\n');
    if (status == 0)
      status = format_attrs(attrs, nattrs, &next, r->uuid, sb);
  }
  if (status == 0)
    status = sb_printf(sb, "end %zu\n", snap->count);
  free(order);
  free(attrs);
  return status;
}

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static char *path_with(const char *path, const char *suffix) {
  size_t a = strlen(path), b = strlen(suffix);
  char *s = malloc(a + b + 1);
  if (s == NULL)
    return NULL;
  memcpy(s, path, a);
  memcpy(s + a, suffix, b + 1);
  return s;
}

/* fsync(2)s the directory holding path, so a rename in it is durable. */
static int fsync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir;
  if (slash == NULL)
    dir = strdup(".");
  else if (slash == path)
    dir = strdup("/");
  else
    dir = strndup(path, (size_t)(slash - path));
  if (dir == NULL)
    return -ENOMEM;

  int status = 0;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    status = -errno;
  } else {
    if (fsync(fd) != 0)
      status = -errno;
    close(fd);
  }
  free(dir);
  return status;
}

int state_store_write(const char *path, const st_snapshot_t *snap) {
  if (path == NULL || snap == NULL)
    return -EINVAL;

  sbuf_t sb = {0};
  char *tmp = NULL;
  int fd = -1;
  int status = format_snapshot(snap, &sb);
  if (status != 0)
    goto cleanup;

  status = -ENOMEM;
  tmp = path_with(path, ".tmp");
  if (tmp == NULL)
    goto cleanup;

  /* A fresh PATH.tmp, never through a symbolic link: O_EXCL | O_NOFOLLOW.
   * One left over from a crash (or planted) is ours by name: unlinked (a
   * link itself, not its target), then created again. */
  int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  fd = open(tmp, flags, 0600);
  if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
    fd = open(tmp, flags, 0600);
  if (fd < 0) {
    status = -errno;
    goto cleanup;
  }
  /* The umask may have cut our mode: set it. */
  if (fchmod(fd, 0600) != 0) {
    status = -errno;
    goto fail;
  }
  status = write_all(fd, sb.buf, sb.len);
  if (status != 0)
    goto fail;
  if (fsync(fd) != 0) {
    status = -errno;
    goto fail;
  }
  int rc = close(fd);
  fd = -1;
  if (rc != 0) {
    status = -errno;
    goto fail;
  }
  /* rename() would replace whatever PATH is: only a regular file (or
   * nothing) is ours to replace. */
  status = state_store_check(path);
  if (status != 0 && status != -ENOENT)
    goto fail;
  if (rename(tmp, path) != 0) {
    status = -errno;
    goto fail;
  }
  status = fsync_dir(path);
  goto cleanup;

fail:
  unlink(tmp);
cleanup:
  if (fd >= 0)
    close(fd);
  free(tmp);
  free(sb.buf);
  return status;
}

/* ---- parsing ---- */

typedef struct {
  const char *p;
  size_t n;
} span_t;

/* The next '\n'-terminated line at *pos, without the '\n'. -EINVAL when the
 * line has no '\n' (truncated) or is longer than STORE_LINE_MAX. */
static int next_line(const char *buf, size_t len, size_t *pos, span_t *ret) {
  size_t rest = len - *pos;
  size_t lim = (rest < STORE_LINE_MAX + 1) ? rest : STORE_LINE_MAX + 1;
  const char *nl = (lim > 0) ? memchr(buf + *pos, '\n', lim) : NULL;
  if (nl == NULL)
    return -EINVAL;
  ret->p = buf + *pos;
  ret->n = (size_t)(nl - ret->p);
  *pos += ret->n + 1;
  return 0;
}

/* Splits the field before the next ' ' off *line. false if there is none. */
static bool field(span_t *line, span_t *ret) {
  const char *sp = (line->n > 0) ? memchr(line->p, ' ', line->n) : NULL;
  if (sp == NULL)
    return false;
  ret->p = line->p;
  ret->n = (size_t)(sp - line->p);
  line->p = sp + 1;
  line->n -= ret->n + 1;
  return true;
}

static bool span_is(span_t s, const char *word) {
  return s.n == strlen(word) && memcmp(s.p, word, s.n) == 0;
}

/* Decimal, no sign, no leading zero, no overflow. */
static bool parse_u64(span_t s, uint64_t *ret) {
  if (s.n == 0 || s.n > 20 || (s.n > 1 && s.p[0] == '0'))
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < s.n; i++) {
    if (s.p[i] < '0' || s.p[i] > '9')
      return false;
    unsigned d = (unsigned)(s.p[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *ret = v;
  return true;
}

/* As parse_u64 with an optional '-' ("-0" refused), within [min, max]. */
static bool parse_int(span_t s, int min, int max, int *ret) {
  bool neg = s.n > 0 && s.p[0] == '-';
  if (neg) {
    s.p++;
    s.n--;
  }
  uint64_t u;
  if (!parse_u64(s, &u))
    return false;
  int64_t v;
  if (neg) {
    if (u == 0 || u > (uint64_t)INT_MAX + 1)
      return false;
    v = -(int64_t)u;
  } else {
    if (u > INT_MAX)
      return false;
    v = (int64_t)u;
  }
  if (v < min || v > max)
    return false;
  *ret = (int)v;
  return true;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decodes a name. -EINVAL for a raw byte outside 0x21..0x7e, a bad
 * escape, %00, or more than max decoded bytes. */
static int decode_text(span_t s, size_t max, char **ret) {
  char *out = malloc(s.n + 1);
  if (out == NULL)
    return -ENOMEM;
  size_t o = 0;
  for (size_t i = 0; i < s.n;) {
    unsigned char c = (unsigned char)s.p[i];
    if (c == '%') {
      int hi = (s.n - i >= 3) ? hex_value(s.p[i + 1]) : -1;
      int lo = (s.n - i >= 3) ? hex_value(s.p[i + 2]) : -1;
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        goto bad;
      c = (unsigned char)(hi * 16 + lo);
      i += 3;
    } else if (c < 0x21 || c > 0x7e) {
      goto bad;
    } else {
      i++;
    }
    if (o == max)
      goto bad;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  *ret = out;
  return 0;

bad:
  free(out);
  return -EINVAL;
}

static int decode_name(span_t s, char **ret) {
  return decode_text(s, ST_NAME_MAX, ret);
}

/* Versions 1 and 2 kept running_since_ms, when a running domain last
 * entered running, and no start time. The start of the saved stint is the
 * latest start it can be: a domain up then counts its uptime from there (an
 * under-count when it was up before, never an over-count). */
static uint64_t up_since_before_v3(const st_record_t *r) {
  return st_state_is_up(r->state) ? r->entered_ms : 0;
}

/* Parses the fields of a domain line after "domain " in a file of
 * `version` (1: no evidence, read as unknown; 1 and 2: no start time, see
 * up_since_before_v3). */
static int parse_domain(span_t line, uint64_t version, st_record_t *r) {
  span_t f[STORE_DOMAIN_FIELDS];
  size_t nf = version >= 2 ? STORE_DOMAIN_FIELDS : STORE_DOMAIN_FIELDS_V1;
  for (size_t i = 0; i < nf; i++)
    if (!field(&line, &f[i]))
      return -EINVAL;
  if (version >= 2 &&
      (!parse_u64(f[STORE_DOMAIN_FIELDS_V1], &r->evidence.process) ||
       !parse_u64(f[STORE_DOMAIN_FIELDS_V1 + 1], &r->evidence.cpu_ns)))
    return -EINVAL;

  uint64_t state, present, seen_mask;
  if (!uuid_map_key_valid(f[0].p, f[0].n) ||
      !parse_int(f[1], -1, INT_MAX, &r->id) || !parse_u64(f[2], &state) ||
      state >= ST_STATE_COUNT ||
      !parse_int(f[3], INT_MIN, INT_MAX, &r->reason) ||
      !parse_u64(f[4], &present) || present > 1 ||
      !parse_u64(f[5], &r->entered_ms) || !parse_u64(f[6], &r->up_since_ms) ||
      !parse_u64(f[7], &r->gone_since_ms) || !parse_u64(f[8], &seen_mask) ||
      (seen_mask >> ST_STATE_COUNT) != 0)
    return -EINVAL;
  for (size_t s = 0; s < ST_STATE_COUNT; s++)
    if (!parse_u64(f[9 + s], &r->total_ms[s]))
      return -EINVAL;

  memcpy(r->uuid, f[0].p, ST_UUID_LEN);
  r->uuid[ST_UUID_LEN] = '\0';
  r->state = (int)state;
  r->present = present == 1;
  r->seen_mask = (uint32_t)seen_mask;
  if (version < 3)
    r->up_since_ms = up_since_before_v3(r);
  return decode_name(line, &r->name);
}

/* What the parser builds: the snapshot, and its arrays' allocations. */
typedef struct {
  st_snapshot_t *snap;
  size_t cap;      /* snap->records */
  size_t attr_cap; /* snap->attrs->records */
} parse_t;

/* A domain record: appended to snap->records. */
static int parse_domain_record(span_t line, uint64_t version, parse_t *ps) {
  st_snapshot_t *snap = ps->snap;
  size_t *cap = &ps->cap;
  if (snap->count == *cap) {
    size_t n = (*cap > 0) ? *cap * 2 : 16;
    st_record_t *r = (n <= SIZE_MAX / sizeof(*r))
                         ? realloc(snap->records, n * sizeof(*r))
                         : NULL;
    if (r == NULL)
      return -ENOMEM;
    snap->records = r;
    *cap = n;
  }
  st_record_t *r = &snap->records[snap->count];
  *r = (st_record_t){0};
  int status = parse_domain(line, version, r);
  if (status != 0)
    return status; /* r->name is still NULL */
  snap->count++;
  return 0;
}

/* An attribute record (version 3), after "attr ":
 *   <uuid> <current 0|1> <other 0|1> <total_ms> <name> <value>
 * It belongs to the domain record it follows (same uuid); <value> is "-"
 * for the overflow entry (other 1). Appended to snap->attrs. */
static int parse_attr_record(span_t line, uint64_t version, parse_t *ps) {
  (void)version;
  st_snapshot_t *snap = ps->snap;
  span_t f[5];
  for (size_t i = 0; i < 5; i++)
    if (!field(&line, &f[i]))
      return -EINVAL;
  uint64_t current, other, total;
  if (snap->count == 0 || f[0].n != ST_UUID_LEN ||
      memcmp(f[0].p, snap->records[snap->count - 1].uuid, ST_UUID_LEN) != 0 ||
      !parse_u64(f[1], &current) || current > 1 || !parse_u64(f[2], &other) ||
      other > 1 || !parse_u64(f[3], &total) ||
      (other == 1 && !span_is(line, "-")))
    return -EINVAL;
  if (snap->attrs == NULL &&
      (snap->attrs = calloc(1, sizeof(*snap->attrs))) == NULL)
    return -ENOMEM;
  at_records_t *at = snap->attrs;
  if (at->count == ps->attr_cap) {
    size_t n = (ps->attr_cap > 0) ? ps->attr_cap * 2 : 16;
    at_record_t *r = (n <= SIZE_MAX / sizeof(*r))
                         ? realloc(at->records, n * sizeof(*r))
                         : NULL;
    if (r == NULL)
      return -ENOMEM;
    at->records = r;
    ps->attr_cap = n;
  }
  at_record_t *a = &at->records[at->count];
  *a = (at_record_t){.total_ms = total, .current = current == 1};
  memcpy(a->uuid, f[0].p, ST_UUID_LEN);
  a->uuid[ST_UUID_LEN] = '\0';
  int status = decode_text(f[4], AT_NAME_MAX, &a->name);
  if (status == 0 && other == 0)
    status = decode_text(line, AT_VALUE_MAX, &a->value);
  if (status != 0) {
    free(a->name);
    return status;
  }
  at->count++;
  return 0;
}

/* The kinds of record, dispatched on the line's first word; `since`: the
 * first version that has the kind. A kind unknown to its file's version
 * makes the file corrupt. */
typedef struct {
  const char *kind;
  uint64_t since;
  int (*parse)(span_t line, uint64_t version, parse_t *ps);
} store_record_t;

static const store_record_t store_records[] = {
    {"domain", 1, parse_domain_record},
    {"attr", 3, parse_attr_record},
};

static const store_record_t *record_kind(span_t kw, uint64_t version) {
  for (size_t i = 0; i < sizeof(store_records) / sizeof(store_records[0]); i++)
    if (span_is(kw, store_records[i].kind) && version >= store_records[i].since)
      return &store_records[i];
  return NULL;
}

/* The magic line: its version in *ret, -EPROTONOSUPPORT for a newer one. */
static int parse_magic(span_t line, uint64_t *ret) {
  span_t kw;
  if (!field(&line, &kw) || !span_is(kw, STORE_MAGIC) ||
      !parse_u64(line, ret) || *ret == 0)
    return -EINVAL;
  if (*ret > STATE_STORE_VERSION)
    return -EPROTONOSUPPORT;
  return 0;
}

int state_store_parse(const char *buf, size_t len, st_snapshot_t **ret) {
  if (ret == NULL || (buf == NULL && len > 0))
    return -EINVAL;

  size_t pos = 0;
  span_t line, kw;
  int status = next_line(buf, len, &pos, &line);
  if (status != 0)
    return status;
  uint64_t version;
  status = parse_magic(line, &version);
  if (status != 0)
    return status;

  st_snapshot_t *snap = calloc(1, sizeof(*snap));
  if (snap == NULL)
    return -ENOMEM;
  parse_t ps = {snap, 0, 0};

  status = -EINVAL;
  if (next_line(buf, len, &pos, &line) != 0 || !field(&line, &kw) ||
      !span_is(kw, "boot_id") || !uuid_map_key_valid(line.p, line.n))
    goto fail;
  memcpy(snap->boot_id, line.p, ST_UUID_LEN);
  snap->boot_id[ST_UUID_LEN] = '\0';

  if (next_line(buf, len, &pos, &line) != 0 || !field(&line, &kw) ||
      !span_is(kw, "saved_ms") || !parse_u64(line, &snap->saved_ms))
    goto fail;

  for (;;) {
    if (next_line(buf, len, &pos, &line) != 0 || !field(&line, &kw))
      goto fail;
    if (span_is(kw, "end"))
      break;
    const store_record_t *rec = record_kind(kw, version);
    if (rec == NULL)
      goto fail;
    status = rec->parse(line, version, &ps);
    if (status != 0)
      goto fail;
    status = -EINVAL;
  }

  uint64_t n;
  if (!parse_u64(line, &n) || n != snap->count || pos != len)
    goto fail;
  status = check_unique(snap->records, snap->count);
  if (status != 0)
    goto fail;
  const at_record_t **attrs = NULL;
  status = check_attrs(snap, &attrs);
  free(attrs);
  if (status != 0)
    goto fail;

  *ret = snap;
  return 0;

fail:
  st_snapshot_free(snap);
  return status;
}

int state_store_read(const char *path, st_snapshot_t **ret) {
  if (path == NULL || ret == NULL)
    return -EINVAL;

  /* O_NONBLOCK: a FIFO in the way must not hang the caller; O_NOFOLLOW: a
   * symbolic link is not read through (ELOOP). */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
  if (fd < 0)
    return errno == ELOOP ? -ENOTSUP : -errno;

  char *buf = NULL;
  size_t len = 0, cap = 0;
  int status;
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    status = -errno;
    goto cleanup;
  }
  if (!S_ISREG(sb.st_mode)) {
    status = -ENOTSUP;
    goto cleanup;
  }
  /* Read to EOF rather than trust st_size, bounded. */
  for (;;) {
    if (len == cap) {
      if (cap > STORE_FILE_MAX) {
        status = -EFBIG;
        goto cleanup;
      }
      size_t n = (cap > 0) ? cap * 2 : 65536;
      char *b = realloc(buf, n);
      if (b == NULL) {
        status = -ENOMEM;
        goto cleanup;
      }
      buf = b;
      cap = n;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      status = -errno;
      goto cleanup;
    }
    if (n == 0)
      break;
    len += (size_t)n;
  }
  status = (len > STORE_FILE_MAX) ? -EFBIG : state_store_parse(buf, len, ret);

cleanup:
  close(fd);
  free(buf);
  return status;
}

int state_store_check(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0)
    return -errno;
  return S_ISREG(sb.st_mode) ? 0 : -ENOTSUP;
}

const char *state_store_kind(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0)
    return "missing file";
  if (S_ISREG(sb.st_mode))
    return "regular file";
  if (S_ISLNK(sb.st_mode))
    return "symbolic link";
  if (S_ISDIR(sb.st_mode))
    return "directory";
  if (S_ISFIFO(sb.st_mode))
    return "FIFO";
  if (S_ISCHR(sb.st_mode))
    return "character device";
  if (S_ISBLK(sb.st_mode))
    return "block device";
  if (S_ISSOCK(sb.st_mode))
    return "socket";
  return "special file";
}

int state_store_quarantine(const char *path) {
  if (path == NULL)
    return -EINVAL;
  int status = state_store_check(path); /* only a regular file is moved */
  if (status != 0)
    return status;
  char *corrupt = path_with(path, ".corrupt");
  if (corrupt == NULL)
    return -ENOMEM;
  if (rename(path, corrupt) != 0)
    status = -errno;
  else
    (void)fsync_dir(path); /* the move is done; durability is best effort */
  free(corrupt);
  return status;
}
