/* virt_inspector_priv.h: what the glue exports for its unit test only
 * (tests/check_glue.c). The plugin itself exports module_register alone. */
#ifndef VIRT_INSPECTOR_PRIV_H
#define VIRT_INSPECTOR_PRIV_H

#include "hypervisor.h"

#include <stdbool.h>
#include <stdint.h>

/* The hypervisor the next init creates (default: hv_libvirt_ops). */
void vi_priv_set_hypervisor(const hv_ops_t *ops);
/* The clock (ms, monotonic; default CLOCK_BOOTTIME); NULL: the default. */
void vi_priv_set_clock(uint64_t (*now_ms)(void));

/* Waits (up to timeout_ms) until the reader thread has no read cycle under
 * way: true if so. */
bool vi_priv_wait_idle(int timeout_ms);
/* After a shutdown that left the reader thread behind (a hung call) and
 * the call released: waits for that thread to exit and frees what it used,
 * so that the glue can be initialised again. */
void vi_priv_reap(void);

/* Where the process evidence is read (proc_evidence.h): a directory laid
 * out like /proc, used whatever the URI; NULL: /proc, for local QEMU URIs
 * only (the default). */
void vi_priv_set_proc_root(const char *root);

/* Waits until every queued notification has been dispatched. */
void vi_priv_flush_notifications(void);

#endif
