/* state_tracker.c: per-domain state machine and duration accounting.
 *
 * Domains live in a chained hash table keyed by uuid (O(1) lookups; a few
 * hundred bytes per domain). Per domain, total_ms[] holds the time credited
 * up to mark_ms; while the domain is present its current state accrues from
 * mark_ms on, so a view adds now - mark_ms. Invariant for a present domain:
 * entered_ms <= mark_ms. Every time that would go backwards is clamped to
 * mark_ms, so totals never decrease. up_since_ms is when the domain last
 * started (st_is_start), kept while it stays up.
 */
#include "state_tracker.h"
#include "state_tracker_priv.h"
#include "uuid_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(UUID_MAP_KEY_LEN == ST_UUID_LEN, "one UUID length");

struct st_domain {
  uuid_map_node_t node; /* first: the map's link and the uuid */
  char *name;           /* NULL: never named */
  int id, state, reason;
  bool present;
  bool final_due;     /* made gone by the last sweep */
  bool pending;       /* restored by _import, not observed yet */
  bool same_clock;    /* pending: the saved times are on our clock */
  bool saved_present; /* pending: the record was present when saved */
  uint32_t seen_mask;
  uint64_t total_ms[ST_STATE_COUNT]; /* credited up to mark_ms */
  uint64_t entered_ms;               /* last transition */
  uint64_t mark_ms;                  /* credited up to here */
  uint64_t up_since_ms;              /* valid when st_state_is_up */
  uint64_t gone_since_ms;            /* when !present: last known present */
  uint64_t seen_ms;                  /* latest poll or event that saw it */
  st_evidence_t ev;                  /* latest evidence (pending: saved) */
};

struct state_tracker {
  uuid_map_t domains; /* of struct st_domain */
};

static const char *const state_names[ST_STATE_COUNT] = {
    "nostate",  "running", "blocked", "paused",
    "shutdown", "shutoff", "crashed", "pmsuspended",
};

const char *st_state_name(int state) {
  if (state < 0 || state >= ST_STATE_COUNT)
    return "unknown";
  return state_names[state];
}

static uint64_t sat_add(uint64_t a, uint64_t b) {
  return (a > UINT64_MAX - b) ? UINT64_MAX : a + b;
}

static uint64_t sat_sub(uint64_t a, uint64_t b) { return (a > b) ? a - b : 0; }

static uint64_t max_u64(uint64_t a, uint64_t b) { return (a > b) ? a : b; }

static uint64_t min_u64(uint64_t a, uint64_t b) { return (a < b) ? a : b; }

bool st_state_is_up(int state) {
  return state >= 0 && state < ST_STATE_COUNT && state != ST_STATE_SHUTOFF &&
         state != ST_STATE_CRASHED;
}

/* A running or paused reason that says the guest's state was replaced by a
 * snapshot's (VIR_DOMAIN_RUNNING_FROM_SNAPSHOT, _PAUSED_FROM_SNAPSHOT). */
static bool from_snapshot(int state, int reason) {
  return (state == ST_STATE_RUNNING && reason == 4) ||
         (state == ST_STATE_PAUSED && reason == 7);
}

bool st_is_start(const st_start_in_t *in) {
  if (!st_state_is_up(in->state))
    return false;
  if (!in->known || !st_state_is_up(in->old_state))
    return true;
  if (in->id >= 0 && in->old_id >= 0 && in->id != in->old_id)
    return true;
  return from_snapshot(in->state, in->reason) &&
         !from_snapshot(in->old_state, in->old_reason);
}

static bool valid_state(int state) {
  return state >= 0 && state < ST_STATE_COUNT;
}

static bool valid_uuid(const char *uuid) {
  return uuid != NULL &&
         uuid_map_key_valid(uuid, strnlen(uuid, ST_UUID_LEN + 1));
}

static struct st_domain *lookup(const st_tracker_t *st, const char *uuid) {
  return (struct st_domain *)uuid_map_find(&st->domains, uuid);
}

static void insert(st_tracker_t *st, struct st_domain *d) {
  uuid_map_insert(&st->domains, &d->node);
}

static void domain_free(struct st_domain *d) {
  if (d == NULL)
    return;
  free(d->name);
  free(d);
}

