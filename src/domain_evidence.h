/* domain_evidence.h: the continuity evidence of a local QEMU domain at a
 * read (st_evidence_t): its QEMU process, looked up in /proc once per
 * libvirt id and rechecked at each read (a pid alone is reused), and the
 * vCPU time when its vCPUs should be stopped. A read cycle scans /proc at
 * most once, for the first domain that needs a lookup.
 *
 * Built on proc_evidence.h: file reads only, no collectd, no libvirt, no
 * logging. Prefix de_.
 */
#ifndef DOMAIN_EVIDENCE_H
#define DOMAIN_EVIDENCE_H

#include "proc_evidence.h"
#include "state_tracker.h"

#include <stdbool.h>
#include <stdint.h>

/* What one read cycle shares: the proc root and its /proc scan. */
typedef struct {
  const char *proc_root;
  unsigned cycle;      /* the caller's read-cycle counter */
  unsigned scan_cycle; /* cycle of scan */
  pe_process_t *scan;
  size_t scan_n;
} de_cycle_t;

/* What is remembered of one domain between reads (zero-initialised). */
typedef struct {
  bool known; /* process looked up for libvirt id `id` */
  int id;
  int pid;          /* 0: not found */
  uint64_t process; /* pe_identity of pid, 0: unknown */
} de_domain_t;

/* The evidence of a domain (uuid, libvirt id, active, state) in *ev;
 * zero where nothing is known (inactive, no process, gone). */
void de_read(de_cycle_t *c, de_domain_t *m, const char *uuid, int id,
             bool active, int state, st_evidence_t *ev);

/* Frees the scan (the cycle can be used again). */
void de_cycle_free(de_cycle_t *c);

#endif
