/* Tests of the libvirt side against libvirt's own test driver, in process
 * (test:///default): a real libvirt, no daemon. The end-to-end suites cover
 * the same code through libvirtd and collectd. */
#include "hypervisor.h"
#include "hypervisor_libvirt_priv.h"

#include <libvirt/libvirt.h>

#include "check_run.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define URI "test:///default"

static const hv_ops_t *const lv = &hv_libvirt_ops;

typedef struct {
  int count;
  char name[64][64];
  int state[64];
  ms_raw_t mem[64];
  bool from_bulk[64];
} seen_t;

static int collect(const hv_domain_t *d, void *user_data) {
  seen_t *s = user_data;
  if (s->count < 64) {
    snprintf(s->name[s->count], sizeof(s->name[0]), "%s", d->name);
    s->state[s->count] = d->state;
    s->mem[s->count] = d->mem;
    s->from_bulk[s->count] = d->mem_from_bulk;
    s->count++;
  }
  return 0;
}

static int find(const seen_t *s, const char *name) {
  for (int i = 0; i < s->count; i++)
    if (strcmp(s->name[i], name) == 0)
      return i;
  return -1;
}

/* Keeps the test driver's shared default instance alive for the test and
 * lets it change domains. */
static virConnectPtr admin;

static void setup(void) {
  admin = virConnectOpen(URI);
  ck_assert_ptr_nonnull(admin);
}

static void teardown(void) { virConnectClose(admin); }

static virDomainPtr create(const char *name, const char *devices) {
  char xml[1024];
  snprintf(xml, sizeof(xml),
           "<domain type='test'><name>%s</name><memory>262144</memory>"
           "<os><type>hvm</type></os><devices>%s</devices></domain>",
           name, devices);
  virDomainPtr dom = virDomainCreateXML(admin, xml, 0);
  ck_assert_ptr_nonnull(dom);
  return dom;
}

START_TEST(test_read_test_driver) {
  hv_t *ins = lv->create(URI, true);
  ck_assert_ptr_nonnull(ins);
  ck_assert_int_eq(lv->connect(ins), 0);
  ck_assert(lv->is_connected(ins));

  virDomainPtr plain = create("no-balloon", "");
  virDomainPtr ballooned =
      create("with-balloon", "<memballoon model='virtio'/>");

  seen_t s = {0};
  int n = lv->read(ins, collect, &s);
  ck_assert_int_eq(n, s.count);
  ck_assert_int_ge(n, 3);

  /* The default domain: fixed stats, from the per-domain fallback. */
  int t = find(&s, "test");
  ck_assert_int_ge(t, 0);
  ck_assert_int_eq(s.state[t], VIR_DOMAIN_RUNNING);
  ck_assert(!s.from_bulk[t]);
  ck_assert(ms_raw_has(&s.mem[t], MS_AVAILABLE));
  ck_assert_uint_eq(s.mem[t].value[MS_AVAILABLE], 2097152);
  ck_assert_uint_eq(s.mem[t].value[MS_UNUSED], 1048576);
  ck_assert_uint_eq(s.mem[t].value[MS_USABLE], 1048576);
  ck_assert_uint_eq(s.mem[t].value[MS_ACTUAL], 2097152);
  ck_assert_uint_eq(s.mem[t].value[MS_RSS], 1048576);
  ck_assert_uint_eq(s.mem[t].value[MS_DISK_CACHES], 262144);

  /* No balloon: nothing invented. */
  int p = find(&s, "no-balloon");
  ck_assert_int_ge(p, 0);
  ck_assert_uint_eq(s.mem[p].present, 0);
  ck_assert_int_ge(find(&s, "with-balloon"), 0);

  /* Shut off: no memory figures. */
  ck_assert_int_eq(virDomainDestroy(ballooned), 0); /* transient: gone */
  ck_assert_int_eq(virDomainSuspend(plain), 0);
  memset(&s, 0, sizeof(s));
  lv->read(ins, collect, &s);
  ck_assert_int_lt(find(&s, "with-balloon"), 0);
  ck_assert_int_eq(s.state[find(&s, "no-balloon")], VIR_DOMAIN_PAUSED);

  domain_balloon_t b;
  virDomainPtr test = virDomainLookupByName(admin, "test");
  ck_assert_int_eq(lv->domain_balloon(ins, &(hv_domain_t){.handle = test}, &b),
                   0);
  ck_assert(b.has_balloon);
  ck_assert_uint_eq(b.stats_period, 0);

  virDomainDestroy(plain);
  virDomainFree(plain);
  virDomainFree(ballooned);
  virDomainFree(test);
  lv->destroy(ins);
}
END_TEST