static void free_node(uuid_map_node_t *node) {
  domain_free((struct st_domain *)node);
}

static bool drop_all(uuid_map_node_t *node, void *user_data) {
  (void)node;
  (void)user_data;
  return true;
}

static void clear(st_tracker_t *st) {
  uuid_map_remove_if(&st->domains, drop_all, NULL, free_node);
}

st_tracker_t *st_create(void) {
  st_tracker_t *st = calloc(1, sizeof(*st));
  if (st == NULL)
    return NULL;
  if (uuid_map_init(&st->domains) != 0) {
    free(st);
    return NULL;
  }
  return st;
}

void st_destroy(st_tracker_t *st) {
  if (st == NULL)
    return;
  uuid_map_destroy(&st->domains, free_node);
  free(st);
}

size_t st_count(const st_tracker_t *st) {
  return (st == NULL) ? 0 : st->domains.count;
}

/* Length of name cut to ST_NAME_MAX bytes at a UTF-8 character boundary. */
static size_t name_len(const char *name) {
  size_t n = strlen(name);
  if (n <= ST_NAME_MAX)
    return n;
  n = ST_NAME_MAX;
  while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
    n--;
  return n;
}

static char *name_dup(const char *name, size_t n) {
  char *s = malloc(n + 1);
  if (s == NULL)
    return NULL;
  memcpy(s, name, n);
  s[n] = '\0';
  return s;
}

/* Opens a stint in `state` at `at`. */
static void enter(struct st_domain *d, int state, uint64_t at) {
  d->state = state;
  d->entered_ms = at;
  d->mark_ms = at;
  d->seen_mask |= UINT32_C(1) << state;
}

/* Whether (state, reason, id) is a start of d (see st_is_start); `known`:
 * d's state is known up to this observation (present, not pending). */
static bool starts(const struct st_domain *d, bool known, int state, int reason,
                   int id) {
  st_start_in_t in = {
      .known = known,
      .old_state = d->state,
      .old_reason = d->reason,
      .old_id = d->id,
      .state = state,
      .reason = reason,
      .id = id,
  };
  return st_is_start(&in);
}

/* Credits the current stint up to `at` (>= mark_ms). */
static void credit(struct st_domain *d, uint64_t at) {
  d->total_ms[d->state] =
      sat_add(d->total_ms[d->state], sat_sub(at, d->mark_ms));
  d->mark_ms = max_u64(d->mark_ms, at);
}

static const char *const continuity_texts[] = {
    [ST_CONT_CREDITED] = "same libvirt id, state and process",
    [ST_CONT_CLOCK] = "the host rebooted or its boot id is unknown",
    [ST_CONT_ABSENT] = "the domain was gone when saved",
    [ST_CONT_EVENT] = "a lifecycle event came first",
    [ST_CONT_STATE] = "another state or reason",
    [ST_CONT_ID] = "another libvirt id",
    [ST_CONT_UNPROVABLE] =
        "nothing proves continuity (inactive, or no process identity)",
    [ST_CONT_PROCESS] = "another process: it was restarted",
    [ST_CONT_CPU] =
        "its vCPU time moved (or is unknown) while its vCPUs claim to be stopped",
};

const char *st_continuity_text(st_continuity_t why) {
  if ((size_t)why >= sizeof(continuity_texts) / sizeof(continuity_texts[0]))
    return "unknown";
  return continuity_texts[why];
}

bool st_state_stops_vcpus(int state) {
  return state == 3 /* paused */ || state == 6 /* crashed */ ||
         state == 7 /* pmsuspended */;
}

st_continuity_t st_continuity(const st_continuity_in_t *in) {
  if (!in->same_clock)
    return ST_CONT_CLOCK;
  if (!in->saved_present)
    return ST_CONT_ABSENT;
  if (in->by_event)
    return ST_CONT_EVENT;
  if (in->state != in->saved_state || in->reason != in->saved_reason)
    return ST_CONT_STATE;
  if (in->id != in->saved_id)
    return ST_CONT_ID;
  /* id -1 (shut off): libvirt ids say nothing; a process identity is
   * needed, and must be known on both sides. */
  if (in->id < 0 || in->saved.process == 0 || in->now.process == 0)
    return ST_CONT_UNPROVABLE;
  if (in->now.process != in->saved.process)
    return ST_CONT_PROCESS;
  if (st_state_stops_vcpus(in->state) &&
      (in->saved.cpu_ns == 0 || in->now.cpu_ns != in->saved.cpu_ns))
    return ST_CONT_CPU;
  return ST_CONT_CREDITED;
}

