/* virt_inspector.c: the collectd glue: registration, the read and event
 * wiring, dispatch and logging.
 *
 * The work is elsewhere: hypervisor.h (libvirt behind a table of functions,
 * hypervisor_libvirt.c), mem_watch.[ch] (is a domain's memory data live,
 * and which line to log), mem_stats.[ch] (balloon statistics -> figures),
 * state_tracker.[ch] (time in each state), persist.[ch] (the state file
 * across restarts: boot id, load policy, save thread), vi_config.[ch] (the
 * configuration), domain_filter/instance_name small pure helpers.
 * This file owns the threads and their locking and the per-domain
 * watchers, so that an operator sees one line per domain and cause, not
 * one per interval.
 *
 * Threads: every libvirt call is made by a reader thread of the plugin's
 * own (the "worker"); collectd's read callback asks it for a read cycle
 * and waits for it at most READ_WAIT of an Interval, then dispatches the
 * state durations from the tracker. A hung libvirtd therefore holds the
 * worker, never collectd: one WARNING once a cycle has been waited for
 * since the previous read, values pause (nothing is dispatched without a
 * finished cycle), and they resume when the call returns. At shutdown the
 * worker closes the connections; if it does not finish within
 * SHUTDOWN_WAIT_MS it is left behind (detached) with everything it can
 * touch (connection, tracker, configuration) leaked rather than freed
 * under it, and the state file is saved anyway. The event thread
 * (hypervisor_libvirt.c) and the worker share the tracker under
 * shared.lock.
 */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"
#include "utils_complain.h"

#include "hypervisor.h"
#include "instance_name.h"
#include "mem_watch.h"
#include "persist.h"
#include "proc_evidence.h"
#include "state_tracker.h"
#include "uuid_map.h"
#include "vi_config.h"
#include "virt_inspector_priv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define PLUGIN_NAME "virt_inspector"

static vi_config_t conf;

/* The hypervisor (tests swap the ops: virt_inspector_priv.h). */
static const hv_ops_t *hv_ops = &hv_libvirt_ops;
static hv_t *hv;

/* What the event thread and the read thread share, under its lock. */
static struct {
  pthread_mutex_t lock;
  st_tracker_t *tracker;
  uint64_t floor_ms; /* time of the last dispatched view */
} shared = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The read thread's own. */
static struct {
  uuid_map_t domains; /* of domain_entry_t */
  unsigned generation;
  bool ever_connected;
  bool events_started; /* the event machinery started (once) */
  c_complain_t connect_complaint;
  c_complain_t read_complaint;
  c_complain_t events_complaint;
  c_complain_t save_complaint;
  c_complain_t thread_complaint;
  bool evidence;            /* a local QEMU URI: /proc shows its processes */
  unsigned scan_generation; /* read cycle of scan (one /proc scan a read) */
  pe_process_t *scan;
  size_t scan_n;
} reader = {
    .connect_complaint = C_COMPLAIN_INIT_STATIC,
    .read_complaint = C_COMPLAIN_INIT_STATIC,
    .events_complaint = C_COMPLAIN_INIT_STATIC,
    .save_complaint = C_COMPLAIN_INIT_STATIC,
    .thread_complaint = C_COMPLAIN_INIT_STATIC,
};

static persist_t *store;

/* Share of an Interval the read callback waits for a cycle it asked for. */
#define READ_WAIT 0.8
/* How long shutdown waits for the worker to close the connections. */
#define SHUTDOWN_WAIT_MS 2000

/* The worker: the thread that makes every hypervisor call. Under its lock;
 * cond signals every change. */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond; /* on CLOCK_MONOTONIC */
  pthread_t thread;
  bool started;     /* the thread exists (or was left behind) */
  bool pending;     /* a cycle asked for, not taken yet */
  bool busy;        /* a cycle asked for or running */
  atomic_bool stop; /* shutdown: finish, close the connections, exit */
  bool exited;
  bool abandoned;    /* left behind at shutdown: nothing it uses is freed */
  uint64_t asked_ms; /* monotonic: when the running cycle was asked for */
  int selected;      /* domains selected by the last finished cycle */
  cdtime_t duration; /* of the last finished cycle */
  bool warned;       /* the hang was logged */
} worker = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t worker_cond_once = PTHREAD_ONCE_INIT;
static void worker_cond_init(void) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&worker.cond, &attr);
  pthread_condattr_destroy(&attr);
}

static uint64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits on worker.cond (lock held) until the monotonic time until_ms:
 * false once it has passed. */
static bool worker_wait_until(uint64_t until_ms) {
  uint64_t now = monotonic_ms();
  if (now >= until_ms)
    return false;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t ns = (uint64_t)ts.tv_nsec + (until_ms - now) * 1000000ULL;
  ts.tv_sec += (time_t)(ns / 1000000000ULL);
  ts.tv_nsec = (long)(ns % 1000000000ULL);
  pthread_cond_timedwait(&worker.cond, &worker.lock, &ts);
  return true;
}

static uint64_t clock_boottime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t (*now_ms)(void) = clock_boottime_ms;

/* Where process evidence is read; forced by tests. */
static char proc_root[256] = "/proc";
static bool proc_root_forced;

void vi_priv_set_hypervisor(const hv_ops_t *ops) { hv_ops = ops; }
void vi_priv_set_proc_root(const char *root) {
  sstrncpy(proc_root, root != NULL ? root : "/proc", sizeof(proc_root));
  proc_root_forced = root != NULL;
}
void vi_priv_set_clock(uint64_t (*fn)(void)) {
  now_ms = fn != NULL ? fn : clock_boottime_ms;
}

