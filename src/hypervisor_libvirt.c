/* hypervisor_libvirt.c: the hypervisor interface (hypervisor.h) over
 * libvirt. The only file that includes libvirt's headers.
 *
 * One connection; one bulk virConnectGetAllDomainStats(STATE | BALLOON) per
 * read for all domains, and a per-domain virDomainMemoryStats only for an
 * active domain whose bulk record carries no balloon statistics (libvirt's
 * test driver, older drivers), one after the other on the reading thread
 * (run_memory_calls says why). With want_vcpus (TimeBy
 * "vcpus") the bulk call also asks for VCPU (vcpu.current), and an active
 * domain whose record lacks it (the test driver) gets a virDomainGetInfo.
 * Lifecycle events come on a connection of their own, dispatched by a
 * thread running an event loop; ours wakes when events_stop asks. Metadata
 * and device events (events_on_change) ride on that connection.
 * Cost: a connection watched by the event loop wakes the event thread at
 * every synchronous call (libvirt removes and re-adds its watch around the
 * call), and libvirt watches every connection opened once a loop is
 * registered (bench/: +70% reader CPU per read at 1,000 domains). So, when
 * no other code in the process registered one first, the loop is our own
 * (poll_loop.c, registered with virEventRegisterImpl) and it refuses the
 * polling connection's handle, at every (re)connect: that connection is
 * never watched (libvirt then runs it without keepalive: a dead libvirtd
 * is noticed by its failing calls; a hung one blocks the call, which the
 * glue makes on a thread of its own and waits for with a bound). If
 * another loop was registered first (libvirt allows one per process),
 * that one is used, with libvirt's default runner (GLib: several threads
 * may iterate it), and a polling connection opened after it is watched.
 */
#include "hypervisor.h"
#include "hypervisor_libvirt_priv.h"
#include "poll_loop.h"

#include <libvirt/libvirt.h>

#include <errno.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hv {
  char *uri;
  bool read_only;
  virConnectPtr conn;
  char error[256];

  /* lifecycle events */
  hv_event_fn event_fn;
  void *event_data;
  pthread_mutex_t event_lock; /* guards event_conn and event_callback */
  virConnectPtr event_conn;
  int event_callback; /* -1: none */
  hv_change_fn change_fn;
  int change_callbacks[3]; /* metadata, device added, removed; -1: none */
  bool want_vcpus;
  atomic_bool event_conn_lost;
  atomic_bool event_stop;
  bool event_thread_running;
  pthread_t event_thread;
  int event_timer; /* -1: none */
  /* Another thread may run libvirt's process-wide event loop too (collectd's
   * virt plugin): a lifecycle callback can still be running there after
   * its deregistration returns. libvirt calls the callback's free function
   * once it is really gone; until every one has been, ins stays allocated
   * (cb_lock/cb_cond/cb_live), and events_dead keeps late callbacks from
   * reaching the glue. */
  atomic_bool events_dead;
  pthread_mutex_t cb_lock;
  pthread_cond_t cb_cond;
  int cb_live;      /* registered callbacks not freed by libvirt yet */
  bool cb_orphaned; /* stop gave up waiting: ins is leaked, not freed */
};

static void lv_events_stop(hv_t *ins);

/* The plugin's own state and reason numbers are libvirt's. */
_Static_assert((int)HV_NOSTATE == (int)VIR_DOMAIN_NOSTATE &&
                   (int)HV_RUNNING == (int)VIR_DOMAIN_RUNNING &&
                   (int)HV_BLOCKED == (int)VIR_DOMAIN_BLOCKED &&
                   (int)HV_PAUSED == (int)VIR_DOMAIN_PAUSED &&
                   (int)HV_SHUTDOWN == (int)VIR_DOMAIN_SHUTDOWN &&
                   (int)HV_SHUTOFF == (int)VIR_DOMAIN_SHUTOFF &&
                   (int)HV_CRASHED == (int)VIR_DOMAIN_CRASHED &&
                   (int)HV_PMSUSPENDED == (int)VIR_DOMAIN_PMSUSPENDED,
               "hv_state_t is virDomainState");
_Static_assert(HV_SHUTOFF_CRASHED == (int)VIR_DOMAIN_SHUTOFF_CRASHED &&
                   HV_SHUTOFF_FAILED == (int)VIR_DOMAIN_SHUTOFF_FAILED,
               "shutoff reasons are virDomainShutoffReason");

