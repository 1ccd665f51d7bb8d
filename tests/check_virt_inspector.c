/* Unit tests of the glue (virt_inspector.c + vi_config.c) in process: the
 * plugin's registered callbacks driven as collectd would, against the
 * scriptable fake hypervisor (hypervisor_fake.c) and a stand-in for
 * collectd's symbols (collectd_stub.c), on a fake clock. Checked: the
 * values and identifiers dispatched, notifications, log lines (one per
 * cause, not per interval), reconnection after the connection drops, a
 * domain vanishing mid-read, the stats period, the state file across a
 * restart, config errors, and a hung hypervisor call: collectd's read
 * and shutdown bounded, the state saved, values resuming. */
#include "collectd_stub.h"
#include "hypervisor_fake.h"
#include "virt_inspector_priv.h"

#include "attr_time.h"

#include "check_run.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define U1 "11111111-1111-1111-1111-111111111111"
#define U2 "22222222-2222-2222-2222-222222222222"
#define U3 "33333333-3333-3333-3333-333333333333"
#define KIB 1024.0

static uint64_t clock_ms;
static uint64_t fake_clock(void) {
  return __atomic_load_n(&clock_ms, __ATOMIC_SEQ_CST);
}

static char dir[64];
static char state_file[128];

void module_register(void);

static double gauge(const char *pi, const char *type, const char *ti) {
  const stub_value_t *v = stub_value("", pi, type, ti);
  ck_assert_msg(v != NULL, "no %s/%s-%s dispatched", pi, type, ti ? ti : "");
  return v->values[0].gauge;
}

static bool dispatched(const char *pi, const char *type, const char *ti) {
  return stub_value("", pi, type, ti) != NULL;
}

static ms_raw_t guest_mem(uint64_t last_update) {
  ms_raw_t m = {0};
  ms_raw_set(&m, MS_AVAILABLE, 2000);
  ms_raw_set(&m, MS_UNUSED, 500);
  ms_raw_set(&m, MS_USABLE, 800);
  ms_raw_set(&m, MS_ACTUAL, 2048);
  ms_raw_set(&m, MS_RSS, 300);
  ms_raw_set(&m, MS_LAST_UPDATE, last_update);
  return m;
}

/* A running domain with guest statistics and a balloon. */
static void add_guest(const char *uuid, const char *name, int id,
                      uint64_t last_update, domain_balloon_t balloon) {
  hv_fake_domain(uuid, name, id, HV_RUNNING, 1);
  ms_raw_t m = guest_mem(last_update);
  hv_fake_mem(uuid, &m);
  hv_fake_balloon(uuid, &balloon);
}

#define QEMU_P0 ((domain_balloon_t){true, 0, true})
#define QEMU_P10 ((domain_balloon_t){true, 10, true})

/* Registers, configures (the defaults plus extra options) and inits. */
static void start(void (*extra)(oconfig_item_t *b)) {
  module_register();
  oconfig_item_t *b = stub_block_new();
  stub_block_add_string(b, "Connection", "fake:///");
  stub_block_add_string(b, "StateFile", state_file);
  if (extra != NULL)
    extra(b);
  ck_assert_int_eq(stub_config(b), 0);
  stub_block_free(b);
  ck_assert_int_eq(stub_init(), 0);
}

/* One read at the current fake time, then the clock moves on 1 s. */
static void read_once(void) {
  ck_assert_int_eq(stub_read(), 0);
  clock_ms += 1000;
}

static void setup(void) {
  hv_fake_reset();
  stub_clear();
  vi_priv_set_hypervisor(&hv_fake_ops);
  vi_priv_set_clock(fake_clock);
  clock_ms = 1000000;
  snprintf(dir, sizeof(dir), "/tmp/check_vi.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(state_file, sizeof(state_file), "%s/state", dir);
  stub_set_basedir(dir);
}

static void teardown(void) {
  char path[160];
  unlink(state_file);
  snprintf(path, sizeof(path), "%s.tmp", state_file);
  unlink(path);
  snprintf(path, sizeof(path), "%s.corrupt", state_file);
  unlink(path);
  rmdir(dir);
}

/* ---- a read end to end: values and identifiers ---- */

START_TEST(test_read_dispatches) {
  add_guest(U1, "web1", 7, 100, QEMU_P10);
  hv_fake_domain(U2, "my vm/2", -1, HV_SHUTOFF, 1);
  start(NULL);

  read_once();
  ck_assert_double_eq(gauge("web1", "memory", "used"), 1500 * KIB);
  ck_assert_double_eq_tol(gauge("web1", "percent", "used"), 75.0, 1e-9);
  ck_assert_double_eq(gauge("web1", "memory", "available"), 2000 * KIB);
  ck_assert_double_eq(gauge("web1", "memory", "unused"), 500 * KIB);
  ck_assert_double_eq(gauge("web1", "memory", "usable"), 800 * KIB);
  ck_assert_double_eq(gauge("web1", "memory", "actual_balloon"), 2048 * KIB);
  ck_assert_double_eq(gauge("web1", "memory", "rss"), 300 * KIB);
  ck_assert(!dispatched("web1", "memory", "disk_caches")); /* not reported */
  /* Every state has a series from the first read, 0 if never entered, so
   * that value(t2) - value(t1) exists for a state first entered after t1. */
  static const char *const states[] = {"nostate", "running",    "blocked",
                                       "paused",  "shutdown",   "shutoff",
                                       "crashed", "pmsuspended"};
  for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
    ck_assert_double_eq(gauge("web1", "duration", states[i]), 0.0);
    ck_assert_double_eq(gauge("my%20vm%2F2", "duration", states[i]), 0.0);
  }
  ck_assert_double_eq(gauge("web1", "duration", "total"), 0.0);
  ck_assert_double_eq(gauge("web1", "uptime", NULL), 0.0);
  ck_assert_double_eq(gauge("web1", "duration", "current_state"), 0.0);
  const stub_value_t *ds = stub_value("", "web1", "domain_state", NULL);
  ck_assert_ptr_nonnull(ds);
  ck_assert_uint_eq(ds->values_len, 2);
  ck_assert_double_eq(ds->values[0].gauge, HV_RUNNING);
  ck_assert_double_eq(ds->values[1].gauge, 1);
  ck_assert_str_eq(ds->plugin, "virt_inspector");
  /* The name mapped for the identifier; shut off: durations, no memory. */
  ck_assert_double_eq(gauge("my%20vm%2F2", "duration", "shutoff"), 0.0);
  ck_assert(!dispatched("my%20vm%2F2", "memory", "rss"));
  ck_assert_double_eq(gauge("", "count", "domains"), 2);
  ck_assert(dispatched("", "duration", "read"));

  /* 2.5 s later: the totals moved by exactly that (one read's view). */
  clock_ms += 1500;
  read_once();
  ck_assert_double_eq_tol(gauge("web1", "duration", "running"), 2.5, 1e-9);
  ck_assert_double_eq_tol(gauge("web1", "uptime", NULL), 2.5, 1e-9);
  ck_assert_double_eq_tol(gauge("web1", "duration", "current_state"), 2.5,
                          1e-9);
  ck_assert_double_eq_tol(gauge("my%20vm%2F2", "duration", "total"), 2.5, 1e-9);
  ck_assert_double_eq(gauge("my%20vm%2F2", "uptime", NULL), 0.0); /* off */
  ck_assert_int_eq(stub_log_count(LOG_INFO, "connected to \"fake:///\""), 1);
  stub_shutdown();
}
END_TEST