bool st_same_run(const st_continuity_in_t *in) {
  /* A snapshot reverted meanwhile (QEMU can load one into the running
   * process) is a start all the same. */
  bool reverted = from_snapshot(in->state, in->reason) &&
                  !from_snapshot(in->saved_state, in->saved_reason);
  return in->same_clock && in->saved_present &&
         st_state_is_up(in->saved_state) && st_state_is_up(in->state) &&
         in->id >= 0 && in->id == in->saved_id && in->saved.process != 0 &&
         in->now.process == in->saved.process && !reverted;
}

/* The first observation of a restored domain. */
static void restore(struct st_domain *d, int id, int state, int reason,
                    const st_evidence_t *ev, bool by_event, uint64_t t,
                    st_result_t *res) {
  uint64_t at = max_u64(t, d->mark_ms);
  st_continuity_in_t in = {
      .same_clock = d->same_clock,
      .saved_present = d->saved_present,
      .by_event = by_event,
      .saved_id = d->id,
      .saved_state = d->state,
      .saved_reason = d->reason,
      .saved = d->ev,
      .id = id,
      .state = state,
      .reason = reason,
      .now = *ev,
  };
  res->why = st_continuity(&in);
  bool credited = res->why == ST_CONT_CREDITED;

  res->restore = credited ? ST_RESTORE_CREDITED : ST_RESTORE_NOT_CREDITED;
  res->gap_ms = d->same_clock ? sat_sub(at, d->gone_since_ms) : 0;
  bool same_run = st_same_run(&in);
  uint64_t saved_ms = d->mark_ms; /* times after the save are clamped */
  if (credited) {
    /* The stint goes on: the gap counts to the saved state. */
    d->entered_ms = min_u64(d->entered_ms, d->mark_ms);
    credit(d, at);
    d->seen_mask |= UINT32_C(1) << state;
  } else {
    res->change = (state != d->state) ? ST_CHANGED : ST_NONE;
    enter(d, state, at);
  }
  /* Up since the saved start only if it provably did not start again. */
  if (!st_state_is_up(state))
    d->up_since_ms = 0;
  else if (same_run)
    d->up_since_ms = min_u64(d->up_since_ms, saved_ms);
  else
    d->up_since_ms = at;
  d->pending = false;
  d->present = true;
  d->id = id;
  d->reason = reason;
}

/* In *ret a copy of name (cut to ST_NAME_MAX) when it is not d's name
 * already, else NULL. 0 or -ENOMEM. */
static int new_name_of(const struct st_domain *d, const char *name,
                       char **ret) {
  *ret = NULL;
  if (name == NULL)
    return 0;
  size_t n = name_len(name);
  if (d != NULL && d->name != NULL && strlen(d->name) == n &&
      memcmp(d->name, name, n) == 0)
    return 0;
  *ret = name_dup(name, n);
  return *ret != NULL ? 0 : -ENOMEM;
}

/* First observation of a domain unknown to the tracker; takes name. */
static int add_domain(st_tracker_t *st, const char *uuid, char *name, int id,
                      int state, int reason, uint64_t t, st_result_t *res) {
  struct st_domain *d = calloc(1, sizeof(*d));
  if (d == NULL) {
    free(name);
    return -ENOMEM;
  }
  memcpy(d->node.uuid, uuid, ST_UUID_LEN + 1);
  d->name = name;
  d->id = id;
  d->reason = reason;
  d->present = true;
  d->seen_ms = t;
  enter(d, state, t);
  d->up_since_ms = st_state_is_up(state) ? t : 0; /* first seen: a start */
  insert(st, d);
  res->change = ST_FIRST;
  res->old_state = res->old_reason = -1;
  return 0;
}