/* Keeps libvirt's default handler from printing our connection's errors to
 * stderr: they are read back with virGetLastError and logged by the glue. */
static void silent_error(void *user_data, virErrorPtr err) {
  (void)user_data;
  (void)err;
}

static void set_error(hv_t *ins, const char *what) {
  const char *msg = virGetLastErrorMessage();
  snprintf(ins->error, sizeof(ins->error), "%s: %s", what,
           msg != NULL ? msg : "unknown error");
}

/* libvirt prints every error to stderr unless a handler is set, and a
 * failed virConnectOpen has no connection to set one on: without this, a
 * libvirtd that is down floods collectd's stderr (the journal) at every
 * interval. The handler is process-wide; it only stops that printing:
 * virGetLastError still works for every libvirt user in the process. */
static pthread_once_t error_func_once = PTHREAD_ONCE_INIT;
static void silence_default_errors(void) {
  virSetErrorFunc(NULL, silent_error);
}

static hv_t *lv_create(const char *uri, bool read_only) {
  pthread_once(&error_func_once, silence_default_errors);
  hv_t *ins = calloc(1, sizeof(*ins));
  if (ins == NULL)
    return NULL;
  if (uri != NULL && (ins->uri = strdup(uri)) == NULL) {
    free(ins);
    return NULL;
  }
  ins->read_only = read_only;
  ins->event_callback = -1;
  for (size_t i = 0; i < 3; i++)
    ins->change_callbacks[i] = -1;
  ins->event_timer = -1;
  pthread_mutex_init(&ins->event_lock, NULL);
  pthread_mutex_init(&ins->cb_lock, NULL);
  pthread_cond_init(&ins->cb_cond, NULL);
  return ins;
}

static void lv_disconnect(hv_t *ins) {
  if (ins == NULL || ins->conn == NULL)
    return;
  virConnectClose(ins->conn);
  ins->conn = NULL;
}

static void lv_destroy(hv_t *ins) {
  if (ins == NULL)
    return;
  lv_events_stop(ins);
  lv_disconnect(ins);
  if (ins->cb_orphaned)
    return; /* a callback libvirt still holds may read it */
  pthread_mutex_destroy(&ins->event_lock);
  pthread_mutex_destroy(&ins->cb_lock);
  pthread_cond_destroy(&ins->cb_cond);
  free(ins->uri);
  free(ins);
}

static bool lv_is_connected(const hv_t *ins) { return ins->conn != NULL; }

static const char *lv_error(const hv_t *ins) { return ins->error; }

static int lv_connect(hv_t *ins) {
  if (ins->conn != NULL)
    return 0;
  /* Not watched by our event loop (see the top of this file). */
  pl_refuse_handles(true);
  ins->conn = ins->read_only ? virConnectOpenReadOnly(ins->uri)
                             : virConnectOpen(ins->uri);
  pl_refuse_handles(false);
  if (ins->conn == NULL) {
    set_error(ins, "virConnectOpen");
    return -ECONNREFUSED;
  }
  virConnSetErrorFunc(ins->conn, NULL, silent_error);
  ins->error[0] = '\0';
  return 0;
}

/* A libvirt failure: was it the connection? Closes it if so. */
static int classify_failure(hv_t *ins, const char *what) {
  set_error(ins, what);
  if (virConnectIsAlive(ins->conn) != 1) {
    lv_disconnect(ins);
    return -ENOTCONN;
  }
  return -EIO;
}

/* virDomainMemoryStats tags -> ours; the rest (hugetlb_*, future tags) is
 * dropped. */
static int tag_from_libvirt(int tag) {
  switch (tag) {
  case VIR_DOMAIN_MEMORY_STAT_SWAP_IN:
    return MS_SWAP_IN;
  case VIR_DOMAIN_MEMORY_STAT_SWAP_OUT:
    return MS_SWAP_OUT;
  case VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT:
    return MS_MAJOR_FAULT;
  case VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT:
    return MS_MINOR_FAULT;
  case VIR_DOMAIN_MEMORY_STAT_UNUSED:
    return MS_UNUSED;
  case VIR_DOMAIN_MEMORY_STAT_AVAILABLE:
    return MS_AVAILABLE;
  case VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON:
    return MS_ACTUAL;
  case VIR_DOMAIN_MEMORY_STAT_RSS:
    return MS_RSS;
  case VIR_DOMAIN_MEMORY_STAT_USABLE:
    return MS_USABLE;
  case VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE:
    return MS_LAST_UPDATE;
  case VIR_DOMAIN_MEMORY_STAT_DISK_CACHES:
    return MS_DISK_CACHES;
  default:
    return -1;
  }
}