/* A domain's value lists go out together, its memory values first, as in
 * the benchmark's limit (collectd's write threads then find its cache
 * entries together: bench/README.md). */
START_TEST(test_values_grouped_by_domain) {
  add_guest(U1, "web1", 7, 100, QEMU_P10);
  add_guest(U2, "web2", 8, 100, QEMU_P10);
  add_guest(U3, "web3", 9, 100, QEMU_P10);
  start(NULL);
  read_once();
  stub_clear_values();
  clock_ms += 1000;
  read_once();
  char last[DATA_MAX_NAME_LEN] = "";
  int groups = 0;
  bool states_seen = false;
  stub_value_t v;
  for (size_t i = 0; stub_value_at(i, &v); i++) {
    if (v.plugin_instance[0] == 0)
      continue; /* the plugin's own health values */
    if (strcmp(v.plugin_instance, last) != 0) {
      groups++;
      snprintf(last, sizeof(last), "%s", v.plugin_instance);
      states_seen = false;
    }
    bool memory = strcmp(v.type, "memory") == 0 ||
                  strcmp(v.type, "percent") == 0 ||
                  strncmp(v.type, "vmpage_", 7) == 0;
    ck_assert_msg(!(memory && states_seen), "%s: %s after its states",
                  v.plugin_instance, v.type);
    states_seen = states_seen || !memory;
  }
  ck_assert_int_eq(groups, 3); /* one run of value lists per domain */
  ck_assert(dispatched("web3", "memory", "used"));
  stub_shutdown();
}
END_TEST

static void uuid_formats(oconfig_item_t *b) {
  stub_block_add_string(b, "HostnameFormat", "name");
  stub_block_add_string(b, "PluginInstanceFormat", "uuid");
  stub_block_add_string(b, "UsedMemory", "usable");
  stub_block_add_string(b, "Domain", "web1");
}

START_TEST(test_formats_and_filter) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  ms_raw_t m = guest_mem(100);
  hv_fake_mem(U1, &m);
  hv_fake_domain(U2, "other", 8, HV_RUNNING, 1);
  start(uuid_formats);
  read_once();
  const stub_value_t *v = stub_value("web1", U1, "memory", "used");
  ck_assert_ptr_nonnull(v);
  ck_assert_double_eq(v->values[0].gauge, 1200 * KIB); /* available-usable */
  ck_assert_uint_eq(stub_value_count_for(U2), 0);      /* not selected */
  ck_assert_double_eq(gauge("", "count", "domains"), 1);
  stub_shutdown();
}
END_TEST

/* ---- log lines: one per cause, not per interval ---- */

START_TEST(test_logs_once_per_cause) {
  /* Frozen at boot (QEMU, stats period 0) and no balloon at all. */
  add_guest(U1, "frozen", 3, 100, QEMU_P0);
  hv_fake_domain(U2, "noballoon", 4, HV_RUNNING, 1);
  ms_raw_t host = {0};
  ms_raw_set(&host, MS_RSS, 100);
  hv_fake_mem(U2, &host);
  hv_fake_balloon(U2, &(domain_balloon_t){false, 0, true});
  start(NULL);
  for (int i = 0; i < 5; i++)
    read_once();
  ck_assert_int_eq(
      stub_log_count(LOG_INFO, "domain \"frozen\": balloon stats period is 0"),
      1);
  ck_assert_int_eq(
      stub_log_count(LOG_INFO, "domain \"noballoon\": no balloon device"), 1);
  ck_assert(!dispatched("frozen", "memory", "used"));
  ck_assert(!dispatched("frozen", "memory", "available"));
  ck_assert(dispatched("frozen", "memory", "rss"));
  ck_assert(dispatched("noballoon", "memory", "rss"));
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_BALLOON), 2); /* once per boot */

  /* The guest starts reporting: one line says so. */
  hv_fake_balloon(U1, &(domain_balloon_t){true, 10, true});
  hv_fake_domain(U1, "frozen", 9, HV_RUNNING, 1); /* restarted */
  stub_clear();
  read_once();
  read_once();
  ck_assert_int_eq(
      stub_log_count(LOG_INFO,
                     "domain \"frozen\": memory-used is reported again"),
      1);
  ck_assert(dispatched("frozen", "memory", "used"));
  stub_shutdown();
}
END_TEST

/* ---- MemoryStatsPeriod ---- */

static void period_10(oconfig_item_t *b) {
  stub_block_add_number(b, "MemoryStatsPeriod", 10);
}

START_TEST(test_stats_period_set_once) {
  add_guest(U1, "g", 3, 100, QEMU_P0);
  start(period_10);
  read_once();
  read_once();
  ck_assert_uint_eq(hv_fake_period(U1), 10);
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_SET_PERIOD), 1);
  ck_assert_int_eq(
      stub_log_count(LOG_INFO,
                     "balloon stats period was 0, set to 10 s (live)"),
      1);
  ck_assert(!dispatched("g", "memory", "used")); /* the old sample */
  ms_raw_t m = guest_mem(110);                   /* the first fresh sample */
  hv_fake_mem(U1, &m);
  read_once();
  ck_assert(dispatched("g", "memory", "used"));
  stub_shutdown();
}
END_TEST

START_TEST(test_stats_period_failure_logged_once) {
  add_guest(U1, "g", 3, 100, QEMU_P0);
  hv_fake_fail(HV_FAKE_SET_PERIOD, -EIO, -1);
  start(period_10);
  for (int i = 0; i < 3; i++)
    read_once();
  ck_assert_int_eq(
      stub_log_count(
          LOG_WARNING,
          "setting the balloon stats period to 10 s failed: virDomainSetMemoryStatsPeriod"),
      1);
  stub_shutdown();
}
END_TEST

/* ---- notifications ---- */

START_TEST(test_notifications) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(NULL);
  read_once(); /* starts events, first sight: no notification */
  ck_assert_uint_eq(stub_notification_count(), 0);
  clock_ms += 1000; /* 2 s in running */
  ck_assert(hv_fake_emit(U1, HV_PAUSED, 1));
  clock_ms += 500;
  ck_assert(hv_fake_emit(U1, HV_RUNNING, 3));
  ck_assert(hv_fake_emit(U1, HV_SHUTOFF, HV_SHUTOFF_CRASHED));
  vi_priv_flush_notifications();
  ck_assert_uint_eq(stub_notification_count(), 3);

  const stub_notification_t *n = stub_notification(0);
  ck_assert_int_eq(n->severity, NOTIF_WARNING);
  ck_assert_str_eq(n->host, "stubhost");
  ck_assert_str_eq(n->plugin_instance, "web1");
  ck_assert_str_eq(n->type, "domain_state");
  ck_assert_str_eq(
      n->message,
      "Domain \"web1\" changed from running to paused (reason 1) after 2.000 s in running");
  ck_assert_str_eq(stub_notification_meta(n, "domain"), "web1");
  ck_assert_str_eq(stub_notification_meta(n, "uuid"), U1);
  ck_assert_str_eq(stub_notification_meta(n, "old_state"), "running");
  ck_assert_str_eq(stub_notification_meta(n, "new_state"), "paused");
  ck_assert_str_eq(stub_notification_meta(n, "reason"), "1");
  ck_assert_str_eq(stub_notification_meta(n, "seconds_in_old_state"), "2.000");
  ck_assert_int_eq(stub_notification(1)->severity, NOTIF_OKAY);
  ck_assert_int_eq(stub_notification(2)->severity, NOTIF_FAILURE);

  /* The event times, to the millisecond, reach the values. */
  read_once();
  ck_assert_double_eq_tol(gauge("web1", "duration", "running"), 2.0, 1e-9);
  ck_assert_double_eq_tol(gauge("web1", "duration", "paused"), 0.5, 1e-9);
  stub_shutdown();
}
END_TEST

