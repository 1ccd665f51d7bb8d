/* collectd_stub.c: see collectd_stub.h. */
#include "collectd_stub.h"

#include "configfile.h"
#include "utils/common/common.h"
#include "utils_complain.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_VALUES 4096
#define MAX_LOG 512
#define MAX_NOTIFICATIONS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static stub_value_t values[MAX_VALUES];
static size_t nvalues;
static struct {
  int level;
  char text[1024];
} logs[MAX_LOG];
static size_t nlogs;
static stub_notification_t notifications[MAX_NOTIFICATIONS];
static size_t nnotifications;

static int (*config_cb)(oconfig_item_t *);
static plugin_init_cb init_cb;
static int (*read_cb)(void);
static plugin_shutdown_cb shutdown_cb;
static const char *basedir;

char *hostname_g = "stubhost";

void stub_clear(void) {
  pthread_mutex_lock(&lock);
  nvalues = nlogs = nnotifications = 0;
  pthread_mutex_unlock(&lock);
}

void stub_clear_values(void) {
  pthread_mutex_lock(&lock);
  nvalues = 0;
  pthread_mutex_unlock(&lock);
}

/* ---- recording ---- */

int plugin_dispatch_values(value_list_t const *vl) {
  pthread_mutex_lock(&lock);
  if (nvalues < MAX_VALUES) {
    stub_value_t *v = &values[nvalues++];
    memset(v, 0, sizeof(*v));
    sstrncpy(v->host, vl->host, sizeof(v->host));
    sstrncpy(v->plugin, vl->plugin, sizeof(v->plugin));
    sstrncpy(v->plugin_instance, vl->plugin_instance,
             sizeof(v->plugin_instance));
    sstrncpy(v->type, vl->type, sizeof(v->type));
    sstrncpy(v->type_instance, vl->type_instance, sizeof(v->type_instance));
    v->values_len = vl->values_len < 2 ? vl->values_len : 2;
    memcpy(v->values, vl->values, v->values_len * sizeof(value_t));
  }
  pthread_mutex_unlock(&lock);
  return 0;
}

size_t stub_value_count(void) {
  pthread_mutex_lock(&lock);
  size_t n = nvalues;
  pthread_mutex_unlock(&lock);
  return n;
}

bool stub_value_at(size_t i, stub_value_t *out) {
  pthread_mutex_lock(&lock);
  bool ok = i < nvalues;
  if (ok)
    *out = values[i];
  pthread_mutex_unlock(&lock);
  return ok;
}

const stub_value_t *stub_value(const char *host, const char *plugin_instance,
                               const char *type, const char *type_instance) {
  const stub_value_t *found = NULL;
  pthread_mutex_lock(&lock);
  for (size_t i = nvalues; i-- > 0 && found == NULL;) {
    const stub_value_t *v = &values[i];
    if (strcmp(v->host, host) == 0 &&
        strcmp(v->plugin_instance, plugin_instance) == 0 &&
        strcmp(v->type, type) == 0 &&
        strcmp(v->type_instance, type_instance ? type_instance : "") == 0)
      found = v;
  }
  pthread_mutex_unlock(&lock);
  return found;
}

size_t stub_value_count_for(const char *plugin_instance) {
  size_t n = 0;
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < nvalues; i++)
    n += strcmp(values[i].plugin_instance, plugin_instance) == 0;
  pthread_mutex_unlock(&lock);
  return n;
}

static void (*notification_hook)(void);

void stub_set_notification_hook(void (*fn)(void)) { notification_hook = fn; }

