/* state_tracker.h: per-domain state machine and duration accounting.
 *
 * Pure C11: no libvirt, no collectd, no clock reads, no logging. The caller
 * passes every time as milliseconds on one monotonic clock (the glue uses
 * CLOCK_BOOTTIME) and does the locking: a tracker is not thread-safe.
 *
 * A domain is its UUID (36 characters, lower-case hex in the 8-4-4-4-12 form
 * libvirt prints). For each domain the tracker
 * keeps the current state (libvirt's virDomainState numbers, 0..7), the
 * time the current stint began, and ever-growing totals per state. Two kinds
 * of observation feed it:
 *   - events: "the domain entered state S at time t" (lifecycle events);
 *   - polls: "a read issued at time t saw state S" (every read cycle).
 * A poll never undoes a newer event: a poll issued before the domain's last
 * transition is ignored. A poll that disagrees with the tracker (a missed
 * event) is a transition timed at the poll's issue time.
 * Besides the totals, a view gives two ages: the time in the current state
 * (since the domain entered it) and the uptime (since it last started: see
 * st_is_start; it goes on through pause/resume and pmsuspend/wakeup).
 */
#ifndef STATE_TRACKER_H
#define STATE_TRACKER_H

#include "attr_time.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libvirt's virDomainState: 0 nostate, 1 running, 2 blocked, 3 paused,
 * 4 shutdown, 5 shutoff, 6 crashed, 7 pmsuspended. */
#define ST_STATE_COUNT 8
#define ST_STATE_RUNNING 1
#define ST_STATE_PAUSED 3
#define ST_STATE_SHUTOFF 5
#define ST_STATE_CRASHED 6
#define ST_UUID_LEN 36
/* Longest name kept, in bytes: longer names are cut (at a UTF-8 character
 * boundary) when copied, so that every tracked name fits the state file. */
#define ST_NAME_MAX 1024

/* libvirt's lower-case name of a state ("running", ...), "unknown" if out of
 * range. Static storage. */
const char *st_state_name(int state);

/* Whether a domain in `state` is up: its guest exists (every state but
 * shutoff and crashed, and out-of-range ones). */
bool st_state_is_up(int state);

/* An observation of a domain, and what the tracker knew of it before. */
typedef struct {
  bool known; /* false: first seen, back after being gone, or restored
                 from the state file without proof it ran on */
  int old_state, old_reason, old_id;
  int state, reason, id;
} st_start_in_t;

/* Whether the observation is a start of the domain, i.e. its uptime counts
 * from it again: it is up (st_state_is_up) and was not known to be up
 * before (not known, or shut off, or crashed), or it shows another libvirt
 * id than before (both >= 0: a restart no event reported; ids are given
 * per start), or it enters a FROM_SNAPSHOT reason (running 4, paused 7)
 * from another reason (a snapshot revert replaced the guest's state).
 * Every start counts from 0, by whatever reason libvirt gives (booted,
 * restored, from snapshot, migrated): the README says why. */
bool st_is_start(const st_start_in_t *in);

typedef struct state_tracker st_tracker_t;

/* What an observation did. */
typedef enum {
  ST_NONE = 0, /* nothing changed (duplicate, or a poll older than the
                  last transition) */
  ST_FIRST,    /* first observation of a domain unknown to the tracker */
  ST_CHANGED,  /* a transition from old_state to new_state */
} st_change_t;

/* Outcome of restoring a domain loaded from the state file, reported with
 * its first observation (see st_import). */
typedef enum {
  ST_RESTORE_NONE = 0,     /* not a restored domain, or already observed */
  ST_RESTORE_CREDITED,     /* continuity proven: downtime credited */
  ST_RESTORE_NOT_CREDITED, /* totals kept, the gap credited to no state */
} st_restore_t;

/* Evidence that a domain ran on without interruption, read with a poll.
 * 0 means unknown. See st_continuity. */
typedef struct {
  uint64_t process; /* identity of the domain's process on this host (the
                       glue combines its pid and start time) */
  uint64_t cpu_ns;  /* CPU time of the guest's vCPUs in that process */
} st_evidence_t;

/* Why a restored domain's gap was credited or not (st_continuity). */
typedef enum {
  ST_CONT_CREDITED = 0, /* same clock, state, reason, id and process; for a
                           domain whose vCPUs stop (paused, crashed,
                           pmsuspended) also the same vCPU time */
  ST_CONT_CLOCK,        /* not the same clock (host rebooted, boot id
                           unknown): the gap is unknown */
  ST_CONT_ABSENT,       /* the domain was gone when saved */
  ST_CONT_EVENT,        /* first seen by an event: something happened */
  ST_CONT_STATE,        /* another state or reason than saved */
  ST_CONT_ID,           /* another libvirt id than saved */
  ST_CONT_UNPROVABLE,   /* no evidence either way: an inactive domain (id
                           -1), or no process identity (not a local QEMU
                           domain, or it could not be read) */
  ST_CONT_PROCESS,      /* another process than saved: it was restarted */
  ST_CONT_CPU,          /* vCPU time advanced (or is unknown) while the
                           domain claims to have had its vCPUs stopped */
} st_continuity_t;