/* A notification plugin that takes long: blocks until released (or 2 s,
 * and then the clock has moved on 5 s, as it would while it blocked). */
static int slow_released;

static void slow_plugin(void) {
  for (int i = 0; i < 200; i++) {
    if (__atomic_load_n(&slow_released, __ATOMIC_SEQ_CST))
      return;
    usleep(10000);
  }
  __atomic_add_fetch(&clock_ms, 5000, __ATOMIC_SEQ_CST);
}

START_TEST(test_slow_notification_plugin) {
  /* The event thread takes each event's time at once: a slow notification
   * plugin (dispatched by another thread) does not delay it. */
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(NULL);
  read_once();
  slow_released = 0;
  stub_set_notification_hook(slow_plugin);
  ck_assert(hv_fake_emit(U1, HV_PAUSED, 1));  /* its notification blocks */
  ck_assert(hv_fake_emit(U1, HV_RUNNING, 3)); /* at once: paused 0 s */
  __atomic_store_n(&slow_released, 1, __ATOMIC_SEQ_CST);
  vi_priv_flush_notifications();
  stub_set_notification_hook(NULL);
  ck_assert_uint_eq(stub_notification_count(), 2);
  ck_assert_str_eq(stub_notification_meta(stub_notification(0), "new_state"),
                   "paused");
  ck_assert_str_eq(stub_notification_meta(stub_notification(1), "new_state"),
                   "running");
  read_once();
  ck_assert_double_eq_tol(gauge("web1", "duration", "paused"), 0.0, 1e-9);
  stub_shutdown();
}
END_TEST

static void no_notifications(oconfig_item_t *b) {
  stub_block_add_boolean(b, "Notifications", false);
}

START_TEST(test_uptime_and_current_state) {
  /* A pause does not restart the uptime; the time in the current state
   * counts from each transition; a crash makes the uptime 0 and a start
   * counts it from 0 again. Each from the event times, to the ms (a read
   * moves the clock 1 s on). */
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(NULL);
  read_once();
  clock_ms += 1000;
  ck_assert(hv_fake_emit(U1, HV_PAUSED, 1));
  clock_ms += 2000;
  read_once();
  ck_assert_double_eq_tol(gauge("web1", "uptime", NULL), 4.0, 1e-9);
  ck_assert_double_eq_tol(gauge("web1", "duration", "current_state"), 2.0,
                          1e-9);
  ck_assert(hv_fake_emit(U1, HV_RUNNING, 5));
  clock_ms += 500;
  read_once();
  ck_assert_double_eq_tol(gauge("web1", "uptime", NULL), 5.5, 1e-9);
  ck_assert_double_eq_tol(gauge("web1", "duration", "current_state"), 0.5,
                          1e-9);
  hv_fake_domain(U1, "web1", -1, HV_SHUTOFF, HV_SHUTOFF_CRASHED);
  ck_assert(hv_fake_emit(U1, HV_SHUTOFF, HV_SHUTOFF_CRASHED));
  clock_ms += 1000;
  read_once();
  ck_assert_double_eq(gauge("web1", "uptime", NULL), 0.0);
  ck_assert_double_eq_tol(gauge("web1", "duration", "current_state"), 1.0,
                          1e-9);
  hv_fake_domain(U1, "web1", 8, HV_RUNNING, 1);
  ck_assert(hv_fake_emit(U1, HV_RUNNING, 1));
  clock_ms += 1000;
  read_once();
  ck_assert_double_eq_tol(gauge("web1", "uptime", NULL), 1.0, 1e-9);
  ck_assert_double_eq_tol(gauge("web1", "duration", "current_state"), 1.0,
                          1e-9);
  stub_shutdown();
}
END_TEST

START_TEST(test_notifications_off_poll_timed) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(no_notifications);
  read_once();
  hv_fake_domain(U1, "web1", 7, HV_PAUSED, 1); /* no event: seen by poll */
  read_once();
  ck_assert_uint_eq(stub_notification_count(), 0);
  ck_assert_double_eq_tol(gauge("web1", "duration", "running"), 1.0, 1e-9);
  ck_assert_double_eq_tol(gauge("web1", "duration", "paused"), 0.0, 1e-9);
  stub_shutdown();
}
END_TEST

/* ---- connection: lost, refused, back ---- */

START_TEST(test_reconnect) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(NULL);
  read_once();
  ck_assert(hv_fake_connected());

  hv_fake_drop();
  hv_fake_refuse(true);
  for (int i = 0; i < 4; i++)
    read_once();
  ck_assert_int_eq(stub_log_count(LOG_ERR, "connection to \"fake:///\" lost"),
                   1);
  ck_assert_int_eq(stub_log_count(LOG_ERR, "cannot connect"), 0);
  ck_assert_int_eq(stub_log_count(-1, "re-established"), 0);
  /* Durations are still dispatched from the tracker while down. */
  ck_assert(dispatched("web1", "duration", "running"));
  ck_assert_double_eq(gauge("", "count", "domains"), 0);

  hv_fake_refuse(false);
  stub_clear();
  read_once();
  read_once();
  ck_assert_int_eq(
      stub_log_count(LOG_INFO, "connection to \"fake:///\" re-established"), 1);
  ck_assert_int_eq(stub_log_count(LOG_INFO, "lifecycle events available again"),
                   1);
  ck_assert_double_eq(gauge("", "count", "domains"), 1);
  ck_assert(hv_fake_connected());
  stub_shutdown();
}
END_TEST

START_TEST(test_refused_from_the_start) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  hv_fake_refuse(true);
  start(NULL);
  for (int i = 0; i < 3; i++)
    read_once();
  ck_assert_int_eq(
      stub_log_count(LOG_ERR, "cannot connect to \"fake:///\": virConnectOpen"),
      1);
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_CONNECT), 3); /* every interval */
  hv_fake_refuse(false);
  read_once();
  ck_assert_int_eq(stub_log_count(LOG_INFO, "re-established"), 1);
  ck_assert(dispatched("web1", "duration", "running"));
  stub_shutdown();
}
END_TEST

START_TEST(test_read_failure_logged_once) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(NULL);
  hv_fake_fail(HV_FAKE_READ, -EIO, 3);
  for (int i = 0; i < 4; i++)
    read_once();
  ck_assert_int_eq(stub_log_count(LOG_WARNING, "reading domains failed"), 1);
  ck_assert_int_eq(stub_log_count(LOG_INFO, "reading domains works again"), 1);
  stub_shutdown();
}
END_TEST

/* ---- a domain vanishing mid-read ---- */