/* What the glue remembers of a domain between reads. */
typedef struct domain_entry {
  uuid_map_node_t node; /* first: the map's link and the uuid */
  mw_t watch;           /* its memory statistics */
  unsigned generation;  /* read cycle that last saw it */
  bool ev_known;        /* process looked up for libvirt id ev_id */
  int ev_id;
  int pid;          /* 0: not found */
  uint64_t process; /* pe_identity of pid, 0: unknown */
} domain_entry_t;

static domain_entry_t *domain_entry_get(const char *uuid) {
  domain_entry_t *e = (domain_entry_t *)uuid_map_find(&reader.domains, uuid);
  if (e != NULL)
    return e;
  if ((e = calloc(1, sizeof(*e))) == NULL)
    return NULL;
  sstrncpy(e->node.uuid, uuid, sizeof(e->node.uuid));
  mw_init(&e->watch);
  uuid_map_insert(&reader.domains, &e->node);
  return e;
}

static void domain_entry_free(uuid_map_node_t *node) { free(node); }

static bool domain_entry_unseen(uuid_map_node_t *node, void *user_data) {
  (void)user_data;
  return ((domain_entry_t *)node)->generation != reader.generation;
}

/* ---- dispatch ---- */

static void submit(const char *host, const char *plugin_instance,
                   const char *type, const char *type_instance, value_t *values,
                   size_t values_len) {
  value_list_t vl = VALUE_LIST_INIT;
  vl.values = values;
  vl.values_len = values_len;
  if (host != NULL)
    sstrncpy(vl.host, host, sizeof(vl.host));
  sstrncpy(vl.plugin, PLUGIN_NAME, sizeof(vl.plugin));
  if (plugin_instance != NULL)
    sstrncpy(vl.plugin_instance, plugin_instance, sizeof(vl.plugin_instance));
  sstrncpy(vl.type, type, sizeof(vl.type));
  if (type_instance != NULL)
    sstrncpy(vl.type_instance, type_instance, sizeof(vl.type_instance));
  plugin_dispatch_values(&vl);
}

static void submit_gauge(const char *host, const char *pi, const char *type,
                         const char *ti, gauge_t v) {
  value_t value = {.gauge = v};
  submit(host, pi, type, ti, &value, 1);
}

/* Host and plugin instance of a domain's values, per the formats. */
typedef struct {
  char host[INSTANCE_NAME_MAX + 1];
  char instance[INSTANCE_NAME_MAX + 1];
  const char *host_or_null; /* NULL: collectd's Hostname */
} domain_fields_t;

static void domain_fields(const char *name, const char *uuid,
                          domain_fields_t *f) {
  char mapped[INSTANCE_NAME_MAX + 1];
  instance_name_from_domain(name, uuid, mapped);
  f->host_or_null = NULL;
  if (conf.host_format == VI_FORMAT_NAME) {
    sstrncpy(f->host, mapped, sizeof(f->host));
    f->host_or_null = f->host;
  } else if (conf.host_format == VI_FORMAT_UUID) {
    sstrncpy(f->host, uuid, sizeof(f->host));
    f->host_or_null = f->host;
  }
  sstrncpy(f->instance, conf.instance_format == VI_FORMAT_UUID ? uuid : mapped,
           sizeof(f->instance));
}

static const struct {
  ms_tag_t tag;
  const char *type_instance;
} memory_figures[] = {
    {MS_AVAILABLE, "available"},
    {MS_UNUSED, "unused"},
    {MS_USABLE, "usable"},
    {MS_ACTUAL, "actual_balloon"},
    {MS_RSS, "rss"},
    {MS_DISK_CACHES, "disk_caches"},
};

static void submit_memory(const domain_fields_t *f, const ms_figures_t *fig) {
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(memory_figures); i++) {
    ms_tag_t tag = memory_figures[i].tag;
    if (fig->present & (1u << tag))
      submit_gauge(f->host_or_null, f->instance, "memory",
                   memory_figures[i].type_instance, (gauge_t)fig->bytes[tag]);
  }
  if (fig->used_status == MS_USED_OK) {
    submit_gauge(f->host_or_null, f->instance, "memory", "used",
                 (gauge_t)fig->used);
    submit_gauge(f->host_or_null, f->instance, "percent", "used", fig->percent);
  }
  uint32_t swap = (1u << MS_SWAP_IN) | (1u << MS_SWAP_OUT);
  if ((fig->present & swap) == swap) {
    value_t v[2] = {{.derive = (derive_t)fig->bytes[MS_SWAP_IN]},
                    {.derive = (derive_t)fig->bytes[MS_SWAP_OUT]}};
    submit(f->host_or_null, f->instance, "vmpage_io", "swap", v, 2);
  }
  uint32_t faults = (1u << MS_MINOR_FAULT) | (1u << MS_MAJOR_FAULT);
  if ((fig->present & faults) == faults) {
    value_t v[2] = {{.derive = (derive_t)fig->bytes[MS_MINOR_FAULT]},
                    {.derive = (derive_t)fig->bytes[MS_MAJOR_FAULT]}};
    submit(f->host_or_null, f->instance, "vmpage_faults", NULL, v, 2);
  }
}

/* ---- domain states ---- */

static int notification_severity(int state, int reason) {
  if (state == HV_RUNNING)
    return NOTIF_OKAY;
  if (state == HV_CRASHED ||
      (state == HV_SHUTOFF &&
       (reason == HV_SHUTOFF_CRASHED || reason == HV_SHUTOFF_FAILED)))
    return NOTIF_FAILURE;
  return NOTIF_WARNING;
}

