/* vi_dispatch.c: see vi_dispatch.h. */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"

#include "hypervisor.h"
#include "instance_name.h"
#include "vi_dispatch.h"

#define PLUGIN_NAME "virt_inspector"

static const vi_config_t *conf;

void vd_init(const vi_config_t *c) { conf = c; }

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
  if (conf->host_format == VI_FORMAT_NAME) {
    sstrncpy(f->host, mapped, sizeof(f->host));
    f->host_or_null = f->host;
  } else if (conf->host_format == VI_FORMAT_UUID) {
    sstrncpy(f->host, uuid, sizeof(f->host));
    f->host_or_null = f->host;
  }
  sstrncpy(f->instance, conf->instance_format == VI_FORMAT_UUID ? uuid : mapped,
           sizeof(f->instance));
}

void vd_attribute(const char *name, const char *uuid, const char *attr,
                  const char *value, uint64_t total_ms) {
  domain_fields_t f;
  domain_fields(name, uuid, &f);
  /* <attr>=<value>: '=' is in no state name and in no mapped value, and the
   * mapped value never starts with '~'; the whole fits collectdctl's 63
   * bytes (attr at most VI_TIMEBY_NAME_MAX). */
  char ti[INSTANCE_NAME_MAX + 1];
  size_t n = strlen(attr);
  if (n + 1 + INSTANCE_VALUE_CAP_MIN > INSTANCE_NAME_MAX)
    return;
  memcpy(ti, attr, n);
  ti[n++] = '=';
  if (value == NULL)
    sstrncpy(ti + n, "~other", sizeof(ti) - n);
  else
    instance_name_from_value(value, INSTANCE_NAME_MAX - n, ti + n);
  submit_gauge(f.host_or_null, f.instance, "duration", ti,
               (gauge_t)total_ms / 1000.0);
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

void vd_memory(const char *name, const char *uuid, const ms_figures_t *fig) {
  domain_fields_t fields;
  domain_fields(name, uuid, &fields);
  const domain_fields_t *f = &fields;
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

static int notification_severity(int state, int reason) {
  if (state == HV_RUNNING)
    return NOTIF_OKAY;
  if (state == HV_CRASHED ||
      (state == HV_SHUTOFF &&
       (reason == HV_SHUTOFF_CRASHED || reason == HV_SHUTOFF_FAILED)))
    return NOTIF_FAILURE;
  return NOTIF_WARNING;
}

void vd_transition(const char *name, const char *uuid, const st_result_t *r,
                   uint64_t when) {
  domain_fields_t f;
  domain_fields(name, uuid, &f);
  double seconds = (double)r->old_stint_ms / 1000.0;
  notification_t n = {
      .severity = notification_severity(r->new_state, r->new_reason),
      .time = (cdtime_t)when,
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

void vd_states(const st_view_t *v) {
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
  /* Since the domain last started (through pauses; 0 when not up), and
   * since it entered its current state: the value alerts need. */
  submit_gauge(f.host_or_null, f.instance, "uptime", NULL,
               (gauge_t)v->uptime_ms / 1000.0);
  submit_gauge(f.host_or_null, f.instance, "duration", "current_state",
               (gauge_t)v->in_state_ms / 1000.0);
  value_t sr[2] = {{.gauge = (gauge_t)v->state}, {.gauge = (gauge_t)v->reason}};
  submit(f.host_or_null, f.instance, "domain_state", NULL, sr, 2);
}

void vd_health(int domains, uint64_t duration_ns) {
  submit_gauge(NULL, NULL, "count", "domains", (gauge_t)domains);
  submit_gauge(NULL, NULL, "duration", "read", (gauge_t)duration_ns / 1e9);
}
