/* poll_loop.c: see poll_loop.h. A handful of handles and timeouts (one
 * event connection, its keepalive timer, libvirt's event-queue timer):
 * arrays scanned linearly. */
#define _GNU_SOURCE
#include "poll_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int id;
  int fd;
  int events;
  bool removed;
  pl_handle_fn cb;
  void *opaque;
  pl_free_fn ff;
} pl_handle_t;

typedef struct {
  int id;
  int ms;            /* -1: disabled */
  long long expires; /* monotonic ms */
  bool removed;
  pl_timeout_fn cb;
  void *opaque;
  pl_free_fn ff;
} pl_timer_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER; /* one runner */
static pl_handle_t *handles;
static int nhandles, handles_cap;
static pl_timer_t *timers;
static int ntimers, timers_cap;
static int next_id = 1;
static int wake_fd[2] = {-1, -1};
static _Thread_local bool refuse;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pl_init(void) {
  int rc = 0;
  pthread_mutex_lock(&lock);
  if (wake_fd[0] < 0 && pipe2(wake_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
    rc = -errno;
    wake_fd[0] = wake_fd[1] = -1;
  }
  pthread_mutex_unlock(&lock);
  return rc;
}

void pl_refuse_handles(bool r) { refuse = r; }

void pl_wake(void) {
  if (wake_fd[1] >= 0) {
    char c = 0;
    if (write(wake_fd[1], &c, 1) < 0) {
      /* full pipe: a wake-up is pending anyway */
    }
  }
}

static bool grow(void **arr, int *cap, int n, size_t size) {
  if (n < *cap)
    return true;
  int ncap = *cap ? *cap * 2 : 8;
  void *p = realloc(*arr, (size_t)ncap * size);
  if (p == NULL)
    return false;
  *arr = p;
  *cap = ncap;
  return true;
}

int pl_add_handle(int fd, int events, pl_handle_fn cb, void *opaque,
                  pl_free_fn ff) {
  if (refuse)
    return -EPERM;
  if (fd < 0 || cb == NULL)
    return -EINVAL;
  pthread_mutex_lock(&lock);
  if (!grow((void **)&handles, &handles_cap, nhandles, sizeof(*handles))) {
    pthread_mutex_unlock(&lock);
    return -ENOMEM;
  }
  int id = next_id++;
  handles[nhandles++] = (pl_handle_t){.id = id,
                                      .fd = fd,
                                      .events = events,
                                      .cb = cb,
                                      .opaque = opaque,
                                      .ff = ff};
  pthread_mutex_unlock(&lock);
  pl_wake();
  return id;
}

static pl_handle_t *find_handle(int id) {
  for (int i = 0; i < nhandles; i++)
    if (handles[i].id == id && !handles[i].removed)
      return &handles[i];
  return NULL;
}

static pl_timer_t *find_timer(int id) {
  for (int i = 0; i < ntimers; i++)
    if (timers[i].id == id && !timers[i].removed)
      return &timers[i];
  return NULL;
}

void pl_update_handle(int watch, int events) {
  pthread_mutex_lock(&lock);
  pl_handle_t *h = find_handle(watch);
  bool changed = h != NULL && h->events != events;
  if (h != NULL)
    h->events = events;
  pthread_mutex_unlock(&lock);
  if (changed)
    pl_wake();
}

int pl_remove_handle(int watch) {
  pthread_mutex_lock(&lock);
  pl_handle_t *h = find_handle(watch);
  if (h != NULL)
    h->removed = true;
  pthread_mutex_unlock(&lock);
  if (h == NULL)
    return -ENOENT;
  pl_wake();
  return 0;
}

int pl_add_timeout(int ms, pl_timeout_fn cb, void *opaque, pl_free_fn ff) {
  if (cb == NULL)
    return -EINVAL;
  pthread_mutex_lock(&lock);
  if (!grow((void **)&timers, &timers_cap, ntimers, sizeof(*timers))) {
    pthread_mutex_unlock(&lock);
    return -ENOMEM;
  }
  int id = next_id++;
  timers[ntimers++] = (pl_timer_t){.id = id,
                                   .ms = ms,
                                   .expires = now_ms() + (ms > 0 ? ms : 0),
                                   .cb = cb,
                                   .opaque = opaque,
                                   .ff = ff};
  pthread_mutex_unlock(&lock);
  pl_wake();
  return id;
}

void pl_update_timeout(int timer, int ms) {
  pthread_mutex_lock(&lock);
  pl_timer_t *t = find_timer(timer);
  if (t != NULL) {
    t->ms = ms;
    t->expires = now_ms() + (ms > 0 ? ms : 0);
  }
  pthread_mutex_unlock(&lock);
  if (t != NULL)
    pl_wake();
}

int pl_remove_timeout(int timer) {
  pthread_mutex_lock(&lock);
  pl_timer_t *t = find_timer(timer);
  if (t != NULL)
    t->removed = true;
  pthread_mutex_unlock(&lock);
  if (t == NULL)
    return -ENOENT;
  pl_wake();
  return 0;
}

/* Takes the removed entries out of the arrays; their free functions are
 * run by the caller, unlocked. lock held. */
typedef struct {
  pl_free_fn ff;
  void *opaque;
} pl_pending_t;

static int collect_removed(pl_pending_t **ret) {
  int n = 0;
  for (int i = 0; i < nhandles; i++)
    n += handles[i].removed && handles[i].ff != NULL;
  for (int i = 0; i < ntimers; i++)
    n += timers[i].removed && timers[i].ff != NULL;
  pl_pending_t *p = n > 0 ? calloc((size_t)n, sizeof(*p)) : NULL;
  int k = 0, j = 0;
  for (int i = 0; i < nhandles; i++) {
    if (!handles[i].removed) {
      handles[j++] = handles[i];
    } else if (handles[i].ff != NULL && p != NULL) {
      p[k++] = (pl_pending_t){handles[i].ff, handles[i].opaque};
    }
  }
  nhandles = j;
  j = 0;
  for (int i = 0; i < ntimers; i++) {
    if (!timers[i].removed) {
      timers[j++] = timers[i];
    } else if (timers[i].ff != NULL && p != NULL) {
      p[k++] = (pl_pending_t){timers[i].ff, timers[i].opaque};
    }
  }
  ntimers = j;
  *ret = p;
  return k;
}

void pl_purge(void) {
  pl_pending_t *p;
  pthread_mutex_lock(&lock);
  int n = collect_removed(&p);
  pthread_mutex_unlock(&lock);
  for (int i = 0; i < n; i++)
    p[i].ff(p[i].opaque);
  free(p);
}

static short to_poll(int events) {
  short e = 0;
  if (events & PL_READABLE)
    e |= POLLIN;
  if (events & PL_WRITABLE)
    e |= POLLOUT;
  return e;
}

static int from_poll(short revents) {
  int e = 0;
  if (revents & POLLIN)
    e |= PL_READABLE;
  if (revents & POLLOUT)
    e |= PL_WRITABLE;
  if (revents & (POLLERR | POLLNVAL))
    e |= PL_ERROR;
  if (revents & POLLHUP)
    e |= PL_HANGUP;
  return e;
}

static int run_once(int max_wait_ms);

int pl_run_once(int max_wait_ms) {
  if (wake_fd[0] < 0)
    return -EBADF;
  pthread_mutex_lock(&run_lock);
  int rc = run_once(max_wait_ms);
  pthread_mutex_unlock(&run_lock);
  return rc;
}

static int run_once(int max_wait_ms) {
  pthread_mutex_lock(&lock);
  int n = 0;
  struct pollfd *fds = calloc((size_t)nhandles + 1, sizeof(*fds));
  int *ids = calloc((size_t)nhandles + 1, sizeof(*ids));
  if (fds == NULL || ids == NULL) {
    pthread_mutex_unlock(&lock);
    free(fds);
    free(ids);
    return -ENOMEM;
  }
  fds[n++] = (struct pollfd){.fd = wake_fd[0], .events = POLLIN};
  for (int i = 0; i < nhandles; i++) {
    if (handles[i].removed || handles[i].events == 0)
      continue;
    ids[n] = handles[i].id;
    fds[n++] = (struct pollfd){.fd = handles[i].fd,
                               .events = to_poll(handles[i].events)};
  }
  long long now = now_ms();
  int wait = max_wait_ms;
  for (int i = 0; i < ntimers; i++) {
    if (timers[i].removed || timers[i].ms < 0)
      continue;
    long long left = timers[i].expires - now;
    int w = left <= 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
    if (wait < 0 || w < wait)
      wait = w;
  }
  pthread_mutex_unlock(&lock);

  int rc = 0;
  int ready = poll(fds, (nfds_t)n, wait);
  if (ready < 0 && errno != EINTR)
    rc = -errno;
  if (ready > 0 && (fds[0].revents & POLLIN)) {
    char buf[64];
    while (read(wake_fd[0], buf, sizeof(buf)) > 0)
      ;
  }

  /* Timeouts due. Each is looked up again after a callback: the arrays
   * may have changed meanwhile. */
  pthread_mutex_lock(&lock);
  now = now_ms();
  int *due = calloc((size_t)ntimers + 1, sizeof(*due));
  int ndue = 0;
  for (int i = 0; due != NULL && i < ntimers; i++)
    if (!timers[i].removed && timers[i].ms >= 0 && timers[i].expires <= now)
      due[ndue++] = timers[i].id;
  for (int i = 0; i < ndue; i++) {
    pl_timer_t *t = find_timer(due[i]);
    if (t == NULL || t->ms < 0)
      continue;
    t->expires = now + t->ms;
    pl_timeout_fn cb = t->cb;
    void *opaque = t->opaque;
    pthread_mutex_unlock(&lock);
    cb(due[i], opaque);
    pthread_mutex_lock(&lock);
  }
  free(due);

  /* Handles ready, if still there and still interested. */
  for (int i = 1; ready > 0 && i < n; i++) {
    if (fds[i].revents == 0)
      continue;
    pl_handle_t *h = find_handle(ids[i]);
    if (h == NULL)
      continue;
    int ev = from_poll(fds[i].revents) & (h->events | PL_ERROR | PL_HANGUP);
    if (ev == 0)
      continue;
    pl_handle_fn cb = h->cb;
    void *opaque = h->opaque;
    int fd = h->fd;
    pthread_mutex_unlock(&lock);
    cb(ids[i], fd, ev, opaque);
    pthread_mutex_lock(&lock);
  }
  pl_pending_t *p;
  int nfree = collect_removed(&p);
  pthread_mutex_unlock(&lock);
  for (int i = 0; i < nfree; i++)
    p[i].ff(p[i].opaque);
  free(p);
  free(fds);
  free(ids);
  return rc;
}
