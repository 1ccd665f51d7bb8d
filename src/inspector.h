/* inspector.h: everything that talks to libvirt.
 *
 * One connection; one bulk virConnectGetAllDomainStats(STATE | BALLOON) per
 * read for all domains, and a per-domain virDomainMemoryStats only for an
 * active domain whose bulk record carries no balloon statistics (libvirt's
 * test driver, older drivers). Errors are returned, never logged: the
 * message of the last failure is kept for the caller (inspector_error).
 * Memory-stat tags the plugin does not know are dropped silently.
 */
#ifndef INSPECTOR_H
#define INSPECTOR_H

#include "domain_xml.h"
#include "mem_stats.h"

#include <libvirt/libvirt.h>
#include <stdbool.h>

typedef struct inspector inspector_t;

/* One domain as read. Valid during the visit callback only. */
typedef struct {
  virDomainPtr handle; /* for inspector_domain_* calls during the visit */
  const char *name;
  const char *uuid; /* 36 characters */
  int id;           /* -1 when inactive */
  int state;        /* virDomainState */
  int reason;
  bool active;  /* a running process: neither shut off nor nostate */
  ms_raw_t mem; /* present == 0: nothing reported */
  bool mem_from_bulk;
} inspector_domain_t;

/* Returns 0 to go on, non-zero to stop the read. */
typedef int (*inspector_visit_fn)(const inspector_domain_t *dom,
                                  void *user_data);

/* uri is copied (NULL: libvirt's default). read_only opens a read-only
 * connection (enough for everything but setting stats periods). */
inspector_t *inspector_create(const char *uri, bool read_only);
/* Closes the connection; accepts NULL. */
void inspector_destroy(inspector_t *ins);

/* Opens the connection if it is not open. 0 or -ECONNREFUSED. */
int inspector_connect(inspector_t *ins);
void inspector_disconnect(inspector_t *ins);
bool inspector_is_connected(const inspector_t *ins);

/* Reads every domain, calling visit for each. Domains that disappear
 * mid-read are skipped. Returns the number of domains visited, or
 * -ENOTCONN when the connection was lost (it is then closed: the next
 * inspector_connect reopens it), or -EIO for another libvirt failure. */
int inspector_read(inspector_t *ins, inspector_visit_fn visit, void *user_data);

/* The balloon device of a domain, from its live XML. 0 or -EIO. */
int inspector_domain_balloon(inspector_t *ins, virDomainPtr dom,
                             domain_balloon_t *ret);

/* Sets the live balloon stats period. 0 or -EIO. */
int inspector_domain_set_stats_period(inspector_t *ins, virDomainPtr dom,
                                      unsigned period_s);

/* Message of the last failure ("" if none). Owned by the inspector. */
const char *inspector_error(const inspector_t *ins);

/* ---- lifecycle events ----
 * Events come on a connection of their own, dispatched by a thread running
 * libvirt's default event loop. The loop is process-wide and shared with
 * any other user in the process (libvirt's GLib loop lets several threads
 * iterate it); ours wakes at least every 500 ms to notice
 * inspector_events_stop.
 * Cost: a connection opened after the loop is registered gets a watch in
 * it, and every synchronous call on it then wakes the event thread; a
 * separate event connection does not avoid that (bench/). So register the
 * loop (inspector_events_start) after inspector_connect: the polling
 * connection then stays out of the loop (and has no keepalive: a dead
 * libvirtd is noticed by its failing calls). A polling connection reopened
 * later is watched again. */

/* Called in the event thread: the domain entered (state, reason) now. */
typedef void (*inspector_event_fn)(const char *name, const char *uuid, int id,
                                   int state, int reason, void *user_data);

/* Registers libvirt's default event loop implementation (once per process)
 * and starts the event thread. 0 or -errno. */
int inspector_events_start(inspector_t *ins, inspector_event_fn fn,
                           void *user_data);

/* Opens the event connection and registers for lifecycle events if it is
 * not open (or was lost). 0 or -ECONNREFUSED; error in inspector_error. */
int inspector_events_connect(inspector_t *ins);
bool inspector_events_connected(const inspector_t *ins);

/* Deregisters, closes the event connection and joins the event thread.
 * Accepts an inspector whose events never started. */
void inspector_events_stop(inspector_t *ins);

/* libvirt's lifecycle event (type, detail) as the (state, reason) the
 * domain entered; -1 when the event is no state change (defined,
 * undefined, crashloaded). */
int inspector_event_state(int event, int detail, int *ret_reason);

#endif