static bool state_is_active(int state) {
  return state != HV_SHUTOFF && state != HV_NOSTATE;
}

/* One domain of a read: parsed from the bulk record, completed by the
 * per-domain memory call where needed, then visited. */
typedef struct read_slot {
  hv_domain_t d;
  char uuid[VIR_UUID_STRING_BUFLEN];
  bool skip; /* gone during the call */
} read_slot_t;

/* Per-domain memory stats. 0 with raw filled; 1 when the domain is gone,
 * not running or the driver cannot say (skip its memory); -ENOTCONN when
 * the connection died (message in err). Thread-safe. */
static int memory_stats_call(virConnectPtr conn, virDomainPtr dom,
                             ms_raw_t *raw, char *err, size_t err_size) {
  virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
  int n = virDomainMemoryStats(dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
  if (n < 0) {
    if (virConnectIsAlive(conn) != 1) {
      const char *msg = virGetLastErrorMessage();
      snprintf(err, err_size, "virDomainMemoryStats: %s",
               msg != NULL ? msg : "unknown error");
      return -ENOTCONN;
    }
    /* No such domain any more, not running, not supported by the driver,
     * or another per-domain failure: no memory figures for it. */
    virResetLastError();
    return 1;
  }
  memset(raw, 0, sizeof(*raw));
  for (int i = 0; i < n; i++) {
    int tag = tag_from_libvirt(stats[i].tag);
    if (tag >= 0)
      ms_raw_set(raw, (ms_tag_t)tag, stats[i].val);
  }
  return 0;
}

/* The per-domain memory calls of one read, one after the other on the
 * reading thread. Concurrency does not pay here (bench/README.md, 1,000
 * test-driver domains): four calls in flight on one connection cost about
 * 15 % more CPU per read (libvirt's client hands the connection's socket
 * from thread to thread) for about 10 % less wall time; two connections,
 * or visiting domains while the calls go on, no less wall time at all
 * (libvirtd serves the calls mostly on one thread, and the two cores are
 * shared with collectd's write threads). 0 or -ENOTCONN (the connection
 * is then closed). */
static int run_memory_calls(hv_t *ins, read_slot_t *slots, const int *todo,
                            int count) {
  char err[256];
  for (int k = 0; k < count; k++) {
    read_slot_t *slot = &slots[todo[k]];
    if (memory_stats_call(ins->conn, slot->d.handle, &slot->d.mem, err,
                          sizeof(err)) < 0) {
      snprintf(ins->error, sizeof(ins->error), "%s", err);
      lv_disconnect(ins);
      return -ENOTCONN;
    }
  }
  return 0;
}

/* Fills a slot from a bulk record. Returns whether the domain needs the
 * per-domain memory call (active, and no balloon data in the record). */
static bool parse_record(virDomainStatsRecordPtr rec, read_slot_t *slot) {
  hv_domain_t *d = &slot->d;
  memset(slot, 0, sizeof(*slot));
  d->handle = rec->dom;
  d->state = -1;
  d->name = virDomainGetName(rec->dom);
  if (d->name == NULL || virDomainGetUUIDString(rec->dom, slot->uuid) != 0) {
    slot->skip = true; /* gone */
    return false;
  }
  d->uuid = slot->uuid;
  unsigned id = virDomainGetID(rec->dom);
  d->id = id == (unsigned)-1 ? -1 : (int)id;

  bool have_balloon = false;
  for (int j = 0; j < rec->nparams; j++) {
    const virTypedParameter *p = &rec->params[j];
    if (p->type == VIR_TYPED_PARAM_UINT &&
        strcmp(p->field, "vcpu.current") == 0) {
      d->vcpus = p->value.ui;
    } else if (strncmp(p->field, "state.", 6) == 0 &&
               p->type == VIR_TYPED_PARAM_INT) {
      if (strcmp(p->field + 6, "state") == 0)
        d->state = p->value.i;
      else if (strcmp(p->field + 6, "reason") == 0)
        d->reason = p->value.i;
    } else if (strncmp(p->field, "balloon.", 8) == 0) {
      if (strcmp(p->field + 8, "current") != 0 &&
          strcmp(p->field + 8, "maximum") != 0)
        have_balloon = true;
      int tag = ms_tag_from_field(p->field);
      if (tag < 0)
        continue;
      if (p->type == VIR_TYPED_PARAM_ULLONG)
        ms_raw_set(&d->mem, (ms_tag_t)tag, p->value.ul);
      else if (p->type == VIR_TYPED_PARAM_LLONG && p->value.l >= 0)
        ms_raw_set(&d->mem, (ms_tag_t)tag, (uint64_t)p->value.l);
      else if (p->type == VIR_TYPED_PARAM_UINT)
        ms_raw_set(&d->mem, (ms_tag_t)tag, p->value.ui);
    }
  }
  if (d->state < 0) {
    slot->skip = true; /* no state: it went away during the call */
    return false;
  }
  d->active = state_is_active(d->state);
  if (!d->active) {
    d->mem.present = 0; /* a defined domain's configured size is not usage */
    d->vcpus = 0;
    return false;
  }
  if (have_balloon) {
    d->mem_from_bulk = true;
    return false;
  }
  return true;
}

/* The current vCPU count from virDomainGetInfo (drivers whose bulk
 * stats have no vcpu.current); 0 when it fails (a domain gone). */
static unsigned info_vcpus(hv_t *ins, virDomainPtr dom) {
  (void)ins;
  virDomainInfo info;
  if (virDomainGetInfo(dom, &info) != 0) {
    virResetLastError();
    return 0;
  }
  return info.nrVirtCpu;
}

static void lv_want_vcpus(hv_t *ins, bool on) { ins->want_vcpus = on; }

static int lv_read(hv_t *ins, hv_visit_fn visit, void *user_data) {
  if (ins->conn == NULL) {
    snprintf(ins->error, sizeof(ins->error), "not connected");
    return -ENOTCONN;
  }
  virDomainStatsRecordPtr *records = NULL;
  unsigned groups = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_BALLOON;
  if (ins->want_vcpus)
    groups |= VIR_DOMAIN_STATS_VCPU;
  int n = virConnectGetAllDomainStats(ins->conn, groups, &records, 0);
  if (n < 0)
    return classify_failure(ins, "virConnectGetAllDomainStats");

  int rc = 0;
  read_slot_t *slots = calloc(n > 0 ? (size_t)n : 1, sizeof(*slots));
  int *todo = calloc(n > 0 ? (size_t)n : 1, sizeof(*todo));
  if (slots == NULL || todo == NULL) {
    snprintf(ins->error, sizeof(ins->error), "out of memory");
    rc = -ENOMEM;
    goto cleanup;
  }
  int ntodo = 0;
  for (int i = 0; i < n; i++)
    if (parse_record(records[i], &slots[i]))
      todo[ntodo++] = i;
  if (ntodo > 0 && (rc = run_memory_calls(ins, slots, todo, ntodo)) != 0)
    goto cleanup;

  /* Every call before the first visit, so that the visits run back to
   * back: when they dispatched values, a call between two of them let
   * collectd's write threads fall asleep and be woken again for each
   * domain (bench/README.md: twice their CPU). */
  for (int i = 0; i < n && ins->want_vcpus; i++)
    if (!slots[i].skip && slots[i].d.active && slots[i].d.vcpus == 0)
      slots[i].d.vcpus = info_vcpus(ins, records[i]->dom);

  int visited = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    if (slots[i].skip)
      continue;
    visited++;
    rc = visit(&slots[i].d, user_data);
  }
  rc = visited;

cleanup:
  free(todo);
  free(slots);
  virDomainStatsRecordListFree(records);
  return rc;
}