/* The facts the continuity decision is made from. */
typedef struct {
  bool same_clock;    /* saved on this boot's clock */
  bool saved_present; /* present when saved */
  bool by_event;      /* the first observation is an event, not a poll */
  int saved_id, saved_state, saved_reason;
  st_evidence_t saved;
  int id, state, reason;
  st_evidence_t now;
} st_continuity_in_t;

/* The continuity rule, as one pure function: ST_CONT_CREDITED only when the
 * evidence proves the domain stayed in its saved state through the gap as
 * far as the host can tell; otherwise the first reason it cannot be (in the
 * order of the enum). */
st_continuity_t st_continuity(const st_continuity_in_t *in);
/* Whether the facts prove the same run of a domain that was up at the save
 * and is up now (same clock, present when saved, the same libvirt id and a
 * known, unchanged process, and no snapshot reverted: see st_is_start):
 * its uptime then goes on from the saved start even if the gap is not
 * credited (a state change meanwhile). */
bool st_same_run(const st_continuity_in_t *in);
/* A short phrase for a log line ("another process"...). Static storage. */
const char *st_continuity_text(st_continuity_t why);
/* Whether a domain's vCPUs are stopped in `state` (paused, crashed,
 * pmsuspended): then its vCPU time must not advance. */
bool st_state_stops_vcpus(int state);

typedef struct {
  st_change_t change;
  st_restore_t restore;
  st_continuity_t why;       /* restore: why (not) credited */
  int old_state, old_reason; /* -1 with ST_FIRST */
  int new_state, new_reason;
  uint64_t old_stint_ms; /* time spent in old_state (ST_CHANGED) */
  uint64_t gap_ms;       /* restore: time since the domain was last known
                            present (credited or not); 0 when the clock
                            changed (unknown) */
} st_result_t;

/* Read-only view of one domain, valid until the next call that changes the
 * tracker. */
typedef struct {
  const char *uuid;
  const char *name;
  int id; /* libvirt id, -1 when not running */
  int state, reason;
  bool present;       /* seen by the last poll or a later event */
  bool final;         /* made gone by the last st_sweep: its totals (final
                         until it comes back) are due once more */
  uint32_t seen_mask; /* bit s set: state s has been entered */
  uint64_t total_ms[ST_STATE_COUNT]; /* including the current stint to now */
  uint64_t sum_ms;                   /* sum of total_ms */
  uint64_t uptime_ms;   /* since the domain last started (st_is_start);
                           0 when not up or not present */
  uint64_t in_state_ms; /* since the domain entered its current state;
                           gone: its last stint's length */
} st_view_t;

/* Returns NULL on allocation failure. */
st_tracker_t *st_create(void);
/* Accepts NULL. */
void st_destroy(st_tracker_t *st);

/* An event: the domain entered `state` at `now_ms`. `name` is copied (NULL
 * keeps the known name); an `id` below 0 is stored as -1.
 * Returns 0 and fills *ret (may be NULL), or -EINVAL for a bad uuid/state,
 * -ENOMEM. An event timed before the domain's last transition is clamped to
 * it (durations never decrease).
 * A gone domain (see _sweep) that is observed again is present again and
 * starts a new stint at the observation; its totals continue. */
int st_event(st_tracker_t *st, const char *uuid, const char *name, int id,
             int state, int reason, uint64_t now_ms, st_result_t *ret);

/* A poll issued at `poll_ms` saw `state`. Marks the domain present in the
 * poll cycle `poll_ms`. If the domain's last transition is later than
 * poll_ms, only name and presence are updated (ST_NONE): the id, like the
 * state, may be older than the transition. Otherwise a different state is a
 * transition at poll_ms. Returns as _event. */
int st_poll(st_tracker_t *st, const char *uuid, const char *name, int id,
            int state, int reason, uint64_t poll_ms, st_result_t *ret);
/* st_poll with the evidence read with it (copied; NULL: none). The latest
 * evidence of each domain is exported with it and, for a restored domain,
 * compared with the saved one (st_continuity). */
int st_poll_ev(st_tracker_t *st, const char *uuid, const char *name, int id,
               int state, int reason, const st_evidence_t *ev, uint64_t poll_ms,
               st_result_t *ret);

