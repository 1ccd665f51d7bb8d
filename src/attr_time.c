/* attr_time.c: see attr_time.h. */
#include "attr_time.h"

#include "uuid_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CUR_NONE (-1)  /* no value known */
#define CUR_OTHER (-2) /* the overflow entry */

typedef struct {
  char *value;
  uint64_t total_ms;
} at_value_t;

typedef struct {
  at_value_t values[AT_VALUES_MAX];
  int nvalues;
  bool has_other;
  uint64_t other_ms;
  int cur;           /* index, CUR_NONE or CUR_OTHER */
  uint64_t since_ms; /* running clock when cur was set */
  bool restored;     /* imported, not yet set since */
} at_slot_t;

typedef struct {
  uuid_map_node_t node; /* first: the map links these */
  at_slot_t *slots;     /* one per attribute */
  bool marked;          /* at_mark: a change to read, at mark_ms */
  uint64_t mark_ms;
} at_domain_t;

struct attr_time {
  uuid_map_t map;
  size_t nattrs;
  char **names;
  at_records_t kept; /* records of attributes not configured */
};

static void records_clear(at_records_t *r) {
  for (size_t i = 0; i < r->count; i++) {
    free(r->records[i].name);
    free(r->records[i].value);
  }
  free(r->records);
  r->records = NULL;
  r->count = 0;
}

static void domain_free(uuid_map_node_t *node) {
  at_domain_t *d = (at_domain_t *)node;
  if (d == NULL)
    return;
  /* nattrs is not known here: slots end with a sentinel (nvalues -1) */
  for (at_slot_t *s = d->slots; s != NULL && s->nvalues >= 0; s++)
    for (int i = 0; i < s->nvalues; i++)
      free(s->values[i].value);
  free(d->slots);
  free(d);
}

at_t *at_create(const char *const *names, size_t nattrs) {
  if ((names == NULL && nattrs > 0) || nattrs > AT_ATTRS_MAX)
    return NULL;
  for (size_t i = 0; i < nattrs; i++) {
    size_t n = names[i] != NULL ? strlen(names[i]) : 0;
    if (n == 0 || n > AT_NAME_MAX)
      return NULL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(names[i], names[j]) == 0)
        return NULL;
  }
  at_t *at = calloc(1, sizeof(*at));
  if (at == NULL)
    return NULL;
  at->names = calloc(nattrs + 1, sizeof(*at->names));
  if (at->names == NULL || uuid_map_init(&at->map) != 0) {
    free(at->names);
    free(at);
    return NULL;
  }
  at->nattrs = nattrs;
  for (size_t i = 0; i < nattrs; i++) {
    at->names[i] = strdup(names[i]);
    if (at->names[i] == NULL) {
      at_destroy(at);
      return NULL;
    }
  }
  return at;
}

void at_destroy(at_t *at) {
  if (at == NULL)
    return;
  uuid_map_destroy(&at->map, domain_free);
  for (size_t i = 0; i < at->nattrs; i++)
    free(at->names[i]);
  free(at->names);
  records_clear(&at->kept);
  free(at);
}

static bool uuid_valid(const char *uuid) {
  return uuid != NULL &&
         uuid_map_key_valid(uuid, strnlen(uuid, UUID_MAP_KEY_LEN + 1));
}

/* The domain, or NULL (also for a bad uuid: the map reads 36 bytes). */
static at_domain_t *find(const at_t *at, const char *uuid) {
  if (at == NULL || !uuid_valid(uuid))
    return NULL;
  return (at_domain_t *)uuid_map_find(&at->map, uuid);
}

