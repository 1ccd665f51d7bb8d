/* virt_inspector.c: the collectd glue: registration, the read and event
 * wiring, dispatch and logging.
 *
 * The work is elsewhere: hypervisor.h (libvirt behind a table of functions,
 * hypervisor_libvirt.c), reader_thread.[ch] (the thread that makes the
 * hypervisor calls), notify_queue.[ch] (the thread that dispatches
 * notifications), vi_dispatch.[ch] (value lists and notifications to
 * collectd), mem_watch.[ch] (is a domain's memory data live, and which
 * line to log), mem_stats.[ch] (balloon statistics -> figures),
 * state_tracker.[ch] (time in each state), domain_evidence.[ch] (a QEMU
 * domain's continuity evidence from /proc), persist.[ch] (the state file
 * across restarts: boot id, load policy, save thread), vi_config.[ch] (the
 * configuration), attr_time.[ch] (TimeBy: running time per attribute
 * value) with domain_xml.[ch] (the domain XML, libxml2),
 * domain_filter/instance_name small pure helpers.
 * This file wires them: what the read and event threads share and its
 * lock, and the log lines, so that an operator sees one line per domain
 * and cause, not one per interval.
 *
 * Threads: every libvirt call is made by a reader thread of the plugin's
 * own (reader_thread.h); collectd's read callback asks it for a read cycle
 * and waits for it at most READ_WAIT of an Interval, then dispatches the
 * state durations from the tracker. A hung libvirtd therefore holds the
 * reader thread, never collectd: one WARNING once a cycle has been waited for
 * since the previous read, values pause (nothing is dispatched without a
 * finished cycle), and they resume when the call returns. At shutdown the
 * reader thread closes the connections; if it does not finish within
 * SHUTDOWN_WAIT_MS it is left behind (detached) with everything it can
 * touch (connection, tracker, configuration) leaked rather than freed
 * under it, and the state file is saved anyway. The event thread
 * (hypervisor_libvirt.c) and the reader thread share the tracker under
 * shared.lock.
 */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"
#include "utils_complain.h"

#include "attr_time.h"
#include "domain_evidence.h"
#include "domain_xml.h"
#include "hypervisor.h"
#include "mem_watch.h"
#include "notify_queue.h"
#include "persist.h"
#include "reader_thread.h"
#include "state_tracker.h"
#include "uuid_map.h"
#include "vi_config.h"
#include "vi_dispatch.h"
#include "virt_inspector_priv.h"

#include <pthread.h>
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
  at_t *attrs;       /* TimeBy (NULL: none configured) */
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
  c_complain_t slow_complaint;
  bool events_ever_connected;
  unsigned attrs_epoch; /* bumped when events reconnect: TimeBy re-read */
  bool evidence;        /* a local QEMU URI: /proc shows its processes */
  de_cycle_t ev_cycle;  /* its /proc scan, once per read cycle */
} reader = {
    .connect_complaint = C_COMPLAIN_INIT_STATIC,
    .read_complaint = C_COMPLAIN_INIT_STATIC,
    .events_complaint = C_COMPLAIN_INIT_STATIC,
    .save_complaint = C_COMPLAIN_INIT_STATIC,
    .thread_complaint = C_COMPLAIN_INIT_STATIC,
    .slow_complaint = C_COMPLAIN_INIT_STATIC,
};

static persist_t *store;

/* Share of an Interval the read callback waits for a cycle it asked for. */
#define READ_WAIT 0.8
/* How long shutdown waits for the reader thread to close the connections. */
#define SHUTDOWN_WAIT_MS 2000

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
  de_domain_t evidence; /* its QEMU process */
  bool attrs_read;      /* TimeBy: read since first seen */
  int attrs_id;         /* libvirt id at that read (a new id: restarted) */
  bool attrs_logged;    /* the XML could not be read: logged */
  unsigned attrs_epoch; /* reader.attrs_epoch at that read */
  /* Its memory figures of the read cycle fig_generation, dispatched by the
   * read callback after the cycle, just before its states: collectd's
   * write threads then get every value list of a read in one burst
   * (between two dispatches spread over a cycle they fall asleep and are
   * woken again), a domain's together (its cache entries are neighbours:
   * 5-8 % less CPU in the write threads than all memory values first,
   * bench/README.md). name: the domain's, as of that read. */
  ms_figures_t fig;
  unsigned fig_generation;
  unsigned fig_sent; /* the cycle whose figures were dispatched */
  char *name;
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