/* Threads created by the plugin's code: the test is linked with
 * -Wl,--wrap=pthread_create (libvirt's own threads are not counted). */
int __real_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);
static atomic_int threads_created;
int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg) {
  atomic_fetch_add(&threads_created, 1);
  return __real_pthread_create(thread, attr, fn, arg);
}

/* Many domains with per-domain memory calls: every one gets its own
 * figures, at every read, and no read creates a thread. */
START_TEST(test_read_many) {
  enum { N = 60 };
  virDomainPtr doms[N];
  for (int i = 0; i < N; i++) {
    char name[32];
    snprintf(name, sizeof(name), "many-%02d", i);
    doms[i] = create(name, "<memballoon model='virtio'/>");
  }
  hv_t *ins = lv->create(URI, true);
  ck_assert_int_eq(lv->connect(ins), 0);
  int before = atomic_load(&threads_created);
  for (int round = 0; round < 3; round++) {
    seen_t s = {0};
    ck_assert_int_eq(lv->read(ins, collect, &s), N + 1);
    ck_assert_int_eq(atomic_load(&threads_created), before);
    for (int i = 0; i < s.count; i++) {
      ck_assert_msg(ms_raw_has(&s.mem[i], MS_AVAILABLE), "%s has no stats",
                    s.name[i]);
      ck_assert(!s.from_bulk[i]);
    }
  }
  for (int i = 0; i < N; i++) {
    virDomainDestroy(doms[i]);
    virDomainFree(doms[i]);
  }
  lv->destroy(ins);
}
END_TEST

START_TEST(test_refused_connection) {
  hv_t *ins = lv->create("test+unix:///default?socket=/nonexistent/sock", true);
  ck_assert_int_eq(lv->connect(ins), -ECONNREFUSED);
  ck_assert(!lv->is_connected(ins));
  ck_assert_ptr_nonnull(strstr(lv->error(ins), "/nonexistent/sock"));
  seen_t s = {0};
  ck_assert_int_eq(lv->read(ins, collect, &s), -ENOTCONN);
  lv->destroy(ins);
  lv->destroy(NULL);
}
END_TEST

/* ---- events ---- */
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static int ev_count, ev_state, ev_reason;
static char ev_name[64];

static void on_event(const char *name, const char *uuid, int id, int state,
                     int reason, void *user_data) {
  (void)uuid;
  (void)id;
  (void)user_data;
  pthread_mutex_lock(&ev_lock);
  snprintf(ev_name, sizeof(ev_name), "%s", name);
  ev_state = state;
  ev_reason = reason;
  ev_count++;
  pthread_cond_broadcast(&ev_cond);
  pthread_mutex_unlock(&ev_lock);
}

/* Waits (5 s deadline) until ev_count reaches want. */
static bool wait_events(int want) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 5;
  pthread_mutex_lock(&ev_lock);
  while (ev_count < want &&
         pthread_cond_timedwait(&ev_cond, &ev_lock, &deadline) == 0)
    ;
  bool ok = ev_count >= want;
  pthread_mutex_unlock(&ev_lock);
  return ok;
}