static int lv_domain_describe(hv_t *ins, const hv_domain_t *d,
                              domain_xml_t **ret) {
  *ret = NULL;
  char *xml = virDomainGetXMLDesc(d->handle, 0);
  if (xml == NULL) {
    set_error(ins, "virDomainGetXMLDesc");
    return -EIO;
  }
  int rc = domain_xml_parse(xml, ret);
  free(xml);
  if (rc != 0) {
    snprintf(ins->error, sizeof(ins->error), "cannot parse the domain XML (%s)",
             strerror(-rc));
    return -EIO;
  }
  return 0;
}

static int lv_domain_balloon(hv_t *ins, const hv_domain_t *d,
                             domain_balloon_t *ret) {
  domain_xml_t *doc = NULL;
  int rc = lv_domain_describe(ins, d, &doc);
  if (rc == 0 && domain_xml_get_balloon(doc, ret) != 0) {
    snprintf(ins->error, sizeof(ins->error),
             "cannot parse the domain XML's <memballoon>");
    rc = -EIO;
  }
  domain_xml_free(doc);
  return rc;
}

static int lv_domain_set_stats_period(hv_t *ins, const hv_domain_t *d,
                                      unsigned period_s) {
  if (virDomainSetMemoryStatsPeriod(d->handle, (int)period_s,
                                    VIR_DOMAIN_AFFECT_LIVE) != 0) {
    set_error(ins, "virDomainSetMemoryStatsPeriod");
    return -EIO;
  }
  return 0;
}