static void notify_transition(const char *name, const char *uuid,
                              const st_result_t *r, cdtime_t when) {
  domain_fields_t f;
  domain_fields(name, uuid, &f);
  double seconds = (double)r->old_stint_ms / 1000.0;
  notification_t n = {
      .severity = notification_severity(r->new_state, r->new_reason),
      .time = when,
  };
  sstrncpy(n.host, f.host_or_null != NULL ? f.host_or_null : hostname_g,
           sizeof(n.host));
  sstrncpy(n.plugin, PLUGIN_NAME, sizeof(n.plugin));
  sstrncpy(n.plugin_instance, f.instance, sizeof(n.plugin_instance));
  sstrncpy(n.type, "domain_state", sizeof(n.type));
  ssnprintf(
      n.message, sizeof(n.message),
      "Domain \"%s\" changed from %s to %s (reason %d) after %.3f s in %s",
      name, st_state_name(r->old_state), st_state_name(r->new_state),
      r->new_reason, seconds, st_state_name(r->old_state));
  plugin_notification_meta_add_string(&n, "domain", name);
  plugin_notification_meta_add_string(&n, "uuid", uuid);
  plugin_notification_meta_add_string(&n, "old_state",
                                      st_state_name(r->old_state));
  plugin_notification_meta_add_string(&n, "new_state",
                                      st_state_name(r->new_state));
  plugin_notification_meta_add_signed_int(&n, "reason", r->new_reason);
  plugin_notification_meta_add_double(&n, "seconds_in_old_state", seconds);
  plugin_dispatch_notification(&n);
  plugin_notification_meta_free(n.meta);
}

/* Notifications are dispatched by a thread of their own: a slow
 * notification plugin must not hold up the event thread (and so the time
 * stamp of the next transition) or a read. FIFO, bounded. */
#define NOTIFY_QUEUE_MAX 4096

typedef struct notify_item {
  struct notify_item *next;
  st_result_t r;
  cdtime_t when; /* seen at */
  char uuid[ST_UUID_LEN + 1];
  char name[]; /* flexible */
} notify_item_t;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  notify_item_t *head, *tail;
  size_t count;
  bool busy;     /* the thread is dispatching one */
  bool stop;     /* drain and exit */
  bool running;  /* the thread was started */
  bool dropping; /* over NOTIFY_QUEUE_MAX: logged once */
  pthread_t thread;
} notifier = {.lock = PTHREAD_MUTEX_INITIALIZER,
              .cond = PTHREAD_COND_INITIALIZER};

static void *notifier_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&notifier.lock);
  for (;;) {
    while (notifier.head == NULL && !notifier.stop)
      pthread_cond_wait(&notifier.cond, &notifier.lock);
    if (notifier.head == NULL)
      break; /* stop, and drained */
    notify_item_t *it = notifier.head;
    notifier.head = it->next;
    if (notifier.head == NULL)
      notifier.tail = NULL;
    notifier.count--;
    notifier.busy = true;
    pthread_mutex_unlock(&notifier.lock);
    notify_transition(it->name, it->uuid, &it->r, it->when);
    free(it);
    pthread_mutex_lock(&notifier.lock);
    notifier.busy = false;
    pthread_cond_broadcast(&notifier.cond);
  }
  pthread_mutex_unlock(&notifier.lock);
  return NULL;
}

static void notifier_start(void) {
  notifier.stop = false;
  notifier.running =
      pthread_create(&notifier.thread, NULL, notifier_main, NULL) == 0;
  if (!notifier.running)
    WARNING(
        PLUGIN_NAME
        " plugin: cannot start the notification thread; notifications are dispatched where the transition is seen.");
}

/* Dispatches what is queued, then ends the thread. */
static void notifier_stop(void) {
  if (!notifier.running)
    return;
  pthread_mutex_lock(&notifier.lock);
  notifier.stop = true;
  pthread_cond_broadcast(&notifier.cond);
  pthread_mutex_unlock(&notifier.lock);
  pthread_join(notifier.thread, NULL);
  notifier.running = false;
}

void vi_priv_flush_notifications(void) {
  pthread_mutex_lock(&notifier.lock);
  while (notifier.head != NULL || notifier.busy)
    pthread_cond_wait(&notifier.cond, &notifier.lock);
  pthread_mutex_unlock(&notifier.lock);
}

static void queue_notification(const char *name, const char *uuid,
                               const st_result_t *r) {
  if (!notifier.running) {
    notify_transition(name, uuid, r, cdtime());
    return;
  }
  size_t n = strlen(name);
  notify_item_t *it = malloc(sizeof(*it) + n + 1);
  if (it == NULL) {
    ERROR(PLUGIN_NAME " plugin: out of memory; a notification is lost.");
    return;
  }
  it->next = NULL;
  it->r = *r;
  it->when = cdtime();
  sstrncpy(it->uuid, uuid, sizeof(it->uuid));
  memcpy(it->name, name, n + 1);
  pthread_mutex_lock(&notifier.lock);
  if (notifier.count >= NOTIFY_QUEUE_MAX) {
    bool first = !notifier.dropping;
    notifier.dropping = true;
    pthread_mutex_unlock(&notifier.lock);
    free(it);
    if (first)
      WARNING(
          PLUGIN_NAME
          " plugin: %d notifications wait for a slow notification plugin; further ones are dropped until the queue drains.",
          NOTIFY_QUEUE_MAX);
    return;
  }
  notifier.dropping = false;
  if (notifier.tail != NULL)
    notifier.tail->next = it;
  else
    notifier.head = it;
  notifier.tail = it;
  notifier.count++;
  pthread_cond_signal(&notifier.cond);
  pthread_mutex_unlock(&notifier.lock);
}