static at_domain_t *domain_get(at_t *at, const char *uuid, bool create) {
  at_domain_t *d = find(at, uuid);
  if (d != NULL || !create)
    return d;
  d = calloc(1, sizeof(*d));
  if (d == NULL)
    return NULL;
  d->slots = calloc(at->nattrs + 1, sizeof(*d->slots));
  if (d->slots == NULL) {
    free(d);
    return NULL;
  }
  for (size_t i = 0; i < at->nattrs; i++)
    d->slots[i].cur = CUR_NONE;
  d->slots[at->nattrs].nvalues = -1; /* sentinel for domain_free */
  memcpy(d->node.uuid, uuid, UUID_MAP_KEY_LEN);
  d->node.uuid[UUID_MAP_KEY_LEN] = '\0';
  uuid_map_insert(&at->map, &d->node);
  return d;
}

static uint64_t *cur_total(at_slot_t *s) {
  if (s->cur == CUR_OTHER)
    return &s->other_ms;
  if (s->cur >= 0)
    return &s->values[s->cur].total_ms;
  return NULL;
}

/* Credits the current stint up to run_ms and restarts it there. */
static void close_stint(at_slot_t *s, uint64_t run_ms) {
  uint64_t *total = cur_total(s);
  if (total != NULL && run_ms > s->since_ms)
    *total += run_ms - s->since_ms;
  s->since_ms = run_ms;
}

static int find_value(const at_slot_t *s, const char *value) {
  for (int i = 0; i < s->nvalues; i++)
    if (strcmp(s->values[i].value, value) == 0)
      return i;
  return CUR_NONE;
}

static bool value_valid(const char *value) {
  return value == NULL || strlen(value) <= AT_VALUE_MAX;
}

int at_set(at_t *at, const char *uuid, size_t attr, const char *value,
           uint64_t run_ms, at_result_t *ret) {
  at_result_t dummy;
  if (ret == NULL)
    ret = &dummy;
  *ret = (at_result_t){0};
  if (at == NULL || !uuid_valid(uuid) || attr >= at->nattrs ||
      !value_valid(value))
    return -EINVAL;
  at_domain_t *d = domain_get(at, uuid, true);
  if (d == NULL)
    return -ENOMEM;
  at_slot_t *s = &d->slots[attr];

  int idx = value == NULL ? CUR_NONE : find_value(s, value);
  if (value != NULL && idx == CUR_NONE) {
    if (s->nvalues < AT_VALUES_MAX) {
      char *copy = strdup(value);
      if (copy == NULL)
        return -ENOMEM;
      idx = s->nvalues++;
      s->values[idx] = (at_value_t){copy, 0};
      ret->first_seen = true;
    } else {
      idx = CUR_OTHER;
      ret->first_seen = ret->bound_reached = !s->has_other;
      s->has_other = true;
    }
  }

  if (s->restored) {
    /* The saved stint ended at the save (since_ms): it continues only
     * with the same value. */
    s->restored = false;
    if (idx != s->cur || idx == CUR_NONE) {
      ret->restore_gap_dropped = s->cur != CUR_NONE && run_ms > s->since_ms;
      ret->changed = true;
      s->cur = idx;
      s->since_ms = run_ms;
      return 0;
    }
  }
  if (run_ms < s->since_ms)
    s->since_ms = run_ms; /* the caller's clock was reset: credit nothing */
  if (idx == s->cur)
    return 0;
  close_stint(s, run_ms);
  ret->changed = true;
  s->cur = idx;
  return 0;
}

int at_foreach(const at_t *at, const char *uuid, uint64_t run_ms,
               at_visit_fn fn, void *user_data) {
  const at_domain_t *d = find(at, uuid);
  if (d == NULL)
    return 0;
  if (d->marked && d->mark_ms < run_ms)
    run_ms = d->mark_ms;
  for (size_t a = 0; a < at->nattrs; a++) {
    const at_slot_t *s = &d->slots[a];
    uint64_t open =
        !s->restored && run_ms > s->since_ms ? run_ms - s->since_ms : 0;
    for (int i = 0; i < s->nvalues; i++) {
      at_view_t v = {a, at->names[a], s->values[i].value, s->cur == i,
                     s->values[i].total_ms + (s->cur == i ? open : 0)};
      int rc = fn(&v, user_data);
      if (rc != 0)
        return rc;
    }
    if (s->has_other) {
      at_view_t v = {a, at->names[a], NULL, s->cur == CUR_OTHER,
                     s->other_ms + (s->cur == CUR_OTHER ? open : 0)};
      int rc = fn(&v, user_data);
      if (rc != 0)
        return rc;
    }
  }
  return 0;
}