/* An observation of a known domain. */
static void update_domain(struct st_domain *d, int id, int state, int reason,
                          const st_evidence_t *ev, uint64_t t, bool is_poll,
                          st_result_t *res) {
  d->seen_ms = max_u64(d->seen_ms, t);
  res->old_state = d->state;
  res->old_reason = d->reason;

  if (d->pending) {
    restore(d, id, state, reason, ev, !is_poll, t, res);
    if (is_poll)
      d->ev = *ev;
    return;
  }
  d->final_due = false;
  uint64_t at = max_u64(t, d->mark_ms);
  bool start;
  if (!d->present) {
    /* Back after being gone: a new stint; the old one ended when it left.
     * What happened meanwhile is unknown: up again is a start. */
    start = starts(d, false, state, reason, id);
    if (state != d->state) {
      res->change = ST_CHANGED;
      res->old_stint_ms = sat_sub(d->gone_since_ms, d->entered_ms);
    }
    enter(d, state, at);
    d->present = true;
  } else if (is_poll && t < d->entered_ms) {
    /* The read started before the last transition: it is stale. */
    res->new_state = d->state;
    res->new_reason = d->reason;
    return;
  } else {
    /* A start opens a new stint even in the same state (a restart that no
     * event reported, a snapshot reverted): the time in the state counts
     * from it, so it is never longer than the uptime. */
    start = starts(d, true, state, reason, id);
    if (state != d->state || start) {
      credit(d, at);
      if (state != d->state) {
        res->change = ST_CHANGED;
        res->old_stint_ms = sat_sub(at, d->entered_ms);
      }
      enter(d, state, at);
    }
  }
  if (!st_state_is_up(state))
    d->up_since_ms = 0;
  else if (start)
    d->up_since_ms = at;
  if (is_poll)
    d->ev = *ev;
  d->id = id;
  d->reason = reason;
}

static int observe(st_tracker_t *st, const char *uuid, const char *name, int id,
                   int state, int reason, const st_evidence_t *ev, uint64_t t,
                   bool is_poll, st_result_t *ret) {
  static const st_evidence_t none = {0};
  if (ev == NULL)
    ev = &none;
  if (st == NULL || !valid_uuid(uuid) || !valid_state(state))
    return -EINVAL;
  if (id < 0)
    id = -1;

  struct st_domain *d = lookup(st, uuid);
  char *new_name;
  if (new_name_of(d, name, &new_name) != 0)
    return -ENOMEM;
  st_result_t res = {
      .change = ST_NONE,
      .restore = ST_RESTORE_NONE,
      .new_state = state,
      .new_reason = reason,
  };
  if (d == NULL) {
    if (add_domain(st, uuid, new_name, id, state, reason, t, &res) != 0)
      return -ENOMEM;
    if (is_poll)
      lookup(st, uuid)->ev = *ev;
  } else {
    if (new_name != NULL) {
      free(d->name);
      d->name = new_name;
    }
    update_domain(d, id, state, reason, ev, t, is_poll, &res);
  }
  if (ret != NULL)
    *ret = res;
  return 0;
}

int st_event(st_tracker_t *st, const char *uuid, const char *name, int id,
             int state, int reason, uint64_t now_ms, st_result_t *ret) {
  return observe(st, uuid, name, id, state, reason, NULL, now_ms, false, ret);
}

int st_poll(st_tracker_t *st, const char *uuid, const char *name, int id,
            int state, int reason, uint64_t poll_ms, st_result_t *ret) {
  return observe(st, uuid, name, id, state, reason, NULL, poll_ms, true, ret);
}

int st_poll_ev(st_tracker_t *st, const char *uuid, const char *name, int id,
               int state, int reason, const st_evidence_t *ev, uint64_t poll_ms,
               st_result_t *ret) {
  return observe(st, uuid, name, id, state, reason, ev, poll_ms, true, ret);
}

typedef struct {
  uint64_t poll_ms, now_ms, forget_after_ms;
} sweep_ctx_t;

/* Marks a domain the poll did not see as gone; true to forget it. */
static bool sweep_one(uuid_map_node_t *node, void *user_data) {
  struct st_domain *d = (struct st_domain *)node;
  const sweep_ctx_t *c = user_data;
  d->final_due = false; /* the previous sweep's finals were due once */
  if (d->present && d->seen_ms < c->poll_ms) {
    uint64_t at = max_u64(c->now_ms, d->mark_ms);
    credit(d, at);
    d->gone_since_ms = at;
    d->present = false;
    d->final_due = true;
  }
  return !d->present &&
         sat_sub(c->now_ms, d->gone_since_ms) > c->forget_after_ms;
}