/* Logs and notifies what an observation did; outside the tracker lock. */
static void report_observation(const char *name, const char *uuid,
                               const st_result_t *r) {
  if (r->restore == ST_RESTORE_CREDITED)
    INFO(
        PLUGIN_NAME
        " plugin: domain \"%s\": the %.1f s since the last save are credited to %s (%s).",
        name, (double)r->gap_ms / 1000.0,
        st_state_name(r->change == ST_CHANGED ? r->old_state : r->new_state),
        st_continuity_text(r->why));
  else if (r->restore == ST_RESTORE_NOT_CREDITED)
    INFO(
        PLUGIN_NAME
        " plugin: domain \"%s\": the %.1f s since the last save are credited to no state: continuity is not proven (%s).",
        name, (double)r->gap_ms / 1000.0, st_continuity_text(r->why));
  if (r->change == ST_CHANGED && conf.notifications)
    queue_notification(name, uuid, r);
}

/* Event thread: a lifecycle event. */
static void on_lifecycle_event(const char *name, const char *uuid, int id,
                               int state, int reason, void *user_data) {
  (void)user_data;
  uint64_t t = now_ms(); /* before the lock: the event's own time */
  st_result_t r;
  pthread_mutex_lock(&shared.lock);
  /* Shut down (another thread running libvirt's loop, e.g. the virt
   * plugin's, can deliver a late event), or not selected. */
  if (shared.tracker == NULL || !domain_filter_selects(conf.filter, name)) {
    pthread_mutex_unlock(&shared.lock);
    return;
  }
  /* Values were dispatched up to floor_ms: an event timed before that but
   * applied after would make a dispatched total go down. */
  if (t < shared.floor_ms)
    t = shared.floor_ms;
  int rc = st_event(shared.tracker, uuid, name, id, state, reason, t, &r);
  pthread_mutex_unlock(&shared.lock);
  if (rc == 0)
    report_observation(name, uuid, &r);
}

static void submit_states(const st_view_t *v) {
  domain_fields_t f;
  domain_fields(v->name, v->uuid, &f);
  /* Every state from the first read, 0 for states never entered: the time
   * in a state over [t1, t2] is value(t2) - value(t1) only if there is a
   * value at t1, also when the state's first stint starts after t1. */
  for (int s = 0; s < ST_STATE_COUNT; s++)
    submit_gauge(f.host_or_null, f.instance, "duration", st_state_name(s),
                 (gauge_t)v->total_ms[s] / 1000.0);
  submit_gauge(f.host_or_null, f.instance, "duration", "total",
               (gauge_t)v->sum_ms / 1000.0);
  submit_gauge(f.host_or_null, f.instance, "uptime", NULL,
               (gauge_t)v->uptime_ms / 1000.0);
  value_t sr[2] = {{.gauge = (gauge_t)v->state}, {.gauge = (gauge_t)v->reason}};
  submit(f.host_or_null, f.instance, "domain_state", NULL, sr, 2);
}

/* Another domain, present or not, with v's name (its uuid in *user_data). */
static int same_name_other(const st_view_t *o, void *user_data) {
  const st_view_t *v = *(const st_view_t **)user_data;
  if (strcmp(o->name, v->name) == 0 && strcmp(o->uuid, v->uuid) != 0) {
    *(const char **)user_data = o->uuid;
    return 1;
  }
  return 0;
}

/* Another domain, present, with v's name (its uuid in *user_data). */
static int same_name_present(const st_view_t *o, void *user_data) {
  const st_view_t *v = *(const st_view_t **)user_data;
  if (o->present && strcmp(o->name, v->name) == 0 &&
      strcmp(o->uuid, v->uuid) != 0) {
    *(const char **)user_data = o->uuid;
    return 1;
  }
  return 0;
}

/* Whether two domains of one name share their values' identifier (host
 * and plugin instance): neither is the UUID. */
static bool identified_by_name(void) {
  return conf.instance_format != VI_FORMAT_UUID &&
         conf.host_format != VI_FORMAT_UUID;
}

static int submit_states_cb(const st_view_t *v, void *user_data) {
  (void)user_data;
  if (v->present) {
    submit_states(v);
    return 0;
  }
  if (!v->final)
    return 0;
  /* A domain seen gone at this read: its last stint, once; not when its
   * name (and so its identifier) already belongs to a new domain (undefine
   * + define), whose values would otherwise interleave with these. */
  const void *probe = v;
  if (identified_by_name() &&
      st_foreach(shared.tracker, 0, same_name_present, &probe) != 0)
    return 0;
  submit_states(v);
  return 0;
}

/* A domain seen for the first time that takes the name of a known one
 * (undefine + define, same name, new UUID): one INFO line. With values
 * identified by name its totals start from 0 under the same identifier. */
static void report_new_uuid(const char *name, const char *uuid) {
  if (!identified_by_name())
    return;
  st_view_t probe = {.name = name, .uuid = uuid};
  const void *arg = &probe;
  char old[ST_UUID_LEN + 1] = "";
  pthread_mutex_lock(&shared.lock);
  /* The old one is not present any more, so look among all of them. */
  if (st_foreach(shared.tracker, 0, same_name_other, &arg) != 0)
    sstrncpy(old, arg, sizeof(old));
  pthread_mutex_unlock(&shared.lock);
  if (old[0] != '\0')
    INFO(
        PLUGIN_NAME
        " plugin: domain \"%s\" has a new UUID %s (was %s: undefined and defined again); its values under the same name start from 0, a counter reset (see \"Same name, new UUID\" in the README).",
        name, uuid, old);
}

/* ---- the state file ---- */

/* Logs a save's result (rc 1: nothing to report). At shutdown (no read
 * context: c_complain cannot be used there) directly. */