/* ---- lifecycle events ---- */

int hv_libvirt_event_state(int event, int detail, int *ret_reason) {
  *ret_reason = 0;
  switch (event) {
  case VIR_DOMAIN_EVENT_STARTED: {
    static const int reasons[] = {
        [VIR_DOMAIN_EVENT_STARTED_BOOTED] = VIR_DOMAIN_RUNNING_BOOTED,
        [VIR_DOMAIN_EVENT_STARTED_MIGRATED] = VIR_DOMAIN_RUNNING_MIGRATED,
        [VIR_DOMAIN_EVENT_STARTED_RESTORED] = VIR_DOMAIN_RUNNING_RESTORED,
        [VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT] =
            VIR_DOMAIN_RUNNING_FROM_SNAPSHOT,
        [VIR_DOMAIN_EVENT_STARTED_WAKEUP] = VIR_DOMAIN_RUNNING_WAKEUP,
    };
    if (detail >= 0 && detail < (int)(sizeof(reasons) / sizeof(reasons[0])))
      *ret_reason = reasons[detail];
    return VIR_DOMAIN_RUNNING;
  }
  case VIR_DOMAIN_EVENT_SUSPENDED: {
    static const int reasons[] = {
        [VIR_DOMAIN_EVENT_SUSPENDED_PAUSED] = VIR_DOMAIN_PAUSED_USER,
        [VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED] = VIR_DOMAIN_PAUSED_MIGRATION,
        [VIR_DOMAIN_EVENT_SUSPENDED_IOERROR] = VIR_DOMAIN_PAUSED_IOERROR,
        [VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG] = VIR_DOMAIN_PAUSED_WATCHDOG,
        [VIR_DOMAIN_EVENT_SUSPENDED_RESTORED] = VIR_DOMAIN_PAUSED_UNKNOWN,
        [VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT] =
            VIR_DOMAIN_PAUSED_FROM_SNAPSHOT,
        [VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR] = VIR_DOMAIN_PAUSED_UNKNOWN,
        [VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY] = VIR_DOMAIN_PAUSED_POSTCOPY,
        [VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED] =
            VIR_DOMAIN_PAUSED_POSTCOPY_FAILED,
    };
    if (detail >= 0 && detail < (int)(sizeof(reasons) / sizeof(reasons[0])))
      *ret_reason = reasons[detail];
    return VIR_DOMAIN_PAUSED;
  }
  case VIR_DOMAIN_EVENT_RESUMED: {
    static const int reasons[] = {
        [VIR_DOMAIN_EVENT_RESUMED_UNPAUSED] = VIR_DOMAIN_RUNNING_UNPAUSED,
        [VIR_DOMAIN_EVENT_RESUMED_MIGRATED] = VIR_DOMAIN_RUNNING_MIGRATED,
        [VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT] =
            VIR_DOMAIN_RUNNING_FROM_SNAPSHOT,
        [VIR_DOMAIN_EVENT_RESUMED_POSTCOPY] = VIR_DOMAIN_RUNNING_POSTCOPY,
    };
    if (detail >= 0 && detail < (int)(sizeof(reasons) / sizeof(reasons[0])))
      *ret_reason = reasons[detail];
    return VIR_DOMAIN_RUNNING;
  }
  case VIR_DOMAIN_EVENT_STOPPED:
    /* VIR_DOMAIN_EVENT_STOPPED_x is VIR_DOMAIN_SHUTOFF_x - 1 for every x. */
    if (detail >= VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN &&
        detail <= VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT)
      *ret_reason = detail + 1;
    return VIR_DOMAIN_SHUTOFF;
  case VIR_DOMAIN_EVENT_SHUTDOWN:
    *ret_reason = VIR_DOMAIN_SHUTDOWN_USER;
    return VIR_DOMAIN_SHUTDOWN;
  case VIR_DOMAIN_EVENT_PMSUSPENDED:
    *ret_reason = VIR_DOMAIN_PMSUSPENDED_UNKNOWN;
    return VIR_DOMAIN_PMSUSPENDED;
  case VIR_DOMAIN_EVENT_CRASHED:
    if (detail != VIR_DOMAIN_EVENT_CRASHED_PANICKED)
      return -1; /* crashloaded: the guest went on running */
    *ret_reason = VIR_DOMAIN_CRASHED_PANICKED;
    return VIR_DOMAIN_CRASHED;
  default:
    return -1; /* defined, undefined: the poll sees what follows */
  }
}

