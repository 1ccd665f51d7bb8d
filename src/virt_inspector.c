/* virt_inspector.c: the collectd glue.
 *
 * Config, init, read, shutdown and dispatch. The work is elsewhere:
 * inspector.[ch] talks to libvirt (polling and lifecycle events),
 * mem_stats.[ch] turns balloon statistics into figures, state_tracker.[ch]
 * accounts the time in each state, state_store.[ch] keeps it across
 * restarts, domain_filter/instance_name/domain_xml are small pure helpers.
 * This file owns the locking (the event thread and the read thread share
 * the tracker) and the per-domain memory of what was already logged, so
 * that an operator sees one line per domain and cause, not one per
 * interval.
 */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"
#include "utils_complain.h"

#include "domain_filter.h"
#include "inspector.h"
#include "instance_name.h"
#include "mem_stats.h"
#include "state_store.h"
#include "state_tracker.h"
#include "uuid_map.h"

#include <pthread.h>
#include <time.h>

#define PLUGIN_NAME "virt_inspector"

typedef enum { FORMAT_HOSTNAME, FORMAT_NAME, FORMAT_UUID } field_format_t;

/* ---- configuration ---- */
static char *conf_uri;
static domain_filter_t *conf_filter;
static field_format_t conf_host_format = FORMAT_HOSTNAME;
static field_format_t conf_instance_format = FORMAT_NAME;
static ms_formula_t conf_formula = MS_USED_UNUSED;
static int conf_stats_period;   /* MemoryStatsPeriod, 0: never touch guests */
static bool conf_events = true; /* LifecycleEvents */
static bool conf_notifications = true;             /* Notifications */
static char *conf_state_file;                      /* StateFile */
static uint64_t conf_save_interval_ms = 60 * 1000; /* StateSaveInterval */
static uint64_t conf_forget_after_ms =
    7 * 24 * 3600 * 1000ULL; /* ForgetAfter */

/* ---- runtime ---- */
static inspector_t *inspector;
static c_complain_t connect_complaint = C_COMPLAIN_INIT_STATIC;
static c_complain_t read_complaint = C_COMPLAIN_INIT_STATIC;
static bool ever_connected;
static bool events_started; /* libvirt's event loop registered and running */
static c_complain_t events_complaint = C_COMPLAIN_INIT_STATIC;
static c_complain_t save_complaint = C_COMPLAIN_INIT_STATIC;

/* The tracker is shared by the read thread and the event thread. */
static pthread_mutex_t tracker_lock = PTHREAD_MUTEX_INITIALIZER;
static state_tracker_t *tracker;
static uint64_t tracker_floor_ms; /* time of the last dispatched view */
static char boot_id[ST_UUID_LEN + 1];
static bool saving_enabled;
static uint64_t last_save_ms;

/* What the glue remembers of a domain between reads. */
typedef struct domain_entry {
  uuid_map_node_t node; /* first: the map's link and the uuid */
  int id;               /* libvirt id when last seen: a change is a restart */
  bool balloon_known;   /* balloon read from the XML for this id */
  bool balloon_valid;   /* ... and parsed: balloon is what the XML says */
  domain_balloon_t balloon;
  bool period_set_tried;
  bool await_fresh;       /* period just set: the boot-time sample is still */
  uint64_t frozen_update; /* there, with this last_update, until it moves */
  ms_staleness_t staleness;
  int logged_status; /* ms_used_status_t last logged, -1: none */
  bool logged_fallback;
  unsigned generation; /* read cycle that last saw it */
} domain_entry_t;

static uuid_map_t domain_entries; /* of domain_entry_t */
static unsigned read_generation;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- per-domain entries ---- */

static domain_entry_t *domain_entry_get(const char *uuid) {
  domain_entry_t *e = (domain_entry_t *)uuid_map_find(&domain_entries, uuid);
  if (e != NULL)
    return e;
  if ((e = calloc(1, sizeof(*e))) == NULL)
    return NULL;
  sstrncpy(e->node.uuid, uuid, sizeof(e->node.uuid));
  e->id = -1;
  e->logged_status = -1;
  uuid_map_insert(&domain_entries, &e->node);
  return e;
}

