/* vi_config.c: see vi_config.h. */
#include "vi_config.h"

#include "plugin.h"
#include "utils/common/common.h"

#define PLUGIN_NAME "virt_inspector"

void vi_config_init(vi_config_t *c) {
  *c = (vi_config_t){
      .host_format = VI_FORMAT_HOSTNAME,
      .instance_format = VI_FORMAT_NAME,
      .formula = MS_USED_UNUSED,
      .events = true,
      .notifications = true,
      .save_interval_ms = 60 * 1000,
      .forget_after_ms = 7 * 24 * 3600 * 1000ULL,
  };
}

void vi_config_free(vi_config_t *c) {
  sfree(c->uri);
  sfree(c->state_file);
  domain_filter_destroy(c->filter);
  for (size_t i = 0; i < c->ntimeby; i++)
    domain_xml_path_free(c->timeby[i].path);
  vi_config_init(c);
}

/* ---- helpers ---- */

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

static bool one_of_type(const oconfig_item_t *ci, int type) {
  return ci->values_num == 1 && ci->values[0].type == type;
}

/* One non-empty string into *ret (replacing what was there). */
static int get_nonempty_string(const oconfig_item_t *ci, char **ret,
                               const char *why) {
  if (!one_of_type(ci, OCONFIG_TYPE_STRING) ||
      ci->values[0].value.string[0] == '\0')
    return config_error(ci, why);
  return cf_util_get_string(ci, ret) == 0 ? 0 : -1;
}

/* As collectd's own options: true/false, or (with collectd's warning that
 * quoting is deprecated) "true"/"yes"/"on" and "false"/"no"/"off". */
static int get_bool(const oconfig_item_t *ci, bool *ret) {
  if (ci->values_num != 1 ||
      (ci->values[0].type != OCONFIG_TYPE_BOOLEAN &&
       ci->values[0].type != OCONFIG_TYPE_STRING) ||
      cf_util_get_boolean(ci, ret) != 0)
    return config_error(ci, "expected true or false");
  return 0;
}

/* One number in [min, max] (whole when whole), or the error why. */
static int get_number(const oconfig_item_t *ci, double min, double max,
                      bool whole, const char *why, double *ret) {
  double v = 0;
  if (!one_of_type(ci, OCONFIG_TYPE_NUMBER) ||
      cf_util_get_double(ci, &v) != 0 || !(v >= min) || v > max ||
      (whole && v != (int)v))
    return config_error(ci, why);
  *ret = v;
  return 0;
}

static int get_format(const oconfig_item_t *ci, bool allow_hostname,
                      vi_format_t *ret) {
  char buf[16];
  if (cf_util_get_string_buffer(ci, buf, sizeof(buf)) != 0)
    return config_error(ci, "expected one string");
  if (allow_hostname && strcasecmp(buf, "hostname") == 0)
    *ret = VI_FORMAT_HOSTNAME;
  else if (strcasecmp(buf, "name") == 0)
    *ret = VI_FORMAT_NAME;
  else if (strcasecmp(buf, "uuid") == 0)
    *ret = VI_FORMAT_UUID;
  else
    return config_error(ci, allow_hostname
                                ? "expected \"hostname\", \"name\" or \"uuid\""
                                : "expected \"name\" or \"uuid\"");
  return 0;
}

/* ---- the options ---- */

static int opt_connection(const oconfig_item_t *ci, vi_config_t *c) {
  return get_nonempty_string(ci, &c->uri,
                             "expected one non-empty string (a libvirt URI)");
}