int plugin_dispatch_notification(const notification_t *n) {
  if (notification_hook != NULL)
    notification_hook();
  pthread_mutex_lock(&lock);
  if (nnotifications < MAX_NOTIFICATIONS) {
    stub_notification_t *s = &notifications[nnotifications++];
    memset(s, 0, sizeof(*s));
    s->severity = n->severity;
    sstrncpy(s->host, n->host, sizeof(s->host));
    sstrncpy(s->plugin_instance, n->plugin_instance,
             sizeof(s->plugin_instance));
    sstrncpy(s->type, n->type, sizeof(s->type));
    sstrncpy(s->message, n->message, sizeof(s->message));
    for (notification_meta_t *m = n->meta; m != NULL && s->nmeta < 8;
         m = m->next) {
      char *dst = s->meta[s->nmeta][1];
      size_t size = sizeof(s->meta[0][1]);
      sstrncpy(s->meta[s->nmeta][0], m->name, sizeof(s->meta[0][0]));
      if (m->type == NM_TYPE_STRING)
        sstrncpy(dst, m->nm_value.nm_string, size);
      else if (m->type == NM_TYPE_SIGNED_INT)
        snprintf(dst, size, "%" PRIi64, m->nm_value.nm_signed_int);
      else if (m->type == NM_TYPE_DOUBLE)
        snprintf(dst, size, "%.3f", m->nm_value.nm_double);
      s->nmeta++;
    }
  }
  pthread_mutex_unlock(&lock);
  return 0;
}

size_t stub_notification_count(void) {
  pthread_mutex_lock(&lock);
  size_t n = nnotifications;
  pthread_mutex_unlock(&lock);
  return n;
}

const stub_notification_t *stub_notification(size_t i) {
  return i < stub_notification_count() ? &notifications[i] : NULL;
}

const char *stub_notification_meta(const stub_notification_t *n,
                                   const char *name) {
  for (int i = 0; i < n->nmeta; i++)
    if (strcmp(n->meta[i][0], name) == 0)
      return n->meta[i][1];
  return NULL;
}

static int meta_add(notification_t *n, const char *name,
                    notification_meta_t **ret) {
  notification_meta_t *m = calloc(1, sizeof(*m));
  if (m == NULL)
    return -1;
  sstrncpy(m->name, name, sizeof(m->name));
  notification_meta_t **tail = &n->meta;
  while (*tail != NULL)
    tail = &(*tail)->next;
  *tail = m;
  *ret = m;
  return 0;
}

int plugin_notification_meta_add_string(notification_t *n, const char *name,
                                        const char *value) {
  notification_meta_t *m;
  if (meta_add(n, name, &m) != 0 ||
      (m->nm_value.nm_string = strdup(value)) == NULL)
    return -1;
  m->type = NM_TYPE_STRING;
  return 0;
}

int plugin_notification_meta_add_signed_int(notification_t *n, const char *name,
                                            int64_t value) {
  notification_meta_t *m;
  if (meta_add(n, name, &m) != 0)
    return -1;
  m->type = NM_TYPE_SIGNED_INT;
  m->nm_value.nm_signed_int = value;
  return 0;
}

int plugin_notification_meta_add_double(notification_t *n, const char *name,
                                        double value) {
  notification_meta_t *m;
  if (meta_add(n, name, &m) != 0)
    return -1;
  m->type = NM_TYPE_DOUBLE;
  m->nm_value.nm_double = value;
  return 0;
}

int plugin_notification_meta_free(notification_meta_t *n) {
  while (n != NULL) {
    notification_meta_t *next = n->next;
    if (n->type == NM_TYPE_STRING)
      free((char *)n->nm_value.nm_string);
    free(n);
    n = next;
  }
  return 0;
}

static void vlog(int level, const char *format, va_list ap) {
  pthread_mutex_lock(&lock);
  if (nlogs < MAX_LOG) {
    logs[nlogs].level = level;
    vsnprintf(logs[nlogs].text, sizeof(logs[nlogs].text), format, ap);
    nlogs++;
  }
  pthread_mutex_unlock(&lock);
}

void plugin_log(int level, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  vlog(level, format, ap);
  va_end(ap);
}

int stub_log_count(int level, const char *text) {
  int n = 0;
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < nlogs; i++)
    if ((level < 0 || logs[i].level == level) &&
        strstr(logs[i].text, text) != NULL)
      n++;
  pthread_mutex_unlock(&lock);
  return n;
}

