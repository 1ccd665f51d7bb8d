/* floor: the libvirt floor of a reader of memory + state figures. It makes
 * only the libvirt calls that data needs, and nothing else: per cycle one
 * virConnectGetAllDomainStats(STATE | BALLOON), then one
 * virDomainMemoryStats per active domain whose bulk record carries no
 * balloon statistics (only balloon.current/maximum), sequentially, on one
 * connection. No collectd, no values, no logging.
 *
 *   floor URI CYCLES INTERVAL_MS [EVENTS]
 *
 * With FLOOR_VCPUS=1 in the environment it also fetches each active
 * domain's vCPU count (TimeBy "vcpus"): the bulk call asks for VCPU too,
 * and a record without vcpu.current (the test driver) costs a
 * virDomainGetInfo, as in the plugin.
 *
 * CYCLES 0 runs until killed. A cycle starts every INTERVAL_MS (at once
 * when the previous one overran). After each cycle one line on stdout
 * (flushed):
 *
 *   index wall_seconds records memory_stats_calls
 *         self_ns self_ticks libvirtd_ns libvirtd_ticks
 *
 * with the cumulative CPU time of this process and of libvirtd (pid from
 * the environment variable LIBVIRTD_PID, 0 if unset) read at the end of the
 * cycle (see cpu.h).
 *
 * EVENTS (the lead "does the event loop cost the polling connection?"):
 *   none      no event loop (the floor proper; default)
 *   shared    libvirt's default event loop in a thread, lifecycle events
 *             registered on the polling connection (collectd's virt plugin)
 *   separate  event loop; polling connection and an event connection, both
 *             opened after the loop is registered (virt_inspector today)
 *   early     the polling connection is opened before the event loop is
 *             registered (it then has no watch in the loop, and no
 *             keepalive), the event connection after
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"

static void silent(void *u, virErrorPtr e) {
  (void)u;
  (void)e;
}

static int lifecycle_cb(virConnectPtr c, virDomainPtr d, int ev, int det,
                        void *op) {
  (void)c;
  (void)d;
  (void)ev;
  (void)det;
  (void)op;
  return 0;
}

static void *event_thread(void *arg) {
  (void)arg;
  for (;;)
    virEventRunDefaultImpl();
  return NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
  struct timespec ts = {.tv_sec = (time_t)t,
                        .tv_nsec = (long)((t - (double)(time_t)t) * 1e9)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
    ;
}

static virConnectPtr open_ro(const char *uri) {
  virConnectPtr c = virConnectOpenReadOnly(uri);
  if (c == NULL) {
    fprintf(stderr, "floor: cannot connect to %s: %s\n", uri,
            virGetLastErrorMessage());
    exit(1);
  }
  virConnSetErrorFunc(c, NULL, silent);
  return c;
}

static void start_events(void) {
  if (virEventRegisterDefaultImpl() != 0) {
    fprintf(stderr, "floor: virEventRegisterDefaultImpl failed\n");
    exit(1);
  }
  pthread_t t;
  pthread_create(&t, NULL, event_thread, NULL);
}

static void register_lifecycle(virConnectPtr c) {
  if (virConnectDomainEventRegisterAny(c, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                       VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb),
                                       NULL, NULL) < 0) {
    fprintf(stderr, "floor: event registration failed: %s\n",
            virGetLastErrorMessage());
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: floor URI CYCLES INTERVAL_MS [none|shared|"
                    "separate|early]\n");
    return 2;
  }
  const char *uri = argv[1];
  long cycles = atol(argv[2]);
  double interval = atof(argv[3]) / 1000.0;
  const char *events = argc > 4 ? argv[4] : "none";
  virSetErrorFunc(NULL, silent);
  const char *lv = getenv("LIBVIRTD_PID");
  int lv_pid = lv != NULL ? atoi(lv) : 0;
  int self = (int)getpid();
  const char *fv = getenv("FLOOR_VCPUS");
  bool vcpus = fv != NULL && strcmp(fv, "1") == 0;
  unsigned groups = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_BALLOON;
  if (vcpus)
    groups |= VIR_DOMAIN_STATS_VCPU;

  virConnectPtr conn = NULL;
  if (strcmp(events, "none") == 0) {
    conn = open_ro(uri);
  } else if (strcmp(events, "shared") == 0) {
    start_events();
    conn = open_ro(uri);
    register_lifecycle(conn);
  } else if (strcmp(events, "separate") == 0) {
    start_events();
    conn = open_ro(uri);
    register_lifecycle(open_ro(uri));
  } else if (strcmp(events, "early") == 0) {
    conn = open_ro(uri);
    start_events();
    register_lifecycle(open_ro(uri));
  } else {
    fprintf(stderr, "floor: unknown EVENTS %s\n", events);
    return 2;
  }

  double next = now_s();
  for (long c = 0; cycles == 0 || c < cycles; c++) {
    sleep_until(next);
    double t0 = now_s();
    virDomainStatsRecordPtr *recs = NULL;
    int n = virConnectGetAllDomainStats(conn, groups, &recs, 0);
    if (n < 0) {
      fprintf(stderr, "floor: virConnectGetAllDomainStats: %s\n",
              virGetLastErrorMessage());
      return 1;
    }
    int calls = 0;
    for (int i = 0; i < n; i++) {
      virDomainStatsRecordPtr r = recs[i];
      int state = -1;
      bool balloon = false, have_vcpus = false;
      for (int j = 0; j < r->nparams; j++) {
        const char *f = r->params[j].field;
        if (strcmp(f, "state.state") == 0)
          state = r->params[j].value.i;
        else if (strcmp(f, "vcpu.current") == 0)
          have_vcpus = true;
        else if (strncmp(f, "balloon.", 8) == 0 &&
                 strcmp(f, "balloon.current") != 0 &&
                 strcmp(f, "balloon.maximum") != 0)
          balloon = true;
      }
      if (state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_NOSTATE ||
          state < 0)
        continue;
      if (vcpus && !have_vcpus) {
        virDomainInfo info;
        virDomainGetInfo(r->dom, &info);
        calls++;
      }
      if (balloon)
        continue;
      virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
      virDomainMemoryStats(r->dom, st, VIR_DOMAIN_MEMORY_STAT_NR, 0);
      calls++;
    }
    virDomainStatsRecordListFree(recs);
    double t1 = now_s();
    unsigned long long lv_ns = lv_pid > 0 ? cpu_ns(lv_pid) : 0;
    unsigned long long lv_ticks = lv_pid > 0 ? cpu_ticks(lv_pid) : 0;
    printf("%ld %.6f %d %d %llu %llu %llu %llu\n", c, t1 - t0, n, calls,
           cpu_ns(self), cpu_ticks(self), lv_ns, lv_ticks);
    fflush(stdout);
    next += interval;
    if (next < t1)
      next = t1;
  }
  virConnectClose(conn);
  return 0;
}
