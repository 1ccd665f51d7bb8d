/* reader_thread.c: see reader_thread.h. */
#include "reader_thread.h"

#include <errno.h>
#include <stdatomic.h>
#include <time.h>

/* Under lock; cond (CLOCK_MONOTONIC) signals every change. */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pthread_once_t cond_once;
  rt_cycle_fn cycle;
  rt_exit_fn on_exit;
  rt_spawn_fn spawn;
  pthread_t thread;
  bool started;      /* the thread exists (or was left behind) */
  bool pending;      /* a cycle asked for, not taken yet */
  bool busy;         /* a cycle asked for or running */
  bool uncollected;  /* a cycle finished that no rt_cycle has reported */
  bool seen_busy;    /* a call found the running (or last) cycle unfinished */
  unsigned slow_run; /* slow cycles reported in a row (see rt_cycle) */
  atomic_bool stop;  /* finish, run on_exit, exit */
  bool exited;
  bool abandoned;    /* left behind by rt_stop */
  uint64_t asked_ms; /* when the running (or last) cycle was asked for */
  int selected;      /* of the last finished cycle */
  uint64_t duration_ns;
  bool hanging; /* a hang was reported */
} rt = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond_once = PTHREAD_ONCE_INIT};

static void rt_cond_init(void) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&rt.cond, &attr);
  pthread_condattr_destroy(&attr);
}

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t rt_monotonic_ms(void) { return monotonic_ns() / 1000000; }

/* Waits on rt.cond (lock held) until the monotonic time until_ms: false
 * once it has passed. */
static bool wait_until(uint64_t until_ms) {
  uint64_t now = rt_monotonic_ms();
  if (now >= until_ms)
    return false;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t ns = (uint64_t)ts.tv_nsec + (until_ms - now) * 1000000ULL;
  ts.tv_sec += (time_t)(ns / 1000000000ULL);
  ts.tv_nsec = (long)(ns % 1000000000ULL);
  pthread_cond_timedwait(&rt.cond, &rt.lock, &ts);
  return true;
}

void rt_init(rt_cycle_fn cycle, rt_exit_fn on_exit, rt_spawn_fn spawn) {
  pthread_once(&rt.cond_once, rt_cond_init);
  rt.cycle = cycle;
  rt.on_exit = on_exit;
  rt.spawn = spawn;
}

static void *rt_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&rt.lock);
  for (;;) {
    while (!rt.pending && !atomic_load(&rt.stop))
      pthread_cond_wait(&rt.cond, &rt.lock);
    if (atomic_load(&rt.stop))
      break;
    rt.pending = false;
    pthread_mutex_unlock(&rt.lock);
    uint64_t started = monotonic_ns();
    int selected = rt.cycle();
    uint64_t duration = monotonic_ns() - started;
    pthread_mutex_lock(&rt.lock);
    rt.selected = selected;
    rt.duration_ns = duration;
    rt.busy = false;
    rt.uncollected = true;
    pthread_cond_broadcast(&rt.cond);
  }
  pthread_mutex_unlock(&rt.lock);
  rt.on_exit();
  pthread_mutex_lock(&rt.lock);
  rt.exited = true;
  pthread_cond_broadcast(&rt.cond);
  pthread_mutex_unlock(&rt.lock);
  return NULL;
}

/* Asks for a cycle (lock held, none under way). */
static void ask(void) {
  rt.busy = rt.pending = true;
  rt.seen_busy = false;
  rt.asked_ms = rt_monotonic_ms();
  pthread_cond_broadcast(&rt.cond);
}

int rt_cycle(uint64_t wait_ms, rt_outcome_t *out) {
  *out = (rt_outcome_t){0};
  pthread_mutex_lock(&rt.lock);
  if (!rt.started) {
    int rc = rt.spawn(&rt.thread, rt_main, NULL);
    if (rc != 0) {
      pthread_mutex_unlock(&rt.lock);
      return -rc;
    }
    rt.started = true;
  }
  bool asked_now = false;
  if (!rt.busy && !rt.uncollected) {
    ask();
    asked_now = true;
    uint64_t until = rt.asked_ms + wait_ms;
    while (rt.busy && wait_until(until))
      ;
  }
  out->finished = !rt.busy;
  out->waited_ms = rt_monotonic_ms() - rt.asked_ms;
  if (out->finished) {
    rt.uncollected = false;
    /* Slow: it outlasted the wait, or a call found it under way. */
    bool slow = rt.seen_busy || rt.duration_ns >= wait_ms * 1000000ULL;
    out->ask_next = slow;
    out->slow_started = slow && rt.slow_run == 1;
    out->slow_ended = !slow && rt.slow_run >= 2;
    rt.slow_run = slow ? rt.slow_run + 1 : 0;
    out->hang_ended = rt.hanging;
    rt.hanging = false;
  } else {
    rt.seen_busy = true;
    /* Hung: under way for at least the wait (not a cycle just asked for
     * by a late collection); after two slow cycles in a row (not one: it
     * may have been a hang), for twice as long as the last. */
    uint64_t last_ms = rt.duration_ns / 1000000ULL;
    uint64_t hung_ms =
        rt.slow_run < 2 || last_ms < wait_ms ? wait_ms : 2 * last_ms;
    out->hang_started = !asked_now && !rt.hanging && out->waited_ms >= hung_ms;
    if (out->hang_started)
      rt.hanging = true;
  }
  out->selected = rt.selected;
  out->duration_ns = rt.duration_ns;
  pthread_mutex_unlock(&rt.lock);
  return 0;
}

void rt_ask(void) {
  pthread_mutex_lock(&rt.lock);
  if (rt.started && !rt.busy && !rt.uncollected && !atomic_load(&rt.stop))
    ask();
  pthread_mutex_unlock(&rt.lock);
}

bool rt_stopping(void) { return atomic_load(&rt.stop); }

rt_stop_t rt_stop(uint64_t timeout_ms) {
  pthread_mutex_lock(&rt.lock);
  if (!rt.started) {
    pthread_mutex_unlock(&rt.lock);
    return RT_NEVER_STARTED;
  }
  atomic_store(&rt.stop, true);
  pthread_cond_broadcast(&rt.cond);
  uint64_t until = rt_monotonic_ms() + timeout_ms;
  while (!rt.exited && wait_until(until))
    ;
  bool exited = rt.exited;
  rt.abandoned = !exited;
  pthread_mutex_unlock(&rt.lock);
  if (exited)
    pthread_join(rt.thread, NULL);
  else
    pthread_detach(rt.thread);
  return exited ? RT_EXITED : RT_LEFT_BEHIND;
}

bool rt_wait_idle(uint64_t timeout_ms) {
  pthread_mutex_lock(&rt.lock);
  uint64_t until = rt_monotonic_ms() + timeout_ms;
  while (rt.busy && wait_until(until))
    ;
  bool idle = !rt.busy;
  pthread_mutex_unlock(&rt.lock);
  return idle;
}

bool rt_reap(void) {
  pthread_mutex_lock(&rt.lock);
  bool abandoned = rt.abandoned;
  while (abandoned && !rt.exited)
    pthread_cond_wait(&rt.cond, &rt.lock);
  pthread_mutex_unlock(&rt.lock);
  return abandoned;
}

void rt_reset(void) {
  pthread_mutex_lock(&rt.lock);
  rt.started = rt.pending = rt.busy = rt.exited = false;
  rt.abandoned = rt.hanging = false;
  rt.uncollected = rt.seen_busy = false;
  rt.slow_run = 0;
  atomic_store(&rt.stop, false);
  pthread_mutex_unlock(&rt.lock);
}