/* Ends a complete poll cycle issued at poll_ms: a domain not polled in it
 * (and with no event since poll_ms) is gone: its stint is closed at now_ms
 * (time while gone counts to no state), it is no longer present, and its
 * views say `final` until the next sweep (so that the caller dispatches the
 * last stint once). A domain gone for more than forget_after_ms is dropped.
 * Returns the number dropped. */
size_t st_sweep(st_tracker_t *st, uint64_t poll_ms, uint64_t now_ms,
                uint64_t forget_after_ms);

/* Calls fn for every domain (present or not) with a view at now_ms. Stops
 * and returns fn's value if it is non-zero; 0 otherwise. */
typedef int (*st_visit_fn)(const st_view_t *view, void *user_data);
int st_foreach(const st_tracker_t *st, uint64_t now_ms, st_visit_fn fn,
               void *user_data);

/* The view of one domain at now_ms (as st_foreach gives it): 0, or
 * -ENOENT for a domain the tracker does not know. */
int st_get(const st_tracker_t *st, const char *uuid, uint64_t now_ms,
           st_view_t *ret);

/* ---- persistence (see state_store.h for the file) ---- */

/* One domain as saved. */
typedef struct {
  char uuid[ST_UUID_LEN + 1];
  char *name; /* owned by the record set */
  int id, state, reason;
  uint32_t seen_mask;
  uint64_t total_ms[ST_STATE_COUNT]; /* including the stint up to saved_ms */
  uint64_t entered_ms;               /* when the current state was entered */
  uint64_t up_since_ms; /* last start, valid when st_state_is_up(state) */
  bool present;
  uint64_t gone_since_ms; /* valid when !present */
  st_evidence_t evidence; /* the latest read (0: unknown) */
} st_record_t;

/* Whether a record can be kept: a valid uuid (uuid_map_key_valid), id >= -1,
 * a state in 0..ST_STATE_COUNT-1, no seen bit beyond it, a name (if any)
 * of at most ST_NAME_MAX bytes. The one check of the tracker's import and
 * the state file's writer. */
bool st_record_valid(const st_record_t *r);

/* Orders records by uuid (qsort comparator over st_record_t). */
int st_record_cmp(const void *a, const void *b);

typedef struct {
  char boot_id[ST_UUID_LEN + 1]; /* the clock's epoch: /proc boot_id */
  uint64_t saved_ms;             /* clock at save time */
  size_t count;
  st_record_t *records;
  /* The TimeBy totals saved with it (attr_time), each naming a domain of
   * records; NULL: none. Owned: freed by st_snapshot_free. The tracker
   * neither fills nor reads them (persist does). */
  at_records_t *attrs;
} st_snapshot_t;

/* Fills a new snapshot of every domain at now_ms (boot_id copied; NULL
 * gives "", which state_store_write refuses), sorted by uuid. Free it with
 * st_snapshot_free. 0 or -ENOMEM.
 * A domain still pending from st_import is exported with its
 * saved record unchanged except that it is not present and gone_since_ms is
 * when it was last known present (on the current clock): it was not seen
 * since, so a later restore neither credits it nor restarts its
 * forget_after_ms. */
int st_export(const st_tracker_t *st, const char *boot_id, uint64_t now_ms,
              st_snapshot_t **ret);
void st_snapshot_free(st_snapshot_t *snap); /* accepts NULL */

/* Loads a snapshot into an empty tracker at now_ms. `same_clock` says
 * whether snap->saved_ms and the records' times are on the caller's current
 * clock (same boot_id). Each domain is held "pending" (not present, not
 * dispatched, still exported) until its first observation, which reports
 * the restore outcome in st_result_t.restore:
 *   CREDITED when st_continuity says so (the gap now - saved_ms is added
 *   to that state and the stint and uptime continue); NOT_CREDITED
 *   otherwise (totals kept, the gap counts to no state, a new stint starts
 *   at the observation); st_result_t.why says which. The uptime goes on
 *   from the saved start when st_same_run proves it, else the observation
 *   is a start.
 * That first observation is ST_CHANGED (old_state the saved state,
 * old_stint_ms 0) when the state differs from the saved one, else ST_NONE.
 * A pending domain is forgotten forget_after_ms after it was last present
 * (its gone_since_ms, or saved_ms, when same_clock; now_ms otherwise).
 * Returns 0, -EBUSY if the tracker is not empty, -EINVAL for a bad record,
 * -ENOMEM. */
int st_import(st_tracker_t *st, const st_snapshot_t *snap, bool same_clock,
              uint64_t now_ms);

#endif
