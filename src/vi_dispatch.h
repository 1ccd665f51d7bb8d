/* vi_dispatch.h: what the plugin hands to collectd: the value lists of a
 * domain (memory figures, state durations), the plugin's own health values
 * and the notification of a state transition, identified (host, plugin
 * instance) per HostnameFormat and PluginInstanceFormat. Glue: the only
 * part besides virt_inspector.c that includes collectd's headers. Prefix
 * vd_.
 */
#ifndef VI_DISPATCH_H
#define VI_DISPATCH_H

#include "mem_stats.h"
#include "state_tracker.h"
#include "vi_config.h"

#include <stdint.h>

/* The configuration the identifiers follow (kept, not copied). */
void vd_init(const vi_config_t *conf);

/* A domain's memory figures (those present). */
void vd_memory(const char *name, const char *uuid, const ms_figures_t *fig);
/* A domain's state durations, uptime and state. */
void vd_states(const st_view_t *v);
/* A domain's running seconds with one value of a TimeBy attribute:
 * duration-<attr>=<value mapped> (value NULL: the overflow entry,
 * duration-<attr>=~other). */
void vd_attribute(const char *name, const char *uuid, const char *attr,
                  const char *value, uint64_t total_ms);
/* The domains selected and the wall time of the last read (ns). */
void vd_health(int domains, uint64_t duration_ns);
/* The notification of a transition seen at when (a cdtime_t). */
void vd_transition(const char *name, const char *uuid, const st_result_t *r,
                   uint64_t when);

#endif
