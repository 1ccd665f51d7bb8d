/* domain_evidence.c: see domain_evidence.h. */
#include "domain_evidence.h"

#include <stdlib.h>

void de_read(de_cycle_t *c, de_domain_t *m, const char *uuid, int id,
             bool active, int state, st_evidence_t *ev) {
  *ev = (st_evidence_t){0};
  if (!active) {
    m->known = false;
    return;
  }
  if (!m->known || m->id != id) {
    if (c->scan_cycle != c->cycle) {
      de_cycle_free(c);
      c->scan_cycle = c->cycle;
      if (pe_scan(c->proc_root, &c->scan, &c->scan_n) != 0)
        c->scan_n = 0;
    }
    m->known = true;
    m->id = id;
    m->pid = 0;
    m->process = 0;
    if (pe_find(c->scan, c->scan_n, uuid, &m->pid) != 0 ||
        pe_identity(c->proc_root, m->pid, &m->process) != 0)
      m->pid = 0;
  }
  if (m->pid == 0)
    return;
  /* The process may have been replaced since: check it is the same. */
  uint64_t now_process;
  if (pe_identity(c->proc_root, m->pid, &now_process) != 0 ||
      now_process != m->process) {
    m->known = false;
    return;
  }
  ev->process = m->process;
  if (st_state_stops_vcpus(state) &&
      pe_vcpu_ns(c->proc_root, m->pid, &ev->cpu_ns) != 0)
    ev->cpu_ns = 0;
}

void de_cycle_free(de_cycle_t *c) {
  free(c->scan);
  c->scan = NULL;
  c->scan_n = 0;
}