int at_mark(at_t *at, const char *uuid, uint64_t run_ms) {
  if (at == NULL || !uuid_valid(uuid))
    return -EINVAL;
  at_domain_t *d = domain_get(at, uuid, true);
  if (d == NULL)
    return -ENOMEM;
  if (!d->marked) {
    d->marked = true;
    d->mark_ms = run_ms;
  }
  return 0;
}

bool at_marked(const at_t *at, const char *uuid, uint64_t *ret_run_ms) {
  const at_domain_t *d = find(at, uuid);
  if (d == NULL || !d->marked)
    return false;
  if (ret_run_ms != NULL)
    *ret_run_ms = d->mark_ms;
  return true;
}

void at_unmark(at_t *at, const char *uuid) {
  at_domain_t *d = find(at, uuid);
  if (d != NULL)
    d->marked = false;
}

static bool drop_uuid(uuid_map_node_t *node, void *user_data) {
  return memcmp(node->uuid, user_data, UUID_MAP_KEY_LEN) == 0;
}

int at_forget(at_t *at, const char *uuid) {
  if (find(at, uuid) == NULL)
    return -ENOENT;
  uuid_map_remove_if(&at->map, drop_uuid, (void *)uuid, domain_free);
  return 0;
}

typedef struct {
  bool (*keep)(const char *uuid, void *user_data);
  void *user_data;
} retain_t;

static bool drop_unkept(uuid_map_node_t *node, void *user_data) {
  const retain_t *r = user_data;
  return !r->keep(node->uuid, r->user_data);
}

size_t at_retain(at_t *at, bool (*keep)(const char *uuid, void *user_data),
                 void *user_data) {
  if (at == NULL)
    return 0;
  /* The kept records of a domain dropped go with it. */
  size_t n = 0;
  for (size_t i = 0; i < at->kept.count; i++) {
    at_record_t *k = &at->kept.records[i];
    if (keep(k->uuid, user_data)) {
      at->kept.records[n++] = *k;
    } else {
      free(k->name);
      free(k->value);
    }
  }
  at->kept.count = n;
  retain_t r = {keep, user_data};
  return uuid_map_remove_if(&at->map, drop_unkept, &r, domain_free);
}

/* ---- persistence ---- */

void at_records_free(at_records_t *r) {
  if (r == NULL)
    return;
  records_clear(r);
  free(r);
}

/* Appends a record (strings copied). 0 or -ENOMEM. */
static int records_add(at_records_t *r, size_t *cap, const char *uuid,
                       const char *name, const char *value, uint64_t total_ms,
                       bool current) {
  if (r->count == *cap) {
    size_t ncap = *cap ? *cap * 2 : 16;
    at_record_t *n = realloc(r->records, ncap * sizeof(*n));
    if (n == NULL)
      return -ENOMEM;
    r->records = n;
    *cap = ncap;
  }
  at_record_t *rec = &r->records[r->count];
  memset(rec, 0, sizeof(*rec));
  memcpy(rec->uuid, uuid, UUID_MAP_KEY_LEN);
  rec->name = strdup(name);
  rec->value = value != NULL ? strdup(value) : NULL;
  if (rec->name == NULL || (value != NULL && rec->value == NULL)) {
    free(rec->name);
    free(rec->value);
    return -ENOMEM;
  }
  rec->total_ms = total_ms;
  rec->current = current;
  r->count++;
  return 0;
}

typedef struct {
  at_records_t *out;
  size_t cap;
  const char *uuid;
} export_t;

static int export_value(const at_view_t *v, void *user_data) {
  export_t *e = user_data;
  return records_add(e->out, &e->cap, e->uuid, v->name, v->value, v->total_ms,
                     v->current);
}

