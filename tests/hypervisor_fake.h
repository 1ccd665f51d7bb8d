/* hypervisor_fake.h: a scriptable hypervisor (hv_ops_t) for unit tests of
 * the glue: no libvirt, no daemon.
 *
 * One world per process (the glue creates its hv through the ops): a set
 * of domains with states and memory stats, and faults to inject: refuse
 * connections, drop the connection (the next read fails with -ENOTCONN
 * and closes it, as libvirt's does), fail a call, a domain vanishing
 * mid-read, and HANG a call until hv_fake_release (so that a bound on a
 * hung hypervisor can be tested). Events are delivered by hv_fake_emit on
 * the caller's thread, standing in for the event thread. Thread-safe.
 */
#ifndef HYPERVISOR_FAKE_H
#define HYPERVISOR_FAKE_H

#include "hypervisor.h"

#include <stdbool.h>

extern const hv_ops_t hv_fake_ops;

typedef enum {
  HV_FAKE_CONNECT = 0,
  HV_FAKE_READ,
  HV_FAKE_BALLOON,
  HV_FAKE_SET_PERIOD,
  HV_FAKE_EVENTS_START,
  HV_FAKE_EVENTS_CONNECT,
  HV_FAKE_DESCRIBE,
  HV_FAKE_OP_COUNT
} hv_fake_op_t;

/* Empties the world and clears every fault and counter. */
void hv_fake_reset(void);

/* Adds a domain, or changes its name, id, state and reason. */
void hv_fake_domain(const char *uuid, const char *name, int id, int state,
                    int reason);
/* Its memory stats (reported while it is active). */
void hv_fake_mem(const char *uuid, const ms_raw_t *mem);
/* Its balloon device, as the domain XML would say. Default: a balloon
 * without a period, not gating (as libvirt's test driver). */
void hv_fake_balloon(const char *uuid, const domain_balloon_t *b);
/* Its live XML for domain_describe (copied; NULL: a minimal domain with
 * one vCPU and 1 GiB). */
void hv_fake_xml(const char *uuid, const char *xml);
/* Its current vCPU count, reported by read while want_vcpus is on (0:
 * not reported). */
void hv_fake_vcpus(const char *uuid, unsigned n);
/* Whether the glue asked for vCPU counts (want_vcpus). */
bool hv_fake_wants_vcpus(void);
/* The domain leaves the hypervisor. */
void hv_fake_remove(const char *uuid);
/* The domain vanishes during the next read, at the balloon (XML) call,
 * which then fails as libvirt's does for a domain gone. */
void hv_fake_vanish_at_balloon(const char *uuid);
/* The domain vanishes during the next read before it is visited (libvirt
 * skips it). */
void hv_fake_vanish_in_read(const char *uuid);

/* Connections are refused (connect and events_connect) while set. */
void hv_fake_refuse(bool refuse);
/* The polling connection drops: the next read fails with -ENOTCONN and
 * closes it; the event connection is lost too. */
void hv_fake_drop(void);
/* The next `times` calls of op fail with rc (-errno); times -1: all. */
void hv_fake_fail(hv_fake_op_t op, int rc, int times);
/* The next call of op blocks until hv_fake_release. */
void hv_fake_hang(hv_fake_op_t op);
/* Waits (up to timeout_ms) until a call is blocked in a hang: true if so. */
bool hv_fake_wait_hung(int timeout_ms);
void hv_fake_release(void);

/* Delivers a lifecycle event for a domain (its current name and id) if
 * events are started and connected: true if delivered. */
bool hv_fake_emit(const char *uuid, int state, int reason);

/* Delivers a change event (metadata, device) for a domain if events are
 * started and connected and the glue asked for them: true if delivered. */
bool hv_fake_emit_change(const char *uuid);

/* Calls of op so far. */
int hv_fake_calls(hv_fake_op_t op);
/* The stats period last set on the domain (0: none). */
unsigned hv_fake_period(const char *uuid);
/* Whether the polling connection is open. */
bool hv_fake_connected(void);

#endif