START_TEST(test_domain_vanishes_mid_read) {
  hv_fake_domain(U1, "stays", 7, HV_RUNNING, 1);
  hv_fake_domain(U2, "goes", 8, HV_RUNNING, 1);
  ms_raw_t m = guest_mem(100);
  hv_fake_mem(U1, &m);
  hv_fake_mem(U2, &m);
  hv_fake_vanish_at_balloon(U2); /* gone between the bulk call and the XML */
  start(NULL);
  read_once();
  ck_assert(dispatched("stays", "memory", "used"));
  ck_assert_int_eq(
      stub_log_count(LOG_INFO,
                     "domain \"goes\": virDomainGetXMLDesc: Domain not found"),
      1);
  ck_assert_int_eq(stub_log_count(LOG_ERR, ""), 0);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, ""), 0);

  stub_clear();
  read_once(); /* seen gone: its final totals, once, and no memory */
  ck_assert(dispatched("goes", "duration", "running"));
  ck_assert(!dispatched("goes", "memory", "rss"));
  ck_assert(dispatched("stays", "duration", "running"));
  stub_clear();
  read_once(); /* gone: no longer dispatched */
  ck_assert_uint_eq(stub_value_count_for("goes"), 0);
  ck_assert(dispatched("stays", "duration", "running"));

  hv_fake_vanish_in_read(U1); /* gone during the bulk call: skipped */
  read_once();                /* its final totals */
  stub_clear();
  read_once();
  ck_assert_uint_eq(stub_value_count_for("stays"), 0);
  ck_assert_double_eq(gauge("", "count", "domains"), 0);
  stub_shutdown();
}
END_TEST

/* ---- same name, new UUID ---- */

START_TEST(test_same_name_new_uuid) {
  /* undefine + define between two reads: the new UUID takes the name (and,
   * with PluginInstanceFormat name, the identifier): one INFO line, and the
   * old domain's final totals are not dispatched under the identifier that
   * is now the new one's. */
  hv_fake_domain(U1, "web1", -1, HV_SHUTOFF, 1);
  start(NULL);
  read_once();
  clock_ms += 14000;
  read_once();
  ck_assert_double_eq_tol(gauge("web1", "duration", "shutoff"), 15.0, 1e-9);
  hv_fake_remove(U1);
  hv_fake_domain(U2, "web1", -1, HV_SHUTOFF, 1);
  stub_clear();
  read_once();
  ck_assert_int_eq(stub_log_count(LOG_INFO, "domain \"web1\" has a new UUID " U2
                                            " (was " U1),
                   1);
  /* one domain's: 8 duration-<state>, duration-total, uptime,
   * duration-current_state, domain_state */
  ck_assert_uint_eq(stub_value_count_for("web1"), 12);
  ck_assert_double_eq_tol(gauge("web1", "duration", "shutoff"), 0.0, 1e-9);
  stub_clear();
  read_once();
  ck_assert_double_eq_tol(gauge("web1", "duration", "shutoff"), 1.0, 1e-9);
  ck_assert_int_eq(stub_log_count(LOG_INFO, "has a new UUID"), 0);
  stub_shutdown();
}
END_TEST

/* ---- the state file across a restart ---- */

/* A fake /proc under dir: pid 4242 runs U1 ("-uuid U1" on its command
 * line), started at `start` ticks, one vCPU thread with `vcpu` ticks. */
static void fake_proc(unsigned long start_ticks, unsigned long vcpu) {
  char p[256], cmd[512];
  snprintf(cmd, sizeof(cmd), "mkdir -p %s/proc/4242/task/4243", dir);
  ck_assert_int_eq(system(cmd), 0);
  snprintf(p, sizeof(p), "%s/proc/4242/cmdline", dir);
  FILE *f = fopen(p, "w");
  ck_assert_ptr_nonnull(f);
  fwrite("qemu-system-x86_64\0-uuid\0" U1 "\0", 1,
         sizeof("qemu-system-x86_64\0-uuid\0" U1), f);
  fclose(f);
  snprintf(p, sizeof(p), "%s/proc/4242/stat", dir);
  f = fopen(p, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f,
          "4242 (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 5 5 0 0 20 0 3 0 "
          "%lu 1000 100\n",
          start_ticks);
  fclose(f);
  snprintf(p, sizeof(p), "%s/proc/4242/task/4243/stat", dir);
  f = fopen(p, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f,
          "4243 (CPU 0/KVM) S 1 1 1 0 -1 0 0 0 0 0 %lu 0 0 0 20 0 3 0 "
          "%lu 1000 100\n",
          vcpu, start_ticks);
  fclose(f);
  snprintf(p, sizeof(p), "%s/proc", dir);
  vi_priv_set_proc_root(p);
}

static void clear_proc(void) {
  char cmd[256];
  snprintf(cmd, sizeof(cmd), "rm -rf %s/proc", dir);
  ck_assert_int_eq(system(cmd), 0);
  vi_priv_set_proc_root(NULL);
}

/* web1 (U1, id 7) runs 5 s, collectd is down 2 s, comes back in `state`
 * with the process evidence of fake_proc(start2, vcpu2) (start2 0: no
 * process found). */
typedef struct {
  const char *title;
  int state1, state2;
  unsigned long start2, vcpu2;
  const char *log; /* the INFO line's tail */
  const char *total_state;
  double total;
} restart_case_t;

static const restart_case_t restart_cases[] = {
    {"same process: credited", HV_RUNNING, HV_RUNNING, 500, 10,
     "credited to running (same libvirt id, state and process)", "running",
     8.0},
    {"no process (not a local QEMU domain): not credited", HV_RUNNING,
     HV_RUNNING, 0, 0,
     "credited to no state: continuity is not proven (nothing proves",
     "running", 6.0},
    {"another process with the same id: not credited", HV_RUNNING, HV_RUNNING,
     900, 10, "continuity is not proven (another process", "running", 6.0},
    {"paused, vCPU time still: credited", HV_PAUSED, HV_PAUSED, 500, 10,
     "credited to paused", "paused", 8.0},
    {"paused, vCPU time moved (resumed and paused): not credited", HV_PAUSED,
     HV_PAUSED, 500, 11, "its vCPU time moved", "paused", 6.0},
};

START_TEST(test_state_kept_across_restart) {
  const restart_case_t *c = &restart_cases[_i];
  hv_fake_domain(U1, "web1", 7, c->state1, 1);
  fake_proc(500, 10);
  start(NULL);
  read_once();
  clock_ms += 4000;
  read_once();     /* 5 s */
  stub_shutdown(); /* saves */
  ck_assert_int_eq(access(state_file, F_OK), 0);

  stub_clear();
  clear_proc();
  if (c->start2 != 0)
    fake_proc(c->start2, c->vcpu2);
  clock_ms += 2000; /* collectd down 2 s; same libvirt id and state */
  hv_fake_domain(U1, "web1", 7, c->state2, 1);
  start(NULL);
  ck_assert_int_eq(stub_log_count(LOG_INFO, "restored 1 domain(s)"), 1);
  read_once();
  if (stub_log_count(LOG_INFO, c->log) != 1)
    stub_log_dump();
  ck_assert_msg(stub_log_count(LOG_INFO, c->log) == 1,
                "%s: no INFO line \"%s\"", c->title, c->log);
  ck_assert_msg(stub_log_count(LOG_INFO, "since the last save are credited") ==
                    1,
                "%s", c->title);
  double got = gauge("web1", "duration", c->total_state);
  ck_assert_msg(got > c->total - 1e-9 && got < c->total + 1e-9, "%s: %g",
                c->title, got);
  stub_shutdown();
  clear_proc();
}
END_TEST

START_TEST(test_corrupt_state_file_moved_aside) {
  FILE *f = fopen(state_file, "w");
  ck_assert_ptr_nonnull(f);
  fputs("not a state file\n", f);
  fclose(f);
  start(NULL);
  ck_assert_int_eq(
      stub_log_count(LOG_WARNING,
                     "is corrupt or truncated; moved aside to .corrupt"),
      1);
  char corrupt[160];
  snprintf(corrupt, sizeof(corrupt), "%s.corrupt", state_file);
  ck_assert_int_eq(access(corrupt, F_OK), 0);
  stub_shutdown();
}
END_TEST