size_t st_sweep(st_tracker_t *st, uint64_t poll_ms, uint64_t now_ms,
                uint64_t forget_after_ms) {
  if (st == NULL)
    return 0;
  sweep_ctx_t c = {poll_ms, now_ms, forget_after_ms};
  return uuid_map_remove_if(&st->domains, sweep_one, &c, free_node);
}

static void make_view(const struct st_domain *d, uint64_t now_ms,
                      st_view_t *v) {
  *v = (st_view_t){
      .uuid = d->node.uuid,
      .name = (d->name != NULL) ? d->name : "",
      .id = d->id,
      .state = d->state,
      .reason = d->reason,
      .present = d->present,
      .final = d->final_due,
      .seen_mask = d->seen_mask,
  };
  memcpy(v->total_ms, d->total_ms, sizeof(v->total_ms));
  if (d->present) {
    v->total_ms[d->state] =
        sat_add(v->total_ms[d->state], sat_sub(now_ms, d->mark_ms));
    v->in_state_ms = sat_sub(now_ms, d->entered_ms);
    if (st_state_is_up(d->state))
      v->uptime_ms = sat_sub(now_ms, d->up_since_ms);
  } else if (!d->pending) {
    v->in_state_ms = sat_sub(d->gone_since_ms, d->entered_ms);
  }
  for (size_t s = 0; s < ST_STATE_COUNT; s++)
    v->sum_ms = sat_add(v->sum_ms, v->total_ms[s]);
}

typedef struct {
  uint64_t now_ms;
  st_visit_fn fn;
  void *user_data;
} foreach_ctx_t;

static int visit_one(uuid_map_node_t *node, void *user_data) {
  const foreach_ctx_t *c = user_data;
  st_view_t v;
  make_view((const struct st_domain *)node, c->now_ms, &v);
  return c->fn(&v, c->user_data);
}

int st_foreach(const st_tracker_t *st, uint64_t now_ms, st_visit_fn fn,
               void *user_data) {
  if (st == NULL || fn == NULL)
    return 0;
  foreach_ctx_t c = {now_ms, fn, user_data};
  return uuid_map_foreach(&st->domains, visit_one, &c);
}

int st_get(const st_tracker_t *st, const char *uuid, uint64_t now_ms,
           st_view_t *ret) {
  if (st == NULL || !valid_uuid(uuid))
    return -ENOENT;
  const struct st_domain *d = lookup(st, uuid);
  if (d == NULL)
    return -ENOENT;
  make_view(d, now_ms, ret);
  return 0;
}

/* ---- persistence ---- */

void st_snapshot_free(st_snapshot_t *snap) {
  if (snap == NULL)
    return;
  if (snap->records != NULL) {
    for (size_t i = 0; i < snap->count; i++)
      free(snap->records[i].name);
  }
  free(snap->records);
  at_records_free(snap->attrs);
  free(snap);
}

bool st_record_valid(const st_record_t *r) {
  return uuid_map_key_valid(r->uuid, strnlen(r->uuid, sizeof(r->uuid))) &&
         r->id >= -1 && valid_state(r->state) &&
         (r->seen_mask >> ST_STATE_COUNT) == 0 &&
         (r->name == NULL || strnlen(r->name, ST_NAME_MAX + 1) <= ST_NAME_MAX);
}

int st_record_cmp(const void *a, const void *b) {
  const st_record_t *ra = a;
  const st_record_t *rb = b;
  return memcmp(ra->uuid, rb->uuid, ST_UUID_LEN);
}

/* The latest credit of a present domain: a snapshot is taken no earlier. */
static int latest_credit(uuid_map_node_t *node, void *user_data) {
  const struct st_domain *d = (const struct st_domain *)node;
  uint64_t *at = user_data;
  if (d->present)
    *at = max_u64(*at, d->mark_ms);
  return 0;
}

typedef struct {
  st_snapshot_t *snap;
  uint64_t at;
} export_ctx_t;

