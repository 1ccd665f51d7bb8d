/* attr_time.h: how long each domain ran with each value of an attribute
 * (TimeBy: its vCPU count, its memory, its flavor...).
 *
 * Per domain (UUID) and attribute (0..nattrs-1; the names, given at
 * creation, identify attributes in exported records), the running
 * milliseconds credited to each value the attribute had: ever-growing
 * totals, as the state durations.
 *
 * The time the caller passes is the domain's RUNNING CLOCK: its total time
 * in state running so far (the state tracker's total_ms[running] at the
 * moment of the change), not the wall clock. The value current at each
 * change is credited with the running time since the previous change, so
 * time while paused or shut off, and a downtime the state tracker does not
 * credit (its continuity rule), count to no value by construction.
 *
 * Bound: at most AT_VALUES_MAX distinct values are kept per domain and
 * attribute; running time with any further value is credited to one
 * overflow entry ("other"), and the call that first does so says it
 * (at_result_t.bound_reached) so that the caller logs it once.
 * An unknown value (NULL) is credited nothing.
 *
 * Pure C11: no clock, no logging, not thread-safe (the caller locks).
 * Returns 0 or -errno.
 */
#ifndef ATTR_TIME_H
#define ATTR_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AT_VALUES_MAX 16 /* distinct values per domain and attribute */
#define AT_VALUE_MAX 255 /* longest value, in bytes */
#define AT_ATTRS_MAX 32  /* attributes */
#define AT_NAME_MAX 32   /* longest attribute name, in bytes */

typedef struct attr_time at_t;

/* names[0..nattrs) are copied; nattrs <= AT_ATTRS_MAX, each name
 * 1..AT_NAME_MAX bytes, no two alike. With no attributes (nattrs 0) it
 * only keeps the imported records, to export them again. NULL when
 * invalid or out of memory. */
at_t *at_create(const char *const *names, size_t nattrs);
/* Accepts NULL. */
void at_destroy(at_t *at);

typedef struct {
  bool changed;       /* another value than before (or the first one) */
  bool first_seen;    /* a value this domain+attribute never had: its
                         series starts now, at 0 */
  bool bound_reached; /* this call first sent time to the overflow entry */
  bool restore_gap_dropped; /* first value after at_import differs from the
                               saved one: the running time between the save
                               and now (if any) is credited to no value */
} at_result_t;

/* From the domain's running clock run_ms on, attribute attr has value
 * (NUL-terminated, at most AT_VALUE_MAX bytes; NULL: unknown). The
 * previous value gets the running time since it was set. ret may be NULL.
 * 0, -EINVAL (bad uuid, attr or value), -ENOMEM. A run_ms below the
 * previous one (the caller's clock was reset) credits nothing. */
int at_set(at_t *at, const char *uuid, size_t attr, const char *value,
           uint64_t run_ms, at_result_t *ret);

/* One value's total, for at_foreach. */
typedef struct {
  size_t attr;
  const char *name;  /* the attribute's name */
  const char *value; /* NULL for the overflow entry */
  bool current;      /* the value the attribute has now */
  uint64_t total_ms; /* including the current stint up to run_ms */
} at_view_t;

/* Calls fn for each value of each attribute of the domain, with totals at
 * its running clock run_ms. Stops and returns fn's value if non-zero;
 * 0 otherwise (also for an unknown domain). */
typedef int (*at_visit_fn)(const at_view_t *view, void *user_data);
int at_foreach(const at_t *at, const char *uuid, uint64_t run_ms,
               at_visit_fn fn, void *user_data);

/* A change announced (by an event) at the domain's running clock run_ms,
 * whose new values the caller reads later: until at_unmark, at_foreach
 * ends every current value's time at run_ms, so that a total dispatched
 * meanwhile never exceeds what the value gets once the change is applied
 * (at_set at run_ms). A second mark keeps the first. 0, -EINVAL, -ENOMEM. */
int at_mark(at_t *at, const char *uuid, uint64_t run_ms);
/* Whether the domain is marked, and since when (ret may be NULL). */
bool at_marked(const at_t *at, const char *uuid, uint64_t *ret_run_ms);
void at_unmark(at_t *at, const char *uuid);

/* Drops a domain (the state tracker forgot it). 0 or -ENOENT. */
int at_forget(at_t *at, const char *uuid);
/* Drops every domain for which keep() is false, with its imported records
 * of attributes not configured. Returns how many domains. */
size_t at_retain(at_t *at, bool (*keep)(const char *uuid, void *user_data),
                 void *user_data);

/* ---- persistence ---- */

/* One value of one attribute of one domain, as saved. */
typedef struct {
  char uuid[37];
  char *name;  /* attribute name (owned by the record set) */
  char *value; /* NULL: the overflow entry (owned by the record set) */
  uint64_t total_ms;
  bool current; /* the value when saved */
} at_record_t;

typedef struct {
  size_t count;
  at_record_t *records;
} at_records_t;

/* Every value of every domain with totals at the running clock
 * run_ms(uuid) (the state tracker's at the save), plus the records of
 * attributes no longer configured that at_import kept. Free with
 * at_records_free. 0 or -ENOMEM. */
int at_export(const at_t *at, uint64_t (*run_ms)(const char *uuid, void *ud),
              void *ud, at_records_t **ret);
void at_records_free(at_records_t *r); /* accepts NULL */

/* Loads records into an empty at_t. The domains' running clocks at the
 * save are run_ms(uuid) again (the state tracker's, restored from the same
 * file). The first at_set of a restored attribute continues the saved
 * current value if it is the same (so a downtime the tracker credited as
 * running goes to it), or credits nothing more to it if it differs.
 * Records of attributes not configured are kept as they are and exported
 * again (nothing accumulated is lost when a TimeBy is removed and put
 * back). 0, -EBUSY (not empty), -EINVAL (a bad record, nothing loaded),
 * -ENOMEM. */
int at_import(at_t *at, const at_records_t *r,
              uint64_t (*run_ms)(const char *uuid, void *ud), void *ud);

#endif
