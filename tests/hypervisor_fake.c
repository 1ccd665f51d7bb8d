/* hypervisor_fake.c: see hypervisor_fake.h. */
#include "hypervisor_fake.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DOMAINS 64

typedef struct {
  bool used;
  char uuid[37];
  char name[128];
  int id, state, reason;
  ms_raw_t mem;
  domain_balloon_t balloon;
  unsigned period;
  bool vanish_at_balloon, vanish_in_read;
  char xml[2048]; /* "": the default */
  unsigned vcpus;
} fake_domain_t;

struct hv {
  bool read_only;
  char error[256];
};

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  fake_domain_t dom[MAX_DOMAINS];
  bool refuse;
  bool connected, dropped;
  bool events_started, events_connected;
  hv_event_fn event_fn;
  void *event_data;
  hv_change_fn change_fn;
  bool want_vcpus;
  int fail_rc[HV_FAKE_OP_COUNT], fail_times[HV_FAKE_OP_COUNT];
  bool hang[HV_FAKE_OP_COUNT];
  bool hung; /* a call is blocked */
  int calls[HV_FAKE_OP_COUNT];
} w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static fake_domain_t *find(const char *uuid) {
  for (int i = 0; i < MAX_DOMAINS; i++)
    if (w.dom[i].used && strcmp(w.dom[i].uuid, uuid) == 0)
      return &w.dom[i];
  return NULL;
}

/* Counts a call, blocks if it should hang, and returns the injected
 * failure (0: none). Lock held. */
static int enter(hv_fake_op_t op) {
  w.calls[op]++;
  if (w.hang[op]) {
    w.hang[op] = false;
    w.hung = true;
    pthread_cond_broadcast(&w.cond);
    while (w.hung)
      pthread_cond_wait(&w.cond, &w.lock);
  }
  if (w.fail_times[op] == 0)
    return 0;
  if (w.fail_times[op] > 0)
    w.fail_times[op]--;
  return w.fail_rc[op];
}

void hv_fake_reset(void) {
  pthread_mutex_lock(&w.lock);
  memset(w.dom, 0, sizeof(w.dom));
  w.refuse = w.connected = w.dropped = false;
  w.events_started = w.events_connected = false;
  w.event_fn = NULL;
  w.change_fn = NULL;
  w.want_vcpus = false;
  memset(w.fail_rc, 0, sizeof(w.fail_rc));
  memset(w.fail_times, 0, sizeof(w.fail_times));
  memset(w.hang, 0, sizeof(w.hang));
  memset(w.calls, 0, sizeof(w.calls));
  w.hung = false;
  pthread_cond_broadcast(&w.cond);
  pthread_mutex_unlock(&w.lock);
}

void hv_fake_domain(const char *uuid, const char *name, int id, int state,
                    int reason) {
  pthread_mutex_lock(&w.lock);
  fake_domain_t *d = find(uuid);
  for (int i = 0; d == NULL && i < MAX_DOMAINS; i++)
    if (!w.dom[i].used) {
      d = &w.dom[i];
      memset(d, 0, sizeof(*d));
      d->used = true;
      snprintf(d->uuid, sizeof(d->uuid), "%s", uuid);
      d->balloon = (domain_balloon_t){.has_balloon = true};
    }
  if (d != NULL) {
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->id = id;
    d->state = state;
    d->reason = reason;
  }
  pthread_mutex_unlock(&w.lock);
}

#define WITH_DOMAIN(uuid, stmt)                                                \
  do {                                                                         \
    pthread_mutex_lock(&w.lock);                                               \
    fake_domain_t *d = find(uuid);                                             \
    if (d != NULL) {                                                           \
      stmt;                                                                    \
    }                                                                          \
    pthread_mutex_unlock(&w.lock);                                             \
  } while (0)