static void report_save(int rc, bool at_shutdown) {
  const char *path = persist_path(store);
  if (rc == 1)
    return;
  const char *why = rc == -ENOTSUP
                        ? "it is no longer a regular file (left as it is)"
                        : STRERROR(-rc);
  if (rc != 0 && at_shutdown)
    WARNING(PLUGIN_NAME " plugin: saving the state file \"%s\" failed: %s",
            path, why);
  else if (rc != 0)
    c_complain_once(LOG_WARNING, &reader.save_complaint,
                    PLUGIN_NAME
                    " plugin: saving the state file \"%s\" failed: %s",
                    path, why);
  else if (!at_shutdown)
    c_release(LOG_INFO, &reader.save_complaint,
              PLUGIN_NAME " plugin: saving the state file \"%s\" works again.",
              path);
}

/* Saves the tracker: written in the background from a read, in this thread
 * at shutdown. */
static void save_state(uint64_t now, bool at_shutdown) {
  if (!persist_enabled(store))
    return;
  report_save(persist_collect(store), at_shutdown); /* the previous write */
  st_snapshot_t *snap = NULL;
  pthread_mutex_lock(&shared.lock);
  int rc = persist_snapshot(store, shared.tracker, now, &snap);
  if (shared.floor_ms < now)
    shared.floor_ms = now;
  pthread_mutex_unlock(&shared.lock);
  if (rc == 0)
    rc = persist_write(store, snap, !at_shutdown);
  report_save(rc, at_shutdown);
}

/* Reads the state file at init and logs the outcome. */
static void load_state(void) {
  const char *path = persist_path(store);
  persist_loaded_t l;
  pthread_mutex_lock(&shared.lock);
  persist_load(store, shared.tracker, now_ms(), &l);
  pthread_mutex_unlock(&shared.lock);
  const char *what = l.rc == -EINVAL ? "corrupt or truncated"
                                     : "from a newer version of this plugin";
  switch (l.outcome) {
  case PERSIST_LOADED:
    INFO(PLUGIN_NAME " plugin: restored %zu domain(s) from \"%s\"%s.", l.count,
         path, l.same_clock ? "" : " (saved before the host rebooted)");
    break;
  case PERSIST_NO_FILE:
    break;
  case PERSIST_QUARANTINED:
    WARNING(
        PLUGIN_NAME
        " plugin: state file \"%s\" is %s; moved aside to .corrupt, tracking starts fresh.",
        path, what);
    break;
  case PERSIST_KEPT_BAD:
    WARNING(
        PLUGIN_NAME
        " plugin: state file \"%s\" is %s; it could not be moved aside, tracking starts fresh.",
        path, what);
    WARNING(PLUGIN_NAME
            " plugin: not saving state to \"%s\", so as not to overwrite it.",
            path);
    break;
  case PERSIST_OFF:
    INFO(PLUGIN_NAME
         " plugin: persistence is off (StateFile \"\"): durations start "
         "fresh at every start of collectd.");
    break;
  case PERSIST_NOT_REGULAR:
    ERROR(
        PLUGIN_NAME
        " plugin: StateFile \"%s\" is a %s, not a regular file: it is left as it is, and the state is neither read from it nor saved (StateFile \"\" turns persistence off).",
        path, l.kind);
    break;
  case PERSIST_UNREADABLE:
    WARNING(
        PLUGIN_NAME
        " plugin: cannot read the state file \"%s\": %s; tracking starts fresh and the file is not overwritten.",
        path, STRERROR(-l.rc));
    break;
  }
}

/* ---- read ---- */

typedef struct {
  uint64_t now_ms; /* when the poll was issued */
  uint64_t interval_ms;
  int selected;
} read_ctx_t;

/* Reads the balloon device (XML) when the watcher asks (first seen
 * running, or restarted), and sets the stats period once per boot when
 * MemoryStatsPeriod asks for it. */
static void feed_watcher(mw_t *w, const hv_domain_t *d) {
  if (mw_needs_balloon(w, d->id)) {
    domain_balloon_t b;
    bool ok = hv_ops->domain_balloon(hv, d, &b) == 0;
    if (!ok && w->fails == 0) /* retried: one line per boot */
      INFO(
          PLUGIN_NAME
          " plugin: domain \"%s\": %s; its balloon and stats period are unknown, so its statistics are not judged.",
          d->name, hv_ops->error(hv));
    mw_balloon(w, d->id, ok ? &b : NULL);
  }
  unsigned period = conf.stats_period;
  if (!mw_wants_period(w, d->state == HV_RUNNING, period))
    return;
  bool ok = hv_ops->domain_set_stats_period(hv, d, period) == 0;
  mw_period_set(w, ok, period, &d->mem);
  if (ok)
    INFO(
        PLUGIN_NAME
        " plugin: domain \"%s\": balloon stats period was 0, set to %u s (live) as MemoryStatsPeriod asks.",
        d->name, period);
  else
    WARNING(
        PLUGIN_NAME
        " plugin: domain \"%s\": setting the balloon stats period to %u s failed: %s",
        d->name, period, hv_ops->error(hv));
}

static void log_memory(const char *name, const mw_output_t *out) {
  if (out->log_fallback)
    INFO(
        PLUGIN_NAME
        " plugin: domain \"%s\" reports no 'usable' memory; memory-used falls back to available - unused.",
        name);
  const char *why = ms_used_status_text(out->fig.used_status);
  switch (out->log) {
  case MW_LOG_NONE:
    break;
  case MW_LOG_USED_AGAIN:
    INFO(PLUGIN_NAME " plugin: domain \"%s\": memory-used is reported again.",
         name);
    break;
  case MW_LOG_NO_STATS:
    INFO(PLUGIN_NAME
         " plugin: domain \"%s\": %s; no memory values (empty data).",
         name, why);
    break;
  case MW_LOG_HOST_ONLY:
    INFO(
        PLUGIN_NAME
        " plugin: domain \"%s\": %s; only host-side memory values (rss, actual_balloon) are dispatched (empty data).",
        name, why);
    break;
  case MW_LOG_NO_USED:
    INFO(
        PLUGIN_NAME
        " plugin: domain \"%s\": %s; memory-used and percent-used not dispatched (empty data).",
        name, why);
    break;
  }
}