static void domain_entry_free(uuid_map_node_t *node) { free(node); }

static bool domain_entry_unseen(uuid_map_node_t *node, void *user_data) {
  (void)user_data;
  return ((domain_entry_t *)node)->generation != read_generation;
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
  if (conf_host_format == FORMAT_NAME) {
    sstrncpy(f->host, mapped, sizeof(f->host));
    f->host_or_null = f->host;
  } else if (conf_host_format == FORMAT_UUID) {
    sstrncpy(f->host, uuid, sizeof(f->host));
    f->host_or_null = f->host;
  }
  sstrncpy(f->instance, conf_instance_format == FORMAT_UUID ? uuid : mapped,
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
  if (state == VIR_DOMAIN_RUNNING)
    return NOTIF_OKAY;
  if (state == VIR_DOMAIN_CRASHED ||
      (state == VIR_DOMAIN_SHUTOFF && (reason == VIR_DOMAIN_SHUTOFF_CRASHED ||
                                       reason == VIR_DOMAIN_SHUTOFF_FAILED)))
    return NOTIF_FAILURE;
  return NOTIF_WARNING;
}

static void notify_transition(const char *name, const char *uuid,
                              const st_result_t *r) {
  domain_fields_t f;
  domain_fields(name, uuid, &f);
  double seconds = (double)r->old_stint_ms / 1000.0;
  notification_t n = {
      .severity = notification_severity(r->new_state, r->new_reason),
      .time = cdtime(),
  };
  sstrncpy(n.host, f.host_or_null != NULL ? f.host_or_null : hostname_g,
           sizeof(n.host));
  sstrncpy(n.plugin, PLUGIN_NAME, sizeof(n.plugin));
  sstrncpy(n.plugin_instance, f.instance, sizeof(n.plugin_instance));
  sstrncpy(n.type, "domain_state", sizeof(n.type));
  ssnprintf(n.message, sizeof(n.message),
            "Domain \"%s\" changed from %s to %s (reason %d) after %.3f s "
            "in %s",
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

/* Logs and notifies what an observation did; outside the tracker lock. */
static void report_observation(const char *name, const char *uuid,
                               const st_result_t *r) {
  if (r->restore == ST_RESTORE_CREDITED)
    INFO(PLUGIN_NAME " plugin: domain \"%s\": the %.1f s since the last "
                     "save are credited to %s (same libvirt id and state).",
         name, (double)r->gap_ms / 1000.0,
         st_state_name(r->change == ST_CHANGED ? r->old_state : r->new_state));
  else if (r->restore == ST_RESTORE_NOT_CREDITED)
    INFO(PLUGIN_NAME " plugin: domain \"%s\": the %.1f s since the last "
                     "save are credited to no state: continuity is not "
                     "provable (libvirt id or state changed, or the host "
                     "rebooted).",
         name, (double)r->gap_ms / 1000.0);
  if (r->change == ST_CHANGED && conf_notifications)
    notify_transition(name, uuid, r);
}

/* Event thread: a lifecycle event. */
static void on_lifecycle_event(const char *name, const char *uuid, int id,
                               int state, int reason, void *user_data) {
  (void)user_data;
  uint64_t t = now_ms(); /* before the lock: the event's own time */
  if (!domain_filter_selects(conf_filter, name))
    return;
  st_result_t r;
  pthread_mutex_lock(&tracker_lock);
  /* Values were dispatched up to tracker_floor_ms: an event timed before
   * that but applied after would make a dispatched total go down. */
  if (t < tracker_floor_ms)
    t = tracker_floor_ms;
  int rc = state_tracker_event(tracker, uuid, name, id, state, reason, t, &r);
  pthread_mutex_unlock(&tracker_lock);
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

static int submit_states_cb(const st_view_t *v, void *user_data) {
  (void)user_data;
  if (v->present)
    submit_states(v);
  return 0;
}

static int read_boot_id(char ret[ST_UUID_LEN + 1]) {
  FILE *fh = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (fh == NULL)
    return -1;
  char buf[64] = "";
  char *ok = fgets(buf, sizeof(buf), fh);
  fclose(fh);
  if (ok == NULL || strlen(buf) < ST_UUID_LEN)
    return -1;
  memcpy(ret, buf, ST_UUID_LEN);
  ret[ST_UUID_LEN] = '\0';
  return 0;
}

/* The state file is formatted and written by a thread of its own, so that
 * a large file (about 1 s of work at 10,000 domains, bench/) does not stall
 * a read; the read only takes the snapshot. One write at a time: its result
 * is collected (and logged) by the next save. */
static pthread_t save_thread;
static bool save_thread_running;
static int save_thread_rc;

static void *save_worker(void *arg) {
  st_snapshot_t *snap = arg;
  save_thread_rc = state_store_write(conf_state_file, snap);
  st_snapshot_free(snap);
  return NULL;
}

/* Logs a save's result. At shutdown (no read context: c_complain cannot be
 * used there) directly. */
static void report_save(int rc, bool at_shutdown) {
  if (rc != 0 && at_shutdown)
    WARNING(PLUGIN_NAME " plugin: saving the state file \"%s\" failed: %s",
            conf_state_file, STRERROR(-rc));
  else if (rc != 0)
    c_complain_once(LOG_WARNING, &save_complaint,
                    PLUGIN_NAME " plugin: saving the state file \"%s\" failed: "
                                "%s",
                    conf_state_file, STRERROR(-rc));
  else if (!at_shutdown)
    c_release(LOG_INFO, &save_complaint,
              PLUGIN_NAME " plugin: saving the state file \"%s\" works "
                          "again.",
              conf_state_file);
}

/* Waits for the write in flight, if any, and reports it. */
static void save_collect(bool at_shutdown) {
  if (!save_thread_running)
    return;
  pthread_join(save_thread, NULL);
  save_thread_running = false;
  report_save(save_thread_rc, at_shutdown);
}

/* Saves the tracker: written in the background from a read, in this thread
 * at shutdown. */
static void save_state(uint64_t now, bool at_shutdown) {
  if (!saving_enabled)
    return;
  save_collect(at_shutdown); /* the previous write, long done */
  st_snapshot_t *snap = NULL;
  pthread_mutex_lock(&tracker_lock);
  int rc = state_tracker_export(tracker, boot_id, now, &snap);
  if (tracker_floor_ms < now)
    tracker_floor_ms = now;
  pthread_mutex_unlock(&tracker_lock);
  last_save_ms = now;
  if (rc == 0 && !at_shutdown &&
      pthread_create(&save_thread, NULL, save_worker, snap) == 0) {
    save_thread_running = true;
    return;
  }
  if (rc == 0) {
    save_worker(snap); /* writes and frees it */
    rc = save_thread_rc;
  }
  report_save(rc, at_shutdown);
}

/* Reads the state file at init. A bad file is moved aside, never used in
 * part and never silently overwritten. */
static void load_state(void) {
  saving_enabled = true;
  st_snapshot_t *snap = NULL;
  int rc = state_store_read(conf_state_file, &snap);
  if (rc == 0) {
    bool same_clock = strcmp(snap->boot_id, boot_id) == 0;
    rc = state_tracker_import(tracker, snap, same_clock, now_ms());
    if (rc == 0)
      INFO(PLUGIN_NAME " plugin: restored %zu domain(s) from \"%s\"%s.",
           snap->count, conf_state_file,
           same_clock ? "" : " (saved before the host rebooted)");
    st_snapshot_free(snap);
    if (rc == 0)
      return;
    rc = -EINVAL;
  }
  if (rc == -ENOENT)
    return;
  if (rc == -EINVAL || rc == -EPROTONOSUPPORT) {
    int qrc = state_store_quarantine(conf_state_file);
    WARNING(PLUGIN_NAME " plugin: state file \"%s\" is %s; %s, tracking "
                        "starts fresh.",
            conf_state_file,
            rc == -EINVAL ? "corrupt or truncated"
                          : "from a newer version of this plugin",
            qrc == 0 ? "moved aside to .corrupt"
                     : "it could not be moved "
                       "aside");
    if (qrc != 0) {
      WARNING(PLUGIN_NAME " plugin: not saving state to \"%s\", so as "
                          "not to overwrite it.",
              conf_state_file);
      saving_enabled = false;
    }
    return;
  }
  WARNING(PLUGIN_NAME " plugin: cannot read the state file \"%s\": %s; "
                      "tracking starts fresh and the file is not "
                      "overwritten.",
          conf_state_file, STRERROR(-rc));
  saving_enabled = false;
}

/* ---- read ---- */

typedef struct {
  uint64_t now_ms; /* when the poll was issued */
  uint64_t interval_ms;
  int selected;
} read_ctx_t;

/* Reads the balloon device from the XML when a domain is first seen
 * running or was restarted (its id changed), and sets the stats period
 * once when MemoryStatsPeriod asks for it. */
static void learn_balloon(domain_entry_t *e, const inspector_domain_t *d) {
  if (e->balloon_known && e->id == d->id)
    return;
  e->id = d->id;
  e->period_set_tried = false;
  e->await_fresh = false;
  memset(&e->staleness, 0, sizeof(e->staleness));
  e->balloon_known = true; /* once per boot, even if it fails */
  e->balloon_valid =
      inspector_domain_balloon(inspector, d->handle, &e->balloon) == 0;
  if (!e->balloon_valid) {
    INFO(PLUGIN_NAME " plugin: domain \"%s\": %s; its balloon and stats "
                     "period are unknown, so its statistics are not judged.",
         d->name, inspector_error(inspector));
    memset(&e->balloon, 0, sizeof(e->balloon));
  }
}

static void maybe_set_stats_period(domain_entry_t *e,
                                   const inspector_domain_t *d) {
  if (conf_stats_period <= 0 || e->period_set_tried ||
      !e->balloon.has_balloon || e->balloon.stats_period != 0)
    return;
  e->period_set_tried = true;
  if (inspector_domain_set_stats_period(inspector, d->handle,
                                        (unsigned)conf_stats_period) == 0) {
    e->balloon.stats_period = (unsigned)conf_stats_period;
    /* What QEMU reports now is still the old sample: wait for a new one. */
    e->await_fresh = ms_raw_has(&d->mem, MS_LAST_UPDATE);
    e->frozen_update = d->mem.value[MS_LAST_UPDATE];
    INFO(PLUGIN_NAME " plugin: domain \"%s\": balloon stats period was 0, "
                     "set to %d s (live) as MemoryStatsPeriod asks.",
         d->name, conf_stats_period);
  } else {
    WARNING(PLUGIN_NAME " plugin: domain \"%s\": setting the balloon stats "
                        "period to %d s failed: %s",
            d->name, conf_stats_period, inspector_error(inspector));
  }
}

static void log_memory_status(domain_entry_t *e, const inspector_domain_t *d,
                              const ms_figures_t *fig) {
  if (fig->used_fell_back && fig->used_status == MS_USED_OK &&
      !e->logged_fallback) {
    e->logged_fallback = true;
    INFO(PLUGIN_NAME " plugin: domain \"%s\" reports no 'usable' memory; "
                     "memory-used falls back to available - unused.",
         d->name);
  }
  if ((int)fig->used_status == e->logged_status)
    return;
  if (fig->used_status == MS_USED_OK) {
    if (e->logged_status != -1)
      INFO(PLUGIN_NAME " plugin: domain \"%s\": memory-used is reported "
                       "again.",
           d->name);
  } else if (fig->used_status == MS_USED_NO_STATS) {
    INFO(PLUGIN_NAME " plugin: domain \"%s\": %s; no memory values "
                     "(empty data).",
         d->name, ms_used_status_text(fig->used_status));
  } else if (fig->used_status == MS_USED_STALE ||
             fig->used_status == MS_USED_NO_PERIOD ||
             fig->used_status == MS_USED_NO_BALLOON) {
    INFO(PLUGIN_NAME " plugin: domain \"%s\": %s; only host-side memory "
                     "values (rss, actual_balloon) are dispatched (empty "
                     "data).",
         d->name, ms_used_status_text(fig->used_status));
  } else {
    INFO(PLUGIN_NAME " plugin: domain \"%s\": %s; memory-used and "
                     "percent-used not dispatched (empty data).",
         d->name, ms_used_status_text(fig->used_status));
  }
  e->logged_status = (int)fig->used_status;
}

static int read_domain(const inspector_domain_t *d, void *user_data) {
  read_ctx_t *ctx = user_data;
  if (!domain_filter_selects(conf_filter, d->name))
    return 0;
  ctx->selected++;

  domain_entry_t *e = domain_entry_get(d->uuid);
  if (e == NULL) {
    ERROR(PLUGIN_NAME " plugin: out of memory");
    return 0;
  }
  e->generation = read_generation;

  st_result_t r;
  pthread_mutex_lock(&tracker_lock);
  int rc = state_tracker_poll(tracker, d->uuid, d->name, d->id, d->state,
                              d->reason, ctx->now_ms, &r);
  pthread_mutex_unlock(&tracker_lock);
  if (rc == 0)
    report_observation(d->name, d->uuid, &r);

  bool running = d->state == VIR_DOMAIN_RUNNING;
  if (!d->active) {
    e->id = -1;
    e->balloon_known = false;
    return 0;
  }
  learn_balloon(e, d);
  if (running)
    maybe_set_stats_period(e, d);

  /* Is what the guest reported current? */
  ms_guest_t guest = MS_GUEST_LIVE;
  if (e->await_fresh && (!ms_raw_has(&d->mem, MS_LAST_UPDATE) ||
                         d->mem.value[MS_LAST_UPDATE] != e->frozen_update))
    e->await_fresh = false;
  if (e->balloon_valid && !e->balloon.has_balloon)
    guest = MS_GUEST_NO_BALLOON;
  else if (e->balloon_valid && e->balloon.period_gates_stats &&
           (e->balloon.stats_period == 0 || e->await_fresh))
    guest = MS_GUEST_NO_PERIOD;
  bool stale = ms_staleness_judge(&e->staleness, &d->mem, running,
                                  e->balloon.stats_period, ctx->interval_ms,
                                  ctx->now_ms);
  if (stale && guest == MS_GUEST_LIVE)
    guest = MS_GUEST_STALE;
  ms_figures_t fig;
  ms_compute(&d->mem, conf_formula, guest, &fig);
  log_memory_status(e, d, &fig);

  domain_fields_t fields;
  domain_fields(d->name, d->uuid, &fields);
  submit_memory(&fields, &fig);
  return 0;
}

static void submit_health(int domains, cdtime_t started) {
  submit_gauge(NULL, NULL, "count", "domains", (gauge_t)domains);
  submit_gauge(NULL, NULL, "duration", "read",
               CDTIME_T_TO_DOUBLE(cdtime() - started));
}

static int connect_libvirt(void) {
  if (inspector_is_connected(inspector))
    return 0;
  if (inspector_connect(inspector) != 0) {
    c_complain_once(LOG_ERR, &connect_complaint,
                    PLUGIN_NAME
                    " plugin: cannot connect to \"%s\": %s (retrying "
                    "every interval)",
                    conf_uri, inspector_error(inspector));
    return -1;
  }
  if (c_would_release(&connect_complaint))
    c_release(LOG_INFO, &connect_complaint,
              PLUGIN_NAME " plugin: connection to \"%s\" re-established.",
              conf_uri);
  else if (!ever_connected)
    INFO(PLUGIN_NAME " plugin: connected to \"%s\".", conf_uri);
  ever_connected = true;
  return 0;
}

/* Starts the event loop (once) and opens the event connection if it is
 * not open. Called once the polling connection is open: a connection opened
 * after libvirt's event loop is registered gets a watch in it, and every
 * synchronous call on it then wakes the event thread (bench/: +70% reader
 * CPU per read at 1,000 domains); one opened before does not. The event
 * connection needs the loop, so it comes after. */
static void connect_events(void) {
  if (!conf_events)
    return;
  if (!events_started) {
    if (inspector_events_start(inspector, on_lifecycle_event, NULL) != 0) {
      WARNING(PLUGIN_NAME " plugin: cannot start the event loop: %s; "
                          "transitions are timed at each read.",
              inspector_error(inspector));
      conf_events = false;
      return;
    }
    events_started = true;
  }
  if (inspector_events_connected(inspector))
    return;
  if (inspector_events_connect(inspector) != 0)
    c_complain_once(LOG_WARNING, &events_complaint,
                    PLUGIN_NAME " plugin: lifecycle events unavailable: %s; "
                                "transitions are timed at the next read.",
                    inspector_error(inspector));
  else
    c_release(LOG_INFO, &events_complaint,
              PLUGIN_NAME " plugin: lifecycle events available again.");
}

static int vi_read(void) {
  cdtime_t started = cdtime();
  read_ctx_t ctx = {
      .now_ms = now_ms(),
      .interval_ms = CDTIME_T_TO_MS(plugin_get_interval()),
  };

  bool swept = false;
  if (connect_libvirt() == 0) {
    /* Events first: a transition between here and the poll is then seen
     * by one or the other. */
    connect_events();
    read_generation++;
    int n = inspector_read(inspector, read_domain, &ctx);
    if (n == -ENOTCONN) {
      c_complain_once(LOG_ERR, &connect_complaint,
                      PLUGIN_NAME " plugin: connection to \"%s\" lost: %s "
                                  "(reconnecting every interval)",
                      conf_uri, inspector_error(inspector));
    } else if (n < 0) {
      c_complain_once(LOG_WARNING, &read_complaint,
                      PLUGIN_NAME " plugin: reading domains failed: %s",
                      inspector_error(inspector));
    } else {
      c_release(LOG_INFO, &read_complaint,
                PLUGIN_NAME " plugin: reading domains works again.");
      /* Forget what was logged of domains that are gone. */
      uuid_map_remove_if(&domain_entries, domain_entry_unseen, NULL,
                         domain_entry_free);
      swept = true;
    }
  }

  uint64_t now = now_ms();
  pthread_mutex_lock(&tracker_lock);
  if (swept)
    state_tracker_sweep(tracker, ctx.now_ms, now, conf_forget_after_ms);
  state_tracker_foreach(tracker, now, submit_states_cb, NULL);
  tracker_floor_ms = now;
  pthread_mutex_unlock(&tracker_lock);
  if (now - last_save_ms >= conf_save_interval_ms)
    save_state(now, false);

  submit_health(ctx.selected, started);
  /* Always 0: a failing read callback would make collectd back off for up
   * to a day, and we want to reconnect at the next interval. */
  return 0;
}

/* ---- config ---- */

/* The first value of an option, as text, for error messages. */
static void value_text(const oconfig_item_t *ci, char *buf, size_t size) {
  if (ci->values_num < 1) {
    sstrncpy(buf, "(none)", size);
    return;
  }
  const oconfig_value_t *v = &ci->values[0];
  switch (v->type) {
  case OCONFIG_TYPE_STRING:
    sstrncpy(buf, v->value.string, size);
    break;
  case OCONFIG_TYPE_NUMBER:
    ssnprintf(buf, size, "%g", v->value.number);
    break;
  case OCONFIG_TYPE_BOOLEAN:
    sstrncpy(buf, v->value.boolean ? "true" : "false", size);
    break;
  default:
    sstrncpy(buf, "(unknown)", size);
  }
}

static int config_error(const oconfig_item_t *ci, const char *why) {
  char value[256];
  value_text(ci, value, sizeof(value));
  ERROR(PLUGIN_NAME " plugin: option \"%s\" \"%s\": %s", ci->key, value, why);
  return -1;
}

static int config_format(const oconfig_item_t *ci, bool allow_hostname,
                         field_format_t *ret) {
  char buf[16];
  if (cf_util_get_string_buffer(ci, buf, sizeof(buf)) != 0)
    return config_error(ci, "expected one string");
  if (allow_hostname && strcasecmp(buf, "hostname") == 0)
    *ret = FORMAT_HOSTNAME;
  else if (strcasecmp(buf, "name") == 0)
    *ret = FORMAT_NAME;
  else if (strcasecmp(buf, "uuid") == 0)
    *ret = FORMAT_UUID;
  else
    return config_error(ci, allow_hostname
                                ? "expected \"hostname\", \"name\" or \"uuid\""
                                : "expected \"name\" or \"uuid\"");
  return 0;
}

static int config_option(const oconfig_item_t *ci) {
  if (strcasecmp(ci->key, "Connection") == 0) {
    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING ||
        ci->values[0].value.string[0] == '\0')
      return config_error(ci, "expected one non-empty string (a libvirt URI)");
    return cf_util_get_string(ci, &conf_uri) == 0 ? 0 : -1;
  }
  if (strcasecmp(ci->key, "Domain") == 0) {
    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING)
      return config_error(ci, "expected one string (a name or /regex/)");
    char err[128];
    int rc = domain_filter_add(conf_filter, ci->values[0].value.string, err,
                               sizeof(err));
    if (rc == -EINVAL && err[0] != '\0') {
      char why[160];
      ssnprintf(why, sizeof(why), "bad regular expression: %s", err);
      return config_error(ci, why);
    }
    if (rc != 0)
      return config_error(ci, rc == -EINVAL ? "empty name" : "out of memory");
    return 0;
  }
  if (strcasecmp(ci->key, "IgnoreSelected") == 0) {
    bool invert = false;
    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_BOOLEAN ||
        cf_util_get_boolean(ci, &invert) != 0)
      return config_error(ci, "expected true or false");
    domain_filter_set_invert(conf_filter, invert);
    return 0;
  }
  if (strcasecmp(ci->key, "HostnameFormat") == 0)
    return config_format(ci, true, &conf_host_format);
  if (strcasecmp(ci->key, "PluginInstanceFormat") == 0)
    return config_format(ci, false, &conf_instance_format);
  if (strcasecmp(ci->key, "UsedMemory") == 0) {
    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING)
      return config_error(ci, "expected \"unused\" or \"usable\"");
    if (strcasecmp(ci->values[0].value.string, "unused") == 0)
      conf_formula = MS_USED_UNUSED;
    else if (strcasecmp(ci->values[0].value.string, "usable") == 0)
      conf_formula = MS_USED_USABLE;
    else
      return config_error(ci, "expected \"unused\" or \"usable\"");
    return 0;
  }
  if (strcasecmp(ci->key, "MemoryStatsPeriod") == 0) {
    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER ||
        ci->values[0].value.number < 0 || ci->values[0].value.number > 86400 ||
        ci->values[0].value.number != (int)ci->values[0].value.number)
      return config_error(ci, "expected whole seconds from 0 to 86400");
    conf_stats_period = (int)ci->values[0].value.number;
    return 0;
  }
  if (strcasecmp(ci->key, "LifecycleEvents") == 0 ||
      strcasecmp(ci->key, "Notifications") == 0) {
    bool *target = strcasecmp(ci->key, "Notifications") == 0
                       ? &conf_notifications
                       : &conf_events;
    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_BOOLEAN ||
        cf_util_get_boolean(ci, target) != 0)
      return config_error(ci, "expected true or false");
    return 0;
  }
  if (strcasecmp(ci->key, "StateFile") == 0) {
    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING ||
        ci->values[0].value.string[0] == '\0')
      return config_error(ci, "expected one non-empty string (a path)");
    return cf_util_get_string(ci, &conf_state_file) == 0 ? 0 : -1;
  }
  if (strcasecmp(ci->key, "StateSaveInterval") == 0 ||
      strcasecmp(ci->key, "ForgetAfter") == 0) {
    bool save = strcasecmp(ci->key, "StateSaveInterval") == 0;
    double max = save ? 86400.0 : 10 * 365 * 86400.0;
    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER ||
        !(ci->values[0].value.number >= (save ? 1 : 0)) ||
        ci->values[0].value.number > max)
      return config_error(ci, save ? "expected seconds from 1 to 86400"
                                   : "expected seconds from 0 to 10 years");
    uint64_t ms = (uint64_t)(ci->values[0].value.number * 1000.0);
    if (save)
      conf_save_interval_ms = ms;
    else
      conf_forget_after_ms = ms;
    return 0;
  }
  return config_error(ci, "unknown option");
}

