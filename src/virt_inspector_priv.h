/* virt_inspector_priv.h: what the glue exports for its unit test only
 * (tests/check_glue.c). The plugin itself exports module_register alone. */
#ifndef VIRT_INSPECTOR_PRIV_H
#define VIRT_INSPECTOR_PRIV_H

#include "hypervisor.h"

#include <stdint.h>

/* The hypervisor the next init creates (default: hv_libvirt_ops). */
void vi_priv_set_hypervisor(const hv_ops_t *ops);
/* The clock (ms, monotonic; default CLOCK_BOOTTIME); NULL: the default. */
void vi_priv_set_clock(uint64_t (*now_ms)(void));

/* Where the process evidence is read (proc_evidence.h): a directory laid
 * out like /proc, used whatever the URI; NULL: /proc, for local QEMU URIs
 * only (the default). */
void vi_priv_set_proc_root(const char *root);

/* Waits until every queued notification has been dispatched. */
void vi_priv_flush_notifications(void);

#endif