/* The continuity evidence of an active domain (st_evidence_t): its QEMU
 * process, looked up once per libvirt id (one /proc scan per read at most),
 * and the vCPU time when its vCPUs should be stopped. */
static void read_evidence(domain_entry_t *e, const hv_domain_t *d,
                          st_evidence_t *ev) {
  *ev = (st_evidence_t){0};
  if (!reader.evidence || !d->active) {
    e->ev_known = false;
    return;
  }
  if (!e->ev_known || e->ev_id != d->id) {
    if (reader.scan_generation != reader.generation) {
      free(reader.scan);
      reader.scan = NULL;
      reader.scan_n = 0;
      reader.scan_generation = reader.generation;
      if (pe_scan(proc_root, &reader.scan, &reader.scan_n) != 0)
        reader.scan_n = 0;
    }
    e->ev_known = true;
    e->ev_id = d->id;
    e->pid = 0;
    e->process = 0;
    if (pe_find(reader.scan, reader.scan_n, d->uuid, &e->pid) != 0 ||
        pe_identity(proc_root, e->pid, &e->process) != 0)
      e->pid = 0;
  }
  if (e->pid == 0)
    return;
  /* The process may have been replaced since: check it is the same. */
  uint64_t now_process;
  if (pe_identity(proc_root, e->pid, &now_process) != 0 ||
      now_process != e->process) {
    e->ev_known = false;
    return;
  }
  ev->process = e->process;
  if (st_state_stops_vcpus(d->state) &&
      pe_vcpu_ns(proc_root, e->pid, &ev->cpu_ns) != 0)
    ev->cpu_ns = 0;
}

static int read_domain(const hv_domain_t *d, void *user_data) {
  read_ctx_t *ctx = user_data;
  if (atomic_load(&worker.stop))
    return 1; /* shutdown: the rest of the read is not wanted */
  if (!domain_filter_selects(conf.filter, d->name))
    return 0;
  ctx->selected++;

  domain_entry_t *e = domain_entry_get(d->uuid);
  if (e == NULL) {
    ERROR(PLUGIN_NAME " plugin: out of memory");
    return 0;
  }
  e->generation = reader.generation;

  st_evidence_t ev;
  read_evidence(e, d, &ev);
  st_result_t r;
  pthread_mutex_lock(&shared.lock);
  int rc = st_poll_ev(shared.tracker, d->uuid, d->name, d->id, d->state,
                      d->reason, &ev, ctx->now_ms, &r);
  pthread_mutex_unlock(&shared.lock);
  if (rc == 0)
    report_observation(d->name, d->uuid, &r);
  if (rc == 0 && r.change == ST_FIRST)
    report_new_uuid(d->name, d->uuid);

  if (!d->active) {
    mw_inactive(&e->watch);
    return 0;
  }
  feed_watcher(&e->watch, d);
  mw_input_t in = {
      .mem = &d->mem,
      .running = d->state == HV_RUNNING,
      .formula = conf.formula,
      .interval_ms = ctx->interval_ms,
      .now_ms = ctx->now_ms,
  };
  mw_output_t out;
  mw_judge(&e->watch, &in, &out);
  log_memory(d->name, &out);

  domain_fields_t fields;
  domain_fields(d->name, d->uuid, &fields);
  submit_memory(&fields, &out.fig);
  return 0;
}

static void submit_health(int domains, cdtime_t duration) {
  submit_gauge(NULL, NULL, "count", "domains", (gauge_t)domains);
  submit_gauge(NULL, NULL, "duration", "read", CDTIME_T_TO_DOUBLE(duration));
}

static int connect_libvirt(void) {
  if (hv_ops->is_connected(hv))
    return 0;
  if (hv_ops->connect(hv) != 0) {
    c_complain_once(
        LOG_ERR, &reader.connect_complaint,
        PLUGIN_NAME
        " plugin: cannot connect to \"%s\": %s (retrying every interval)",
        conf.uri, hv_ops->error(hv));
    return -1;
  }
  if (c_would_release(&reader.connect_complaint))
    c_release(LOG_INFO, &reader.connect_complaint,
              PLUGIN_NAME " plugin: connection to \"%s\" re-established.",
              conf.uri);
  else if (!reader.ever_connected)
    INFO(PLUGIN_NAME " plugin: connected to \"%s\".", conf.uri);
  reader.ever_connected = true;
  return 0;
}

/* Starts the event loop (once) and opens the event connection if it is
 * not open. Called once the polling connection is open: a connection opened
 * after libvirt's event loop is registered gets a watch in it, and every
 * synchronous call on it then wakes the event thread (bench/: +70% reader
 * CPU per read at 1,000 domains); one opened before does not. The event
 * connection needs the loop, so it comes after. */
static void connect_events(void) {
  if (!conf.events)
    return;
  if (!reader.events_started) {
    if (hv_ops->events_start(hv, on_lifecycle_event, NULL) != 0) {
      WARNING(
          PLUGIN_NAME
          " plugin: cannot start the event loop: %s; transitions are timed at each read.",
          hv_ops->error(hv));
      conf.events = false;
      return;
    }
    reader.events_started = true;
  }
  if (hv_ops->events_connected(hv))
    return;
  if (hv_ops->events_connect(hv) != 0)
    c_complain_once(
        LOG_WARNING, &reader.events_complaint,
        PLUGIN_NAME
        " plugin: lifecycle events unavailable: %s; transitions are timed at the next read.",
        hv_ops->error(hv));
  else
    c_release(LOG_INFO, &reader.events_complaint,
              PLUGIN_NAME " plugin: lifecycle events available again.");
}