static int vi_config(oconfig_item_t *ci) {
  if (conf_filter == NULL && (conf_filter = domain_filter_create()) == NULL) {
    ERROR(PLUGIN_NAME " plugin: out of memory");
    return -1;
  }
  for (int i = 0; i < ci->children_num; i++)
    if (config_option(&ci->children[i]) != 0)
      return -1;
  return 0;
}

/* ---- init / shutdown ---- */

static int vi_init(void) {
  if (inspector != NULL)
    return 0;
  if (conf_uri == NULL && (conf_uri = strdup("qemu:///system")) == NULL)
    return -1;
  if (conf_filter == NULL && (conf_filter = domain_filter_create()) == NULL)
    return -1;
  /* Setting a stats period needs a read-write connection. */
  inspector = inspector_create(conf_uri, conf_stats_period <= 0);
  tracker = state_tracker_create();
  if (inspector == NULL || tracker == NULL ||
      uuid_map_init(&domain_entries) != 0) {
    ERROR(PLUGIN_NAME " plugin: out of memory");
    return -1;
  }

  if (conf_state_file == NULL) {
    const char *base = global_option_get("BaseDir");
    char path[PATH_MAX];
    ssnprintf(path, sizeof(path), "%s/" PLUGIN_NAME ".state",
              base != NULL && base[0] != '\0' ? base : ".");
    if ((conf_state_file = strdup(path)) == NULL)
      return -1;
  }
  if (read_boot_id(boot_id) != 0) {
    /* Without it a saved clock cannot be trusted: never credit gaps. */
    WARNING(PLUGIN_NAME " plugin: cannot read the boot id; time while "
                        "collectd is down will not be credited.");
    sstrncpy(boot_id, "00000000-0000-0000-0000-000000000000", sizeof(boot_id));
  }
  load_state();
  last_save_ms = now_ms();

  /* The connections open at the first read, right after init: the log
   * throttling (c_complain) needs a read context. */
  return 0;
}

static int vi_shutdown(void) {
  inspector_destroy(inspector); /* joins the event thread first */
  inspector = NULL;
  if (tracker != NULL)
    save_state(now_ms(), true);
  state_tracker_destroy(tracker);
  tracker = NULL;
  sfree(conf_state_file);
  uuid_map_destroy(&domain_entries, domain_entry_free);
  domain_filter_destroy(conf_filter);
  conf_filter = NULL;
  sfree(conf_uri);
  return 0;
}

void module_register(void) {
  plugin_register_complex_config(PLUGIN_NAME, vi_config);
  plugin_register_init(PLUGIN_NAME, vi_init);
  plugin_register_read(PLUGIN_NAME, vi_read);
  plugin_register_shutdown(PLUGIN_NAME, vi_shutdown);
}