static int opt_domain(const oconfig_item_t *ci, vi_config_t *c) {
  if (!one_of_type(ci, OCONFIG_TYPE_STRING))
    return config_error(ci, "expected one string (a name or /regex/)");
  char err[128];
  int rc = domain_filter_add(c->filter, ci->values[0].value.string, err,
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

static int opt_ignore_selected(const oconfig_item_t *ci, vi_config_t *c) {
  bool invert = false;
  if (get_bool(ci, &invert) != 0)
    return -1;
  domain_filter_set_invert(c->filter, invert);
  return 0;
}

static int opt_hostname_format(const oconfig_item_t *ci, vi_config_t *c) {
  return get_format(ci, true, &c->host_format);
}

static int opt_instance_format(const oconfig_item_t *ci, vi_config_t *c) {
  return get_format(ci, false, &c->instance_format);
}

static int opt_used_memory(const oconfig_item_t *ci, vi_config_t *c) {
  const char *why = "expected \"unused\" or \"usable\"";
  if (!one_of_type(ci, OCONFIG_TYPE_STRING))
    return config_error(ci, why);
  if (strcasecmp(ci->values[0].value.string, "unused") == 0)
    c->formula = MS_USED_UNUSED;
  else if (strcasecmp(ci->values[0].value.string, "usable") == 0)
    c->formula = MS_USED_USABLE;
  else
    return config_error(ci, why);
  return 0;
}

static int opt_stats_period(const oconfig_item_t *ci, vi_config_t *c) {
  double v = 0;
  if (get_number(ci, 0, 86400, true, "expected whole seconds from 0 to 86400",
                 &v) != 0)
    return -1;
  c->stats_period = (unsigned)v;
  return 0;
}

static int opt_events(const oconfig_item_t *ci, vi_config_t *c) {
  return get_bool(ci, &c->events);
}

static int opt_notifications(const oconfig_item_t *ci, vi_config_t *c) {
  return get_bool(ci, &c->notifications);
}

/* "" turns persistence off. */
static int opt_state_file(const oconfig_item_t *ci, vi_config_t *c) {
  if (!one_of_type(ci, OCONFIG_TYPE_STRING))
    return config_error(ci, "expected one string (a path, or \"\" for none)");
  return cf_util_get_string(ci, &c->state_file) == 0 ? 0 : -1;
}

static int opt_save_interval(const oconfig_item_t *ci, vi_config_t *c) {
  double v = 0;
  if (get_number(ci, 1, 86400, false, "expected seconds from 1 to 86400", &v) !=
      0)
    return -1;
  c->save_interval_ms = (uint64_t)(v * 1000.0);
  return 0;
}

static int opt_forget_after(const oconfig_item_t *ci, vi_config_t *c) {
  double v = 0;
  if (get_number(ci, 0, 10 * 365 * 86400.0, false,
                 "expected seconds from 0 to 10 years", &v) != 0)
    return -1;
  c->forget_after_ms = (uint64_t)(v * 1000.0);
  return 0;
}

static bool timeby_name_valid(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > VI_TIMEBY_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((name[i] >= 'a' && name[i] <= 'z') ||
          (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
      return false;
  return true;
}

/* TimeBy "vcpus" | "memory" | "<name>" "<xpath>"; repeatable. */
static int opt_time_by(const oconfig_item_t *ci, vi_config_t *c) {
  const char *usage = "expected \"vcpus\", \"memory\", or a name "
                      "([a-z0-9_], at most 24 bytes) and an XPath expression";
  if ((ci->values_num != 1 && ci->values_num != 2) ||
      ci->values[0].type != OCONFIG_TYPE_STRING ||
      (ci->values_num == 2 && ci->values[1].type != OCONFIG_TYPE_STRING))
    return config_error(ci, usage);
  const char *name = ci->values[0].value.string;
  bool builtin = strcmp(name, "vcpus") == 0 || strcmp(name, "memory") == 0;
  if (!timeby_name_valid(name))
    return config_error(ci, usage);
  if (ci->values_num == 1 && !builtin)
    return config_error(ci, "an XPath expression is needed after a name "
                            "other than \"vcpus\" or \"memory\"");
  if (ci->values_num == 2 && builtin)
    return config_error(ci, "\"vcpus\" and \"memory\" are built in: "
                            "name an XPath attribute otherwise");
  for (size_t i = 0; i < c->ntimeby; i++)
    if (strcmp(c->timeby[i].name, name) == 0)
      return config_error(ci, "this name is already used by another TimeBy");
  if (c->ntimeby == AT_ATTRS_MAX)
    return config_error(ci, "too many TimeBy (at most 32)");

  vi_timeby_t t = {.kind = strcmp(name, "vcpus") == 0 ? VI_TIMEBY_VCPUS
                                                      : VI_TIMEBY_MEMORY};
  sstrncpy(t.name, name, sizeof(t.name));
  if (ci->values_num == 2) {
    t.kind = VI_TIMEBY_XPATH;
    const char *expr = ci->values[1].value.string;
    int rc = domain_xml_path_compile(expr, &t.path);
    if (rc != 0) {
      ERROR(PLUGIN_NAME " plugin: option \"%s\" \"%s\" \"%s\": %s", ci->key,
            name, expr,
            rc == -ENOMEM ? "out of memory"
                          : "not an XPath 1.0 expression that libxml2 can "
                            "evaluate");
      return -1;
    }
  }
  c->timeby[c->ntimeby++] = t;
  return 0;
}

static const struct {
  const char *key;
  int (*handler)(const oconfig_item_t *ci, vi_config_t *c);
} options[] = {
    {"Connection", opt_connection},
    {"Domain", opt_domain},
    {"IgnoreSelected", opt_ignore_selected},
    {"HostnameFormat", opt_hostname_format},
    {"PluginInstanceFormat", opt_instance_format},
    {"UsedMemory", opt_used_memory},
    {"MemoryStatsPeriod", opt_stats_period},
    {"LifecycleEvents", opt_events},
    {"Notifications", opt_notifications},
    {"StateFile", opt_state_file},
    {"StateSaveInterval", opt_save_interval},
    {"ForgetAfter", opt_forget_after},
    {"TimeBy", opt_time_by},
};

static int apply(vi_config_t *c, const oconfig_item_t *ci) {
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(options); i++)
    if (strcasecmp(ci->key, options[i].key) == 0)
      return options[i].handler(ci, c);
  return config_error(ci, "unknown option");
}

int vi_config_read(vi_config_t *c, const oconfig_item_t *ci) {
  if (c->filter == NULL && (c->filter = domain_filter_create()) == NULL) {
    ERROR(PLUGIN_NAME " plugin: out of memory");
    return -1;
  }
  for (int i = 0; i < ci->children_num; i++)
    if (apply(c, &ci->children[i]) != 0)
      return -1;
  return 0;
}

int vi_config_complete(vi_config_t *c) {
  if (c->uri == NULL && (c->uri = strdup("qemu:///system")) == NULL)
    return -ENOMEM;
  if (c->filter == NULL && (c->filter = domain_filter_create()) == NULL)
    return -ENOMEM;
  if (c->state_file == NULL) {
    const char *base = global_option_get("BaseDir");
    char path[PATH_MAX];
    ssnprintf(path, sizeof(path), "%s/" PLUGIN_NAME ".state",
              base != NULL && base[0] != '\0' ? base : ".");
    if ((c->state_file = strdup(path)) == NULL)
      return -ENOMEM;
  }
  return 0;
}