static int export_one(uuid_map_node_t *node, void *user_data) {
  export_ctx_t *c = user_data;
  const struct st_domain *d = (const struct st_domain *)node;
  st_record_t *r = &c->snap->records[c->snap->count];
  const char *name = (d->name != NULL) ? d->name : "";
  r->name = name_dup(name, strlen(name));
  if (r->name == NULL)
    return -ENOMEM;
  c->snap->count++;
  memcpy(r->uuid, d->node.uuid, sizeof(r->uuid));
  r->id = d->id;
  r->state = d->state;
  r->reason = d->reason;
  r->seen_mask = d->seen_mask;
  memcpy(r->total_ms, d->total_ms, sizeof(r->total_ms));
  r->entered_ms = d->entered_ms;
  r->up_since_ms = d->up_since_ms;
  r->present = d->present;
  r->evidence = d->ev;
  if (d->present)
    r->total_ms[d->state] =
        sat_add(r->total_ms[d->state], sat_sub(c->at, d->mark_ms));
  else
    r->gone_since_ms = d->gone_since_ms;
  return 0;
}

int st_export(const st_tracker_t *st, const char *boot_id, uint64_t now_ms,
              st_snapshot_t **ret) {
  if (st == NULL || ret == NULL)
    return -EINVAL;

  st_snapshot_t *snap = calloc(1, sizeof(*snap));
  if (snap == NULL)
    return -ENOMEM;
  if (boot_id != NULL) {
    strncpy(snap->boot_id, boot_id, ST_UUID_LEN);
    snap->boot_id[ST_UUID_LEN] = '\0';
  }
  if (st->domains.count > 0 &&
      (snap->records = calloc(st->domains.count, sizeof(*snap->records))) ==
          NULL) {
    st_snapshot_free(snap);
    return -ENOMEM;
  }

  /* Times that went backwards are clamped: the snapshot is taken no earlier
   * than any present domain's last credit, so it never loses time. */
  export_ctx_t c = {.snap = snap, .at = now_ms};
  uuid_map_foreach(&st->domains, latest_credit, &c.at);
  snap->saved_ms = c.at;
  if (uuid_map_foreach(&st->domains, export_one, &c) != 0) {
    st_snapshot_free(snap);
    return -ENOMEM;
  }
  if (snap->count > 1)
    qsort(snap->records, snap->count, sizeof(*snap->records), st_record_cmp);
  *ret = snap;
  return 0;
}

/* Adds one saved domain as pending. */
static int import_one(st_tracker_t *st, const st_snapshot_t *snap,
                      const st_record_t *r, bool same_clock, uint64_t now_ms) {
  if (!st_record_valid(r) || lookup(st, r->uuid) != NULL)
    return -EINVAL;

  const char *name = (r->name != NULL) ? r->name : "";
  struct st_domain *d = calloc(1, sizeof(*d));
  if (d == NULL)
    return -ENOMEM;
  d->name = name_dup(name, strlen(name));
  if (d->name == NULL) {
    free(d);
    return -ENOMEM;
  }
  memcpy(d->node.uuid, r->uuid, sizeof(d->node.uuid));
  d->id = r->id;
  d->state = r->state;
  d->reason = r->reason;
  d->pending = true;
  d->same_clock = same_clock;
  d->saved_present = r->present;
  d->ev = r->evidence;
  d->seen_mask = r->seen_mask;
  memcpy(d->total_ms, r->total_ms, sizeof(d->total_ms));
  d->entered_ms = r->entered_ms;
  d->up_since_ms = r->up_since_ms;
  /* Last known present, on our clock: forget_after_ms counts from here, and
   * the first observation is clamped to it. */
  if (same_clock)
    d->gone_since_ms = r->present ? snap->saved_ms : r->gone_since_ms;
  else
    d->gone_since_ms = now_ms;
  d->mark_ms = d->gone_since_ms;
  insert(st, d);
  return 0;
}

int st_import(st_tracker_t *st, const st_snapshot_t *snap, bool same_clock,
              uint64_t now_ms) {
  if (st == NULL || snap == NULL || (snap->count > 0 && snap->records == NULL))
    return -EINVAL;
  if (st->domains.count != 0)
    return -EBUSY;

  for (size_t i = 0; i < snap->count; i++) {
    int status = import_one(st, snap, &snap->records[i], same_clock, now_ms);
    if (status != 0) {
      clear(st); /* all or nothing */
      return status;
    }
  }
  return 0;
}