static void save_every_second(oconfig_item_t *b) {
  stub_block_add_number(b, "StateSaveInterval", 1);
}

START_TEST(test_periodic_save) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(save_every_second);
  read_once();
  read_once(); /* 1 s after init: a save, in the background */
  read_once(); /* collects it */
  ck_assert_int_eq(access(state_file, F_OK), 0);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, "saving"), 0);
  stub_shutdown();
}
END_TEST

/* ---- a hung hypervisor holds the plugin's reader, not collectd ---- */

static void *release_later(void *arg) {
  (void)arg;
  usleep(300 * 1000);
  hv_fake_release();
  return NULL;
}

static uint64_t real_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* stub_read, timed in real milliseconds. */
static uint64_t timed_read(void) {
  uint64_t t0 = real_ms();
  ck_assert_int_eq(stub_read(), 0);
  return real_ms() - t0;
}

#define HANG_WARNING "libvirt connection \"fake:///\" has not answered for"
#define SLOW_WARNING "longer than 0.8 Interval"

START_TEST(test_hung_read_bounded) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(NULL);
  uint64_t c0 = clock_ms;
  read_once();
  double r0 = gauge("web1", "duration", "running");

  hv_fake_hang(HV_FAKE_READ);
  stub_clear();
  /* The read that meets the hang waits for it at most 0.8 of the Interval
   * (1 s in the stub), and dispatches nothing: no evidence, no value. */
  uint64_t held = timed_read();
  ck_assert(hv_fake_wait_hung(5000));
  ck_assert_msg(held >= 700 && held < 1200, "read held %ju ms",
                (uintmax_t)held);
  ck_assert_uint_eq(stub_value_count(), 0);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, HANG_WARNING), 0);
  clock_ms += 1000;
  /* The next read (one Interval later) finds the cycle still under way:
   * one WARNING naming the connection, and it returns at once. */
  held = timed_read();
  ck_assert_msg(held < 200, "second read held %ju ms", (uintmax_t)held);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, HANG_WARNING), 1);
  clock_ms += 1000;
  timed_read();
  clock_ms += 1000;
  timed_read();
  ck_assert_int_eq(stub_log_count(LOG_WARNING, HANG_WARNING), 1); /* quiet */
  ck_assert_uint_eq(stub_value_count(), 0);

  /* libvirtd answers: values resume by themselves, durations exact (the
   * outage is credited to the state the domain was in). */
  hv_fake_release();
  ck_assert(vi_priv_wait_idle(5000));
  clock_ms += 1000;
  uint64_t now = clock_ms;
  ck_assert_uint_lt(timed_read(), 200);
  ck_assert_int_eq(stub_log_count(LOG_INFO, "answers again"), 1);
  ck_assert_double_eq_tol(gauge("web1", "duration", "running"),
                          r0 + (double)(now - c0) / 1000.0, 1e-9);
  /* That read took long, so the next one was asked for at once; it is
   * quick: no more lines (one slow read is not a slow host). */
  ck_assert(vi_priv_wait_idle(5000));
  clock_ms += 1000;
  now = clock_ms;
  stub_clear_values();
  timed_read();
  ck_assert_double_eq_tol(gauge("web1", "duration", "running"),
                          r0 + (double)(now - c0) / 1000.0, 1e-9);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, SLOW_WARNING), 0);
  ck_assert_int_eq(stub_log_count(LOG_INFO, "again"), 1);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, HANG_WARNING), 1);
  stub_shutdown();
}
END_TEST

/* Reads slower than 0.8 Interval (10,000 domains at Interval 1): each one
 * is collected by the next read that finds it finished, even when the read
 * it would start is slow too, and the next one is asked for right then:
 * values every other Interval, never none at all. A read found under way
 * is a hang once it has run 0.8 Interval: here only the first (the others
 * are found under way right after the late collection that asked for
 * them, in real time), one WARNING and its INFO; from the second slow
 * read in a row, one WARNING says reads are slow; one INFO when reads are
 * quick again. */
START_TEST(test_slow_reads_collected) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(NULL);
  uint64_t c0 = clock_ms;
  read_once();
  double r0 = gauge("web1", "duration", "running");

  stub_clear();
  hv_fake_hang(HV_FAKE_READ);
  timed_read(); /* its caller stops waiting at 0.8 Interval */
  for (int i = 1; i <= 3; i++) {
    ck_assert(hv_fake_wait_hung(5000));
    ck_assert_uint_eq(stub_value_count_for("web1"), 0);
    clock_ms += 1000;
    /* One Interval later the read is still under way... */
    uint64_t held = timed_read();
    ck_assert_msg(held < 200, "read held %ju ms", (uintmax_t)held);
    ck_assert_uint_eq(stub_value_count_for("web1"), 0);
    ck_assert_int_eq(stub_log_count(LOG_WARNING, HANG_WARNING), 1);
    /* ... and it finishes before the next, which is slow too. */
    hv_fake_release();
    ck_assert(vi_priv_wait_idle(5000));
    hv_fake_hang(HV_FAKE_READ);
    clock_ms += 1000;
    uint64_t now = clock_ms;
    held = timed_read();
    ck_assert_msg(held < 200, "collecting read held %ju ms", (uintmax_t)held);
    ck_assert_double_eq_tol(gauge("web1", "duration", "running"),
                            r0 + (double)(now - c0) / 1000.0, 1e-9);
    ck_assert_int_eq(stub_log_count(LOG_INFO, "answers again"), 1);
    ck_assert_int_eq(stub_log_count(LOG_WARNING, SLOW_WARNING), i >= 2);
    stub_clear_values();
  }
  /* The next read was asked for when the last one was collected; it
   * finishes before the next Interval. */
  ck_assert(hv_fake_wait_hung(5000));
  hv_fake_release();
  ck_assert(vi_priv_wait_idle(5000));
  clock_ms += 1000;
  timed_read();
  ck_assert(dispatched("web1", "duration", "running"));
  ck_assert_int_eq(stub_log_count(LOG_INFO, "answers again"), 1);
  ck_assert_int_eq(stub_log_count(LOG_INFO, "within 0.8 Interval again"), 1);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, HANG_WARNING), 1);
  /* From then on every read waits for its own. */
  stub_clear();
  clock_ms += 1000;
  uint64_t now = clock_ms;
  hv_fake_domain(U1, "web1", 7, HV_PAUSED, 1);
  ck_assert_uint_lt(timed_read(), 200);
  ck_assert_double_eq_tol(gauge("web1", "domain_state", NULL), HV_PAUSED, 1e-9);
  ck_assert_double_eq_tol(gauge("web1", "duration", "running"),
                          r0 + (double)(now - c0) / 1000.0, 1e-9);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, HANG_WARNING), 0);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, SLOW_WARNING), 0);
  stub_shutdown();
}
END_TEST

START_TEST(test_shutdown_bounded_when_hung) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(NULL);
  read_once();
  clock_ms += 4000;
  read_once(); /* 5 s running, dispatched */
  hv_fake_hang(HV_FAKE_READ);
  timed_read();
  ck_assert(hv_fake_wait_hung(5000));
  clock_ms += 1000;

  uint64_t t0 = real_ms();
  ck_assert_int_eq(stub_shutdown(), 0);
  uint64_t took = real_ms() - t0;
  ck_assert_msg(took < 3000, "shutdown took %ju ms", (uintmax_t)took);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, "its thread is left behind"), 1);
  ck_assert_int_eq(access(state_file, F_OK), 0); /* saved all the same */

  /* The call returns after shutdown: the thread left behind exits without
   * touching freed memory (ASan, valgrind), then everything is freed. */
  hv_fake_release();
  vi_priv_reap();

  stub_clear();
  start(NULL); /* the save holds the 7 s in running */
  ck_assert_int_eq(stub_log_count(LOG_INFO, "restored 1 domain(s)"), 1);
  read_once();
  ck_assert_double_eq_tol(gauge("web1", "duration", "running"), 7.0, 1e-9);
  stub_shutdown();
}
END_TEST

