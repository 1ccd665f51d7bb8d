/* hypervisor.h: what the plugin asks of the hypervisor, as a table of
 * functions (hv_ops_t).
 *
 * The glue calls nothing else. hypervisor_libvirt.c implements it over
 * libvirt (hv_libvirt_ops; the only file that includes libvirt's headers);
 * tests/hypervisor_fake.c is a scriptable fake for the glue's unit tests.
 * States and reasons are libvirt's numbers, named here (hv_state_t) so that
 * no other file needs libvirt's constants.
 *
 * Contract of every implementation: errors are returned (0 or -errno),
 * never logged; the message of the last failure is kept for the caller
 * (error()). Memory-stat tags the plugin does not know are dropped.
 * A connection (hv_t) is used by one thread at a time, except that the
 * event callback runs on the implementation's event thread. Any call may
 * block for as long as the hypervisor does not answer (no timeout here):
 * the glue makes them on a thread of its own and bounds its waits.
 */
#ifndef HYPERVISOR_H
#define HYPERVISOR_H

#include "domain_xml.h"
#include "mem_stats.h"

#include <stdbool.h>

/* libvirt's virDomainState. */
typedef enum {
  HV_NOSTATE = 0,
  HV_RUNNING,
  HV_BLOCKED,
  HV_PAUSED,
  HV_SHUTDOWN,
  HV_SHUTOFF,
  HV_CRASHED,
  HV_PMSUSPENDED,
  HV_STATE_COUNT
} hv_state_t;

/* The shutoff reasons the glue tells apart (virDomainShutoffReason). */
#define HV_SHUTOFF_CRASHED 3
#define HV_SHUTOFF_FAILED 6

typedef struct hv hv_t;

/* One domain as read. Valid during the visit callback only. */
typedef struct {
  void *handle; /* the implementation's, for domain_* calls in the visit */
  const char *name;
  const char *uuid; /* 36 characters */
  int id;           /* -1 when inactive */
  int state;        /* hv_state_t */
  int reason;
  bool active;  /* a running process: neither shut off nor nostate */
  ms_raw_t mem; /* present == 0: nothing reported */
  bool mem_from_bulk;
  unsigned vcpus; /* current vCPU count when asked for (want_vcpus) and
                     reported; 0: not known */
} hv_domain_t;

/* Called on the event thread: the domain's description may have changed
 * now (its metadata changed, a device was added or removed). */
typedef void (*hv_change_fn)(const char *name, const char *uuid,
                             void *user_data);

/* Returns 0 to go on, non-zero to stop the read. */
typedef int (*hv_visit_fn)(const hv_domain_t *dom, void *user_data);

/* Called on the event thread: the domain entered (state, reason) now. */
typedef void (*hv_event_fn)(const char *name, const char *uuid, int id,
                            int state, int reason, void *user_data);

typedef struct {
  /* uri is copied (NULL: the default). read_only: enough for everything
   * but domain_set_stats_period. NULL when out of memory. */
  hv_t *(*create)(const char *uri, bool read_only);
  /* Stops events, closes the connections; accepts NULL. */
  void (*destroy)(hv_t *hv);

  /* Opens the polling connection if it is not open. 0 or -ECONNREFUSED. */
  int (*connect)(hv_t *hv);
  void (*disconnect)(hv_t *hv);
  bool (*is_connected)(const hv_t *hv);

  /* Reads every domain, calling visit for each. Domains that disappear
   * mid-read are skipped. Returns the number visited, or -ENOTCONN when
   * the connection was lost (it is then closed: connect reopens it), or
   * -EIO / -ENOMEM for another failure. */
  int (*read)(hv_t *hv, hv_visit_fn visit, void *user_data);

  /* During a visit: the domain's balloon device, from its live XML. 0 or
   * -EIO. */
  int (*domain_balloon)(hv_t *hv, const hv_domain_t *dom,
                        domain_balloon_t *ret);
  /* During a visit: the domain's live XML, parsed (domain_xml.h; free
   * with domain_xml_free). 0 or -EIO. */
  int (*domain_describe)(hv_t *hv, const hv_domain_t *dom, domain_xml_t **ret);
  /* Whether read() fills hv_domain_t.vcpus for active domains (TimeBy
   * "vcpus"): from the bulk call's vcpu.current where the driver reports
   * it, else one call per active domain. Off by default. */
  void (*want_vcpus)(hv_t *hv, bool on);
  /* During a visit: sets the live balloon stats period. 0 or -EIO. */
  int (*domain_set_stats_period)(hv_t *hv, const hv_domain_t *dom,
                                 unsigned period_s);

  /* Message of the last failure ("" if none). Owned by hv. */
  const char *(*error)(const hv_t *hv);

  /* Lifecycle events. events_start starts the event machinery (once) with
   * fn as the callback; call it after the first connect (see
   * hypervisor_libvirt.c for why). events_connect opens the event
   * connection if it is not open or was lost: 0 or -ECONNREFUSED.
   * events_stop closes it and joins the event thread; accepts an hv whose
   * events never started. */
  int (*events_start)(hv_t *hv, hv_event_fn fn, void *user_data);
  /* Before events_start: also calls fn (with events_start's user_data)
   * when a domain's metadata changes or a device is added or removed;
   * registered at each events_connect. NULL: not asked for. */
  void (*events_on_change)(hv_t *hv, hv_change_fn fn);
  int (*events_connect)(hv_t *hv);
  bool (*events_connected)(const hv_t *hv);
  void (*events_stop)(hv_t *hv);
} hv_ops_t;

/* The real one. */
extern const hv_ops_t hv_libvirt_ops;

#endif