START_TEST(test_lifecycle_events) {
  hv_t *ins = lv->create(URI, true);
  ck_assert_int_eq(lv->events_start(ins, on_event, NULL), 0);
  ck_assert_int_eq(lv->events_connect(ins), 0);
  ck_assert(lv->events_connected(ins));

  virDomainPtr test = virDomainLookupByName(admin, "test");
  ck_assert_int_eq(virDomainSuspend(test), 0);
  ck_assert(wait_events(1));
  ck_assert_str_eq(ev_name, "test");
  ck_assert_int_eq(ev_state, VIR_DOMAIN_PAUSED);
  ck_assert_int_eq(ev_reason, VIR_DOMAIN_PAUSED_USER);

  ck_assert_int_eq(virDomainResume(test), 0);
  ck_assert(wait_events(2));
  ck_assert_int_eq(ev_state, VIR_DOMAIN_RUNNING);
  ck_assert_int_eq(ev_reason, VIR_DOMAIN_RUNNING_UNPAUSED);

  ck_assert_int_eq(virDomainDestroy(test), 0);
  ck_assert(wait_events(3));
  ck_assert_int_eq(ev_state, VIR_DOMAIN_SHUTOFF);
  ck_assert_int_eq(ev_reason, VIR_DOMAIN_SHUTOFF_DESTROYED);
  virDomainFree(test);

  lv->events_stop(ins); /* joins the thread within ~0.5 s */
  ck_assert(!lv->events_connected(ins));
  lv->destroy(ins);
}
END_TEST

/* ---- event -> state mapping ---- */
static const struct {
  int event, detail, state, reason;
} mapping[] = {
    {VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED,
     VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED},
    {VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_WAKEUP,
     VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_WAKEUP},
    {VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED,
     VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER},
    {VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_IOERROR,
     VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_IOERROR},
    {VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED,
     VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED},
    {VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN,
     VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SHUTDOWN},
    {VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED,
     VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DESTROYED},
    {VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_CRASHED,
     VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED},
    {VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_FAILED,
     VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_FAILED},
    {VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT,
     VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT},
    {VIR_DOMAIN_EVENT_SHUTDOWN, VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED,
     VIR_DOMAIN_SHUTDOWN, VIR_DOMAIN_SHUTDOWN_USER},
    {VIR_DOMAIN_EVENT_PMSUSPENDED, VIR_DOMAIN_EVENT_PMSUSPENDED_MEMORY,
     VIR_DOMAIN_PMSUSPENDED, VIR_DOMAIN_PMSUSPENDED_UNKNOWN},
    {VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_PANICKED,
     VIR_DOMAIN_CRASHED, VIR_DOMAIN_CRASHED_PANICKED},
    {VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED, -1, 0},
    {VIR_DOMAIN_EVENT_DEFINED, 0, -1, 0},
    {VIR_DOMAIN_EVENT_UNDEFINED, 0, -1, 0},
    {VIR_DOMAIN_EVENT_STARTED, 99, VIR_DOMAIN_RUNNING, 0}, /* future detail */
    {99, 0, -1, 0},                                        /* future event */
};

START_TEST(test_event_mapping) {
  int reason = -7;
  int state =
      hv_libvirt_event_state(mapping[_i].event, mapping[_i].detail, &reason);
  ck_assert_int_eq(state, mapping[_i].state);
  if (state >= 0)
    ck_assert_int_eq(reason, mapping[_i].reason);
}
END_TEST

int main(void) {
  Suite *s = suite_create("inspector");
  TCase *tc = tcase_create("test driver");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_read_test_driver);
  tcase_add_test(tc, test_read_many);
  tcase_add_test(tc, test_refused_connection);
  tcase_add_test(tc, test_lifecycle_events);
  tcase_add_loop_test(tc, test_event_mapping, 0,
                      sizeof(mapping) / sizeof(mapping[0]));
  suite_add_tcase(s, tc);
  return check_run(s);
}