typedef struct {
  const at_t *at;
  uint64_t (*run_ms)(const char *uuid, void *ud);
  void *ud;
  export_t e;
} export_all_t;

static int export_domain(uuid_map_node_t *node, void *user_data) {
  export_all_t *x = user_data;
  x->e.uuid = node->uuid;
  /* (a restored attribute not set since exports its saved totals) */
  return at_foreach(x->at, node->uuid, x->run_ms(node->uuid, x->ud),
                    export_value, &x->e);
}

int at_export(const at_t *at, uint64_t (*run_ms)(const char *uuid, void *ud),
              void *ud, at_records_t **ret) {
  *ret = NULL;
  at_records_t *out = calloc(1, sizeof(*out));
  if (out == NULL)
    return -ENOMEM;
  export_all_t x = {at, run_ms, ud, {out, 0, NULL}};
  int rc = uuid_map_foreach(&at->map, export_domain, &x);
  for (size_t i = 0; rc == 0 && i < at->kept.count; i++) {
    const at_record_t *k = &at->kept.records[i];
    rc = records_add(out, &x.e.cap, k->uuid, k->name, k->value, k->total_ms,
                     k->current);
  }
  if (rc != 0) {
    at_records_free(out);
    return -ENOMEM;
  }
  *ret = out;
  return 0;
}

static int attr_index(const at_t *at, const char *name) {
  for (size_t i = 0; i < at->nattrs; i++)
    if (strcmp(at->names[i], name) == 0)
      return (int)i;
  return -1;
}

static bool record_valid(const at_record_t *r) {
  size_t n = r->name != NULL ? strlen(r->name) : 0;
  return uuid_map_key_valid(r->uuid, strnlen(r->uuid, sizeof(r->uuid))) &&
         n > 0 && n <= AT_NAME_MAX &&
         (r->value == NULL || strlen(r->value) <= AT_VALUE_MAX);
}

/* Loads one record of a configured attribute. */
static int import_one(at_t *at, const at_record_t *r, size_t attr,
                      uint64_t run) {
  at_domain_t *d = domain_get(at, r->uuid, true);
  if (d == NULL)
    return -ENOMEM;
  at_slot_t *s = &d->slots[attr];
  int idx;
  if (r->value == NULL) {
    if (s->has_other)
      return -EINVAL;
    s->has_other = true;
    s->other_ms = r->total_ms;
    idx = CUR_OTHER;
  } else {
    if (find_value(s, r->value) != CUR_NONE || s->nvalues >= AT_VALUES_MAX)
      return -EINVAL;
    char *copy = strdup(r->value);
    if (copy == NULL)
      return -ENOMEM;
    idx = s->nvalues++;
    s->values[idx] = (at_value_t){copy, r->total_ms};
  }
  s->restored = true;
  if (r->current) {
    if (s->cur != CUR_NONE)
      return -EINVAL;
    s->cur = idx;
    s->since_ms = run;
  }
  return 0;
}

int at_import(at_t *at, const at_records_t *r,
              uint64_t (*run_ms)(const char *uuid, void *ud), void *ud) {
  if (at == NULL || r == NULL)
    return -EINVAL;
  if (at->map.count != 0 || at->kept.count != 0)
    return -EBUSY;
  for (size_t i = 0; i < r->count; i++)
    if (!record_valid(&r->records[i]))
      return -EINVAL;
  size_t cap = 0;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < r->count; i++) {
    const at_record_t *rec = &r->records[i];
    int a = attr_index(at, rec->name);
    if (a < 0)
      rc = records_add(&at->kept, &cap, rec->uuid, rec->name, rec->value,
                       rec->total_ms, rec->current);
    else
      rc = import_one(at, rec, (size_t)a, run_ms(rec->uuid, ud));
  }
  if (rc != 0) {
    uuid_map_destroy(&at->map, domain_free);
    records_clear(&at->kept);
    if (uuid_map_init(&at->map) != 0)
      return -ENOMEM;
  }
  return rc;
}