void hv_fake_mem(const char *uuid, const ms_raw_t *mem) {
  WITH_DOMAIN(uuid, d->mem = *mem);
}
void hv_fake_balloon(const char *uuid, const domain_balloon_t *b) {
  WITH_DOMAIN(uuid, d->balloon = *b);
}
void hv_fake_xml(const char *uuid, const char *xml) {
  WITH_DOMAIN(uuid, snprintf(d->xml, sizeof(d->xml), "%s", xml ? xml : ""));
}
void hv_fake_vcpus(const char *uuid, unsigned n) {
  WITH_DOMAIN(uuid, d->vcpus = n);
}
bool hv_fake_wants_vcpus(void) {
  pthread_mutex_lock(&w.lock);
  bool on = w.want_vcpus;
  pthread_mutex_unlock(&w.lock);
  return on;
}
void hv_fake_remove(const char *uuid) { WITH_DOMAIN(uuid, d->used = false); }
void hv_fake_vanish_at_balloon(const char *uuid) {
  WITH_DOMAIN(uuid, d->vanish_at_balloon = true);
}
void hv_fake_vanish_in_read(const char *uuid) {
  WITH_DOMAIN(uuid, d->vanish_in_read = true);
}
unsigned hv_fake_period(const char *uuid) {
  unsigned p = 0;
  WITH_DOMAIN(uuid, p = d->period);
  return p;
}

void hv_fake_refuse(bool refuse) {
  pthread_mutex_lock(&w.lock);
  w.refuse = refuse;
  pthread_mutex_unlock(&w.lock);
}

void hv_fake_drop(void) {
  pthread_mutex_lock(&w.lock);
  w.dropped = true;
  w.events_connected = false;
  pthread_mutex_unlock(&w.lock);
}

void hv_fake_fail(hv_fake_op_t op, int rc, int times) {
  pthread_mutex_lock(&w.lock);
  w.fail_rc[op] = rc;
  w.fail_times[op] = times;
  pthread_mutex_unlock(&w.lock);
}

void hv_fake_hang(hv_fake_op_t op) {
  pthread_mutex_lock(&w.lock);
  w.hang[op] = true;
  pthread_mutex_unlock(&w.lock);
}

bool hv_fake_wait_hung(int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&w.lock);
  int rc = 0;
  while (!w.hung && rc == 0)
    rc = pthread_cond_timedwait(&w.cond, &w.lock, &until);
  bool hung = w.hung;
  pthread_mutex_unlock(&w.lock);
  return hung;
}

void hv_fake_release(void) {
  pthread_mutex_lock(&w.lock);
  w.hung = false;
  pthread_cond_broadcast(&w.cond);
  pthread_mutex_unlock(&w.lock);
}

bool hv_fake_emit(const char *uuid, int state, int reason) {
  pthread_mutex_lock(&w.lock);
  fake_domain_t *d = find(uuid);
  bool ok = d != NULL && w.events_started && w.events_connected;
  hv_event_fn fn = w.event_fn;
  void *data = w.event_data;
  char name[128];
  int id = -1;
  if (ok) {
    d->state = state;
    d->reason = reason;
    snprintf(name, sizeof(name), "%s", d->name);
    id = state == HV_SHUTOFF ? -1 : d->id;
  }
  pthread_mutex_unlock(&w.lock);
  if (ok) /* outside the lock: the callback takes the glue's */
    fn(name, uuid, id, state, reason, data);
  return ok;
}

bool hv_fake_emit_change(const char *uuid) {
  pthread_mutex_lock(&w.lock);
  fake_domain_t *d = find(uuid);
  bool ok = d != NULL && w.events_started && w.events_connected &&
            w.change_fn != NULL;
  hv_change_fn fn = w.change_fn;
  void *data = w.event_data;
  char name[128] = "";
  if (ok)
    snprintf(name, sizeof(name), "%s", d->name);
  pthread_mutex_unlock(&w.lock);
  if (ok)
    fn(name, uuid, data);
  return ok;
}

int hv_fake_calls(hv_fake_op_t op) {
  pthread_mutex_lock(&w.lock);
  int n = w.calls[op];
  pthread_mutex_unlock(&w.lock);
  return n;
}

bool hv_fake_connected(void) {
  pthread_mutex_lock(&w.lock);
  bool c = w.connected;
  pthread_mutex_unlock(&w.lock);
  return c;
}