static int lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event,
                        int detail, void *opaque) {
  (void)conn;
  hv_t *ins = opaque;
  if (atomic_load(&ins->events_dead))
    return 0;
  int reason;
  int state = hv_libvirt_event_state(event, detail, &reason);
  char uuid[VIR_UUID_STRING_BUFLEN];
  const char *name = virDomainGetName(dom);
  if (state < 0 || name == NULL || virDomainGetUUIDString(dom, uuid) != 0)
    return 0;
  unsigned id = virDomainGetID(dom);
  /* A stopped domain has no id; libvirt still gives the old one. */
  int iid = (id == (unsigned)-1 || state == VIR_DOMAIN_SHUTOFF) ? -1 : (int)id;
  ins->event_fn(name, uuid, iid, state, reason, ins->event_data);
  return 0;
}

/* A change in the domain's description: the glue re-reads it. */
static void changed(hv_t *ins, virDomainPtr dom) {
  if (atomic_load(&ins->events_dead) || ins->change_fn == NULL)
    return;
  char uuid[VIR_UUID_STRING_BUFLEN];
  const char *name = virDomainGetName(dom);
  if (name == NULL || virDomainGetUUIDString(dom, uuid) != 0)
    return;
  ins->change_fn(name, uuid, ins->event_data);
}

static void metadata_cb(virConnectPtr conn, virDomainPtr dom, int type,
                        const char *nsuri, void *opaque) {
  (void)conn;
  (void)type;
  (void)nsuri;
  changed(opaque, dom);
}

static void device_cb(virConnectPtr conn, virDomainPtr dom, const char *alias,
                      void *opaque) {
  (void)conn;
  (void)alias;
  changed(opaque, dom);
}

static void lv_events_on_change(hv_t *ins, hv_change_fn fn) {
  ins->change_fn = fn;
}

/* libvirt is done with a lifecycle callback registration. */
static void lifecycle_freed(void *opaque) {
  hv_t *ins = opaque;
  pthread_mutex_lock(&ins->cb_lock);
  ins->cb_live--;
  pthread_cond_broadcast(&ins->cb_cond);
  pthread_mutex_unlock(&ins->cb_lock);
}

static void close_cb(virConnectPtr conn, int reason, void *opaque) {
  (void)conn;
  (void)reason;
  hv_t *ins = opaque;
  atomic_store(&ins->event_conn_lost, true);
}

static void wake_cb(int timer, void *opaque) {
  (void)timer;
  (void)opaque;
}

/* libvirt's event loop is registered once per process: ours, or the one
 * another user of libvirt in the process registered first. */
static pthread_once_t event_impl_once = PTHREAD_ONCE_INIT;
static int event_impl_rc = -1;
static bool own_loop;

static void *event_thread_main(void *arg) {
  hv_t *ins = arg;
  while (!atomic_load(&ins->event_stop)) {
    if (own_loop) {
      pl_run_once(-1); /* events_stop wakes it */
    } else if (virEventRunDefaultImpl() < 0) {
      /* Nothing sensible to log from here at every turn; the read
       * reconciles states anyway. */
      virResetLastError();
    }
  }
  return NULL;
}

