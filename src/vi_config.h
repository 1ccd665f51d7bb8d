/* vi_config.h: the plugin's configuration, one struct filled from
 * collectd's <Plugin virt_inspector> block by a table of {key, handler}
 * (vi_config.c) with collectd's cf_util_get_* helpers.
 *
 * Part of the glue (it includes collectd's headers). Every error is
 * logged with the key and the value (option "UsedMemory" "x": expected
 * ...) and makes collectd refuse the configuration. Defaults are those of
 * the README's configuration table.
 */
#ifndef VI_CONFIG_H
#define VI_CONFIG_H

#include "collectd.h"

#include "liboconfig/oconfig.h"

#include "attr_time.h"
#include "domain_filter.h"
#include "domain_xml.h"
#include "mem_stats.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum { VI_FORMAT_HOSTNAME, VI_FORMAT_NAME, VI_FORMAT_UUID } vi_format_t;

/* TimeBy: an attribute whose running time per value is kept. */
typedef enum {
  VI_TIMEBY_VCPUS,  /* TimeBy "vcpus": the current vCPU count */
  VI_TIMEBY_MEMORY, /* TimeBy "memory": the maximum memory, as a size */
  VI_TIMEBY_XPATH,  /* TimeBy "<name>" "<xpath>" */
} vi_timeby_kind_t;

/* Longest TimeBy name: [a-z0-9_], at most this many bytes, so that
 * "<name>=<value>" leaves a value at least 38 of collectd's 63 bytes. */
#define VI_TIMEBY_NAME_MAX 24

typedef struct {
  vi_timeby_kind_t kind;
  char name[VI_TIMEBY_NAME_MAX + 1];
  domain_xml_path_t *path; /* VI_TIMEBY_XPATH */
} vi_timeby_t;

typedef struct {
  char *uri;                   /* Connection */
  domain_filter_t *filter;     /* Domain, IgnoreSelected */
  vi_format_t host_format;     /* HostnameFormat */
  vi_format_t instance_format; /* PluginInstanceFormat */
  ms_formula_t formula;        /* UsedMemory */
  unsigned stats_period;       /* MemoryStatsPeriod, 0: never touch guests */
  bool events;                 /* LifecycleEvents */
  bool notifications;          /* Notifications */
  char *state_file;            /* StateFile ("": persistence off) */
  uint64_t save_interval_ms;   /* StateSaveInterval */
  uint64_t forget_after_ms;    /* ForgetAfter */
  vi_timeby_t timeby[AT_ATTRS_MAX]; /* TimeBy, in the order given */
  size_t ntimeby;
} vi_config_t;

/* Sets the defaults (no allocation). */
void vi_config_init(vi_config_t *c);
/* Applies a <Plugin> block's options. 0, or -1 after logging the error. */
int vi_config_read(vi_config_t *c, const oconfig_item_t *ci);
/* Fills what the block left unset and needs collectd or memory: the
 * default URI, the filter, the state file in collectd's BaseDir. 0 or
 * -ENOMEM. */
int vi_config_complete(vi_config_t *c);
/* Frees and sets the defaults again. */
void vi_config_free(vi_config_t *c);

#endif