void stub_log_dump(void) {
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < nlogs; i++)
    fprintf(stderr, "  log[%d] %s\n", logs[i].level, logs[i].text);
  pthread_mutex_unlock(&lock);
}

/* ---- c_complain, as collectd's utils_complain.c ---- */

static void vcomplain(int level, c_complain_t *c, const char *format,
                      va_list ap) {
  cdtime_t now = cdtime();
  if (c->last + c->interval > now)
    return;
  c->last = now;
  if (c->interval < plugin_get_interval())
    c->interval = plugin_get_interval();
  else
    c->interval *= 2;
  vlog(level, format, ap);
}

void c_complain(int level, c_complain_t *c, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  vcomplain(level, c, format, ap);
  va_end(ap);
}

void c_complain_once(int level, c_complain_t *c, const char *format, ...) {
  if (c->complained_once)
    return;
  c->complained_once = true;
  va_list ap;
  va_start(ap, format);
  vcomplain(level, c, format, ap);
  va_end(ap);
}

void c_do_release(int level, c_complain_t *c, const char *format, ...) {
  if (c->interval == 0)
    return;
  c->interval = 0;
  c->complained_once = false;
  va_list ap;
  va_start(ap, format);
  vlog(level, format, ap);
  va_end(ap);
}

/* ---- registration ---- */

int plugin_register_complex_config(const char *type,
                                   int (*callback)(oconfig_item_t *)) {
  (void)type;
  config_cb = callback;
  return 0;
}
int plugin_register_init(const char *name, plugin_init_cb callback) {
  (void)name;
  init_cb = callback;
  return 0;
}
int plugin_register_read(const char *name, int (*callback)(void)) {
  (void)name;
  read_cb = callback;
  return 0;
}
int plugin_register_shutdown(const char *name, plugin_shutdown_cb callback) {
  (void)name;
  shutdown_cb = callback;
  return 0;
}

int stub_config(oconfig_item_t *ci) { return config_cb(ci); }
int stub_init(void) { return init_cb(); }
int stub_read(void) { return read_cb(); }
int stub_shutdown(void) { return shutdown_cb(); }

/* ---- the daemon's other helpers ---- */

cdtime_t cdtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return TIMESPEC_TO_CDTIME_T(&ts);
}

cdtime_t plugin_get_interval(void) { return TIME_T_TO_CDTIME_T(1); }

int plugin_thread_create(pthread_t *thread, void *(*start_routine)(void *),
                         void *arg, char const *name) {
  (void)name;
  return pthread_create(thread, NULL, start_routine, arg);
}

void stub_set_basedir(const char *dir) { basedir = dir; }
const char *global_option_get(const char *option) {
  return strcasecmp(option, "BaseDir") == 0 ? basedir : NULL;
}

char *sstrncpy(char *dest, const char *src, size_t n) {
  if (n == 0)
    return dest;
  size_t len = strnlen(src, n - 1);
  memcpy(dest, src, len);
  dest[len] = '\0';
  return dest;
}

int ssnprintf(char *str, size_t size, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(str, size, format, ap);
  va_end(ap);
  return n;
}

char *sstrerror(int errnum, char *buf, size_t buflen) {
  snprintf(buf, buflen, "%s", strerror(errnum));
  return buf;
}

/* ---- cf_util_get_*, as collectd's configfile.c (errors logged) ---- */

int cf_util_get_string(const oconfig_item_t *ci, char **ret_string) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING) {
    ERROR(
        "cf_util_get_string: The %s option requires exactly one string argument.",
        ci->key);
    return -1;
  }
  char *s = strdup(ci->values[0].value.string);
  if (s == NULL)
    return -1;
  free(*ret_string);
  *ret_string = s;
  return 0;
}

int cf_util_get_string_buffer(const oconfig_item_t *ci, char *buffer,
                              size_t buffer_size) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING) {
    ERROR(
        "cf_util_get_string_buffer: The %s option requires exactly one string argument.",
        ci->key);
    return -1;
  }
  sstrncpy(buffer, ci->values[0].value.string, buffer_size);
  return 0;
}