static int ev_add_handle(int fd, int events, virEventHandleCallback cb,
                         void *opaque, virFreeCallback ff) {
  int id = pl_add_handle(fd, events, cb, opaque, ff);
  return id > 0 ? id : -1;
}

static int ev_remove_handle(int watch) {
  return pl_remove_handle(watch) == 0 ? 0 : -1;
}

static int ev_add_timeout(int ms, virEventTimeoutCallback cb, void *opaque,
                          virFreeCallback ff) {
  int id = pl_add_timeout(ms, cb, opaque, ff);
  return id > 0 ? id : -1;
}

static int ev_remove_timeout(int timer) {
  return pl_remove_timeout(timer) == 0 ? 0 : -1;
}

static void probe_cb(int timer, void *opaque) {
  (void)timer;
  (void)opaque;
}

_Static_assert((int)PL_READABLE == (int)VIR_EVENT_HANDLE_READABLE &&
                   (int)PL_WRITABLE == (int)VIR_EVENT_HANDLE_WRITABLE &&
                   (int)PL_ERROR == (int)VIR_EVENT_HANDLE_ERROR &&
                   (int)PL_HANGUP == (int)VIR_EVENT_HANDLE_HANGUP,
               "poll_loop's event bits are libvirt's");

static void register_event_impl(void) {
  if (virInitialize() < 0)
    return;
  /* Another loop registered first? (virEventAddTimeout fails without one) */
  int probe = virEventAddTimeout(-1, probe_cb, NULL, NULL);
  if (probe >= 0) {
    virEventRemoveTimeout(probe);
    event_impl_rc = 0;
    return;
  }
  virResetLastError();
  if (pl_init() != 0)
    return;
  virEventRegisterImpl(ev_add_handle, pl_update_handle, ev_remove_handle,
                       ev_add_timeout, pl_update_timeout, ev_remove_timeout);
  own_loop = true;
  event_impl_rc = 0;
}

static int lv_events_start(hv_t *ins, hv_event_fn fn, void *user_data) {
  if (ins->event_thread_running)
    return 0;
  ins->event_fn = fn;
  ins->event_data = user_data;
  atomic_store(&ins->events_dead, false);
  pthread_once(&event_impl_once, register_event_impl);
  if (event_impl_rc != 0) {
    set_error(ins, "virEventRegisterDefaultImpl");
    return -EIO;
  }
  /* A periodic wake-up, so that libvirt's default loop notices event_stop
   * (ours is woken by events_stop). */
  if (!own_loop &&
      (ins->event_timer = virEventAddTimeout(500, wake_cb, NULL, NULL)) < 0) {
    set_error(ins, "virEventAddTimeout");
    return -EIO;
  }
  atomic_store(&ins->event_stop, false);
  int rc = pthread_create(&ins->event_thread, NULL, event_thread_main, ins);
  if (rc != 0) {
    virEventRemoveTimeout(ins->event_timer);
    ins->event_timer = -1;
    snprintf(ins->error, sizeof(ins->error), "pthread_create: %s",
             strerror(rc));
    return -rc;
  }
  ins->event_thread_running = true;
  return 0;
}

/* Closes the event connection; event_lock held. */
static void events_close_locked(hv_t *ins) {
  if (ins->event_conn == NULL)
    return;
  if (ins->event_callback >= 0)
    virConnectDomainEventDeregisterAny(ins->event_conn, ins->event_callback);
  for (size_t i = 0; i < 3; i++)
    if (ins->change_callbacks[i] >= 0)
      virConnectDomainEventDeregisterAny(ins->event_conn,
                                         ins->change_callbacks[i]);
  virConnectUnregisterCloseCallback(ins->event_conn, close_cb);
  virConnectClose(ins->event_conn);
  ins->event_conn = NULL;
  ins->event_callback = -1;
  for (size_t i = 0; i < 3; i++)
    ins->change_callbacks[i] = -1;
}

/* Registers the metadata and device callbacks on the event connection;
 * event_lock held. A driver without one of these events (older libvirt)
 * just does not deliver it: not an error. */