START_TEST(test_shutdown_waits_for_a_short_hang) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(NULL);
  read_once();
  hv_fake_hang(HV_FAKE_READ);
  timed_read();
  ck_assert(hv_fake_wait_hung(5000));
  /* Released while shutdown waits: the worker closes and is joined. */
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, release_later, NULL), 0);
  ck_assert_int_eq(stub_shutdown(), 0);
  pthread_join(t, NULL);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, "left behind"), 0);
  ck_assert_int_eq(access(state_file, F_OK), 0);
}
END_TEST

/* A read's memory values come with its states, after its cycle: a cycle
 * held by a hung call dispatches none of them, not even those of the
 * domains visited before the hang; they come once a cycle finishes. */
START_TEST(test_memory_values_wait_for_the_cycle) {
  add_guest(U1, "web1", 7, 100, QEMU_P10);
  start(NULL);
  read_once();
  ck_assert(dispatched("web1", "memory", "used"));
  /* A new domain, visited after web1: its first visit reads its balloon
   * XML, and that call hangs. */
  add_guest(U2, "web2", 8, 100, QEMU_P10);
  hv_fake_hang(HV_FAKE_BALLOON);
  stub_clear();
  timed_read();
  ck_assert(hv_fake_wait_hung(5000));
  ck_assert_uint_eq(stub_value_count_for("web1"), 0);
  ck_assert_uint_eq(stub_value_count_for("web2"), 0);
  hv_fake_release();
  ck_assert(vi_priv_wait_idle(5000));
  read_once();
  ck_assert(dispatched("web1", "memory", "used"));
  ck_assert(dispatched("web2", "memory", "used"));
  ck_assert(dispatched("web1", "duration", "running"));
  stub_shutdown();
}
END_TEST

/* ---- persistence off, a StateFile that is not ours ---- */

static void state_file_off(oconfig_item_t *b) {
  stub_block_add_string(b, "StateFile", "");
}

START_TEST(test_state_file_off) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(state_file_off);
  ck_assert_int_eq(stub_log_count(LOG_INFO, "persistence is off"), 1);
  read_once();
  stub_shutdown();
  ck_assert_int_eq(access(state_file, F_OK), -1);
  char def[160];
  snprintf(def, sizeof(def), "%s/virt_inspector.state", dir);
  ck_assert_int_eq(access(def, F_OK), -1); /* nor the default one */
}
END_TEST

START_TEST(test_state_file_fifo_left_alone) {
  ck_assert_int_eq(mkfifo(state_file, 0600), 0);
  struct stat before, after;
  ck_assert_int_eq(lstat(state_file, &before), 0);
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(NULL);
  ck_assert_int_eq(stub_log_count(LOG_ERR, "is a FIFO, not a regular file"), 1);
  read_once();
  ck_assert(dispatched("web1", "duration", "running")); /* keeps working */
  stub_shutdown();
  ck_assert_int_eq(lstat(state_file, &after), 0);
  ck_assert_uint_eq(after.st_ino, before.st_ino);
  ck_assert(S_ISFIFO(after.st_mode));
  ck_assert_int_eq(stub_log_count(LOG_WARNING, "saving"), 0);
}
END_TEST

/* ---- quoted booleans, as collectd's own options ---- */

static void quoted_booleans(oconfig_item_t *b) {
  stub_block_add_string(b, "Notifications", "false");
  stub_block_add_string(b, "LifecycleEvents", "yes");
  stub_block_add_string(b, "IgnoreSelected", "off");
}

START_TEST(test_quoted_booleans) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(quoted_booleans);
  ck_assert_int_eq(stub_log_count(LOG_WARNING,
                                  "for boolean option `Notifications' is "
                                  "deprecated"),
                   1);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, "is deprecated"), 3);
  read_once();
  ck_assert_int_eq(hv_fake_emit(U1, HV_PAUSED, 1), true); /* events on */
  read_once();
  ck_assert_uint_eq(stub_notification_count(), 0); /* notifications off */
  stub_shutdown();
}
END_TEST

static void no_events(oconfig_item_t *b) {
  stub_block_add_boolean(b, "LifecycleEvents", false);
}

START_TEST(test_poll_timed_after_reconnect) {
  /* A transition found by a poll is timed after a slow reconnect, not at a
   * time taken before it (that was early by the whole connect time). */
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(no_events);
  read_once();
  hv_fake_drop();
  read_once(); /* the connection is lost; the next read reconnects */
  hv_fake_domain(U1, "web1", 7, HV_PAUSED, 1);
  hv_fake_hang(HV_FAKE_CONNECT);
  stub_clear();
  timed_read(); /* the reader thread is held in the connect */
  ck_assert(hv_fake_wait_hung(5000));
  __atomic_add_fetch(&clock_ms, 5000, __ATOMIC_SEQ_CST); /* a slow connect */
  hv_fake_release();
  ck_assert(vi_priv_wait_idle(5000));
  timed_read(); /* collects that cycle's view */
  ck_assert_double_eq_tol(gauge("web1", "duration", "paused"), 0.0, 1e-9);
  ck_assert_double_eq_tol(gauge("web1", "duration", "running"), 7.0, 1e-9);
  stub_shutdown();
}
END_TEST

/* ---- configuration errors ---- */

static const struct {
  const char *key;
  int type; /* 0 string, 1 number, 2 boolean */
  const char *s;
  double n;
  const char *log;
} bad_options[] = {
    {"UsedMemory", 0, "x", 0,
     "option \"UsedMemory\" \"x\": expected \"unused\" or \"usable\""},
    {"HostnameFormat", 0, "ip", 0,
     "option \"HostnameFormat\" \"ip\": expected \"hostname\", \"name\" or \"uuid\""},
    {"PluginInstanceFormat", 0, "hostname", 0, "expected \"name\" or \"uuid\""},
    {"MemoryStatsPeriod", 1, NULL, 1.5,
     "option \"MemoryStatsPeriod\" \"1.5\": expected whole seconds from 0 to 86400"},
    {"MemoryStatsPeriod", 1, NULL, -1,
     "expected whole seconds from 0 to 86400"},
    {"StateSaveInterval", 1, NULL, 0, "expected seconds from 1 to 86400"},
    {"ForgetAfter", 0, "week", 0, "expected seconds from 0 to 10 years"},
    {"LifecycleEvents", 1, NULL, 1, "expected true or false"},
    {"Connection", 0, "", 0, "expected one non-empty string (a libvirt URI)"},
    {"StateFile", 2, NULL, 0, "expected one string (a path, or \"\" for none)"},
    {"Notifications", 0, "maybe", 0,
     "option \"Notifications\" \"maybe\": expected true or false"},
    {"Domain", 0, "/(/", 0, "bad regular expression"},
    {"Domain", 0, "", 0, "empty name"},
    {"Bogus", 0, "x", 0, "option \"Bogus\" \"x\": unknown option"},
};