/* ---- the ops ---- */

static hv_t *fake_create(const char *uri, bool read_only) {
  (void)uri;
  hv_t *h = calloc(1, sizeof(*h));
  if (h != NULL)
    h->read_only = read_only;
  return h;
}

static void fake_events_stop(hv_t *h) {
  (void)h;
  pthread_mutex_lock(&w.lock);
  w.events_started = w.events_connected = false;
  w.event_fn = NULL;
  w.change_fn = NULL;
  pthread_mutex_unlock(&w.lock);
}

static void fake_destroy(hv_t *h) {
  if (h == NULL)
    return;
  fake_events_stop(h);
  pthread_mutex_lock(&w.lock);
  w.connected = false;
  pthread_mutex_unlock(&w.lock);
  free(h);
}

static int fake_connect(hv_t *h) {
  pthread_mutex_lock(&w.lock);
  int rc = 0;
  if (!w.connected) {
    rc = enter(HV_FAKE_CONNECT);
    if (rc == 0 && w.refuse)
      rc = -ECONNREFUSED;
    if (rc != 0)
      snprintf(h->error, sizeof(h->error),
               "virConnectOpen: Failed to connect socket (fake)");
    else
      w.connected = true, w.dropped = false, h->error[0] = '\0';
  }
  pthread_mutex_unlock(&w.lock);
  return rc;
}

static void fake_disconnect(hv_t *h) {
  (void)h;
  pthread_mutex_lock(&w.lock);
  w.connected = false;
  pthread_mutex_unlock(&w.lock);
}

static bool fake_is_connected(const hv_t *h) {
  (void)h;
  return hv_fake_connected();
}

static int fake_read(hv_t *h, hv_visit_fn visit, void *user_data) {
  pthread_mutex_lock(&w.lock);
  int rc = enter(HV_FAKE_READ);
  if (rc == 0 && (!w.connected || w.dropped)) {
    w.connected = false;
    rc = -ENOTCONN;
    snprintf(h->error, sizeof(h->error),
             "virConnectGetAllDomainStats: internal error: client socket is "
             "closed (fake)");
  } else if (rc != 0) {
    snprintf(h->error, sizeof(h->error), "virConnectGetAllDomainStats: %s",
             strerror(-rc));
  }
  /* A copy: the visit calls back into the fake (balloon, set period). */
  fake_domain_t copy[MAX_DOMAINS];
  memcpy(copy, w.dom, sizeof(copy));
  for (int i = 0; rc == 0 && i < MAX_DOMAINS; i++)
    if (w.dom[i].used && w.dom[i].vanish_in_read)
      w.dom[i].used = copy[i].used = false;
  pthread_mutex_unlock(&w.lock);
  if (rc != 0)
    return rc;

  int visited = 0;
  for (int i = 0; i < MAX_DOMAINS; i++) {
    const fake_domain_t *f = &copy[i];
    if (!f->used)
      continue;
    bool active = f->state != HV_SHUTOFF && f->state != HV_NOSTATE;
    hv_domain_t d = {
        .handle = (void *)f->uuid,
        .name = f->name,
        .uuid = f->uuid,
        .id = active ? f->id : -1,
        .state = f->state,
        .reason = f->reason,
        .active = active,
        .mem = active ? f->mem : (ms_raw_t){0},
        .vcpus = active && w.want_vcpus ? f->vcpus : 0,
    };
    visited++;
    if (visit(&d, user_data) != 0)
      break;
  }
  return visited;
}

static int fake_balloon(hv_t *h, const hv_domain_t *dom,
                        domain_balloon_t *ret) {
  pthread_mutex_lock(&w.lock);
  int rc = enter(HV_FAKE_BALLOON);
  fake_domain_t *d = find(dom->handle);
  if (rc == 0 && (d == NULL || d->vanish_at_balloon)) {
    if (d != NULL)
      d->used = false;
    rc = -EIO;
  }
  if (rc != 0)
    snprintf(h->error, sizeof(h->error),
             "virDomainGetXMLDesc: Domain not found (fake)");
  else
    *ret = d->balloon;
  pthread_mutex_unlock(&w.lock);
  return rc;
}