static void register_change_callbacks(hv_t *ins) {
  if (ins->change_fn == NULL)
    return;
  static const struct {
    int id;
    virConnectDomainEventGenericCallback cb;
  } events[3] = {
      {VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
       VIR_DOMAIN_EVENT_CALLBACK(metadata_cb)},
      {VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_CALLBACK(device_cb)},
      {VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
       VIR_DOMAIN_EVENT_CALLBACK(device_cb)},
  };
  for (size_t i = 0; i < 3; i++) {
    ins->change_callbacks[i] =
        virConnectDomainEventRegisterAny(ins->event_conn, NULL, events[i].id,
                                         events[i].cb, ins, lifecycle_freed);
    if (ins->change_callbacks[i] < 0) {
      virResetLastError();
      continue;
    }
    pthread_mutex_lock(&ins->cb_lock);
    ins->cb_live++;
    pthread_mutex_unlock(&ins->cb_lock);
  }
}

static bool lv_events_connected(const hv_t *ins) {
  return ins->event_conn != NULL && !atomic_load(&ins->event_conn_lost);
}

static int lv_events_connect(hv_t *ins) {
  int rc = 0;
  pthread_mutex_lock(&ins->event_lock);
  if (ins->event_conn != NULL && !atomic_load(&ins->event_conn_lost))
    goto cleanup;
  events_close_locked(ins);
  atomic_store(&ins->event_conn_lost, false);

  ins->event_conn = virConnectOpenReadOnly(ins->uri);
  if (ins->event_conn == NULL) {
    set_error(ins, "virConnectOpen (events)");
    rc = -ECONNREFUSED;
    goto cleanup;
  }
  virConnSetErrorFunc(ins->event_conn, NULL, silent_error);
  if (virConnectRegisterCloseCallback(ins->event_conn, close_cb, ins, NULL) !=
      0)
    virResetLastError(); /* drivers without close callbacks: keepalive */
  ins->event_callback = virConnectDomainEventRegisterAny(
      ins->event_conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
      VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), ins, lifecycle_freed);
  if (ins->event_callback >= 0) {
    pthread_mutex_lock(&ins->cb_lock);
    ins->cb_live++;
    pthread_mutex_unlock(&ins->cb_lock);
  }
  if (ins->event_callback < 0) {
    set_error(ins, "virConnectDomainEventRegisterAny");
    events_close_locked(ins);
    rc = -ECONNREFUSED;
  } else {
    register_change_callbacks(ins);
  }
cleanup:
  pthread_mutex_unlock(&ins->event_lock);
  return rc;
}

/* Waits (bounded: no call may block forever) until libvirt has freed every
 * lifecycle callback registration; if it does not, ins is orphaned. */
static void wait_callbacks_freed(hv_t *ins) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 5;
  pthread_mutex_lock(&ins->cb_lock);
  while (ins->cb_live > 0 &&
         pthread_cond_timedwait(&ins->cb_cond, &ins->cb_lock, &deadline) == 0)
    ;
  ins->cb_orphaned = ins->cb_live > 0;
  pthread_mutex_unlock(&ins->cb_lock);
}

static void lv_events_stop(hv_t *ins) {
  atomic_store(&ins->events_dead, true);
  pthread_mutex_lock(&ins->event_lock);
  events_close_locked(ins);
  pthread_mutex_unlock(&ins->event_lock);
  if (!ins->event_thread_running) {
    wait_callbacks_freed(ins);
    return;
  }
  atomic_store(&ins->event_stop, true);
  if (own_loop)
    pl_wake();
  pthread_join(ins->event_thread, NULL);
  ins->event_thread_running = false;
  if (ins->event_timer >= 0)
    virEventRemoveTimeout(ins->event_timer);
  ins->event_timer = -1;
  if (own_loop)
    pl_purge(); /* free functions of what was removed since the last turn */
  wait_callbacks_freed(ins);
}

const hv_ops_t hv_libvirt_ops = {
    .create = lv_create,
    .destroy = lv_destroy,
    .connect = lv_connect,
    .disconnect = lv_disconnect,
    .is_connected = lv_is_connected,
    .read = lv_read,
    .domain_balloon = lv_domain_balloon,
    .domain_describe = lv_domain_describe,
    .want_vcpus = lv_want_vcpus,
    .domain_set_stats_period = lv_domain_set_stats_period,
    .error = lv_error,
    .events_start = lv_events_start,
    .events_on_change = lv_events_on_change,
    .events_connect = lv_events_connect,
    .events_connected = lv_events_connected,
    .events_stop = lv_events_stop,
};