START_TEST(test_config_errors) {
  module_register();
  oconfig_item_t *b = stub_block_new();
  if (bad_options[_i].type == 0)
    stub_block_add_string(b, bad_options[_i].key, bad_options[_i].s);
  else if (bad_options[_i].type == 1)
    stub_block_add_number(b, bad_options[_i].key, bad_options[_i].n);
  else
    stub_block_add_boolean(b, bad_options[_i].key, true);
  ck_assert_int_eq(stub_config(b), -1);
  stub_block_free(b);
  if (stub_log_count(LOG_ERR, bad_options[_i].log) != 1)
    stub_log_dump();
  ck_assert_int_eq(stub_log_count(LOG_ERR, bad_options[_i].log), 1);
  stub_shutdown();
}
END_TEST

/* ---- TimeBy: running time per attribute value ---- */

#define FLAVOR_XPATH                                                           \
  "/domain/metadata/*[local-name()='instance']/*[local-name()='flavor']/@name"

static void time_by(oconfig_item_t *b) {
  stub_block_add_string(b, "TimeBy", "vcpus");
  stub_block_add_string(b, "TimeBy", "memory");
  stub_block_add_strings(b, "TimeBy", "flavor", FLAVOR_XPATH);
}

/* The live XML of a Nova guest with that memory (KiB) and flavor. */
static void nova_xml(const char *uuid, const char *kib, const char *flavor) {
  char xml[1024];
  snprintf(xml, sizeof(xml),
           "<domain type='kvm'><name>web1</name>"
           "<memory unit='KiB'>%s</memory><vcpu current='2'>4</vcpu>"
           "<metadata><nova:instance "
           "xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'>"
           "<nova:flavor name='%s'/></nova:instance></metadata></domain>",
           kib, flavor);
  hv_fake_xml(uuid, xml);
}

static double timeby_s(const char *ti) { return gauge("web1", "duration", ti); }

START_TEST(test_time_by) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  nova_xml(U1, "2097152", "m1.small");
  hv_fake_vcpus(U1, 2);
  start(time_by);
  ck_assert(hv_fake_wants_vcpus());
  const uint64_t t0 = clock_ms;

  /* First read: a 0 series for each value known. */
  read_once();
  ck_assert_double_eq(timeby_s("vcpus=2"), 0.0);
  ck_assert_double_eq(timeby_s("memory=2GiB"), 0.0);
  ck_assert_double_eq(timeby_s("flavor=m1.small"), 0.0);
  clock_ms = t0 + 2500;
  read_once();
  ck_assert_double_eq_tol(timeby_s("vcpus=2"), 2.5, 1e-9);
  ck_assert_double_eq_tol(timeby_s("memory=2GiB"), 2.5, 1e-9);
  ck_assert_double_eq_tol(timeby_s("flavor=m1.small"), 2.5, 1e-9);

  /* vCPU hot-plug without an event: seen by the read (vcpu.current). */
  hv_fake_vcpus(U1, 3);
  read_once(); /* at t0 + 3.5 s */
  ck_assert_double_eq_tol(timeby_s("vcpus=2"), 3.5, 1e-9);
  ck_assert_double_eq(timeby_s("vcpus=3"), 0.0);

  /* A metadata change: effective at the event, read at the next read. */
  nova_xml(U1, "2097152", "m1.large");
  clock_ms = t0 + 4750;
  ck_assert(hv_fake_emit_change(U1));
  clock_ms = t0 + 5000;
  read_once();
  ck_assert_double_eq_tol(timeby_s("flavor=m1.small"), 4.75, 1e-9);
  ck_assert_double_eq_tol(timeby_s("flavor=m1.large"), 0.25, 1e-9);
  ck_assert_double_eq_tol(timeby_s("vcpus=3"), 1.5, 1e-9);
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_DESCRIBE), 2);

  /* A change while paused: the new value's time starts at the resume. */
  clock_ms = t0 + 6000;
  ck_assert(hv_fake_emit(U1, HV_PAUSED, 1));
  clock_ms = t0 + 7000;
  nova_xml(U1, "2097152", "m1.xlarge");
  ck_assert(hv_fake_emit_change(U1));
  clock_ms = t0 + 8000;
  ck_assert(hv_fake_emit(U1, HV_RUNNING, 2));
  clock_ms = t0 + 8500;
  read_once();
  ck_assert_double_eq_tol(timeby_s("flavor=m1.large"), 1.25, 1e-9);
  ck_assert_double_eq_tol(timeby_s("flavor=m1.xlarge"), 0.5, 1e-9);
  ck_assert_double_eq_tol(timeby_s("vcpus=3"), 3.0, 1e-9);
  ck_assert_double_eq_tol(timeby_s("memory=2GiB"), 6.5, 1e-9);
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_DESCRIBE), 3);

  /* Shut off, resized offline, started again (by an event): read at the
   * start; the shut-off time counts to no value. */
  clock_ms = t0 + 9500;
  ck_assert(hv_fake_emit(U1, HV_SHUTOFF, 1));
  nova_xml(U1, "4194304", "m1.xlarge");
  hv_fake_domain(U1, "web1", 8, HV_SHUTOFF, 1);
  hv_fake_vcpus(U1, 0); /* not reported: the XML's current='2' */
  clock_ms = t0 + 10500;
  ck_assert(hv_fake_emit(U1, HV_RUNNING, 1));
  clock_ms = t0 + 11000;
  read_once();
  ck_assert_double_eq_tol(timeby_s("memory=2GiB"), 7.5, 1e-9);
  ck_assert_double_eq_tol(timeby_s("memory=4GiB"), 0.5, 1e-9);
  ck_assert_double_eq_tol(timeby_s("vcpus=2"), 4.0, 1e-9);
  ck_assert_double_eq_tol(timeby_s("vcpus=3"), 4.0, 1e-9);
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_DESCRIBE), 4);

  /* No XML per read. */
  read_once();
  read_once();
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_DESCRIBE), 4);
  ck_assert_double_eq_tol(timeby_s("memory=4GiB"), 2.5, 1e-9);

  /* The bound: 16 values kept, then one INFO and "~other". */
  char flavor[16];
  for (int i = 0; i < AT_VALUES_MAX - 3 + 2; i++) {
    snprintf(flavor, sizeof(flavor), "f%d", i);
    nova_xml(U1, "4194304", flavor);
    ck_assert(hv_fake_emit_change(U1));
    read_once();
  }
  ck_assert_int_eq(
      stub_log_count(LOG_INFO, "domain \"web1\": TimeBy \"flavor\" has had 16 "
                               "distinct values"),
      1);
  ck_assert(dispatched("web1", "duration", "flavor=f12"));
  ck_assert(!dispatched("web1", "duration", "flavor=f13"));
  ck_assert_double_eq_tol(timeby_s("flavor=~other"), 1.0, 1e-9);
  ck_assert_int_eq(stub_log_count(LOG_ERR, ""), 0);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, ""), 0);
  stub_shutdown();
}
END_TEST

/* TimeBy totals across a collectd restart (2 s down), as the state
 * durations: 0 the same process (the downtime credited to running, and to
 * the unchanged values); 1 another process (credited to neither); 2 the
 * same process, the flavor changed meanwhile (the downtime in no flavor);
 * 3 a run of 1 s in between without TimeBy: the totals are kept in the
 * file, and that run's time is in no value (they were not read). */