/* One read cycle, in the worker: connect if needed, read every domain
 * (read_domain dispatches its memory values and feeds the tracker), and
 * close the stints of the domains that are gone. Returns the number of
 * domains selected. */
static int read_cycle(void) {
  read_ctx_t ctx = {
      .interval_ms = CDTIME_T_TO_MS(plugin_get_interval()),
  };
  if (connect_libvirt() != 0)
    return 0;
  /* Events first: a transition between here and the poll is then seen by
   * one or the other. */
  connect_events();
  /* The poll's time: after the (re)connects, which can take long, and
   * before the read, so that what it sees happened no later. */
  ctx.now_ms = now_ms();
  reader.generation++;
  int n = hv_ops->read(hv, read_domain, &ctx);
  if (atomic_load(&worker.stop))
    return ctx.selected; /* cut short for shutdown: no sweep */
  if (n == -ENOTCONN) {
    c_complain_once(
        LOG_ERR, &reader.connect_complaint,
        PLUGIN_NAME
        " plugin: connection to \"%s\" lost: %s (reconnecting every interval)",
        conf.uri, hv_ops->error(hv));
    return ctx.selected;
  }
  if (n < 0) {
    c_complain_once(LOG_WARNING, &reader.read_complaint,
                    PLUGIN_NAME " plugin: reading domains failed: %s",
                    hv_ops->error(hv));
    return ctx.selected;
  }
  c_release(LOG_INFO, &reader.read_complaint,
            PLUGIN_NAME " plugin: reading domains works again.");
  /* Forget what was logged of domains that are gone. */
  uuid_map_remove_if(&reader.domains, domain_entry_unseen, NULL,
                     domain_entry_free);
  pthread_mutex_lock(&shared.lock);
  st_sweep(shared.tracker, ctx.now_ms, now_ms(), conf.forget_after_ms);
  pthread_mutex_unlock(&shared.lock);
  return ctx.selected;
}

static void *worker_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&worker.lock);
  for (;;) {
    while (!worker.pending && !atomic_load(&worker.stop))
      pthread_cond_wait(&worker.cond, &worker.lock);
    if (atomic_load(&worker.stop))
      break;
    worker.pending = false;
    pthread_mutex_unlock(&worker.lock);
    cdtime_t started = cdtime();
    int selected = read_cycle();
    cdtime_t duration = cdtime() - started;
    pthread_mutex_lock(&worker.lock);
    worker.selected = selected;
    worker.duration = duration;
    worker.busy = false;
    pthread_cond_broadcast(&worker.cond);
  }
  pthread_mutex_unlock(&worker.lock);
  /* Closing the connections may block on a hung libvirtd too (the event
   * connection deregisters by a call): shutdown does not wait for it. */
  hv_ops->destroy(hv);
  pthread_mutex_lock(&worker.lock);
  worker.exited = true;
  pthread_cond_broadcast(&worker.cond);
  pthread_mutex_unlock(&worker.lock);
  return NULL;
}

/* Asks the worker for a cycle unless one is under way and waits for it,
 * at most READ_WAIT of an Interval. Returns whether a cycle finished since
 * the previous call (its results in *selected and *duration). */
static bool worker_cycle(int *selected, cdtime_t *duration) {
  pthread_mutex_lock(&worker.lock);
  if (!worker.started) {
    /* plugin_thread_create: the thread gets this read context (Interval,
     * used by c_complain and for the values' interval). */
    int rc = plugin_thread_create(&worker.thread, worker_main, NULL,
                                  "virt_inspector");
    if (rc != 0) {
      pthread_mutex_unlock(&worker.lock);
      c_complain_once(
          LOG_ERR, &reader.thread_complaint,
          PLUGIN_NAME
          " plugin: cannot start the reader thread: %s; reading in collectd's thread.",
          STRERROR(rc));
      cdtime_t started = cdtime();
      *selected = read_cycle();
      *duration = cdtime() - started;
      return true;
    }
    worker.started = true;
  }
  uint64_t now = monotonic_ms();
  bool asked_now = false;
  if (!worker.busy) {
    worker.busy = worker.pending = true;
    worker.asked_ms = now;
    asked_now = true;
    pthread_cond_broadcast(&worker.cond);
    uint64_t until =
        now +
        (uint64_t)(READ_WAIT * (double)CDTIME_T_TO_MS(plugin_get_interval()));
    while (worker.busy && worker_wait_until(until))
      ;
  }
  bool finished = !worker.busy;
  uint64_t waited_ms = monotonic_ms() - worker.asked_ms;
  bool warn = !finished && !asked_now && !worker.warned;
  bool recovered = finished && worker.warned;
  if (warn)
    worker.warned = true;
  if (recovered)
    worker.warned = false;
  *selected = worker.selected;
  *duration = worker.duration;
  pthread_mutex_unlock(&worker.lock);

  if (warn)
    WARNING(
        PLUGIN_NAME
        " plugin: libvirt connection \"%s\" has not answered for %.1f s; values pause until it does, and the time goes on counting in each domain's last known state.",
        conf.uri, (double)waited_ms / 1000.0);
  else if (recovered)
    INFO(PLUGIN_NAME " plugin: libvirt connection \"%s\" answers again.",
         conf.uri);
  return finished;
}