static int fake_describe(hv_t *h, const hv_domain_t *dom, domain_xml_t **ret) {
  *ret = NULL;
  pthread_mutex_lock(&w.lock);
  int rc = enter(HV_FAKE_DESCRIBE);
  fake_domain_t *d = find(dom->handle);
  if (rc == 0 && d == NULL)
    rc = -EIO;
  char xml[sizeof(d->xml)] = "";
  if (rc == 0)
    snprintf(xml, sizeof(xml), "%s",
             d->xml[0] != '\0' ? d->xml
                               : "<domain type='test'><vcpu>1</vcpu>"
                                 "<memory unit='KiB'>1048576</memory>"
                                 "</domain>");
  pthread_mutex_unlock(&w.lock);
  if (rc == 0 && domain_xml_parse(xml, ret) != 0)
    rc = -EIO;
  if (rc != 0)
    snprintf(h->error, sizeof(h->error),
             "virDomainGetXMLDesc: Domain not found (fake)");
  return rc;
}

static void fake_want_vcpus(hv_t *h, bool on) {
  (void)h;
  pthread_mutex_lock(&w.lock);
  w.want_vcpus = on;
  pthread_mutex_unlock(&w.lock);
}

static void fake_events_on_change(hv_t *h, hv_change_fn fn) {
  (void)h;
  pthread_mutex_lock(&w.lock);
  w.change_fn = fn;
  pthread_mutex_unlock(&w.lock);
}

static int fake_set_period(hv_t *h, const hv_domain_t *dom, unsigned period_s) {
  pthread_mutex_lock(&w.lock);
  int rc = enter(HV_FAKE_SET_PERIOD);
  fake_domain_t *d = find(dom->handle);
  if (rc == 0 && (d == NULL || h->read_only))
    rc = -EIO;
  if (rc != 0)
    snprintf(h->error, sizeof(h->error),
             "virDomainSetMemoryStatsPeriod: operation failed (fake)");
  else
    d->period = period_s;
  pthread_mutex_unlock(&w.lock);
  return rc;
}

static const char *fake_error(const hv_t *h) { return h->error; }

static int fake_events_start(hv_t *h, hv_event_fn fn, void *user_data) {
  pthread_mutex_lock(&w.lock);
  int rc = enter(HV_FAKE_EVENTS_START);
  if (rc != 0) {
    snprintf(h->error, sizeof(h->error), "virEventRegisterDefaultImpl: %s",
             strerror(-rc));
  } else {
    w.events_started = true;
    w.event_fn = fn;
    w.event_data = user_data;
  }
  pthread_mutex_unlock(&w.lock);
  return rc;
}

static int fake_events_connect(hv_t *h) {
  pthread_mutex_lock(&w.lock);
  int rc = enter(HV_FAKE_EVENTS_CONNECT);
  if (rc == 0 && w.refuse)
    rc = -ECONNREFUSED;
  if (rc != 0)
    snprintf(h->error, sizeof(h->error),
             "virConnectOpen (events): Failed to connect socket (fake)");
  else
    w.events_connected = true;
  pthread_mutex_unlock(&w.lock);
  return rc;
}

static bool fake_events_connected(const hv_t *h) {
  (void)h;
  pthread_mutex_lock(&w.lock);
  bool c = w.events_connected;
  pthread_mutex_unlock(&w.lock);
  return c;
}

const hv_ops_t hv_fake_ops = {
    .create = fake_create,
    .destroy = fake_destroy,
    .connect = fake_connect,
    .disconnect = fake_disconnect,
    .is_connected = fake_is_connected,
    .read = fake_read,
    .domain_balloon = fake_balloon,
    .domain_describe = fake_describe,
    .want_vcpus = fake_want_vcpus,
    .domain_set_stats_period = fake_set_period,
    .error = fake_error,
    .events_start = fake_events_start,
    .events_on_change = fake_events_on_change,
    .events_connect = fake_events_connect,
    .events_connected = fake_events_connected,
    .events_stop = fake_events_stop,
};