static void domain_entry_free(uuid_map_node_t *node) {
  free(((domain_entry_t *)node)->name);
  free(node);
}

/* 0, or -ENOMEM (the previous name is kept). */
static int domain_entry_set_name(domain_entry_t *e, const char *name) {
  if (e->name != NULL && strcmp(e->name, name) == 0)
    return 0;
  char *copy = strdup(name);
  if (copy == NULL)
    return -ENOMEM;
  free(e->name);
  e->name = copy;
  return 0;
}

/* A domain's memory figures of the last cycle, once. */
static void submit_memory(domain_entry_t *e) {
  if (e->fig_generation == reader.generation && e->name != NULL &&
      e->fig_sent != reader.generation) {
    e->fig_sent = reader.generation;
    vd_memory(e->name, e->node.uuid, &e->fig);
  }
}

static int submit_memory_cb(uuid_map_node_t *node, void *user_data) {
  (void)user_data;
  submit_memory((domain_entry_t *)node);
  return 0;
}

static bool domain_entry_unseen(uuid_map_node_t *node, void *user_data) {
  (void)user_data;
  return ((domain_entry_t *)node)->generation != reader.generation;
}

/* Hands a transition to the notification thread, seen now. */
static void queue_notification(const char *name, const char *uuid,
                               const st_result_t *r) {
  if (!nq_running()) {
    vd_transition(name, uuid, r, cdtime());
    return;
  }
  bool first;
  int rc = nq_push(name, uuid, r, cdtime(), &first);
  if (rc == -ENOMEM)
    ERROR(PLUGIN_NAME " plugin: out of memory; a notification is lost.");
  else if (rc == -ENOBUFS && first)
    WARNING(
        PLUGIN_NAME
        " plugin: %d notifications wait for a slow notification plugin; further ones are dropped until the queue drains.",
        NQ_MAX);
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

/* The domain's TimeBy attributes are to be read again at the next read,
 * their values effective at t, on its running clock (shared.lock held): at
 * a (re)start, or when an event is the first sight of a domain (created,
 * or started from outside the filter's view), so that its values count
 * from the event, as its states do. A failed mark (out of memory) leaves
 * them to the next restart or event. */
static void mark_dirty(const char *uuid, uint64_t t) {
  st_view_t v;
  if (conf.ntimeby > 0 &&
      st_get(shared.tracker, uuid, t < shared.floor_ms ? shared.floor_ms : t,
             &v) == 0)
    at_mark(shared.attrs, uuid, v.total_ms[ST_STATE_RUNNING]);
}

/* Whether an observation is a (re)start: into running from a state
 * without a process. */
static bool starts(const st_result_t *r) {
  return r->change == ST_CHANGED && r->new_state == HV_RUNNING &&
         r->old_state != HV_RUNNING && r->old_state != HV_PAUSED &&
         r->old_state != HV_BLOCKED && r->old_state != HV_SHUTDOWN &&
         r->old_state != HV_PMSUSPENDED;
}

/* Event thread: a domain's metadata changed, or a device was added or
 * removed: its TimeBy attributes are re-read at the next read, effective
 * now. */
static void on_change_event(const char *name, const char *uuid,
                            void *user_data) {
  (void)user_data;
  uint64_t t = now_ms();
  pthread_mutex_lock(&shared.lock);
  if (shared.tracker != NULL && domain_filter_selects(conf.filter, name))
    mark_dirty(uuid, t);
  pthread_mutex_unlock(&shared.lock);
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
  if (rc == 0 && (starts(&r) || r.change == ST_FIRST))
    mark_dirty(uuid, t);
  pthread_mutex_unlock(&shared.lock);
  if (rc == 0)
    report_observation(name, uuid, &r);
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

static int submit_attribute_cb(const at_view_t *a, void *user_data) {
  const st_view_t *v = user_data;
  vd_attribute(v->name, v->uuid, a->name, a->value, a->total_ms);
  return 0;
}

/* The TimeBy values of a domain (shared.lock held). A change that an event
 * announced but the reader has not read yet ends the current value's time
 * at the event (at_mark): what is dispatched now never exceeds what it
 * will get. */
static void submit_attributes(const st_view_t *v) {
  if (shared.attrs != NULL)
    at_foreach(shared.attrs, v->uuid, v->total_ms[ST_STATE_RUNNING],
               submit_attribute_cb, (void *)v);
}

static int submit_states_cb(const st_view_t *v, void *user_data) {
  (void)user_data;
  if (v->present) {
    domain_entry_t *e =
        (domain_entry_t *)uuid_map_find(&reader.domains, v->uuid);
    if (e != NULL)
      submit_memory(e);
    vd_states(v);
    submit_attributes(v);
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
  vd_states(v);
  submit_attributes(v);
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
  int rc = persist_snapshot(store, shared.tracker, shared.attrs, now, &snap);
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
  persist_load(store, shared.tracker, shared.attrs, now_ms(), &l);
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
  case PERSIST_ATTRS_UNREADABLE:
    WARNING(
        PLUGIN_NAME
        " plugin: restored %zu domain(s) from \"%s\" but not its %zu TimeBy total(s): %s; they start from 0 and the file is not overwritten.",
        l.count, path, l.attr_count, STRERROR(-l.rc));
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

/* ---- TimeBy ---- */

/* A maximum memory as a size label: the largest binary unit that divides
 * it exactly ("2GiB", "1536MiB", "1000KiB"). */
static void size_label(uint64_t kib, char *buf, size_t size) {
  if (kib != 0 && kib % (1024 * 1024) == 0)
    ssnprintf(buf, size, "%" PRIu64 "GiB", kib / (1024 * 1024));
  else if (kib != 0 && kib % 1024 == 0)
    ssnprintf(buf, size, "%" PRIu64 "MiB", kib / 1024);
  else
    ssnprintf(buf, size, "%" PRIu64 "KiB", kib);
}

/* Attribute i's value for a domain: from its XML (doc; NULL: only what
 * the read reported, the vCPU count), into buf. NULL: not known. */
static const char *attribute_value(size_t i, const hv_domain_t *d,
                                   const domain_xml_t *doc, char *buf,
                                   size_t size) {
  const vi_timeby_t *t = &conf.timeby[i];
  unsigned vcpus = d->vcpus;
  uint64_t kib;
  switch (t->kind) {
  case VI_TIMEBY_VCPUS:
    if (vcpus == 0 && (doc == NULL || domain_xml_vcpus(doc, &vcpus) != 0))
      return NULL;
    ssnprintf(buf, size, "%u", vcpus);
    return buf;
  case VI_TIMEBY_MEMORY:
    if (doc == NULL || domain_xml_memory_kib(doc, &kib) != 0)
      return NULL;
    size_label(kib, buf, size);
    return buf;
  case VI_TIMEBY_XPATH:
    if (doc == NULL || domain_xml_path_eval(doc, t->path, buf, size) != 0)
      return NULL;
    return buf;
  }
  return NULL;
}

/* Sets the attributes of a domain from its description (doc NULL: only
 * the vCPU count of the read) at its running clock run_ms; logs a bound
 * reached. */
static void set_attributes(const hv_domain_t *d, const domain_xml_t *doc,
                           uint64_t run_ms) {
  for (size_t i = 0; i < conf.ntimeby; i++) {
    if (doc == NULL && conf.timeby[i].kind != VI_TIMEBY_VCPUS)
      continue;
    char buf[AT_VALUE_MAX + 1];
    const char *value = attribute_value(i, d, doc, buf, sizeof(buf));
    if (doc == NULL && value == NULL)
      continue; /* not reported by this read: unchanged */
    at_result_t r;
    pthread_mutex_lock(&shared.lock);
    int rc = at_set(shared.attrs, d->uuid, i, value, run_ms, &r);
    pthread_mutex_unlock(&shared.lock);
    if (rc == -ENOMEM)
      ERROR(PLUGIN_NAME " plugin: out of memory");
    else if (rc == 0 && r.bound_reached)
      INFO(
          PLUGIN_NAME
          " plugin: domain \"%s\": TimeBy \"%s\" has had %d distinct values, the most kept; the running time with any other value goes to duration-%s=~other.",
          d->name, conf.timeby[i].name, AT_VALUES_MAX, conf.timeby[i].name);
  }
}

/* Reads a domain's TimeBy attributes: from its XML when first seen, when
 * (re)started and after a change event; the vCPU count at every read where
 * the read reports it (bulk vcpu.current). Times are on the domain's
 * running clock: at the poll, or at the event. */
static void read_attributes(domain_entry_t *e, const hv_domain_t *d,
                            uint64_t poll_ms) {
  if (conf.ntimeby == 0)
    return;
  st_view_t v;
  uint64_t run_ms = 0;
  pthread_mutex_lock(&shared.lock);
  bool dirty = at_marked(shared.attrs, d->uuid, &run_ms);
  if (!dirty && st_get(shared.tracker, d->uuid, poll_ms, &v) == 0)
    run_ms = v.total_ms[ST_STATE_RUNNING];
  pthread_mutex_unlock(&shared.lock);

  bool restarted = d->id >= 0 && d->id != e->attrs_id;
  bool missed = e->attrs_epoch != reader.attrs_epoch; /* events were down */
  if (e->attrs_read && !restarted && !dirty && !missed) {
    set_attributes(d, NULL, run_ms);
    return;
  }
  domain_xml_t *doc = NULL;
  if (hv_ops->domain_describe(hv, d, &doc) != 0) {
    if (!e->attrs_logged)
      INFO(
          PLUGIN_NAME
          " plugin: domain \"%s\": %s; its TimeBy values are read again at the next read.",
          d->name, hv_ops->error(hv));
    e->attrs_logged = true;
    set_attributes(d, NULL, run_ms);
    return; /* retried at the next read (dirty and attrs_read kept) */
  }
  if (e->attrs_logged)
    INFO(PLUGIN_NAME
         " plugin: domain \"%s\": its TimeBy values are read again.",
         d->name);
  e->attrs_logged = false;
  set_attributes(d, doc, run_ms);
  domain_xml_free(doc);
  e->attrs_read = true;
  e->attrs_id = d->id;
  e->attrs_epoch = reader.attrs_epoch;
  if (dirty) {
    pthread_mutex_lock(&shared.lock);
    at_unmark(shared.attrs, d->uuid);
    pthread_mutex_unlock(&shared.lock);
  }
}

static int read_domain(const hv_domain_t *d, void *user_data) {
  read_ctx_t *ctx = user_data;
  if (rt_stopping())
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

  st_evidence_t ev = {0};
  if (reader.evidence)
    de_read(&reader.ev_cycle, &e->evidence, d->uuid, d->id, d->active, d->state,
            &ev);
  st_result_t r;
  pthread_mutex_lock(&shared.lock);
  int rc = st_poll_ev(shared.tracker, d->uuid, d->name, d->id, d->state,
                      d->reason, &ev, ctx->now_ms, &r);
  pthread_mutex_unlock(&shared.lock);
  if (rc == 0)
    report_observation(d->name, d->uuid, &r);
  if (rc == 0 && r.change == ST_FIRST)
    report_new_uuid(d->name, d->uuid);
  read_attributes(e, d, ctx->now_ms);

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

  if (domain_entry_set_name(e, d->name) != 0) {
    ERROR(PLUGIN_NAME " plugin: out of memory");
    return 0;
  }
  e->fig = out.fig;
  e->fig_generation = reader.generation;
  return 0;
}

/* Whether the tracker still knows a domain (shared.lock held). */
static bool tracked(const char *uuid, void *user_data) {
  (void)user_data;
  st_view_t v;
  return st_get(shared.tracker, uuid, 0, &v) == 0;
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
  else {
    /* Metadata and device events of the time without an event connection
     * are lost: every domain's TimeBy values are read again. */
    if (reader.events_ever_connected)
      reader.attrs_epoch++;
    reader.events_ever_connected = true;
    c_release(LOG_INFO, &reader.events_complaint,
              PLUGIN_NAME " plugin: lifecycle events available again.");
  }
}

/* One read cycle, on the reader thread: connect if needed, read every domain
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
  reader.ev_cycle.cycle = reader.generation;
  int n = hv_ops->read(hv, read_domain, &ctx);
  if (rt_stopping())
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
  if (st_sweep(shared.tracker, ctx.now_ms, now_ms(), conf.forget_after_ms) >
          0 &&
      shared.attrs != NULL)
    at_retain(shared.attrs, tracked, NULL);
  pthread_mutex_unlock(&shared.lock);
  return ctx.selected;
}

/* On the reader thread at its end: close the connections (this may block
 * on a hung libvirtd too: the event connection deregisters by a call;
 * shutdown does not wait for it). */
static void reader_exit(void) { hv_ops->destroy(hv); }

/* The reader thread gets collectd's read context (Interval, used by
 * c_complain and for the values' interval). */
static int reader_spawn(pthread_t *thread, void *(*start)(void *), void *arg) {
  return plugin_thread_create(thread, start, arg, "virt_inspector");
}

/* Asks the reader thread for a cycle and waits at most READ_WAIT of an
 * Interval, or takes the one that finished since the previous call; logs a
 * hang once, and its end, and reads slower than the wait. Returns whether
 * there is a finished cycle to dispatch (its results in *selected, *ns);
 * *ask_next: ask for the next cycle once they are dispatched. */
static bool reader_cycle(int *selected, uint64_t *ns, bool *ask_next) {
  uint64_t wait_ms =
      (uint64_t)(READ_WAIT * (double)CDTIME_T_TO_MS(plugin_get_interval()));
  rt_outcome_t o;
  *ask_next = false;
  int rc = rt_cycle(wait_ms, &o);
  if (rc != 0) {
    c_complain_once(
        LOG_ERR, &reader.thread_complaint,
        PLUGIN_NAME
        " plugin: cannot start the reader thread: %s; reading in collectd's thread.",
        STRERROR(-rc));
    uint64_t started = rt_monotonic_ms();
    *selected = read_cycle();
    *ns = (rt_monotonic_ms() - started) * 1000000;
    return true;
  }
  if (o.hang_started)
    WARNING(
        PLUGIN_NAME
        " plugin: libvirt connection \"%s\" has not answered for %.1f s; values pause until it does, and the time goes on counting in each domain's last known state.",
        conf.uri, (double)o.waited_ms / 1000.0);
  else if (o.hang_ended)
    INFO(PLUGIN_NAME " plugin: libvirt connection \"%s\" answers again.",
         conf.uri);
  if (o.slow_started)
    c_complain_once(
        LOG_WARNING, &reader.slow_complaint,
        PLUGIN_NAME
        " plugin: a read of libvirt connection \"%s\" took %.1f s, longer than 0.8 Interval (%.1f s): while reads are this slow, each one is dispatched at the next Interval (values late, and every other Interval for reads longer than one); give this host a longer Interval.",
        conf.uri, (double)o.duration_ns / 1e9, (double)wait_ms / 1000.0);
  else if (o.slow_ended)
    c_release(
        LOG_INFO, &reader.slow_complaint,
        PLUGIN_NAME
        " plugin: reads of libvirt connection \"%s\" finish within 0.8 Interval again.",
        conf.uri);
  *selected = o.selected;
  *ns = o.duration_ns;
  *ask_next = o.ask_next;
  return o.finished;
}

static int vi_read(void) {
  int selected = 0;
  uint64_t duration_ns = 0;
  bool ask_next;
  /* Nothing is dispatched without a finished cycle: no evidence, no
   * value. This also keeps the tracker's dispatched floor from passing the
   * time of a poll still under way. */
  if (!reader_cycle(&selected, &duration_ns, &ask_next))
    return 0;

  /* The cycle is finished: the reader thread does not touch its entries
   * again before the next cycle is asked for. Each domain's memory values
   * go with its states; then those of a domain the tracker did not take. */
  uint64_t now = now_ms();
  pthread_mutex_lock(&shared.lock);
  st_foreach(shared.tracker, now, submit_states_cb, NULL);
  shared.floor_ms = now;
  pthread_mutex_unlock(&shared.lock);
  uuid_map_foreach(&reader.domains, submit_memory_cb, NULL);
  if (persist_due(store, now))
    save_state(now, false);

  vd_health(selected, duration_ns);
  /* A slow cycle was taken late: the next one runs until the next read. */
  if (ask_next)
    rt_ask();
  /* Always 0: a failing read callback would make collectd back off for up
   * to a day, and we want to reconnect at the next interval. */
  return 0;
}

/* ---- registration ---- */

static int vi_config(oconfig_item_t *ci) { return vi_config_read(&conf, ci); }

static int vi_init(void) {
  if (hv != NULL)
    return 0;
  rt_init(read_cycle, reader_exit, reader_spawn);
  vd_init(&conf);
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
  /* Even with no TimeBy: the saved totals are kept and saved again. */
  const char *names[AT_ATTRS_MAX];
  bool vcpus = false;
  for (size_t i = 0; i < conf.ntimeby; i++) {
    names[i] = conf.timeby[i].name;
    vcpus = vcpus || conf.timeby[i].kind == VI_TIMEBY_VCPUS;
  }
  if ((shared.attrs = at_create(names, conf.ntimeby)) == NULL) {
    ERROR(PLUGIN_NAME " plugin: out of memory");
    return -1;
  }
  if (conf.ntimeby > 0) {
    hv_ops->want_vcpus(hv, vcpus);
    hv_ops->events_on_change(hv, on_change_event);
  }
  /* Process evidence: only where /proc shows the hypervisor's processes. */
  reader.ev_cycle.proc_root = proc_root;
  reader.evidence = proc_root_forced || strncmp(conf.uri, "qemu:///", 8) == 0 ||
                    strncmp(conf.uri, "qemu+unix:///", 13) == 0;
  if (!persist_boot_id_known(store))
    WARNING(
        PLUGIN_NAME
        " plugin: cannot read the boot id; time while collectd is down will not be credited.");
  load_state();
  if (nq_start(vd_transition) != 0)
    WARNING(
        PLUGIN_NAME
        " plugin: cannot start the notification thread; notifications are dispatched where the transition is seen.");
  /* The connections open at the first read, right after init: the log
   * throttling (c_complain) needs a read context. */
  return 0;
}

/* Frees what the reader and event threads use and resets the glue for
 * another init (tests). */
static void release_all(void) {
  pthread_mutex_lock(&shared.lock); /* an event callback may still run */
  st_destroy(shared.tracker);
  shared.tracker = NULL;
  shared.floor_ms = 0;
  at_destroy(shared.attrs);
  shared.attrs = NULL;
  pthread_mutex_unlock(&shared.lock);
  uuid_map_destroy(&reader.domains, domain_entry_free);
  de_cycle_free(&reader.ev_cycle);
  reader.ev_cycle.scan_cycle = 0;
  reader.generation = 0;
  reader.ever_connected = false;
  reader.events_started = false;
  reader.events_ever_connected = false;
  vi_config_free(&conf);
  rt_reset();
}

static int vi_shutdown(void) {
  bool clean = true;
  if (hv != NULL) {
    rt_stop_t st = rt_stop(SHUTDOWN_WAIT_MS);
    if (st == RT_NEVER_STARTED)
      hv_ops->destroy(hv); /* never connected: nothing can block */
    clean = st != RT_LEFT_BEHIND;
    if (!clean)
      WARNING(
          PLUGIN_NAME
          " plugin: libvirt connection \"%s\" still does not answer after %d ms; its thread is left behind (its memory is not freed) so that collectd can stop.",
          conf.uri, SHUTDOWN_WAIT_MS);
  }
  nq_stop(); /* after it dispatched what the events queued */
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

/* Test hooks (virt_inspector_priv.h). */
bool vi_priv_wait_idle(int timeout_ms) {
  return rt_wait_idle((uint64_t)timeout_ms);
}

void vi_priv_reap(void) {
  if (!rt_reap())
    return;
  hv = NULL;
  release_all();
}

void vi_priv_flush_notifications(void) { nq_flush(); }

void module_register(void) {
  vi_config_init(&conf);
  plugin_register_complex_config(PLUGIN_NAME, vi_config);
  plugin_register_init(PLUGIN_NAME, vi_init);
  plugin_register_read(PLUGIN_NAME, vi_read);
  plugin_register_shutdown(PLUGIN_NAME, vi_shutdown);
}
