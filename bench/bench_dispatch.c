/* bench_dispatch: a trivial collectd read plugin for the benchmark. No
 * libvirt at all: at each read it dispatches, for each of N made-up domains,
 * the value lists virt_inspector dispatches for one domain (same types,
 * type instances, value counts and data-source types, plugin instances
 * "bench-00001" ...), then the health value lists. What collectd itself
 * costs for that many values is then measured on its own.
 *
 *   <Plugin bench_dispatch>
 *     Domains 1000
 *     Prefix "bench-"
 *     Value "memory" "available" "g"     # per domain; "-": no type instance
 *     Value "vmpage_io" "swap" "dd"      # one letter per value: g d c a
 *     Health "count" "domains" "g"       # once per read, no plugin instance
 *   </Plugin>
 *
 * The plugin name has as many characters as "virt_inspector", so the
 * network plugin's packets have the same size.
 */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"

#define PLUGIN_NAME "bench_dispatch"

typedef struct {
  char type[DATA_MAX_NAME_LEN];
  char type_instance[DATA_MAX_NAME_LEN];
  char ds[8]; /* one letter per value */
} shape_t;

static shape_t *per_domain, *health;
static size_t per_domain_num, health_num;
static int domains = 1;
static char prefix[64] = "bench-";
static uint64_t counter;

static int add_shape(oconfig_item_t *ci, shape_t **list, size_t *num) {
  if (ci->values_num != 3 || ci->values[0].type != OCONFIG_TYPE_STRING ||
      ci->values[1].type != OCONFIG_TYPE_STRING ||
      ci->values[2].type != OCONFIG_TYPE_STRING) {
    ERROR(PLUGIN_NAME " plugin: %s expects three strings", ci->key);
    return -1;
  }
  shape_t *l = realloc(*list, (*num + 1) * sizeof(*l));
  if (l == NULL)
    return -1;
  *list = l;
  shape_t *s = &l[*num];
  memset(s, 0, sizeof(*s));
  sstrncpy(s->type, ci->values[0].value.string, sizeof(s->type));
  if (strcmp(ci->values[1].value.string, "-") != 0)
    sstrncpy(s->type_instance, ci->values[1].value.string,
             sizeof(s->type_instance));
  sstrncpy(s->ds, ci->values[2].value.string, sizeof(s->ds));
  if (s->ds[0] == 0)
    return -1;
  (*num)++;
  return 0;
}

static int bd_config(oconfig_item_t *ci) {
  for (int i = 0; i < ci->children_num; i++) {
    oconfig_item_t *c = &ci->children[i];
    int rc = 0;
    if (strcasecmp(c->key, "Domains") == 0)
      rc = cf_util_get_int(c, &domains);
    else if (strcasecmp(c->key, "Prefix") == 0)
      rc = cf_util_get_string_buffer(c, prefix, sizeof(prefix));
    else if (strcasecmp(c->key, "Value") == 0)
      rc = add_shape(c, &per_domain, &per_domain_num);
    else if (strcasecmp(c->key, "Health") == 0)
      rc = add_shape(c, &health, &health_num);
    else {
      ERROR(PLUGIN_NAME " plugin: unknown option %s", c->key);
      rc = -1;
    }
    if (rc != 0)
      return -1;
  }
  return 0;
}

static void submit(const char *pi, const shape_t *s) {
  value_t values[8];
  size_t n = strlen(s->ds);
  for (size_t i = 0; i < n; i++) {
    switch (s->ds[i]) {
    case 'g':
      values[i].gauge = (gauge_t)(counter % 1000);
      break;
    case 'c':
      values[i].counter = (counter_t)counter;
      break;
    case 'a':
      values[i].absolute = (absolute_t)counter;
      break;
    default:
      values[i].derive = (derive_t)counter;
    }
  }
  value_list_t vl = VALUE_LIST_INIT;
  vl.values = values;
  vl.values_len = n;
  sstrncpy(vl.plugin, PLUGIN_NAME, sizeof(vl.plugin));
  if (pi != NULL)
    sstrncpy(vl.plugin_instance, pi, sizeof(vl.plugin_instance));
  sstrncpy(vl.type, s->type, sizeof(vl.type));
  sstrncpy(vl.type_instance, s->type_instance, sizeof(vl.type_instance));
  plugin_dispatch_values(&vl);
}

static int bd_read(void) {
  counter++;
  for (int d = 1; d <= domains; d++) {
    char pi[DATA_MAX_NAME_LEN];
    ssnprintf(pi, sizeof(pi), "%s%05d", prefix, d);
    for (size_t i = 0; i < per_domain_num; i++)
      submit(pi, &per_domain[i]);
  }
  for (size_t i = 0; i < health_num; i++)
    submit(NULL, &health[i]);
  return 0;
}

static int bd_shutdown(void) {
  sfree(per_domain);
  sfree(health);
  return 0;
}

void module_register(void) {
  plugin_register_complex_config(PLUGIN_NAME, bd_config);
  plugin_register_read(PLUGIN_NAME, bd_read);
  plugin_register_shutdown(PLUGIN_NAME, bd_shutdown);
}