int cf_util_get_double(const oconfig_item_t *ci, double *ret_value) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER) {
    ERROR(
        "cf_util_get_double: The %s option requires exactly one numeric argument.",
        ci->key);
    return -1;
  }
  *ret_value = ci->values[0].value.number;
  return 0;
}

int cf_util_get_boolean(const oconfig_item_t *ci, bool *ret_bool) {
  if (ci->values_num != 1 || (ci->values[0].type != OCONFIG_TYPE_BOOLEAN &&
                              ci->values[0].type != OCONFIG_TYPE_STRING)) {
    ERROR(
        "cf_util_get_boolean: The %s option requires exactly one boolean argument.",
        ci->key);
    return -1;
  }
  if (ci->values[0].type == OCONFIG_TYPE_BOOLEAN) {
    *ret_bool = ci->values[0].value.boolean != 0;
    return 0;
  }
  const char *s = ci->values[0].value.string;
  /* The messages of collectd 5.12's (strings /usr/sbin/collectd). */
  WARNING("Using string value `%s' for boolean option `%s' is deprecated and "
          "will be removed in future releases. Use unquoted true or false "
          "instead.",
          s, ci->key);
  if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 ||
      strcasecmp(s, "on") == 0)
    *ret_bool = true;
  else if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 ||
           strcasecmp(s, "off") == 0)
    *ret_bool = false;
  else {
    ERROR("Cannot parse string value `%s' of the `%s' option as a boolean "
          "value.",
          s, ci->key);
    return -1;
  }
  return 0;
}

/* ---- config blocks ---- */

oconfig_item_t *stub_block_new(void) {
  oconfig_item_t *b = calloc(1, sizeof(*b));
  b->key = strdup("Plugin");
  return b;
}

static oconfig_value_t *add_child(oconfig_item_t *b, const char *key) {
  b->children = realloc(b->children,
                        (size_t)(b->children_num + 1) * sizeof(*b->children));
  oconfig_item_t *c = &b->children[b->children_num++];
  memset(c, 0, sizeof(*c));
  c->key = strdup(key);
  c->parent = b;
  c->values = calloc(1, sizeof(*c->values));
  c->values_num = 1;
  return c->values;
}

void stub_block_add_string(oconfig_item_t *b, const char *key,
                           const char *value) {
  oconfig_value_t *v = add_child(b, key);
  v->type = OCONFIG_TYPE_STRING;
  v->value.string = strdup(value);
}

void stub_block_add_strings(oconfig_item_t *b, const char *key,
                            const char *value1, const char *value2) {
  stub_block_add_string(b, key, value1);
  oconfig_item_t *c = &b->children[b->children_num - 1];
  c->values = realloc(c->values, 2 * sizeof(*c->values));
  c->values[1].type = OCONFIG_TYPE_STRING;
  c->values[1].value.string = strdup(value2);
  c->values_num = 2;
}

void stub_block_add_number(oconfig_item_t *b, const char *key, double value) {
  oconfig_value_t *v = add_child(b, key);
  v->type = OCONFIG_TYPE_NUMBER;
  v->value.number = value;
}

void stub_block_add_boolean(oconfig_item_t *b, const char *key, bool value) {
  oconfig_value_t *v = add_child(b, key);
  v->type = OCONFIG_TYPE_BOOLEAN;
  v->value.boolean = value;
}

void stub_block_free(oconfig_item_t *b) {
  if (b == NULL)
    return;
  for (int i = 0; i < b->children_num; i++) {
    oconfig_item_t *c = &b->children[i];
    for (int j = 0; j < c->values_num; j++)
      if (c->values[j].type == OCONFIG_TYPE_STRING)
        free(c->values[j].value.string);
    free(c->values);
    free(c->key);
  }
  free(b->children);
  free(b->key);
  free(b);
}