START_TEST(test_time_by_kept_across_restart) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  nova_xml(U1, "2097152", "m1.small");
  hv_fake_vcpus(U1, 2);
  fake_proc(500, 10);
  start(time_by);
  read_once();
  clock_ms += 3000;
  read_once(); /* 4 s */
  ck_assert_double_eq_tol(timeby_s("flavor=m1.small"), 4.0, 1e-9);
  stub_shutdown(); /* saves at 5 s */

  double unread = 0.0; /* running time while the values were not read */
  if (_i == 3) {
    stub_clear();
    start(NULL);
    read_once();
    ck_assert(!dispatched("web1", "duration", "flavor=m1.small"));
    stub_shutdown(); /* saves at 6 s, the TimeBy totals as loaded */
    unread = 1.0;
  }
  stub_clear();
  clear_proc();
  fake_proc(_i == 1 ? 900 : 500, 10);
  clock_ms += 2000;
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  if (_i == 2)
    nova_xml(U1, "2097152", "m1.large");
  start(time_by);
  read_once();
  double run = gauge("web1", "duration", "running");
  ck_assert_double_eq_tol(run, _i == 1 ? 5.0 : _i == 3 ? 8.0 : 7.0, 1e-9);
  ck_assert_double_eq_tol(timeby_s("vcpus=2"), run - unread, 1e-9);
  ck_assert_double_eq_tol(timeby_s("memory=2GiB"), run - unread, 1e-9);
  if (_i == 2) {
    ck_assert_double_eq_tol(timeby_s("flavor=m1.small"), 5.0, 1e-9);
    ck_assert_double_eq(timeby_s("flavor=m1.large"), 0.0);
  } else {
    ck_assert_double_eq_tol(timeby_s("flavor=m1.small"), run - unread, 1e-9);
  }
  clock_ms += 1000;
  read_once();
  ck_assert_double_eq_tol(timeby_s("vcpus=2"), run - unread + 2.0, 1e-9);
  ck_assert_double_eq_tol(gauge("web1", "duration", "running"), run + 2.0,
                          1e-9);
  ck_assert_int_eq(stub_log_count(LOG_ERR, ""), 0);
  ck_assert_int_eq(stub_log_count(LOG_WARNING, ""), 0);
  stub_shutdown();
  clear_proc();
}
END_TEST

/* Change events lost while the event connection was down: every domain's
 * values are read again once it is back (and only then). */
START_TEST(test_time_by_events_reconnect) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  nova_xml(U1, "2097152", "m1.small");
  start(time_by);
  read_once();
  read_once();
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_DESCRIBE), 1);
  hv_fake_drop(); /* both connections; the change event is lost */
  nova_xml(U1, "2097152", "m1.large");
  ck_assert(!hv_fake_emit_change(U1));
  read_once(); /* fails: connection lost */
  read_once(); /* reconnects, reads again */
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_DESCRIBE), 2);
  ck_assert(dispatched("web1", "duration", "flavor=m1.large"));
  read_once();
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_DESCRIBE), 2);
  stub_shutdown();
}
END_TEST

static void time_by_no_events(oconfig_item_t *b) {
  time_by(b);
  stub_block_add_boolean(b, "LifecycleEvents", false);
}

/* Without events: a restart is a new id at a read, and the XML is read
 * again then (a metadata change alone waits for it). */
START_TEST(test_time_by_restart_seen_by_poll) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  nova_xml(U1, "2097152", "m1.small");
  start(time_by_no_events);
  const uint64_t t0 = clock_ms;
  read_once();
  nova_xml(U1, "2097152", "m1.large");
  ck_assert(!hv_fake_emit_change(U1)); /* no event connection */
  read_once();
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_DESCRIBE), 1);
  hv_fake_domain(U1, "web1", 8, HV_RUNNING, 1); /* restarted between reads */
  clock_ms = t0 + 3000;
  read_once(); /* the new id: read at this poll */
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_DESCRIBE), 2);
  ck_assert_double_eq_tol(timeby_s("flavor=m1.small"), 3.0, 1e-9);
  ck_assert_double_eq(timeby_s("flavor=m1.large"), 0.0);
  stub_shutdown();
}
END_TEST

/* A domain first seen by its start event: its values count from the
 * event, as its states do. */
START_TEST(test_time_by_first_seen_by_event) {
  start(time_by);
  read_once();
  const uint64_t t0 = clock_ms;
  hv_fake_domain(U1, "web1", 7, HV_SHUTOFF, 1);
  nova_xml(U1, "2097152", "m1.small");
  ck_assert(hv_fake_emit(U1, HV_RUNNING, 1));
  clock_ms = t0 + 600;
  read_once();
  ck_assert_double_eq_tol(gauge("web1", "duration", "running"), 0.6, 1e-9);
  ck_assert_double_eq_tol(timeby_s("flavor=m1.small"), 0.6, 1e-9);
  ck_assert_double_eq_tol(timeby_s("memory=2GiB"), 0.6, 1e-9);
  stub_shutdown();
}
END_TEST

/* Without TimeBy: no XML read for it, no vCPU counts asked for. */
START_TEST(test_time_by_off) {
  hv_fake_domain(U1, "web1", 7, HV_RUNNING, 1);
  start(NULL);
  read_once();
  stub_clear();
  read_once();
  ck_assert(!hv_fake_wants_vcpus());
  ck_assert_int_eq(hv_fake_calls(HV_FAKE_DESCRIBE), 0);
  /* 8 states, total, current_state, uptime, domain_state: nothing else */
  ck_assert_uint_eq(stub_value_count_for("web1"), 12);
  stub_shutdown();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("virt_inspector glue");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_read_dispatches);
  tcase_add_test(tc, test_values_grouped_by_domain);
  tcase_add_test(tc, test_time_by);
  tcase_add_test(tc, test_time_by_off);
  tcase_add_test(tc, test_time_by_events_reconnect);
  tcase_add_test(tc, test_time_by_restart_seen_by_poll);
  tcase_add_loop_test(tc, test_time_by_kept_across_restart, 0, 4);
  tcase_add_test(tc, test_time_by_first_seen_by_event);
  tcase_add_test(tc, test_formats_and_filter);
  tcase_add_test(tc, test_logs_once_per_cause);
  tcase_add_test(tc, test_stats_period_set_once);
  tcase_add_test(tc, test_stats_period_failure_logged_once);
  tcase_add_test(tc, test_notifications);
  tcase_add_test(tc, test_slow_notification_plugin);
  tcase_add_test(tc, test_same_name_new_uuid);
  tcase_add_test(tc, test_poll_timed_after_reconnect);
  tcase_add_test(tc, test_notifications_off_poll_timed);
  tcase_add_test(tc, test_uptime_and_current_state);
  tcase_add_test(tc, test_reconnect);
  tcase_add_test(tc, test_refused_from_the_start);
  tcase_add_test(tc, test_read_failure_logged_once);
  tcase_add_test(tc, test_domain_vanishes_mid_read);
  tcase_add_loop_test(tc, test_state_kept_across_restart, 0,
                      sizeof(restart_cases) / sizeof(restart_cases[0]));
  tcase_add_test(tc, test_corrupt_state_file_moved_aside);
  tcase_add_test(tc, test_periodic_save);
  tcase_add_test(tc, test_hung_read_bounded);
  tcase_add_test(tc, test_slow_reads_collected);
  tcase_add_test(tc, test_shutdown_bounded_when_hung);
  tcase_add_test(tc, test_shutdown_waits_for_a_short_hang);
  tcase_add_test(tc, test_memory_values_wait_for_the_cycle);
  tcase_add_test(tc, test_state_file_off);
  tcase_add_test(tc, test_state_file_fifo_left_alone);
  tcase_add_test(tc, test_quoted_booleans);
  tcase_add_loop_test(tc, test_config_errors, 0,
                      (int)(sizeof(bad_options) / sizeof(bad_options[0])));
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return check_run(suite()); }