static int vi_read(void) {
  int selected = 0;
  cdtime_t duration = 0;
  /* Nothing is dispatched without a finished cycle: no evidence, no
   * value. This also keeps the tracker's dispatched floor from passing the
   * time of a poll still under way. */
  if (!worker_cycle(&selected, &duration))
    return 0;

  uint64_t now = now_ms();
  pthread_mutex_lock(&shared.lock);
  st_foreach(shared.tracker, now, submit_states_cb, NULL);
  shared.floor_ms = now;
  pthread_mutex_unlock(&shared.lock);
  if (persist_due(store, now))
    save_state(now, false);

  submit_health(selected, duration);
  /* Always 0: a failing read callback would make collectd back off for up
   * to a day, and we want to reconnect at the next interval. */
  return 0;
}

/* ---- registration ---- */

static int vi_config(oconfig_item_t *ci) { return vi_config_read(&conf, ci); }

static int vi_init(void) {
  if (hv != NULL)
    return 0;
  pthread_once(&worker_cond_once, worker_cond_init);
  if (vi_config_complete(&conf) != 0 ||
      /* Setting a stats period needs a read-write connection. */
      (hv = hv_ops->create(conf.uri, conf.stats_period == 0)) == NULL ||
      (shared.tracker = st_create()) == NULL ||
      uuid_map_init(&reader.domains) != 0 ||
      (store = persist_create(conf.state_file, NULL, conf.save_interval_ms,
                              now_ms())) == NULL) {
    ERROR(PLUGIN_NAME " plugin: out of memory");
    return -1;
  }
  /* Process evidence: only where /proc shows the hypervisor's processes. */
  reader.evidence = proc_root_forced || strncmp(conf.uri, "qemu:///", 8) == 0 ||
                    strncmp(conf.uri, "qemu+unix:///", 13) == 0;
  if (!persist_boot_id_known(store))
    WARNING(
        PLUGIN_NAME
        " plugin: cannot read the boot id; time while collectd is down will not be credited.");
  load_state();
  notifier_start();
  /* The connections open at the first read, right after init: the log
   * throttling (c_complain) needs a read context. */
  return 0;
}

/* Frees what the worker and the event thread use and resets the glue for
 * another init (tests). */
static void release_all(void) {
  pthread_mutex_lock(&shared.lock); /* an event callback may still run */
  st_destroy(shared.tracker);
  shared.tracker = NULL;
  shared.floor_ms = 0;
  pthread_mutex_unlock(&shared.lock);
  uuid_map_destroy(&reader.domains, domain_entry_free);
  free(reader.scan);
  reader.scan = NULL;
  reader.scan_n = 0;
  reader.scan_generation = 0;
  reader.generation = 0;
  reader.ever_connected = false;
  reader.events_started = false;
  vi_config_free(&conf);
  pthread_mutex_lock(&worker.lock);
  worker.started = worker.pending = worker.busy = worker.exited = false;
  worker.abandoned = worker.warned = false;
  atomic_store(&worker.stop, false);
  pthread_mutex_unlock(&worker.lock);
}

/* Stops the worker, which closes the connections. Returns false when it
 * did not finish within SHUTDOWN_WAIT_MS: it is then left behind. */
static bool worker_stop(void) {
  pthread_mutex_lock(&worker.lock);
  if (!worker.started) {
    pthread_mutex_unlock(&worker.lock);
    hv_ops->destroy(hv); /* never connected: nothing can block */
    return true;
  }
  atomic_store(&worker.stop, true);
  pthread_cond_broadcast(&worker.cond);
  uint64_t until = monotonic_ms() + SHUTDOWN_WAIT_MS;
  while (!worker.exited && worker_wait_until(until))
    ;
  bool exited = worker.exited;
  worker.abandoned = !exited;
  pthread_mutex_unlock(&worker.lock);
  if (exited)
    pthread_join(worker.thread, NULL);
  else
    pthread_detach(worker.thread);
  return exited;
}

static int vi_shutdown(void) {
  bool clean = true;
  if (hv != NULL) {
    clean = worker_stop();
    if (!clean)
      WARNING(
          PLUGIN_NAME
          " plugin: libvirt connection \"%s\" still does not answer after %d ms; its thread is left behind (its memory is not freed) so that collectd can stop.",
          conf.uri, SHUTDOWN_WAIT_MS);
  }
  notifier_stop(); /* then dispatches what the events queued */
  if (store != NULL && shared.tracker != NULL)
    save_state(now_ms(), true);
  persist_destroy(store);
  store = NULL;
  if (clean) {
    hv = NULL;
    release_all();
  }
  return 0;
}

/* Test hook: waits (up to timeout_ms) until no cycle is under way. */
bool vi_priv_wait_idle(int timeout_ms) {
  pthread_mutex_lock(&worker.lock);
  uint64_t until = monotonic_ms() + (uint64_t)timeout_ms;
  while (worker.busy && worker_wait_until(until))
    ;
  bool idle = !worker.busy;
  pthread_mutex_unlock(&worker.lock);
  return idle;
}

/* Test hook: after hv_fake_release, waits for a worker left behind at
 * shutdown to exit and frees what it used. */
void vi_priv_reap(void) {
  pthread_mutex_lock(&worker.lock);
  bool abandoned = worker.abandoned;
  while (abandoned && !worker.exited)
    pthread_cond_wait(&worker.cond, &worker.lock);
  pthread_mutex_unlock(&worker.lock);
  if (!abandoned)
    return;
  hv = NULL;
  release_all();
}

void module_register(void) {
  vi_config_init(&conf);
  plugin_register_complex_config(PLUGIN_NAME, vi_config);
  plugin_register_init(PLUGIN_NAME, vi_init);
  plugin_register_read(PLUGIN_NAME, vi_read);
  plugin_register_shutdown(PLUGIN_NAME, vi_shutdown);
}
